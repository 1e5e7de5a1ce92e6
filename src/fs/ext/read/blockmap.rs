//! Block maps of ext2/3 ("Direct/Indirect Block Addressing" in the
//! kernel's ext4 documentation): twelve direct pointers in `i_block`, then
//! one single-, one double- and one triple-indirect block of 32-bit
//! pointers. Zero pointers are holes.
//!
//! Bounded on hostile input: only the file's logical blocks are walked, no
//! indirect block is visited twice, and no more blocks are mapped than the
//! volume has.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::BTreeSet;

use super::extent::ReadBlock;
use super::Run;
use crate::bytes::le_u32;
use crate::read::{CorruptKind, ReadError};

/// The runs of a block-mapped file of `file_blocks` logical blocks.
pub fn runs(
    iblock: &[u8; 60],
    file_blocks: u64,
    block_size: u32,
    blocks: u64,
    read: &ReadBlock,
) -> Result<Vec<Run>, ReadError> {
    let mut m = Mapper {
        per: u64::from(block_size / 4),
        blocks,
        file_blocks,
        seen: BTreeSet::new(),
        out: Vec::new(),
        mapped: 0,
        read,
    };
    for i in 0..12u64 {
        let p = le_u32(iblock, usize::try_from(i.saturating_mul(4)).unwrap_or(0)).unwrap_or(0);
        m.data(i, p)?;
    }
    let mut base = 12u64;
    for (word, level) in [(12usize, 1u32), (13, 2), (14, 3)] {
        let p = le_u32(iblock, word.saturating_mul(4)).unwrap_or(0);
        m.indirect(p, level, base)?;
        base = base.saturating_add(m.per.saturating_pow(level));
    }
    Ok(m.out)
}

struct Mapper<'a> {
    /// Pointers per indirect block.
    per: u64,
    blocks: u64,
    file_blocks: u64,
    seen: BTreeSet<u64>,
    out: Vec<Run>,
    mapped: u64,
    read: &'a ReadBlock<'a>,
}

impl Mapper<'_> {
    fn check(&self, p: u64, what: &'static str) -> Result<(), ReadError> {
        if p >= self.blocks {
            return Err(CorruptKind::OutOfRange {
                what,
                value: p,
                limit: self.blocks,
            }
            .into());
        }
        Ok(())
    }

    /// Maps logical block `logical` to `p` (0 = hole), merging runs.
    fn data(&mut self, logical: u64, p: u32) -> Result<(), ReadError> {
        if p == 0 || logical >= self.file_blocks {
            return Ok(());
        }
        let p = u64::from(p);
        self.check(p, "data block")?;
        self.mapped = self.mapped.saturating_add(1);
        if self.mapped > self.blocks {
            return Err(CorruptKind::TooLarge {
                what: "block map",
                value: self.mapped,
                limit: self.blocks,
            }
            .into());
        }
        if let Some(last) = self.out.last_mut() {
            if last.logical.saturating_add(last.len) == logical
                && last.physical.map(|s| s.saturating_add(last.len)) == Some(p)
            {
                last.len = last.len.saturating_add(1);
                return Ok(());
            }
        }
        self.out.push(Run {
            logical,
            physical: Some(p),
            len: 1,
        });
        Ok(())
    }

    /// Walks an indirect block of `level` (1 = single) covering logical
    /// blocks from `base`. Iterative over the pointers, recursive over at
    /// most three levels.
    fn indirect(&mut self, p: u32, level: u32, base: u64) -> Result<(), ReadError> {
        if p == 0 || base >= self.file_blocks {
            return Ok(());
        }
        let p = u64::from(p);
        self.check(p, "indirect block")?;
        if !self.seen.insert(p) {
            return Err(CorruptKind::Loop {
                what: "block map",
                node: p,
            }
            .into());
        }
        let buf = (self.read)(p)?;
        let span = self.per.saturating_pow(level.saturating_sub(1));
        for i in 0..self.per {
            let child =
                le_u32(&buf, usize::try_from(i.saturating_mul(4)).unwrap_or(0)).unwrap_or(0);
            let at = base.saturating_add(i.saturating_mul(span));
            if at >= self.file_blocks {
                break;
            }
            if level == 1 {
                self.data(at, child)?;
            } else {
                self.indirect(child, level.saturating_sub(1), at)?;
            }
        }
        Ok(())
    }
}
