//! The build pipeline: spec → tree → plan → writers → sink, and the report.

use crate::fs::ext::{self, ExtKind, ExtOptions, Headroom, InodePolicy};
use crate::io::{AtomicOutput, BlockDevice, IoError, SparseFile};
use crate::plan::{ids, size};
use crate::spec::{self, CountSpec, FsSpec, FsType, HeadroomSpec, SizeSpec, Spec};
use crate::tree::resolve::{self, ResolveCtx};
use crate::tree::Tree;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a build failed. Every variant says what and where; nothing is left
/// at the output path.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error(transparent)]
    Tree(#[from] resolve::TreeError),
    #[error("{context}: {source}")]
    Ext {
        context: String,
        #[source]
        source: ext::ExtError,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Options of one build besides the spec.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    /// Relative paths in the spec resolve against this directory.
    pub base_dir: PathBuf,
    /// Show a progress bar (the CLI decides: a TTY, not `--quiet`).
    pub progress: bool,
}

/// The JSON report of a build (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub output: String,
    pub sha256: String,
    pub size: u64,
    pub seed: String,
    pub source_date_epoch: i64,
    pub filesystems: Vec<FsReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    #[serde(rename = "type")]
    pub fs_type: &'static str,
    pub label: String,
    pub uuid: String,
    pub offset: u64,
    pub size: u64,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub other: u64,
    pub data_bytes: u64,
    pub geometry: serde_json::Value,
}

impl Report {
    /// One-line human summary.
    pub fn summary(&self) -> String {
        let fs: Vec<String> = self
            .filesystems
            .iter()
            .map(|f| {
                format!(
                    "{} {} ({} files, {} dirs, {} of data)",
                    f.fs_type,
                    size::human(f.size),
                    f.files,
                    f.directories,
                    size::human(f.data_bytes)
                )
            })
            .collect();
        format!(
            "{}: {}, {}",
            self.output,
            size::human(self.size),
            fs.join("; ")
        )
    }
}

/// `source_date_epoch` from the spec, else `$SOURCE_DATE_EPOCH`, else 0.
pub fn epoch_of(spec: &Spec) -> Result<i64, BuildError> {
    Ok(spec::epoch(spec)?)
}

fn size_of(key: &str, s: &Option<SizeSpec>) -> Result<Option<u64>, BuildError> {
    match s {
        None => Ok(None),
        Some(SizeSpec::Bytes(b)) => Ok(Some(*b)),
        Some(SizeSpec::Text(t)) if t == "auto" => Ok(None),
        Some(SizeSpec::Text(t)) => size::parse_size(t).map(Some).map_err(|m| invalid(key, m)),
    }
}

fn headroom_of(key: &str, h: &Option<HeadroomSpec>) -> Result<Headroom, BuildError> {
    match h {
        None => Ok(Headroom::None),
        Some(HeadroomSpec::Bytes(b)) => Ok(Headroom::Bytes(*b)),
        Some(HeadroomSpec::Text(t)) => {
            if let Some(p) = t.trim().strip_suffix('%') {
                let v: f64 = p
                    .trim()
                    .parse()
                    .map_err(|_| invalid(key, format!("{t:?} is not a percentage")))?;
                if !(0.0..=1000.0).contains(&v) {
                    return Err(invalid(key, format!("{t:?} is outside 0%..1000%")));
                }
                Ok(Headroom::Percent(v))
            } else {
                size::parse_size(t)
                    .map(Headroom::Bytes)
                    .map_err(|m| invalid(key, m))
            }
        }
    }
}

fn parse_uuid(key: &str, s: &str) -> Result<[u8; 16], BuildError> {
    uuid::Uuid::parse_str(s)
        .map(|u| *u.as_bytes())
        .map_err(|e| invalid(key, format!("{s:?} is not a UUID: {e}")))
}

/// Maps an ext `[filesystem]` table onto writer options. `index` separates
/// the IDs of several filesystems in one disk.
pub fn ext_options(
    fs: &FsSpec,
    key: &str,
    seed: &str,
    epoch: i64,
    index: u64,
    fill: Option<u64>,
) -> Result<ExtOptions, BuildError> {
    let kind = match fs.fs_type {
        FsType::Ext2 => ExtKind::Ext2,
        FsType::Ext3 => ExtKind::Ext3,
        FsType::Ext4 => ExtKind::Ext4,
        other => {
            return Err(invalid(
                format!("{key}.type"),
                format!("{} is not an ext type", other.name()),
            ))
        }
    };
    let mut o = ExtOptions::new(kind);
    o.size = size_of(&format!("{key}.size"), &fs.size)?.or(fill);
    o.headroom = headroom_of(&format!("{key}.headroom"), &fs.headroom)?;
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
            return Err(invalid(
                format!("{key}.inodes"),
                format!("{t:?} is neither a number nor \"auto\""),
            ))
        }
        (None, Some(r)) if r >= 1024 => InodePolicy::Ratio(r),
        (None, Some(r)) => {
            return Err(invalid(
                format!("{key}.inode_ratio"),
                format!("{r} is below 1024 bytes per inode"),
            ))
        }
        (None, None) if o.size.is_some() => InodePolicy::Ratio(16384),
        (None, None) => InodePolicy::Auto,
    };
    o.journal_size = size_of(&format!("{key}.journal_size"), &fs.journal_size)?;
    if let Some(list) = &fs.features {
        o.features = o
            .features
            .apply(list)
            .map_err(|e| invalid(format!("{key}.features"), e.to_string()))?;
    }
    if o.journal_size.is_some() && !o.features.journal() {
        return Err(invalid(
            format!("{key}.journal_size"),
            "set, but the filesystem has no journal (ext2, or ^has_journal)",
        ));
    }
    o.label = fs.label.clone().unwrap_or_default();
    o.uuid = match &fs.uuid {
        Some(u) => parse_uuid(&format!("{key}.uuid"), u)?,
        None => *ids::uuid(seed, "ext-uuid", index).as_bytes(),
    };
    o.hash_seed = *ids::uuid(seed, "ext-hash-seed", index).as_bytes();
    if let Some(p) = fs.reserved_percent {
        o.reserved_percent = p;
    }
    o.epoch = epoch;
    Ok(o)
}

/// A filesystem planned and ready to write.
pub enum PlannedFs {
    Ext { tree: Tree, plan: Box<ext::ExtPlan> },
}

impl PlannedFs {
    pub fn size(&self) -> u64 {
        match self {
            PlannedFs::Ext { plan, .. } => plan.geo.bytes(),
        }
    }

    /// Writes the filesystem onto `dev` (its own window of the output).
    pub fn write(
        &self,
        dev: &mut dyn BlockDevice,
        offset: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<FsReport, BuildError> {
        match self {
            PlannedFs::Ext { tree, plan } => {
                let r =
                    ext::write(plan, tree, dev, progress).map_err(|source| BuildError::Ext {
                        context: "writing the ext filesystem".into(),
                        source,
                    })?;
                Ok(FsReport {
                    fs_type: match plan.opts.kind {
                        ExtKind::Ext2 => "ext2",
                        ExtKind::Ext3 => "ext3",
                        ExtKind::Ext4 => "ext4",
                    },
                    label: plan.opts.label.clone(),
                    uuid: uuid::Uuid::from_bytes(plan.opts.uuid).to_string(),
                    offset,
                    size: plan.geo.bytes(),
                    files: r.files,
                    directories: r.directories,
                    symlinks: r.symlinks,
                    hard_links: r.hard_links,
                    other: r.other,
                    data_bytes: r.data_bytes,
                    geometry: serde_json::to_value(&r.geometry).unwrap_or_default(),
                })
            }
        }
    }
}

/// Resolves and plans one filesystem. `fill` is the size to fill when the
/// spec leaves it unset (a partition's size).
pub fn plan_fs(
    fs: &FsSpec,
    key: &str,
    seed: &str,
    epoch: i64,
    index: u64,
    ctx: &ResolveCtx,
    fill: Option<u64>,
) -> Result<PlannedFs, BuildError> {
    let mut tree = resolve::resolve(fs, ctx)?;
    if fs.fs_type.is_ext() {
        let opts = ext_options(fs, key, seed, epoch, index, fill)?;
        let ext_err = |source| BuildError::Ext {
            context: key.to_string(),
            source,
        };
        ext::prepare_tree(&mut tree).map_err(ext_err)?;
        let plan = ext::plan(&tree, &opts).map_err(ext_err)?;
        Ok(PlannedFs::Ext {
            tree,
            plan: Box::new(plan),
        })
    } else {
        Err(invalid(
            format!("{key}.type"),
            format!("{} is not supported yet", fs.fs_type.name()),
        ))
    }
}

/// Builds the image a spec describes.
pub fn build(spec: &Spec, opts: &BuildOptions) -> Result<Report, BuildError> {
    if spec.version != 1 {
        return Err(invalid(
            "version",
            format!(
                "{} is not supported; this fstool reads version 1",
                spec.version
            ),
        ));
    }
    let seed = spec.seed.clone().unwrap_or_default();
    let epoch = epoch_of(spec)?;
    let ctx = ResolveCtx {
        base_dir: opts.base_dir.clone(),
        epoch,
        policy: spec.time_policy,
    };
    let fs = match (&spec.filesystem, &spec.image, spec.partitions.is_empty()) {
        (Some(fs), None, true) => fs,
        (Some(_), _, _) => {
            return Err(invalid(
                "filesystem",
                "a spec has either [filesystem] or [image] with [[partitions]], not both",
            ))
        }
        (None, _, _) => {
            return Err(invalid(
                "image",
                "whole-disk images ([image], [[partitions]]) are not supported yet",
            ))
        }
    };
    let planned = plan_fs(fs, "filesystem", &seed, epoch, 0, &ctx, None)?;
    let size = planned.size();
    let out = AtomicOutput::create(&opts.output)?;
    let mut dev = SparseFile::new(out.file()?, out.path(), size)?;
    let mut bar = crate::progress::Bar::new(opts.progress);
    let fs_report = planned.write(&mut dev, 0, &mut |done, total| bar.update(done, total))?;
    bar.finish();
    dev.finish()?;
    drop(dev);
    let sha256 = sha256_file(out.path())?;
    out.commit()?;
    Ok(Report {
        output: opts.output.display().to_string(),
        sha256,
        size,
        seed,
        source_date_epoch: epoch,
        filesystems: vec![fs_report],
    })
}

/// SHA-256 of a file, skipping the reads of holes (they hash as zeros).
pub fn sha256_file(path: &Path) -> Result<String, IoError> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).map_err(crate::io::host_err(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(crate::io::host_err(path))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
