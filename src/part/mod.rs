//! Partition tables: planning a whole disk's layout (pure), writing GPT or
//! MBR tables, and reading them back for `fstool info`.
//!
//! GPT follows UEFI specification chapter 5 ("GUID Partition Table (GPT)
//! Disk Layout"); MBR follows the classic IBM PC layout as UEFI 5.2.1
//! describes it. Type GUIDs come from the Discoverable Partitions
//! Specification (see [`types`]).
//!
//! Flow: [`plan`] decides every start, size, GUID and signature from a
//! [`DiskRequest`] and the [`PartitionRequest`]s, checking the layout;
//! [`write_tables`] writes the tables of a [`DiskPlan`] to a device; the
//! caller then writes each filesystem through
//! `io::Slice::new(dev, p.offset_bytes(), p.size_bytes())`, or copies a
//! prebuilt blob with [`write_blob`].

pub mod from_spec;
pub mod gpt;
mod info;
mod layout;
pub mod mbr;
mod report;
pub mod types;
mod write;

use crate::io::IoError;

use crate::spec::model::PartitionTable;
use std::path::PathBuf;
use uuid::Uuid;

pub use info::{probe, PartitionInfo, PartitionTableInfo};
use layout::gpt_array_sectors;
pub use layout::plan;
pub use types::{parse_attributes, resolve_type, PartType};
pub use write::{write_blob, write_tables};

/// Errors of the partition layer. Partition numbers are 1-based, as users
/// count them in the spec and as `fdisk` shows them.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("unknown partition type {type_spec:?}; known aliases: {known}; or give an MBR type byte like \"0x83\" or a GPT type GUID")]
    UnknownType { type_spec: String, known: String },
    #[error("partition type {type_spec:?} is neither an alias, an MBR byte \"0xNN\" nor a GUID")]
    BadType { type_spec: String },
    #[error(
        "partition type {type_spec:?} cannot be used with partition_table = \"{table}\": {why}"
    )]
    TypeNotForTable {
        type_spec: String,
        table: &'static str,
        why: String,
    },
    #[error("unknown architecture {arch:?} for linux-root/linux-usr; known: {known}")]
    UnknownArch { arch: String, known: String },
    #[error("unknown GPT attribute {name:?}; known: {known}, or give the attributes as a number")]
    UnknownAttribute { name: String, known: String },
    #[error("sector size {sector_size} is not supported with partition_table = \"{table}\" (use 512{})", if *table == "gpt" { " or 4096" } else { "" })]
    BadSectorSize {
        sector_size: u32,
        table: &'static str,
    },
    #[error("alignment {alignment} must be a non-zero multiple of the sector size {sector_size}")]
    BadAlignment { alignment: u64, sector_size: u32 },
    #[error("disk size {size} is not a multiple of the sector size {sector_size}")]
    UnalignedDiskSize { size: u64, sector_size: u32 },
    #[error("the disk ({size} bytes) is too small for its partitions: it needs at least {needed} bytes ({needed_human})")]
    DiskTooSmall {
        size: u64,
        needed: u64,
        needed_human: String,
    },
    #[error("partition {index}: size \"remaining\" is only allowed on the last partition")]
    RemainingNotLast { index: usize },
    #[error("partition {index}: size \"remaining\" needs an explicit [image] size (the disk size is \"auto\")")]
    RemainingNeedsDiskSize { index: usize },
    #[error("partition {index}: no space remains for it (it would start at byte {start}, the usable area ends at byte {end}); enlarge the disk")]
    NothingRemaining { index: usize, start: u64, end: u64 },
    #[error("partition {index}: size is zero")]
    ZeroSize { index: usize },
    #[error("partition {index} (bytes {start}..{end}) overlaps partition {other} (bytes {other_start}..{other_end})")]
    Overlap {
        index: usize,
        start: u64,
        end: u64,
        other: usize,
        other_start: u64,
        other_end: u64,
    },
    #[error("partition {index} (bytes {start}..{end}) lies outside the usable area (bytes {first}..{last})")]
    OutsideDisk {
        index: usize,
        start: u64,
        end: u64,
        first: u64,
        last: u64,
    },
    #[error("MBR holds at most 4 primary partitions, the spec has {count}; logical partitions are not supported, use partition_table = \"gpt\"")]
    TooManyPrimary { count: usize },
    #[error("partition {index}: MBR addresses at most 2^32 sectors; the partition ends at sector {end}; use partition_table = \"gpt\"")]
    BeyondMbrLimit { index: usize, end: u64 },
    #[error(
        "the GPT has {entries} entries but the spec has {count} partitions; raise gpt_entries"
    )]
    TooManyPartitions { count: usize, entries: u32 },
    #[error("gpt_entries = {entries}: must be between 128 and 16384 (UEFI reserves at least 16 KiB for the array)")]
    BadEntryCount { entries: u32 },
    #[error("partition {index}: name {name:?} is {units} UTF-16 code units long; GPT names hold at most 36")]
    NameTooLong {
        index: usize,
        name: String,
        units: usize,
    },
    #[error("partition {index}: `{field}` needs partition_table = \"gpt\"{hint}")]
    GptOnly {
        index: usize,
        field: &'static str,
        hint: &'static str,
    },
    #[error("partition {index}: `bootable` is an MBR flag; on GPT use attributes = [\"legacy-bios-bootable\"]")]
    BootableOnGpt { index: usize },
    #[error("partition_table = \"none\" needs exactly one partition, the spec has {count}")]
    NoneNeedsOne { count: usize },
    #[error("size arithmetic overflows: {what}")]
    Overflow { what: &'static str },
    #[error("the device is {found} bytes, the plan needs {expected}")]
    DeviceSize { expected: u64, found: u64 },
    #[error("partition {index}: image {path} is {blob} bytes, larger than the partition ({partition} bytes)")]
    BlobTooLarge {
        index: usize,
        path: PathBuf,
        blob: u64,
        partition: u64,
    },
    #[error("bootcode {path}: {source}")]
    Bootcode {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{field}: {message}")]
    Spec { field: String, message: String },
    #[error("corrupt partition table: {what}")]
    Corrupt { what: String },
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Size of one MBR: the boot code area an `[image] bootcode` fills.
pub const BOOTCODE_LEN: usize = 440;

/// A requested partition size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartSize {
    /// Exactly this many bytes (rounded up to whole sectors).
    Bytes(u64),
    /// Everything up to the end of the usable area (last partition only).
    Remaining,
}

/// One `[[partitions]]` entry, with its size already decided (for `auto`
/// the caller sizes the filesystem first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRequest {
    /// GPT partition name (UTF-16, at most 36 code units).
    pub name: Option<String>,
    /// Alias, `"0xNN"` or GPT type GUID; see [`resolve_type`].
    pub type_spec: String,
    pub size: PartSize,
    /// Pinned GPT unique partition GUID.
    pub uuid: Option<Uuid>,
    /// GPT attribute bits; see [`parse_attributes`].
    pub attributes: u64,
    /// MBR boot indicator (0x80).
    pub bootable: bool,
}

impl PartitionRequest {
    /// A partition of `size` of type `type_spec` with nothing else set.
    pub fn new(type_spec: &str, size: PartSize) -> Self {
        PartitionRequest {
            name: None,
            type_spec: type_spec.to_string(),
            size,
            uuid: None,
            attributes: 0,
            bootable: false,
        }
    }
}

/// The disk-level half of `[image]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskRequest {
    pub table: PartitionTable,
    /// Disk size in bytes; `None` = the smallest aligned size that holds
    /// the partitions (and, for GPT, the backup table).
    pub size: Option<u64>,
    /// Partition start alignment in bytes (default 1 MiB).
    pub alignment: u64,
    /// Logical sector size: 512, or 4096 on GPT.
    pub sector_size: u32,
    /// The build seed: partition GUIDs, disk GUID, MBR signature.
    pub seed: String,
    pub disk_guid: Option<Uuid>,
    pub disk_signature: Option<u32>,
    /// Boot code; the first 440 bytes go to the MBR (shorter is zero-padded).
    pub bootcode: Option<Vec<u8>>,
    /// GPT entry count (default 128).
    pub gpt_entries: u32,
    /// Architecture for `linux-root` / `linux-usr` (default `x86-64`).
    pub arch: &'static str,
}

impl DiskRequest {
    /// The defaults of the spec: auto size, 1 MiB alignment, 512-byte
    /// sectors, 128 GPT entries, x86-64.
    pub fn new(table: PartitionTable, seed: &str) -> Self {
        DiskRequest {
            table,
            size: None,
            alignment: 1 << 20,
            sector_size: 512,
            seed: seed.to_string(),
            disk_guid: None,
            disk_signature: None,
            bootcode: None,
            gpt_entries: 128,
            arch: "x86-64",
        }
    }
}

/// One partition as planned: everything the tables and the writers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// 1-based partition number (its table slot + 1).
    pub number: usize,
    pub name: Option<String>,
    pub part_type: PartType,
    /// First sector.
    pub start_lba: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// GPT unique partition GUID (None on MBR).
    pub uuid: Option<Uuid>,
    pub attributes: u64,
    pub bootable: bool,
    sector_size: u32,
}

impl PlannedPartition {
    /// Byte offset of the partition on the disk.
    pub fn offset_bytes(&self) -> u64 {
        self.start_lba * u64::from(self.sector_size)
    }
    /// Length of the partition in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.sectors * u64::from(self.sector_size)
    }
    /// Last sector (inclusive), as GPT and `sfdisk` count.
    pub fn end_lba(&self) -> u64 {
        self.start_lba + self.sectors - 1
    }
}

/// A whole disk's layout; built only by [`plan`], so it is always valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    pub table: PartitionTable,
    pub sector_size: u32,
    /// Disk size in bytes.
    pub size: u64,
    /// GPT disk GUID (None on MBR).
    pub disk_guid: Option<Uuid>,
    /// MBR disk signature (None on GPT).
    pub disk_signature: Option<u32>,
    /// At most 440 bytes.
    pub bootcode: Option<Vec<u8>>,
    pub gpt_entries: u32,
    /// First and last (inclusive) sectors partitions may use.
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    partitions: Vec<PlannedPartition>,
}

impl DiskPlan {
    pub fn partitions(&self) -> &[PlannedPartition] {
        &self.partitions
    }
    /// Replaces the GUID of partition `index` (a GPT partition's identity
    /// that derives from its content, like a verity pair's root hash).
    pub fn set_partition_uuid(&mut self, index: usize, uuid: Uuid) {
        if let Some(p) = self.partitions.get_mut(index) {
            if p.uuid.is_some() {
                p.uuid = Some(uuid);
            }
        }
    }
    pub fn total_sectors(&self) -> u64 {
        self.size / u64::from(self.sector_size)
    }
    /// Sectors the GPT entry array takes (0 without GPT).
    pub fn gpt_array_sectors(&self) -> u64 {
        gpt_array_sectors(self.gpt_entries, self.sector_size)
    }
}

#[cfg(test)]
mod tests;
