//! Where a build keeps what it extracts from its sources (tar members),
//! for as long as the trees that point into it are alive.

use crate::io::cleanup::{self, Registered};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Temporary directories of one build. Cloning gives another handle to the
/// same store; the directories are removed when the last handle is dropped,
/// which is when the build (and its plan, whose trees name files in them)
/// is over. Nothing is process-wide, so library callers do not leak them.
#[derive(Debug, Clone, Default)]
pub struct SourceStore(Arc<Mutex<Vec<(tempfile::TempDir, Registered)>>>);

/// Extraction dirs are `fstool-tar-<pid>-<random>` in the temp directory.
const TAR_BASE: &str = "fstool-tar-";

impl SourceStore {
    /// A new, empty directory that lives as long as the store.
    pub fn new_dir(&self) -> std::io::Result<PathBuf> {
        let parent = std::env::temp_dir();
        cleanup::remove_stale(&parent, TAR_BASE);
        let dir = tempfile::Builder::new()
            .prefix(&cleanup::owned_prefix(TAR_BASE))
            .tempdir_in(&parent)?;
        let path = dir.path().to_path_buf();
        let registered = cleanup::register(&path);
        // A poisoned lock only means another thread panicked while pushing;
        // the list itself is still sound.
        let mut dirs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        dirs.push((dir, registered));
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_go_with_the_last_handle() {
        let store = SourceStore::default();
        let other = store.clone();
        let a = store.new_dir().unwrap();
        let b = other.new_dir().unwrap();
        assert!(a.is_dir() && b.is_dir() && a != b);
        drop(store);
        assert!(a.is_dir(), "a handle is still alive");
        drop(other);
        assert!(!a.exists() && !b.exists());
    }
}
