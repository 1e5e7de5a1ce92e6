//! Block group descriptors ("Block Group Descriptors" in the kernel's ext4
//! documentation): 32 bytes, or `s_desc_size` (64) with the 64bit feature,
//! in the blocks after the superblock. The reader needs only where each
//! group's inode table is.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::superblock::Superblock;
use crate::bytes::le_u32;
use crate::io::ReadAt;
use crate::read::{CorruptKind, ReadError};

/// Most group descriptor bytes the reader loads (a 16 TiB volume with
/// 4 KiB blocks has 131072 groups of 64 bytes: 8 MiB).
const MAX_TABLE_BYTES: u64 = 8 << 20;

/// The inode table block of every group, in group order.
pub fn inode_tables(dev: &dyn ReadAt, sb: &Superblock) -> Result<Vec<u64>, ReadError> {
    let bs = u64::from(sb.block_size);
    let ds = u64::from(sb.desc_size);
    let groups = u64::from(sb.groups());
    let bytes = groups.saturating_mul(ds);
    if bytes > MAX_TABLE_BYTES {
        return Err(CorruptKind::TooLarge {
            what: "group descriptor table",
            value: bytes,
            limit: MAX_TABLE_BYTES,
        }
        .into());
    }
    // `s_first_data_block + 1`: the block after the superblock's.
    let at = u64::from(sb.first_data_block)
        .saturating_add(1)
        .saturating_mul(bs);
    let mut table = vec![0u8; usize::try_from(bytes).unwrap_or(0)];
    dev.read_at(at, &mut table)?;
    let wide = ds >= 64;
    let mut out = Vec::with_capacity(table.len() / 32);
    for (g, d) in table
        .chunks_exact(usize::try_from(ds).unwrap_or(32))
        .enumerate()
    {
        // bg_inode_table_lo (0x8), bg_inode_table_hi (0x28).
        let lo = le_u32(d, 0x8).unwrap_or(0);
        let hi = if wide {
            le_u32(d, 0x28).unwrap_or(0)
        } else {
            0
        };
        let blk = u64::from(lo) | (u64::from(hi) << 32);
        // The table holds inodes_per_group * inode_size bytes.
        let table_blocks = u64::from(sb.inodes_per_group)
            .saturating_mul(u64::from(sb.inode_size))
            .div_ceil(bs);
        if blk == 0 || blk.saturating_add(table_blocks) > sb.blocks_count {
            return Err(CorruptKind::Field {
                what: "bg_inode_table",
                value: blk,
                at: at
                    .saturating_add((g as u64).saturating_mul(ds))
                    .saturating_add(8),
            }
            .into());
        }
        out.push(blk);
    }
    Ok(out)
}
