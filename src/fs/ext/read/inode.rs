//! Inodes ("Index Nodes" in the kernel's ext4 documentation): 128 bytes,
//! or `s_inode_size` with an extra area whose length `i_extra_isize`
//! gives, holding the nanosecond time fields, the creation time and
//! in-inode extended attributes.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::bytes::{array, le_u16, le_u32};
use crate::read::{Kind, Timestamp};

/// `EXT4_EXTENTS_FL`: `i_block` holds an extent tree.
pub const FL_EXTENTS: u32 = 0x80000;
/// `EXT4_INLINE_DATA_FL`.
pub const FL_INLINE_DATA: u32 = 0x1000_0000;

/// One decoded inode.
#[derive(Debug, Clone)]
pub struct Inode {
    /// `i_mode` (0x0).
    pub mode: u16,
    /// `i_uid` (0x2) | `l_i_uid_high` (0x78) << 16.
    pub uid: u32,
    /// `i_size_lo` (0x4) | `i_size_high` (0x6C) << 32.
    pub size: u64,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    pub mtime: Timestamp,
    /// `i_crtime` (0x90) with `i_crtime_extra` (0x94), when present.
    pub crtime: Option<Timestamp>,
    /// `i_gid` (0x18) | `l_i_gid_high` (0x7A) << 16.
    pub gid: u32,
    /// `i_links_count` (0x1A).
    pub links: u16,
    /// `i_blocks_lo` (0x1C): 512-byte sectors (no huge_file support).
    pub sectors: u32,
    /// `i_flags` (0x20).
    pub flags: u32,
    /// `i_block` (0x28, 60 bytes): block map, extent tree root, fast
    /// symlink target or device number.
    pub block: [u8; 60],
    /// `i_file_acl_lo` (0x68) | `l_i_file_acl_high` (0x76) << 32: the
    /// external xattr block.
    pub file_acl: u64,
    /// The in-inode xattr area (after `128 + i_extra_isize`), possibly
    /// empty.
    pub xattr_area: Vec<u8>,
}

/// A time from its 32-bit seconds field and its `_extra` word: two epoch
/// bits extend the signed seconds past 2038, the other 30 are nanoseconds.
fn time(lo: u32, extra: Option<u32>) -> Timestamp {
    // Reinterpreting the stored bits as signed is the format's rule.
    #[allow(clippy::cast_possible_wrap)]
    let secs = i64::from(lo as i32);
    match extra {
        None => Timestamp { secs, nanos: 0 },
        Some(x) => Timestamp {
            secs: secs.saturating_add(i64::from(x & 3) << 32),
            nanos: (x >> 2).min(999_999_999),
        },
    }
}

impl Inode {
    /// Decodes an on-disk inode of `b.len()` bytes (at least 128).
    pub fn decode(b: &[u8]) -> Option<Inode> {
        let u16_at = |at| le_u16(b, at);
        let u32_at = |at| le_u32(b, at);
        let extra_isize = if b.len() > 128 {
            usize::from(u16_at(0x80)?)
        } else {
            0
        };
        // An extra field is there when i_extra_isize covers it.
        let extra = |at: usize| -> Option<u32> {
            let end = at.checked_add(4)?.checked_sub(128)?;
            if end <= extra_isize {
                u32_at(at)
            } else {
                None
            }
        };
        let xattr_start = 128usize.checked_add(extra_isize)?;
        let xattr_area = b.get(xattr_start..).map(<[u8]>::to_vec).unwrap_or_default();
        Some(Inode {
            mode: u16_at(0x0)?,
            uid: u32::from(u16_at(0x2)?) | (u32::from(u16_at(0x78)?) << 16),
            size: u64::from(u32_at(0x4)?) | (u64::from(u32_at(0x6C)?) << 32),
            atime: time(u32_at(0x8)?, extra(0x8C)),
            ctime: time(u32_at(0xC)?, extra(0x84)),
            mtime: time(u32_at(0x10)?, extra(0x88)),
            crtime: match (extra(0x90), extra(0x94)) {
                (Some(lo), x) => Some(time(lo, x)),
                _ => None,
            },
            gid: u32::from(u16_at(0x18)?) | (u32::from(u16_at(0x7A)?) << 16),
            links: u16_at(0x1A)?,
            sectors: u32_at(0x1C)?,
            flags: u32_at(0x20)?,
            block: array(b, 0x28)?,
            file_acl: u64::from(u32_at(0x68)?) | (u64::from(u16_at(0x76)?) << 32),
            xattr_area,
        })
    }

    pub fn kind(&self) -> Option<Kind> {
        Kind::from_mode(u32::from(self.mode))
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Word `i` of `i_block`.
    pub fn block_word(&self, i: usize) -> u32 {
        le_u32(&self.block, i.saturating_mul(4)).unwrap_or(0)
    }

    /// Device numbers from `i_block`: the old form (major and minor one
    /// byte each) in word 0, else the new form in word 1.
    pub fn rdev(&self) -> (u32, u32) {
        let old = self.block_word(0);
        if old != 0 {
            return ((old >> 8) & 0xff, old & 0xff);
        }
        let new = self.block_word(1);
        ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
    }

    /// A fast symlink keeps its target in `i_block`: short enough to fit
    /// and no data blocks besides a possible xattr block.
    pub fn is_fast_symlink(&self, block_size: u32) -> bool {
        let acl_sectors = if self.file_acl != 0 {
            block_size / 512
        } else {
            0
        };
        self.kind() == Some(Kind::Symlink)
            && self.size < 60
            && !self.has_flag(FL_INLINE_DATA)
            && self.sectors.saturating_sub(acl_sectors) == 0
    }
}

#[cfg(test)]
// Tests index fixed buffers they built themselves.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn times_decode_the_epoch_bits_and_nanoseconds() {
        assert_eq!(time(0xFFFF_FFFF, None).secs, -1);
        assert_eq!(time(0, Some(1)).secs, 1 << 32);
        let t = time(5, Some((123 << 2) | 1));
        assert_eq!((t.secs, t.nanos), ((1 << 32) + 5, 123));
    }

    #[test]
    fn device_numbers_in_both_forms() {
        let mut raw = [0u8; 128];
        raw[0x28..0x2C].copy_from_slice(&0x0801u32.to_le_bytes());
        assert_eq!(Inode::decode(&raw).unwrap().rdev(), (8, 1));
        raw[0x28..0x2C].copy_from_slice(&0u32.to_le_bytes());
        // major 259, minor 65536 + 3.
        let v: u32 = 3 | (259 << 8) | (0x10000 << 12);
        raw[0x2C..0x30].copy_from_slice(&v.to_le_bytes());
        assert_eq!(Inode::decode(&raw).unwrap().rdev(), (259, 0x10003));
    }
}
