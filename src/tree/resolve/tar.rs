//! A tar archive as a filesystem's `source` (`.tar`, `.tar.gz`, `.tgz`).
//!
//! The archive is read once, in archive order, like an extraction: later
//! members replace earlier ones of the same path, a directory member over an
//! existing directory only changes its metadata, parents without a member
//! are implied (0755, 0:0, the epoch). Unlike a host directory, members keep
//! the archive's owners (uid/gid) as well as its permission bits: a tar's
//! owners are content, not the state of whoever unpacked it. Times follow
//! the time policy like host mtimes. GNU long names and pax path/linkpath
//! records are honoured (the `tar` crate folds them into the member).
//!
//! Contents are never held in memory: regular members are streamed into a
//! private temporary directory, one file per member named by its index in
//! the archive, and enter the tree as host files. The directory lives until
//! [`release_extracted`] (the CLI calls it when the build is over).
//! Children are sorted by name bytes like every other tree, so member order
//! only matters for replacement and hard links (whose target must come
//! first, as in any tar).

use super::{Builder, Explicit, Kind, Origin, TreeError, ROOT};
use crate::tree::{FileData, Meta, Timestamp};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary directories holding extracted members, kept until released.
static EXTRACTED: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());

/// Deletes the directories extracted tar members were copied into. Call it
/// once no tree resolved from a tar will be written any more.
pub fn release_extracted() {
    if let Ok(mut dirs) = EXTRACTED.lock() {
        dirs.clear();
    }
}

/// Whether `path` names a tar archive, by its extension.
pub(super) fn is_tar(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

fn unreadable(path: &Path) -> impl Fn(std::io::Error) -> TreeError + '_ {
    move |source| TreeError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// An archive member's path as image-path components: leading `/` and `./`
/// dropped, `.` components skipped, `..` refused.
fn member_components<'a>(archive: &Path, raw: &'a [u8]) -> Result<Vec<&'a [u8]>, TreeError> {
    let mut comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(TreeError::BadName {
                    path: format!("{}:{}", archive.display(), String::from_utf8_lossy(raw)),
                    message: "member path contains `..`".into(),
                })
            }
            _ => {
                crate::spec::validate::check_name(c).map_err(|why| TreeError::BadName {
                    path: format!("{}:{}", archive.display(), String::from_utf8_lossy(raw)),
                    message: format!("name {why}"),
                })?;
                comps.push(c);
            }
        }
    }
    Ok(comps)
}

fn image_path(comps: &[&[u8]]) -> String {
    super::display(comps)
}

impl Builder {
    /// Reads the tar archive `archive` into the tree.
    pub(super) fn walk_tar(&mut self, archive: &Path) -> Result<(), TreeError> {
        let file = File::open(archive).map_err(unreadable(archive))?;
        let name = archive.to_string_lossy().to_ascii_lowercase();
        let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        } else {
            Box::new(std::io::BufReader::new(file))
        };
        let dir = tempfile::Builder::new()
            .prefix("fstool-tar-")
            .tempdir()
            .map_err(unreadable(Path::new("temporary directory")))?;
        let dir_path = dir.path().to_path_buf();
        if let Ok(mut dirs) = EXTRACTED.lock() {
            dirs.push(dir);
        }
        let mut ar = tar::Archive::new(reader);
        let entries = ar.entries().map_err(unreadable(archive))?;
        for (index, entry) in entries.enumerate() {
            let mut entry = entry.map_err(unreadable(archive))?;
            self.add_member(archive, &dir_path, index, &mut entry)?;
        }
        Ok(())
    }

    fn add_member<R: Read>(
        &mut self,
        archive: &Path,
        dir: &Path,
        index: usize,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), TreeError> {
        use tar::EntryType as T;
        let raw = entry.path_bytes().into_owned();
        let comps = member_components(archive, &raw)?;
        let path = image_path(&comps);
        let header = entry.header();
        let invalid = |key: &'static str, message: String| TreeError::Invalid {
            path: format!("{}:{path}", archive.display()),
            key,
            message,
        };
        let etype = header.entry_type();
        // Headers that describe the next member, not a file of their own
        // (the crate already applied the ones it understands).
        if matches!(
            etype,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let mode = header.mode().map_err(unreadable(archive))? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(unreadable(archive))?)
            .map_err(|_| invalid("uid", "does not fit in 32 bits".into()))?;
        let gid = u32::try_from(header.gid().map_err(unreadable(archive))?)
            .map_err(|_| invalid("gid", "does not fit in 32 bits".into()))?;
        let mtime = header.mtime().map_err(unreadable(archive))?;
        let mtime = i64::try_from(mtime).unwrap_or(i64::MAX);
        let time = self.host_time(Timestamp::from_secs(mtime));
        let mode = u16::try_from(mode).unwrap_or(0o7777);
        let meta = Meta::new(mode, uid, gid, time);

        if comps.is_empty() {
            // "./": the root directory's own metadata.
            if etype == T::Directory {
                if let Some(i) = self.inodes.get_mut(ROOT) {
                    i.meta = meta;
                }
                return Ok(());
            }
            return Err(invalid("type", "the root can only be a directory".into()));
        }
        let existing = self.lookup(&comps);

        let kind = match etype {
            T::Directory => {
                if let Some(n) = existing.filter(|&n| self.is_dir(n)) {
                    let ino = self.nodes.get(n).map_or(0, |b| b.inode);
                    if let Some(i) = self.inodes.get_mut(ino) {
                        i.meta = meta;
                    }
                    return Ok(());
                }
                Kind::Dir
            }
            T::Regular | T::Continuous => {
                let host: PathBuf = dir.join(index.to_string());
                let mut out = File::create(&host).map_err(unreadable(&host))?;
                let len = std::io::copy(entry, &mut out).map_err(unreadable(archive))?;
                Kind::File {
                    data: FileData::Host {
                        path: host,
                        len,
                        sha256: None,
                    },
                    sparse: false,
                }
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(invalid("type", "symlink without a target".into()));
                }
                Kind::Symlink(target)
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tcomps = member_components(archive, &target)?;
                let fail = |message: &str| TreeError::HardLink {
                    path: path.clone(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                    message: message.to_string(),
                };
                let tn = self
                    .lookup(&tcomps)
                    .ok_or_else(|| fail("no such member earlier in the archive"))?;
                if self.is_dir(tn) {
                    return Err(fail("it is a directory"));
                }
                if existing == Some(tn) {
                    // A link to itself: nothing to do.
                    return Ok(());
                }
                let ino = self.nodes.get(tn).map_or(0, |b| b.inode);
                let parent = self.ensure_parent(&path, &comps)?;
                let name = comps.last().copied().unwrap_or_default();
                self.link(parent, name, ino, false, Origin::Source);
                return Ok(());
            }
            T::Char | T::Block => {
                let major = header.device_major().map_err(unreadable(archive))?;
                let minor = header.device_minor().map_err(unreadable(archive))?;
                let (Some(ma), Some(mi)) = (major, minor) else {
                    return Err(invalid("type", "device without major/minor".into()));
                };
                if etype == T::Char {
                    Kind::Char(ma, mi)
                } else {
                    Kind::Block(ma, mi)
                }
            }
            T::Fifo => Kind::Fifo,
            other => {
                return Err(invalid(
                    "type",
                    format!("unsupported tar member type {other:?}"),
                ))
            }
        };
        let is_dir = matches!(kind, Kind::Dir);
        let ino = self.add_inode(meta, kind, Explicit::default());
        let parent = self.ensure_parent(&path, &comps)?;
        let name = comps.last().copied().unwrap_or_default();
        self.link(parent, name, ino, is_dir, Origin::Source);
        Ok(())
    }
}
