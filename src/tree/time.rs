//! The range of times each on-disk format can hold, and what happens to a
//! time outside it.
//!
//! A format that cannot store a time must never wrap it (a 2040 mtime read
//! back as 1903 is silently wrong). Each format names its [`Range`]; a time
//! outside it is an error naming the path and the range, unless the spec
//! says `time_range = "clamp"`, which clamps to the nearest end as the Linux
//! kernel does when it writes a time a filesystem cannot hold
//! (`timestamp_truncate`).

use super::{NodeId, Timestamp, Tree};
use crate::spec::TimeRange;

/// The times a format can store, whole seconds, inclusive at both ends
/// (nanoseconds are the format's business: some keep them, some drop them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// What holds the time, for messages ("ext with 128-byte inodes").
    pub holder: &'static str,
    pub min: Timestamp,
    pub max: Timestamp,
}

/// ext inodes of 128 bytes: the signed 32-bit seconds field alone
/// (1901-12-13T20:45:52Z ..= 2038-01-19T03:14:07Z), whole seconds.
pub const EXT_SMALL_INODE: Range = Range {
    holder: "ext with 128-byte inodes",
    min: Timestamp::from_secs(i32::MIN as i64),
    max: Timestamp::from_secs(i32::MAX as i64),
};

/// ext inodes with the `_extra` time words: the signed 32-bit seconds
/// field plus two epoch bits, each adding 2^32 seconds (the kernel's
/// `ext4_decode_extra_time`), so 1901-12-13T20:45:52Z ..=
/// 2446-05-10T22:38:55Z.
pub const EXT_LARGE_INODE: Range = Range {
    holder: "ext with 256-byte inodes",
    min: Timestamp::from_secs(i32::MIN as i64),
    max: Timestamp::from_secs(i32::MAX as i64 + (3 << 32)),
};

/// The ext superblock's times (`s_mkfs_time`, `s_wtime`, `s_lastcheck`):
/// an unsigned 32-bit field plus an 8-bit high byte, 1970 to year 36812.
pub const EXT_SUPERBLOCK: Range = Range {
    holder: "the ext superblock",
    min: Timestamp::from_secs(0),
    max: Timestamp::from_secs((1 << 40) - 1),
};

/// FAT directory entries: years 1980 to 2107 in the date field
/// (1980-01-01T00:00:00Z ..= 2107-12-31T23:59:59Z; the time field keeps
/// even seconds).
pub const FAT: Range = Range {
    holder: "FAT",
    min: Timestamp::from_secs(315_532_800),
    max: Timestamp::from_secs(4_354_819_199),
};

/// A time a format cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path}: {field} {} is outside the range {holder} can store ({} to {}); \
     set time_range = \"clamp\" to clamp it to that range",
    iso8601(*secs),
    iso8601(*min),
    iso8601(*max)
)]
pub struct OutOfRange {
    /// An image path, or the spec key the time came from.
    pub path: String,
    /// Which time (`mtime`, `atime`, ...).
    pub field: &'static str,
    pub secs: i64,
    pub holder: &'static str,
    /// The range's ends, seconds since the epoch.
    pub min: i64,
    pub max: i64,
}

impl Range {
    pub fn contains(&self, t: Timestamp) -> bool {
        (self.min.secs..=self.max.secs).contains(&t.secs)
    }

    /// `t` with its seconds clamped into the range, nanoseconds kept, as the
    /// kernel's `timestamp_truncate` does (never fails; see [`Range::check`]).
    pub fn clamp(&self, t: Timestamp) -> Timestamp {
        Timestamp {
            secs: t.secs.clamp(self.min.secs, self.max.secs),
            nanos: t.nanos,
        }
    }

    /// `t` itself when it is in range; the nearest end under
    /// `TimeRange::Clamp`; else an error naming `path` and `field`.
    pub fn check(
        &self,
        t: Timestamp,
        policy: TimeRange,
        path: &dyn Fn() -> String,
        field: &'static str,
    ) -> Result<Timestamp, OutOfRange> {
        if self.contains(t) || policy == TimeRange::Clamp {
            return Ok(self.clamp(t));
        }
        Err(OutOfRange {
            path: path(),
            field,
            secs: t.secs,
            holder: self.holder,
            min: self.min.secs,
            max: self.max.secs,
        })
    }

    /// Checks every time of every node of `tree` that the format stores
    /// (`fields` picks them among atime, mtime, ctime, crtime). A time equal
    /// to `floor_ok` is let through when it lies below the range: FAT uses
    /// it for the build's own epoch (1970 by default), which it cannot
    /// express and has always stored as its earliest date.
    pub fn check_tree(
        &self,
        tree: &Tree,
        policy: TimeRange,
        fields: Fields,
        floor_ok: Option<i64>,
    ) -> Result<(), OutOfRange> {
        for (i, node) in tree.nodes.iter().enumerate() {
            let m = &node.meta;
            for (field, t, wanted) in [
                ("mtime", m.mtime, true),
                ("atime", m.atime, fields.atime),
                ("ctime", m.ctime, fields.ctime),
                ("crtime", m.crtime, fields.crtime),
            ] {
                if !wanted || (t.secs < self.min.secs && floor_ok == Some(t.secs)) {
                    continue;
                }
                let id = NodeId(u32::try_from(i).unwrap_or(u32::MAX));
                self.check(t, policy, &|| tree.path_of(id), field)?;
            }
        }
        Ok(())
    }
}

/// Which of a node's times a format stores besides `mtime`.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub atime: bool,
    pub ctime: bool,
    pub crtime: bool,
}

/// Civil date (proleptic Gregorian) from days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era.saturating_mul(400)).saturating_add(i64::from(m <= 2));
    (y, m, d)
}

/// `secs` as `YYYY-MM-DDThh:mm:ssZ` (UTC).
pub fn iso8601(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ends_are_the_documented_dates() {
        assert_eq!(iso8601(EXT_SMALL_INODE.min.secs), "1901-12-13T20:45:52Z");
        assert_eq!(iso8601(EXT_SMALL_INODE.max.secs), "2038-01-19T03:14:07Z");
        assert_eq!(iso8601(EXT_LARGE_INODE.max.secs), "2446-05-10T22:38:55Z");
        assert_eq!(iso8601(FAT.min.secs), "1980-01-01T00:00:00Z");
        assert_eq!(iso8601(FAT.max.secs), "2107-12-31T23:59:59Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn extreme_times_format_without_overflow() {
        for s in [i64::MIN, i64::MAX, 0] {
            assert!(!iso8601(s).is_empty());
        }
    }

    #[test]
    fn check_errors_or_clamps() {
        let path = || "/f".to_string();
        let t = Timestamp::from_secs(1 << 31);
        let e = EXT_SMALL_INODE
            .check(t, TimeRange::Error, &path, "mtime")
            .unwrap_err();
        assert_eq!(e.path, "/f");
        assert!(e.to_string().contains("2038-01-19T03:14:08Z"), "{e}");
        assert!(e.to_string().contains("2038-01-19T03:14:07Z"), "{e}");
        assert_eq!(
            EXT_SMALL_INODE.check(t, TimeRange::Clamp, &path, "mtime"),
            Ok(EXT_SMALL_INODE.max)
        );
        let late = Timestamp {
            secs: i64::MAX,
            nanos: 5,
        };
        assert_eq!(
            EXT_LARGE_INODE.check(late, TimeRange::Clamp, &path, "mtime"),
            Ok(Timestamp {
                secs: EXT_LARGE_INODE.max.secs,
                nanos: 5
            })
        );
        let low = Timestamp::from_secs(i64::MIN);
        assert_eq!(
            EXT_LARGE_INODE.check(low, TimeRange::Clamp, &path, "mtime"),
            Ok(EXT_LARGE_INODE.min)
        );
    }
}
