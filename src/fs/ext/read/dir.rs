//! Directory blocks ("Linear (Classic) Directories" in the kernel's ext4
//! documentation): records of inode (u32), rec_len (u16), name_len (u8),
//! file_type (u8) and the name, chained by rec_len to the block's end.
//!
//! Hash-tree (htree) directories need no special case: their root and
//! interior blocks look like a `.`/`..` pair or an empty record whose
//! rec_len spans the block, and their leaves are linear blocks, so reading
//! every block in order lists every entry. The metadata_csum tail (a
//! 12-byte record with inode 0) is skipped like any deleted record.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::bytes::{le_u16, le_u32, u8_at};
use crate::read::{CorruptKind, Kind, ReadError};

/// One live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub inode: u32,
    pub name: Vec<u8>,
    /// From `file_type` (with the filetype feature), else `None`.
    pub kind: Option<Kind>,
}

fn kind_of(ft: u8) -> Option<Kind> {
    Some(match ft {
        1 => Kind::File,
        2 => Kind::Dir,
        3 => Kind::CharDev,
        4 => Kind::BlockDev,
        5 => Kind::Fifo,
        6 => Kind::Socket,
        7 => Kind::Symlink,
        _ => return None,
    })
}

/// The live records of one directory block at volume offset `at` (for
/// error messages), `.` and `..` left out.
pub fn parse_block(
    b: &[u8],
    at: u64,
    filetype: bool,
    out: &mut Vec<Record>,
) -> Result<(), ReadError> {
    let mut pos = 0usize;
    while pos < b.len() {
        let bad = || {
            ReadError::from(CorruptKind::Entry {
                what: "directory record",
                at: at.saturating_add(pos as u64),
            })
        };
        let inode = le_u32(b, pos).ok_or_else(bad)?;
        let rec_len = usize::from(le_u16(b, pos.saturating_add(4)).ok_or_else(bad)?);
        let name_len = usize::from(u8_at(b, pos.saturating_add(6)).ok_or_else(bad)?);
        let ft = u8_at(b, pos.saturating_add(7)).ok_or_else(bad)?;
        // rec_len of 0 would never advance; past the block would read the
        // next one; the name must fit inside its record.
        if rec_len < 8
            || rec_len % 4 != 0
            || rec_len > b.len().saturating_sub(pos)
            || name_len.saturating_add(8) > rec_len
        {
            return Err(bad());
        }
        let name_at = pos.saturating_add(8);
        let name = b
            .get(name_at..name_at.saturating_add(name_len))
            .ok_or_else(bad)?;
        if inode != 0 && name_len != 0 && name != b"." && name != b".." {
            out.push(Record {
                inode,
                name: name.to_vec(),
                kind: if filetype { kind_of(ft) } else { None },
            });
        }
        pos = pos.saturating_add(rec_len);
    }
    Ok(())
}

#[cfg(test)]
// Tests index fixed buffers they built themselves.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn rec(b: &mut Vec<u8>, ino: u32, name: &[u8], ft: u8, rec_len: u16) {
        b.extend_from_slice(&ino.to_le_bytes());
        b.extend_from_slice(&rec_len.to_le_bytes());
        b.push(name.len() as u8);
        b.push(ft);
        b.extend_from_slice(name);
        b.resize(b.len() + usize::from(rec_len) - 8 - name.len(), 0);
    }

    #[test]
    fn records_dot_names_and_bad_lengths() {
        let mut b = Vec::new();
        rec(&mut b, 2, b".", 2, 12);
        rec(&mut b, 2, b"..", 2, 12);
        rec(&mut b, 12, b"file", 1, 12);
        rec(&mut b, 0, b"gone", 1, 12);
        rec(&mut b, 13, b"d", 2, 16);
        let mut out = Vec::new();
        parse_block(&b, 0, true, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, b"file");
        assert_eq!(out[1].kind, Some(Kind::Dir));
        // A rec_len of zero would loop forever: an error instead.
        b[4] = 0;
        b[5] = 0;
        assert!(parse_block(&b, 0, true, &mut Vec::new()).is_err());
    }
}
