//! `fstool extract`: a volume's tree restored to a host directory, or
//! written as a deterministic tar.
//!
//! Whatever the image says, nothing is written outside the destination:
//! every name is checked before anything is written (no empty names, no
//! `.` or `..`, no `/` or NUL), a directory holding two entries of one
//! name is refused (a symlink and a directory named alike would otherwise
//! let later entries write through the link), every entry's parent must
//! be a directory this extraction created itself, and files are created
//! with `O_EXCL`, so an existing symlink is never followed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::volume::InspectError;
use crate::read::{self, Kind, Metadata, NodeId, VolumeReader, WalkEntry};

/// What an extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractStats {
    pub entries: u64,
    pub bytes: u64,
    /// What could not be restored (device nodes without root, xattrs the
    /// host refuses, sockets in a tar), one line each.
    pub warnings: Vec<String>,
}

fn rerr(image: &str) -> impl FnOnce(read::ReadError) -> InspectError + '_ {
    move |source| InspectError::Read {
        image: image.to_string(),
        source,
    }
}

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> InspectError + '_ {
    move |source| InspectError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Walks the volume and checks every name; nothing is written yet.
fn checked_walk(r: &dyn VolumeReader, image: &str) -> Result<Vec<WalkEntry>, InspectError> {
    let entries = read::walk(r).map_err(rerr(image))?;
    let mut seen = BTreeSet::new();
    for e in &entries {
        let name = e.path.rsplit(|&c| c == b'/').next().unwrap_or_default();
        let refuse = |what: &str| InspectError::Refused {
            path: e.path_lossy(),
            what: format!("{what}; refusing to extract an entry that could escape the destination"),
        };
        if name.is_empty() || name == b"." || name == b".." {
            return Err(refuse(
                "the image holds a name that is empty, \".\" or \"..\"",
            ));
        }
        if name.contains(&0) {
            return Err(refuse("the image holds a name with a NUL byte"));
        }
        // A `/` inside a name shows up as an extra path component whose
        // parent is not the entry's directory: compare depths.
        let components = e
            .path
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty())
            .count();
        if components != e.depth {
            return Err(refuse("the image holds a name containing \"/\""));
        }
        if !seen.insert(e.path.clone()) {
            return Err(refuse(
                "the image holds two entries of this name in one directory",
            ));
        }
    }
    Ok(entries)
}

/// The path relative to the volume root (`a/b`).
fn rel(e: &WalkEntry) -> &[u8] {
    e.path.strip_prefix(b"/").unwrap_or(&e.path)
}

fn parent(rel: &[u8]) -> &[u8] {
    match rel.iter().rposition(|&c| c == b'/') {
        Some(i) => rel.get(..i).unwrap_or_default(),
        None => b"",
    }
}

/// Extracts the whole volume into `dest`, which must be absent or an
/// empty directory.
pub fn to_dir(
    r: &dyn VolumeReader,
    image: &str,
    dest: &Path,
) -> Result<ExtractStats, InspectError> {
    let entries = checked_walk(r, image)?;
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            if std::fs::read_dir(dest)
                .map_err(out_err(dest))?
                .next()
                .is_some()
            {
                return Err(InspectError::Refused {
                    path: dest.display().to_string(),
                    what: "the destination is not empty".into(),
                });
            }
        }
        Ok(_) => {
            return Err(InspectError::Refused {
                path: dest.display().to_string(),
                what: "the destination exists and is not a directory".into(),
            })
        }
        Err(_) => std::fs::create_dir_all(dest).map_err(out_err(dest))?,
    }
    let root = crate::io::is_root();
    let mut stats = ExtractStats::default();
    let mut made_dirs: BTreeSet<Vec<u8>> = BTreeSet::from([Vec::new()]);
    let mut linked: BTreeMap<NodeId, PathBuf> = BTreeMap::new();
    let mut dirs: Vec<(PathBuf, Metadata)> = vec![];
    for e in &entries {
        let rel = rel(e);
        if !made_dirs.contains(parent(rel)) {
            return Err(InspectError::Refused {
                path: e.path_lossy(),
                what: "its parent is not a directory this extraction created".into(),
            });
        }
        let host = dest.join(OsStr::from_bytes(rel));
        let md = r.metadata(e.node).map_err(rerr(image))?;
        stats.entries = stats.entries.saturating_add(1);
        if md.kind != Kind::Dir && md.nlink > 1 {
            if let Some(first) = linked.get(&e.node) {
                std::fs::hard_link(first, &host).map_err(out_err(&host))?;
                continue;
            }
            linked.insert(e.node, host.clone());
        }
        match md.kind {
            Kind::Dir => {
                std::fs::create_dir(&host).map_err(out_err(&host))?;
                made_dirs.insert(rel.to_vec());
                dirs.push((host, md));
                continue;
            }
            Kind::File => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&host)
                    .map_err(out_err(&host))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut f);
                let n = read::copy_file(r, e.node, &mut w).map_err(rerr(image))?;
                stats.bytes = stats.bytes.saturating_add(n);
                w.flush().map_err(out_err(&host))?;
            }
            Kind::Symlink => {
                let target = md.target.clone().unwrap_or_default();
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &host)
                    .map_err(out_err(&host))?;
            }
            Kind::CharDev | Kind::BlockDev if !root => {
                stats.warnings.push(format!(
                    "{}: device node {}:{} not created (needs root)",
                    e.path_lossy(),
                    md.rdev.0,
                    md.rdev.1
                ));
                continue;
            }
            Kind::CharDev | Kind::BlockDev | Kind::Fifo | Kind::Socket => {
                crate::io::mknod(&host, md.kind.mode_bits() | 0o600, md.rdev.0, md.rdev.1)
                    .map_err(out_err(&host))?;
            }
        }
        restore(&host, &md, root, &mut stats)?;
    }
    // Directories last, deepest first: their times would move while their
    // contents are written, and a read-only directory would block them.
    for (host, md) in dirs.iter().rev() {
        restore(host, md, root, &mut stats)?;
    }
    Ok(stats)
}

/// Owner (as root), permissions, xattrs and times, in that order: chown
/// clears setuid bits, and every other change moves ctime, not mtime.
fn restore(
    host: &Path,
    md: &Metadata,
    root: bool,
    stats: &mut ExtractStats,
) -> Result<(), InspectError> {
    if root {
        std::os::unix::fs::lchown(host, Some(md.uid), Some(md.gid)).map_err(out_err(host))?;
    }
    if md.kind != Kind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(host, std::fs::Permissions::from_mode(u32::from(md.mode)))
            .map_err(out_err(host))?;
    }
    for (name, value) in &md.xattrs {
        if let Err(e) = xattr::set(host, name, value) {
            stats.warnings.push(format!(
                "{}: xattr {name} not restored: {e}",
                host.display()
            ));
        }
    }
    let t = |ts: crate::read::Timestamp| filetime::FileTime::from_unix_time(ts.secs, ts.nanos);
    filetime::set_symlink_file_times(host, t(md.atime), t(md.mtime)).map_err(out_err(host))?;
    Ok(())
}

/// Reads a file of the volume as a stream.
struct NodeReader<'a> {
    r: &'a dyn VolumeReader,
    node: NodeId,
    pos: u64,
    size: u64,
}

impl Read for NodeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let n = self
            .r
            .read_at(self.node, self.pos, buf)
            .map_err(std::io::Error::other)?;
        if n == 0 {
            return Err(std::io::Error::other("file ends before its size"));
        }
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

/// Writes the whole volume as a tar to `out` (atomically). The archive
/// depends only on the image: entries in sorted path order, GNU headers
/// with the image's modes, owners and mtimes, no user or group names,
/// xattrs as `SCHILY.xattr.*` pax records, hard links as link entries.
pub fn to_tar(r: &dyn VolumeReader, image: &str, out: &Path) -> Result<ExtractStats, InspectError> {
    use tar::{EntryType, Header};
    let entries = checked_walk(r, image)?;
    let tmp = crate::io::AtomicOutput::create(out)?;
    let file = tmp.file()?;
    let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut stats = ExtractStats::default();
    let mut linked: BTreeMap<NodeId, Vec<u8>> = BTreeMap::new();
    let w = |e: std::io::Error| InspectError::Output {
        path: out.to_path_buf(),
        source: e,
    };
    for e in &entries {
        let md = r.metadata(e.node).map_err(rerr(image))?;
        let path = OsStr::from_bytes(rel(e));
        let mut h = Header::new_gnu();
        h.set_mode(u32::from(md.mode));
        h.set_uid(u64::from(md.uid));
        h.set_gid(u64::from(md.gid));
        h.set_mtime(u64::try_from(md.mtime.secs).unwrap_or(0));
        h.set_size(0);
        stats.entries = stats.entries.saturating_add(1);
        let mut pax: Vec<(String, Vec<u8>)> = md
            .xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.clone()))
            .collect();
        if md.mtime.nanos != 0 || md.mtime.secs < 0 {
            let t = format!("{}.{:09}", md.mtime.secs, md.mtime.nanos);
            pax.push(("mtime".into(), t.into_bytes()));
        }
        if md.kind != Kind::Dir && md.nlink > 1 {
            if let Some(first) = linked.get(&e.node) {
                h.set_entry_type(EntryType::Link);
                b.append_link(&mut h, path, OsStr::from_bytes(first))
                    .map_err(w)?;
                continue;
            }
            linked.insert(e.node, rel(e).to_vec());
        }
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(w)?;
        }
        match md.kind {
            Kind::Dir => {
                h.set_entry_type(EntryType::Directory);
                let mut p = rel(e).to_vec();
                p.push(b'/');
                b.append_data(&mut h, OsStr::from_bytes(&p), std::io::empty())
                    .map_err(w)?;
            }
            Kind::File => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(md.size);
                let rd = NodeReader {
                    r,
                    node: e.node,
                    pos: 0,
                    size: md.size,
                };
                b.append_data(&mut h, path, rd).map_err(w)?;
                stats.bytes = stats.bytes.saturating_add(md.size);
            }
            Kind::Symlink => {
                h.set_entry_type(EntryType::Symlink);
                let t = md.target.clone().unwrap_or_default();
                b.append_link(&mut h, path, OsStr::from_bytes(&t))
                    .map_err(w)?;
            }
            Kind::CharDev | Kind::BlockDev | Kind::Fifo => {
                h.set_entry_type(match md.kind {
                    Kind::CharDev => EntryType::Char,
                    Kind::BlockDev => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                h.set_device_major(md.rdev.0).map_err(w)?;
                h.set_device_minor(md.rdev.1).map_err(w)?;
                b.append_data(&mut h, path, std::io::empty()).map_err(w)?;
            }
            Kind::Socket => {
                stats.warnings.push(format!(
                    "{}: sockets cannot be stored in a tar; left out",
                    e.path_lossy()
                ));
            }
        }
    }
    let mut inner = b.into_inner().map_err(w)?;
    inner.flush().map_err(w)?;
    drop(inner);
    tmp.commit()?;
    Ok(stats)
}
