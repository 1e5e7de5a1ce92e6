//! ext2/3/4 behind [`crate::fs::Format`]: the spec keys, the plan and the
//! writer's statistics.

use super::{ExtError, ExtKind, ExtOptions, ExtPlan, InodePolicy};
use crate::fs::{
    reject_keys, FsError, KeyProblem, Placement, VolumeContext, VolumeDescription, VolumeOptions,
    VolumePlan, VolumeStats,
};
use crate::fs::{Fit, Format};
use crate::io::{BlockDevice, ReadAt};
use crate::plan::ids;
use crate::progress::Tick;
use crate::read::{ReadError, VolumeReader};
use crate::spec::{values, CountSpec, FsSpec, KeyPath};
use crate::tree::Tree;

/// The ext format.
pub(crate) struct Ext;

impl Format for Ext {
    fn name(&self) -> &'static str {
        "ext"
    }

    fn types(&self) -> &'static [&'static str] {
        &["ext2", "ext3", "ext4"]
    }

    fn options(
        &self,
        fs: &FsSpec,
        at: &KeyPath,
        cx: &VolumeContext,
    ) -> Result<Box<dyn VolumeOptions>, KeyProblem> {
        let default_inodes = fs.inodes.is_none() && fs.inode_ratio.is_none();
        let o = options(fs, at, cx)?;
        Ok(Box::new(ExtVolumeOptions { o, default_inodes }))
    }

    fn probe(&self, dev: &dyn ReadAt) -> Option<serde_json::Value> {
        super::probe::probe(dev).and_then(|i| serde_json::to_value(i).ok())
    }

    fn open<'a>(&self, dev: Box<dyn ReadAt + 'a>) -> Result<Box<dyn VolumeReader + 'a>, ReadError> {
        Ok(Box::new(super::read::ExtVolume::open(dev)?))
    }
}

/// Maps an ext filesystem table onto writer options. The size is left
/// `None`; the plan's [`Fit`] decides it.
fn options(fs: &FsSpec, at: &KeyPath, cx: &VolumeContext) -> Result<ExtOptions, KeyProblem> {
    let kind = match fs.fs_type.as_str() {
        "ext2" => ExtKind::Ext2,
        "ext3" => ExtKind::Ext3,
        _ => ExtKind::Ext4,
    };
    reject_keys(
        at,
        &[
            ("cluster_size", fs.cluster_size.is_some()),
            ("sectors_per_cluster", fs.sectors_per_cluster.is_some()),
            ("reserved_sectors", fs.reserved_sectors.is_some()),
            ("fats", fs.fats.is_some()),
            ("root_entries", fs.root_entries.is_some()),
            ("unsupported", fs.unsupported.is_some()),
            ("case_conflicts", fs.case_conflicts.is_some()),
        ],
        "is a FAT option; ext has no such setting",
    )?;
    reject_keys(
        at,
        &[
            ("mft_record_size", fs.mft_record_size.is_some()),
            ("short_names", fs.short_names.is_some()),
        ],
        "is an NTFS option; ext has no such setting",
    )?;
    let mut o = ExtOptions::new(kind);
    o.size = values::size(&fs.size).map_err(|m| (at.key("size"), m))?;
    o.headroom = values::headroom(&fs.headroom).map_err(|m| (at.key("headroom"), m))?;
    if let Some(b) = fs.block_size {
        o.block_size = b;
    }
    if let Some(i) = fs.inode_size {
        o.inode_size = i;
    }
    o.inodes = match (&fs.inodes, fs.inode_ratio) {
        (Some(CountSpec::Count(n)), _) => InodePolicy::Fixed(*n),
        (Some(CountSpec::Text(t)), _) if t == "auto" => InodePolicy::Auto,
        (Some(CountSpec::Text(t)), _) => {
            return Err((
                at.key("inodes"),
                format!("{t:?}: expected an inode count or \"auto\""),
            ))
        }
        (None, Some(r)) if r >= 1024 => InodePolicy::Ratio(r),
        (None, Some(r)) => {
            return Err((
                at.key("inode_ratio"),
                format!("{r} is below 1024 bytes per inode"),
            ))
        }
        // Decided by the fit: a ratio for a given size, else auto.
        (None, None) => InodePolicy::Auto,
    };
    o.journal_size = values::size(&fs.journal_size).map_err(|m| (at.key("journal_size"), m))?;
    if let Some(list) = &fs.features {
        o.features = o
            .features
            .apply(list)
            .map_err(|e| (at.key("features"), e.to_string()))?;
    }
    if o.journal_size.is_some() && !o.features.journal() {
        return Err((
            at.key("journal_size"),
            "set, but the filesystem has no journal (ext2, or ^has_journal)".into(),
        ));
    }
    o.label = fs.label.clone().unwrap_or_default();
    o.uuid = match &fs.uuid {
        Some(u) => *values::uuid(u).map_err(|m| (at.key("uuid"), m))?.as_bytes(),
        None => *ids::uuid(cx.seed, &cx.role("ext-uuid"), cx.index).as_bytes(),
    };
    o.hash_seed = *ids::uuid(cx.seed, &cx.role("ext-hash-seed"), cx.index).as_bytes();
    if let Some(p) = fs.reserved_percent {
        o.reserved_percent = p;
    }
    o.epoch = cx.epoch;
    Ok(o)
}

/// ext options, and whether the inode count is left to the default (which
/// depends on the fit).
#[derive(Debug)]
struct ExtVolumeOptions {
    o: ExtOptions,
    default_inodes: bool,
}

impl VolumeOptions for ExtVolumeOptions {
    fn prepare(&self, tree: &mut Tree) -> Result<(), FsError> {
        super::prepare_tree(tree).map_err(FsError::new)
    }

    fn plan(
        &self,
        tree: &Tree,
        fit: Fit,
        _placement: Placement,
    ) -> Result<Box<dyn VolumePlan>, FsError> {
        let mut o = self.o.clone();
        if let Fit::Exact(bytes) = fit {
            o.size = o.size.or(Some(bytes));
        }
        // mke2fs's default ratio for a given size; auto sizes count inodes
        // from the tree.
        if o.size.is_some() && self.default_inodes {
            o.inodes = InodePolicy::SizedDefault;
        }
        let plan = super::plan(tree, &o).map_err(FsError::new)?;
        Ok(Box::new(ExtVolumePlan(plan)))
    }
}

/// A planned ext volume.
#[derive(Debug)]
struct ExtVolumePlan(ExtPlan);

impl VolumePlan for ExtVolumePlan {
    fn size(&self) -> u64 {
        self.0.device_bytes()
    }

    fn place(&mut self, _placement: Placement) {
        // ext records nothing about where it sits.
    }

    fn describe(&self) -> VolumeDescription {
        let o = &self.0.opts;
        VolumeDescription {
            fs_type: o.kind.name(),
            label: o.label.clone(),
            uuid: uuid::Uuid::from_bytes(o.uuid).to_string(),
            size: self.size(),
            geometry: serde_json::to_value(&self.0.geo).unwrap_or_default(),
            warnings: page_size_warning(o.block_size).into_iter().collect(),
        }
    }

    fn write(
        &self,
        tree: &Tree,
        dev: &mut dyn BlockDevice,
        progress: &mut dyn FnMut(Tick),
    ) -> Result<VolumeStats, FsError> {
        let r =
            super::write(&self.0, tree, dev, progress).map_err(|e: ExtError| FsError::new(e))?;
        Ok(VolumeStats {
            files: r.files,
            directories: r.directories,
            symlinks: r.symlinks,
            hard_links: r.hard_links,
            other: r.other,
            data_bytes: r.data_bytes,
            skipped: Vec::new(),
            renamed: Vec::new(),
            hardlinks_copied: Vec::new(),
        })
    }
}

/// Linux mounts an ext filesystem only when its block size is at most the
/// page size: 4096 on x86-64 (and on most arm64 kernels). mke2fs warns for
/// the same sizes; the image is valid and stays buildable for the systems
/// with larger pages.
fn page_size_warning(block_size: u32) -> Option<String> {
    (block_size > 4096).then(|| {
        format!(
            "block_size = {block_size}: Linux mounts ext only when the block size is at most \
             the page size, 4096 bytes on x86-64; this filesystem needs a kernel with \
             {block_size}-byte pages"
        )
    })
}
