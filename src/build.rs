//! The build pipeline: spec → tree → plan → writers → sink, and the report.

use crate::container::qcow2::{Qcow2Options, Qcow2Writer};
use crate::fs::erofs;
use crate::fs::ext::{self, ExtKind, ExtOptions, Headroom, InodePolicy};
use crate::fs::fat;
use crate::io::{AtomicOutput, BlockDevice, IoError, Slice, SparseFile};
use crate::part::{self, from_spec::SizeChoice, PartSize};
use crate::plan::{ids, size};
use crate::spec::{self, CountSpec, FsSpec, FsType, HeadroomSpec, SizeSpec, Spec};
use crate::spec::{ImageFormat, PartitionTable};
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
    #[error("{context}: {source}")]
    Fat {
        context: String,
        #[source]
        source: fat::FatError,
    },
    #[error("{context}: {source}")]
    Erofs {
        context: String,
        #[source]
        source: erofs::ErofsError,
    },
    #[error("{context}: {source}")]
    Verity {
        context: String,
        #[source]
        source: crate::verity::VerityError,
    },
    #[error(transparent)]
    Part(#[from] part::PartError),
    #[error(transparent)]
    Container(#[from] crate::container::qcow2::ContainerError),
    #[error(transparent)]
    Io(#[from] IoError),
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Phase timings on stderr when `FSTOOL_TIMING` is set (for benchmarks;
/// never part of the output).
struct Timing {
    on: bool,
    last: std::cell::Cell<std::time::Instant>,
}

impl Timing {
    fn new() -> Self {
        Timing {
            on: std::env::var_os("FSTOOL_TIMING").is_some(),
            last: std::cell::Cell::new(std::time::Instant::now()),
        }
    }
    fn mark(&self, phase: &str) {
        if self.on {
            let now = std::time::Instant::now();
            eprintln!(
                "timing: {phase}: {:.3} s",
                (now - self.last.get()).as_secs_f64()
            );
            self.last.set(now);
        }
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
    /// Compute the image's SHA-256 (default). Hashing reads every byte of
    /// the image, holes included: for a huge, mostly empty disk it costs far
    /// more than writing it, so `--no-hash` can turn it off.
    pub hash: bool,
}

/// The JSON report of a build (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub output: String,
    /// `None` when the build was asked not to hash (`--no-hash`).
    pub sha256: Option<String>,
    pub size: u64,
    pub seed: String,
    pub source_date_epoch: i64,
    /// `raw` or `qcow2`.
    pub format: &'static str,
    /// The partition table, for whole disks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_table: Option<serde_json::Value>,
    pub filesystems: Vec<FsReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    /// Partition number (1-based) for filesystems inside a disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<usize>,
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
    /// Entries the filesystem cannot store that were left out (FAT with
    /// `unsupported = "skip"`), and hard links stored as copies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardlinks_copied: Vec<serde_json::Value>,
    pub geometry: serde_json::Value,
    /// The dm-verity hash tree over this filesystem, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity: Option<crate::verity::options::VerityReport>,
}

impl Report {
    /// One-line human summary.
    pub fn summary(&self) -> String {
        let fs: Vec<String> = self
            .filesystems
            .iter()
            .map(|f| {
                let verity = match &f.verity {
                    Some(v) => format!(", verity roothash {}", v.roothash),
                    None => String::new(),
                };
                format!(
                    "{} {} ({} files, {} dirs, {} of data{verity})",
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

/// Maps a FAT `[filesystem]` table onto writer options.
pub fn fat_options(
    fs: &FsSpec,
    key: &str,
    seed: &str,
    index: u64,
    fill: Option<u64>,
    hidden_sectors: u32,
    data_bytes: u64,
) -> Result<fat::FatOptions, BuildError> {
    let fat_type = match fs.fs_type {
        FsType::Fat12 => Some(fat::FatType::Fat12),
        FsType::Fat16 => Some(fat::FatType::Fat16),
        FsType::Fat32 => Some(fat::FatType::Fat32),
        FsType::Fat => None,
        other => {
            return Err(invalid(
                format!("{key}.type"),
                format!("{} is not a FAT type", other.name()),
            ))
        }
    };
    let ext_only: [(&str, bool); 6] = [
        ("block_size", fs.block_size.is_some()),
        ("inode_size", fs.inode_size.is_some()),
        ("inodes", fs.inodes.is_some()),
        ("inode_ratio", fs.inode_ratio.is_some()),
        ("journal_size", fs.journal_size.is_some()),
        ("features", fs.features.is_some()),
    ];
    if let Some((k, _)) = ext_only.iter().find(|(_, set)| *set) {
        return Err(invalid(
            format!("{key}.{k}"),
            "is an ext option; FAT has no such setting",
        ));
    }
    let size = size_of(&format!("{key}.size"), &fs.size)?.or(fill);
    let headroom_bytes = match headroom_of(&format!("{key}.headroom"), &fs.headroom)? {
        Headroom::None => 0,
        Headroom::Bytes(b) => b,
        // A percentage of the tree's file data.
        Headroom::Percent(p) => (data_bytes as f64 * p / 100.0).ceil() as u64,
    };
    let volume_id = match &fs.uuid {
        Some(u) => fat::parse_volume_id(u).ok_or_else(|| {
            invalid(
                format!("{key}.uuid"),
                format!("{u:?} is not a FAT volume ID like \"1234-ABCD\""),
            )
        })?,
        None => ids::u32_id(seed, "fat-volume-id", index),
    };
    Ok(fat::FatOptions {
        fat_type,
        size,
        headroom_bytes,
        cluster_size: fs.cluster_size,
        sectors_per_cluster: fs.sectors_per_cluster,
        reserved_sectors: fs.reserved_sectors,
        fats: fs.fats.unwrap_or(2),
        root_entries: fs.root_entries,
        label: fs.label.clone(),
        volume_id,
        hidden_sectors,
        unsupported: fs.unsupported.unwrap_or_default(),
    })
}

/// A filesystem planned and ready to write.
pub enum PlannedFs {
    Ext {
        tree: Tree,
        plan: Box<ext::ExtPlan>,
    },
    Fat {
        tree: Tree,
        plan: Box<fat::FatPlan>,
    },
    Erofs {
        tree: Tree,
        plan: Box<erofs::ErofsPlan>,
    },
}

impl PlannedFs {
    pub fn size(&self) -> u64 {
        match self {
            PlannedFs::Ext { plan, .. } => plan.geo.bytes(),
            PlannedFs::Fat { plan, .. } => plan.size_bytes(),
            PlannedFs::Erofs { plan, .. } => plan.geo.bytes(),
        }
    }

    /// Writes the filesystem onto `dev` (its own window of the output).
    pub fn write(
        &self,
        dev: &mut dyn BlockDevice,
        offset: u64,
        progress: &mut dyn FnMut(crate::progress::Tick),
    ) -> Result<FsReport, BuildError> {
        match self {
            PlannedFs::Ext { tree, plan } => {
                let r =
                    ext::write(plan, tree, dev, progress).map_err(|source| BuildError::Ext {
                        context: "writing the ext filesystem".into(),
                        source,
                    })?;
                Ok(FsReport {
                    partition: None,
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
                    skipped: Vec::new(),
                    hardlinks_copied: Vec::new(),
                    geometry: serde_json::to_value(&r.geometry).unwrap_or_default(),
                    verity: None,
                })
            }
            PlannedFs::Erofs { tree, plan } => erofs_write(tree, plan, dev, offset, progress),
            PlannedFs::Fat { tree, plan } => {
                let r = fat::write(plan, tree, dev).map_err(|source| BuildError::Fat {
                    context: "writing the FAT filesystem".into(),
                    source,
                })?;
                let data_bytes = tree.data_bytes();
                progress(crate::progress::Tick {
                    data_done: data_bytes,
                    data_total: data_bytes,
                    final_below: 0,
                });
                let count = |f: fn(&crate::tree::NodeKind) -> bool| {
                    tree.nodes.iter().filter(|n| f(&n.kind)).count() as u64
                };
                use crate::tree::NodeKind as K;
                let skipped: Vec<serde_json::Value> = r
                    .skipped
                    .iter()
                    .map(|x| serde_json::to_value(x).unwrap_or_default())
                    .collect();
                let copied: Vec<serde_json::Value> = r
                    .hardlinks_copied
                    .iter()
                    .map(|x| serde_json::to_value(x).unwrap_or_default())
                    .collect();
                Ok(FsReport {
                    partition: None,
                    fs_type: match r.geometry.fat_type {
                        fat::FatType::Fat12 => "fat12",
                        fat::FatType::Fat16 => "fat16",
                        fat::FatType::Fat32 => "fat32",
                    },
                    label: r.label.clone().unwrap_or_default(),
                    uuid: r.volume_id.clone(),
                    offset,
                    size: plan.size_bytes(),
                    files: count(|k| matches!(k, K::File { .. })),
                    directories: count(|k| matches!(k, K::Dir { .. })),
                    symlinks: 0,
                    hard_links: r.hardlinks_copied.len() as u64,
                    other: 0,
                    data_bytes,
                    skipped,
                    hardlinks_copied: copied,
                    geometry: serde_json::to_value(&r).unwrap_or_default(),
                    verity: None,
                })
            }
        }
    }
}

/// Resolves and plans one filesystem. `fill` is the size to fill when the
/// spec leaves it unset (a partition's size); `hidden_sectors` is the
/// partition's start (FAT records it in its boot sector).
#[allow(clippy::too_many_arguments)]
pub fn plan_fs(
    fs: &FsSpec,
    key: &str,
    seed: &str,
    epoch: i64,
    index: u64,
    ctx: &ResolveCtx,
    fill: Option<u64>,
    hidden_sectors: u32,
) -> Result<PlannedFs, BuildError> {
    let mut tree = resolve::resolve(fs, ctx)?;
    if fs.fs_type == FsType::Erofs {
        let opts = erofs_options(fs, key, seed, epoch, index, fill)?;
        let plan = erofs::plan(&tree, &opts).map_err(|source| BuildError::Erofs {
            context: key.to_string(),
            source,
        })?;
        return Ok(PlannedFs::Erofs {
            tree,
            plan: Box::new(plan),
        });
    }
    for (k, set) in [
        ("compression", fs.compression.is_some()),
        ("dedupe", fs.dedupe.is_some()),
    ] {
        if set {
            return Err(invalid(
                format!("{key}.{k}"),
                "is an erofs option; this filesystem type has no such setting",
            ));
        }
    }
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
        let opts = fat_options(
            fs,
            key,
            seed,
            index,
            fill,
            hidden_sectors,
            tree.data_bytes(),
        )?;
        let plan = fat::plan(&tree, &opts).map_err(|source| BuildError::Fat {
            context: key.to_string(),
            source,
        })?;
        Ok(PlannedFs::Fat {
            tree,
            plan: Box::new(plan),
        })
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
    let epoch = spec::epoch(spec)?;
    let ctx = ResolveCtx {
        base_dir: opts.base_dir.clone(),
        epoch,
        policy: spec.time_policy,
    };
    match (&spec.filesystem, &spec.image) {
        (Some(_), Some(_)) => Err(invalid(
            "filesystem",
            "a spec has either [filesystem] or [image] with [[partitions]], not both",
        )),
        (Some(_), None) if !spec.partitions.is_empty() => Err(invalid(
            "partitions",
            "[[partitions]] needs an [image] table",
        )),
        (Some(fs), None) => build_fs(fs, &seed, epoch, &ctx, opts),
        (None, Some(image)) => build_disk(spec, image, &seed, epoch, &ctx, opts),
        (None, None) => Err(invalid(
            "filesystem",
            "the spec needs a [filesystem] table, or [image] with [[partitions]]",
        )),
    }
}

/// The output container: from `[image] format`, else the output's
/// extension (`.qcow2`), else raw.
fn output_format(image: Option<&crate::spec::ImageSpec>, output: &Path) -> ImageFormat {
    match image.and_then(|i| i.format) {
        Some(f) => f,
        None if output.extension().is_some_and(|e| e == "qcow2") => ImageFormat::Qcow2,
        None => ImageFormat::Raw,
    }
}

/// Creates the output device; the caller writes, then calls [`finish_output`].
fn open_output(
    out: &AtomicOutput,
    size: u64,
    format: ImageFormat,
    image: Option<&crate::spec::ImageSpec>,
) -> Result<Box<dyn BlockDevice>, BuildError> {
    match format {
        ImageFormat::Raw => Ok(Box::new(SparseFile::new(out.file()?, out.path(), size)?)),
        ImageFormat::Qcow2 => {
            let q = match image {
                Some(image) => Qcow2Options::from_image(image)?,
                None => Qcow2Options::default(),
            };
            Ok(Box::new(Qcow2Writer::new(
                out.file()?,
                out.path(),
                size,
                q,
            )?))
        }
    }
}

fn finish_output(
    mut dev: Box<dyn BlockDevice>,
    out: AtomicOutput,
    hash: bool,
) -> Result<Option<String>, BuildError> {
    dev.finish()?;
    drop(dev);
    let sha256 = if hash {
        Some(sha256_file(out.path())?)
    } else {
        None
    };
    out.commit()?;
    Ok(sha256)
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Raw => "raw",
        ImageFormat::Qcow2 => "qcow2",
    }
}

fn build_fs(
    fs: &FsSpec,
    seed: &str,
    epoch: i64,
    ctx: &ResolveCtx,
    opts: &BuildOptions,
) -> Result<Report, BuildError> {
    let timing = Timing::new();
    let planned = plan_fs(fs, "filesystem", seed, epoch, 0, ctx, None, 0)?;
    timing.mark("resolve+plan");
    let verity = verity_of(fs, "filesystem", false, seed, 0)?;
    let fs_size = planned.size();
    let size = match &verity {
        Some((_, vo)) => {
            let ds = crate::verity::options::data_size(fs_size);
            let vp = crate::verity::plan(ds, vo).map_err(verity_err("filesystem.verity"))?;
            ds + vp.hash_size
        }
        None => fs_size,
    };
    let format = output_format(None, &opts.output);
    let out = AtomicOutput::create(&opts.output)?;
    let mut dev = open_output(&out, size, format, None)?;
    let mut bar = crate::progress::Bar::new(opts.progress);
    let (fs_report, sha256) = if format == ImageFormat::Raw && opts.hash && verity.is_none() {
        // Hash on the second core while the writer works: the writer says
        // which prefix of the image is final, the hasher follows behind.
        let follower = FollowingHasher::new(out.path(), size)?;
        let (written, hashed) = std::thread::scope(|s| {
            let hashing = s.spawn(|| follower.run());
            let written = planned.write(dev.as_mut(), 0, &mut |t| {
                bar.update(t.data_done, t.data_total);
                follower.advance(t.final_below);
            });
            match &written {
                Ok(_) => follower.advance(size),
                Err(_) => follower.abort(),
            }
            (written, hashing.join())
        });
        let fs_report = written?;
        let sha256 = match hashed {
            Ok(r) => r?,
            Err(_) => return Err(invalid("output", "the hashing thread panicked")),
        };
        timing.mark("write+hash");
        dev.finish()?;
        drop(dev);
        out.commit()?;
        (fs_report, Some(sha256))
    } else {
        let mut fs_report = {
            let mut slice = Slice::new(dev.as_mut(), 0, fs_size)?;
            planned.write(&mut slice, 0, &mut |t| {
                bar.update(t.data_done, t.data_total)
            })?
        };
        timing.mark("write");
        if let Some((layout, vo)) = &verity {
            let ds = crate::verity::options::data_size(fs_size);
            let (r, _) = crate::verity::options::write_tree(dev.as_mut(), vo, *layout, 0, ds, ds)
                .map_err(verity_err("filesystem.verity"))?;
            fs_report.verity = Some(r);
            timing.mark("verity");
        }
        (fs_report, finish_output(dev, out, opts.hash)?)
    };
    bar.finish();
    timing.mark("finish");
    Ok(Report {
        output: opts.output.display().to_string(),
        sha256,
        size,
        seed: seed.to_string(),
        source_date_epoch: epoch,
        format: format_name(format),
        partition_table: None,
        filesystems: vec![fs_report],
    })
}

/// SHA-256 of an image that is still being written, computed by following
/// the writer: bytes below the watermark are final and can be hashed.
struct FollowingHasher {
    file: std::fs::File,
    path: PathBuf,
    size: u64,
    watermark: std::sync::atomic::AtomicU64,
    aborted: std::sync::atomic::AtomicBool,
}

impl FollowingHasher {
    fn new(path: &Path, size: u64) -> Result<Self, IoError> {
        Ok(FollowingHasher {
            file: std::fs::File::open(path).map_err(crate::io::host_err(path))?,
            path: path.to_path_buf(),
            size,
            watermark: std::sync::atomic::AtomicU64::new(0),
            aborted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Everything below `offset` is final.
    fn advance(&self, offset: u64) {
        self.watermark
            .fetch_max(offset.min(self.size), std::sync::atomic::Ordering::Release);
    }

    fn abort(&self) {
        self.aborted
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Hashes up to the watermark until the whole image is hashed.
    fn run(&self) -> Result<String, IoError> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::FileExt;
        use std::sync::atomic::Ordering;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; crate::io::CHUNK];
        let mut pos = 0u64;
        while pos < self.size {
            let w = self.watermark.load(Ordering::Acquire);
            if w <= pos {
                if self.aborted.load(Ordering::Acquire) {
                    return Err(crate::io::host_err(&self.path)(std::io::Error::other(
                        "build failed",
                    )));
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
                continue;
            }
            // Holes below the watermark are final zeros: hash them from
            // memory instead of reading them.
            let data = crate::io::next_data(&self.file, pos).unwrap_or(w).min(w);
            if data > pos {
                crate::io::hash_zeros(&mut h, data - pos);
                pos = data;
                continue;
            }
            let k = (w - pos).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..k], pos)
                .map_err(crate::io::host_err(&self.path))?;
            h.update(&buf[..k]);
            pos += k as u64;
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// What goes into a partition.
enum Content<'a> {
    Fs(&'a FsSpec),
    Blob(PathBuf),
    Empty,
}

fn build_disk(
    spec: &Spec,
    image: &crate::spec::ImageSpec,
    seed: &str,
    epoch: i64,
    ctx: &ResolveCtx,
    opts: &BuildOptions,
) -> Result<Report, BuildError> {
    let req = part::from_spec::disk_request(image, seed, &ctx.base_dir)?;
    if spec.partitions.is_empty() && image.partition_table != PartitionTable::None {
        return Err(invalid(
            "partitions",
            "a disk image needs at least one [[partitions]] entry",
        ));
    }
    let sector = req.sector_size as u64;
    let (verity, hash_of) = pair_verity(spec, seed)?;
    // 1. Size every partition whose size comes from its content.
    let mut contents = Vec::new();
    let mut requests: Vec<part::PartitionRequest> = Vec::new();
    let mut sized: Vec<Option<PlannedFs>> = Vec::new();
    for (i, p) in spec.partitions.iter().enumerate() {
        let key = format!("partitions[{i}]");
        let content = match (&p.filesystem, &p.image) {
            (Some(_), Some(_)) => {
                return Err(invalid(&key, "has both `filesystem` and `image`; give one"))
            }
            (Some(fs), None) => Content::Fs(fs),
            (None, Some(path)) => Content::Blob(ctx.base_dir.join(path)),
            (None, None) => Content::Empty,
        };
        let choice = part::from_spec::partition_size(i, p)?;
        let appended = matches!(
            &verity[i],
            Some((crate::verity::options::Layout::Appended, _))
        );
        let (size, planned) = match (choice, &content) {
            (SizeChoice::Auto, Content::Empty) if hash_of[i].is_some() => {
                let data = hash_of[i].unwrap_or(0);
                let bound = match (sized.get(data), requests.get(data)) {
                    (Some(Some(p)), _) => p.size(),
                    (_, Some(req)) => match req.size {
                        PartSize::Bytes(n) => n,
                        PartSize::Remaining => {
                            return Err(invalid(
                                format!("{key}.size"),
                                "the verity partition of a \"remaining\" partition needs an explicit size",
                            ))
                        }
                    },
                    _ => 0,
                };
                let hash = crate::verity::hash_size_for(crate::verity::options::data_size(bound))
                    .map_err(verity_err(&key))?;
                (PartSize::Bytes(hash.div_ceil(sector) * sector), None)
            }
            (SizeChoice::Bytes(n), _) => (PartSize::Bytes(n), None),
            (SizeChoice::Remaining, _) => (PartSize::Remaining, None),
            (SizeChoice::Auto, Content::Fs(fs)) => {
                let planned = plan_fs(
                    fs,
                    &format!("{key}.filesystem"),
                    seed,
                    epoch,
                    i as u64 + 1,
                    ctx,
                    None,
                    0,
                )?;
                let mut bytes = planned.size();
                if appended {
                    let ds = crate::verity::options::data_size(bytes);
                    bytes = ds
                        + crate::verity::hash_size_for(ds)
                            .map_err(verity_err(&format!("{key}.filesystem.verity")))?;
                }
                (
                    PartSize::Bytes(bytes.div_ceil(sector) * sector),
                    Some(planned),
                )
            }
            (SizeChoice::Auto, Content::Blob(path)) => {
                let len = std::fs::metadata(path)
                    .map_err(crate::io::host_err(path))?
                    .len();
                (PartSize::Bytes(len.max(1).div_ceil(sector) * sector), None)
            }
            (SizeChoice::Auto, Content::Empty) => {
                return Err(invalid(
                    format!("{key}.size"),
                    "an empty partition needs an explicit size (or \"remaining\")",
                ))
            }
        };
        requests.push(part::from_spec::partition_request(i, p, size)?);
        contents.push(content);
        sized.push(planned);
    }
    // 2. Place the partitions.
    let dplan = part::plan(&req, &requests)?;
    // 3. Plan the remaining filesystems at their partition's size.
    let mut planned_all = Vec::new();
    for (i, (content, pre)) in contents.iter().zip(sized).enumerate() {
        let pp = &dplan.partitions()[i];
        let planned = match (content, pre) {
            (Content::Fs(fs), pre) => {
                let hidden = u32::try_from(pp.start_lba).unwrap_or(u32::MAX);
                let appended = matches!(
                    &verity[i],
                    Some((crate::verity::options::Layout::Appended, _))
                );
                match pre {
                    Some(p @ (PlannedFs::Ext { .. } | PlannedFs::Erofs { .. })) => Some(p),
                    _ if appended => Some(plan_fs(
                        fs,
                        &format!("partitions[{i}].filesystem"),
                        seed,
                        epoch,
                        i as u64 + 1,
                        ctx,
                        None,
                        hidden,
                    )?),
                    _ => Some(plan_fs(
                        fs,
                        &format!("partitions[{i}].filesystem"),
                        seed,
                        epoch,
                        i as u64 + 1,
                        ctx,
                        Some(pp.size_bytes()),
                        hidden,
                    )?),
                }
            }
            _ => None,
        };
        if let Some(p) = &planned {
            let need = match &verity[i] {
                Some((crate::verity::options::Layout::Appended, _)) => {
                    let ds = crate::verity::options::data_size(p.size());
                    ds + crate::verity::hash_size_for(ds).map_err(verity_err("verity"))?
                }
                _ => p.size(),
            };
            if need > pp.size_bytes() {
                return Err(invalid(
                    format!("partitions[{i}].size"),
                    format!(
                        "the filesystem needs {} bytes ({}) but the partition has {}",
                        need,
                        size::human(need),
                        pp.size_bytes()
                    ),
                ));
            }
        }
        planned_all.push(planned);
    }
    // 4. Write: tables, then each partition's content at its offset.
    let format = output_format(Some(image), &opts.output);
    let out = AtomicOutput::create(&opts.output)?;
    let mut dev = open_output(&out, dplan.size, format, Some(image))?;
    part::write_tables(&dplan, dev.as_mut())?;
    let mut dplan = dplan;
    let mut bar = crate::progress::Bar::new(opts.progress);
    let mut filesystems = Vec::new();
    for (i, (content, planned)) in contents.iter().zip(&planned_all).enumerate() {
        let pp = &dplan.partitions()[i];
        match (content, planned) {
            (Content::Fs(_), Some(p)) => {
                let mut r = {
                    let mut slice = Slice::new(dev.as_mut(), pp.offset_bytes(), p.size())?;
                    p.write(&mut slice, pp.offset_bytes(), &mut |t| {
                        bar.update(t.data_done, t.data_total)
                    })?
                };
                r.partition = Some(pp.number);
                if let Some((layout, vo)) = &verity[i] {
                    use crate::verity::options::{data_size, write_tree, Layout};
                    let key = format!("partitions[{i}].filesystem.verity");
                    let ds = data_size(p.size());
                    let data_at = pp.offset_bytes();
                    let hash_part = hash_of.iter().position(|d| *d == Some(i));
                    let hash_at = match (layout, hash_part) {
                        (Layout::Partition, Some(j)) => dplan.partitions()[j].offset_bytes(),
                        _ => data_at + ds,
                    };
                    let (mut vr, root) =
                        write_tree(dev.as_mut(), vo, *layout, data_at, ds, hash_at)
                            .map_err(verity_err(&key))?;
                    if let Some(j) = hash_part {
                        vr.hash_offset = None;
                        vr.hash_partition = Some(dplan.partitions()[j].number);
                        // The Discoverable Partitions Specification's
                        // convention: the root hash names the pair.
                        let (a, b) = (&root[..16], &root[16..]);
                        if spec.partitions[i].uuid.is_none() {
                            dplan.set_partition_uuid(
                                i,
                                uuid::Uuid::from_slice(a).unwrap_or_default(),
                            );
                        }
                        if spec.partitions[j].uuid.is_none() {
                            dplan.set_partition_uuid(
                                j,
                                uuid::Uuid::from_slice(b).unwrap_or_default(),
                            );
                        }
                    }
                    r.verity = Some(vr);
                }
                filesystems.push(r);
            }
            (Content::Blob(path), _) => part::write_blob(dev.as_mut(), pp, path)?,
            _ => {}
        }
    }
    bar.finish();
    // Verity pairs take their partition UUIDs from the root hash, known
    // only once the data is written: their tables are written again.
    if hash_of.iter().any(|h| h.is_some()) {
        part::write_tables(&dplan, dev.as_mut())?;
    }
    let table = part::probe(dev.as_mut())?.map(|t| t.to_json());
    let sha256 = finish_output(dev, out, opts.hash)?;
    Ok(Report {
        output: opts.output.display().to_string(),
        sha256,
        size: dplan.size,
        seed: seed.to_string(),
        source_date_epoch: epoch,
        format: format_name(format),
        partition_table: table,
        filesystems,
    })
}

/// SHA-256 of a finished file. Holes (found with `SEEK_DATA`) are hashed as
/// zeros from memory instead of being read.
pub fn sha256_file(path: &Path) -> Result<String, IoError> {
    let size = std::fs::metadata(path)
        .map_err(crate::io::host_err(path))?
        .len();
    let hasher = FollowingHasher::new(path, size)?;
    hasher.advance(size);
    hasher.run()
}

/// Maps an erofs `[filesystem]` table onto writer options.
pub fn erofs_options(
    fs: &FsSpec,
    key: &str,
    seed: &str,
    epoch: i64,
    index: u64,
    fill: Option<u64>,
) -> Result<erofs::ErofsOptions, BuildError> {
    let not_erofs: [(&str, bool); 12] = [
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
    ];
    if let Some((k, _)) = not_erofs.iter().find(|(_, set)| *set) {
        return Err(invalid(
            format!("{key}.{k}"),
            "is not an erofs option (EROFS is read-only and sized exactly to its tree)",
        ));
    }
    match fs.compression.as_deref() {
        None | Some("none") => {}
        Some("lz4") => {
            return Err(invalid(
                format!("{key}.compression"),
                "\"lz4\" is not supported yet: fstool writes EROFS uncompressed; remove the key or set \"none\"",
            ))
        }
        Some(other) => {
            return Err(invalid(
                format!("{key}.compression"),
                format!("{other:?}: expected \"none\" (or \"lz4\", not supported yet)"),
            ))
        }
    }
    // EROFS is sized to its tree even inside a larger partition (`fill`
    // is not used): the rest of the partition stays zero.
    let _ = fill;
    Ok(erofs::ErofsOptions {
        block_size: fs.block_size.unwrap_or(4096),
        size: size_of(&format!("{key}.size"), &fs.size)?,
        label: fs.label.clone().unwrap_or_default(),
        uuid: match &fs.uuid {
            Some(u) => parse_uuid(&format!("{key}.uuid"), u)?,
            None => *ids::uuid(seed, "erofs-uuid", index).as_bytes(),
        },
        epoch,
        dedupe: fs.dedupe.unwrap_or(false),
    })
}

fn erofs_write(
    tree: &Tree,
    plan: &erofs::ErofsPlan,
    dev: &mut dyn BlockDevice,
    offset: u64,
    progress: &mut dyn FnMut(crate::progress::Tick),
) -> Result<FsReport, BuildError> {
    let r = erofs::write(plan, tree, dev, progress).map_err(|source| BuildError::Erofs {
        context: "writing the EROFS filesystem".into(),
        source,
    })?;
    Ok(FsReport {
        partition: None,
        fs_type: "erofs",
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
        skipped: Vec::new(),
        hardlinks_copied: Vec::new(),
        geometry: serde_json::to_value(&r.geometry).unwrap_or_default(),
        verity: None,
    })
}

fn verity_err(key: &str) -> impl FnOnce(crate::verity::VerityError) -> BuildError + '_ {
    move |source| BuildError::Verity {
        context: key.to_string(),
        source,
    }
}

/// The `verity` key of a filesystem at `key`, resolved.
fn verity_of(
    fs: &FsSpec,
    key: &str,
    in_disk: bool,
    seed: &str,
    index: u64,
) -> Result<Option<(crate::verity::options::Layout, crate::verity::VerityOptions)>, BuildError> {
    let Some(v) = &fs.verity else {
        return Ok(None);
    };
    crate::verity::options::from_spec(v, in_disk, seed, index).map_err(|e| {
        let k = if e.key.is_empty() {
            format!("{key}.verity")
        } else {
            format!("{key}.verity.{}", e.key)
        };
        invalid(k, e.message)
    })
}

/// Verity per partition, and for each verity-type partition the data
/// partition whose tree it holds. A data partition with the partition
/// layout takes the next unclaimed empty `root-verity`/`usr-verity`
/// partition after it.
#[allow(clippy::type_complexity)]
fn pair_verity(
    spec: &Spec,
    seed: &str,
) -> Result<
    (
        Vec<Option<(crate::verity::options::Layout, crate::verity::VerityOptions)>>,
        Vec<Option<usize>>,
    ),
    BuildError,
> {
    use crate::verity::options::Layout;
    let n = spec.partitions.len();
    let mut verity = Vec::with_capacity(n);
    let mut hash_of: Vec<Option<usize>> = vec![None; n];
    for (i, p) in spec.partitions.iter().enumerate() {
        let key = format!("partitions[{i}].filesystem");
        let v = match &p.filesystem {
            Some(fs) => verity_of(fs, &key, true, seed, i as u64 + 1)?,
            None => None,
        };
        if let Some((Layout::Partition, _)) = &v {
            let j = (i + 1..n).find(|&j| {
                let q = &spec.partitions[j];
                part::types::is_verity_type(&q.part_type)
                    && q.filesystem.is_none()
                    && q.image.is_none()
                    && hash_of[j].is_none()
            });
            match j {
                Some(j) => hash_of[j] = Some(i),
                None => {
                    return Err(invalid(
                        format!("{key}.verity"),
                        "needs an empty partition of type \"root-verity\" or \"usr-verity\" after it (or verity = \"appended\")",
                    ))
                }
            }
        }
        verity.push(v);
    }
    for (j, p) in spec.partitions.iter().enumerate() {
        if part::types::is_verity_type(&p.part_type)
            && hash_of[j].is_none()
            && p.filesystem.is_none()
            && p.image.is_none()
        {
            return Err(invalid(
                format!("partitions[{j}].type"),
                "a verity partition needs a partition before it whose filesystem has verity = true",
            ));
        }
    }
    Ok((verity, hash_of))
}
