//! FAT12/16/32 with VFAT long names: writer ([`plan`], [`write()`]) and a
//! small prober ([`probe()`]) and reader ([`FatVolume`]).
//!
//! Follows Microsoft's "FAT: General Overview of On-Disk Format"
//! (fatgen103). The plan decides every cluster, name and field before a
//! byte is written; the writer then emits the boot record, the FATs (built
//! in memory, written once), directories and file data (streamed in
//! contiguous chains, in sorted pre-order).
//!
//! What FAT cannot store: symlinks, device nodes, fifos and sockets are
//! "unsupported" entries (an error naming the first, or skipped and
//! reported). Ownership, permission bits and xattrs are dropped, except
//! that a file without any write bit gets the read-only attribute. Hard
//! links become independent copies, listed in the report. Times are UTC
//! (see [`time`] for rounding and the 1980 clamp).
//!
//! Names: a name that is a valid 8.3 name in one case per part is stored
//! as a short entry only (lower-case parts flagged with the NT case bits);
//! any other name gets VFAT long-name slots (UTF-16, surrogate pairs
//! beyond the BMP) and an alias (`LONGNA~1.TXT`, past `~4` the hashed form
//! `LO1A2B~1.TXT`; see [`names`]). Names are compared case-insensitively
//! with one-to-one upper-casing, like Windows' upcase table.
//!
//! Sizes: an explicit size is used whole (a partition's size, inside a
//! partition table); `None` picks the smallest volume, in 4 KiB steps, that
//! holds the tree plus the headroom, within the cluster-count range of the
//! requested width.

pub mod boot;
mod dirent;
pub(crate) mod format;
pub mod geometry;
mod layout;
pub mod names;
pub mod probe;
pub mod read;
pub mod table;
pub mod time;
mod write;

use std::path::PathBuf;

use serde::Serialize;

pub use geometry::{FatType, Geometry};
pub use layout::{plan, FatPlan};
pub use probe::{probe, FatInfo};
pub use read::FatVolume;
pub use write::{write, write_with_progress};

use crate::io::IoError;
use crate::spec::model::{CaseConflicts, Unsupported};

/// Options of one FAT volume. `None` means "choose the default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatOptions {
    /// `None` picks the width from the cluster count (type `"fat"`).
    pub fat_type: Option<FatType>,
    /// Volume size in bytes; `None` = the smallest that holds the tree
    /// plus `headroom_bytes`. Inside a partition: the partition size.
    pub size: Option<u64>,
    /// Free space to leave in an automatically sized volume.
    pub headroom_bytes: u64,
    /// Bytes per cluster: a power of two from 512 to 32768.
    pub cluster_size: Option<u32>,
    /// The same in sectors (1 to 64); when both are set they must agree.
    pub sectors_per_cluster: Option<u32>,
    pub reserved_sectors: Option<u32>,
    /// Number of FATs: 1 or 2.
    pub fats: u8,
    /// Root directory entries (FAT12/16 only), a multiple of 16.
    pub root_entries: Option<u32>,
    /// Up to 11 characters; stored upper-case in the boot sector and as the
    /// volume-label entry of the root directory.
    pub label: Option<String>,
    pub volume_id: u32,
    /// `BPB_HiddSec`: sectors before the volume (its partition's start LBA).
    pub hidden_sectors: u32,
    pub unsupported: Unsupported,
    pub case_conflicts: CaseConflicts,
}

impl Default for FatOptions {
    fn default() -> Self {
        FatOptions {
            fat_type: None,
            size: None,
            headroom_bytes: 0,
            cluster_size: None,
            sectors_per_cluster: None,
            reserved_sectors: None,
            fats: 2,
            root_entries: None,
            label: None,
            volume_id: 0,
            hidden_sectors: 0,
            unsupported: Unsupported::Error,
            case_conflicts: CaseConflicts::Error,
        }
    }
}

/// An entry left out because FAT cannot store it (`unsupported = "skip"`)
/// or because its name differs only in case from another's
/// (`case_conflicts = "skip"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEntry {
    pub path: String,
    /// `symlink`, `char-device`, `block-device`, `fifo`, `socket` or
    /// `case-conflict`.
    pub kind: &'static str,
    /// For a case conflict: the path that kept the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts_with: Option<String>,
}

/// An entry stored under another name (`case_conflicts = "rename"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenamedEntry {
    pub path: String,
    /// The name it has in the image.
    pub name: String,
    /// The path that kept the name.
    pub conflicts_with: String,
}

/// A hard link written as an independent copy of its target's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopiedHardLink {
    pub path: String,
    pub target: String,
}

/// What the writer did, for the build report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FatReport {
    pub geometry: Geometry,
    /// `XXXX-XXXX`, as tools print it.
    pub volume_id: String,
    pub label: Option<String>,
    pub cluster_bytes: u32,
    pub used_clusters: u32,
    pub free_clusters: u32,
    pub skipped: Vec<SkippedEntry>,
    pub renamed: Vec<RenamedEntry>,
    pub hardlinks_copied: Vec<CopiedHardLink>,
}

/// Errors of the FAT writer.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    #[error("invalid FAT option `{field}` = {value}: {reason}")]
    Option {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("name of {path} {reason}")]
    InvalidName { path: String, reason: String },
    #[error("{first} and {second} differ only in case; FAT compares names case-insensitively (set `case_conflicts = \"skip\"` or `\"rename\"`)")]
    CaseDuplicate { first: String, second: String },
    #[error("{path} is a {kind}, which FAT cannot store (set `unsupported = \"skip\"` to leave such entries out)")]
    Unsupported { path: String, kind: &'static str },
    #[error("{path} is {size} bytes; a FAT file holds at most 4 GiB - 1")]
    FileTooLarge { path: String, size: u64 },
    #[error("directory {path} needs {entries} entries; FAT allows 65536")]
    DirectoryTooLarge { path: String, entries: usize },
    #[error("the root directory needs {needed} entries but `root_entries` is {root_entries}")]
    RootFull { needed: u32, root_entries: u32 },
    #[error("the tree needs a {needed}-byte volume but the size is {size} bytes")]
    TooSmall { needed: u64, size: u64 },
    #[error("no valid FAT geometry: {reason}")]
    Geometry { reason: String },
    #[error("the device is {found} bytes but the plan needs {expected}")]
    DeviceSize { expected: u64, found: u64 },
    #[error("{path}: SHA-256 mismatch (the manifest expects {expected}, the file has {found})")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Time(#[from] crate::tree::time::OutOfRange),
}

/// `XXXX-XXXX`, high word first, as DOS and Linux print volume IDs.
pub fn format_volume_id(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xffff)
}

/// Parses a pinned volume ID: `"1234-ABCD"` or `"1234ABCD"` (hex, any case).
pub fn parse_volume_id(s: &str) -> Option<u32> {
    let hex: String = match s.split_once('-') {
        Some((hi, lo)) if hi.len() == 4 && lo.len() == 4 => format!("{hi}{lo}"),
        Some(_) => return None,
        None => s.to_string(),
    };
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_round_trip() {
        assert_eq!(parse_volume_id("1234-ABCD"), Some(0x1234_abcd));
        assert_eq!(parse_volume_id("1234abcd"), Some(0x1234_abcd));
        assert_eq!(format_volume_id(0x1234_abcd), "1234-ABCD");
        for bad in ["", "1234-ABC", "12345-ABC", "XYZW-0000", "1234ABCD0"] {
            assert_eq!(parse_volume_id(bad), None, "{bad}");
        }
    }
}
