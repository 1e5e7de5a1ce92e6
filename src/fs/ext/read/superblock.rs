//! The ext2/3/4 superblock, decoded and checked ("The Super Block" in the
//! kernel's ext4 documentation). It sits at byte 1024 of the volume
//! whatever the block size. Offsets in the field docs are the spec's.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::bytes::{array, le_u16, le_u32};
use crate::read::{CorruptKind, ReadError};

/// Byte offset of the primary superblock.
pub const OFFSET: u64 = 1024;
/// Bytes of the superblock.
pub const SIZE: usize = 1024;
/// `s_magic`.
const MAGIC: u16 = 0xEF53;

/// Incompatible features this reader understands.
pub mod incompat {
    pub const FILETYPE: u32 = 0x2;
    /// The journal needs replaying; the reader shows the image as it is.
    pub const RECOVER: u32 = 0x4;
    pub const EXTENTS: u32 = 0x40;
    pub const BIT64: u32 = 0x80;
    pub const MMP: u32 = 0x100;
    pub const FLEX_BG: u32 = 0x200;
    pub const CSUM_SEED: u32 = 0x2000;
    pub const LARGEDIR: u32 = 0x4000;
    pub const CASEFOLD: u32 = 0x20000;
    /// Everything above: an image with any other incompatible bit set is
    /// refused as `Incompatible`.
    pub const KNOWN: u32 =
        FILETYPE | RECOVER | EXTENTS | BIT64 | MMP | FLEX_BG | CSUM_SEED | LARGEDIR | CASEFOLD;
}

/// The superblock fields a reader uses, plus the identity fields `info`
/// and `diff` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `s_inodes_count` (0x0).
    pub inodes_count: u32,
    /// `s_blocks_count_lo` (0x4) and `_hi` (0x150, 64bit only).
    pub blocks_count: u64,
    /// `s_free_blocks_count_lo` (0xC) and `_hi` (0x158).
    pub free_blocks_count: u64,
    /// `s_free_inodes_count` (0x10).
    pub free_inodes_count: u32,
    /// `s_first_data_block` (0x14): 1 for 1 KiB blocks, else 0.
    pub first_data_block: u32,
    /// `1024 << s_log_block_size` (0x18).
    pub block_size: u32,
    /// `s_blocks_per_group` (0x20).
    pub blocks_per_group: u32,
    /// `s_inodes_per_group` (0x28).
    pub inodes_per_group: u32,
    /// `s_mtime` (0x2C).
    pub mtime: u32,
    /// `s_wtime` (0x30).
    pub wtime: u32,
    /// `s_state` (0x3A).
    pub state: u16,
    /// `s_rev_level` (0x4C).
    pub rev_level: u32,
    /// `s_first_ino` (0x54): 11 on revision 0.
    pub first_ino: u32,
    /// `s_inode_size` (0x58): 128 on revision 0.
    pub inode_size: u16,
    /// `s_feature_compat` (0x5C).
    pub feature_compat: u32,
    /// `s_feature_incompat` (0x60).
    pub feature_incompat: u32,
    /// `s_feature_ro_compat` (0x64).
    pub feature_ro_compat: u32,
    /// `s_uuid` (0x68).
    pub uuid: [u8; 16],
    /// `s_volume_name` (0x78).
    pub volume_name: [u8; 16],
    /// `s_hash_seed` (0xEC).
    pub hash_seed: [u8; 16],
    /// `s_def_hash_version` (0xFC).
    pub def_hash_version: u8,
    /// `s_desc_size` (0xFE), or 32 without the 64bit feature.
    pub desc_size: u16,
    /// `s_mkfs_time` (0x108).
    pub mkfs_time: u32,
    /// `s_kbytes_written` (0x178).
    pub kbytes_written: u64,
    /// `s_checksum` (0x3FC).
    pub checksum: u32,
}

fn field(what: &'static str, value: u64, at: u64) -> ReadError {
    CorruptKind::Field {
        what,
        value,
        at: OFFSET.saturating_add(at),
    }
    .into()
}

impl Superblock {
    /// Decodes and checks the superblock bytes; `dev_size` bounds the
    /// block count. A missing magic is `Incompatible` (not ext at all);
    /// impossible geometry is `Corrupt`.
    pub fn decode(b: &[u8], dev_size: u64) -> Result<Superblock, ReadError> {
        let short = || {
            ReadError::from(CorruptKind::Short {
                what: "superblock",
                want: SIZE as u64,
                got: b.len() as u64,
            })
        };
        let u16_at = |at: usize| le_u16(b, at).ok_or_else(short);
        let u32_at = |at: usize| le_u32(b, at).ok_or_else(short);
        if u16_at(0x38)? != MAGIC {
            return Err(ReadError::incompatible(
                "not an ext2/3/4 volume (no superblock magic)",
            ));
        }
        let feature_incompat = u32_at(0x60)?;
        let unknown = feature_incompat & !incompat::KNOWN;
        if unknown != 0 {
            return Err(ReadError::incompatible(format!(
                "ext incompatible features {unknown:#x} (for example inline_data, meta_bg or encryption) are not supported by the reader"
            )));
        }
        let bit64 = feature_incompat & incompat::BIT64 != 0;
        let log = u32_at(0x18)?;
        if log > 6 {
            return Err(field("s_log_block_size", u64::from(log), 0x18));
        }
        let block_size = 1024u32 << log;
        let hi = |at: usize| -> Result<u64, ReadError> {
            Ok(if bit64 {
                u64::from(u32_at(at)?) << 32
            } else {
                0
            })
        };
        let blocks_count = u64::from(u32_at(0x4)?) | hi(0x150)?;
        let rev_level = u32_at(0x4C)?;
        let (first_ino, inode_size) = if rev_level == 0 {
            (11, 128)
        } else {
            (u32_at(0x54)?, u16_at(0x58)?)
        };
        let desc_size = if bit64 { u16_at(0xFE)? } else { 32 };
        let sb = Superblock {
            inodes_count: u32_at(0x0)?,
            blocks_count,
            free_blocks_count: u64::from(u32_at(0xC)?) | hi(0x158)?,
            free_inodes_count: u32_at(0x10)?,
            first_data_block: u32_at(0x14)?,
            block_size,
            blocks_per_group: u32_at(0x20)?,
            inodes_per_group: u32_at(0x28)?,
            mtime: u32_at(0x2C)?,
            wtime: u32_at(0x30)?,
            state: u16_at(0x3A)?,
            rev_level,
            first_ino,
            inode_size,
            feature_compat: u32_at(0x5C)?,
            feature_incompat,
            feature_ro_compat: u32_at(0x64)?,
            uuid: array(b, 0x68).ok_or_else(short)?,
            volume_name: array(b, 0x78).ok_or_else(short)?,
            hash_seed: array(b, 0xEC).ok_or_else(short)?,
            def_hash_version: b.get(0xFC).copied().ok_or_else(short)?,
            desc_size,
            mkfs_time: u32_at(0x108)?,
            kbytes_written: u64::from(u32_at(0x178)?) | (u64::from(u32_at(0x17C)?) << 32),
            checksum: u32_at(0x3FC)?,
        };
        sb.check(dev_size)?;
        Ok(sb)
    }

    fn check(&self, dev_size: u64) -> Result<(), ReadError> {
        let bs = u64::from(self.block_size);
        if self.blocks_count == 0
            || self
                .blocks_count
                .checked_mul(bs)
                .is_none_or(|end| end > dev_size)
        {
            return Err(field("s_blocks_count", self.blocks_count, 0x4));
        }
        if u64::from(self.first_data_block) >= self.blocks_count
            || self.first_data_block != u32::from(self.block_size == 1024)
        {
            return Err(field(
                "s_first_data_block",
                self.first_data_block.into(),
                0x14,
            ));
        }
        // A group's block bitmap is one block: at most 8 bits per byte.
        if self.blocks_per_group == 0 || u64::from(self.blocks_per_group) > bs.saturating_mul(8) {
            return Err(field(
                "s_blocks_per_group",
                self.blocks_per_group.into(),
                0x20,
            ));
        }
        if self.inodes_per_group == 0 || u64::from(self.inodes_per_group) > bs.saturating_mul(8) {
            return Err(field(
                "s_inodes_per_group",
                self.inodes_per_group.into(),
                0x28,
            ));
        }
        let isz = self.inode_size;
        if isz < 128 || !isz.is_power_of_two() || u32::from(isz) > self.block_size {
            return Err(field("s_inode_size", isz.into(), 0x58));
        }
        let ds = self.desc_size;
        if ds < 32 || !ds.is_power_of_two() || u32::from(ds) > self.block_size {
            return Err(field("s_desc_size", ds.into(), 0xFE));
        }
        if u64::from(self.inodes_count)
            > u64::from(self.groups()).saturating_mul(u64::from(self.inodes_per_group))
        {
            return Err(field("s_inodes_count", self.inodes_count.into(), 0x0));
        }
        Ok(())
    }

    /// Number of block groups.
    pub fn groups(&self) -> u32 {
        let data = self
            .blocks_count
            .saturating_sub(u64::from(self.first_data_block));
        u32::try_from(data.div_ceil(u64::from(self.blocks_per_group.max(1)))).unwrap_or(u32::MAX)
    }

    pub fn has_incompat(&self, bit: u32) -> bool {
        self.feature_incompat & bit != 0
    }

    /// The flavour a reader reports, as `blkid` would (see
    /// `features::flavour`).
    pub fn flavour(&self) -> &'static str {
        super::super::features::flavour(
            self.feature_compat,
            self.feature_incompat,
            self.feature_ro_compat,
        )
    }
}
