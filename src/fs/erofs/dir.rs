//! Directories: blocks of `struct erofs_dirent` (12 bytes: nid, name
//! offset, file type) followed by the names they point at, unterminated.
//!
//! Entries, `.` and `..` included, are sorted by name bytes across the
//! whole directory: the kernel binary-searches the blocks by their first
//! name, then the entries inside a block. The first dirent's `nameoff`
//! divided by 12 is the number of entries in the block; the last name runs
//! to the directory's size or to the first NUL.

use super::bytes::{get_u16, get_u64, put_u16, put_u64};

pub const DIRENT_SIZE: usize = 12;

/// `EROFS_FT_*` file types in a dirent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Unknown = 0,
    Regular = 1,
    Dir = 2,
    CharDev = 3,
    BlockDev = 4,
    Fifo = 5,
    Socket = 6,
    Symlink = 7,
}

impl FileType {
    pub fn from_code(c: u8) -> FileType {
        match c {
            1 => FileType::Regular,
            2 => FileType::Dir,
            3 => FileType::CharDev,
            4 => FileType::BlockDev,
            5 => FileType::Fifo,
            6 => FileType::Socket,
            7 => FileType::Symlink,
            _ => FileType::Unknown,
        }
    }
}

/// Splits a sorted list of name lengths into directory blocks: returns, for
/// each block, the number of entries and the bytes used. Each block takes
/// as many entries as fit; a name longer than a block cannot occur
/// (names are at most 255 bytes).
pub fn split_blocks(name_lens: &[usize], block: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut n, mut used) = (0usize, 0usize);
    for &l in name_lens {
        let need = DIRENT_SIZE + l;
        if n > 0 && used + need > block {
            out.push((n, used));
            n = 0;
            used = 0;
        }
        n += 1;
        used += need;
    }
    if n > 0 {
        out.push((n, used));
    }
    out
}

/// Encodes one directory block of `entries` (name, nid, type), already
/// sorted, into `out` (which grows by exactly the used bytes).
pub fn encode_block(out: &mut Vec<u8>, entries: &[(&[u8], u64, FileType)]) {
    let start = out.len();
    let mut nameoff = entries.len() * DIRENT_SIZE;
    out.resize(start + nameoff, 0);
    for (i, (name, nid, ft)) in entries.iter().enumerate() {
        let d = &mut out[start + i * DIRENT_SIZE..];
        put_u64(d, 0, *nid);
        put_u16(d, 8, nameoff as u16);
        d[10] = *ft as u8;
        nameoff += name.len();
    }
    for (name, _, _) in entries {
        out.extend_from_slice(name);
    }
}

/// Decodes the dirents of one block of `len` meaningful bytes.
pub fn decode_block(b: &[u8]) -> Option<Vec<(Vec<u8>, u64, FileType)>> {
    let first = usize::from(get_u16(b, 8)?);
    if first < DIRENT_SIZE || first % DIRENT_SIZE != 0 || first > b.len() {
        return None;
    }
    let n = first / DIRENT_SIZE;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let d = i * DIRENT_SIZE;
        let nid = get_u64(b, d)?;
        let off = usize::from(get_u16(b, d + 8)?);
        let ft = FileType::from_code(*b.get(d + 10)?);
        let end = if i + 1 < n {
            usize::from(get_u16(b, d + DIRENT_SIZE + 8)?)
        } else {
            let rest = b.get(off..)?;
            off + rest.iter().position(|&c| c == 0).unwrap_or(rest.len())
        };
        let name = b.get(off..end)?;
        if name.is_empty() {
            return None;
        }
        out.push((name.to_vec(), nid, ft));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fill_up_and_split() {
        assert_eq!(split_blocks(&[1, 2, 1], 4096), vec![(3, 40)]);
        // 12+88 = 100 bytes each: 40 fit in 4096.
        let v = vec![88; 41];
        assert_eq!(split_blocks(&v, 4096), vec![(40, 4000), (1, 100)]);
    }

    #[test]
    fn block_round_trips() {
        let e: Vec<(&[u8], u64, FileType)> = vec![
            (b".", 36, FileType::Dir),
            (b"..", 36, FileType::Dir),
            (b"a", 40, FileType::Regular),
        ];
        let mut v = Vec::new();
        encode_block(&mut v, &e);
        assert_eq!(v.len(), 36 + 4);
        assert_eq!(&v[8..10], &36u16.to_le_bytes());
        assert_eq!(&v[36..], b"...a");
        let d = decode_block(&v).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[2], (b"a".to_vec(), 40, FileType::Regular));
        // Zero padding ends the last name.
        v.extend_from_slice(&[0, 0]);
        assert_eq!(decode_block(&v).unwrap()[2].0, b"a");
        assert!(decode_block(&v[..7]).is_none());
    }
}
