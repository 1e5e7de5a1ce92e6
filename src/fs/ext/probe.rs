//! Reads the identifying fields of an ext superblock. Never panics on
//! hostile bytes: every field is read with bounds checks.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::bytes::le_u32;
use crate::io::ReadAt;
use serde::Serialize;

/// What `fstool info` shows of an ext filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtInfo {
    /// `ext2`, `ext3` or `ext4`, from the features.
    pub fs_type: &'static str,
    pub label: String,
    pub uuid: String,
    pub block_size: u32,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u32,
    pub free_inodes: u32,
    pub bytes: u64,
}

/// Probes `dev` for an ext superblock at byte 1024.
pub fn probe(dev: &dyn ReadAt) -> Option<ExtInfo> {
    if dev.size() < 2048 {
        return None;
    }
    let mut sb = [0u8; 1024];
    dev.read_at(1024, &mut sb).ok()?;
    if sb.get(0x38..0x3A)? != [0x53, 0xEF] {
        return None;
    }
    let log = le_u32(&sb, 0x18)?;
    if log > 6 {
        return None;
    }
    let block_size = 1024u32 << log;
    let compat = le_u32(&sb, 0x5C)?;
    let incompat = le_u32(&sb, 0x60)?;
    let is64 = incompat & super::features::INCOMPAT_64BIT != 0;
    let wide = |lo: usize, hi: usize| -> Option<u64> {
        let h = if is64 { le_u32(&sb, hi)? as u64 } else { 0 };
        Some(le_u32(&sb, lo)? as u64 | (h << 32))
    };
    let blocks = wide(0x4, 0x150)?;
    let fs_type = super::features::flavour(compat, incompat, le_u32(&sb, 0x64)?);
    let label_raw = sb.get(0x78..0x88)?;
    let end = label_raw.iter().position(|&b| b == 0).unwrap_or(16);
    let uuid: [u8; 16] = sb.get(0x68..0x78)?.try_into().ok()?;
    Some(ExtInfo {
        fs_type,
        label: String::from_utf8_lossy(label_raw.get(..end).unwrap_or_default()).into_owned(),
        uuid: uuid::Uuid::from_bytes(uuid).to_string(),
        block_size,
        blocks,
        free_blocks: wide(0xC, 0x158)?,
        inodes: le_u32(&sb, 0x0)?,
        free_inodes: le_u32(&sb, 0x10)?,
        bytes: blocks.checked_mul(block_size as u64)?,
    })
}
