//! The build pipeline: spec → plan (trees resolved, every size, offset and
//! ID decided; see [`crate::plan::image`]) → output opened → tables and
//! volumes written → hash → report (the plan plus the writers' counts).

mod cache;
pub mod digest;
mod output;
mod report;

pub use output::sha256_file;
pub use report::{FsReport, Report};

use crate::fs::FsError;
use crate::io::{AtomicOutput, BlockDevice, IoError, Slice};
use crate::plan::image::{self, Content, PlanOptions, Planned};
use crate::progress::Tick;
use crate::spec::{self, ImageFormat, Spec};
use crate::tree::resolve;
use std::path::PathBuf;

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
    /// A filesystem format failed to plan or write.
    #[error("{context}: {source}")]
    Volume {
        context: String,
        #[source]
        source: FsError,
    },
    #[error(transparent)]
    Part(#[from] crate::part::PartError),
    #[error(transparent)]
    Container(#[from] crate::container::qcow2::ContainerError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
    /// The `--cache` directory cannot be used.
    #[error("cache {dir}: {message}")]
    Cache { dir: PathBuf, message: String },
}

pub(crate) fn invalid(key: impl ToString, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        key: key.to_string(),
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
    /// Compute the image's SHA-256 (default). Hashing reads every byte of
    /// the image, holes included: for a huge, mostly empty disk it costs far
    /// more than writing it, so `--no-hash` can turn it off.
    pub hash: bool,
    /// `SOURCE_DATE_EPOCH` as the caller read it (the library never reads
    /// the environment).
    pub env_source_date_epoch: Option<std::ffi::OsString>,
    /// Phase timings on stderr (benchmarks; never part of the output).
    pub timing: bool,
    /// Put the input digest ([`digest`]) into the report.
    pub input_digest: bool,
    /// Reuse an image built before from the same inputs, kept in this
    /// directory by input digest, and keep this one there (implies
    /// `input_digest`).
    pub cache: Option<PathBuf>,
}

impl BuildOptions {
    /// The planning half of the options.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            base_dir: self.base_dir.clone(),
            output: Some(self.output.clone()),
            env_source_date_epoch: self.env_source_date_epoch.clone(),
            phase: Default::default(),
        }
    }
}

/// Builds the image a spec describes.
pub fn build(spec: &Spec, opts: &BuildOptions) -> Result<Report, BuildError> {
    build_with(spec, opts, crate::fs::FORMATS)
}

/// [`build`] with a given set of formats.
pub fn build_with(
    spec: &Spec,
    opts: &BuildOptions,
    formats: &[&dyn crate::fs::Format],
) -> Result<Report, BuildError> {
    let timing = output::Timing::new(opts.timing);
    let mut bar = crate::progress::Bar::new(opts.progress);
    let mut plan_opts = opts.plan_options();
    plan_opts.phase = match opts.timing {
        // Phase changes inside planning, with the time since the start
        // and the memory then (where a huge tree's memory goes).
        true => {
            let bar_phase = bar.phase_callback();
            let start = std::time::Instant::now();
            crate::progress::Phase::new(move |what| {
                eprintln!(
                    "timing:   {:.3} s: {what}{}",
                    start.elapsed().as_secs_f64(),
                    output::memory()
                );
                bar_phase.set(what);
            })
        }
        false => bar.phase_callback(),
    };
    let mut planned = image::plan_with(spec, &plan_opts, formats)?;
    timing.mark("resolve+plan");
    planned.qcow2.check()?;
    let digest = match opts.input_digest || opts.cache.is_some() {
        true => Some(digest::input_digest(spec, &opts.base_dir, &planned)?),
        false => None,
    };
    timing.mark("input digest");
    if let (Some(dir), Some(d)) = (&opts.cache, &digest) {
        if let Some(report) = cache::reuse(dir, d, &planned, &opts.output, opts.hash)? {
            bar.finish();
            timing.mark("copy from cache");
            return Ok(report);
        }
    }
    let size = planned.size();
    let out = AtomicOutput::create(&opts.output)?;
    let mut dev = output::open(&out, size, planned.container, &planned.qcow2)?;
    let writing = if planned.container == ImageFormat::Qcow2 && planned.qcow2.compress {
        "writing and compressing"
    } else {
        "writing"
    };
    bar.bytes(writing, 0);
    // Disks are hashed after writing: their writers report progress inside
    // their partition, not in image offsets.
    let follow = planned.container == ImageFormat::Raw && opts.hash && planned.is_bare();
    let (stats, sha256) = if follow {
        // Hash on the second core while the writer works: the writer says
        // which prefix of the image is final, the hasher follows behind.
        let follower = output::FollowingHasher::new(out.path(), size)?;
        let (written, hashed) = std::thread::scope(|s| {
            let hashing = s.spawn(|| follower.run());
            // A panic in the writer must stop the hasher too, or the scope
            // waits for it for ever.
            let _stop = output::AbortOnUnwind(&follower);
            let started = std::time::Instant::now();
            let written = planned.write_to(dev.as_mut(), &mut |t| {
                bar.update(t.data_done, t.data_total);
                follower.advance(t.final_below);
            });
            let writer_done = written.is_ok().then(|| started.elapsed());
            match &written {
                Ok(_) => follower.advance(size),
                Err(_) => follower.abort(),
            }
            // The write is done; the hash has its own bar until it is too.
            if written.is_ok() {
                follower.show_until_done(&hashing, &mut bar);
            }
            let hashed = hashing.join();
            if let Some(w) = writer_done {
                let (first, later) = follower.waited();
                timing.note(format_args!(
                    "writer {:.3} s; hasher idle {first:.3} s before the first final byte, \
                     {later:.3} s later; done {:.3} s after the writer",
                    w.as_secs_f64(),
                    started.elapsed().saturating_sub(w).as_secs_f64()
                ));
            }
            (written, hashed)
        });
        let stats = written?;
        let sha256 = match hashed {
            Ok(r) => r?,
            Err(_) => return Err(invalid("output", "the hashing thread panicked")),
        };
        timing.mark("write+hash");
        dev.finish()?;
        drop(dev);
        (stats, Some(sha256))
    } else {
        let stats =
            planned.write_to(dev.as_mut(), &mut |t| bar.update(t.data_done, t.data_total))?;
        timing.mark("write");
        (stats, output::finish(dev, &out, opts.hash, &mut bar)?)
    };
    bar.finish();
    let mut report = Report::new(
        opts.output.display().to_string(),
        sha256,
        planned.image,
        stats,
    );
    report.input_digest = digest;
    // Kept before the output is renamed into place: a cache that cannot
    // take the image fails the build with nothing left behind.
    if let (Some(dir), Some(d)) = (&opts.cache, &report.input_digest) {
        cache::keep(dir, d, out.path(), &report)?;
        report.cache = Some(cache::Outcome::Stored);
    }
    out.commit()?;
    timing.mark("finish");
    Ok(report)
}

/// A written tree's root hash, and the (data, hash) partition indices of
/// its pair in the partition layout.
type RootHash = ([u8; 32], Option<(usize, usize)>);

impl Planned {
    /// Writes the planned image onto `dev` (the whole image, of
    /// [`Planned::size`] bytes): tables first, then every partition's
    /// content, then the verity trees over what was written. Returns each
    /// volume's writer counts, in plan order; the root hashes, and the
    /// partition UUIDs that follow from them, go into the plan.
    pub fn write_to(
        &mut self,
        dev: &mut dyn BlockDevice,
        progress: &mut dyn FnMut(Tick),
    ) -> Result<Vec<crate::fs::VolumeStats>, BuildError> {
        if let Some(d) = &self.disk {
            crate::part::write_tables(d, dev)?;
        }
        let mut stats = Vec::new();
        let mut roots = Vec::new();
        for c in &self.contents {
            match c {
                Content::Volume {
                    tree,
                    plan,
                    window,
                    verity,
                    ..
                } => {
                    let desc = plan.describe();
                    let context = format!("writing the {} filesystem", desc.fs_type);
                    let err = |source| BuildError::Volume {
                        context: context.clone(),
                        source,
                    };
                    let s = match window {
                        Some((offset, len)) => {
                            let mut slice = Slice::new(dev, *offset, *len)?;
                            plan.write(tree, &mut slice, progress).map_err(err)?
                        }
                        None => plan.write(tree, dev, progress).map_err(err)?,
                    };
                    stats.push(s);
                    roots.push(match verity {
                        Some(t) => {
                            let root = crate::verity::write_tree(
                                &t.plan,
                                dev,
                                t.data_offset,
                                t.hash_offset,
                            )
                            .map_err(|e| invalid("verity", e.to_string()))?;
                            Some((root, t.pair))
                        }
                        None => None,
                    });
                }
                Content::Blob { path, partition } => {
                    let d = self
                        .disk
                        .as_ref()
                        .ok_or_else(|| invalid("partitions", "no disk"))?;
                    crate::part::write_blob(dev, &d.partitions()[*partition], path)?;
                }
                // Written below, once the root hash is known.
                Content::Signature { .. } => {}
            }
        }
        self.record_verity(&roots, dev)?;
        self.write_signatures(&roots, dev)?;
        Ok(stats)
    }

    /// Fills every signature partition: the JSON object with its pair's
    /// root hash, signed, then NUL bytes to the partition's end.
    fn write_signatures(
        &self,
        roots: &[Option<RootHash>],
        dev: &mut dyn BlockDevice,
    ) -> Result<(), BuildError> {
        for c in &self.contents {
            let Content::Signature {
                partition,
                data,
                signer,
            } = c
            else {
                continue;
            };
            let key = format!("partitions[{partition}].signature");
            let root = roots
                .iter()
                .flatten()
                .find(|(_, pair)| pair.is_some_and(|(i, _)| i == *data))
                .map(|(root, _)| crate::bytes::hex(root))
                .ok_or_else(|| invalid(&key, "internal: no root hash for the signed partition"))?;
            let d = self
                .disk
                .as_ref()
                .ok_or_else(|| invalid(&key, "internal: no disk"))?;
            let p = &d.partitions()[*partition];
            let mut bytes = signer.json(&root).into_bytes();
            if bytes.len() as u64 > p.size_bytes() {
                return Err(invalid(
                    format!("partitions[{partition}].size"),
                    format!(
                        "the signature object takes {} bytes; the partition has {}",
                        bytes.len(),
                        p.size_bytes()
                    ),
                ));
            }
            bytes.resize(p.size_bytes() as usize, 0);
            dev.write_at(p.offset_bytes(), &bytes)?;
        }
        Ok(())
    }

    /// Puts the root hashes into the plan, and gives each verity pair the
    /// partition UUIDs of its root hash (data: the first 128 bits, hash:
    /// the last), rewriting the tables when any changed.
    fn record_verity(
        &mut self,
        roots: &[Option<RootHash>],
        dev: &mut dyn BlockDevice,
    ) -> Result<(), BuildError> {
        let mut paired = false;
        for (v, r) in self.image.filesystems.iter_mut().zip(roots) {
            let (Some(desc), Some((root, pair))) = (v.verity.as_mut(), r) else {
                continue;
            };
            desc.roothash = Some(crate::bytes::hex(root));
            if let (Some((i, j)), Some(d)) = (pair, self.disk.as_mut()) {
                let half = |h: &[u8]| uuid::Uuid::from_slice(h).unwrap_or_default();
                d.set_partition_uuid(*i, half(&root[..16]));
                d.set_partition_uuid(*j, half(&root[16..]));
                paired = true;
            }
        }
        if let (true, Some(d)) = (paired, &self.disk) {
            crate::part::write_tables(d, dev)?;
            self.image.partition_table = d.info().map(|t| t.to_json());
        }
        Ok(())
    }
}
