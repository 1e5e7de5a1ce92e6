//! Reads the identifying fields of an EROFS superblock for `fstool info`.
//! Never panics on hostile bytes: every field is read with bounds checks,
//! and the checksum is verified when the image says it has one.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::superblock::{self, Superblock};
use crate::io::ReadAt;
use serde::Serialize;

/// What `fstool info` shows of an EROFS filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErofsInfo {
    pub fs_type: &'static str,
    pub label: String,
    pub uuid: String,
    pub block_size: u32,
    pub blocks: u64,
    pub inodes: u64,
    pub root_nid: u16,
    pub build_time: i64,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    /// `Some(true)` when the superblock checksum matches, `None` when the
    /// image has none.
    pub checksum_ok: Option<bool>,
    pub bytes: u64,
}

/// Probes `dev` for an EROFS superblock at byte 1024.
pub fn probe(dev: &dyn ReadAt) -> Option<ErofsInfo> {
    let end = superblock::OFFSET + superblock::SIZE;
    if dev.size() < end as u64 {
        return None;
    }
    let mut head = vec![0u8; end];
    dev.read_at(0, &mut head).ok()?;
    let sb = Superblock::decode(head.get(superblock::OFFSET..)?)?;
    if !(9..=16).contains(&sb.blkszbits) {
        return None;
    }
    let block_size = 1u32 << sb.blkszbits;
    let checksum_ok = if sb.feature_compat & superblock::COMPAT_SB_CHKSUM != 0 {
        let bs = block_size as usize;
        if bs <= superblock::OFFSET || dev.size() < bs as u64 {
            Some(false)
        } else {
            let mut block0 = vec![0u8; bs];
            dev.read_at(0, &mut block0).ok()?;
            let want = sb.checksum;
            superblock::seal(&mut block0);
            Some(Superblock::decode(block0.get(superblock::OFFSET..)?)?.checksum == want)
        }
    } else {
        None
    };
    Some(ErofsInfo {
        fs_type: "erofs",
        label: sb.label(),
        uuid: uuid::Uuid::from_bytes(sb.uuid).to_string(),
        block_size,
        blocks: u64::from(sb.blocks),
        inodes: sb.inos,
        root_nid: sb.root_nid,
        build_time: sb.build_time,
        feature_compat: sb.feature_compat,
        feature_incompat: sb.feature_incompat,
        checksum_ok,
        bytes: u64::from(sb.blocks).saturating_mul(u64::from(block_size)),
    })
}
