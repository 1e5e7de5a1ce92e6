//! NTFS behind [`crate::fs::Format`]: the spec keys, the plan and the
//! writer's statistics.

use super::{NtfsOptions, NtfsPlan};
use crate::fs::{
    reject_keys, Fit, Format, FsError, KeyProblem, Placement, VolumeContext, VolumeDescription,
    VolumeOptions, VolumePlan, VolumeStats,
};
use crate::io::{BlockDevice, ReadAt};
use crate::plan::ids;
use crate::plan::size::Headroom;
use crate::progress::Tick;
use crate::spec::{values, FsSpec, KeyPath};
use crate::tree::{NodeKind, Tree};

/// The NTFS format.
pub(crate) struct Ntfs;

/// Parses a pinned serial: 16 hex digits, dashes allowed anywhere.
pub fn parse_serial(s: &str) -> Option<u64> {
    let hex: String = s.chars().filter(|&c| c != '-').collect();
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&hex, 16).ok()
}

impl Format for Ntfs {
    fn name(&self) -> &'static str {
        "ntfs"
    }

    fn types(&self) -> &'static [&'static str] {
        &["ntfs"]
    }

    fn options(
        &self,
        fs: &FsSpec,
        at: &KeyPath,
        cx: &VolumeContext,
    ) -> Result<Box<dyn VolumeOptions>, KeyProblem> {
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
            "is an ext option; NTFS has no such setting",
        )?;
        reject_keys(
            at,
            &[
                ("sectors_per_cluster", fs.sectors_per_cluster.is_some()),
                ("reserved_sectors", fs.reserved_sectors.is_some()),
                ("fats", fs.fats.is_some()),
                ("root_entries", fs.root_entries.is_some()),
                ("case_conflicts", fs.case_conflicts.is_some()),
            ],
            "is a FAT option; NTFS has no such setting",
        )?;
        if fs.short_names == Some(true) {
            return Err((
                at.key("short_names"),
                "DOS 8.3 short names are not implemented: NTFS volumes carry long (Win32 or POSIX) names only, which Windows and Linux read; leave `short_names` unset or false".into(),
            ));
        }
        let size = values::size(&fs.size).map_err(|m| (at.key("size"), m))?;
        let headroom = values::headroom(&fs.headroom).map_err(|m| (at.key("headroom"), m))?;
        let serial = match &fs.uuid {
            Some(u) => parse_serial(u).ok_or_else(|| {
                (
                    at.key("uuid"),
                    format!("{u:?} is not an NTFS serial number (expected 16 hex digits such as \"0123456789ABCDEF\")"),
                )
            })?,
            None => ids::u64_id(cx.seed, &cx.role("ntfs-serial"), cx.index),
        };
        let d = NtfsOptions::default();
        let o = NtfsOptions {
            size,
            headroom_bytes: 0,
            cluster_size: fs.cluster_size.unwrap_or(d.cluster_size),
            mft_record_size: fs.mft_record_size.unwrap_or(d.mft_record_size),
            label: fs.label.clone().unwrap_or_default(),
            serial,
            hidden_sectors: 0,
            sparse: fs.sparse,
            unsupported: fs.unsupported.unwrap_or_default(),
        };
        // Option values are checked here, so that `validate` names the key.
        super::layout::check_options(&o).map_err(|e| match e {
            super::NtfsError::Option { field, .. } => (at.key(field), e.to_string()),
            e => (at.clone(), e.to_string()),
        })?;
        Ok(Box::new(NtfsVolumeOptions { o, headroom }))
    }

    fn probe(&self, dev: &dyn ReadAt) -> Option<serde_json::Value> {
        let n = super::probe::probe(dev)?;
        Some(serde_json::json!({
            "fs_type": "ntfs",
            "label": n.label.unwrap_or_default(),
            "uuid": n.serial,
            "cluster_bytes": n.cluster_bytes,
            "mft_record_bytes": n.mft_record_bytes,
            "bytes": n.total_bytes,
        }))
    }

    fn open<'a>(
        &self,
        dev: Box<dyn ReadAt + 'a>,
    ) -> Result<Box<dyn crate::read::VolumeReader + 'a>, crate::read::ReadError> {
        Ok(Box::new(super::read::NtfsVolume::open(dev)?))
    }
}

/// NTFS options and the headroom, which for a percentage depends on the tree.
#[derive(Debug)]
struct NtfsVolumeOptions {
    o: NtfsOptions,
    headroom: Headroom,
}

impl VolumeOptions for NtfsVolumeOptions {
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
        Ok(Box::new(NtfsVolumePlan(plan)))
    }
}

/// A planned NTFS volume.
#[derive(Debug)]
struct NtfsVolumePlan(NtfsPlan);

impl VolumePlan for NtfsVolumePlan {
    fn size(&self) -> u64 {
        self.0.size_bytes()
    }

    fn place(&mut self, placement: Placement) {
        // Only the boot sector's hidden-sector count depends on the place.
        self.0.opts.hidden_sectors = placement.hidden_sectors();
    }

    fn describe(&self) -> VolumeDescription {
        let r = self.0.report();
        VolumeDescription {
            fs_type: "ntfs",
            label: r.label.clone(),
            uuid: r.serial.clone(),
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
        let r = super::write::write_with_progress(&self.0, tree, dev, progress)
            .map_err(FsError::new)?;
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
            symlinks: count(|k| matches!(k, NodeKind::Symlink { .. })),
            hard_links: count(|k| matches!(k, NodeKind::HardLink { .. })),
            other: 0,
            data_bytes,
            skipped: r
                .skipped
                .iter()
                .map(|s| serde_json::to_value(s).unwrap_or_default())
                .collect(),
            renamed: Vec::new(),
            hardlinks_copied: Vec::new(),
        })
    }
}
