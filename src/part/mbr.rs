//! Master Boot Record (UEFI specification 2.10 section 5.2.1): boot code,
//! disk signature, four primary partition records, and the 0x55AA mark.
//! Also the protective MBR that fronts a GPT (section 5.2.3).

use super::types::{self, PartType};
use super::{DiskPlan, PartError, PartitionInfo, PartitionTableInfo, BOOTCODE_LEN};
use crate::io::BlockDevice;
use crate::spec::model::PartitionTable;

/// OS type of the single partition of a protective MBR.
pub const PROTECTIVE_TYPE: u8 = 0xee;
/// Boot indicator of an active partition.
pub const ACTIVE: u8 = 0x80;
/// Offset of the first partition record.
const RECORDS: usize = 446;
const RECORD_SIZE: usize = 16;
/// Offset of the 32-bit disk signature.
const SIGNATURE: usize = 440;

/// The nominal geometry current fdisk uses for CHS fields: 255 heads and 63
/// sectors per track.
const HEADS: u64 = 255;
const SECTORS: u64 = 63;

/// The 3-byte CHS encoding of `lba` (head; sector | cylinder bits 8-9 << 6;
/// cylinder bits 0-7). Addresses beyond cylinder 1023 get the 1023/254/63
/// form, as fdisk writes it.
pub fn chs(lba: u64) -> [u8; 3] {
    let (c, h, s) = if lba >= 1024 * HEADS * SECTORS {
        (1023u64, 254u64, 63u64)
    } else {
        (
            lba / (HEADS * SECTORS),
            (lba / SECTORS) % HEADS,
            lba % SECTORS + 1,
        )
    };
    // Each value is in range by construction: h < 255, s <= 63, c < 1024.
    [h as u8, (s as u8) | (((c >> 8) as u8) << 6), c as u8]
}

/// One partition record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    /// 0: BootIndicator (0x80 = active).
    pub boot: u8,
    /// 1: StartingCHS.
    pub start_chs: [u8; 3],
    /// 4: OSType (0 = unused).
    pub os_type: u8,
    /// 5: EndingCHS.
    pub end_chs: [u8; 3],
    /// 8: StartingLBA.
    pub start_lba: u32,
    /// 12: SizeInLBA.
    pub sectors: u32,
}

impl Record {
    /// A record for `sectors` sectors from `start`, CHS fields derived.
    pub fn new(boot: bool, os_type: u8, start: u32, sectors: u32) -> Record {
        let last = u64::from(start) + u64::from(sectors).saturating_sub(1);
        Record {
            boot: if boot { ACTIVE } else { 0 },
            start_chs: chs(u64::from(start)),
            os_type,
            end_chs: chs(last),
            start_lba: start,
            sectors,
        }
    }

    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0] = self.boot;
        b[1..4].copy_from_slice(&self.start_chs);
        b[4] = self.os_type;
        b[5..8].copy_from_slice(&self.end_chs);
        b[8..12].copy_from_slice(&self.start_lba.to_le_bytes());
        b[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; RECORD_SIZE]) -> Record {
        Record {
            boot: b[0],
            start_chs: [b[1], b[2], b[3]],
            os_type: b[4],
            end_chs: [b[5], b[6], b[7]],
            start_lba: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            sectors: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}

/// A decoded MBR sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    pub bootcode: Vec<u8>,
    pub signature: u32,
    pub entries: [Record; 4],
}

impl Mbr {
    /// The 512-byte sector: boot code, signature, records, 0x55AA.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        let n = self.bootcode.len().min(BOOTCODE_LEN);
        b[..n].copy_from_slice(&self.bootcode[..n]);
        b[SIGNATURE..SIGNATURE + 4].copy_from_slice(&self.signature.to_le_bytes());
        for (i, r) in self.entries.iter().enumerate() {
            let at = RECORDS + i * RECORD_SIZE;
            b[at..at + RECORD_SIZE].copy_from_slice(&r.encode());
        }
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    /// Parses a sector; `None` without the 0x55AA mark.
    pub fn decode(b: &[u8; 512]) -> Option<Mbr> {
        if b[510] != 0x55 || b[511] != 0xaa {
            return None;
        }
        let mut entries = [Record::default(); 4];
        for (i, e) in entries.iter_mut().enumerate() {
            let at = RECORDS + i * RECORD_SIZE;
            let raw: &[u8; RECORD_SIZE] = b.get(at..at + RECORD_SIZE)?.try_into().ok()?;
            *e = Record::decode(raw);
        }
        Some(Mbr {
            bootcode: b[..BOOTCODE_LEN].to_vec(),
            signature: u32::from_le_bytes([b[440], b[441], b[442], b[443]]),
            entries,
        })
    }
}

/// The protective MBR of a GPT disk: one 0xEE record from LBA 1 to the end
/// of the disk (capped at 2^32 - 1 sectors), signature 0, and the boot code
/// if the spec gave one.
pub(super) fn protective(plan: &DiskPlan) -> [u8; 512] {
    let sectors = (plan.total_sectors() - 1).min(u64::from(u32::MAX)) as u32;
    let mut rec = Record::new(false, PROTECTIVE_TYPE, 1, sectors);
    // UEFI 5.2.3: StartingCHS 0x000200, i.e. LBA 1 - what chs(1) gives.
    rec.start_chs = chs(1);
    Mbr {
        bootcode: plan.bootcode.clone().unwrap_or_default(),
        signature: 0,
        entries: [rec, Record::default(), Record::default(), Record::default()],
    }
    .encode()
}

/// Writes the MBR of an MBR-partitioned plan.
pub(super) fn write(plan: &DiskPlan, dev: &mut dyn BlockDevice) -> Result<(), PartError> {
    let mut entries = [Record::default(); 4];
    for (slot, p) in entries.iter_mut().zip(plan.partitions()) {
        let os_type = match p.part_type {
            PartType::Mbr(b) => b,
            PartType::Gpt(_) => 0,
        };
        // plan() has checked both fit in 32 bits.
        let start = u32::try_from(p.start_lba).map_err(|_| PartError::BeyondMbrLimit {
            index: p.number,
            end: p.end_lba(),
        })?;
        let sectors = u32::try_from(p.sectors).map_err(|_| PartError::BeyondMbrLimit {
            index: p.number,
            end: p.end_lba(),
        })?;
        *slot = Record::new(p.bootable, os_type, start, sectors);
    }
    let mbr = Mbr {
        bootcode: plan.bootcode.clone().unwrap_or_default(),
        signature: plan.disk_signature.unwrap_or(0),
        entries,
    };
    dev.write_at(0, &mbr.encode())?;
    Ok(())
}

/// Reads an MBR's partitions, if its records look like a partition table:
/// boot flags 0 or 0x80, non-empty records inside the disk, at least one
/// record in use. Otherwise `None` (a boot sector of a bare filesystem, say).
pub(super) fn info(m: &Mbr, disk_size: u64) -> Option<PartitionTableInfo> {
    let disk_sectors = disk_size / 512;
    let mut partitions = Vec::new();
    for (i, r) in m.entries.iter().enumerate() {
        if r.boot != 0 && r.boot != ACTIVE {
            return None;
        }
        if r.os_type == 0 {
            continue;
        }
        let start = u64::from(r.start_lba);
        let sectors = u64::from(r.sectors);
        if start == 0 || sectors == 0 || start + sectors > disk_sectors {
            return None;
        }
        let t = PartType::Mbr(r.os_type);
        partitions.push(PartitionInfo {
            index: i + 1,
            name: None,
            part_type: t,
            type_name: types::type_name(t),
            start_lba: start,
            sectors,
            offset_bytes: start * 512,
            size_bytes: sectors * 512,
            uuid: None,
            attributes: 0,
            bootable: r.boot == ACTIVE,
        });
    }
    if partitions.is_empty() {
        return None;
    }
    Some(PartitionTableInfo {
        table: PartitionTable::Mbr,
        sector_size: 512,
        disk_guid: None,
        disk_signature: Some(m.signature),
        first_usable_lba: None,
        last_usable_lba: None,
        partitions,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_matches_fdisk_geometry() {
        // LBA 2048 = cylinder 0, head 32, sector 33.
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(1), [0, 2, 0]);
        // Last LBA CHS can address: cylinder 1023 head 254 sector 63.
        assert_eq!(chs(1024 * 255 * 63 - 1), [254, 0xff, 0xff]);
        assert_eq!(chs(1024 * 255 * 63), [254, 0xff, 0xff]);
        assert_eq!(chs(u64::MAX), [254, 0xff, 0xff]);
        // Cylinder 256: its bit 8 goes to the top of the sector byte.
        assert_eq!(chs(256 * 255 * 63), [0, 0x41, 0]);
    }

    #[test]
    fn record_roundtrip() {
        let r = Record::new(true, 0x83, 2048, 204800);
        assert_eq!(Record::decode(&r.encode()), r);
        assert_eq!(r.encode()[0], 0x80);
    }
}
