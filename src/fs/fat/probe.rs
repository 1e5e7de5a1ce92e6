//! Recognizes a FAT volume and reports its identity. Reads only the boot
//! sector and the first sectors of the root directory; never panics on
//! hostile bytes (every field is range-checked, every read bounded).

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use serde::Serialize;

use super::boot::Bpb;
use super::geometry::FatType;
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
    let bpb = Bpb::decode(&b)?;
    if !(bpb.jump == 0xeb || bpb.jump == 0xe9) {
        return None;
    }
    let layout = bpb.layout().ok()?;
    let fat32_layout = bpb.is_fat32_layout();
    let (bps, spc) = (
        u32::from(bpb.bytes_per_sector),
        u32::from(bpb.sectors_per_cluster),
    );
    let fats = u32::from(bpb.fats);
    let total = bpb.total_sectors();
    let fat_type = layout.fat_type;
    let clusters = layout.clusters;
    let volume_id = bpb.volume_id();
    let mut label = bpb.label().and_then(|l| label_text(l));

    // The root directory's volume-label entry wins, as on Windows. Look at
    // its first 16 KiB at most.
    let root_off = if fat32_layout {
        bpb.root_cluster.checked_sub(2).and_then(|c| {
            u64::from(c)
                .checked_mul(layout.cluster_bytes)?
                .checked_add(layout.data_offset)
        })
    } else {
        Some(layout.root_offset)
    };
    if let Some(off) = root_off {
        let span = if fat32_layout {
            layout.cluster_bytes
        } else {
            layout.root_bytes
        }
        .min(16 * 1024) as usize;
        let mut buf = vec![0u8; span];
        if off
            .checked_add(span as u64)
            .is_some_and(|end| end <= dev.size())
            && dev.read_at(off, &mut buf).is_ok()
        {
            for e in buf.chunks_exact(32) {
                let (first, attr) = (e.first().copied(), e.get(11).copied());
                if first == Some(0) {
                    break;
                }
                if first != Some(0xe5) && attr.is_some_and(|a| a & 0x3f == 0x08) {
                    if let Some(l) = e.get(..11).and_then(label_text) {
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
        total_bytes: u64::from(total).saturating_mul(u64::from(bps)),
    })
}
