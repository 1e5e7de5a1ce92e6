//! The header fields `fstool diff` compares, by their spec names: the ext
//! superblock, the FAT boot sector, the NTFS boot sector, the EROFS
//! superblock and the dm-verity
//! superblock of a hash partition.

use crate::fs::erofs::superblock as erofs_sb;
use crate::fs::ext::read::superblock::{self, Superblock};
use crate::fs::fat::boot::Bpb;
use crate::io::ReadAt;
use crate::verity::superblock as verity_sb;

/// The named header fields of the filesystem on `d`: its format name and
/// (field, value) pairs.
pub(super) fn header_fields(d: &dyn ReadAt) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let mut sb = vec![0u8; superblock::SIZE];
    if d.read_at(superblock::OFFSET, &mut sb).is_ok() {
        if let Ok(s) = Superblock::decode(&sb, d.size()) {
            return Some(("ext superblock", ext_fields(&s)));
        }
    }
    let mut bs = [0u8; 512];
    d.read_at(0, &mut bs).ok()?;
    if let Some(b) = Bpb::decode(&bs).filter(|b| b.layout().is_ok()) {
        return Some(("FAT boot sector", fat_fields(&b)));
    }
    if bs.get(3..11) == Some(b"NTFS    ") {
        return Some(("NTFS boot sector", ntfs_fields(&bs)));
    }
    let mut eb = [0u8; erofs_sb::SIZE];
    if d.read_at(erofs_sb::OFFSET as u64, &mut eb).is_ok() {
        if let Some(s) = erofs_sb::Superblock::decode(&eb) {
            return Some(("EROFS superblock", erofs_fields(&s)));
        }
    }
    let v = verity_sb::Superblock::decode(&bs)?;
    Some(("dm-verity superblock", verity_fields(&v)))
}

/// The NTFS boot sector's fields (Linux-NTFS "The Boot Sector").
fn ntfs_fields(b: &[u8; 512]) -> Vec<(&'static str, String)> {
    let le = |at: usize, n: usize| -> u64 {
        let mut v = [0u8; 8];
        if let (Some(d), Some(s)) = (v.get_mut(..n), b.get(at..at.saturating_add(n))) {
            d.copy_from_slice(s);
        }
        u64::from_le_bytes(v)
    };
    vec![
        ("bytes_per_sector", le(0x0b, 2).to_string()),
        ("sectors_per_cluster", le(0x0d, 1).to_string()),
        ("total_sectors", le(0x28, 8).to_string()),
        ("mft_lcn", le(0x30, 8).to_string()),
        ("mftmirr_lcn", le(0x38, 8).to_string()),
        ("clusters_per_mft_record", format!("{:#04x}", le(0x40, 1))),
        ("clusters_per_index_block", format!("{:#04x}", le(0x44, 1))),
        ("volume_serial", format!("{:016X}", le(0x48, 8))),
    ]
}

fn erofs_fields(s: &erofs_sb::Superblock) -> Vec<(&'static str, String)> {
    vec![
        ("feature_compat", format!("{:#x}", s.feature_compat)),
        ("blkszbits", s.blkszbits.to_string()),
        ("root_nid", s.root_nid.to_string()),
        ("inos", s.inos.to_string()),
        ("build_time", s.build_time.to_string()),
        ("build_time_nsec", s.build_time_nsec.to_string()),
        ("blocks", s.blocks.to_string()),
        ("meta_blkaddr", s.meta_blkaddr.to_string()),
        ("xattr_blkaddr", s.xattr_blkaddr.to_string()),
        ("uuid", uuid::Uuid::from_bytes(s.uuid).to_string()),
        (
            "volume_name",
            String::from_utf8_lossy(&s.volume_name)
                .trim_end_matches('\0')
                .to_string(),
        ),
        ("feature_incompat", format!("{:#x}", s.feature_incompat)),
        ("checksum", format!("{:#010x}", s.checksum)),
    ]
}

fn verity_fields(v: &verity_sb::Superblock) -> Vec<(&'static str, String)> {
    vec![
        ("version", v.version.to_string()),
        ("hash_type", v.hash_type.to_string()),
        ("uuid", uuid::Uuid::from_bytes(v.uuid).to_string()),
        ("algorithm", v.algorithm.clone()),
        ("data_block_size", v.data_block_size.to_string()),
        ("hash_block_size", v.hash_block_size.to_string()),
        ("data_blocks", v.data_blocks.to_string()),
        ("salt", crate::bytes::hex(&v.salt)),
    ]
}

fn ext_fields(s: &Superblock) -> Vec<(&'static str, String)> {
    vec![
        ("s_inodes_count", s.inodes_count.to_string()),
        ("s_blocks_count", s.blocks_count.to_string()),
        ("s_free_blocks_count", s.free_blocks_count.to_string()),
        ("s_free_inodes_count", s.free_inodes_count.to_string()),
        ("s_first_data_block", s.first_data_block.to_string()),
        ("block size", s.block_size.to_string()),
        ("s_blocks_per_group", s.blocks_per_group.to_string()),
        ("s_inodes_per_group", s.inodes_per_group.to_string()),
        ("s_mtime", s.mtime.to_string()),
        ("s_wtime", s.wtime.to_string()),
        ("s_state", s.state.to_string()),
        ("s_rev_level", s.rev_level.to_string()),
        ("s_first_ino", s.first_ino.to_string()),
        ("s_inode_size", s.inode_size.to_string()),
        ("s_feature_compat", format!("{:#x}", s.feature_compat)),
        ("s_feature_incompat", format!("{:#x}", s.feature_incompat)),
        ("s_feature_ro_compat", format!("{:#x}", s.feature_ro_compat)),
        ("s_uuid", uuid::Uuid::from_bytes(s.uuid).to_string()),
        (
            "s_volume_name",
            String::from_utf8_lossy(&s.volume_name)
                .trim_end_matches('\0')
                .to_string(),
        ),
        (
            "s_hash_seed",
            uuid::Uuid::from_bytes(s.hash_seed).to_string(),
        ),
        ("s_def_hash_version", s.def_hash_version.to_string()),
        ("s_desc_size", s.desc_size.to_string()),
        ("s_mkfs_time", s.mkfs_time.to_string()),
        ("s_kbytes_written", s.kbytes_written.to_string()),
        ("s_checksum", format!("{:#010x}", s.checksum)),
    ]
}

fn fat_fields(b: &Bpb) -> Vec<(&'static str, String)> {
    vec![
        (
            "BS_OEMName",
            String::from_utf8_lossy(&b.oem_name).into_owned(),
        ),
        ("BPB_BytsPerSec", b.bytes_per_sector.to_string()),
        ("BPB_SecPerClus", b.sectors_per_cluster.to_string()),
        ("BPB_RsvdSecCnt", b.reserved_sectors.to_string()),
        ("BPB_NumFATs", b.fats.to_string()),
        ("BPB_RootEntCnt", b.root_entries.to_string()),
        ("BPB_TotSec16", b.total_sectors_16.to_string()),
        ("BPB_Media", format!("{:#04x}", b.media)),
        ("BPB_FATSz16", b.fat_size_16.to_string()),
        ("BPB_SecPerTrk", b.sectors_per_track.to_string()),
        ("BPB_NumHeads", b.heads.to_string()),
        ("BPB_HiddSec", b.hidden_sectors.to_string()),
        ("BPB_TotSec32", b.total_sectors_32.to_string()),
        ("BPB_FATSz32", b.fat_size_32.to_string()),
        ("BPB_RootClus", b.root_cluster.to_string()),
        ("BS_BootSig", format!("{:#04x}", b.boot_signature)),
        ("BS_VolID", format!("{:08X}", b.volume_id)),
        ("BS_VolLab", String::from_utf8_lossy(&b.label).into_owned()),
        (
            "BS_FilSysType",
            String::from_utf8_lossy(&b.fs_type).into_owned(),
        ),
    ]
}
