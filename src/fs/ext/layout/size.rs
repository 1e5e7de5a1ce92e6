//! Sizing: the smallest block count that holds the tree, the journal
//! size, and the geometry a block count gets.

use super::{try_layout, Geometry, LayoutFail, Need};
use crate::fs::ext::features::Features;
use crate::fs::ext::{ExtError, ExtOptions};

/// The smallest block count that lays the tree out (with reserved blocks
/// free), found by fixed-point iteration on the layout: each round adds what
/// the previous geometry lacked. Layout cost grows monotonically with size,
/// so this climbs to the least fixed point from below. `inodes_at` gives the
/// inode count at a size, so a ratio policy is sized the way it is built.
pub(super) fn min_blocks(
    opts: &ExtOptions,
    features: &Features,
    needs: &[Need],
    inodes_at: &dyn Fn(u64) -> u64,
    data_total: u64,
) -> Result<u64, ExtError> {
    let bs = opts.block_size as u64;
    let journal = journal_blocks_for(opts, data_total);
    let mut blocks = (data_total + journal as u64 + 64).max(64);
    blocks += inodes_at(blocks) * opts.inode_size as u64 / bs;
    for _ in 0..10_000 {
        match try_layout(opts, features, blocks, inodes_at(blocks), needs) {
            Ok(_) => return Ok(blocks),
            Err(LayoutFail::Needs(n)) if n > blocks => blocks = n,
            Err(_) => blocks += (blocks / 256).max(8),
        }
    }
    Err(ExtError::Option {
        key: "size",
        message: "could not compute an automatic size".into(),
    })
}

/// mke2fs's default journal size for a filesystem of `blocks` blocks.
pub(super) fn default_journal_blocks(blocks: u64) -> u32 {
    match blocks {
        b if b < 2048 => 0,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    }
}

pub(super) fn journal_blocks_for(opts: &ExtOptions, blocks: u64) -> u32 {
    if !opts.features.journal() {
        return 0;
    }
    match opts.journal_size {
        Some(b) => (b / opts.block_size as u64).max(1024) as u32,
        None => default_journal_blocks(blocks).max(1024),
    }
}

pub(super) fn geometry(
    opts: &ExtOptions,
    features: &Features,
    blocks: u64,
    inodes: u64,
) -> Result<Geometry, LayoutFail> {
    let bs = opts.block_size;
    let first_data_block = if bs == 1024 { 1 } else { 0 };
    let bpg = blocks_per_group(bs);
    if blocks <= first_data_block + 16 {
        return Err(LayoutFail::Needs(64));
    }
    let groups = (blocks - first_data_block).div_ceil(bpg as u64);
    let groups = u32::try_from(groups).map_err(|_| LayoutFail::Geometry)?;
    let ipb = bs / opts.inode_size as u32;
    let unit = ipb.max(8);
    let ipg = inodes.div_ceil(groups as u64).div_ceil(unit as u64) * unit as u64;
    let max_ipg = (8 * bs).min(65536 - unit) as u64;
    if ipg > max_ipg {
        // More groups are needed to hold this many inodes.
        let groups_needed = inodes.div_ceil(max_ipg);
        return Err(LayoutFail::Needs(
            first_data_block + (groups_needed - 1) * bpg as u64 + bpg as u64 / 2,
        ));
    }
    let ipg = ipg as u32;
    let desc_size: u16 = if features.is_64bit() { 64 } else { 32 };
    let gdt_blocks = (groups as u64 * desc_size as u64).div_ceil(bs as u64) as u32;
    if !features.is_64bit() && blocks > u32::MAX as u64 {
        return Err(LayoutFail::Geometry);
    }
    let journal_blocks = journal_blocks_for(opts, blocks);
    let reserved = (blocks as f64 * opts.reserved_percent / 100.0).floor() as u64;
    Ok(Geometry {
        block_size: bs,
        blocks,
        first_data_block,
        blocks_per_group: bpg,
        groups,
        inodes: ipg as u64 * groups as u64,
        inodes_per_group: ipg,
        inode_size: opts.inode_size,
        inode_table_blocks: ipg * opts.inode_size as u32 / bs,
        desc_size,
        gdt_blocks,
        groups_per_flex: if features.flex_bg() { 16 } else { 1 },
        reserved_blocks: reserved,
        journal_blocks,
        free_blocks: 0,
        free_inodes: 0,
        features: features.names(),
    })
}

/// Blocks per group: one bitmap block's worth of bits, capped at 65,528
/// (2^16 - 8, e2fsprogs' EXT2_MAX_BLOCKS_PER_GROUP, which e2fsck enforces)
/// for block sizes of 8 KiB and more, as mke2fs does.
pub(super) fn blocks_per_group(block_size: u32) -> u32 {
    (8 * block_size).min(65_528)
}
