//! The file allocation table (Microsoft FAT specification, "FAT Entry
//! Values"). FAT12 entries are packed 1.5 bytes each; FAT16 and FAT32
//! entries are little-endian words.
//!
//! Every chain fstool writes is contiguous and chains are allocated back to
//! back from cluster 2, so the table is a function of the chain list. It is
//! encoded in bounded pieces, and the all-free tail is never touched (the
//! device is zero already).

use super::geometry::FatType;

/// End-of-chain marker for the type (the largest value, as Windows writes).
pub fn end_of_chain(t: FatType) -> u32 {
    match t {
        FatType::Fat12 => 0xfff,
        FatType::Fat16 => 0xffff,
        FatType::Fat32 => 0x0fff_ffff,
    }
}

/// Entries encoded per piece (even, so FAT12 pieces end on a byte).
const PIECE_ENTRIES: u32 = 1 << 18;

/// Encodes `values` (entries `start..start + values.len()`, `start` even)
/// into the bytes they occupy.
pub fn encode(t: FatType, values: &[u32]) -> Vec<u8> {
    match t {
        FatType::Fat12 => {
            let mut out = vec![0u8; (values.len() * 3).div_ceil(2)];
            for (n, pair) in values.chunks(2).enumerate() {
                let a = pair[0];
                let b = pair.get(1).copied().unwrap_or(0);
                let o = n * 3;
                out[o] = a as u8;
                if let Some(x) = out.get_mut(o + 1) {
                    *x = ((a >> 8) as u8 & 0x0f) | ((b as u8 & 0x0f) << 4);
                }
                if let Some(x) = out.get_mut(o + 2) {
                    *x = (b >> 4) as u8;
                }
            }
            out
        }
        FatType::Fat16 => values
            .iter()
            .flat_map(|&v| (v as u16).to_le_bytes())
            .collect(),
        FatType::Fat32 => values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
    }
}

/// Streams the FAT for `chains` (`(first, count)` pairs, back to back
/// from cluster 2, in order): calls `sink(byte_offset, bytes)` for each
/// piece, covering entries 0 up to the end of the last chain.
pub fn stream<E>(
    t: FatType,
    media: u8,
    chains: &[(u32, u32)],
    mut sink: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let eoc = end_of_chain(t);
    let end = chains.last().map_or(2, |&(f, c)| f + c);
    let mut chain = chains.iter().peekable();
    let mut start = 0u32;
    while start < end {
        let stop = end.min(start + PIECE_ENTRIES);
        let mut values = Vec::with_capacity((stop - start) as usize);
        for n in start..stop {
            let v = match n {
                // Entry 0: the media byte; entry 1: end-of-chain with the
                // "clean" and "no error" bits set.
                0 => (eoc & !0xff) | u32::from(media),
                1 => eoc,
                _ => {
                    while chain.peek().is_some_and(|&&(f, c)| n >= f + c) {
                        chain.next();
                    }
                    match chain.peek() {
                        Some(&&(f, c)) if n >= f => {
                            if n + 1 == f + c {
                                eoc
                            } else {
                                n + 1
                            }
                        }
                        _ => 0,
                    }
                }
            };
            values.push(v);
        }
        let offset = u64::from(start) * t.bits() / 8;
        sink(offset, &encode(t, &values))?;
        start = stop;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(t: FatType, media: u8, chains: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        stream::<()>(t, media, chains, |off, b| {
            assert_eq!(off as usize, out.len());
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn fat12_packs_nibbles() {
        // Entries: FF0, FFF, 003, FFF, FFF (a two-cluster and a
        // one-cluster chain).
        let out = whole(FatType::Fat12, 0xf0, &[(2, 2), (4, 1)]);
        assert_eq!(&out, &[0xf0, 0xff, 0xff, 0x03, 0xf0, 0xff, 0xff, 0x0f]);
        assert_eq!(encode(FatType::Fat12, &[0xabc, 0x123]), [0xbc, 0x3a, 0x12]);
    }

    #[test]
    fn fat32_media_and_chain() {
        let out = whole(FatType::Fat32, 0xf8, &[(2, 3)]);
        assert_eq!(&out[..4], &[0xf8, 0xff, 0xff, 0x0f]);
        assert_eq!(&out[8..12], &3u32.to_le_bytes());
        assert_eq!(&out[16..20], &0x0fff_ffffu32.to_le_bytes());
        assert_eq!(out.len(), 20);
    }

    #[test]
    fn pieces_join_seamlessly() {
        let chains = [(2, PIECE_ENTRIES + 5), (PIECE_ENTRIES + 7, 3)];
        for t in [FatType::Fat12, FatType::Fat16, FatType::Fat32] {
            let out = whole(t, 0xf8, &chains);
            let end = u64::from(PIECE_ENTRIES + 10);
            assert_eq!(out.len() as u64, (end * t.bits()).div_ceil(8));
            // Entry PIECE_ENTRIES + 1 sits across the piece boundary and
            // points to the next.
            let n = PIECE_ENTRIES as usize + 1;
            let v = match t {
                FatType::Fat12 => {
                    let o = n * 3 / 2;
                    let w = u16::from_le_bytes([out[o], out[o + 1]]);
                    u32::from(if n % 2 == 0 { w & 0xfff } else { w >> 4 })
                }
                FatType::Fat16 => u32::from(u16::from_le_bytes([out[2 * n], out[2 * n + 1]])),
                FatType::Fat32 => u32::from_le_bytes(out[4 * n..4 * n + 4].try_into().unwrap()),
            };
            assert_eq!(v & 0xfff, (n as u32 + 1) & 0xfff, "{t:?}");
        }
    }
}
