//! Extent trees ("The Extent Tree" in the kernel's ext4 documentation):
//! a 12-byte header (magic 0xF30A, entries, max, depth), then 12-byte
//! entries, index entries above leaves. The root lives in `i_block`.
//!
//! A hostile tree is bounded: depth at most 5 (the kernel's limit) and
//! strictly decreasing, no tree block visited twice, and no more mapped
//! blocks than the volume has.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::BTreeSet;

use super::Run;
use crate::bytes::{le_u16, le_u32};
use crate::read::{CorruptKind, ReadError};

const MAGIC: u16 = 0xF30A;
/// `EXT4_MAX_EXTENT_DEPTH`.
const MAX_DEPTH: u16 = 5;
/// An `ee_len` above this marks an uninitialized extent (reads as zeros)
/// of `ee_len - 32768` blocks.
const INIT_MAX: u16 = 32768;

/// Reads a tree block; given by the volume.
pub type ReadBlock<'a> = dyn Fn(u64) -> Result<Vec<u8>, ReadError> + 'a;

/// Every run the tree rooted in `root` maps, in tree order. `blocks` is
/// the volume's block count, which bounds block numbers and the total.
pub fn runs(root: &[u8], blocks: u64, read: &ReadBlock) -> Result<Vec<Run>, ReadError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    // Explicit stack of (node bytes, expected depth or None at the root).
    let mut stack: Vec<(Vec<u8>, Option<u16>)> = vec![(root.to_vec(), None)];
    while let Some((node, want_depth)) = stack.pop() {
        let bad = |what| ReadError::from(CorruptKind::Entry { what, at: 0 });
        if le_u16(&node, 0) != Some(MAGIC) {
            return Err(bad("extent header (bad magic)"));
        }
        let entries = usize::from(le_u16(&node, 2).unwrap_or(0));
        let depth = le_u16(&node, 6).unwrap_or(u16::MAX);
        if depth > MAX_DEPTH || want_depth.is_some_and(|d| d != depth) {
            return Err(CorruptKind::TooDeep {
                what: "extent tree",
                limit: u32::from(MAX_DEPTH),
            }
            .into());
        }
        let mut children = Vec::new();
        for i in 0..entries {
            let at = i.saturating_mul(12).saturating_add(12);
            let e = node
                .get(at..at.saturating_add(12))
                .ok_or_else(|| bad("extent entry (past its node)"))?;
            let logical = u64::from(le_u32(e, 0).unwrap_or(0));
            if depth == 0 {
                let raw_len = le_u16(e, 4).unwrap_or(0);
                let (len, init) = if raw_len > INIT_MAX {
                    (raw_len.saturating_sub(INIT_MAX), false)
                } else {
                    (raw_len, true)
                };
                let start = (u64::from(le_u16(e, 6).unwrap_or(0)) << 32)
                    | u64::from(le_u32(e, 8).unwrap_or(0));
                let len = u64::from(len);
                if start.saturating_add(len) > blocks {
                    return Err(CorruptKind::OutOfRange {
                        what: "extent block",
                        value: start,
                        limit: blocks,
                    }
                    .into());
                }
                total = total.saturating_add(len);
                if total > blocks {
                    return Err(CorruptKind::TooLarge {
                        what: "extent tree mapping",
                        value: total,
                        limit: blocks,
                    }
                    .into());
                }
                out.push(Run {
                    logical,
                    physical: if init { Some(start) } else { None },
                    len,
                });
            } else {
                let child = (u64::from(le_u16(e, 8).unwrap_or(0)) << 32)
                    | u64::from(le_u32(e, 4).unwrap_or(0));
                if child >= blocks {
                    return Err(CorruptKind::OutOfRange {
                        what: "extent index block",
                        value: child,
                        limit: blocks,
                    }
                    .into());
                }
                if !seen.insert(child) {
                    return Err(CorruptKind::Loop {
                        what: "extent tree",
                        node: child,
                    }
                    .into());
                }
                children.push(child);
            }
        }
        // Push in reverse so the leftmost child is visited first.
        for child in children.into_iter().rev() {
            stack.push((read(child)?, Some(depth.saturating_sub(1))));
        }
    }
    Ok(out)
}
