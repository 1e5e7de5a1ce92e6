//! A partition table as tools see it: read back from a device ([`probe`]),
//! or stated by a plan before anything is written ([`DiskPlan::info`]).
//! Both give the same [`PartitionTableInfo`] for the same disk, so the
//! build report can come from the plan.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{gpt, mbr, types, DiskPlan, PartError, PartType};
use crate::io::ReadAt;
use crate::spec::model::PartitionTable;
use uuid::Uuid;

/// A partition table read back from a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTableInfo {
    pub table: PartitionTable,
    pub sector_size: u32,
    pub disk_guid: Option<Uuid>,
    pub disk_signature: Option<u32>,
    /// GPT usable area (inclusive sectors).
    pub first_usable_lba: Option<u64>,
    pub last_usable_lba: Option<u64>,
    /// Partitions in table order; empty slots are left out.
    pub partitions: Vec<PartitionInfo>,
    /// Problems that did not stop reading (a bad backup GPT, for example).
    pub warnings: Vec<String>,
}

/// One partition read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// 1-based table slot.
    pub index: usize,
    pub name: Option<String>,
    pub part_type: PartType,
    /// Alias name, when the type has one.
    pub type_name: Option<String>,
    pub start_lba: u64,
    pub sectors: u64,
    pub offset_bytes: u64,
    pub size_bytes: u64,
    pub uuid: Option<Uuid>,
    pub attributes: u64,
    pub bootable: bool,
}

/// Reads the partition table of `dev`, if any: GPT (512- or 4096-byte
/// sectors) behind a protective MBR, else an MBR whose entries are sane.
/// Never panics; hostile bytes give `Corrupt` or `None`.
///
/// A FAT boot sector also ends in 0x55AA, so callers should probe for a
/// filesystem at offset 0 before trusting an MBR answer.
pub fn probe(dev: &dyn ReadAt) -> Result<Option<PartitionTableInfo>, PartError> {
    if dev.size() < 512 {
        return Ok(None);
    }
    let mut sector0 = [0u8; 512];
    dev.read_at(0, &mut sector0)?;
    let Some(m) = mbr::Mbr::decode(&sector0) else {
        return Ok(None);
    };
    if m.entries.iter().any(|e| e.os_type == mbr::PROTECTIVE_TYPE) {
        let mut primary_err = None;
        for ss in [512u32, 4096] {
            match gpt::read(dev, ss) {
                Ok(Some(info)) => return Ok(Some(info)),
                Ok(None) => {}
                Err(e) => {
                    primary_err.get_or_insert(e);
                }
            }
        }
        for ss in [512u32, 4096] {
            if let Ok(Some(info)) = gpt::read_backup(dev, ss) {
                return Ok(Some(info));
            }
        }
        return Err(primary_err.unwrap_or(PartError::Corrupt {
            what: "protective MBR found but no valid GPT header at LBA 1 or at the end".into(),
        }));
    }
    Ok(mbr::info(&m, dev.size()))
}

impl std::fmt::Display for PartType {
    /// GPT GUIDs in upper case as `sfdisk` prints them; MBR bytes as `0xNN`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartType::Gpt(g) => write!(f, "{}", g.hyphenated().to_string().to_uppercase()),
            PartType::Mbr(b) => write!(f, "0x{b:02x}"),
        }
    }
}

impl DiskPlan {
    /// The table this plan writes, as [`probe`] reads it back: MBR has no
    /// names, GUIDs or attributes; GPT has no boot flag. `None` for a disk
    /// without a table.
    pub fn info(&self) -> Option<PartitionTableInfo> {
        let gpt = match self.table {
            PartitionTable::Gpt => true,
            PartitionTable::Mbr => false,
            PartitionTable::None => return None,
        };
        let partitions = self
            .partitions()
            .iter()
            .map(|p| PartitionInfo {
                index: p.number,
                name: p.name.clone().filter(|n| gpt && !n.is_empty()),
                part_type: p.part_type,
                type_name: types::type_name(p.part_type),
                start_lba: p.start_lba,
                sectors: p.sectors,
                offset_bytes: p.offset_bytes(),
                size_bytes: p.size_bytes(),
                uuid: if gpt { p.uuid } else { None },
                attributes: if gpt { p.attributes } else { 0 },
                bootable: !gpt && p.bootable,
            })
            .collect();
        Some(PartitionTableInfo {
            table: self.table,
            sector_size: self.sector_size,
            disk_guid: if gpt { self.disk_guid } else { None },
            disk_signature: if gpt { None } else { self.disk_signature },
            first_usable_lba: gpt.then_some(self.first_usable_lba),
            last_usable_lba: gpt.then_some(self.last_usable_lba),
            partitions,
            warnings: Vec::new(),
        })
    }
}
