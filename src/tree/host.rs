//! Reading the host: directory listings sorted by name bytes, one
//! `lstat` per entry, symlink targets, xattrs. Symlinks are never followed
//! inside a source tree, so a symlink loop is just two links.

use super::resolve::TreeError;
use super::Timestamp;
use crate::io::{lstat_at, readable_at, Stat};
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a host path is, as far as the tree cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostKind {
    Dir,
    File { len: u64 },
    Symlink { target: Vec<u8> },
    CharDev { major: u32, minor: u32 },
    BlockDev { major: u32, minor: u32 },
    Fifo,
    Socket,
}

/// One host entry, read with `lstat`.
#[derive(Debug, Clone)]
pub(super) struct HostEntry {
    pub kind: HostKind,
    /// Permission bits only (`st_mode & 0o7777`).
    pub perm: u16,
    pub mtime: Timestamp,
    /// (st_dev, st_ino) when the entry may be hard-linked (not a directory
    /// and `st_nlink > 1`).
    pub link_key: Option<(u64, u64)>,
}

/// Major and minor of a Linux `dev_t` (glibc's 64-bit encoding: the major
/// number's low 12 bits at 8..20 and high bits at 44..64, the minor's low 8
/// bits at 0..8 and high bits at 20..44).
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x00ff);
    (major as u32, minor as u32)
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> TreeError + '_ {
    move |source| TreeError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn mtime_of(md: &Metadata) -> Timestamp {
    timestamp(md.mtime(), md.mtime_nsec())
}

fn timestamp(secs: i64, nsec: i64) -> Timestamp {
    Timestamp {
        secs,
        // Out-of-range nanoseconds cannot come from a sane kernel; 0 keeps
        // the value valid rather than failing the build.
        nanos: u32::try_from(nsec)
            .ok()
            .filter(|n| *n < 1_000_000_000)
            .unwrap_or(0),
    }
}

/// Classifies an `lstat` result. Regular files must pass `readable` (they
/// are checked now rather than halfway through a build; their contents
/// are not read); symlink targets are read from `path`.
fn classify(
    st: Stat,
    path: &Path,
    readable: impl FnOnce() -> std::io::Result<()>,
) -> Result<HostEntry, TreeError> {
    let kind = match st.mode & libc::S_IFMT {
        libc::S_IFDIR => HostKind::Dir,
        libc::S_IFREG => {
            readable().map_err(unreadable(path))?;
            HostKind::File { len: st.size }
        }
        libc::S_IFLNK => {
            let t = std::fs::read_link(path).map_err(unreadable(path))?;
            HostKind::Symlink {
                target: t.as_os_str().as_bytes().to_vec(),
            }
        }
        libc::S_IFCHR => {
            let (major, minor) = split_dev(st.rdev);
            HostKind::CharDev { major, minor }
        }
        libc::S_IFBLK => {
            let (major, minor) = split_dev(st.rdev);
            HostKind::BlockDev { major, minor }
        }
        libc::S_IFIFO => HostKind::Fifo,
        _ => HostKind::Socket,
    };
    let link_key = (kind != HostKind::Dir && st.nlink > 1).then_some((st.dev, st.ino));
    Ok(HostEntry {
        kind,
        perm: (st.mode & 0o7777) as u16,
        mtime: timestamp(st.mtime, st.mtime_nsec),
        link_key,
    })
}

/// An open host directory, so that its entries are looked at relative to
/// it: one path walk per directory instead of one per entry and call.
pub(super) fn open_dir(path: &Path) -> Result<std::fs::File, TreeError> {
    std::fs::File::open(path).map_err(unreadable(path))
}

/// [`read_entry`] for `name` in the open directory `dir` (whose path
/// joined with `name` is `path`, for messages and symlink targets).
pub(super) fn read_entry_in(
    dir: &std::fs::File,
    name: &std::ffi::OsStr,
    path: &Path,
) -> Result<HostEntry, TreeError> {
    let st = lstat_at(dir, name).map_err(unreadable(path))?;
    classify(st, path, || readable_at(dir, name))
}

/// `e` (read at `path`), except that a symlink to a regular file reads as
/// that file (its length, permission bits and mtime; never a hard link):
/// build sandboxes stage a directory's files as symlinks to where they
/// live.
pub(super) fn following_files(e: HostEntry, path: &Path) -> Result<HostEntry, TreeError> {
    if !matches!(e.kind, HostKind::Symlink { .. }) {
        return Ok(e);
    }
    match std::fs::metadata(path) {
        Ok(md) if md.is_file() => {
            std::fs::File::open(path).map_err(unreadable(path))?;
            Ok(HostEntry {
                kind: HostKind::File { len: md.len() },
                perm: (md.mode() & 0o7777) as u16,
                mtime: mtime_of(&md),
                link_key: None,
            })
        }
        _ => Ok(e),
    }
}

/// Names in a directory, sorted by name bytes (never `readdir` order).
pub(super) fn list_dir(path: &Path) -> Result<Vec<OsString>, TreeError> {
    let mut names = Vec::new();
    for ent in std::fs::read_dir(path).map_err(unreadable(path))? {
        names.push(ent.map_err(unreadable(path))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// The xattrs of `path` itself (not of a symlink's target), sorted by name.
/// A filesystem without xattr support has none.
pub(super) fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, TreeError> {
    let err = |source: std::io::Error| TreeError::Xattr {
        path: path.to_path_buf(),
        source,
    };
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for name in names {
        let value = xattr::get(path, &name).map_err(err)?;
        let name = name.into_string().map_err(|n| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("xattr name {n:?} is not UTF-8"),
            ))
        })?;
        // Removed between list and get: nothing to copy.
        if let Some(v) = value {
            out.push((name, v));
        }
    }
    out.sort();
    Ok(out)
}

/// `base.join(p)` unless `p` is absolute.
pub(crate) fn host_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's `makedev`, written from its documented bit layout.
    fn makedev(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
    }

    #[test]
    fn dev_split() {
        assert_eq!(split_dev(0x0801), (8, 1));
        assert_eq!(split_dev(makedev(8, 1)), (8, 1));
        assert_eq!(
            split_dev(makedev(0x1_2345, 0x0abc_def0)),
            (0x1_2345, 0x0abc_def0)
        );
    }
}
