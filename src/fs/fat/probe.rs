//! Recognizes a FAT volume and reports its identity. Reads only the boot
//! sector and the first sectors of the root directory; never panics on
//! hostile bytes (every field is range-checked, every read bounded).

use serde::Serialize;

use super::geometry::FatType;
use crate::bytes::{le_u16, le_u32};
use crate::io::ReadAt;

/// What `fstool info` shows about a FAT volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FatInfo {
    pub fat_type: FatType,
    /// The root directory's volume-label entry, else the boot sector's.
    pub label: Option<String>,
    pub volume_id: Option<u32>,
    pub bytes_per_sector: u32,
    pub cluster_bytes: u32,
    pub cluster_count: u32,
    pub fats: u32,
    pub total_bytes: u64,
}

fn label_text(raw: &[u8]) -> Option<String> {
    let s: String = raw
        .iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '?'
            }
        })
        .collect();
    let s = s.trim_end().to_string();
    if s.is_empty() || s == "NO NAME" {
        None
    } else {
        Some(s)
    }
}

/// Probes `dev` for a FAT volume.
pub fn probe(dev: &dyn ReadAt) -> Option<FatInfo> {
    if dev.size() < 512 {
        return None;
    }
    let mut b = [0u8; 512];
    dev.read_at(0, &mut b).ok()?;
    if b.get(510..512)? != [0x55, 0xaa] || !(b[0] == 0xeb || b[0] == 0xe9) {
        return None;
    }
    let bps = u32::from(le_u16(&b, 11)?);
    if !matches!(bps, 512 | 1024 | 2048 | 4096) {
        return None;
    }
    let spc = u32::from(b[13]);
    if spc == 0 || !spc.is_power_of_two() {
        return None;
    }
    let reserved = u32::from(le_u16(&b, 14)?);
    let fats = u32::from(b[16]);
    if reserved == 0 || fats == 0 {
        return None;
    }
    let root_entries = u32::from(le_u16(&b, 17)?);
    let tot16 = u32::from(le_u16(&b, 19)?);
    let total = if tot16 != 0 { tot16 } else { le_u32(&b, 32)? };
    let fatsz16 = u32::from(le_u16(&b, 22)?);
    let fat32_layout = fatsz16 == 0;
    let fatsz = if fat32_layout {
        le_u32(&b, 36)?
    } else {
        fatsz16
    };
    if fatsz == 0 {
        return None;
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let meta = fats
        .checked_mul(fatsz)?
        .checked_add(reserved)?
        .checked_add(root_sectors)?;
    let clusters = total.checked_sub(meta)? / spc;
    let fat_type = FatType::from_cluster_count(clusters);
    if fat32_layout != (fat_type == FatType::Fat32) {
        return None;
    }
    let ext = if fat32_layout { 64 } else { 36 };
    let (volume_id, mut label) = if matches!(b[ext + 2], 0x28 | 0x29) {
        let id = le_u32(&b, ext + 3);
        let label = if b[ext + 2] == 0x29 {
            label_text(b.get(ext + 7..ext + 18)?)
        } else {
            None
        };
        (id, label)
    } else {
        (None, None)
    };

    // The root directory's volume-label entry wins, as on Windows. Look at
    // its first 16 KiB at most.
    let root_off = if fat32_layout {
        let root_clus = le_u32(&b, 44)?;
        let first_data = u64::from(meta);
        root_clus
            .checked_sub(2)
            .map(|c| (first_data + u64::from(c) * u64::from(spc)) * u64::from(bps))
    } else {
        Some((u64::from(reserved) + u64::from(fats) * u64::from(fatsz)) * u64::from(bps))
    };
    if let Some(off) = root_off {
        let span = if fat32_layout {
            spc * bps
        } else {
            root_sectors * bps
        }
        .min(16 * 1024) as usize;
        let mut buf = vec![0u8; span];
        if off
            .checked_add(span as u64)
            .is_some_and(|end| end <= dev.size())
            && dev.read_at(off, &mut buf).is_ok()
        {
            for e in buf.chunks_exact(32) {
                if e[0] == 0 {
                    break;
                }
                if e[0] != 0xe5 && e[11] & 0x3f == 0x08 {
                    if let Some(l) = label_text(&e[..11]) {
                        label = Some(l);
                    }
                    break;
                }
            }
        }
    }

    Some(FatInfo {
        fat_type,
        label,
        volume_id,
        bytes_per_sector: bps,
        cluster_bytes: spc.checked_mul(bps)?,
        cluster_count: clusters,
        fats,
        total_bytes: u64::from(total) * u64::from(bps),
    })
}
