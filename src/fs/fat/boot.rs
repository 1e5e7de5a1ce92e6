//! The boot sector with its BIOS parameter block, and the FAT32 FSInfo
//! sector (Microsoft FAT specification, "Boot Sector and BPB" and "FAT32
//! FSInfo Sector Structure"). Offsets in comments are the spec's.

use super::geometry::{FatType, Geometry};

/// Signature at offset 510 of a boot sector and of FSInfo.
const SIG_55AA: [u8; 2] = [0x55, 0xaa];

fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Encodes the boot sector (512 bytes).
pub fn boot_sector(g: &Geometry, volume_id: u32, label: &[u8; 11]) -> [u8; 512] {
    let mut b = [0u8; 512];
    let fat32 = g.fat_type == FatType::Fat32;
    // BS_jmpBoot (0): a short jump over the BPB to the stub below.
    let stub = if fat32 { 0x5a } else { 0x3e };
    b[0] = 0xeb;
    b[1] = (stub - 2) as u8;
    b[2] = 0x90;
    // Boot stub: INT 18h ("no bootable disk, try the next device"), then
    // halt forever. The volume is not bootable by design.
    b[stub..stub + 5].copy_from_slice(&[0xcd, 0x18, 0xf4, 0xeb, 0xfd]);
    // BS_OEMName (3): the value the spec recommends for compatibility.
    b[3..11].copy_from_slice(b"MSWIN4.1");
    put16(&mut b, 11, g.bytes_per_sector as u16); // BPB_BytsPerSec
    b[13] = g.sectors_per_cluster as u8; // BPB_SecPerClus
    put16(&mut b, 14, g.reserved_sectors as u16); // BPB_RsvdSecCnt
    b[16] = g.fats as u8; // BPB_NumFATs
    put16(&mut b, 17, g.root_entries as u16); // BPB_RootEntCnt
                                              // BPB_TotSec16 (19) when it fits and the volume is not FAT32, else
                                              // BPB_TotSec32 (32).
    if !fat32 && g.total_sectors < 0x10000 {
        put16(&mut b, 19, g.total_sectors as u16);
    } else {
        put32(&mut b, 32, g.total_sectors);
    }
    b[21] = g.media; // BPB_Media
    if !fat32 {
        put16(&mut b, 22, g.fat_sectors as u16); // BPB_FATSz16
    }
    put16(&mut b, 24, g.sectors_per_track); // BPB_SecPerTrk
    put16(&mut b, 26, g.heads); // BPB_NumHeads
    put32(&mut b, 28, g.hidden_sectors); // BPB_HiddSec
    let ext = if fat32 {
        put32(&mut b, 36, g.fat_sectors); // BPB_FATSz32
                                          // BPB_ExtFlags (40) = 0: all FATs mirrored; BPB_FSVer (42) = 0.
        put32(&mut b, 44, 2); // BPB_RootClus: the root is the first chain.
        put16(&mut b, 48, 1); // BPB_FSInfo
        put16(&mut b, 50, 6); // BPB_BkBootSec
        64
    } else {
        36
    };
    // BS_DrvNum, BS_Reserved1, BS_BootSig, BS_VolID, BS_VolLab, BS_FilSysType.
    b[ext] = if g.media == 0xf8 { 0x80 } else { 0x00 };
    b[ext + 2] = 0x29;
    put32(&mut b, ext + 3, volume_id);
    b[ext + 7..ext + 18].copy_from_slice(label);
    let fs_type: &[u8; 8] = match g.fat_type {
        FatType::Fat12 => b"FAT12   ",
        FatType::Fat16 => b"FAT16   ",
        FatType::Fat32 => b"FAT32   ",
    };
    b[ext + 18..ext + 26].copy_from_slice(fs_type);
    b[510..512].copy_from_slice(&SIG_55AA);
    b
}

/// The BIOS parameter block and extended boot record as stored: the one
/// decoder every FAT reader and prober uses. Fields are in spec order with
/// their byte offsets; FAT32-only fields are zero on FAT12/16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bpb {
    /// BS_jmpBoot (0), first byte: 0xEB or 0xE9 on any real volume.
    pub jump: u8,
    /// BS_OEMName (3).
    pub oem_name: [u8; 8],
    /// BPB_BytsPerSec (11).
    pub bytes_per_sector: u16,
    /// BPB_SecPerClus (13).
    pub sectors_per_cluster: u8,
    /// BPB_RsvdSecCnt (14).
    pub reserved_sectors: u16,
    /// BPB_NumFATs (16).
    pub fats: u8,
    /// BPB_RootEntCnt (17).
    pub root_entries: u16,
    /// BPB_TotSec16 (19).
    pub total_sectors_16: u16,
    /// BPB_Media (21).
    pub media: u8,
    /// BPB_FATSz16 (22); zero means the FAT32 layout.
    pub fat_size_16: u16,
    /// BPB_SecPerTrk (24).
    pub sectors_per_track: u16,
    /// BPB_NumHeads (26).
    pub heads: u16,
    /// BPB_HiddSec (28).
    pub hidden_sectors: u32,
    /// BPB_TotSec32 (32).
    pub total_sectors_32: u32,
    /// BPB_FATSz32 (36, FAT32).
    pub fat_size_32: u32,
    /// BPB_ExtFlags (40, FAT32).
    pub ext_flags: u16,
    /// BPB_FSVer (42, FAT32).
    pub fs_version: u16,
    /// BPB_RootClus (44, FAT32).
    pub root_cluster: u32,
    /// BPB_FSInfo (48, FAT32).
    pub fs_info_sector: u16,
    /// BPB_BkBootSec (50, FAT32).
    pub backup_boot_sector: u16,
    /// BS_DrvNum (36, or 64 on FAT32).
    pub drive_number: u8,
    /// BS_BootSig (38 / 66): 0x29 when the next three fields are valid,
    /// 0x28 when only the volume ID is.
    pub boot_signature: u8,
    /// BS_VolID (39 / 67).
    pub volume_id: u32,
    /// BS_VolLab (43 / 71).
    pub label: [u8; 11],
    /// BS_FilSysType (54 / 82).
    pub fs_type: [u8; 8],
    /// The signature at 510: must be 55 AA.
    pub signature: [u8; 2],
}

impl Bpb {
    /// Decodes the first 512 bytes of a volume; `None` when `b` is shorter.
    /// No field is judged here; see [`Bpb::layout`].
    pub fn decode(b: &[u8]) -> Option<Bpb> {
        use crate::bytes::{array, le_u16, le_u32, u8_at};
        if b.len() < 512 {
            return None;
        }
        let fat32 = le_u16(b, 22)? == 0;
        let ext = if fat32 { 64 } else { 36 };
        let f32 = |at: usize| if fat32 { le_u32(b, at) } else { Some(0) };
        let f16 = |at: usize| if fat32 { le_u16(b, at) } else { Some(0) };
        Some(Bpb {
            jump: u8_at(b, 0)?,
            oem_name: array(b, 3)?,
            bytes_per_sector: le_u16(b, 11)?,
            sectors_per_cluster: u8_at(b, 13)?,
            reserved_sectors: le_u16(b, 14)?,
            fats: u8_at(b, 16)?,
            root_entries: le_u16(b, 17)?,
            total_sectors_16: le_u16(b, 19)?,
            media: u8_at(b, 21)?,
            fat_size_16: le_u16(b, 22)?,
            sectors_per_track: le_u16(b, 24)?,
            heads: le_u16(b, 26)?,
            hidden_sectors: le_u32(b, 28)?,
            total_sectors_32: le_u32(b, 32)?,
            fat_size_32: f32(36)?,
            ext_flags: f16(40)?,
            fs_version: f16(42)?,
            root_cluster: f32(44)?,
            fs_info_sector: f16(48)?,
            backup_boot_sector: f16(50)?,
            drive_number: u8_at(b, ext)?,
            boot_signature: u8_at(b, ext + 2)?,
            volume_id: le_u32(b, ext + 3)?,
            label: array(b, ext + 7)?,
            fs_type: array(b, ext + 18)?,
            signature: array(b, 510)?,
        })
    }

    /// True for the FAT32 layout (BPB_FATSz16 = 0).
    pub fn is_fat32_layout(&self) -> bool {
        self.fat_size_16 == 0
    }

    /// BPB_TotSec16, or BPB_TotSec32 when that is zero.
    pub fn total_sectors(&self) -> u32 {
        if self.total_sectors_16 != 0 {
            u32::from(self.total_sectors_16)
        } else {
            self.total_sectors_32
        }
    }

    /// Sectors per FAT: BPB_FATSz16, or BPB_FATSz32 on FAT32.
    pub fn fat_sectors(&self) -> u32 {
        if self.is_fat32_layout() {
            self.fat_size_32
        } else {
            u32::from(self.fat_size_16)
        }
    }

    /// The volume ID, when the extended boot signature says it is there.
    pub fn volume_id(&self) -> Option<u32> {
        matches!(self.boot_signature, 0x28 | 0x29).then_some(self.volume_id)
    }

    /// The volume label field, when the extended boot signature is 0x29.
    pub fn label(&self) -> Option<&[u8; 11]> {
        (self.boot_signature == 0x29).then_some(&self.label)
    }

    /// Checks the fields every reader relies on and derives the layout
    /// (all arithmetic checked). `Err` names the first bad field.
    pub fn layout(&self) -> Result<Layout, &'static str> {
        if self.signature != SIG_55AA {
            return Err("boot sector signature");
        }
        let bps = u64::from(self.bytes_per_sector);
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err("BPB_BytsPerSec");
        }
        let spc = u64::from(self.sectors_per_cluster);
        if spc == 0 || !spc.is_power_of_two() {
            return Err("BPB_SecPerClus");
        }
        let reserved = u64::from(self.reserved_sectors);
        if reserved == 0 {
            return Err("BPB_RsvdSecCnt");
        }
        let fats = u64::from(self.fats);
        if fats == 0 {
            return Err("BPB_NumFATs");
        }
        let fatsz = u64::from(self.fat_sectors());
        if fatsz == 0 {
            return Err("BPB_FATSz");
        }
        let total = u64::from(self.total_sectors());
        // Every value below is at most 2^32 * 2^8 * 2^16, far from overflow.
        let root_sectors = (u64::from(self.root_entries) * 32).div_ceil(bps);
        let root_start = reserved + fats * fatsz;
        let data_start = root_start + root_sectors;
        let clusters = total
            .checked_sub(data_start)
            .ok_or("BPB_TotSec (smaller than the metadata)")?
            / spc;
        let clusters = u32::try_from(clusters).map_err(|_| "BPB_TotSec")?;
        let fat_type = FatType::from_cluster_count(clusters);
        if self.is_fat32_layout() != (fat_type == FatType::Fat32) {
            return Err("BPB_FATSz16 (layout disagrees with the cluster count)");
        }
        Ok(Layout {
            fat_type,
            bytes_per_sector: bps,
            cluster_bytes: spc * bps,
            fats,
            fat_offset: reserved * bps,
            fat_bytes: fatsz * bps,
            root_offset: root_start * bps,
            root_bytes: root_sectors * bps,
            root_cluster: if self.is_fat32_layout() {
                self.root_cluster
            } else {
                0
            },
            data_offset: data_start * bps,
            clusters,
            total_bytes: total * bps,
        })
    }
}

/// Where a FAT volume's regions lie, in bytes from its start, derived from
/// a checked [`Bpb`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub fat_type: FatType,
    pub bytes_per_sector: u64,
    pub cluster_bytes: u64,
    pub fats: u64,
    /// The first FAT.
    pub fat_offset: u64,
    /// Bytes of one FAT.
    pub fat_bytes: u64,
    /// The fixed root directory (FAT12/16); on FAT32 where it would be.
    pub root_offset: u64,
    pub root_bytes: u64,
    /// First cluster of the root directory (FAT32), else 0.
    pub root_cluster: u32,
    /// Cluster 2.
    pub data_offset: u64,
    /// Data clusters (numbered 2 ..= clusters + 1).
    pub clusters: u32,
    pub total_bytes: u64,
}

/// Encodes the FAT32 FSInfo sector.
pub fn fsinfo(free_clusters: u32, next_free: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    put32(&mut b, 0, 0x4161_5252); // FSI_LeadSig
    put32(&mut b, 484, 0x6141_7272); // FSI_StrucSig
    put32(&mut b, 488, free_clusters); // FSI_Free_Count
    put32(&mut b, 492, next_free); // FSI_Nxt_Free
    put32(&mut b, 508, 0xaa55_0000); // FSI_TrailSig
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::fat::geometry::{choose, Choices};

    #[test]
    fn fat32_fields_at_spec_offsets() {
        let g = choose(
            600 << 11,
            &Choices {
                fats: 2,
                ..Choices::default()
            },
        )
        .unwrap();
        let b = boot_sector(&g, 0x1234_5678, b"LABEL      ");
        assert_eq!(&b[0..3], &[0xeb, 0x58, 0x90]);
        assert_eq!(u16::from_le_bytes([b[11], b[12]]), 512);
        assert_eq!(u16::from_le_bytes([b[19], b[20]]), 0);
        assert_eq!(u16::from_le_bytes([b[22], b[23]]), 0);
        assert_eq!(u32::from_le_bytes([b[32], b[33], b[34], b[35]]), 600 << 11);
        assert_eq!(u32::from_le_bytes([b[44], b[45], b[46], b[47]]), 2);
        assert_eq!(b[66], 0x29);
        assert_eq!(
            u32::from_le_bytes([b[67], b[68], b[69], b[70]]),
            0x1234_5678
        );
        assert_eq!(&b[71..82], b"LABEL      ");
        assert_eq!(&b[82..90], b"FAT32   ");
        assert_eq!(&b[510..], &[0x55, 0xaa]);
        let fi = fsinfo(7, 9);
        assert_eq!(&fi[508..], &[0, 0, 0x55, 0xaa]);
    }

    #[test]
    fn decode_reads_what_encode_wrote() {
        for (sectors, fat32) in [(600u32 << 11, true), (8192, false)] {
            let g = choose(
                sectors,
                &Choices {
                    fats: 2,
                    ..Choices::default()
                },
            )
            .unwrap();
            let b = boot_sector(&g, 0x1234_5678, b"LABEL      ");
            let d = Bpb::decode(&b).unwrap();
            assert_eq!(d.jump, 0xeb);
            assert_eq!(&d.oem_name, b"MSWIN4.1");
            assert_eq!(u32::from(d.bytes_per_sector), g.bytes_per_sector);
            assert_eq!(u32::from(d.sectors_per_cluster), g.sectors_per_cluster);
            assert_eq!(u32::from(d.reserved_sectors), g.reserved_sectors);
            assert_eq!(u32::from(d.fats), g.fats);
            assert_eq!(u32::from(d.root_entries), g.root_entries);
            assert_eq!(d.total_sectors(), g.total_sectors);
            assert_eq!(d.media, g.media);
            assert_eq!(d.fat_sectors(), g.fat_sectors);
            assert_eq!(d.hidden_sectors, g.hidden_sectors);
            assert_eq!(d.is_fat32_layout(), fat32);
            assert_eq!(d.root_cluster, if fat32 { 2 } else { 0 });
            assert_eq!(d.volume_id(), Some(0x1234_5678));
            assert_eq!(d.label(), Some(b"LABEL      "));
            let l = d.layout().unwrap();
            assert_eq!(l.fat_type, g.fat_type);
            assert_eq!(l.data_offset, g.cluster_offset(2));
            assert_eq!(l.fat_offset, g.fat_offset(0));
        }
        let g = choose(
            8192,
            &Choices {
                fats: 2,
                ..Choices::default()
            },
        )
        .unwrap();
        let mut bad = boot_sector(&g, 1, b"           ");
        bad[13] = 3;
        assert_eq!(Bpb::decode(&bad).unwrap().layout(), Err("BPB_SecPerClus"));
        assert!(Bpb::decode(&bad[..511]).is_none());
    }
}
