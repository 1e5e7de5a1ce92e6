//! Places inode records (inode, xattrs, chunk map, inline tail) in the
//! metadata area. Records are 32-byte aligned (a nid counts 32-byte
//! slots). A record that carries inline data must not cross a block
//! boundary, since the kernel reads a tail from one block; when it does not
//! fit in what is left of the current block, the leftover becomes a hole
//! that later records may fill (best fit: the smallest hole that holds
//! them). The order of calls alone decides every offset.

use std::collections::BTreeSet;

/// Inode slots are this many bytes (`EROFS_ISLOTBITS`).
pub const SLOT: u64 = 32;

#[derive(Debug)]
pub struct Packer {
    block: u64,
    cursor: u64,
    /// (free bytes, start offset) of gaps left behind by padding.
    holes: BTreeSet<(u64, u64)>,
}

impl Packer {
    /// A packer whose first record goes at `start` (32-byte aligned).
    pub fn new(block: u64, start: u64) -> Packer {
        Packer {
            block,
            cursor: start.next_multiple_of(SLOT),
            holes: BTreeSet::new(),
        }
    }

    /// End of the area used so far.
    pub fn end(&self) -> u64 {
        self.cursor
    }

    /// Places a record of `size` bytes; `whole` asks for it to sit inside
    /// one block (the caller only asks when `size <= block`). Returns its
    /// offset.
    pub fn place(&mut self, size: u64, whole: bool) -> u64 {
        let slots = size.max(1).next_multiple_of(SLOT);
        if let Some(&(free, start)) = self.holes.range((slots, 0)..).next() {
            self.holes.remove(&(free, start));
            if free - slots >= SLOT {
                self.holes.insert((free - slots, start + slots));
            }
            return start;
        }
        let room = self.block - self.cursor % self.block;
        if whole && slots > room && size > room {
            if room >= SLOT {
                self.holes.insert((room, self.cursor));
            }
            self.cursor += room;
        }
        let at = self.cursor;
        self.cursor += slots;
        at
    }

    /// Places `size` bytes that may cross blocks and need only 4-byte
    /// alignment (the shared-xattr table), at the cursor.
    pub fn place_blob(&mut self, size: u64) -> u64 {
        let at = self.cursor;
        self.cursor = (self.cursor + size).next_multiple_of(SLOT);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_records_never_cross_and_holes_get_reused() {
        let mut p = Packer::new(4096, 1152);
        assert_eq!(p.place(100, true), 1152);
        let a = p.place(3000, true); // does not fit in 4096-1280: next block
        assert_eq!(a, 4096);
        assert_eq!(p.end(), 4096 + 3008);
        // A small record fills the hole in block 0.
        assert_eq!(p.place(40, true), 1280);
        assert_eq!(p.place(32, false), 1344);
        // Records allowed to cross go at the cursor when no hole fits.
        let big = p.place(5000, false);
        assert_eq!(big, 4096 + 3008);
    }
}
