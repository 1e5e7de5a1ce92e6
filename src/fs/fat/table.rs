//! The file allocation table, built in memory and encoded once
//! (Microsoft FAT specification, "FAT Entry Values"). FAT12 entries are
//! packed 1.5 bytes each; FAT16 and FAT32 entries are little-endian words.

use super::geometry::FatType;

/// End-of-chain marker for the type (the largest value, as Windows writes).
pub fn end_of_chain(t: FatType) -> u32 {
    match t {
        FatType::Fat12 => 0xfff,
        FatType::Fat16 => 0xffff,
        FatType::Fat32 => 0x0fff_ffff,
    }
}

/// One FAT's entries, indexed by cluster number.
pub struct Table {
    pub fat_type: FatType,
    pub entries: Vec<u32>,
}

impl Table {
    /// A table for `clusters` data clusters, with the two reserved entries
    /// set: entry 0 holds the media byte, entry 1 end-of-chain with the
    /// "clean" and "no error" bits set.
    pub fn new(fat_type: FatType, clusters: u32, media: u8) -> Table {
        let mut entries = vec![0u32; clusters as usize + 2];
        let eoc = end_of_chain(fat_type);
        entries[0] = (eoc & !0xff) | u32::from(media);
        entries[1] = eoc;
        Table { fat_type, entries }
    }

    /// Chains `count` clusters starting at `first`, contiguously.
    pub fn chain(&mut self, first: u32, count: u32) {
        let eoc = end_of_chain(self.fat_type);
        for c in first..first + count {
            self.entries[c as usize] = if c + 1 == first + count { eoc } else { c + 1 };
        }
    }

    /// Encodes the table into `out` (a whole FAT; bytes past the last
    /// entry stay zero).
    pub fn encode(&self, out: &mut [u8]) {
        match self.fat_type {
            FatType::Fat12 => {
                for (n, &v) in self.entries.iter().enumerate() {
                    let o = n * 3 / 2;
                    if n % 2 == 0 {
                        out[o] = v as u8;
                        out[o + 1] = (out[o + 1] & 0xf0) | ((v >> 8) as u8 & 0x0f);
                    } else {
                        out[o] = (out[o] & 0x0f) | ((v as u8 & 0x0f) << 4);
                        out[o + 1] = (v >> 4) as u8;
                    }
                }
            }
            FatType::Fat16 => {
                for (n, &v) in self.entries.iter().enumerate() {
                    out[n * 2..n * 2 + 2].copy_from_slice(&(v as u16).to_le_bytes());
                }
            }
            FatType::Fat32 => {
                for (n, &v) in self.entries.iter().enumerate() {
                    out[n * 4..n * 4 + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat12_packs_nibbles() {
        let mut t = Table::new(FatType::Fat12, 4, 0xf0);
        t.chain(2, 2);
        t.entries[4] = 0xabc;
        let mut out = [0u8; 9];
        t.encode(&mut out);
        // Entries 0..4: FF0, FFF, 003, FFF, ABC.
        assert_eq!(
            &out,
            &[0xf0, 0xff, 0xff, 0x03, 0xf0, 0xff, 0xbc, 0x0a, 0x00]
        );
    }

    #[test]
    fn fat32_media_and_chain() {
        let mut t = Table::new(FatType::Fat32, 3, 0xf8);
        t.chain(2, 3);
        let mut out = [0u8; 20];
        t.encode(&mut out);
        assert_eq!(&out[..4], &[0xf8, 0xff, 0xff, 0x0f]);
        assert_eq!(&out[8..12], &3u32.to_le_bytes());
        assert_eq!(&out[16..20], &0x0fff_ffffu32.to_le_bytes());
    }
}
