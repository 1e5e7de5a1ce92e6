//! Manifest `entries`: one node per entry, or a merge into an existing
//! directory.

use super::{
    components, set_meta, Builder, Explicit, FileData, Kind, Meta, Origin, ResolveCtx, TreeError,
};
use crate::bytes::hex;
use crate::spec::{EntrySpec, EntryType, FsSpec};
use crate::tree::host;
use sha2::Digest as _;

impl Builder {
    pub(super) fn apply_entry(
        &mut self,
        idx: usize,
        e: &EntrySpec,
        fs: &FsSpec,
        ctx: &ResolveCtx,
    ) -> Result<(), TreeError> {
        let path = e.path.as_str();
        let comps = components(path)?;
        let invalid = |key: &'static str, message: String| TreeError::Invalid {
            path: path.to_string(),
            key,
            message,
        };
        let mode = e
            .mode
            .as_ref()
            .map(crate::spec::parse_mode)
            .transpose()
            .map_err(|m| invalid("mode", m))?;
        let mut xattrs = Vec::new();
        for (k, v) in &e.xattrs {
            crate::spec::validate::check_xattr_name(k).map_err(|m| invalid("xattrs", m))?;
            xattrs.push((
                k.clone(),
                crate::spec::validate::xattr_bytes(v).map_err(|m| invalid("xattrs", m))?,
            ));
        }
        if let Some(text) = &e.capabilities {
            if e.xattrs.contains_key(crate::tree::caps::XATTR) {
                return Err(invalid(
                    "capabilities",
                    "set either `capabilities` or a security.capability xattr, not both".into(),
                ));
            }
            let caps =
                crate::tree::caps::FileCaps::parse(text).map_err(|m| invalid("capabilities", m))?;
            xattrs.push((crate::tree::caps::XATTR.to_string(), caps.encode().to_vec()));
            xattrs.sort();
        }
        let explicit = Explicit {
            mode: mode.is_some(),
            uid: e.uid.is_some(),
            gid: e.gid.is_some(),
        };
        let existing = self.lookup(&comps);

        // A directory entry over an existing directory merges.
        if e.entry_type == EntryType::Dir {
            if let Some(n) = existing.filter(|&n| self.is_dir(n)) {
                let origin = self
                    .nodes
                    .get(n)
                    .map(|b| b.origin.clone())
                    .unwrap_or(Origin::Root);
                if !e.override_ && !matches!(origin, Origin::Implied | Origin::Root) {
                    return Err(TreeError::Duplicate {
                        path: path.to_string(),
                        existing: origin.describe(),
                    });
                }
                let mtime = e.mtime.map(|t| self.entry_time(t));
                let ino = self.nodes.get(n).map_or(0, |b| b.inode);
                if let Some(i) = self.inodes.get_mut(ino) {
                    set_meta(i, mode, e.uid, e.gid, mtime, xattrs);
                }
                if let Some(b) = self.nodes.get_mut(n) {
                    if b.origin == Origin::Implied {
                        b.origin = Origin::Entry(idx);
                    }
                }
                return Ok(());
            }
        }
        if comps.is_empty() {
            return Err(invalid(
                "type",
                "the root \"/\" can only be a dir entry".into(),
            ));
        }
        if let Some(n) = existing {
            if !e.override_ {
                let origin = self
                    .nodes
                    .get(n)
                    .map(|b| b.origin.describe())
                    .unwrap_or_default();
                return Err(TreeError::Duplicate {
                    path: path.to_string(),
                    existing: origin,
                });
            }
        }

        let sparse = e.sparse.unwrap_or(fs.sparse);
        let default_mode = match e.entry_type {
            EntryType::Dir => 0o755,
            EntryType::Symlink => 0o777,
            _ => 0o644,
        };
        let mut time = e.mtime.map(|t| self.entry_time(t));
        let mut host_perm = None;
        let kind = match e.entry_type {
            EntryType::Dir => Kind::Dir,
            EntryType::File => {
                let expected = e
                    .sha256
                    .as_deref()
                    .map(crate::spec::validate::parse_sha256)
                    .transpose()
                    .map_err(|m| invalid("sha256", m))?;
                let data = match (&e.source, &e.contents) {
                    (Some(src), None) => {
                        let hpath = host::host_path(&ctx.base_dir, src);
                        // The manifest names this file: follow a symlink to it.
                        let md = std::fs::metadata(&hpath).map_err(|source| {
                            if source.kind() == std::io::ErrorKind::NotFound {
                                TreeError::SourceMissing {
                                    path: hpath.clone(),
                                }
                            } else {
                                TreeError::Unreadable {
                                    path: hpath.clone(),
                                    source,
                                }
                            }
                        })?;
                        if !md.is_file() {
                            return Err(TreeError::NotAFile {
                                image_path: path.to_string(),
                                path: hpath,
                            });
                        }
                        std::fs::File::open(&hpath).map_err(|source| TreeError::Unreadable {
                            path: hpath.clone(),
                            source,
                        })?;
                        host_perm = Some(
                            (std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777)
                                as u16,
                        );
                        if time.is_none() {
                            time = Some(self.host_time(host::mtime_of(&md)));
                        }
                        FileData::Host {
                            path: hpath,
                            len: md.len(),
                            sha256: expected,
                        }
                    }
                    (None, Some(text)) => {
                        let bytes = text.as_bytes().to_vec();
                        if let Some(want) = expected {
                            let got: [u8; 32] = sha2::Sha256::digest(&bytes).into();
                            if got != want {
                                return Err(TreeError::Sha256Mismatch {
                                    path: path.to_string(),
                                    expected: hex(&want),
                                    found: hex(&got),
                                });
                            }
                        }
                        FileData::Inline(bytes)
                    }
                    _ => {
                        return Err(invalid(
                            "source",
                            "a file entry needs exactly one of `source` and `contents`".into(),
                        ))
                    }
                };
                Kind::File { data, sparse }
            }
            EntryType::Symlink => {
                let t = e.target.as_deref().unwrap_or("");
                // 4095: PATH_MAX less the NUL, the longest target Linux reads.
                if t.is_empty() || t.contains('\0') || t.len() > 4095 {
                    return Err(invalid(
                        "target",
                        "a symlink target must be 1 to 4095 bytes without NUL".into(),
                    ));
                }
                Kind::Symlink(t.as_bytes().to_vec())
            }
            EntryType::Char | EntryType::Block => {
                let (Some(ma), Some(mi)) = (e.major, e.minor) else {
                    return Err(invalid(
                        "major",
                        "a device entry needs `major` and `minor`".into(),
                    ));
                };
                if e.entry_type == EntryType::Char {
                    Kind::Char(ma, mi)
                } else {
                    Kind::Block(ma, mi)
                }
            }
            EntryType::Fifo => Kind::Fifo,
            EntryType::Socket => Kind::Socket,
            EntryType::Hardlink => {
                let target = e.target.as_deref().unwrap_or("");
                let fail = |message: &str| TreeError::HardLink {
                    path: path.to_string(),
                    target: target.to_string(),
                    message: message.to_string(),
                };
                let tcomps = components(target)?;
                let tn = self
                    .lookup(&tcomps)
                    .ok_or_else(|| fail("no such entry (it must come earlier in the manifest or from the source tree)"))?;
                if self.is_dir(tn) {
                    return Err(fail("it is a directory"));
                }
                if existing == Some(tn) {
                    return Err(fail("a path cannot be a hard link to itself"));
                }
                let ino = self.nodes.get(tn).map_or(0, |b| b.inode);
                let parent = self.ensure_parent(path, &comps)?;
                let name = comps.last().copied().unwrap_or_default();
                self.link(parent, name, ino, false, Origin::Entry(idx));
                return Ok(());
            }
        };
        let time = time.unwrap_or(self.epoch);
        let mut meta = Meta::new(
            // A mode taken from the host file follows `permissions`, like
            // the modes the source layers bring.
            mode.or(host_perm.map(|m| self.perms.apply(m, crate::tree::perms::Target::File)))
                .unwrap_or(default_mode),
            e.uid.unwrap_or(0),
            e.gid.unwrap_or(0),
            time,
        );
        meta.xattrs = xattrs;
        let is_dir = matches!(kind, Kind::Dir);
        let ino = self.add_inode(meta, kind, explicit);
        let parent = self.ensure_parent(path, &comps)?;
        let name = comps.last().copied().unwrap_or_default();
        self.link(parent, name, ino, is_dir, Origin::Entry(idx));
        Ok(())
    }
}
