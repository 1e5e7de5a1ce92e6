//! `fstool verify SPEC IMAGE`: is IMAGE exactly what SPEC builds?
//!
//! The spec is built again, with the same options a build would use, into a
//! private temporary directory (`fstool-verify-<pid>-*` in the temp
//! directory: nothing is written beside the image, and an interrupted
//! verify leaves nothing behind), and the two images are compared by
//! [`super::diff`]. Equal guest bytes verify, and with them every path,
//! mode, owner, time, xattr, content byte and ID the spec pins or derives.
//! Anything else is explained the way `diff` explains it: the partition
//! table and superblock fields by name (a wrong UUID or GPT GUID), then the
//! file tree by path (`/etc/hostname: content: first difference at byte 3`).

use super::diff::{self, DiffReport};
use super::volume::InspectError;
use crate::build::{build, BuildError, BuildOptions};
use crate::io::cleanup;
use crate::spec::Spec;
use std::path::{Path, PathBuf};

/// Why a verification could not be carried out (as opposed to finding a
/// difference).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The spec does not build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The image (or the rebuilt one) cannot be read.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error("cannot create a temporary directory for the rebuild: {0}")]
    Temp(#[source] std::io::Error),
}

/// Where the spec's relative paths start and what `SOURCE_DATE_EPOCH` says,
/// as for a build.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub base_dir: PathBuf,
    pub env_source_date_epoch: Option<std::ffi::OsString>,
}

/// The outcome: the comparison of IMAGE (`a`) with the rebuild (`b`), and
/// the rebuild's SHA-256.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub verified: bool,
    pub expected_sha256: Option<String>,
    pub diff: DiffReport,
}

const BASE: &str = "fstool-verify-";

/// Rebuilds `spec` and compares `image` with it.
pub fn verify(
    spec: &Spec,
    opts: &VerifyOptions,
    image: &Path,
) -> Result<Verification, VerifyError> {
    // An image that cannot be opened fails before the rebuild is paid for.
    super::open(image).map_err(InspectError::from)?;
    let parent = std::env::temp_dir();
    cleanup::remove_stale(&parent, BASE);
    let dir = tempfile::Builder::new()
        .prefix(&cleanup::owned_prefix(BASE))
        .tempdir_in(&parent)
        .map_err(VerifyError::Temp)?;
    let _registered = cleanup::register(dir.path());
    // The rebuild gets the image's extension: an `.qcow2` name picks the
    // container when the spec leaves it to the output's name.
    let ext = image
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "img".into());
    let rebuilt = dir.path().join(format!("expected.{ext}"));
    let report = build(
        spec,
        &BuildOptions {
            output: rebuilt.clone(),
            base_dir: opts.base_dir.clone(),
            progress: false,
            hash: true,
            env_source_date_epoch: opts.env_source_date_epoch.clone(),
            timing: false,
            input_digest: false,
            cache: None,
        },
    )?;
    let d = diff::diff(image, &rebuilt)?;
    Ok(Verification {
        verified: d.same,
        expected_sha256: report.sha256,
        diff: d,
    })
}
