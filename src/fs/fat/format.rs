//! FAT12/16/32 behind [`crate::fs::Format`]: the spec keys, the plan and
//! the writer's statistics.

use super::{FatOptions, FatPlan, FatReport, FatType};
use crate::fs::{
    reject_keys, Fit, Format, FsError, KeyProblem, Placement, VolumeContext, VolumeDescription,
    VolumeOptions, VolumePlan, VolumeStats,
};
use crate::io::{BlockDevice, ReadAt};
use crate::plan::ids;
use crate::plan::size::Headroom;
use crate::progress::Tick;
use crate::read::{ReadError, VolumeReader};
use crate::spec::{values, FsSpec, KeyPath};
use crate::tree::{NodeKind, Tree};

/// The FAT format.
pub(crate) struct Fat;

impl Format for Fat {
    fn name(&self) -> &'static str {
        "fat"
    }

    fn types(&self) -> &'static [&'static str] {
        &["fat12", "fat16", "fat32", "fat"]
    }

    fn options(
        &self,
        fs: &FsSpec,
        at: &KeyPath,
        cx: &VolumeContext,
    ) -> Result<Box<dyn VolumeOptions>, KeyProblem> {
        let fat_type = match fs.fs_type.as_str() {
            "fat12" => Some(FatType::Fat12),
            "fat16" => Some(FatType::Fat16),
            "fat32" => Some(FatType::Fat32),
            _ => None,
        };
        reject_keys(
            at,
            &[
                ("block_size", fs.block_size.is_some()),
                ("inode_size", fs.inode_size.is_some()),
                ("inodes", fs.inodes.is_some()),
                ("inode_ratio", fs.inode_ratio.is_some()),
                ("journal_size", fs.journal_size.is_some()),
                ("features", fs.features.is_some()),
                ("reserved_percent", fs.reserved_percent.is_some()),
            ],
            "is an ext option; FAT has no such setting",
        )?;
        reject_keys(
            at,
            &[
                ("mft_record_size", fs.mft_record_size.is_some()),
                ("short_names", fs.short_names.is_some()),
            ],
            "is an NTFS option; FAT has no such setting",
        )?;
        let size = values::size(&fs.size).map_err(|m| (at.key("size"), m))?;
        let headroom = values::headroom(&fs.headroom).map_err(|m| (at.key("headroom"), m))?;
        let volume_id = match &fs.uuid {
            Some(u) => super::parse_volume_id(u).ok_or_else(|| {
                (
                    at.key("uuid"),
                    format!("{u:?} is not a FAT volume ID (expected 8 hex digits such as \"1234-ABCD\")"),
                )
            })?,
            None => ids::u32_id(cx.seed, &cx.role("fat-volume-id"), cx.index),
        };
        let o = FatOptions {
            fat_type,
            size,
            headroom_bytes: 0,
            cluster_size: fs.cluster_size,
            sectors_per_cluster: fs.sectors_per_cluster,
            reserved_sectors: fs.reserved_sectors,
            fats: fs.fats.unwrap_or(2),
            root_entries: fs.root_entries,
            label: fs.label.clone(),
            volume_id,
            hidden_sectors: 0,
            unsupported: fs.unsupported.unwrap_or_default(),
            case_conflicts: fs.case_conflicts.unwrap_or_default(),
        };
        Ok(Box::new(FatVolumeOptions { o, headroom }))
    }

    fn probe(&self, dev: &dyn ReadAt) -> Option<serde_json::Value> {
        let f = super::probe(dev)?;
        Some(serde_json::json!({
            "fs_type": match f.fat_type {
                super::FatType::Fat12 => "fat12",
                super::FatType::Fat16 => "fat16",
                super::FatType::Fat32 => "fat32",
            },
            "label": f.label.unwrap_or_default(),
            "uuid": f.volume_id.map(super::format_volume_id),
            "cluster_bytes": f.cluster_bytes,
            "clusters": f.cluster_count,
            "bytes": f.total_bytes,
        }))
    }

    fn open<'a>(&self, dev: Box<dyn ReadAt + 'a>) -> Result<Box<dyn VolumeReader + 'a>, ReadError> {
        Ok(Box::new(super::FatVolume::open(dev)?))
    }
}

/// FAT options and the headroom, which for a percentage depends on the tree.
#[derive(Debug)]
struct FatVolumeOptions {
    o: FatOptions,
    headroom: Headroom,
}

impl VolumeOptions for FatVolumeOptions {
    fn plan(
        &self,
        tree: &Tree,
        fit: Fit,
        placement: Placement,
    ) -> Result<Box<dyn VolumePlan>, FsError> {
        let mut o = self.o.clone();
        if let Fit::Exact(bytes) = fit {
            o.size = o.size.or(Some(bytes));
        }
        // A percentage of the tree's file data.
        o.headroom_bytes = self.headroom.bytes_of(tree.data_bytes());
        o.hidden_sectors = placement.hidden_sectors();
        let plan = super::plan(tree, &o).map_err(FsError::new)?;
        Ok(Box::new(FatVolumePlan(plan)))
    }
}

/// A planned FAT volume.
#[derive(Debug)]
struct FatVolumePlan(FatPlan);

impl FatVolumePlan {
    /// What the writer reports, decided by the plan alone.
    fn report(&self) -> FatReport {
        let p = &self.0;
        let g = &p.geometry;
        FatReport {
            geometry: g.clone(),
            volume_id: super::format_volume_id(p.volume_id),
            label: p
                .label
                .map(|l| String::from_utf8_lossy(&l).trim_end().to_string()),
            cluster_bytes: g.cluster_bytes(),
            used_clusters: p.used_clusters,
            free_clusters: g.cluster_count - p.used_clusters,
            skipped: p.skipped.clone(),
            renamed: p.renamed.clone(),
            hardlinks_copied: p.hardlinks.clone(),
        }
    }
}

impl VolumePlan for FatVolumePlan {
    fn size(&self) -> u64 {
        self.0.size_bytes()
    }

    fn place(&mut self, placement: Placement) {
        // Only the boot sector's hidden-sector count depends on the place;
        // the geometry was chosen without it.
        self.0.geometry.hidden_sectors = placement.hidden_sectors();
    }

    fn describe(&self) -> VolumeDescription {
        let r = self.report();
        VolumeDescription {
            fs_type: match r.geometry.fat_type {
                FatType::Fat12 => "fat12",
                FatType::Fat16 => "fat16",
                FatType::Fat32 => "fat32",
            },
            label: r.label.clone().unwrap_or_default(),
            uuid: r.volume_id.clone(),
            size: self.size(),
            geometry: serde_json::to_value(&r).unwrap_or_default(),
            warnings: Vec::new(),
        }
    }

    fn write(
        &self,
        tree: &Tree,
        dev: &mut dyn BlockDevice,
        progress: &mut dyn FnMut(Tick),
    ) -> Result<VolumeStats, FsError> {
        let r = super::write_with_progress(&self.0, tree, dev, progress).map_err(FsError::new)?;
        let data_bytes = tree.data_bytes();
        progress(Tick {
            data_done: data_bytes,
            data_total: data_bytes,
            final_below: 0,
        });
        let count =
            |f: fn(&NodeKind) -> bool| tree.nodes.iter().filter(|n| f(&n.kind)).count() as u64;
        Ok(VolumeStats {
            files: count(|k| matches!(k, NodeKind::File { .. })),
            directories: count(|k| matches!(k, NodeKind::Dir { .. })),
            symlinks: 0,
            hard_links: r.hardlinks_copied.len() as u64,
            other: 0,
            data_bytes,
            skipped: r.skipped.iter().map(to_json).collect(),
            renamed: r.renamed.iter().map(to_json).collect(),
            hardlinks_copied: r.hardlinks_copied.iter().map(to_json).collect(),
        })
    }
}

fn to_json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}
