//! Reads EROFS images: the superblock, inodes, xattrs, directories, symlink
//! targets and file data of the layouts this crate writes (plain, inline,
//! chunk-based with either map format). Compressed inodes are refused as
//! incompatible.
//!
//! Built for hostile input: every offset is checked against the image,
//! every length is capped by what the image can hold, nothing panics and
//! nothing loops without bound.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::bytes::get_u32;
use super::dir::{self, FileType};
use super::inode::{DataLayout, Inode, CHUNK_BLKBITS_MASK, NULL_ADDR};
use super::superblock::{self, Superblock};
use super::xattr;

mod compressed;
use crate::io::IoError;

/// `EROFS_CHUNK_FORMAT_INDEXES`: 8-byte chunk indexes instead of 4-byte
/// block addresses.
const CHUNK_FORMAT_INDEXES: u32 = 0x20;
/// Incompat features this reader understands.
const KNOWN_INCOMPAT: u32 = superblock::INCOMPAT_CHUNKED_FILE | superblock::INCOMPAT_ZERO_PADDING;

/// Where the superblock's `blkszbits` and `checksum` fields sit in the image.
const BLKSZBITS_AT: u64 = superblock::OFFSET as u64 + 12;
const CHECKSUM_AT: u64 = superblock::OFFSET as u64 + 4;

/// Random access to the bytes of an image.
pub trait Image {
    fn size(&self) -> u64;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
}

impl Image for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let out = || IoError::OutOfBounds {
            offset,
            len: buf.len() as u64,
            size: self.len() as u64,
        };
        let start = usize::try_from(offset).map_err(|_| out())?;
        let end = start.checked_add(buf.len()).ok_or_else(out)?;
        buf.copy_from_slice(self.get(start..end).ok_or_else(out)?);
        Ok(())
    }
}

impl Image for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        use std::os::unix::fs::FileExt;
        self.read_exact_at(buf, offset)
            .map_err(|source| IoError::Host {
                path: "<erofs image>".into(),
                source,
            })
    }
}

/// Why an image cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("EROFS image uses something this reader does not support: {0}")]
    Incompatible(String),
    #[error("corrupt EROFS image: {what} (at byte {offset})")]
    Corrupt { what: &'static str, offset: u64 },
}

fn corrupt(what: &'static str, offset: u64) -> ReadError {
    ReadError::Corrupt { what, offset }
}

/// A decoded inode with where it lives.
#[derive(Debug, Clone)]
pub struct Node {
    pub nid: u64,
    pub inode: Inode,
    /// Byte offset of the xattr body (right after the inode).
    xattr_at: u64,
    /// Byte offset right after the xattr body (chunk map or inline data).
    after_xattrs: u64,
}

impl Node {
    pub fn file_type(&self) -> FileType {
        match self.inode.mode & 0o170000 {
            0o040000 => FileType::Dir,
            0o100000 => FileType::Regular,
            0o120000 => FileType::Symlink,
            0o020000 => FileType::CharDev,
            0o060000 => FileType::BlockDev,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// An open image.
pub struct Reader<I: Image + ?Sized> {
    img: Box<I>,
    pub sb: Superblock,
    block: u64,
}

impl<I: Image + ?Sized> Reader<I> {
    /// Checks the superblock (magic, block size, checksum, features).
    pub fn open(img: Box<I>) -> Result<Self, ReadError> {
        let end = (superblock::OFFSET + superblock::SIZE) as u64;
        if img.size() < end {
            return Err(corrupt("image smaller than its superblock", 0));
        }
        let mut raw = vec![0u8; superblock::SIZE];
        img.read_at(superblock::OFFSET as u64, &mut raw)?;
        let sb =
            Superblock::decode(&raw).ok_or(corrupt("no EROFS magic", superblock::OFFSET as u64))?;
        if !(9..=16).contains(&sb.blkszbits) {
            return Err(corrupt("block size out of range", BLKSZBITS_AT));
        }
        let block = 1u64 << sb.blkszbits;
        if sb.feature_incompat & !KNOWN_INCOMPAT != 0 {
            return Err(ReadError::Incompatible(format!(
                "incompatible features {:#x}",
                sb.feature_incompat & !KNOWN_INCOMPAT
            )));
        }
        if sb.feature_compat & superblock::COMPAT_SB_CHKSUM != 0
            && block > superblock::OFFSET as u64
        {
            let mut b0 = vec![0u8; block as usize];
            img.read_at(0, &mut b0)?;
            superblock::seal(&mut b0);
            let found = get_u32(&b0, superblock::OFFSET + 4).unwrap_or(0);
            if found != sb.checksum {
                return Err(corrupt("superblock checksum mismatch", CHECKSUM_AT));
            }
        }
        Ok(Reader { img, sb, block })
    }

    pub fn root(&self) -> u64 {
        u64::from(self.sb.root_nid)
    }

    fn meta_base(&self) -> Result<u64, ReadError> {
        u64::from(self.sb.meta_blkaddr)
            .checked_mul(self.block)
            .ok_or(corrupt("meta_blkaddr overflows", 0))
    }

    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, ReadError> {
        let end = offset
            .checked_add(len)
            .ok_or(corrupt("offset overflows", offset))?;
        if end > self.img.size() {
            return Err(corrupt("reference past the end of the image", offset));
        }
        let mut v = vec![0u8; len as usize];
        self.img.read_at(offset, &mut v)?;
        Ok(v)
    }

    /// Decodes the inode at `nid`.
    pub fn node(&self, nid: u64) -> Result<Node, ReadError> {
        let at = nid
            .checked_mul(32)
            .and_then(|o| o.checked_add(self.meta_base().ok()?))
            .ok_or(corrupt("nid out of range", 0))?;
        let avail = self.img.size().saturating_sub(at).min(64);
        let raw = self.read(at, avail)?;
        let inode = Inode::decode(&raw, (self.sb.build_time, self.sb.build_time_nsec)).ok_or_else(
            || match super::bytes::get_u16(&raw, 0) {
                Some(f) if (f >> 1) & 7 == 1 || (f >> 1) & 7 == 3 => {
                    ReadError::Incompatible("compressed inode".into())
                }
                _ => corrupt("bad inode", at),
            },
        )?;
        let bad = || corrupt("inode past the end", at);
        let xattr_at = at
            .checked_add(inode.size_on_disk() as u64)
            .ok_or_else(bad)?;
        let after_xattrs = xattr_at
            .checked_add(inode.xattr_size() as u64)
            .ok_or_else(bad)?;
        Ok(Node {
            nid,
            inode,
            xattr_at,
            after_xattrs,
        })
    }

    /// The xattrs of a node, sorted by full name.
    pub fn xattrs(&self, n: &Node) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
        let size = n.inode.xattr_size() as u64;
        if size == 0 {
            return Ok(Vec::new());
        }
        let body = self.read(n.xattr_at, size)?;
        let shared = usize::from(*body.get(4).ok_or(corrupt("xattr header", n.xattr_at))?);
        let mut out = Vec::new();
        let table = u64::from(self.sb.xattr_blkaddr)
            .checked_mul(self.block)
            .ok_or(corrupt("xattr_blkaddr overflows", 0))?;
        for i in 0..shared {
            // `shared` is one byte, so these offsets are small.
            let id = get_u32(
                &body,
                xattr::HEADER_SIZE.saturating_add(i.saturating_mul(4)),
            )
            .ok_or(corrupt("shared xattr ids", n.xattr_at))?;
            let at = table
                .checked_add(u64::from(id).saturating_mul(4))
                .ok_or(corrupt("shared xattr id", n.xattr_at))?;
            let head = self.read(at, 4)?;
            // e_name_len at 0, e_value_size at 2: a 4-byte header, then both.
            let name_len = u64::from(head.first().copied().unwrap_or(0));
            let value_len = u64::from(super::bytes::get_u16(&head, 2).unwrap_or(0));
            let len = name_len.saturating_add(value_len).saturating_add(4);
            let e = self.read(at, len)?;
            let entry = xattr::decode_entry(&e).ok_or(corrupt("shared xattr entry", at))?;
            out.push(named(&entry, at)?);
        }
        let mut pos = xattr::HEADER_SIZE.saturating_add(shared.saturating_mul(4));
        while pos < body.len() {
            let at = n.xattr_at.saturating_add(pos as u64);
            let entry = body
                .get(pos..)
                .and_then(xattr::decode_entry)
                .filter(|e| e.size > 0)
                .ok_or(corrupt("inline xattr entry", at))?;
            out.push(named(&entry, at)?);
            pos = pos.saturating_add(entry.size);
        }
        out.sort();
        Ok(out)
    }

    /// Reads up to `buf.len()` bytes of a node's content at `offset`;
    /// returns how many (0 at the end).
    pub fn read_at(&self, n: &Node, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        let size = n.inode.size;
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        if n.inode.layout == DataLayout::CompressedFull {
            return self.read_compressed(n, offset, buf);
        }
        // `offset < size`, and `done + k <= want <= buf.len()` all through.
        let want = (buf.len() as u64).min(size.saturating_sub(offset));
        let mut done = 0u64;
        while done < want {
            let pos = offset.saturating_add(done);
            let (phys, run) = self.map(n, pos)?;
            if run == 0 {
                return Err(corrupt("empty extent", pos));
            }
            let k = run.min(want.saturating_sub(done));
            let dst = buf
                .get_mut(done as usize..done.saturating_add(k) as usize)
                .ok_or(corrupt("extent", pos))?;
            match phys {
                Some(p) => {
                    let v = self.read(p, k)?;
                    dst.copy_from_slice(&v);
                }
                None => dst.fill(0),
            }
            done = done.saturating_add(k);
        }
        Ok(want as usize)
    }

    /// Where content byte `pos` lives: a physical offset (or a hole) and
    /// how many bytes run on from there.
    fn map(&self, n: &Node, pos: u64) -> Result<(Option<u64>, u64), ReadError> {
        let bs = self.block;
        let size = n.inode.size;
        match n.inode.layout {
            DataLayout::FlatPlain | DataLayout::FlatInline => {
                let inline = n.inode.layout == DataLayout::FlatInline;
                let bad = || corrupt("file size out of range", n.xattr_at);
                // `bs` is a power of two from 512 to 64 KiB (checked at open).
                let tail_start = if inline {
                    size & !(bs.saturating_sub(1))
                } else {
                    size.div_ceil(bs).checked_mul(bs).ok_or_else(bad)?
                };
                if pos >= tail_start {
                    let tail = size.saturating_sub(tail_start);
                    let in_block = n.after_xattrs.checked_rem(bs).unwrap_or(0);
                    if inline && in_block.saturating_add(tail) > bs {
                        return Err(corrupt("inline data crosses a block", n.after_xattrs));
                    }
                    let p = n
                        .after_xattrs
                        .checked_add(pos.saturating_sub(tail_start))
                        .ok_or_else(bad)?;
                    return Ok((Some(p), size.saturating_sub(pos)));
                }
                let base = u64::from(n.inode.i_u).checked_mul(bs).ok_or_else(bad)?;
                Ok((
                    Some(base.checked_add(pos).ok_or_else(bad)?),
                    tail_start.saturating_sub(pos),
                ))
            }
            DataLayout::CompressedFull => Err(corrupt("compressed data read as plain", 0)),
            DataLayout::ChunkBased => {
                let fmt = n.inode.i_u;
                let bits = (fmt & u32::from(CHUNK_BLKBITS_MASK)) as u64;
                let chunk = bs
                    .checked_shl(bits as u32)
                    .filter(|c| *c > 0 && bits < 32)
                    .ok_or(corrupt("chunk size", n.after_xattrs))?;
                let idx = pos.checked_div(chunk).unwrap_or(0);
                let within = pos.checked_rem(chunk).unwrap_or(0);
                let (unit, at) = if fmt & CHUNK_FORMAT_INDEXES != 0 {
                    (8u64, n.after_xattrs.next_multiple_of(8))
                } else {
                    (4u64, n.after_xattrs)
                };
                let entry_at = idx
                    .checked_mul(unit)
                    .and_then(|o| at.checked_add(o))
                    .ok_or(corrupt("chunk map", at))?;
                let entry = self.read(entry_at, unit)?;
                let addr = if unit == 8 {
                    get_u32(&entry, 4)
                } else {
                    get_u32(&entry, 0)
                }
                .ok_or(corrupt("chunk map", at))?;
                let run = chunk.saturating_sub(within);
                if addr == NULL_ADDR {
                    return Ok((None, run));
                }
                let p = u64::from(addr)
                    .checked_mul(bs)
                    .and_then(|b| b.checked_add(within))
                    .ok_or(corrupt("chunk address", entry_at))?;
                Ok((Some(p), run))
            }
        }
    }

    /// Whole content of a node, refusing more than `cap` bytes.
    pub fn content(&self, n: &Node, cap: u64) -> Result<Vec<u8>, ReadError> {
        if n.inode.size > cap || n.inode.size > self.img.size().saturating_mul(64) {
            return Err(corrupt(
                "content larger than the image can hold",
                n.xattr_at,
            ));
        }
        let mut v = vec![0u8; n.inode.size as usize];
        let got = self.read_at(n, 0, &mut v)?;
        v.truncate(got);
        Ok(v)
    }

    /// Directory entries except `.` and `..`, in on-disk (sorted) order.
    pub fn read_dir(&self, n: &Node) -> Result<Vec<(Vec<u8>, u64, FileType)>, ReadError> {
        if n.file_type() != FileType::Dir {
            return Err(corrupt("not a directory", n.xattr_at));
        }
        let content = self.content(n, self.img.size())?;
        let mut out = Vec::new();
        for blk in content.chunks(self.block as usize) {
            let ents = dir::decode_block(blk).ok_or(corrupt("directory block", n.xattr_at))?;
            out.extend(ents.into_iter().filter(|e| e.0 != b"." && e.0 != b".."));
        }
        Ok(out)
    }

    /// A symlink's target.
    pub fn read_link(&self, n: &Node) -> Result<Vec<u8>, ReadError> {
        self.content(n, 4096)
    }
}

fn named(e: &xattr::Entry<'_>, at: u64) -> Result<(String, Vec<u8>), ReadError> {
    let name =
        xattr::join_name(e.index, e.suffix).ok_or(corrupt("unknown xattr name index", at))?;
    Ok((name, e.value.to_vec()))
}
