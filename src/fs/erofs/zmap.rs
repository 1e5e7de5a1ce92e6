//! Compressed files (`compression = "lz4"`): how a file is cut into
//! pclusters, and the map that tells the kernel where each piece is
//! (`EROFS_INODE_COMPRESSED_FULL`, the kernel's "full" lcluster indexes).
//!
//! A file is a series of extents, each stored in one block (a pcluster):
//! either LZ4, holding as much input as compresses into the block (at most
//! [`MAX_EXTENT_BLOCKS`] blocks of it), or plain, one block of raw bytes
//! where the data does not shrink. With `ZERO_PADDING` (superblock
//! incompat bit 0) compressed bytes sit at the end of their block after
//! zeros. A file is compressed only when that saves at least one block.
//!
//! The map, right after the inode and its xattrs (8-byte aligned):
//! - 0x00 `z_erofs_map_header` (8 bytes): `h_advise` at 0x04 (0),
//!   `h_algorithmtype` at 0x06 (0: LZ4 for head type 1), `h_clusterbits`
//!   at 0x07 (0: a logical cluster is one block);
//! - 0x08: 8 reserved bytes;
//! - 0x10: one 8-byte `z_erofs_lcluster_index` per logical cluster (block
//!   of the decompressed file): `di_advise` (0x00, type in bits 0-1: 0
//!   PLAIN, 1 HEAD1, 2 NONHEAD), `di_clusterofs` (0x02, where an extent
//!   starts inside this lcluster) and `di_u` (0x04): a HEAD/PLAIN's block
//!   address, or a NONHEAD's `delta[0]` (lclusters back to its head) and
//!   `delta[1]` (lclusters on to the next head).
//!
//! Every extent but the last holds more than a block of input (LZ4) or
//! exactly a block (plain), so no two extents start in one lcluster, which
//! is what lets one index per lcluster describe them. The lcluster where
//! the file ends gets a PLAIN index whose `clusterofs` is the end, unless
//! an extent starts there, as mkfs.erofs writes it.

use super::{lz4, ErofsError};
use crate::io::{host_err, IoError};
use crate::tree::FileData;

/// An extent holds at most this many blocks of input (64 KiB at 4 KiB).
pub const MAX_EXTENT_BLOCKS: u64 = 16;
/// Bytes before the first lcluster index.
pub const HEADER: usize = 16;
/// One lcluster index.
pub const INDEX: usize = 8;

pub const TYPE_PLAIN: u16 = 0;
pub const TYPE_HEAD1: u16 = 1;
pub const TYPE_NONHEAD: u16 = 2;

/// One extent: its decompressed length, and whether its block holds it
/// raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub len: u32,
    pub plain: bool,
}

/// Reads a file's bytes through a window, so that cutting a file into
/// extents never holds more than a few of them in memory.
pub struct Window<'a> {
    read: &'a mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    size: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    pub fn new(size: u64, read: &'a mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>) -> Self {
        Window {
            read,
            size,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Bytes `[at, at + n)` (cut at the file's end). Callers go forward:
    /// `at` never goes below an earlier call's.
    pub fn get(&mut self, at: u64, n: u64) -> std::io::Result<&[u8]> {
        if at < self.start {
            return Err(std::io::Error::other("compression window went back"));
        }
        let end = at.saturating_add(n).min(self.size);
        let have = self.start + self.buf.len() as u64;
        if end > have {
            // Drop what is behind `at`, read on in 1 MiB steps.
            if at >= have {
                self.buf.clear();
            } else {
                self.buf.drain(..(at - self.start) as usize);
            }
            self.start = at;
            let have = self.start + self.buf.len() as u64;
            let want = end.max(at.saturating_add(1 << 20).min(self.size));
            let old = self.buf.len();
            self.buf.resize(old + (want - have) as usize, 0);
            (self.read)(have, &mut self.buf[old..])?;
        }
        let from = (at - self.start) as usize;
        Ok(&self.buf[from..from + (end - at) as usize])
    }
}

/// Runs `f` over a window on a file's bytes (a host file, read with
/// `pread`, or inline bytes).
pub fn with_window<T>(
    data: &FileData,
    f: impl FnOnce(&mut Window) -> std::io::Result<T>,
) -> Result<T, ErofsError> {
    match data {
        FileData::Inline(bytes) => {
            let mut read = |at: u64, buf: &mut [u8]| {
                let from = usize::try_from(at).map_err(std::io::Error::other)?;
                let src = bytes
                    .get(from..from + buf.len())
                    .ok_or_else(|| std::io::Error::other("read past inline data"))?;
                buf.copy_from_slice(src);
                Ok(())
            };
            let mut w = Window::new(bytes.len() as u64, &mut read);
            // The bytes are in memory and cannot change: a failure here is
            // fstool's own.
            f(&mut w).map_err(|_| ErofsError::Internal("reading inline file data"))
        }
        FileData::Host { path, len, .. } => {
            use std::os::unix::fs::FileExt;
            let file = std::fs::File::open(path).map_err(host_err(path))?;
            let mut read = |at: u64, buf: &mut [u8]| file.read_exact_at(buf, at);
            let mut w = Window::new(*len, &mut read);
            let out = f(&mut w).map_err(host_err(path))?;
            let now = file.metadata().map_err(host_err(path))?.len();
            if now != *len {
                return Err(ErofsError::Io(IoError::SourceChanged {
                    path: path.clone(),
                    expected: *len,
                    found: now,
                }));
            }
            Ok(out)
        }
    }
}

/// Cuts a file of `size` bytes into extents; `None` when compressing would
/// not save a block (the file is then stored plain).
pub fn plan(w: &mut Window, size: u64, bs: u64) -> std::io::Result<Option<Vec<Extent>>> {
    if size <= bs {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut p = 0u64;
    while p < size {
        let (len, _) = extent_at(w, p, size, bs)?;
        out.push(len);
        p += u64::from(len.len);
    }
    Ok(((out.len() as u64) < size.div_ceil(bs)).then_some(out))
}

/// The extent starting at `p`, and its block's bytes (the LZ4 block
/// zero-padded in front, or the raw bytes).
pub fn extent_at(w: &mut Window, p: u64, size: u64, bs: u64) -> std::io::Result<(Extent, Vec<u8>)> {
    let rest = size - p;
    let input = w.get(p, rest.min(bs * MAX_EXTENT_BLOCKS))?;
    let raw = |n: usize| {
        let mut block = input[..n].to_vec();
        block.resize(bs as usize, 0);
        (
            Extent {
                len: n as u32,
                plain: true,
            },
            block,
        )
    };
    if rest <= bs {
        return Ok(raw(rest as usize));
    }
    let (n, lz) = lz4::compress_dest_size(input, bs as usize);
    if (n as u64) <= bs {
        return Ok(raw(bs as usize));
    }
    let mut block = vec![0u8; bs as usize - lz.len()];
    block.extend_from_slice(&lz);
    Ok((
        Extent {
            len: n as u32,
            plain: false,
        },
        block,
    ))
}

/// Bytes of the map for a file of `size` bytes (header and indexes).
pub fn map_len(size: u64, bs: u64) -> usize {
    HEADER + INDEX * size.div_ceil(bs) as usize
}

/// The map of a file whose extents' blocks start at block `start`.
pub fn encode_map(extents: &[Extent], size: u64, bs: u64, start: u32) -> Vec<u8> {
    let lclusters = size.div_ceil(bs);
    let mut out = vec![0u8; HEADER];
    // Where each extent starts, and its block.
    let mut heads: Vec<(u64, u16, u32)> = Vec::with_capacity(extents.len());
    let mut p = 0u64;
    for (i, e) in extents.iter().enumerate() {
        let ty = if e.plain { TYPE_PLAIN } else { TYPE_HEAD1 };
        heads.push((p, ty, start + i as u32));
        p += u64::from(e.len);
    }
    let mut next = 0usize;
    for lcn in 0..lclusters {
        let (ty, ofs, u) = match heads.get(next) {
            Some(&(at, ty, blk)) if at / bs == lcn => {
                next += 1;
                (ty, (at % bs) as u16, blk.to_le_bytes())
            }
            _ => {
                let head = heads[next - 1].0 / bs;
                let next_head = heads.get(next).map_or(size / bs, |h| h.0 / bs);
                if next_head == lcn {
                    // The lcluster where the file ends, mid-way.
                    (TYPE_PLAIN, (size % bs) as u16, [0; 4])
                } else {
                    let d0 = (lcn - head).min(2047) as u16;
                    let d1 = (next_head - lcn) as u16;
                    let mut u = [0u8; 4];
                    u[..2].copy_from_slice(&d0.to_le_bytes());
                    u[2..].copy_from_slice(&d1.to_le_bytes());
                    (TYPE_NONHEAD, 0, u)
                }
            }
        };
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&ofs.to_le_bytes());
        out.extend_from_slice(&u);
    }
    out
}

/// One decoded lcluster index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// An extent starts at `clusterofs`, stored in block `blkaddr`.
    Head {
        plain: bool,
        clusterofs: u16,
        blkaddr: u32,
    },
    /// Inside an extent that started `back` lclusters before; the next
    /// starts `ahead` lclusters on.
    NonHead { back: u16, ahead: u16 },
}

/// Decodes one 8-byte index; `None` for a type this reader does not know
/// (HEAD2: a second algorithm).
pub fn decode_index(b: &[u8; 8]) -> Option<Index> {
    let advise = u16::from_le_bytes([b[0], b[1]]);
    let clusterofs = u16::from_le_bytes([b[2], b[3]]);
    match advise & 3 {
        TYPE_PLAIN | TYPE_HEAD1 => Some(Index::Head {
            plain: advise & 3 == TYPE_PLAIN,
            clusterofs,
            blkaddr: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }),
        TYPE_NONHEAD => Some(Index::NonHead {
            back: u16::from_le_bytes([b[4], b[5]]),
            ahead: u16::from_le_bytes([b[6], b[7]]),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_plan(data: &[u8]) -> Option<Vec<Extent>> {
        let mut read = |at: u64, buf: &mut [u8]| {
            buf.copy_from_slice(&data[at as usize..at as usize + buf.len()]);
            Ok(())
        };
        let mut w = Window::new(data.len() as u64, &mut read);
        plan(&mut w, data.len() as u64, 4096).unwrap()
    }

    #[test]
    fn text_is_cut_into_compressed_extents_that_cover_it() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {} of the file\n", i % 977).into_bytes())
            .take(300_001)
            .collect();
        let ex = window_plan(&text).expect("text compresses");
        let total: u64 = ex.iter().map(|e| u64::from(e.len)).sum();
        assert_eq!(total, text.len() as u64);
        assert!(
            ex.len() * 3 < text.len().div_ceil(4096),
            "{} extents",
            ex.len()
        );
        for e in &ex[..ex.len() - 1] {
            assert!(e.len > 4096 || (e.plain && e.len == 4096));
        }
        // One index per lcluster, after the 16-byte header.
        let map = encode_map(&ex, text.len() as u64, 4096, 100);
        assert_eq!(map.len(), map_len(text.len() as u64, 4096));
        let first: [u8; 8] = map[16..24].try_into().unwrap();
        assert_eq!(
            decode_index(&first),
            Some(Index::Head {
                plain: false,
                clusterofs: 0,
                blkaddr: 100
            })
        );
        // The last lcluster ends the file mid-way (300,001 is not a
        // multiple of 4096), or starts the last extent.
        let last: [u8; 8] = map[map.len() - 8..].try_into().unwrap();
        match decode_index(&last).unwrap() {
            Index::Head { clusterofs, .. } => {
                assert!(u64::from(clusterofs) <= 300_001 % 4096)
            }
            other => panic!("last index {other:?}"),
        }
    }

    #[test]
    fn incompressible_files_stay_plain() {
        let mut s = 1u64;
        let noise: Vec<u8> = (0..50_000)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                (s >> 56) as u8
            })
            .collect();
        assert_eq!(window_plan(&noise), None);
        assert_eq!(window_plan(&[7u8; 4096]), None, "one block cannot shrink");
    }
}
