//! Reading a host directory tree ahead of the walk, on every core.
//!
//! The walk ([`super::source`]) decides what goes into the tree, in one
//! order, on one thread. What it asks of the host (a sorted listing, one
//! `lstat`, an access check, a symlink target, xattrs per entry) does not
//! depend on those decisions, and is most of a scan's time: here it is
//! done first, directory by directory, spread over the cores one level
//! of the tree at a time. Nothing here reaches the tree, so thread timing
//! cannot change it: every result sits at a place fixed by the names.
//!
//! Errors are kept, not raised: an entry the walk skips (a whiteout) must
//! not fail the build, and an error the walk does meet is raised then, in
//! walk order, as the one-thread walk raised it.

use super::source::Walk;
use super::TreeError;
use crate::tree::host::{self, HostEntry, HostKind};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Every directory under a root, read from the host.
pub(super) struct Scan {
    /// Index 0 is the root; an entry's `dir` points further in.
    dirs: Vec<Option<Listing>>,
}

/// One directory's sorted entries, or why it could not be listed.
pub(super) type Listing = Result<Vec<Scanned>, TreeError>;

/// One name in a listing and what the host said of it.
pub(super) struct Scanned {
    pub name: OsString,
    /// `lstat` (and, when the walk follows symlinks to files, the file).
    /// Errors are boxed: rare, and large next to an entry (a million
    /// entries are held at once).
    pub entry: Result<HostEntry, Box<TreeError>>,
    /// Read only when the walk keeps xattrs.
    pub xattrs: Result<Vec<(String, Vec<u8>)>, Box<TreeError>>,
    /// Where this directory's own listing is in the [`Scan`].
    pub dir: Option<u32>,
}

impl Scan {
    /// Reads every directory under `root`.
    pub(super) fn read(root: &Path, how: Walk) -> Scan {
        let mut dirs: Vec<Option<Listing>> = vec![None];
        let mut level: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), 0)];
        while !level.is_empty() {
            let listings = crate::par::map(&level, |(p, _)| list(p, how));
            let mut next = Vec::new();
            for ((path, slot), mut listing) in level.into_iter().zip(listings) {
                if let Ok(entries) = &mut listing {
                    for e in entries.iter_mut() {
                        if matches!(&e.entry, Ok(he) if he.kind == HostKind::Dir) {
                            // More directories than u32 counts cannot be
                            // ext/FAT/NTFS/EROFS trees anyway (the tree's
                            // own ids are u32; it fails TooLarge later).
                            e.dir = u32::try_from(dirs.len()).ok();
                            next.push((path.join(&e.name), dirs.len()));
                            dirs.push(None);
                        }
                    }
                }
                if let Some(d) = dirs.get_mut(slot) {
                    *d = Some(listing);
                }
            }
            level = next;
        }
        Scan { dirs }
    }

    /// Directory `k`'s listing, handed over once (memory is freed as the
    /// walk goes).
    pub(super) fn take(&mut self, k: u32) -> Listing {
        self.dirs
            .get_mut(k as usize)
            .and_then(Option::take)
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

/// Lists `dir` and reads each entry.
fn list(dir: &Path, how: Walk) -> Listing {
    let f = host::open_dir(dir)?;
    let names = host::list_dir(dir)?;
    Ok(names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let entry =
                host::read_entry_in(&f, &name, &path).and_then(|e| match how.follow_symlinks {
                    true => host::following_files(e, &path),
                    false => Ok(e),
                });
            let xattrs = match how.preserve_xattrs && entry.is_ok() {
                true => host::xattrs(&path),
                false => Ok(Vec::new()),
            };
            Scanned {
                name,
                entry: entry.map_err(Box::new),
                xattrs: xattrs.map_err(Box::new),
                dir: None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the scan the way the walk does, collecting `path` for every
    /// entry, in pre-order.
    fn paths(scan: &mut Scan, k: u32, at: &str, out: &mut Vec<String>) {
        for e in scan.take(k).unwrap_or_default() {
            let p = format!("{at}/{}", e.name.to_string_lossy());
            out.push(p.clone());
            if let Some(d) = e.dir {
                paths(scan, d, &p, out);
            }
        }
    }

    #[test]
    fn every_directory_is_read_once_and_sorted() {
        let t = tempfile::tempdir().unwrap();
        // Wide (many directories on one level, read on every core), deep
        // (a chain, read inline), and names whose byte order differs
        // from creation order.
        let mut want = Vec::new();
        for i in (0..40).rev() {
            let d = t.path().join(format!("d{i:02}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("b"), b"x").unwrap();
            std::fs::write(d.join("a"), b"").unwrap();
        }
        let mut deep = t.path().join("z");
        for _ in 0..50 {
            std::fs::create_dir(&deep).unwrap();
            deep = deep.join("z");
        }
        for i in 0..40 {
            want.push(format!("/d{i:02}"));
            want.push(format!("/d{i:02}/a"));
            want.push(format!("/d{i:02}/b"));
        }
        let mut z = String::new();
        for _ in 0..50 {
            z.push_str("/z");
            want.push(z.clone());
        }
        let how = Walk {
            preserve_xattrs: false,
            keep_setgid: false,
            follow_symlinks: false,
        };
        let mut scan = Scan::read(t.path(), how);
        let mut got = Vec::new();
        paths(&mut scan, 0, "", &mut got);
        assert_eq!(got, want);
        // Handed over once: a second take is empty.
        assert!(scan.take(0).unwrap().is_empty());
    }

    #[test]
    fn a_missing_root_is_an_error_of_the_root_listing() {
        let t = tempfile::tempdir().unwrap();
        let how = Walk {
            preserve_xattrs: true,
            keep_setgid: false,
            follow_symlinks: true,
        };
        let mut scan = Scan::read(&t.path().join("absent"), how);
        assert!(matches!(scan.take(0), Err(TreeError::Unreadable { .. })));
    }
}
