//! MFT records (`FILE` records, Linux-NTFS "File Record").
//!
//! Header: magic `FILE` (0x00), update sequence offset and count (0x04,
//! 0x06), `$LogFile` sequence number (0x08), sequence number (0x10), hard
//! link count (0x12), first attribute offset (0x14), flags (0x16), bytes in
//! use (0x18), bytes allocated (0x1C), base record (0x20), next attribute
//! instance (0x28), this record's number (0x2C); the update sequence array
//! follows at 0x30. Attributes are sorted by type, then name, and end with
//! the type `0xFFFFFFFF`.

use super::attr::{align8, kind};
use super::fixup;

/// Record flag: the record is in use.
pub const IN_USE: u16 = 0x01;
/// Record flag: the record has a `$I30` file-name index (a directory).
pub const DIRECTORY: u16 = 0x02;
/// Record flag: the record has a view index other than `$I30`.
pub const VIEW_INDEX: u16 = 0x08;

/// Offset of the update sequence array in a record.
const USA_OFS: usize = 0x30;

/// The update sequence number written into every record and index block.
/// Any value but 0 and 0xFFFF will do; a constant keeps images
/// reproducible.
pub const USN: u16 = 1;

/// Offset of the first attribute: after the array (1 + one word per 512
/// bytes), 8-aligned.
pub fn attrs_offset(record_size: usize) -> usize {
    align8(USA_OFS + 2 * (record_size / fixup::STRIDE + 1))
}

/// An MFT reference: record number in the low 48 bits, sequence number in
/// the high 16.
pub fn mref(record: u64, seq: u16) -> u64 {
    record | (u64::from(seq) << 48)
}

/// One record's header fields.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub number: u32,
    pub seq: u16,
    pub links: u16,
    pub flags: u16,
    /// The base record's reference, in an extension record (0 in a base
    /// record).
    pub base: u64,
}

/// Room left for attributes in a record of `record_size` bytes (the end
/// marker takes 8).
pub fn attr_space(record_size: usize) -> usize {
    record_size - attrs_offset(record_size) - 8
}

/// Assembles a record from encoded attributes (already sorted, with their
/// instance numbers 0, 1, ... in order) and applies the fixups. `None` when
/// they do not fit.
pub fn build(record_size: usize, h: Header, attrs: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut r = vec![0u8; record_size];
    r[0..4].copy_from_slice(b"FILE");
    r[0x10..0x12].copy_from_slice(&h.seq.to_le_bytes());
    r[0x12..0x14].copy_from_slice(&h.links.to_le_bytes());
    let first = attrs_offset(record_size);
    r[0x14..0x16].copy_from_slice(&(first as u16).to_le_bytes());
    r[0x16..0x18].copy_from_slice(&h.flags.to_le_bytes());
    r[0x20..0x28].copy_from_slice(&h.base.to_le_bytes());
    let mut at = first;
    for a in attrs {
        let end = at.checked_add(a.len())?;
        if end + 8 > record_size {
            return None;
        }
        r[at..end].copy_from_slice(a);
        at = end;
    }
    r[at..at + 4].copy_from_slice(&kind::END.to_le_bytes());
    let in_use = at + 8;
    r[0x18..0x1c].copy_from_slice(&(in_use as u32).to_le_bytes());
    r[0x1c..0x20].copy_from_slice(&(record_size as u32).to_le_bytes());
    r[0x28..0x2a].copy_from_slice(&(attrs.len() as u16).to_le_bytes());
    r[0x2c..0x30].copy_from_slice(&h.number.to_le_bytes());
    fixup::protect(&mut r, USA_OFS, USN).ok()?;
    Some(r)
}

/// A formatted record that is not in use (free MFT slots).
pub fn empty(record_size: usize, number: u32) -> Vec<u8> {
    let h = Header {
        number,
        seq: 0,
        links: 0,
        flags: 0,
        base: 0,
    };
    // An empty attribute list always fits.
    build(record_size, h, &[]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        assert_eq!(attrs_offset(1024), 0x38);
        assert_eq!(attrs_offset(4096), 0x48);
        let attr = super::super::attr::resident(kind::DATA, &[], &[7; 5], 0, false);
        let mut r = build(
            1024,
            Header {
                number: 42,
                seq: 3,
                links: 1,
                flags: IN_USE,
                base: 0,
            },
            &[attr],
        )
        .unwrap();
        fixup::unprotect(&mut r).unwrap();
        assert_eq!(&r[0..4], b"FILE");
        assert_eq!(&r[0x10..0x12], &3u16.to_le_bytes());
        assert_eq!(&r[0x14..0x16], &0x38u16.to_le_bytes());
        assert_eq!(&r[0x18..0x1c], &(0x38u32 + 0x20 + 8).to_le_bytes());
        assert_eq!(&r[0x2c..0x30], &42u32.to_le_bytes());
        assert_eq!(&r[0x58..0x5c], &kind::END.to_le_bytes());
        assert_eq!(mref(5, 5), 0x0005_0000_0000_0005);
    }

    #[test]
    fn overflow_is_none() {
        let big = super::super::attr::resident(kind::DATA, &[], &[0; 1000], 0, false);
        assert!(build(
            1024,
            Header {
                number: 0,
                seq: 1,
                links: 1,
                flags: IN_USE,
                base: 0,
            },
            &[big]
        )
        .is_none());
    }
}
