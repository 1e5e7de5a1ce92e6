//! The image plan: every size, offset and ID of an image, decided before
//! any output file is opened. This is where partitions and filesystems
//! negotiate sizes: a partition of `size = "auto"` is as large as its
//! filesystem's auto size; a filesystem in a sized partition fills it.

use crate::build::{invalid, BuildError};
use crate::container::qcow2::{Qcow2Options, DEFAULT_CLUSTER_SIZE};
use crate::fs::{Fit, Format, Placement, VolumeContext, VolumeDescription, VolumePlan};
use crate::part::DiskPlan;
use crate::plan::verity::{self as pv, Site, Target, VerityDescription};
use crate::spec::{self, values, FsSpec, ImageFormat, ImageSpec, KeyPath, Spec};
use crate::tree::resolve::{self, ResolveCtx};
use crate::tree::store::SourceStore;
use crate::tree::Tree;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What planning needs besides the spec.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Relative paths in the spec resolve against this directory.
    pub base_dir: PathBuf,
    /// The output path, when there is one: a `.qcow2` extension picks the
    /// container when `[image] format` does not.
    pub output: Option<PathBuf>,
    /// The value of `SOURCE_DATE_EPOCH`, which only the caller reads; the
    /// spec's `source_date_epoch` wins over it.
    pub env_source_date_epoch: Option<std::ffi::OsString>,
    /// Where planning says what it is doing (progress display).
    pub phase: crate::progress::Phase,
}

/// Everything decided about an image, as `fstool plan --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ImagePlan {
    pub seed: String,
    pub source_date_epoch: i64,
    /// `raw` or `qcow2`.
    pub format: &'static str,
    /// Image size in bytes (the virtual disk size for qcow2).
    pub size: u64,
    /// The partition table, for whole disks: every partition's offset,
    /// size, type and GUID, as `fstool info` shows a written one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_table: Option<serde_json::Value>,
    pub filesystems: Vec<PlannedVolume>,
}

/// One filesystem of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedVolume {
    /// Partition number (1-based) for filesystems inside a disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<usize>,
    pub offset: u64,
    #[serde(flatten)]
    pub volume: VolumeDescription,
    /// The dm-verity tree over this filesystem, if the spec asks for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity: Option<VerityDescription>,
}

/// A plan with what it takes to carry it out: the resolved trees and the
/// volume plans. Built by [`plan`], consumed by [`crate::build`].
pub struct Planned {
    pub image: ImagePlan,
    pub(crate) container: ImageFormat,
    pub(crate) qcow2: Qcow2Options,
    pub(crate) disk: Option<DiskPlan>,
    pub(crate) contents: Vec<Content>,
    /// Extracted sources the trees point into; removed with the plan.
    _sources: SourceStore,
}

/// What goes where in the image.
pub(crate) enum Content {
    Volume {
        tree: Tree,
        plan: Box<dyn VolumePlan>,
        placement: Placement,
        /// Partition window `(offset, size)`, or `None` for a bare volume.
        window: Option<(u64, u64)>,
        /// A dm-verity tree over the volume, hashed once it is written.
        verity: Option<Box<Target>>,
    },
    Blob {
        path: PathBuf,
        partition: usize,
    },
    /// A `root-verity-sig`/`usr-verity-sig` partition: the root hash of
    /// partition `data`'s tree, signed once it is known.
    Signature {
        partition: usize,
        data: usize,
        signer: Box<crate::verity::sig::Signer>,
    },
}

impl Planned {
    /// Image size in bytes.
    pub fn size(&self) -> u64 {
        self.image.size
    }

    /// A bare filesystem image, not a disk.
    pub fn is_bare(&self) -> bool {
        self.disk.is_none()
    }
}

/// The container of the output: `[image] format`, else the output's
/// extension (`.qcow2`), else raw.
fn container(image: Option<&ImageSpec>, output: Option<&Path>) -> ImageFormat {
    match image.and_then(|i| i.format) {
        Some(f) => f,
        None if output
            .and_then(Path::extension)
            .is_some_and(|e| e.eq_ignore_ascii_case("qcow2")) =>
        {
            ImageFormat::Qcow2
        }
        None => ImageFormat::Raw,
    }
}

fn container_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Raw => "raw",
        ImageFormat::Qcow2 => "qcow2",
    }
}

/// One filesystem of the spec, resolved and with its options parsed.
pub(super) struct Pending {
    key: String,
    pub(super) tree: Tree,
    options: Box<dyn crate::fs::VolumeOptions>,
}

/// What tells a filesystem apart from others built with the same seed (see
/// [`VolumeContext::identity`]); `partition` is the partition's type and
/// name inside a disk.
pub(super) fn identity(fs: &FsSpec, partition: Option<(&str, Option<&str>)>) -> String {
    let mut s = format!(
        "{}|{}",
        fs.fs_type.as_str(),
        fs.label.as_deref().unwrap_or("")
    );
    if let Some((ty, name)) = partition {
        s.push_str(&format!("|{ty}|{}", name.unwrap_or("")));
    }
    s
}

pub(super) fn pending(
    fs: &FsSpec,
    at: &KeyPath,
    index: u64,
    identity: &str,
    cx: (&str, i64, &ResolveCtx),
    formats: &[&dyn Format],
) -> Result<Pending, BuildError> {
    let (seed, epoch, ctx) = cx;
    let key = at.to_string();
    let format = spec::validate::format_of(fs, at, formats).map_err(|(k, m)| invalid(k, m))?;
    let vcx = VolumeContext {
        seed,
        index,
        epoch,
        identity,
    };
    let options = format
        .options(fs, at, &vcx)
        .map_err(|(k, m)| invalid(k, m))?;
    // A tree resolved ahead (to derive the seed) is not resolved again: a
    // tar source would be extracted twice.
    let ahead = ctx
        .resolved_ahead
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    let mut tree = match ahead {
        Some(t) => t,
        None => resolve_fs(fs, at, ctx)?,
    };
    ctx.phase.set("planning");
    options
        .prepare(&mut tree)
        .map_err(|source| BuildError::Volume {
            context: key.clone(),
            source,
        })?;
    if let Some(se) = &fs.selinux {
        label(&mut tree, fs, se, at, ctx)?;
    }
    Ok(Pending { key, tree, options })
}

/// SELinux labels on the prepared tree, so that what the format adds
/// (ext's `/lost+found`) is labelled too.
fn label(
    tree: &mut Tree,
    fs: &FsSpec,
    se: &crate::spec::SelinuxSpec,
    at: &KeyPath,
    ctx: &ResolveCtx,
) -> Result<(), BuildError> {
    use crate::tree::selinux::{label_tree, FileContexts, XATTR};
    let host = |p: &PathBuf| crate::tree::host::host_path(&ctx.base_dir, p);
    let files: Vec<PathBuf> = se.file_contexts.paths().iter().map(host).collect();
    let subs: Vec<PathBuf> = se.substitutions.iter().map(host).collect();
    let fc = FileContexts::load(&files, &subs)
        .map_err(|e| invalid(at.key("selinux").key("file_contexts"), e.to_string()))?;
    let keep = fs
        .entries
        .iter()
        .filter(|e| e.xattrs.contains_key(XATTR))
        .map(|e| e.path.trim_end_matches('/').as_bytes().to_vec())
        .collect();
    label_tree(tree, &fc, &keep);
    Ok(())
}

fn resolve_fs(fs: &FsSpec, at: &KeyPath, ctx: &ResolveCtx) -> Result<Tree, BuildError> {
    resolve::resolve(fs, ctx).map_err(|e| source_error(e, fs, at, ctx))
}

/// The seed of a spec without one, from its resolved manifest (see
/// [`super::manifest`]). The trees resolved here are kept for planning.
fn derive_seed(spec: &Spec, ctx: &ResolveCtx) -> Result<String, BuildError> {
    let mut fss: Vec<(KeyPath, &FsSpec)> = Vec::new();
    let mut blobs = Vec::new();
    if let Some(fs) = &spec.filesystem {
        fss.push((KeyPath::default().key("filesystem"), fs));
    }
    for (i, p) in spec.partitions.iter().enumerate() {
        if let Some(fs) = &p.filesystem {
            fss.push((
                KeyPath::default()
                    .key("partitions")
                    .index(i)
                    .key("filesystem"),
                fs,
            ));
        }
        if let Some(img) = &p.image {
            blobs.push(crate::tree::host::host_path(&ctx.base_dir, img));
        }
    }
    // What labels the trees is an input too.
    for (_, fs) in &fss {
        if let Some(se) = &fs.selinux {
            let files = se.file_contexts.paths().into_iter();
            for f in files.chain(se.substitutions.iter().cloned()) {
                blobs.push(crate::tree::host::host_path(&ctx.base_dir, &f));
            }
        }
    }
    if let Some(b) = spec.image.as_ref().and_then(|i| i.bootcode.as_ref()) {
        blobs.push(crate::tree::host::host_path(&ctx.base_dir, b));
    }
    let mut trees = Vec::new();
    for (at, fs) in &fss {
        trees.push((at.to_string(), resolve_fs(fs, at, ctx)?));
    }
    let refs: Vec<&Tree> = trees.iter().map(|(_, t)| t).collect();
    let paths: Vec<&Path> = blobs.iter().map(PathBuf::as_path).collect();
    let seed = super::manifest::derived_seed(spec, &refs, &paths)
        .map_err(|e| invalid("seed", format!("cannot derive a seed from the inputs: {e}")))?;
    ctx.resolved_ahead
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(trees);
    Ok(seed)
}

/// A problem with the filesystem's own `source` names that key, so that the
/// CLI can point at its line; other tree errors name their image path.
fn source_error(e: resolve::TreeError, fs: &FsSpec, at: &KeyPath, ctx: &ResolveCtx) -> BuildError {
    use resolve::TreeError::{NotADirectory, SourceMissing};
    // The key naming a layer's host path: `source`, or `sources[i].source`.
    let host = |p: &PathBuf| crate::tree::host::host_path(&ctx.base_dir, p);
    let key_of = |path: &PathBuf| -> Option<KeyPath> {
        if fs.source.as_ref().map(host).as_ref() == Some(path) {
            return Some(at.key("source"));
        }
        let i = fs.sources.iter().position(|l| &host(&l.source) == path)?;
        Some(at.key("sources").index(i).key("source"))
    };
    match e {
        SourceMissing { path } => match key_of(&path) {
            Some(k) => invalid(k, format!("{} does not exist", path.display())),
            None => SourceMissing { path }.into(),
        },
        NotADirectory { path } => match key_of(&path) {
            Some(k) => invalid(
                k,
                format!("{} is not a directory or a tar archive", path.display()),
            ),
            None => NotADirectory { path }.into(),
        },
        e => e.into(),
    }
}

impl Pending {
    pub(super) fn plan(
        &self,
        fit: Fit,
        placement: Placement,
    ) -> Result<Box<dyn VolumePlan>, BuildError> {
        self.options
            .plan(&self.tree, fit, placement)
            .map_err(|source| BuildError::Volume {
                context: self.key.clone(),
                source,
            })
    }
}

/// Plans the image `spec` describes with the registered formats.
pub fn plan(spec: &Spec, opts: &PlanOptions) -> Result<Planned, BuildError> {
    plan_with(spec, opts, crate::fs::FORMATS)
}

/// [`plan`] with a given set of formats.
pub fn plan_with(
    spec: &Spec,
    opts: &PlanOptions,
    formats: &[&dyn Format],
) -> Result<Planned, BuildError> {
    if spec.version != 1 {
        return Err(invalid(
            "version",
            format!(
                "{} is not supported; this fstool reads version 1",
                spec.version
            ),
        ));
    }
    let epoch = spec::epoch_from_env(spec, opts.env_source_date_epoch.as_deref())?;
    let ctx = ResolveCtx {
        base_dir: opts.base_dir.clone(),
        epoch,
        policy: spec.time_policy,
        sources: SourceStore::default(),
        time_range: spec.time_range,
        resolved_ahead: Default::default(),
        phase: opts.phase.clone(),
    };
    let seed = match &spec.seed {
        Some(s) => s.clone(),
        None => derive_seed(spec, &ctx)?,
    };
    let root = KeyPath::default();
    let cx = (seed.as_str(), epoch, &ctx);
    let (disk, contents, image) = match (&spec.filesystem, &spec.image) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "filesystem",
                "a spec has either [filesystem] or [image] with [[partitions]], not both",
            ))
        }
        (Some(_), None) if !spec.partitions.is_empty() => {
            return Err(invalid(
                "partitions",
                "[[partitions]] needs an [image] table",
            ))
        }
        (Some(fs), None) => {
            let id = identity(fs, None);
            let at = root.key("filesystem");
            let p = pending(fs, &at, 0, &id, cx, formats)?;
            let req = pv::request(fs, &at, (&seed, &id, 0), Site::Bare)?;
            let placement = Placement::default();
            let plan = p.plan(Fit::Auto, placement)?;
            // The tree follows the data, padded to a whole verity block.
            let verity = match req {
                Some(r) => {
                    let data = pv::align_up(plan.size());
                    Some(Box::new(Target::new(
                        &r,
                        data,
                        (0, data),
                        None,
                        &at.key("verity"),
                    )?))
                }
                None => None,
            };
            let content = Content::Volume {
                tree: p.tree,
                plan,
                placement,
                window: None,
                verity,
            };
            (None, vec![content], None)
        }
        (None, Some(image)) => {
            let (d, c) = super::disk::plan_disk(spec, image, cx, formats)?;
            (Some(d), c, Some(image))
        }
        (None, None) => {
            return Err(invalid(
                "filesystem",
                "the spec needs a [filesystem] table, or [image] with [[partitions]]",
            ))
        }
    };
    let container = container(image, opts.output.as_deref());
    let qcow2 = Qcow2Options {
        cluster_size: match image {
            Some(i) => values::size(&i.cluster_size)
                .map_err(|m| invalid("image.cluster_size", m))?
                .unwrap_or(u64::from(DEFAULT_CLUSTER_SIZE)),
            None => u64::from(DEFAULT_CLUSTER_SIZE),
        },
        compress: image.is_some_and(|i| i.compress),
    };
    let filesystems = contents
        .iter()
        .filter_map(|c| match c {
            Content::Volume {
                plan,
                placement,
                verity,
                ..
            } => Some(PlannedVolume {
                partition: partition_of(disk.as_ref(), placement.offset),
                offset: placement.offset,
                volume: plan.describe(),
                verity: verity.as_ref().map(|t| {
                    t.describe(
                        t.pair
                            .and_then(|(_, j)| disk.as_ref().map(|d| d.partitions()[j].number)),
                    )
                }),
            }),
            Content::Blob { .. } | Content::Signature { .. } => None,
        })
        .collect();
    let size = match (&disk, contents.first()) {
        (Some(d), _) => d.size,
        (None, Some(Content::Volume { plan, verity, .. })) => {
            verity.as_ref().map_or(plan.size(), |t| t.end())
        }
        (None, _) => 0,
    };
    Ok(Planned {
        image: ImagePlan {
            seed,
            source_date_epoch: epoch,
            format: container_name(container),
            size,
            partition_table: disk.as_ref().and_then(DiskPlan::info).map(|t| t.to_json()),
            filesystems,
        },
        container,
        qcow2,
        disk,
        contents,
        _sources: ctx.sources,
    })
}

fn partition_of(disk: Option<&DiskPlan>, offset: u64) -> Option<usize> {
    disk?
        .partitions()
        .iter()
        .find(|p| p.offset_bytes() == offset)
        .map(|p| p.number)
}
