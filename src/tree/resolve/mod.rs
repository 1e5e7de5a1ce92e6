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
//!   bits (`st_mode & 0o7777`; no umask; setgid dropped from directories
//!   unless `keep_host_setgid`), else defaults (0755 directories,
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

use super::host;

mod device_table;
mod entry;
mod finish;
mod layers;
mod permissions;
mod rules;
mod scan;
mod source;
mod tar;
use super::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};
use crate::spec::{FsSpec, TimePolicy, TimeRange};
use std::collections::BTreeMap;
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
    /// Where tar members are extracted; the caller keeps it alive while it
    /// writes the trees.
    pub sources: crate::tree::store::SourceStore,
    /// What the formats do with a time they cannot store (carried to
    /// [`Tree::time_range`]).
    pub time_range: TimeRange,
    /// Trees the planner resolved ahead of planning (to derive a seed from
    /// them), by spec key path; it takes them from here instead of
    /// resolving twice.
    pub resolved_ahead: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Tree>>>,
    /// Where resolution says what it is doing (extracting a tar archive).
    pub phase: crate::progress::Phase,
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
    sources: crate::tree::store::SourceStore,
    /// Nodes from this index on belong to the layer being read; whiteouts
    /// act only on those below.
    layer_start: usize,
    /// Whether `.wh.*` names are whiteouts in the current layer.
    whiteouts: bool,
    /// The `permissions` policy, for modes that come from the host.
    perms: crate::tree::perms::Permissions,
    phase: crate::progress::Phase,
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
            sources: ctx.sources.clone(),
            layer_start: 0,
            whiteouts: false,
            perms: Default::default(),
            phase: ctx.phase.clone(),
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
        let parents = comps.split_last().map_or(&[][..], |(_, p)| p);
        self.ensure_dirs(path, parents)
    }

    /// The directory at `comps` (of `path`), creating it and its parents as
    /// implied directories where missing.
    fn ensure_dirs(&mut self, path: &str, comps: &[&[u8]]) -> Result<usize, TreeError> {
        let mut cur = ROOT;
        for (i, c) in comps.iter().enumerate() {
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

/// The layers of a filesystem: `source` at `/`, or `sources` in order.
fn layers(fs: &FsSpec) -> Result<Vec<(String, PathBuf, bool)>, TreeError> {
    match (&fs.source, fs.sources.is_empty()) {
        (Some(_), false) => Err(TreeError::Invalid {
            path: "/".into(),
            key: "sources",
            message: "give either `source` or `sources`, not both".into(),
        }),
        (Some(s), true) => Ok(vec![("/".into(), s.clone(), false)]),
        (None, _) => Ok(fs
            .sources
            .iter()
            .map(|l| (l.path.clone(), l.source.clone(), l.follow_symlinks))
            .collect()),
    }
}

/// Builds the tree for one filesystem.
pub fn resolve(fs: &FsSpec, ctx: &ResolveCtx) -> Result<Tree, TreeError> {
    let mut b = Builder::new(ctx);
    b.perms =
        crate::tree::perms::Permissions::parse(fs.permissions.as_ref()).map_err(|message| {
            TreeError::Invalid {
                path: "/".into(),
                key: "permissions",
                message,
            }
        })?;
    let layers = layers(fs)?;
    for (at, src, follow) in &layers {
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
        let is_tar = md.is_file() && tar::is_tar(&root);
        if !is_tar && !md.is_dir() {
            return Err(TreeError::NotADirectory { path: root });
        }
        let into = b.layer_dir(at)?;
        b.begin_layer(fs.whiteouts);
        if is_tar {
            b.walk_tar(&root, into)?;
        } else {
            let how = source::Walk {
                preserve_xattrs: fs.preserve_xattrs,
                keep_setgid: fs.keep_host_setgid,
                follow_symlinks: *follow,
            };
            b.walk_source(&root, into, how)?;
        }
    }
    if !layers.is_empty() {
        if fs.sparse {
            for i in &mut b.inodes {
                if let Kind::File { sparse, .. } = &mut i.kind {
                    *sparse = true;
                }
            }
        }
        b.apply_permissions();
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
    let mut tree = b.finish()?;
    tree.time_range = ctx.time_range;
    Ok(tree)
}
