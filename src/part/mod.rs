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
pub mod mbr;
mod report;
pub mod types;
mod write;

use crate::io::IoError;
use crate::plan::ids;
use crate::spec::model::PartitionTable;
use std::path::PathBuf;
use uuid::Uuid;

pub use info::{probe, PartitionInfo, PartitionTableInfo};
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

fn gpt_array_sectors(entries: u32, ss: u32) -> u64 {
    (u64::from(entries) * gpt::ENTRY_SIZE as u64).div_ceil(u64::from(ss))
}

fn overflow(what: &'static str) -> PartError {
    PartError::Overflow { what }
}

fn align_up(v: u64, a: u64) -> Result<u64, PartError> {
    v.div_ceil(a)
        .checked_mul(a)
        .ok_or(overflow("aligning a partition start"))
}

/// The role of a partition's GUID: its type and name go in, so that two
/// disks built with one seed (a product's root disk and its data disk) do
/// not share PARTUUIDs.
fn partition_role(p: &PartitionRequest) -> String {
    format!(
        "gpt-partition|{}|{}",
        p.type_spec,
        p.name.as_deref().unwrap_or("")
    )
}

/// The role of the disk GUID (and MBR signature): every partition's type
/// and name, in order.
fn disk_role(parts: &[PartitionRequest]) -> String {
    let mut r = String::from("gpt-disk");
    for p in parts {
        r.push('|');
        r.push_str(&partition_role(p));
    }
    r
}

/// Plans a disk: decides every partition's start and size, the GUIDs and
/// the signature, and checks the layout. Pure: no I/O.
///
/// Partitions go in spec order, each at the next aligned start after the
/// previous one. A `remaining` partition ends at the last aligned sector
/// boundary of the usable area. An auto disk size is the smallest multiple
/// of the alignment that holds the partitions and the backup GPT.
pub fn plan(req: &DiskRequest, parts: &[PartitionRequest]) -> Result<DiskPlan, PartError> {
    let table = req.table;
    let tname = types::table_name(table);
    let ss = req.sector_size;
    let ss64 = u64::from(ss);
    let sector_ok = match table {
        PartitionTable::Gpt => ss == 512 || ss == 4096,
        _ => ss == 512,
    };
    if !sector_ok {
        return Err(PartError::BadSectorSize {
            sector_size: ss,
            table: tname,
        });
    }
    if req.alignment == 0 || req.alignment % ss64 != 0 {
        return Err(PartError::BadAlignment {
            alignment: req.alignment,
            sector_size: ss,
        });
    }
    let align = req.alignment / ss64;
    if let Some(size) = req.size {
        if size % ss64 != 0 {
            return Err(PartError::UnalignedDiskSize {
                size,
                sector_size: ss,
            });
        }
    }
    let gpt = table == PartitionTable::Gpt;
    match table {
        PartitionTable::Mbr if parts.len() > 4 => {
            return Err(PartError::TooManyPrimary { count: parts.len() })
        }
        PartitionTable::None if parts.len() != 1 => {
            return Err(PartError::NoneNeedsOne { count: parts.len() })
        }
        PartitionTable::Gpt if !(128..=16384).contains(&req.gpt_entries) => {
            return Err(PartError::BadEntryCount {
                entries: req.gpt_entries,
            })
        }
        PartitionTable::Gpt if parts.len() > req.gpt_entries as usize => {
            return Err(PartError::TooManyPartitions {
                count: parts.len(),
                entries: req.gpt_entries,
            })
        }
        _ => {}
    }

    // Sectors before the first partition and after the last one.
    let array = if gpt {
        gpt_array_sectors(req.gpt_entries, ss)
    } else {
        0
    };
    let (head, tail) = match table {
        PartitionTable::Gpt => (2 + array, 1 + array),
        PartitionTable::Mbr => (1, 0),
        PartitionTable::None => (0, 0),
    };

    // Partition starts are aligned; with no table the one partition is the
    // whole disk.
    let align = if table == PartitionTable::None {
        1
    } else {
        align
    };
    let total_given = req.size.map(|s| s / ss64);
    let usable_end = total_given.map(|t| t.saturating_sub(tail)); // exclusive

    let mut planned = Vec::with_capacity(parts.len());
    let mut cursor = head;
    for (i, p) in parts.iter().enumerate() {
        let index = i + 1;
        let part_type = types::resolve_type(&p.type_spec, table, req.arch)?;
        if let Some(name) = &p.name {
            if !gpt {
                return Err(PartError::GptOnly {
                    index,
                    field: "name",
                    hint: " (MBR partitions have no names)",
                });
            }
            let units = name.encode_utf16().count();
            if units > gpt::NAME_UNITS {
                return Err(PartError::NameTooLong {
                    index,
                    name: name.clone(),
                    units,
                });
            }
        }
        if !gpt && p.uuid.is_some() {
            return Err(PartError::GptOnly {
                index,
                field: "uuid",
                hint: " (MBR partitions have no GUIDs)",
            });
        }
        if !gpt && p.attributes != 0 {
            return Err(PartError::GptOnly {
                index,
                field: "attributes",
                hint: "; on MBR use `bootable`",
            });
        }
        if gpt && p.bootable {
            return Err(PartError::BootableOnGpt { index });
        }
        let start = align_up(cursor, align)?;
        let sectors = match p.size {
            PartSize::Bytes(0) => return Err(PartError::ZeroSize { index }),
            PartSize::Bytes(b) => b.div_ceil(ss64),
            PartSize::Remaining => {
                if index != parts.len() {
                    return Err(PartError::RemainingNotLast { index });
                }
                let end = usable_end.ok_or(PartError::RemainingNeedsDiskSize { index })?;
                // End on an alignment boundary, as fdisk does, when that
                // leaves room; else use the whole usable area.
                let aligned_end = end / align * align;
                let end = if aligned_end > start {
                    aligned_end
                } else {
                    end
                };
                if end <= start {
                    return Err(PartError::NothingRemaining {
                        index,
                        start: start.saturating_mul(ss64),
                        end: end.saturating_mul(ss64),
                    });
                }
                end - start
            }
        };
        cursor = start
            .checked_add(sectors)
            .ok_or(overflow("partition end"))?;
        let uuid = if gpt {
            Some(
                p.uuid
                    .unwrap_or_else(|| ids::uuid(&req.seed, &partition_role(&parts[i]), i as u64)),
            )
        } else {
            None
        };
        planned.push(PlannedPartition {
            number: index,
            name: p.name.clone(),
            part_type,
            start_lba: start,
            sectors,
            uuid,
            attributes: p.attributes,
            bootable: p.bootable,
            sector_size: ss,
        });
    }

    // Smallest disk holding everything: the partitions' end plus the tail,
    // rounded up to the alignment (a tidy size for VMs and dd).
    let needed_sectors = cursor.checked_add(tail).ok_or(overflow("disk size"))?;
    let needed_sectors = if table == PartitionTable::None {
        needed_sectors
    } else {
        align_up(needed_sectors, align)?
    };
    let total = match total_given {
        Some(t) => {
            if t < cursor.checked_add(tail).ok_or(overflow("disk size"))? || t <= head + tail {
                let needed = needed_sectors.saturating_mul(ss64);
                return Err(PartError::DiskTooSmall {
                    size: t * ss64,
                    needed,
                    needed_human: crate::plan::size::human(needed),
                });
            }
            t
        }
        None => needed_sectors.max(align_up(head + tail + 1, align)?),
    };
    let size = total.checked_mul(ss64).ok_or(overflow("disk size"))?;
    let (first_usable_lba, last_usable_lba) = (head, total - tail - 1);

    if table == PartitionTable::Mbr {
        for p in &planned {
            if p.start_lba > u64::from(u32::MAX) || p.sectors > u64::from(u32::MAX) {
                return Err(PartError::BeyondMbrLimit {
                    index: p.number,
                    end: p.end_lba(),
                });
            }
        }
    }

    let plan = DiskPlan {
        table,
        sector_size: ss,
        size,
        disk_guid: gpt.then(|| {
            req.disk_guid
                .unwrap_or_else(|| ids::uuid(&req.seed, &disk_role(parts), 0))
        }),
        disk_signature: (table == PartitionTable::Mbr).then(|| {
            req.disk_signature.unwrap_or_else(|| {
                ids::u32_id(
                    &req.seed,
                    &disk_role(parts).replacen("gpt-disk", "mbr-signature", 1),
                    0,
                )
            })
        }),
        bootcode: req.bootcode.as_ref().map(|b| {
            let mut b = b.clone();
            b.truncate(BOOTCODE_LEN);
            b
        }),
        gpt_entries: if gpt { req.gpt_entries } else { 0 },
        first_usable_lba,
        last_usable_lba,
        partitions: planned,
    };
    check_layout(&plan)?;
    Ok(plan)
}

/// The plan's invariant, checked independently of how it was built:
/// partitions lie inside the usable area, sorted, and do not overlap.
fn check_layout(plan: &DiskPlan) -> Result<(), PartError> {
    let ss = u64::from(plan.sector_size);
    let byte_range = |p: &PlannedPartition| (p.start_lba * ss, (p.end_lba() + 1) * ss);
    for p in &plan.partitions {
        if p.sectors == 0 {
            return Err(PartError::ZeroSize { index: p.number });
        }
        if p.start_lba < plan.first_usable_lba || p.end_lba() > plan.last_usable_lba {
            let (start, end) = byte_range(p);
            return Err(PartError::OutsideDisk {
                index: p.number,
                start,
                end,
                first: plan.first_usable_lba * ss,
                last: (plan.last_usable_lba + 1) * ss,
            });
        }
    }
    for w in plan.partitions.windows(2) {
        if let [a, b] = w {
            if b.start_lba <= a.end_lba() {
                let (start, end) = byte_range(b);
                let (other_start, other_end) = byte_range(a);
                return Err(PartError::Overlap {
                    index: b.number,
                    start,
                    end,
                    other: a.number,
                    other_start,
                    other_end,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
