//! The EROFS superblock: 128 bytes at byte 1024 of the image
//! (`struct erofs_super_block` in erofs-utils' `include/erofs_fs.h`).
//!
//! With the `sb_csum` compat feature the kernel checks `checksum` as
//! crc32c over everything from byte 1024 to the end of the first block,
//! with the checksum field read as zero, so the checksum can only be
//! computed once every inode that shares block 0 is final.

use super::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

/// Byte offset of the superblock in the image.
pub const OFFSET: usize = 1024;
/// Encoded size of the superblock (no extension slots).
pub const SIZE: usize = 128;
/// `EROFS_SUPER_MAGIC_V1`.
pub const MAGIC: u32 = 0xE0F5_E1E2;

/// `EROFS_FEATURE_COMPAT_SB_CHKSUM`: the superblock carries a crc32c.
pub const COMPAT_SB_CHKSUM: u32 = 0x1;
/// `EROFS_FEATURE_COMPAT_MTIME`: extended inodes hold the mtime (not a
/// ctime), so the kernel reports it as the modification time.
pub const COMPAT_MTIME: u32 = 0x2;
/// `EROFS_FEATURE_INCOMPAT_ZERO_PADDING` (`LZ4_0PADDING`): compressed
/// data sits at the end of its block, after zeros.
pub const INCOMPAT_ZERO_PADDING: u32 = 0x1;
/// `EROFS_FEATURE_INCOMPAT_CHUNKED_FILE`: some inode uses the chunk-based
/// layout.
pub const INCOMPAT_CHUNKED_FILE: u32 = 0x4;

/// Field offsets inside the 128-byte superblock, in spec order.
mod off {
    pub const MAGIC: usize = 0x00;
    pub const CHECKSUM: usize = 0x04;
    pub const FEATURE_COMPAT: usize = 0x08;
    pub const BLKSZBITS: usize = 0x0C;
    pub const SB_EXTSLOTS: usize = 0x0D;
    pub const ROOT_NID: usize = 0x0E;
    pub const INOS: usize = 0x10;
    pub const BUILD_TIME: usize = 0x18;
    pub const BUILD_TIME_NSEC: usize = 0x20;
    pub const BLOCKS: usize = 0x24;
    pub const META_BLKADDR: usize = 0x28;
    pub const XATTR_BLKADDR: usize = 0x2C;
    pub const UUID: usize = 0x30;
    pub const VOLUME_NAME: usize = 0x40;
    pub const FEATURE_INCOMPAT: usize = 0x50;
}

/// The fields of `struct erofs_super_block` this writer sets; the rest
/// (compression, extra devices, packed inode, name prefixes) stay zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `checksum` (0x04); [`Superblock::encode`] writes zero here.
    pub checksum: u32,
    /// `feature_compat` (0x08).
    pub feature_compat: u32,
    /// `blkszbits` (0x0C): log2 of the block size.
    pub blkszbits: u8,
    /// `root_nid` (0x0E): nid of the root directory (16 bits: the root
    /// inode must sit in the first 2 MiB of the metadata area).
    pub root_nid: u16,
    /// `inos` (0x10): number of inodes.
    pub inos: u64,
    /// `build_time` (0x18) and `build_time_nsec` (0x20): the time compact
    /// inodes report, since they carry none of their own.
    pub build_time: i64,
    pub build_time_nsec: u32,
    /// `blocks` (0x24): blocks in the filesystem, for statfs.
    pub blocks: u32,
    /// `meta_blkaddr` (0x28): block where nid 0 lives.
    pub meta_blkaddr: u32,
    /// `xattr_blkaddr` (0x2C): block that shared-xattr ids count from.
    pub xattr_blkaddr: u32,
    /// `uuid` (0x30).
    pub uuid: [u8; 16],
    /// `volume_name` (0x40): up to 16 bytes, NUL padded.
    pub volume_name: [u8; 16],
    /// `feature_incompat` (0x50).
    pub feature_incompat: u32,
}

impl Superblock {
    /// The 128 bytes, with the checksum field as stored in `self`.
    pub fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        put_u32(&mut b, off::MAGIC, MAGIC);
        put_u32(&mut b, off::CHECKSUM, self.checksum);
        put_u32(&mut b, off::FEATURE_COMPAT, self.feature_compat);
        b[off::BLKSZBITS] = self.blkszbits;
        b[off::SB_EXTSLOTS] = 0;
        put_u16(&mut b, off::ROOT_NID, self.root_nid);
        put_u64(&mut b, off::INOS, self.inos);
        put_u64(&mut b, off::BUILD_TIME, self.build_time as u64);
        put_u32(&mut b, off::BUILD_TIME_NSEC, self.build_time_nsec);
        put_u32(&mut b, off::BLOCKS, self.blocks);
        put_u32(&mut b, off::META_BLKADDR, self.meta_blkaddr);
        put_u32(&mut b, off::XATTR_BLKADDR, self.xattr_blkaddr);
        b[off::UUID..off::UUID + 16].copy_from_slice(&self.uuid);
        b[off::VOLUME_NAME..off::VOLUME_NAME + 16].copy_from_slice(&self.volume_name);
        put_u32(&mut b, off::FEATURE_INCOMPAT, self.feature_incompat);
        b
    }

    /// Parses the 128 bytes at [`OFFSET`]; `None` without the magic or
    /// when `b` is short.
    pub fn decode(b: &[u8]) -> Option<Superblock> {
        if get_u32(b, off::MAGIC)? != MAGIC {
            return None;
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(b.get(off::UUID..off::UUID + 16)?);
        let mut volume_name = [0u8; 16];
        volume_name.copy_from_slice(b.get(off::VOLUME_NAME..off::VOLUME_NAME + 16)?);
        Some(Superblock {
            checksum: get_u32(b, off::CHECKSUM)?,
            feature_compat: get_u32(b, off::FEATURE_COMPAT)?,
            blkszbits: *b.get(off::BLKSZBITS)?,
            root_nid: get_u16(b, off::ROOT_NID)?,
            inos: get_u64(b, off::INOS)?,
            build_time: get_u64(b, off::BUILD_TIME)? as i64,
            build_time_nsec: get_u32(b, off::BUILD_TIME_NSEC)?,
            blocks: get_u32(b, off::BLOCKS)?,
            meta_blkaddr: get_u32(b, off::META_BLKADDR)?,
            xattr_blkaddr: get_u32(b, off::XATTR_BLKADDR)?,
            uuid,
            volume_name,
            feature_incompat: get_u32(b, off::FEATURE_INCOMPAT)?,
        })
    }

    /// The volume name up to its first NUL.
    pub fn label(&self) -> String {
        let end = self.volume_name.iter().position(|&c| c == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.volume_name[..end]).into_owned()
    }
}

/// The superblock checksum over `tail`, the bytes from [`OFFSET`] to the
/// end of block 0 with the checksum field already zeroed. EROFS uses the
/// kernel's raw `crc32c(~0, ...)`: the standard CRC-32C register without
/// its final inversion.
pub fn checksum(tail: &[u8]) -> u32 {
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    !CRC32C.checksum(tail)
}

/// Stores the checksum of block 0 (`block0` is the whole first block)
/// into its superblock.
pub fn seal(block0: &mut [u8]) {
    let at = OFFSET + off::CHECKSUM;
    block0[at..at + 4].fill(0);
    let c = checksum(&block0[OFFSET..]);
    put_u32(block0, at, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let sb = Superblock {
            checksum: 0,
            feature_compat: COMPAT_SB_CHKSUM | COMPAT_MTIME,
            blkszbits: 12,
            root_nid: 36,
            inos: 5,
            build_time: -2,
            build_time_nsec: 7,
            blocks: 1,
            meta_blkaddr: 0,
            xattr_blkaddr: 0,
            uuid: [9; 16],
            volume_name: *b"root\0\0\0\0\0\0\0\0\0\0\0\0",
            feature_incompat: INCOMPAT_CHUNKED_FILE,
        };
        let b = sb.encode();
        assert_eq!(&b[0..4], &[0xE2, 0xE1, 0xF5, 0xE0]);
        assert_eq!(b[0x0C], 12);
        assert_eq!(&b[0x0E..0x10], &[36, 0]);
        assert_eq!(&b[0x50..0x54], &[4, 0, 0, 0]);
        assert_eq!(Superblock::decode(&b), Some(sb.clone()));
        assert_eq!(sb.label(), "root");
        assert!(Superblock::decode(&b[..0x52]).is_none());
    }

    #[test]
    fn checksum_is_crc32c_without_final_inversion() {
        // crc32c("123456789") is 0xE3069283 in its standard form.
        assert_eq!(checksum(b"123456789"), !0xE306_9283);
    }
}
