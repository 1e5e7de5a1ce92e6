//! GUID Partition Table, UEFI specification 2.10 chapter 5.3: a protective
//! MBR at LBA 0, the primary header at LBA 1 followed by the entry array,
//! and at the end of the disk the backup array followed by the backup
//! header in the last sector.

use super::mbr;
use super::types::{self, PartType};
use super::{DiskPlan, PartError, PartitionInfo, PartitionTableInfo};
use crate::bytes::{le_u16, le_u32, le_u64};
use crate::io::{BlockDevice, ReadAt};
use crate::spec::model::PartitionTable;
use uuid::Uuid;

/// "EFI PART".
pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// Revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Bytes of the header the CRC covers (UEFI table 5-5 `HeaderSize`).
pub const HEADER_SIZE: usize = 92;
/// Size of one partition entry.
pub const ENTRY_SIZE: usize = 128;
/// A partition name holds 36 UTF-16 code units.
pub const NAME_UNITS: usize = 36;

/// GPT's CRC32: the ISO-HDLC polynomial (the zlib/Ethernet CRC), computed
/// over the header with its own CRC field zeroed, and over the entry array.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

/// The GPT header (UEFI table 5-5). All integers little-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    // 0: Signature "EFI PART"; 8: Revision; 12: HeaderSize (92);
    // 16: HeaderCRC32 (computed on encode); 20: Reserved (0).
    /// 24: MyLBA, the sector holding this header.
    pub my_lba: u64,
    /// 32: AlternateLBA, the other header's sector.
    pub alternate_lba: u64,
    /// 40: FirstUsableLBA.
    pub first_usable_lba: u64,
    /// 48: LastUsableLBA (inclusive).
    pub last_usable_lba: u64,
    /// 56: DiskGUID, in the mixed-endian GUID encoding.
    pub disk_guid: Uuid,
    /// 72: PartitionEntryLBA, start of this header's entry array.
    pub entries_lba: u64,
    /// 80: NumberOfPartitionEntries.
    pub entry_count: u32,
    /// 84: SizeOfPartitionEntry (128 here; readers accept 128 * 2^n).
    pub entry_size: u32,
    /// 88: PartitionEntryArrayCRC32.
    pub entries_crc: u32,
}

fn guid_at(b: &[u8], at: usize) -> Option<Uuid> {
    Some(Uuid::from_bytes_le(b.get(at..at + 16)?.try_into().ok()?))
}

impl Header {
    /// The 92 header bytes with the CRC filled in.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..8].copy_from_slice(&SIGNATURE);
        b[8..12].copy_from_slice(&REVISION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        b[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        b[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        b[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        b[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        b[56..72].copy_from_slice(&self.disk_guid.to_bytes_le());
        b[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        b[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        b[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        b[88..92].copy_from_slice(&self.entries_crc.to_le_bytes());
        let crc = crc32(&b);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header sector: signature, size and CRC.
    pub fn decode(sector: &[u8]) -> Result<Option<Header>, PartError> {
        if sector.get(0..8) != Some(&SIGNATURE[..]) {
            return Ok(None);
        }
        let corrupt = |what: &str| PartError::Corrupt {
            what: what.to_string(),
        };
        let size = le_u32(sector, 12).ok_or_else(|| corrupt("short header"))?;
        let size = usize::try_from(size).map_err(|_| corrupt("header size"))?;
        if size < HEADER_SIZE || size > sector.len() {
            return Err(corrupt("GPT header size out of range"));
        }
        let mut copy = sector
            .get(..size)
            .ok_or_else(|| corrupt("short header"))?
            .to_vec();
        let stored = le_u32(&copy, 16).ok_or_else(|| corrupt("short header"))?;
        copy.get_mut(16..20)
            .ok_or_else(|| corrupt("short header"))?
            .fill(0);
        if crc32(&copy) != stored {
            return Err(corrupt("GPT header CRC mismatch"));
        }
        let f = |o| le_u64(sector, o).ok_or_else(|| corrupt("short header"));
        Ok(Some(Header {
            my_lba: f(24)?,
            alternate_lba: f(32)?,
            first_usable_lba: f(40)?,
            last_usable_lba: f(48)?,
            disk_guid: guid_at(sector, 56).ok_or_else(|| corrupt("short header"))?,
            entries_lba: f(72)?,
            entry_count: le_u32(sector, 80).ok_or_else(|| corrupt("short header"))?,
            entry_size: le_u32(sector, 84).ok_or_else(|| corrupt("short header"))?,
            entries_crc: le_u32(sector, 88).ok_or_else(|| corrupt("short header"))?,
        }))
    }
}

/// One partition entry (UEFI table 5-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 0: PartitionTypeGUID (all zero = unused slot).
    pub type_guid: Uuid,
    /// 16: UniquePartitionGUID.
    pub unique_guid: Uuid,
    /// 32: StartingLBA.
    pub first_lba: u64,
    /// 40: EndingLBA (inclusive).
    pub last_lba: u64,
    /// 48: Attributes.
    pub attributes: u64,
    /// 56: PartitionName, 36 UTF-16LE code units, NUL-padded.
    pub name: [u16; NAME_UNITS],
}

impl Entry {
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..16].copy_from_slice(&self.type_guid.to_bytes_le());
        b[16..32].copy_from_slice(&self.unique_guid.to_bytes_le());
        b[32..40].copy_from_slice(&self.first_lba.to_le_bytes());
        b[40..48].copy_from_slice(&self.last_lba.to_le_bytes());
        b[48..56].copy_from_slice(&self.attributes.to_le_bytes());
        for (i, u) in self.name.iter().enumerate() {
            b[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        b
    }

    /// Parses an entry of at least 128 bytes.
    pub fn decode(b: &[u8]) -> Option<Entry> {
        let mut name = [0u16; NAME_UNITS];
        for (i, u) in name.iter_mut().enumerate() {
            let at = 56 + 2 * i;
            *u = le_u16(b, at)?;
        }
        Some(Entry {
            type_guid: guid_at(b, 0)?,
            unique_guid: guid_at(b, 16)?,
            first_lba: le_u64(b, 32)?,
            last_lba: le_u64(b, 40)?,
            attributes: le_u64(b, 48)?,
            name,
        })
    }

    /// The name up to its first NUL; unpaired surrogates become U+FFFD.
    pub fn name_string(&self) -> String {
        let len = self.name.iter().position(|u| *u == 0).unwrap_or(NAME_UNITS);
        String::from_utf16_lossy(self.name.get(..len).unwrap_or(&[]))
    }
}

const _: () = assert!(HEADER_SIZE == 92 && ENTRY_SIZE == 128 && 56 + 2 * NAME_UNITS == ENTRY_SIZE);

/// The entry array of a plan: its partitions in slots 1..n, the rest empty.
fn entry_array(plan: &DiskPlan) -> Vec<u8> {
    let mut array = vec![0u8; plan.gpt_entries as usize * ENTRY_SIZE];
    for (slot, p) in array.chunks_exact_mut(ENTRY_SIZE).zip(plan.partitions()) {
        let mut name = [0u16; NAME_UNITS];
        if let Some(n) = &p.name {
            // plan() has checked the length.
            for (dst, src) in name.iter_mut().zip(n.encode_utf16()) {
                *dst = src;
            }
        }
        let type_guid = match p.part_type {
            PartType::Gpt(g) => g,
            PartType::Mbr(_) => Uuid::nil(),
        };
        let e = Entry {
            type_guid,
            unique_guid: p.uuid.unwrap_or(Uuid::nil()),
            first_lba: p.start_lba,
            last_lba: p.end_lba(),
            attributes: p.attributes,
            name,
        };
        slot.copy_from_slice(&e.encode());
    }
    array
}

/// Writes the protective MBR, both headers and both entry arrays.
pub(super) fn write(plan: &DiskPlan, dev: &mut dyn BlockDevice) -> Result<(), PartError> {
    let ss = u64::from(plan.sector_size);
    let total = plan.total_sectors();
    let array_sectors = plan.gpt_array_sectors();
    let last = total - 1;
    let backup_array_lba = last - array_sectors;

    dev.write_at(0, &mbr::protective(plan))?;

    let array = entry_array(plan);
    let primary = Header {
        my_lba: 1,
        alternate_lba: last,
        first_usable_lba: plan.first_usable_lba,
        last_usable_lba: plan.last_usable_lba,
        disk_guid: plan.disk_guid.unwrap_or(Uuid::nil()),
        entries_lba: 2,
        entry_count: plan.gpt_entries,
        entry_size: ENTRY_SIZE as u32,
        entries_crc: crc32(&array),
    };
    let backup = Header {
        my_lba: last,
        alternate_lba: 1,
        entries_lba: backup_array_lba,
        ..primary.clone()
    };
    dev.write_at(2 * ss, &array)?;
    dev.write_at(backup_array_lba * ss, &array)?;
    let mut sector = vec![0u8; plan.sector_size as usize];
    sector[..HEADER_SIZE].copy_from_slice(&primary.encode());
    dev.write_at(ss, &sector)?;
    sector[..HEADER_SIZE].copy_from_slice(&backup.encode());
    dev.write_at(last * ss, &sector)?;
    Ok(())
}

/// Largest entry array a reader accepts (1 MiB: 8192 entries of 128 bytes),
/// so a hostile header cannot make us allocate without bound.
const MAX_ARRAY_BYTES: u64 = 1 << 20;

/// Reads the header at `lba` (which must name itself) and its entry array,
/// checking both CRCs. `Ok(None)` when the sector has no GPT signature.
fn read_table(
    dev: &dyn ReadAt,
    ss: u32,
    lba: u64,
) -> Result<Option<(Header, Vec<PartitionInfo>)>, PartError> {
    let ss64 = u64::from(ss);
    let corrupt = |what: String| PartError::Corrupt { what };
    let Some(off) = lba
        .checked_mul(ss64)
        .filter(|o| o.checked_add(ss64).is_some_and(|e| e <= dev.size()))
    else {
        return Ok(None);
    };
    let mut sector = vec![0u8; ss as usize];
    dev.read_at(off, &mut sector)?;
    let Some(h) = Header::decode(&sector)? else {
        return Ok(None);
    };
    if h.my_lba != lba {
        return Err(corrupt(format!(
            "GPT header at LBA {lba} says MyLBA = {}",
            h.my_lba
        )));
    }
    if h.entry_size < ENTRY_SIZE as u32 || !h.entry_size.is_power_of_two() {
        return Err(corrupt(format!(
            "GPT entry size {} is invalid",
            h.entry_size
        )));
    }
    let array_bytes = u64::from(h.entry_count) * u64::from(h.entry_size);
    if array_bytes > MAX_ARRAY_BYTES {
        return Err(corrupt(format!(
            "GPT entry array of {array_bytes} bytes is too large"
        )));
    }
    let array_off = h
        .entries_lba
        .checked_mul(ss64)
        .filter(|o| o.checked_add(array_bytes).is_some_and(|e| e <= dev.size()))
        .ok_or_else(|| corrupt("GPT entry array lies outside the disk".into()))?;
    let mut array = vec![0u8; array_bytes as usize];
    dev.read_at(array_off, &mut array)?;
    if crc32(&array) != h.entries_crc {
        return Err(corrupt(format!(
            "CRC mismatch in the GPT entry array at LBA {}",
            h.entries_lba
        )));
    }
    let mut partitions = Vec::new();
    for (i, raw) in array.chunks_exact(h.entry_size as usize).enumerate() {
        let Some(e) = Entry::decode(raw) else {
            continue;
        };
        if e.type_guid.is_nil() {
            continue;
        }
        let sectors = e
            .last_lba
            .checked_sub(e.first_lba)
            .and_then(|s| s.checked_add(1))
            .ok_or_else(|| corrupt(format!("GPT entry {} ends before it starts", i + 1)))?;
        let t = PartType::Gpt(e.type_guid);
        let name = e.name_string();
        partitions.push(PartitionInfo {
            index: i + 1,
            name: (!name.is_empty()).then_some(name),
            part_type: t,
            type_name: types::type_name(t),
            start_lba: e.first_lba,
            sectors,
            offset_bytes: e.first_lba.saturating_mul(ss64),
            size_bytes: sectors.saturating_mul(ss64),
            uuid: Some(e.unique_guid),
            attributes: e.attributes,
            bootable: false,
        });
    }
    Ok(Some((h, partitions)))
}

fn info(
    ss: u32,
    h: &Header,
    partitions: Vec<PartitionInfo>,
    warnings: Vec<String>,
) -> PartitionTableInfo {
    PartitionTableInfo {
        table: PartitionTable::Gpt,
        sector_size: ss,
        disk_guid: Some(h.disk_guid),
        disk_signature: None,
        first_usable_lba: Some(h.first_usable_lba),
        last_usable_lba: Some(h.last_usable_lba),
        partitions,
        warnings,
    }
}

/// Reads the GPT assuming sector size `ss`, from the primary header at
/// LBA 1. `Ok(None)` when LBA 1 holds no GPT signature at that sector size.
/// A missing or different backup only adds a warning.
pub(super) fn read(dev: &dyn ReadAt, ss: u32) -> Result<Option<PartitionTableInfo>, PartError> {
    let Some((h, partitions)) = read_table(dev, ss, 1)? else {
        return Ok(None);
    };
    let mut warnings = Vec::new();
    let backup_ok = matches!(
        read_table(dev, ss, h.alternate_lba),
        Ok(Some((b, _))) if b.entries_crc == h.entries_crc && b.alternate_lba == 1
    );
    if !backup_ok {
        warnings.push(format!(
            "backup GPT header at LBA {} is missing or does not match the primary",
            h.alternate_lba
        ));
    }
    Ok(Some(info(ss, &h, partitions, warnings)))
}

/// Reads the backup GPT in the last sector, for when the primary is
/// damaged. The result carries a warning saying so.
pub(super) fn read_backup(
    dev: &dyn ReadAt,
    ss: u32,
) -> Result<Option<PartitionTableInfo>, PartError> {
    let last = (dev.size() / u64::from(ss)).saturating_sub(1);
    if last < 2 {
        return Ok(None);
    }
    let Some((h, partitions)) = read_table(dev, ss, last)? else {
        return Ok(None);
    };
    let warnings =
        vec!["the primary GPT at LBA 1 is missing or corrupt; this is the backup GPT".to_string()];
    Ok(Some(info(ss, &h, partitions, warnings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_crc() {
        let h = Header {
            my_lba: 1,
            alternate_lba: 2047,
            first_usable_lba: 34,
            last_usable_lba: 2014,
            disk_guid: Uuid::parse_str("01234567-89ab-cdef-0123-456789abcdef").unwrap(),
            entries_lba: 2,
            entry_count: 128,
            entry_size: 128,
            entries_crc: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(&b[0..8], b"EFI PART");
        // Mixed-endian GUID: first three fields little-endian.
        assert_eq!(&b[56..60], &[0x67, 0x45, 0x23, 0x01]);
        assert_eq!(
            &b[64..72],
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
        );
        let mut sector = vec![0u8; 512];
        sector[..92].copy_from_slice(&b);
        assert_eq!(Header::decode(&sector).unwrap(), Some(h));
        sector[30] ^= 1;
        assert!(Header::decode(&sector).is_err());
    }

    #[test]
    fn crc_is_iso_hdlc() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn hostile_headers_do_not_panic() {
        let mut sector = vec![0u8; 512];
        sector[..8].copy_from_slice(b"EFI PART");
        for size in [0u32, 91, 92, 513, u32::MAX] {
            sector[12..16].copy_from_slice(&size.to_le_bytes());
            let _ = Header::decode(&sector);
        }
        assert!(Entry::decode(&[0u8; 100]).is_none());
    }
}
