//! Recognizes an NTFS volume and reports its identity for `fstool info`:
//! the boot sector's geometry and serial, and the label from `$Volume`
//! (MFT record 3). Never panics on hostile bytes: every field is checked,
//! every read bounded.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use serde::Serialize;

use super::attr::kind;
use super::fixup;
use crate::io::ReadAt;

/// What `fstool info` shows about an NTFS volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NtfsInfo {
    /// 16 hex digits.
    pub serial: String,
    pub label: Option<String>,
    pub bytes_per_sector: u32,
    pub cluster_bytes: u32,
    pub mft_record_bytes: u32,
    pub total_bytes: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Decodes the clusters-per-record field (0x40): positive = clusters,
/// negative = `2^-n` bytes.
fn record_bytes(field: u8, cluster: u32) -> Option<u32> {
    let v = field as i8;
    if v > 0 {
        cluster.checked_mul(u32::from(v.unsigned_abs()))
    } else {
        let shift = u32::from(v.unsigned_abs());
        (9..=16).contains(&shift).then(|| 1u32 << shift)
    }
}

/// The `$VOLUME_NAME` of a fixed-up `$Volume` record, if any.
fn label_of(rec: &[u8]) -> Option<String> {
    let mut at = usize::from(u16_at(rec, 0x14)?);
    for _ in 0..64 {
        let typ = u32_at(rec, at)?;
        if typ == kind::END {
            return None;
        }
        let len = usize::try_from(u32_at(rec, at.checked_add(4)?)?).ok()?;
        if len < 0x18 {
            return None;
        }
        if typ == kind::VOLUME_NAME && *rec.get(at.checked_add(8)?)? == 0 {
            let vlen = usize::try_from(u32_at(rec, at.checked_add(0x10)?)?).ok()?;
            let voff = usize::from(u16_at(rec, at.checked_add(0x14)?)?);
            let start = at.checked_add(voff)?;
            let v = rec.get(start..start.checked_add(vlen)?)?;
            let units: Vec<u16> = v
                .chunks_exact(2)
                .filter_map(|c| c.try_into().ok().map(u16::from_le_bytes))
                .collect();
            let s = String::from_utf16_lossy(&units);
            return (!s.is_empty()).then_some(s);
        }
        at = at.checked_add(len)?;
    }
    None
}

/// Recognizes NTFS at the start of `dev`.
pub fn probe(dev: &dyn ReadAt) -> Option<NtfsInfo> {
    let mut bs = [0u8; 512];
    dev.read_at(0, &mut bs).ok()?;
    if bs.get(3..11)? != b"NTFS    " || u16_at(&bs, 0x1fe)? != 0xaa55 {
        return None;
    }
    let bps = u32::from(u16_at(&bs, 0x0b)?);
    if !bps.is_power_of_two() || !(256..=4096).contains(&bps) {
        return None;
    }
    let spc_field = *bs.get(0x0d)?;
    let spc = if spc_field <= 0x80 {
        u32::from(spc_field)
    } else {
        1u32.checked_shl(u32::from(spc_field.wrapping_neg()))?
    };
    if spc == 0 || !spc.is_power_of_two() {
        return None;
    }
    let cluster = bps.checked_mul(spc)?;
    let record = record_bytes(*bs.get(0x40)?, cluster)?;
    let sectors = u64_at(&bs, 0x28)?;
    let total_bytes = sectors.checked_add(1)?.checked_mul(u64::from(bps))?;
    let serial = u64_at(&bs, 0x48)?;
    // $Volume is record 3 of the MFT.
    let mft = u64_at(&bs, 0x30)?.checked_mul(u64::from(cluster))?;
    let label = (|| {
        let mut rec = vec![0u8; usize::try_from(record).ok()?];
        let off = mft.checked_add(3u64.checked_mul(u64::from(record))?)?;
        dev.read_at(off, &mut rec).ok()?;
        if rec.get(0..4)? != b"FILE" {
            return None;
        }
        fixup::unprotect(&mut rec).ok()?;
        label_of(&rec)
    })();
    Some(NtfsInfo {
        serial: format!("{serial:016X}"),
        label,
        bytes_per_sector: bps,
        cluster_bytes: cluster,
        mft_record_bytes: record,
        total_bytes,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::io::MemDevice;

    #[test]
    fn garbage_is_not_ntfs() {
        let mut dev = MemDevice::new(4096);
        assert!(probe(&dev).is_none());
        dev.data[3..11].copy_from_slice(b"NTFS    ");
        dev.data[0x1fe] = 0x55;
        dev.data[0x1ff] = 0xaa;
        // Bytes per sector 0: rejected.
        assert!(probe(&dev).is_none());
        dev.data[0x0b..0x0d].copy_from_slice(&512u16.to_le_bytes());
        dev.data[0x0d] = 8;
        dev.data[0x40] = 0xf6;
        dev.data[0x30] = 0xff; // MFT far past the end: no label, no panic
        let info = probe(&dev).unwrap();
        assert_eq!(info.cluster_bytes, 4096);
        assert_eq!(info.mft_record_bytes, 1024);
        assert_eq!(info.label, None);
    }
}
