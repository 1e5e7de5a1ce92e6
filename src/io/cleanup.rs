//! Leaving nothing behind: the temp files and directories a build creates
//! are named after the process that owns them, removed when the process is
//! interrupted (SIGINT, SIGTERM, SIGHUP), and, after a SIGKILL, removed by
//! the next build that finds them with their owner gone.
//!
//! Names: `.fstool-<pid>-<random>.tmp` beside the output, and
//! `fstool-tar-<pid>-<random>` in the temp directory. The pid makes it safe
//! for a later build to tell a stale file from a live build's.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Paths to remove if the process is interrupted. Process-wide because a
/// signal is: the owners (temp files, temp dirs) still remove them on drop.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The prefix of this process's temp names: `<base><pid>-`.
pub fn owned_prefix(base: &str) -> String {
    format!("{base}{}-", std::process::id())
}

/// Keeps `path` on the list of what an interruption removes, until dropped.
#[derive(Debug)]
pub struct Registered(PathBuf);

/// Puts `path` on the list of what an interruption removes.
pub fn register(path: &Path) -> Registered {
    lock().push(path.to_path_buf());
    Registered(path.to_path_buf())
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut list = lock();
        if let Some(i) = list.iter().position(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A poisoned lock only means a thread panicked while pushing; the list
    // itself is still sound.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes everything registered. Called on a signal, just before exit.
pub fn remove_registered() {
    for p in lock().drain(..) {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// Removes entries of `dir` named `<base><pid>-...` whose process no longer
/// exists (a build killed with SIGKILL, or a crash). Entries of live
/// processes, this one included, and every other name are left alone.
/// Best effort: what cannot be removed stays.
pub fn remove_stale(dir: &Path, base: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = owner_pid(&name.to_string_lossy(), base) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let _ = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
            Ok(_) => std::fs::remove_file(&p),
            Err(_) => Ok(()),
        };
    }
}

/// The pid in a name `<base><pid>-<rest>`.
fn owner_pid(name: &str, base: &str) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    let (pid, tail) = rest.split_once('-')?;
    if tail.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pids_are_read_only_from_our_names() {
        assert_eq!(owner_pid(".fstool-123-abc.tmp", ".fstool-"), Some(123));
        assert_eq!(owner_pid(".fstool-abc.tmp", ".fstool-"), None);
        assert_eq!(owner_pid(".fstool-12x-a", ".fstool-"), None);
        assert_eq!(owner_pid("image.img", ".fstool-"), None);
        assert_eq!(owner_pid("fstool-tar-77-q", "fstool-tar-"), Some(77));
    }

    #[test]
    fn stale_entries_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        // No process has pid 0 in /proc; this process is alive.
        let stale = dir.path().join(".fstool-0-x.tmp");
        let stale_dir = dir.path().join(".fstool-0-d.tmp");
        let live = dir
            .path()
            .join(format!("{}x.tmp", owned_prefix(".fstool-")));
        let other = dir.path().join("keep.img");
        for f in [&stale, &live, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        std::fs::create_dir(&stale_dir).unwrap();
        remove_stale(dir.path(), ".fstool-");
        assert!(!stale.exists() && !stale_dir.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn registration_ends_with_the_guard() {
        // Only this test's own path is looked at: other tests register too.
        let p = PathBuf::from("/nonexistent/fstool-cleanup-test");
        let has = || lock().contains(&p);
        let r = register(&p);
        assert!(has());
        drop(r);
        assert!(!has());
    }
}
