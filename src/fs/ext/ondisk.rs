//! On-disk encoding of the superblock, group descriptors and inodes, at the
//! offsets the kernel's ext4 documentation gives.

use super::csum;
use super::layout::{ExtPlan, GroupMeta, FIRST_INO, JOURNAL_INO};
use crate::tree::Timestamp;

pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn lo32(v: u64) -> u32 {
    v as u32
}
pub fn hi32(v: u64) -> u32 {
    (v >> 32) as u32
}

/// A time as the 32-bit seconds field plus the `_extra` word (two epoch
/// bits extending the range past 2038, and nanoseconds << 2). Exact for
/// [`crate::tree::time::EXT_LARGE_INODE`] (the planner refuses or clamps
/// anything else); wrapping arithmetic so no input can panic.
pub fn encode_time(t: Timestamp) -> (u32, u32) {
    let lo = t.secs as i32;
    let epoch = (t.secs.wrapping_sub(i64::from(lo)) >> 32) as u32 & 3;
    (lo as u32, epoch | (t.nanos.min(999_999_999) << 2))
}

/// The inode time range for `inode_size`: the `_extra` words exist only in
/// inodes larger than 128 bytes.
pub fn inode_time_range(inode_size: u16) -> crate::tree::time::Range {
    if inode_size > 128 {
        crate::tree::time::EXT_LARGE_INODE
    } else {
        crate::tree::time::EXT_SMALL_INODE
    }
}

/// Superblock fields (offsets within the 1024-byte superblock).
mod sb {
    pub const INODES_COUNT: usize = 0x0;
    pub const BLOCKS_COUNT_LO: usize = 0x4;
    pub const R_BLOCKS_COUNT_LO: usize = 0x8;
    pub const FREE_BLOCKS_COUNT_LO: usize = 0xC;
    pub const FREE_INODES_COUNT: usize = 0x10;
    pub const FIRST_DATA_BLOCK: usize = 0x14;
    pub const LOG_BLOCK_SIZE: usize = 0x18;
    pub const LOG_CLUSTER_SIZE: usize = 0x1C;
    pub const BLOCKS_PER_GROUP: usize = 0x20;
    pub const CLUSTERS_PER_GROUP: usize = 0x24;
    pub const INODES_PER_GROUP: usize = 0x28;
    pub const WTIME: usize = 0x30;
    pub const MAX_MNT_COUNT: usize = 0x36;
    pub const MAGIC: usize = 0x38;
    pub const STATE: usize = 0x3A;
    pub const ERRORS: usize = 0x3C;
    pub const LASTCHECK: usize = 0x40;
    pub const REV_LEVEL: usize = 0x4C;
    pub const FIRST_INO: usize = 0x54;
    pub const INODE_SIZE: usize = 0x58;
    pub const BLOCK_GROUP_NR: usize = 0x5A;
    pub const FEATURE_COMPAT: usize = 0x5C;
    pub const FEATURE_INCOMPAT: usize = 0x60;
    pub const FEATURE_RO_COMPAT: usize = 0x64;
    pub const UUID: usize = 0x68;
    pub const VOLUME_NAME: usize = 0x78;
    pub const JOURNAL_INUM: usize = 0xE0;
    pub const HASH_SEED: usize = 0xEC;
    pub const DEF_HASH_VERSION: usize = 0xFC;
    pub const JNL_BACKUP_TYPE: usize = 0xFD;
    pub const DESC_SIZE: usize = 0xFE;
    pub const DEFAULT_MOUNT_OPTS: usize = 0x100;
    pub const MKFS_TIME: usize = 0x108;
    pub const JNL_BLOCKS: usize = 0x10C;
    pub const BLOCKS_COUNT_HI: usize = 0x150;
    pub const R_BLOCKS_COUNT_HI: usize = 0x154;
    pub const FREE_BLOCKS_COUNT_HI: usize = 0x158;
    pub const MIN_EXTRA_ISIZE: usize = 0x15C;
    pub const WANT_EXTRA_ISIZE: usize = 0x15E;
    pub const FLAGS: usize = 0x160;
    pub const LOG_GROUPS_PER_FLEX: usize = 0x174;
    pub const CHECKSUM_TYPE: usize = 0x175;
    pub const WTIME_HI: usize = 0x274;
    pub const MKFS_TIME_HI: usize = 0x276;
    pub const LASTCHECK_HI: usize = 0x277;
    pub const CHECKSUM: usize = 0x3FC;
}

/// `EXT2_FLAGS_UNSIGNED_HASH`: directory hashes treat name bytes as
/// unsigned, whatever the host's `char` (so the image does not depend on it).
const FLAGS_UNSIGNED_HASH: u32 = 0x2;
/// `EXT4_DEFM_XATTR_USER | EXT4_DEFM_ACL`, what mke2fs sets.
const DEFAULT_MOUNT_OPTS: u32 = 0x0004 | 0x0008;

/// Builds the superblock as stored in group `group`, with `jnl_blocks` the
/// journal inode's `i_block` backup (17 words) when there is a journal.
pub fn superblock(plan: &ExtPlan, group: u32, jnl_blocks: Option<[u32; 17]>) -> [u8; 1024] {
    let g = &plan.geo;
    let o = &plan.opts;
    let f = &plan.features;
    let mut b = [0u8; 1024];
    put32(&mut b, sb::INODES_COUNT, g.inodes as u32);
    put32(&mut b, sb::BLOCKS_COUNT_LO, lo32(g.blocks));
    put32(&mut b, sb::R_BLOCKS_COUNT_LO, lo32(g.reserved_blocks));
    put32(&mut b, sb::FREE_BLOCKS_COUNT_LO, lo32(g.free_blocks));
    put32(&mut b, sb::FREE_INODES_COUNT, g.free_inodes as u32);
    put32(&mut b, sb::FIRST_DATA_BLOCK, g.first_data_block as u32);
    let log = g.block_size.trailing_zeros() - 10;
    put32(&mut b, sb::LOG_BLOCK_SIZE, log);
    put32(&mut b, sb::LOG_CLUSTER_SIZE, log);
    put32(&mut b, sb::BLOCKS_PER_GROUP, g.blocks_per_group);
    put32(&mut b, sb::CLUSTERS_PER_GROUP, g.blocks_per_group);
    put32(&mut b, sb::INODES_PER_GROUP, g.inodes_per_group);
    // The planner refused an epoch outside the superblock's range unless
    // the spec asked to clamp.
    let epoch = crate::tree::time::EXT_SUPERBLOCK
        .clamp(Timestamp::from_secs(o.epoch))
        .secs;
    let t = epoch as u32;
    let t_hi = (epoch >> 32) as u8;
    put32(&mut b, sb::WTIME, t);
    b[sb::WTIME_HI] = t_hi;
    put32(&mut b, sb::LASTCHECK, t);
    b[sb::LASTCHECK_HI] = t_hi;
    put32(&mut b, sb::MKFS_TIME, t);
    b[sb::MKFS_TIME_HI] = t_hi;
    put16(&mut b, sb::MAX_MNT_COUNT, 0xFFFF);
    put16(&mut b, sb::MAGIC, 0xEF53);
    put16(&mut b, sb::STATE, 1); // cleanly unmounted
    put16(&mut b, sb::ERRORS, 1); // continue
    put32(&mut b, sb::REV_LEVEL, 1); // dynamic inode sizes
    put32(&mut b, sb::FIRST_INO, FIRST_INO);
    put16(&mut b, sb::INODE_SIZE, g.inode_size);
    put16(&mut b, sb::BLOCK_GROUP_NR, group as u16);
    put32(&mut b, sb::FEATURE_COMPAT, f.compat);
    put32(&mut b, sb::FEATURE_INCOMPAT, f.incompat);
    put32(&mut b, sb::FEATURE_RO_COMPAT, f.ro_compat);
    b[sb::UUID..sb::UUID + 16].copy_from_slice(&o.uuid);
    let label = o.label.as_bytes();
    b[sb::VOLUME_NAME..sb::VOLUME_NAME + label.len()].copy_from_slice(label);
    if f.journal() {
        put32(&mut b, sb::JOURNAL_INUM, JOURNAL_INO);
        if let Some(jb) = jnl_blocks {
            for (i, w) in jb.iter().enumerate() {
                put32(&mut b, sb::JNL_BLOCKS + 4 * i, *w);
            }
            b[sb::JNL_BACKUP_TYPE] = 1; // EXT3_JNL_BACKUP_BLOCKS
        }
    }
    b[sb::HASH_SEED..sb::HASH_SEED + 16].copy_from_slice(&o.hash_seed);
    b[sb::DEF_HASH_VERSION] = 1; // half_md4
    put16(
        &mut b,
        sb::DESC_SIZE,
        if f.is_64bit() { g.desc_size } else { 0 },
    );
    put32(&mut b, sb::DEFAULT_MOUNT_OPTS, DEFAULT_MOUNT_OPTS);
    put32(&mut b, sb::BLOCKS_COUNT_HI, hi32(g.blocks));
    put32(&mut b, sb::R_BLOCKS_COUNT_HI, hi32(g.reserved_blocks));
    put32(&mut b, sb::FREE_BLOCKS_COUNT_HI, hi32(g.free_blocks));
    if f.has_ro(super::features::RO_EXTRA_ISIZE) {
        put16(&mut b, sb::MIN_EXTRA_ISIZE, 32);
        put16(&mut b, sb::WANT_EXTRA_ISIZE, 32);
    }
    put32(&mut b, sb::FLAGS, FLAGS_UNSIGNED_HASH);
    if f.flex_bg() {
        b[sb::LOG_GROUPS_PER_FLEX] = g.groups_per_flex.trailing_zeros() as u8;
    }
    if f.csum() {
        b[sb::CHECKSUM_TYPE] = 1; // crc32c
        let c = csum::superblock(&b);
        put32(&mut b, sb::CHECKSUM, c);
    }
    b
}

/// Per-group counters for a descriptor.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupCounts {
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
    pub itable_unused: u32,
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
}

/// `EXT4_BG_INODE_ZEROED`: the inode table needs no lazy zeroing (holes in
/// a fresh image read as zeros).
const BG_INODE_ZEROED: u16 = 0x4;

/// One group descriptor (`desc_size` bytes).
pub fn group_desc(
    plan: &ExtPlan,
    group: u32,
    m: &GroupMeta,
    c: &GroupCounts,
    fs_seed: u32,
) -> Vec<u8> {
    let size = plan.geo.desc_size as usize;
    let mut d = vec![0u8; size];
    put32(&mut d, 0x0, lo32(m.block_bitmap));
    put32(&mut d, 0x4, lo32(m.inode_bitmap));
    put32(&mut d, 0x8, lo32(m.inode_table));
    put16(&mut d, 0xC, c.free_blocks as u16);
    put16(&mut d, 0xE, c.free_inodes as u16);
    put16(&mut d, 0x10, c.used_dirs as u16);
    let csum = plan.features.csum();
    if csum {
        put16(&mut d, 0x12, BG_INODE_ZEROED);
        put16(&mut d, 0x18, c.block_bitmap_csum as u16);
        put16(&mut d, 0x1A, c.inode_bitmap_csum as u16);
        put16(&mut d, 0x1C, c.itable_unused as u16);
    }
    if size >= 64 {
        put32(&mut d, 0x20, hi32(m.block_bitmap));
        put32(&mut d, 0x24, hi32(m.inode_bitmap));
        put32(&mut d, 0x28, hi32(m.inode_table));
        put16(&mut d, 0x2C, (c.free_blocks >> 16) as u16);
        put16(&mut d, 0x2E, (c.free_inodes >> 16) as u16);
        put16(&mut d, 0x30, (c.used_dirs >> 16) as u16);
        if csum {
            put16(&mut d, 0x32, (c.itable_unused >> 16) as u16);
            put16(&mut d, 0x38, (c.block_bitmap_csum >> 16) as u16);
            put16(&mut d, 0x3A, (c.inode_bitmap_csum >> 16) as u16);
        }
    }
    if csum {
        let s = csum::group_desc(fs_seed, group, &d);
        put16(&mut d, 0x1E, s);
    }
    d
}

/// Inode fields (offsets within the on-disk inode).
pub mod ino {
    pub const MODE: usize = 0x0;
    pub const UID: usize = 0x2;
    pub const SIZE_LO: usize = 0x4;
    pub const ATIME: usize = 0x8;
    pub const CTIME: usize = 0xC;
    pub const MTIME: usize = 0x10;
    pub const GID: usize = 0x18;
    pub const LINKS: usize = 0x1A;
    pub const BLOCKS_LO: usize = 0x1C;
    pub const FLAGS: usize = 0x20;
    pub const BLOCK: usize = 0x28;
    pub const FILE_ACL_LO: usize = 0x68;
    pub const SIZE_HIGH: usize = 0x6C;
    pub const BLOCKS_HIGH: usize = 0x74;
    pub const FILE_ACL_HIGH: usize = 0x76;
    pub const UID_HIGH: usize = 0x78;
    pub const GID_HIGH: usize = 0x7A;
    pub const CHECKSUM_LO: usize = 0x7C;
    pub const EXTRA_ISIZE: usize = 0x80;
    pub const CHECKSUM_HI: usize = 0x82;
    pub const CTIME_EXTRA: usize = 0x84;
    pub const MTIME_EXTRA: usize = 0x88;
    pub const ATIME_EXTRA: usize = 0x8C;
    pub const CRTIME: usize = 0x90;
    pub const CRTIME_EXTRA: usize = 0x94;
}

pub const FL_INDEX: u32 = 0x1000;
pub const FL_EXTENTS: u32 = 0x80000;
