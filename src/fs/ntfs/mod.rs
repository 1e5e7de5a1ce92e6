//! NTFS 3.1 writer: deterministic volumes that ntfs-3g, the Linux ntfs3
//! driver, `ntfsfix` and Windows accept.
//!
//! Follows the NTFS documentation of the Linux-NTFS project
//! (<https://flatcap.github.io/linux-ntfs/ntfs/>), one module per on-disk
//! concept: [`boot`], [`record`] (MFT records, with [`fixup`]), [`attr`]
//! headers and [`runlist`]s, [`std_info`], [`file_name`], [`index`] (B-tree
//! bulk load in [`upcase`] collation order), [`secure`], [`attrdef`],
//! [`reparse`]. [`layout`] plans every MFT record number and cluster before
//! a byte is written; [`system`] and [`node`] assemble the records;
//! `write` puts them on the device.
//!
//! Metadata mapping: times become NT FILETIMEs (creation, data change,
//! MFT change, access from crtime, mtime, ctime, atime). Symlinks are
//! `IO_REPARSE_TAG_SYMLINK` reparse points. Hard links are several
//! `$FILE_NAME` attributes in one record. Unix mode, owner and xattrs are
//! not stored: every file shares one security descriptor (see [`secure`]);
//! a file without any write bit gets the read-only attribute. Devices,
//! fifos and sockets follow the `unsupported` policy. Names are kept
//! exactly (Unicode, case); a name Win32 cannot hold, or one that differs
//! from a sibling only in case, goes in the POSIX namespace.

pub mod attr;
pub mod attr_list;
pub mod attrdef;
pub mod boot;
pub mod data;
mod dir_plan;
pub mod file_name;
pub mod fixup;
pub mod format;
pub mod index;
pub mod inodes;
pub mod layout;
pub mod node;
pub mod probe;
pub mod read;
pub mod record;
pub mod reparse;
pub mod runlist;
pub mod secure;
pub mod spill;
pub mod std_info;
pub mod system;
pub mod time;
pub mod upcase;
mod write;

use std::path::PathBuf;

use serde::Serialize;

pub use layout::{plan, NtfsPlan};
pub use write::{write, write_with_progress};

use crate::io::IoError;
use crate::spec::model::Unsupported;

/// Options of one NTFS volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtfsOptions {
    /// Volume size in bytes; `None` = the smallest that holds the tree plus
    /// `headroom_bytes`. Inside a partition: the partition size.
    pub size: Option<u64>,
    pub headroom_bytes: u64,
    /// Bytes per cluster: a power of two from 512 to 65536.
    pub cluster_size: u32,
    /// Bytes per MFT record: 1024 or 4096.
    pub mft_record_size: u32,
    /// Up to 128 UTF-16 units.
    pub label: String,
    /// The 64-bit volume serial number.
    pub serial: u64,
    /// Sectors before the volume (its partition's start LBA).
    pub hidden_sectors: u32,
    /// Keep holes of sparse source files as sparse runs.
    pub sparse: bool,
    pub unsupported: Unsupported,
}

impl Default for NtfsOptions {
    fn default() -> Self {
        NtfsOptions {
            size: None,
            headroom_bytes: 0,
            cluster_size: 4096,
            mft_record_size: 1024,
            label: String::new(),
            serial: 0,
            hidden_sectors: 0,
            sparse: false,
            unsupported: Unsupported::Error,
        }
    }
}

/// An entry left out because NTFS cannot store it (`unsupported = "skip"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEntry {
    pub path: String,
    pub kind: &'static str,
}

/// What the writer did, for the build report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NtfsReport {
    /// 16 hex digits, as `ntfsinfo` prints the serial.
    pub serial: String,
    pub label: String,
    pub cluster_bytes: u32,
    pub mft_record_bytes: u32,
    pub total_clusters: u64,
    pub used_clusters: u64,
    pub mft_records: u64,
    pub skipped: Vec<SkippedEntry>,
}

/// Errors of the NTFS writer.
#[derive(Debug, thiserror::Error)]
pub enum NtfsError {
    #[error("invalid NTFS option `{field}` = {value}: {reason}")]
    Option {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("name of {path} {reason}")]
    InvalidName { path: String, reason: String },
    #[error("{path} is a {kind}, which NTFS cannot store (set `unsupported = \"skip\"` to leave such entries out)")]
    Unsupported { path: String, kind: &'static str },
    #[error("{path}: {what} does not fit one {record_size}-byte MFT record")]
    RecordFull {
        path: String,
        what: String,
        record_size: u32,
    },
    #[error("the tree needs a {needed}-byte NTFS volume but the size is {size} bytes")]
    TooSmall { needed: u64, size: u64 },
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
}
