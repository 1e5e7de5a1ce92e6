//! Attribute records inside an MFT record (Linux-NTFS "Attribute - Header").
//!
//! Common header: type (0x00), record length (0x04), non-resident flag
//! (0x08), name length in units (0x09), name offset (0x0A), flags (0x0C),
//! instance (0x0E). A resident attribute then has the value length (0x10),
//! value offset (0x14) and the indexed flag (0x16); a non-resident one has
//! the lowest and highest VCN (0x10, 0x18), the mapping-pairs offset
//! (0x20), the compression unit (0x22), the allocated, data and initialised
//! sizes (0x28, 0x30, 0x38) and, when sparse or compressed, the compressed
//! size (0x40). Records are 8-byte aligned.

use super::runlist::{self, Run};

/// Attribute type codes (`$AttrDef`).
pub mod kind {
    pub const STANDARD_INFORMATION: u32 = 0x10;
    pub const ATTRIBUTE_LIST: u32 = 0x20;
    pub const FILE_NAME: u32 = 0x30;
    pub const OBJECT_ID: u32 = 0x40;
    pub const SECURITY_DESCRIPTOR: u32 = 0x50;
    pub const VOLUME_NAME: u32 = 0x60;
    pub const VOLUME_INFORMATION: u32 = 0x70;
    pub const DATA: u32 = 0x80;
    pub const INDEX_ROOT: u32 = 0x90;
    pub const INDEX_ALLOCATION: u32 = 0xa0;
    pub const BITMAP: u32 = 0xb0;
    pub const REPARSE_POINT: u32 = 0xc0;
    pub const EA_INFORMATION: u32 = 0xd0;
    pub const EA: u32 = 0xe0;
    pub const LOGGED_UTILITY_STREAM: u32 = 0x100;
    /// Ends the attribute list of an MFT record.
    pub const END: u32 = 0xffff_ffff;
}

/// Attribute flag: the stream has holes (`ATTR_IS_SPARSE`).
pub const FLAG_SPARSE: u16 = 0x8000;

pub fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// UTF-16LE bytes of an ASCII or Unicode name.
pub fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn put_name(out: &mut [u8], at: usize, name: &[u16]) {
    for (i, u) in name.iter().enumerate() {
        out[at + 2 * i..at + 2 * i + 2].copy_from_slice(&u.to_le_bytes());
    }
}

/// A resident attribute record. `indexed` marks a `$FILE_NAME` that a
/// directory index refers to.
pub fn resident(typ: u32, name: &[u16], value: &[u8], instance: u16, indexed: bool) -> Vec<u8> {
    let name_off = 0x18;
    let value_off = align8(name_off + 2 * name.len());
    let len = align8(value_off + value.len());
    let mut a = vec![0u8; len];
    a[0..4].copy_from_slice(&typ.to_le_bytes());
    a[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    a[8] = 0;
    a[9] = name.len() as u8;
    a[0x0a..0x0c].copy_from_slice(&(name_off as u16).to_le_bytes());
    a[0x0e..0x10].copy_from_slice(&instance.to_le_bytes());
    a[0x10..0x14].copy_from_slice(&(value.len() as u32).to_le_bytes());
    a[0x14..0x16].copy_from_slice(&(value_off as u16).to_le_bytes());
    a[0x16] = u8::from(indexed);
    put_name(&mut a, name_off, name);
    a[value_off..value_off + value.len()].copy_from_slice(value);
    a
}

/// Sizes of a non-resident stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSize {
    /// Clusters mapped by the runs, in bytes (holes included).
    pub allocated: u64,
    pub data: u64,
    pub initialized: u64,
    /// Bytes of clusters actually allocated; written only for sparse streams.
    pub compressed: Option<u64>,
}

/// Length of a non-resident attribute record with `name` and `runs`.
pub fn non_resident_len(name: &[u16], runs: &[Run], sparse: bool) -> usize {
    let name_off = if sparse { 0x48 } else { 0x40 };
    align8(align8(name_off + 2 * name.len()) + runlist::encode(runs).len())
}

/// A non-resident attribute record mapping `runs` from VCN 0.
pub fn non_resident(
    typ: u32,
    name: &[u16],
    runs: &[Run],
    size: StreamSize,
    instance: u16,
) -> Vec<u8> {
    non_resident_extent(typ, name, runs, size, 0, instance)
}

/// One extent of a non-resident attribute: `runs` mapped from
/// `lowest_vcn`. An attribute whose run list does not fit one record is
/// split into extents in several records (see [`super::attr_list`]); only
/// the first extent (VCN 0) carries the stream's sizes, the others leave
/// them zero. Every extent of a sparse stream has the sparse flag and the
/// longer header.
pub fn non_resident_extent(
    typ: u32,
    name: &[u16],
    runs: &[Run],
    size: StreamSize,
    lowest_vcn: u64,
    instance: u16,
) -> Vec<u8> {
    let sparse = size.compressed.is_some();
    let name_off = if sparse { 0x48 } else { 0x40 };
    let pairs_off = align8(name_off + 2 * name.len());
    let pairs = runlist::encode(runs);
    let len = align8(pairs_off + pairs.len());
    let clusters: u64 = runs.iter().map(|r| r.len).sum();
    let mut a = vec![0u8; len];
    a[0..4].copy_from_slice(&typ.to_le_bytes());
    a[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    a[8] = 1;
    a[9] = name.len() as u8;
    a[0x0a..0x0c].copy_from_slice(&(name_off as u16).to_le_bytes());
    let flags = if sparse { FLAG_SPARSE } else { 0 };
    a[0x0c..0x0e].copy_from_slice(&flags.to_le_bytes());
    a[0x0e..0x10].copy_from_slice(&instance.to_le_bytes());
    // highest_vcn = last mapped cluster (lowest - 1 when empty).
    let highest = (lowest_vcn + clusters).wrapping_sub(1);
    a[0x10..0x18].copy_from_slice(&lowest_vcn.to_le_bytes());
    a[0x18..0x20].copy_from_slice(&highest.to_le_bytes());
    a[0x20..0x22].copy_from_slice(&(pairs_off as u16).to_le_bytes());
    if lowest_vcn == 0 {
        a[0x28..0x30].copy_from_slice(&size.allocated.to_le_bytes());
        a[0x30..0x38].copy_from_slice(&size.data.to_le_bytes());
        a[0x38..0x40].copy_from_slice(&size.initialized.to_le_bytes());
        if let Some(c) = size.compressed {
            a[0x40..0x48].copy_from_slice(&c.to_le_bytes());
        }
    }
    put_name(&mut a, name_off, name);
    a[pairs_off..pairs_off + pairs.len()].copy_from_slice(&pairs);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_layout() {
        let a = resident(kind::DATA, &utf16("$Info"), &[1, 2, 3], 4, false);
        assert_eq!(a.len(), 0x30);
        assert_eq!(&a[0..4], &0x80u32.to_le_bytes());
        assert_eq!(a[9], 5);
        assert_eq!(&a[0x14..0x16], &0x28u16.to_le_bytes());
        assert_eq!(&a[0x28..0x2b], &[1, 2, 3]);
        assert_eq!(&a[0x18..0x1a], &[b'$', 0]);
    }

    #[test]
    fn non_resident_layout() {
        let runs = [Run {
            lcn: Some(0x10),
            len: 2,
        }];
        let size = StreamSize {
            allocated: 8192,
            data: 5000,
            initialized: 5000,
            compressed: None,
        };
        let a = non_resident(kind::DATA, &[], &runs, size, 1);
        assert_eq!(a.len(), non_resident_len(&[], &runs, false));
        assert_eq!(a[8], 1);
        assert_eq!(&a[0x18..0x20], &1u64.to_le_bytes());
        assert_eq!(&a[0x20..0x22], &0x40u16.to_le_bytes());
        assert_eq!(&a[0x40..0x44], &[0x11, 0x02, 0x10, 0x00]);
        let sparse = StreamSize {
            compressed: Some(0),
            ..size
        };
        let s = non_resident(kind::DATA, &[], &[Run { lcn: None, len: 2 }], sparse, 1);
        assert_eq!(&s[0x0c..0x0e], &FLAG_SPARSE.to_le_bytes());
        assert_eq!(&s[0x20..0x22], &0x48u16.to_le_bytes());
    }
}
