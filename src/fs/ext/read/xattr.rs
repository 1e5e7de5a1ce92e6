//! Extended attributes ("Extended Attributes" in the kernel's ext4
//! documentation), in the inode's extra space after a 4-byte magic, or in
//! one external block with a 32-byte header. Entries are 16 bytes plus
//! the name, padded to 4, ending at a zero word; values lie at
//! `e_value_offs` from the first entry (in-inode) or the block start.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::bytes::{le_u16, le_u32, u8_at};
use crate::read::{CorruptKind, ReadError};

const MAGIC: u32 = 0xEA02_0000;

/// The name prefix of each `e_name_index`.
fn prefix(index: u8) -> Option<&'static str> {
    Some(match index {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        6 => "security.",
        7 => "system.",
        8 => "system.richacl",
        _ => return None,
    })
}

/// Entries of an in-inode xattr area (the bytes after `128 +
/// i_extra_isize`). An area without the magic holds none.
pub fn in_inode(area: &[u8], out: &mut Vec<(String, Vec<u8>)>) -> Result<(), ReadError> {
    if le_u32(area, 0) != Some(MAGIC) {
        return Ok(());
    }
    let entries = area.get(4..).unwrap_or_default();
    parse(entries, 0, entries, out)
}

/// Entries of an external xattr block at volume offset `at`.
pub fn block(b: &[u8], at: u64, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), ReadError> {
    if le_u32(b, 0) != Some(MAGIC) {
        return Err(CorruptKind::Magic {
            what: "xattr block",
            at,
        }
        .into());
    }
    parse(b, 32, b, out)
}

/// Parses entries of `region` from `start`; values are at offsets into
/// `values`.
fn parse(
    region: &[u8],
    start: usize,
    values: &[u8],
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), ReadError> {
    let mut pos = start;
    // Every entry takes at least 16 bytes, so this bounds the loop too.
    while pos.saturating_add(4) <= region.len() {
        let bad = |what| {
            ReadError::from(CorruptKind::Entry {
                what,
                at: pos as u64,
            })
        };
        if le_u32(region, pos) == Some(0) {
            return Ok(());
        }
        let name_len = usize::from(u8_at(region, pos).ok_or_else(|| bad("xattr entry"))?);
        let index = u8_at(region, pos.saturating_add(1)).ok_or_else(|| bad("xattr entry"))?;
        let value_offs =
            usize::from(le_u16(region, pos.saturating_add(2)).ok_or_else(|| bad("xattr entry"))?);
        let value_inum = le_u32(region, pos.saturating_add(4)).ok_or_else(|| bad("xattr entry"))?;
        let value_size = le_u32(region, pos.saturating_add(8)).ok_or_else(|| bad("xattr entry"))?;
        let name_at = pos.saturating_add(16);
        let suffix = region
            .get(name_at..name_at.saturating_add(name_len))
            .ok_or_else(|| bad("xattr name"))?;
        if value_inum != 0 {
            return Err(ReadError::incompatible(
                "xattr values stored in their own inodes (ea_inode)",
            ));
        }
        let value = values
            .get(
                value_offs
                    ..value_offs.saturating_add(usize::try_from(value_size).unwrap_or(usize::MAX)),
            )
            .ok_or_else(|| bad("xattr value"))?;
        if let Some(p) = prefix(index) {
            let mut name = String::from(p);
            name.push_str(&String::from_utf8_lossy(suffix));
            // ACLs leave in the format getxattr gives, as trees carry them.
            let value = if matches!(index, 2 | 3) {
                crate::fs::ext::acl::from_disk(value).map_err(|_| bad("POSIX ACL value"))?
            } else {
                value.to_vec()
            };
            out.push((name, value));
        }
        pos = name_at.saturating_add(name_len).saturating_add(3) & !3;
    }
    Ok(())
}
