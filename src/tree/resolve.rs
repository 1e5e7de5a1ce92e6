//! Resolution of a filesystem spec into a [`Tree`](super::Tree).
//!
//! Steps, in this order:
//! 1. the `source` host directory is walked (sorted by name bytes, symlinks
//!    never followed, hard links found by (dev, inode));
//! 2. `entries` are applied in order;
//! 3. the `device_table` is applied;
//! 4. `rules` are applied in order (later rules win) to every matching path,
//!    except for the mode/uid/gid an entry or device-table line set
//!    explicitly: a per-path statement beats a pattern.
//!
//! Metadata policy:
//! - permissions come from the manifest, else from the source's permission
//!   bits (`st_mode & 0o7777`; no umask), else defaults (0755 directories,
//!   0777 symlinks, 0644 everything else); owner is 0:0 unless the manifest
//!   says otherwise — never the host's uid/gid;
//! - host times by policy: `fixed` → the epoch; `clamp` → min(mtime,
//!   epoch); `preserve` → the source's mtime. The host mtime stands in for
//!   atime, ctime and crtime too: the host's atime and ctime change when a
//!   file is merely read or chmod-ed, so copying them would make the image
//!   depend on who touched the tree last;
//! - an entry's explicit `mtime` is kept under every policy (it is the
//!   user's own choice, not host state), except that `clamp` clamps it;
//! - the root, implied parents and entries without an `mtime` or host file
//!   get the epoch;
//! - merging: an entry of type `dir` for an existing directory (implied, or
//!   with `override = true`) keeps the directory's children and changes only
//!   the keys the entry sets; any other override replaces the node (and its
//!   subtree).

use super::host::{self, HostKind};

#[path = "tar.rs"]
mod tar;
pub use self::tar::release_extracted;
use super::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};
use crate::spec::{EntrySpec, EntryType, FsSpec, TimePolicy};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Why a tree could not be resolved. `path` fields holding a `String` are
/// image paths; `PathBuf` fields are host paths.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("source {path} does not exist")]
    SourceMissing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{image_path}: source {path} is not a regular file")]
    NotAFile { image_path: String, path: PathBuf },
    #[error("{path}: {message}")]
    BadName { path: String, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: &'static str,
        message: String,
    },
    #[error("{path}: already defined by {existing}; set `override = true` on the later entry to replace it")]
    Duplicate { path: String, existing: String },
    #[error("{path}: {parent} is not a directory")]
    ParentNotDir { path: String, parent: String },
    #[error("{path}: cannot hard-link to {target}: {message}")]
    HardLink {
        path: String,
        target: String,
        message: String,
    },
    #[error("{path}: contents have SHA-256 {found}, but the manifest expects {expected}")]
    Sha256Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("device table {file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    DeviceTable {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read xattrs of {path}: {source}")]
    Xattr {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tree has more than {max} entries", max = u32::MAX)]
    TooLarge,
}

/// Who put a node in the tree (for duplicate messages and merge rules).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Root,
    Implied,
    Source,
    Entry(usize),
    DevTable(usize),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Root => "the root directory".into(),
            Origin::Implied => "an implied parent directory".into(),
            Origin::Source => "the source tree".into(),
            Origin::Entry(i) => format!("entries[{i}]"),
            Origin::DevTable(l) => format!("device table line {l}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File { data: FileData, sparse: bool },
    Symlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    Socket,
}

/// Which of mode/uid/gid a per-path statement set (rules leave them alone).
#[derive(Debug, Clone, Copy, Default)]
struct Explicit {
    mode: bool,
    uid: bool,
    gid: bool,
}

#[derive(Debug, Clone)]
struct Inode {
    meta: Meta,
    kind: Kind,
    explicit: Explicit,
}

#[derive(Debug, Clone)]
struct BNode {
    name: Vec<u8>,
    parent: usize,
    inode: usize,
    /// Some for directories.
    children: Option<BTreeMap<Vec<u8>, usize>>,
    origin: Origin,
}

/// The tree under construction: names in `BTreeMap`s (byte order), inodes
/// apart from names so hard links can be formed in any order and the owner
/// picked at the end.
struct Builder {
    nodes: Vec<BNode>,
    inodes: Vec<Inode>,
    epoch: Timestamp,
    policy: TimePolicy,
}

const ROOT: usize = 0;

fn display(comps: &[&[u8]]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Splits and checks an image path.
fn components(path: &str) -> Result<Vec<&[u8]>, TreeError> {
    if !path.starts_with('/') {
        return Err(TreeError::BadName {
            path: path.to_string(),
            message: "not an absolute image path".into(),
        });
    }
    let comps: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::as_bytes)
        .collect();
    for c in &comps {
        crate::spec::validate::check_name(c).map_err(|why| TreeError::BadName {
            path: path.to_string(),
            message: format!("component {:?} {why}", String::from_utf8_lossy(c)),
        })?;
    }
    Ok(comps)
}

impl Builder {
    fn new(ctx: &ResolveCtx) -> Self {
        let epoch = Timestamp::from_secs(ctx.epoch);
        Builder {
            nodes: vec![BNode {
                name: Vec::new(),
                parent: ROOT,
                inode: 0,
                children: Some(BTreeMap::new()),
                origin: Origin::Root,
            }],
            inodes: vec![Inode {
                meta: Meta::new(0o755, 0, 0, epoch),
                kind: Kind::Dir,
                explicit: Explicit::default(),
            }],
            epoch,
            policy: ctx.policy,
        }
    }

    /// A host mtime under the policy.
    fn host_time(&self, mtime: Timestamp) -> Timestamp {
        match self.policy {
            TimePolicy::Fixed => self.epoch,
            TimePolicy::Clamp => mtime.min(self.epoch),
            TimePolicy::Preserve => mtime,
        }
    }

    /// A manifest `mtime` under the policy (see the module doc).
    fn entry_time(&self, t: i64) -> Timestamp {
        let t = Timestamp::from_secs(t);
        match self.policy {
            TimePolicy::Clamp => t.min(self.epoch),
            TimePolicy::Fixed | TimePolicy::Preserve => t,
        }
    }

    fn add_inode(&mut self, meta: Meta, kind: Kind, explicit: Explicit) -> usize {
        self.inodes.push(Inode {
            meta,
            kind,
            explicit,
        });
        self.inodes.len() - 1
    }

    fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        self.nodes.get(dir)?.children.as_ref()?.get(name).copied()
    }

    fn is_dir(&self, n: usize) -> bool {
        self.nodes.get(n).is_some_and(|n| n.children.is_some())
    }

    fn lookup(&self, comps: &[&[u8]]) -> Option<usize> {
        let mut cur = ROOT;
        for c in comps {
            cur = self.child(cur, c)?;
        }
        Some(cur)
    }

    /// Links a new node under `parent` (which must be a directory) and
    /// returns its index. Any node of that name is unlinked first.
    fn link(
        &mut self,
        parent: usize,
        name: &[u8],
        inode: usize,
        dir: bool,
        origin: Origin,
    ) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(BNode {
            name: name.to_vec(),
            parent,
            inode,
            children: dir.then(BTreeMap::new),
            origin,
        });
        if let Some(ch) = self.nodes.get_mut(parent).and_then(|p| p.children.as_mut()) {
            ch.insert(name.to_vec(), idx);
        }
        idx
    }

    /// The directory that will hold `comps`' last component, creating
    /// implied parents (0755, 0:0, epoch times) as needed.
    fn ensure_parent(&mut self, path: &str, comps: &[&[u8]]) -> Result<usize, TreeError> {
        let mut cur = ROOT;
        let parents = comps.split_last().map_or(&[][..], |(_, p)| p);
        for (i, c) in parents.iter().enumerate() {
            cur = match self.child(cur, c) {
                Some(n) if self.is_dir(n) => n,
                Some(_) => {
                    return Err(TreeError::ParentNotDir {
                        path: path.to_string(),
                        parent: display(comps.get(..=i).unwrap_or(&[])),
                    })
                }
                None => {
                    let ino = self.add_inode(
                        Meta::new(0o755, 0, 0, self.epoch),
                        Kind::Dir,
                        Explicit::default(),
                    );
                    self.link(cur, c, ino, true, Origin::Implied)
                }
            };
        }
        Ok(cur)
    }

    /// Walks a host directory into `dir`.
    fn walk_source(&mut self, root: &Path, preserve_xattrs: bool) -> Result<(), TreeError> {
        let mut links: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        // Explicit stack: deep trees must not overflow ours.
        let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), ROOT)];
        while let Some((hdir, bdir)) = stack.pop() {
            let mut subdirs = Vec::new();
            for name in host::list_dir(&hdir)? {
                let hpath = hdir.join(&name);
                let name = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()).to_vec();
                crate::spec::validate::check_name(&name).map_err(|why| TreeError::BadName {
                    path: hpath.display().to_string(),
                    message: format!("name {why}"),
                })?;
                let he = host::read_entry(&hpath)?;
                if let Some(key) = he.link_key {
                    if let Some(&ino) = links.get(&key) {
                        self.link(bdir, &name, ino, false, Origin::Source);
                        continue;
                    }
                }
                let mut meta = Meta::new(he.perm, 0, 0, self.host_time(he.mtime));
                if preserve_xattrs {
                    meta.xattrs = host::xattrs(&hpath)?;
                }
                let is_dir = he.kind == HostKind::Dir;
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
                    subdirs.push((hpath, n));
                }
            }
            // Reversed so the first name is walked first (pre-order).
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }

    fn apply_entry(
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
            mode.or(host_perm).unwrap_or(default_mode),
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

    fn apply_devtable(
        &mut self,
        file: &Path,
        entries: &[super::devtable::DevEntry],
    ) -> Result<(), TreeError> {
        use super::devtable::DevType;
        for d in entries {
            let fail = |message: String| TreeError::DeviceTable {
                file: file.to_path_buf(),
                line: Some(d.line),
                message,
            };
            let comps = components(&d.path)?;
            let existing = self.lookup(&comps);
            let explicit = Explicit {
                mode: true,
                uid: true,
                gid: true,
            };
            match (d.kind, existing) {
                (DevType::Dir, Some(n)) | (DevType::File, Some(n)) => {
                    let want_dir = d.kind == DevType::Dir;
                    let ino = self.nodes.get(n).map_or(0, |b| b.inode);
                    let ok = match self.inodes.get(ino).map(|i| &i.kind) {
                        Some(Kind::Dir) => want_dir,
                        Some(Kind::File { .. }) => !want_dir,
                        _ => false,
                    };
                    if !ok {
                        let what = if want_dir {
                            "a directory"
                        } else {
                            "a regular file"
                        };
                        return Err(fail(format!("{} exists and is not {what}", d.path)));
                    }
                    if let Some(i) = self.inodes.get_mut(ino) {
                        i.meta.mode = d.mode;
                        i.meta.uid = d.uid;
                        i.meta.gid = d.gid;
                        i.explicit = explicit;
                    }
                }
                (DevType::File, None) => {
                    return Err(fail(format!(
                        "{}: an `f` line sets metadata of an existing file, and there is none",
                        d.path
                    )))
                }
                (_, Some(n)) => {
                    let origin = self
                        .nodes
                        .get(n)
                        .map(|b| b.origin.describe())
                        .unwrap_or_default();
                    return Err(fail(format!("{} is already defined by {origin}", d.path)));
                }
                (kind, None) => {
                    if comps.is_empty() {
                        return Err(fail("the root cannot be a device".into()));
                    }
                    let k = match kind {
                        DevType::Dir => Kind::Dir,
                        DevType::Char => Kind::Char(d.major, d.minor),
                        DevType::Block => Kind::Block(d.major, d.minor),
                        DevType::Fifo | DevType::File => Kind::Fifo,
                    };
                    let is_dir = matches!(k, Kind::Dir);
                    let ino =
                        self.add_inode(Meta::new(d.mode, d.uid, d.gid, self.epoch), k, explicit);
                    let parent = self.ensure_parent(&d.path, &comps)?;
                    let name = comps.last().copied().unwrap_or_default();
                    self.link(parent, name, ino, is_dir, Origin::DevTable(d.line));
                }
            }
        }
        Ok(())
    }

    /// Reachable nodes in sorted pre-order, with their image paths.
    fn preorder(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut stack = vec![(ROOT, "/".to_string())];
        while let Some((n, path)) = stack.pop() {
            if let Some(ch) = self.nodes.get(n).and_then(|b| b.children.as_ref()) {
                for (name, &c) in ch.iter().rev() {
                    let name = String::from_utf8_lossy(name);
                    let p = if path == "/" {
                        format!("/{name}")
                    } else {
                        format!("{path}/{name}")
                    };
                    stack.push((c, p));
                }
            }
            out.push((n, path));
        }
        out
    }

    fn apply_rules(&mut self, fs: &FsSpec) -> Result<(), TreeError> {
        if fs.rules.is_empty() {
            return Ok(());
        }
        let order = self.preorder();
        for r in &fs.rules {
            let invalid = |key: &'static str, message: String| TreeError::Invalid {
                path: r.glob.clone(),
                key,
                message,
            };
            let glob = super::glob::Glob::new(&r.glob).map_err(|m| invalid("glob", m))?;
            let mode = r
                .mode
                .as_ref()
                .map(crate::spec::parse_mode)
                .transpose()
                .map_err(|m| invalid("mode", m))?;
            for (n, path) in &order {
                if !glob.matches(path) {
                    continue;
                }
                let ino = self.nodes.get(*n).map_or(0, |b| b.inode);
                let Some(i) = self.inodes.get_mut(ino) else {
                    continue;
                };
                if let Some(t) = r.entry_type {
                    let kind_matches = matches!(
                        (t, &i.kind),
                        (EntryType::File, Kind::File { .. })
                            | (EntryType::Dir, Kind::Dir)
                            | (EntryType::Symlink, Kind::Symlink(_))
                            | (EntryType::Char, Kind::Char(..))
                            | (EntryType::Block, Kind::Block(..))
                            | (EntryType::Fifo, Kind::Fifo)
                            | (EntryType::Socket, Kind::Socket)
                    );
                    if !kind_matches {
                        continue;
                    }
                }
                if let (Some(m), false) = (mode, i.explicit.mode) {
                    i.meta.mode = m;
                }
                if let (Some(u), false) = (r.uid, i.explicit.uid) {
                    i.meta.uid = u;
                }
                if let (Some(g), false) = (r.gid, i.explicit.gid) {
                    i.meta.gid = g;
                }
            }
        }
        Ok(())
    }

    /// The final tree: node ids in sorted pre-order; the first name of each
    /// inode in that order owns it, later names become hard links.
    fn finish(self) -> Result<Tree, TreeError> {
        let order = self.preorder();
        let mut id_of = vec![None::<NodeId>; self.nodes.len()];
        for (i, (n, _)) in order.iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| TreeError::TooLarge)?;
            if let Some(slot) = id_of.get_mut(*n) {
                *slot = Some(NodeId(id));
            }
        }
        let id = |n: usize| id_of.get(n).copied().flatten().unwrap_or(NodeId::ROOT);
        let mut owner: Vec<Option<NodeId>> = vec![None; self.inodes.len()];
        let mut nodes = Vec::with_capacity(order.len());
        for (n, _) in &order {
            let Some(b) = self.nodes.get(*n) else {
                continue;
            };
            let Some(inode) = self.inodes.get(b.inode) else {
                continue;
            };
            let me = id(*n);
            let kind = match owner.get(b.inode).copied().flatten() {
                Some(target) => NodeKind::HardLink { target },
                None => {
                    if let Some(o) = owner.get_mut(b.inode) {
                        *o = Some(me);
                    }
                    match &inode.kind {
                        Kind::Dir => NodeKind::Dir {
                            children: b
                                .children
                                .as_ref()
                                .map(|c| c.values().map(|&c| id(c)).collect())
                                .unwrap_or_default(),
                        },
                        Kind::File { data, sparse } => NodeKind::File {
                            data: data.clone(),
                            sparse: *sparse,
                        },
                        Kind::Symlink(t) => NodeKind::Symlink { target: t.clone() },
                        Kind::Char(major, minor) => NodeKind::CharDev {
                            major: *major,
                            minor: *minor,
                        },
                        Kind::Block(major, minor) => NodeKind::BlockDev {
                            major: *major,
                            minor: *minor,
                        },
                        Kind::Fifo => NodeKind::Fifo,
                        Kind::Socket => NodeKind::Socket,
                    }
                }
            };
            nodes.push(Node {
                name: b.name.clone(),
                parent: id(b.parent),
                meta: inode.meta.clone(),
                kind,
            });
        }
        Ok(Tree { nodes })
    }
}

fn set_meta(
    i: &mut Inode,
    mode: Option<u16>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<Timestamp>,
    xattrs: Vec<(String, Vec<u8>)>,
) {
    if let Some(m) = mode {
        i.meta.mode = m;
        i.explicit.mode = true;
    }
    if let Some(u) = uid {
        i.meta.uid = u;
        i.explicit.uid = true;
    }
    if let Some(g) = gid {
        i.meta.gid = g;
        i.explicit.gid = true;
    }
    if let Some(t) = mtime {
        i.meta.atime = t;
        i.meta.mtime = t;
        i.meta.ctime = t;
        i.meta.crtime = t;
    }
    if !xattrs.is_empty() {
        i.meta.xattrs = xattrs;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Builds the tree for one filesystem.
pub fn resolve(fs: &FsSpec, ctx: &ResolveCtx) -> Result<Tree, TreeError> {
    let mut b = Builder::new(ctx);
    if let Some(src) = &fs.source {
        let root = host::host_path(&ctx.base_dir, src);
        // The source root itself may be a symlink (build systems hand over
        // symlinked directories); inside it nothing is followed.
        let md = std::fs::metadata(&root).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TreeError::SourceMissing { path: root.clone() }
            } else {
                TreeError::Unreadable {
                    path: root.clone(),
                    source,
                }
            }
        })?;
        if md.is_file() && tar::is_tar(&root) {
            b.walk_tar(&root)?;
        } else if !md.is_dir() {
            return Err(TreeError::NotADirectory { path: root });
        } else {
            b.walk_source(&root, fs.preserve_xattrs)?;
        }
        if fs.sparse {
            for i in &mut b.inodes {
                if let Kind::File { sparse, .. } = &mut i.kind {
                    *sparse = true;
                }
            }
        }
    }
    for (i, e) in fs.entries.iter().enumerate() {
        b.apply_entry(i, e, fs, ctx)?;
    }
    if let Some(table) = &fs.device_table {
        let file = host::host_path(&ctx.base_dir, table);
        let entries =
            super::devtable::load(&file).map_err(|(line, message)| TreeError::DeviceTable {
                file: file.clone(),
                line,
                message,
            })?;
        b.apply_devtable(&file, &entries)?;
    }
    b.apply_rules(fs)?;
    b.finish()
}
