//! `build --cache DIR`: images kept by input digest, so that a build whose
//! inputs did not change copies its image instead of writing it.
//!
//! An entry is two files: `DIR/<input digest>.img`, the image, and
//! `DIR/<input digest>.json`, its build report. Both are written to temp
//! files and renamed into place, the report last, so a half-written entry
//! is never used. An entry is used only when its report agrees with the
//! plan of this build (sizes, IDs, geometry) and its image has the planned
//! size; anything else is a miss and the entry is replaced. The image is
//! copied with a reflink where the filesystem has one (btrfs, XFS), and
//! otherwise data segment by data segment, keeping holes.
//!
//! The cache trusts its files as ccache does: it does not re-hash an image
//! it copies (that would cost what a build costs). `fstool verify` checks
//! an image against its spec when that is in doubt.

use super::{BuildError, Report};
use crate::fs::VolumeStats;
use crate::io::{cleanup, AtomicOutput};
use crate::plan::image::Planned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What `--cache` did, as the report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The image was copied from the cache.
    Hit,
    /// The image was built and kept in the cache.
    Stored,
}

fn err(dir: &Path, message: impl std::fmt::Display) -> BuildError {
    BuildError::Cache {
        dir: dir.to_path_buf(),
        message: message.to_string(),
    }
}

fn entry(dir: &Path, digest: &str, ext: &str) -> PathBuf {
    dir.join(format!("{digest}.{ext}"))
}

/// Copies the cached image of `digest` to `output` and returns its report,
/// or `None` when the cache has no usable entry.
pub(super) fn reuse(
    dir: &Path,
    digest: &str,
    planned: &Planned,
    output: &Path,
    hash: bool,
) -> Result<Option<Report>, BuildError> {
    let Ok(text) = std::fs::read(entry(dir, digest, "json")) else {
        return Ok(None);
    };
    let Ok(stored) = serde_json::from_slice::<Value>(&text) else {
        return Ok(None);
    };
    let image = entry(dir, digest, "img");
    match std::fs::metadata(&image) {
        Ok(m) if m.is_file() && m.len() == planned.size() => {}
        _ => return Ok(None),
    }
    let Some(mut report) = report_from(&stored, planned, output) else {
        return Ok(None);
    };
    let out = AtomicOutput::create(output)?;
    crate::io::copy_image(&image, &out.file()?, output)?;
    if report.sha256.is_none() && hash {
        report.sha256 = Some(super::output::sha256_file(out.path())?);
    }
    report.input_digest = Some(digest.to_string());
    report.cache = Some(Outcome::Hit);
    out.commit()?;
    Ok(Some(report))
}

/// The report this build would write, from the plan and what the stored
/// report adds to it (the writers' counts, verity root hashes and the
/// partition UUIDs that follow from them, the hash); `None` when the two
/// disagree on anything the plan decides.
fn report_from(stored: &Value, planned: &Planned, output: &Path) -> Option<Report> {
    let mut image = planned.image.clone();
    let fss = stored.get("filesystems")?.as_array()?;
    if fss.len() != image.filesystems.len() {
        return None;
    }
    let mut stats = Vec::with_capacity(fss.len());
    for (fs, planned_fs) in fss.iter().zip(image.filesystems.iter_mut()) {
        stats.push(serde_json::from_value::<VolumeStats>(fs.clone()).ok()?);
        if let Some(v) = planned_fs.verity.as_mut() {
            let root = fs.get("verity")?.get("roothash")?.as_str()?;
            v.roothash = Some(root.to_string());
        }
    }
    if image.partition_table.is_some() {
        image.partition_table = Some(stored.get("partition_table")?.clone());
    }
    let sha256 = stored
        .get("sha256")
        .and_then(Value::as_str)
        .map(str::to_string);
    let report = Report::new(output.display().to_string(), sha256, image, stats);
    // Everything but where the image goes must match what was stored.
    let mut mine = serde_json::to_value(&report).ok()?;
    let mut theirs = stored.clone();
    for v in [&mut mine, &mut theirs] {
        if let Some(m) = v.as_object_mut() {
            for k in ["output", "cache", "input_digest"] {
                m.remove(k);
            }
        }
    }
    (mine == theirs).then_some(report)
}

/// Keeps the finished image at `image` (not yet renamed into place) and its
/// report as the cache entry of `digest`.
pub(super) fn keep(
    dir: &Path,
    digest: &str,
    image: &Path,
    report: &Report,
) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, format!("cannot create it: {e}")))?;
    let temp = |suffix: &str| {
        tempfile::Builder::new()
            .prefix(&cleanup::owned_prefix(crate::io::TEMP_BASE))
            .suffix(suffix)
            .tempfile_in(dir)
            .map_err(|e| err(dir, format!("cannot write in it: {e}")))
    };
    cleanup::remove_stale(dir, crate::io::TEMP_BASE);
    let img = temp(".tmp")?;
    let _img_registered = cleanup::register(img.path());
    crate::io::copy_image(image, img.as_file(), img.path())?;
    // Entries are for whoever shares the cache, as outputs are (0644).
    let public = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).map_err(|e| err(dir, e))
    };
    public(img.path())?;
    img.persist(entry(dir, digest, "img"))
        .map_err(|e| err(dir, e.error))?;
    let json = temp(".tmp")?;
    let _json_registered = cleanup::register(json.path());
    let text = serde_json::to_string_pretty(report).map_err(|e| err(dir, e))? + "\n";
    std::fs::write(json.path(), text).map_err(|e| err(dir, e))?;
    public(json.path())?;
    json.persist(entry(dir, digest, "json"))
        .map_err(|e| err(dir, e.error))?;
    Ok(())
}
