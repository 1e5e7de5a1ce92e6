//! EROFS behind [`crate::fs::Format`]: the spec keys, the plan and the
//! writer's statistics.

use super::{ErofsOptions, ErofsPlan};
use crate::fs::{
    reject_keys, FsError, KeyProblem, Placement, VolumeContext, VolumeDescription, VolumeOptions,
    VolumePlan, VolumeStats,
};
use crate::fs::{Fit, Format};
use crate::io::{BlockDevice, ReadAt};
use crate::plan::ids;
use crate::progress::Tick;
use crate::read::{ReadError, VolumeReader};
use crate::spec::{values, FsSpec, KeyPath};
use crate::tree::Tree;

/// The EROFS format.
pub(crate) struct Erofs;

impl Format for Erofs {
    fn name(&self) -> &'static str {
        "erofs"
    }

    fn types(&self) -> &'static [&'static str] {
        &["erofs"]
    }

    fn options(
        &self,
        fs: &FsSpec,
        at: &KeyPath,
        cx: &VolumeContext,
    ) -> Result<Box<dyn VolumeOptions>, KeyProblem> {
        Ok(Box::new(ErofsVolumeOptions(options(fs, at, cx)?)))
    }

    fn probe(&self, dev: &dyn ReadAt) -> Option<serde_json::Value> {
        super::probe::probe(dev).and_then(|i| serde_json::to_value(i).ok())
    }

    fn open<'a>(&self, dev: Box<dyn ReadAt + 'a>) -> Result<Box<dyn VolumeReader + 'a>, ReadError> {
        Ok(Box::new(super::volume::ErofsVolume::open(dev)?))
    }
}

/// Maps an erofs filesystem table onto writer options.
fn options(fs: &FsSpec, at: &KeyPath, cx: &VolumeContext) -> Result<ErofsOptions, KeyProblem> {
    reject_keys(
        at,
        &[
            ("headroom", fs.headroom.is_some()),
            ("inode_size", fs.inode_size.is_some()),
            ("inodes", fs.inodes.is_some()),
            ("inode_ratio", fs.inode_ratio.is_some()),
            ("journal_size", fs.journal_size.is_some()),
            ("features", fs.features.is_some()),
            ("reserved_percent", fs.reserved_percent.is_some()),
            ("cluster_size", fs.cluster_size.is_some()),
            ("sectors_per_cluster", fs.sectors_per_cluster.is_some()),
            ("reserved_sectors", fs.reserved_sectors.is_some()),
            ("fats", fs.fats.is_some()),
            ("root_entries", fs.root_entries.is_some()),
            ("unsupported", fs.unsupported.is_some()),
            ("case_conflicts", fs.case_conflicts.is_some()),
        ],
        "is not an erofs option (EROFS is read-only and sized exactly to its tree)",
    )?;
    let lz4 = match fs.compression.as_deref() {
        None | Some("none") => false,
        Some("lz4") => true,
        Some(other) => {
            return Err((
                at.key("compression"),
                format!("{other:?}: expected \"none\" or \"lz4\""),
            ))
        }
    };
    let o = ErofsOptions {
        block_size: fs.block_size.unwrap_or(4096),
        size: values::size(&fs.size).map_err(|m| (at.key("size"), m))?,
        label: fs.label.clone().unwrap_or_default(),
        uuid: match &fs.uuid {
            Some(u) => *values::uuid(u).map_err(|m| (at.key("uuid"), m))?.as_bytes(),
            None => *ids::uuid(cx.seed, &cx.role("erofs-uuid"), cx.index).as_bytes(),
        },
        epoch: cx.epoch,
        dedupe: fs.dedupe.unwrap_or(false),
        lz4,
    };
    if o.block_size != 4096 {
        return Err((
            at.key("block_size"),
            format!(
                "{}: EROFS images are written with 4096-byte blocks",
                o.block_size
            ),
        ));
    }
    if o.label.len() > 16 {
        return Err((
            at.key("label"),
            format!("{:?} is longer than 16 bytes", o.label),
        ));
    }
    Ok(o)
}

#[derive(Debug)]
struct ErofsVolumeOptions(ErofsOptions);

impl VolumeOptions for ErofsVolumeOptions {
    fn plan(
        &self,
        tree: &Tree,
        _fit: Fit,
        _placement: Placement,
    ) -> Result<Box<dyn VolumePlan>, FsError> {
        // EROFS is sized to its tree even inside a larger partition (the
        // rest of the partition stays zero), unless `size` pins it.
        let plan = super::plan(tree, &self.0).map_err(FsError::new)?;
        Ok(Box::new(ErofsVolume(plan)))
    }
}

/// A planned EROFS volume.
#[derive(Debug)]
struct ErofsVolume(ErofsPlan);

impl VolumePlan for ErofsVolume {
    fn size(&self) -> u64 {
        self.0.geo.bytes()
    }

    fn place(&mut self, _placement: Placement) {
        // EROFS records nothing about where it sits.
    }

    fn describe(&self) -> VolumeDescription {
        let o = &self.0.opts;
        VolumeDescription {
            fs_type: "erofs",
            label: o.label.clone(),
            uuid: uuid::Uuid::from_bytes(o.uuid).to_string(),
            size: self.size(),
            geometry: serde_json::to_value(&self.0.geo).unwrap_or_default(),
            warnings: Vec::new(),
        }
    }

    fn write(
        &self,
        tree: &Tree,
        dev: &mut dyn BlockDevice,
        progress: &mut dyn FnMut(Tick),
    ) -> Result<VolumeStats, FsError> {
        let r = super::write(&self.0, tree, dev, progress).map_err(FsError::new)?;
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
