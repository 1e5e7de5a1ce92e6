//! On-disk inodes: the 32-byte compact form (`struct erofs_inode_compact`)
//! and the 64-byte extended form (`struct erofs_inode_extended`).
//!
//! An inode's nid is its byte offset from the metadata block divided by
//! 32, so every inode starts 32-byte aligned. It is followed by its xattr
//! body, then by its chunk map or its inline (tail-packed) data.
//!
//! The compact form has no timestamp (it reports the superblock's
//! `build_time`), 16-bit owners and link count and a 32-bit size; anything
//! else needs the extended form.

use super::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

pub const COMPACT_SIZE: usize = 32;
pub const EXTENDED_SIZE: usize = 64;

/// How an inode's data is found (bits 1..4 of `i_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataLayout {
    /// `EROFS_INODE_FLAT_PLAIN`: `ceil(size / block)` consecutive blocks
    /// from `raw_blkaddr`.
    FlatPlain,
    /// `EROFS_INODE_FLAT_INLINE`: whole blocks from `raw_blkaddr`, and the
    /// last partial block right after the inode and its xattrs.
    FlatInline,
    /// `EROFS_INODE_CHUNK_BASED`: a map of chunk addresses after the
    /// xattrs, where `0xFFFF_FFFF` is a hole.
    ChunkBased,
    /// `EROFS_INODE_COMPRESSED_FULL`: compressed extents, one lcluster
    /// index per block of content after the xattrs (see [`super::zmap`]);
    /// `i_u` counts the compressed blocks.
    CompressedFull,
}

impl DataLayout {
    pub fn code(self) -> u16 {
        match self {
            DataLayout::FlatPlain => 0,
            DataLayout::FlatInline => 2,
            DataLayout::ChunkBased => 4,
            DataLayout::CompressedFull => 1,
        }
    }
    /// The layouts a reader of this writer's images understands (compact
    /// compressed indexes, 3, are refused).
    pub fn from_code(c: u16) -> Option<DataLayout> {
        match c {
            0 => Some(DataLayout::FlatPlain),
            1 => Some(DataLayout::CompressedFull),
            2 => Some(DataLayout::FlatInline),
            4 => Some(DataLayout::ChunkBased),
            _ => None,
        }
    }
}

/// `EROFS_CHUNK_FORMAT_BLKBITS_MASK`: log2(chunk / block) in the chunk
/// info word. Without `EROFS_CHUNK_FORMAT_INDEXES` (0x20) the map is an
/// array of 4-byte block addresses.
pub const CHUNK_BLKBITS_MASK: u16 = 0x1F;
/// `EROFS_NULL_ADDR`: a hole in a chunk map, or no block at all.
pub const NULL_ADDR: u32 = 0xFFFF_FFFF;

/// Both inode forms, decoded. Fields the compact form lacks read as the
/// superblock's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Bit 0 of `i_format` (0x00): the extended form.
    pub extended: bool,
    pub layout: DataLayout,
    /// `i_xattr_icount` (0x02): xattr body size in 4-byte units past a
    /// 12-byte header; 0 means no body.
    pub xattr_icount: u16,
    /// `i_mode` (0x04): file type and permission bits.
    pub mode: u16,
    /// `i_nlink`: compact 0x06 (16 bits), extended 0x2C (32 bits).
    pub nlink: u32,
    /// `i_size`: compact 0x08 (32 bits), extended 0x08 (64 bits).
    pub size: u64,
    /// `i_u` (0x10): `raw_blkaddr`, `rdev` or the chunk info word.
    pub i_u: u32,
    /// `i_ino` (0x14): inode number for 32-bit stat.
    pub ino: u32,
    /// `i_uid`/`i_gid`: compact 0x18/0x1A (16 bits), extended 0x18/0x1C.
    pub uid: u32,
    pub gid: u32,
    /// Extended only: `i_mtime` (0x20) and `i_mtime_nsec` (0x28).
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl Inode {
    pub fn size_on_disk(&self) -> usize {
        if self.extended {
            EXTENDED_SIZE
        } else {
            COMPACT_SIZE
        }
    }

    /// Bytes of the xattr body that follows the inode.
    pub fn xattr_size(&self) -> usize {
        super::xattr::body_size(self.xattr_icount)
    }

    /// Appends the inode's encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.size_on_disk(), 0);
        let b = &mut out[start..];
        let format = u16::from(self.extended) | (self.layout.code() << 1);
        put_u16(b, 0x00, format);
        put_u16(b, 0x02, self.xattr_icount);
        put_u16(b, 0x04, self.mode);
        put_u32(b, 0x10, self.i_u);
        put_u32(b, 0x14, self.ino);
        if self.extended {
            put_u64(b, 0x08, self.size);
            put_u32(b, 0x18, self.uid);
            put_u32(b, 0x1C, self.gid);
            put_u64(b, 0x20, self.mtime as u64);
            put_u32(b, 0x28, self.mtime_nsec);
            put_u32(b, 0x2C, self.nlink);
        } else {
            // The planner only picks the compact form when these fit.
            put_u16(b, 0x06, self.nlink as u16);
            put_u32(b, 0x08, self.size as u32);
            put_u16(b, 0x18, self.uid as u16);
            put_u16(b, 0x1A, self.gid as u16);
        }
    }

    /// Decodes an inode starting at `b[0]`. Compact inodes take their time
    /// from `build_time`. `None` when `b` is short or the layout unknown.
    pub fn decode(b: &[u8], build_time: (i64, u32)) -> Option<Inode> {
        let format = get_u16(b, 0x00)?;
        let extended = format & 1 != 0;
        let layout = DataLayout::from_code((format >> 1) & 0x7)?;
        let common = |nlink, size, uid, gid, mtime: (i64, u32)| Inode {
            extended,
            layout,
            xattr_icount: get_u16(b, 0x02).unwrap_or(0),
            mode: get_u16(b, 0x04).unwrap_or(0),
            nlink,
            size,
            i_u: get_u32(b, 0x10).unwrap_or(0),
            ino: get_u32(b, 0x14).unwrap_or(0),
            uid,
            gid,
            mtime: mtime.0,
            mtime_nsec: mtime.1,
        };
        if extended {
            b.get(..EXTENDED_SIZE)?;
            Some(common(
                get_u32(b, 0x2C)?,
                get_u64(b, 0x08)?,
                get_u32(b, 0x18)?,
                get_u32(b, 0x1C)?,
                (get_u64(b, 0x20)? as i64, get_u32(b, 0x28)?),
            ))
        } else {
            b.get(..COMPACT_SIZE)?;
            Some(common(
                u32::from(get_u16(b, 0x06)?),
                u64::from(get_u32(b, 0x08)?),
                u32::from(get_u16(b, 0x18)?),
                u32::from(get_u16(b, 0x1A)?),
                build_time,
            ))
        }
    }
}

/// The kernel's `new_encode_dev`: minor bits 0..8 and 20..32, major bits
/// 8..20, as stored in `i_u` of device inodes.
pub fn encode_rdev(major: u32, minor: u32) -> u32 {
    (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & !0xFF) << 12)
}

/// Inverse of [`encode_rdev`].
pub fn decode_rdev(v: u32) -> (u32, u32) {
    ((v >> 8) & 0xFFF, (v & 0xFF) | ((v >> 12) & 0xF_FF00))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(extended: bool) -> Inode {
        Inode {
            extended,
            layout: DataLayout::FlatInline,
            xattr_icount: 3,
            mode: 0o100644,
            nlink: 2,
            size: 3,
            i_u: NULL_ADDR,
            ino: 1,
            uid: 1000,
            gid: 100,
            mtime: if extended { 1_700_000_000 } else { 5 },
            mtime_nsec: if extended { 12 } else { 0 },
        }
    }

    #[test]
    fn compact_layout_matches_the_spec_offsets() {
        let mut v = Vec::new();
        sample(false).encode_into(&mut v);
        assert_eq!(v.len(), 32);
        assert_eq!(&v[0..2], &[4, 0]); // inline layout, compact
        assert_eq!(&v[2..4], &[3, 0]);
        assert_eq!(&v[4..6], &0o100644u16.to_le_bytes());
        assert_eq!(&v[6..8], &[2, 0]);
        assert_eq!(&v[0x10..0x14], &[0xFF; 4]);
        assert_eq!(&v[0x18..0x1A], &1000u16.to_le_bytes());
        assert_eq!(Inode::decode(&v, (5, 0)), Some(sample(false)));
    }

    #[test]
    fn extended_round_trips() {
        let mut v = Vec::new();
        sample(true).encode_into(&mut v);
        assert_eq!(v.len(), 64);
        assert_eq!(v[0], 5);
        assert_eq!(Inode::decode(&v, (0, 0)), Some(sample(true)));
        assert!(Inode::decode(&v[..40], (0, 0)).is_none());
    }

    #[test]
    fn rdev_matches_the_kernel_encoding() {
        assert_eq!(encode_rdev(8, 1), 0x801);
        assert_eq!(encode_rdev(1, 0x12345), 0x1230_0145);
        for (ma, mi) in [(0, 0), (8, 1), (4095, 0xF_FFFF), (259, 70000)] {
            assert_eq!(decode_rdev(encode_rdev(ma, mi)), (ma, mi));
        }
    }
}
