//! `$ATTRIBUTE_LIST` (type 0x20): where each attribute of a file lives
//! when they do not fit one MFT record (Linux-NTFS "Attribute -
//! $ATTRIBUTE_LIST").
//!
//! One entry per attribute record, in every record of the file (the base
//! record's own attributes included, the list itself excluded), sorted by
//! type, then name, then lowest VCN. Entry: type (0x00), entry length
//! (0x04), name length in units (0x06), name offset (0x07, always 0x1A),
//! lowest VCN (0x08), MFT reference of the record holding it (0x10),
//! attribute instance in that record (0x18), name (0x1A); 8-byte aligned.
//! The records other than the base are extension records: their header's
//! base reference (0x20) points at the base record.

use super::attr::align8;

/// One entry of an attribute list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub typ: u32,
    pub name: Vec<u16>,
    pub lowest_vcn: u64,
    pub mref: u64,
    pub instance: u16,
}

const NAME_OFF: usize = 0x1a;

impl Entry {
    pub fn encoded_len(&self) -> usize {
        align8(NAME_OFF + 2 * self.name.len())
    }
}

/// Encodes entries (already in list order).
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(Entry::encoded_len).sum());
    for e in entries {
        let mut b = vec![0u8; e.encoded_len()];
        b[0..4].copy_from_slice(&e.typ.to_le_bytes());
        b[4..6].copy_from_slice(&(e.encoded_len() as u16).to_le_bytes());
        b[6] = e.name.len() as u8;
        b[7] = NAME_OFF as u8;
        b[8..0x10].copy_from_slice(&e.lowest_vcn.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&e.mref.to_le_bytes());
        b[0x18..0x1a].copy_from_slice(&e.instance.to_le_bytes());
        for (i, u) in e.name.iter().enumerate() {
            b[NAME_OFF + 2 * i..NAME_OFF + 2 * i + 2].copy_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&b);
    }
    out
}

/// Decodes a list value; `None` when an entry runs past the end or has a
/// length too short for its name.
pub fn decode(v: &[u8]) -> Option<Vec<Entry>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < v.len() {
        let b = v.get(at..)?;
        let len = usize::from(u16::from_le_bytes([*b.get(4)?, *b.get(5)?]));
        let nlen = usize::from(*b.get(6)?);
        let noff = usize::from(*b.get(7)?);
        if len < NAME_OFF || len > b.len() || noff.checked_add(2 * nlen)? > len {
            return None;
        }
        let u64_at = |o: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
        };
        out.push(Entry {
            typ: u32::from_le_bytes(b.get(0..4)?.try_into().ok()?),
            lowest_vcn: u64_at(8)?,
            mref: u64_at(0x10)?,
            instance: u16::from_le_bytes([b[0x18], b[0x19]]),
            name: b[noff..noff + 2 * nlen]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        });
        at += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_their_layout() {
        let es = vec![
            Entry {
                typ: 0x10,
                name: Vec::new(),
                lowest_vcn: 0,
                mref: 0x0001_0000_0000_001b,
                instance: 0,
            },
            Entry {
                typ: 0xa0,
                name: "$I30".encode_utf16().collect(),
                lowest_vcn: 7,
                mref: 0x0001_0000_0000_001c,
                instance: 3,
            },
        ];
        let b = encode(&es);
        assert_eq!(b.len(), 0x20 + 0x28);
        assert_eq!(&b[4..6], &0x20u16.to_le_bytes());
        assert_eq!(b[0x20 + 6], 4);
        assert_eq!(b[0x20 + 7], 0x1a);
        assert_eq!(&b[0x20 + 8..0x20 + 0x10], &7u64.to_le_bytes());
        assert_eq!(&b[0x20 + 0x1a..0x20 + 0x1c], &u16::from(b'$').to_le_bytes());
        assert_eq!(decode(&b).unwrap(), es);
        assert!(decode(&b[..0x30]).is_none());
    }
}
