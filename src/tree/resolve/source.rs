//! Walking a host directory into the tree.

use super::{Builder, Explicit, FileData, Kind, Meta, Origin, TreeError};
use crate::tree::host::HostKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a host directory is walked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Walk {
    pub preserve_xattrs: bool,
    /// Keep directories' setgid bits.
    pub keep_setgid: bool,
    /// Symlinks to regular files become those files.
    pub follow_symlinks: bool,
}

impl Builder {
    /// Walks a host directory into directory node `into`, merging into
    /// the directories earlier layers made.
    pub(super) fn walk_source(
        &mut self,
        root: &Path,
        into: usize,
        how: Walk,
    ) -> Result<(), TreeError> {
        let Walk {
            preserve_xattrs,
            keep_setgid,
            ..
        } = how;
        let mut scan = super::scan::Scan::read(root, how);
        let mut links: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        // Explicit stack: deep trees must not overflow ours.
        let mut stack: Vec<(PathBuf, u32, usize)> = vec![(root.to_path_buf(), 0, into)];
        while let Some((hdir, k, bdir)) = stack.pop() {
            let mut subdirs = Vec::new();
            for e in scan.take(k)? {
                let oname = e.name;
                let hpath = hdir.join(&oname);
                let name = std::os::unix::ffi::OsStrExt::as_bytes(oname.as_os_str()).to_vec();
                if self.whiteout(bdir, &name) {
                    continue;
                }
                crate::spec::validate::check_name(&name).map_err(|why| TreeError::BadName {
                    path: hpath.display().to_string(),
                    message: format!("name {why}"),
                })?;
                let he = e.entry.map_err(|e| *e)?;
                if let Some(key) = he.link_key {
                    if let Some(&ino) = links.get(&key) {
                        self.link(bdir, &name, ino, false, Origin::Source);
                        continue;
                    }
                }
                let is_dir = he.kind == HostKind::Dir;
                // A directory's setgid bit is inherited from where the tree
                // was checked out; it is dropped unless asked for.
                let perm = if is_dir && !keep_setgid {
                    he.perm & !0o2000
                } else {
                    he.perm
                };
                let mut meta = Meta::new(perm, 0, 0, self.host_time(he.mtime));
                if preserve_xattrs {
                    meta.xattrs = e.xattrs.map_err(|e| *e)?;
                }
                let child = e.dir.unwrap_or(u32::MAX);
                if is_dir {
                    if let Some(n) = self.merge_dir(bdir, &name, &meta) {
                        subdirs.push((hpath, child, n));
                        continue;
                    }
                }
                let kind = match he.kind {
                    HostKind::Dir => Kind::Dir,
                    HostKind::File { len } => Kind::File {
                        data: FileData::Host {
                            path: hpath.clone(),
                            len,
                            sha256: None,
                        },
                        sparse: false,
                    },
                    HostKind::Symlink { target } => Kind::Symlink(target),
                    HostKind::CharDev { major, minor } => Kind::Char(major, minor),
                    HostKind::BlockDev { major, minor } => Kind::Block(major, minor),
                    HostKind::Fifo => Kind::Fifo,
                    HostKind::Socket => Kind::Socket,
                };
                let ino = self.add_inode(meta, kind, Explicit::default());
                if let Some(key) = he.link_key {
                    links.insert(key, ino);
                }
                let n = self.link(bdir, &name, ino, is_dir, Origin::Source);
                if is_dir {
                    subdirs.push((hpath, child, n));
                }
            }
            // Reversed so the first name is walked first (pre-order).
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }
}
