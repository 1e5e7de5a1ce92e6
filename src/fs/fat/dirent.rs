//! FAT directory entries (Microsoft FAT specification, "FAT Directory
//! Structure" and "FAT Long Directory Entries"): the 32-byte short entry
//! and the long-name slots before it, decoded.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::names;
use crate::bytes::{array, le_u16, le_u32, u8_at};

/// The short entry of a node, decoded.
#[derive(Debug, Clone)]
pub(super) struct Short {
    /// DIR_Name (0..11).
    pub(super) name: [u8; 11],
    /// DIR_Attr (11).
    pub(super) attr: u8,
    /// DIR_NTRes (12): lower-case flags.
    pub(super) case: u8,
    /// DIR_CrtTimeTenth (13), DIR_CrtTime (14), DIR_CrtDate (16).
    pub(super) created: (u8, u16, u16),
    /// DIR_LstAccDate (18).
    pub(super) accessed: u16,
    /// DIR_FstClusHI (20) << 16 | DIR_FstClusLO (26); HI only on FAT32.
    pub(super) first_cluster: u32,
    /// DIR_WrtTime (22), DIR_WrtDate (24).
    pub(super) written: (u16, u16),
    /// DIR_FileSize (28).
    pub(super) size: u32,
}

impl Short {
    pub(super) fn decode(e: &[u8], fat32: bool) -> Option<Short> {
        let hi = if fat32 { le_u16(e, 20)? } else { 0 };
        Some(Short {
            name: array(e, 0)?,
            attr: u8_at(e, 11)?,
            case: u8_at(e, 12)?,
            created: (u8_at(e, 13)?, le_u16(e, 14)?, le_u16(e, 16)?),
            accessed: le_u16(e, 18)?,
            first_cluster: (u32::from(hi) << 16) | u32::from(le_u16(e, 26)?),
            written: (le_u16(e, 22)?, le_u16(e, 24)?),
            size: le_u32(e, 28)?,
        })
    }
    pub(super) fn is_dir(&self) -> bool {
        self.attr & 0x10 != 0
    }
}

/// FAT date and time (read as UTC, as fstool writes them) to Unix seconds.
/// Every term is bounded by the 7-bit year field, far from overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(super) fn unix_time(date: u16, time: u16) -> i64 {
    let y = 1980 + i64::from(date >> 9);
    let m = i64::from((date >> 5) & 0x0f).clamp(1, 12);
    let d = i64::from(date & 0x1f).max(1);
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = i64::from(time >> 11) * 3600
        + i64::from((time >> 5) & 0x3f) * 60
        + i64::from(time & 0x1f) * 2;
    days * 86_400 + secs
}

pub(super) fn short_name_text(raw: &[u8; 11], case: u8) -> String {
    let conv = |part: &[u8], lower: bool| -> String {
        part.iter()
            .enumerate()
            .map(|(i, &c)| {
                let c = if i == 0 && c == 0x05 { 0xe5 } else { c };
                let ch = char::from(c);
                if lower {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                }
            })
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    let (base, ext) = raw.split_at(8);
    let base = conv(base, case & names::CASE_LOWER_BASE != 0);
    let ext = conv(ext, case & names::CASE_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Long-name slots collected so far: checksum, slot count, UTF-16 units by
/// slot.
pub(super) type LongName = (u8, usize, Vec<Option<[u16; 13]>>);

/// Byte positions of the 13 UTF-16 units in a long-name slot.
const LFN_UNITS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// Adds one long-name slot `e` to the name being collected.
pub(super) fn long_slot(lfn: Option<LongName>, e: &[u8]) -> Option<LongName> {
    let first = u8_at(e, 0)?;
    let sum = u8_at(e, 13)?;
    let ord = usize::from(first & 0x3f);
    if ord == 0 || ord > 20 {
        return None;
    }
    let mut lfn = if first & 0x40 != 0 {
        Some((sum, ord, vec![None; ord]))
    } else {
        lfn
    };
    let (s, n, slots) = lfn.as_mut()?;
    if *s != sum || ord > *n {
        return None;
    }
    let mut units = [0u16; 13];
    for (u, &p) in units.iter_mut().zip(LFN_UNITS.iter()) {
        *u = le_u16(e, p)?;
    }
    *slots.get_mut(ord.checked_sub(1)?)? = Some(units);
    lfn
}

#[cfg(test)]
// Tests index fixed buffers they built themselves.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_utc() {
        // 2023-11-14 22:13:20 = 1_700_000_000.
        let date = (43 << 9) | (11 << 5) | 14;
        let time = (22 << 11) | (13 << 5) | 10;
        assert_eq!(unix_time(date, time), 1_700_000_000);
        assert_eq!(unix_time((1 << 5) | 1, 0), 315_532_800);
    }

    #[test]
    fn short_names_honour_case_flags() {
        assert_eq!(short_name_text(b"README  TXT", 0x18), "readme.txt");
        assert_eq!(short_name_text(b"NOEXT      ", 0), "NOEXT");
    }
}
