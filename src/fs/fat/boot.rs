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
}
