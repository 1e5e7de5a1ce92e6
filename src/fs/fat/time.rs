//! FAT date and time fields (Microsoft FAT specification, "Date and Time
//! Formats"). FAT stores local time with no zone; fstool always writes UTC,
//! so an image never depends on the builder's time zone.
//!
//! Rounding: the time field has 2-second resolution and is truncated (an odd
//! second is rounded down). The create-time "tenth" byte carries the dropped
//! second and the hundredths (0..=199, in units of 10 ms). FAT cannot
//! express anything outside 1980-01-01 00:00:00 to 2107-12-31 23:59:58:
//! the planner refuses such times (except the build's epoch, stored as
//! 1980-01-01) unless the spec says `time_range = "clamp"`, and this
//! encoder clamps them.

use crate::tree::Timestamp;

/// A timestamp in FAT's packed representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatTime {
    /// Bits 15-9 year since 1980, 8-5 month, 4-0 day.
    pub date: u16,
    /// Bits 15-11 hours, 10-5 minutes, 4-0 seconds / 2.
    pub time: u16,
    /// Units of 10 ms to add to `time` (0..=199), create time only.
    pub tenths: u8,
}

/// 1980-01-01T00:00:00Z.
const FAT_MIN_SECS: i64 = crate::tree::time::FAT.min.secs;
/// 2107-12-31T23:59:59Z.
const FAT_MAX_SECS: i64 = crate::tree::time::FAT.max.secs;

impl FatTime {
    /// Converts a UTC timestamp, clamping to FAT's range.
    pub fn from_timestamp(t: Timestamp) -> FatTime {
        let (secs, nanos) = if t.secs < FAT_MIN_SECS {
            (FAT_MIN_SECS, 0)
        } else if t.secs > FAT_MAX_SECS {
            (FAT_MAX_SECS, 999_999_999)
        } else {
            (t.secs, t.nanos.min(999_999_999))
        };
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = crate::tree::time::civil_from_days(days);
        // In range by the clamp above: 0 <= y - 1980 <= 127.
        let year = u16::try_from(y - 1980).unwrap_or(0);
        let date = (year << 9) | ((m as u16) << 5) | d as u16;
        let h = (sod / 3600) as u16;
        let mi = ((sod / 60) % 60) as u16;
        let s = (sod % 60) as u16;
        let time = (h << 11) | (mi << 5) | (s / 2);
        let tenths = ((s % 2) * 100) as u8 + (nanos / 10_000_000) as u8;
        FatTime { date, time, tenths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_clamps_to_1980() {
        let t = FatTime::from_timestamp(Timestamp::from_secs(0));
        assert_eq!(t.date, (1 << 5) | 1);
        assert_eq!(t.time, 0);
        assert_eq!(t.tenths, 0);
    }

    #[test]
    fn known_date_and_odd_second() {
        // 2021-03-04T05:06:07.25Z
        let t = FatTime::from_timestamp(Timestamp {
            secs: 1_614_834_367,
            nanos: 250_000_000,
        });
        assert_eq!(t.date, (41 << 9) | (3 << 5) | 4);
        assert_eq!(t.time, (5 << 11) | (6 << 5) | 3);
        assert_eq!(t.tenths, 125);
    }

    #[test]
    fn far_future_clamps() {
        let t = FatTime::from_timestamp(Timestamp::from_secs(i64::MAX));
        assert_eq!(t.date, (127 << 9) | (12 << 5) | 31);
        assert_eq!(t.time, (23 << 11) | (59 << 5) | 29);
    }
}
