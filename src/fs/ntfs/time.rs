//! NT times: 100-nanosecond intervals since 1601-01-01 UTC (FILETIME), the
//! unit of every time field in `$STANDARD_INFORMATION` and `$FILE_NAME`.

use crate::tree::Timestamp;

/// Seconds from 1601-01-01 to 1970-01-01.
const EPOCH_DIFF: i64 = 11_644_473_600;

/// The FILETIME of `t`; times before 1601 clamp to 0, times past the
/// 64-bit range clamp to its end.
pub fn filetime(t: Timestamp) -> u64 {
    let secs = i128::from(t.secs) + i128::from(EPOCH_DIFF);
    let ticks = secs * 10_000_000 + i128::from(t.nanos / 100);
    u64::try_from(ticks.max(0)).unwrap_or(u64::MAX)
}

/// The inverse of [`filetime`], for readers.
pub fn from_filetime(ft: u64) -> Timestamp {
    let secs = (ft / 10_000_000) as i64 - EPOCH_DIFF;
    Timestamp {
        secs,
        nanos: (ft % 10_000_000) as u32 * 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_and_round_trip() {
        assert_eq!(filetime(Timestamp::from_secs(0)), 116_444_736_000_000_000);
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 123_456_700,
        };
        assert_eq!(from_filetime(filetime(t)), t);
        assert_eq!(filetime(Timestamp::from_secs(-EPOCH_DIFF - 5)), 0);
    }
}
