//! Resolution of a filesystem spec into a [`Tree`](super::Tree).

use super::Tree;
use crate::spec::{FsSpec, TimePolicy};
use std::path::PathBuf;

/// Context for resolution: where relative paths start, and the time policy.
#[derive(Debug, Clone)]
pub struct ResolveCtx {
    /// Relative `source` paths in the spec are resolved against this
    /// directory (the spec file's directory, or the working directory).
    pub base_dir: PathBuf,
    /// `source_date_epoch` in effect.
    pub epoch: i64,
    pub policy: TimePolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("tree resolution is not available yet")]
    NotAvailable,
}

/// Builds the tree for one filesystem.
pub fn resolve(_fs: &FsSpec, _ctx: &ResolveCtx) -> Result<Tree, TreeError> {
    Err(TreeError::NotAvailable)
}
