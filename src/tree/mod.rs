//! The resolved tree: one per filesystem, sorted by name bytes at every
//! level, with every entry's final metadata. Nothing after this stage looks at
//! the host's metadata again; file contents are referenced, never loaded.
//!
//! Node 0 is the root directory. Children of a directory are kept sorted by
//! name bytes. A hard link is a node whose kind is [`NodeKind::HardLink`],
//! pointing at the node that owns the inode (the first of the group in
//! sorted pre-order).

use std::path::PathBuf;

pub mod caps;
pub mod devtable;
pub mod glob;
pub(crate) mod host;
pub mod perms;
pub mod resolve;
pub mod selinux;
pub mod store;
pub mod time;

/// Index of a node in [`Tree::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    pub const ROOT: NodeId = NodeId(0);
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A point in time: seconds since the Unix epoch (may be negative) and
/// nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }
}

/// Final metadata of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask). The
    /// file-type bits come from [`NodeKind`].
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Creation time (ext4 `crtime`, FAT create time).
    pub crtime: Timestamp,
    /// Extended attributes, sorted by name, full names (`user.foo`,
    /// `security.selinux`).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Metadata with every time set to `t`.
    pub fn new(mode: u16, uid: u32, gid: u32, t: Timestamp) -> Self {
        Meta {
            mode,
            uid,
            gid,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            xattrs: Vec::new(),
        }
    }

    /// Sets xattr `name` to `value`, or removes it for `None`, keeping
    /// [`Meta::xattrs`] sorted by name.
    pub fn set_xattr(&mut self, name: &str, value: Option<Vec<u8>>) {
        let at = self.xattrs.binary_search_by(|(k, _)| k.as_str().cmp(name));
        match (at, value) {
            (Ok(i), Some(v)) => self.xattrs[i].1 = v,
            (Err(i), Some(v)) => self.xattrs.insert(i, (name.to_string(), v)),
            (Ok(i), None) => {
                self.xattrs.remove(i);
            }
            (Err(_), None) => {}
        }
    }
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    /// A host file, read at build time. `len` was recorded when the tree was
    /// resolved; a different length at build time is an error.
    Host {
        path: PathBuf,
        len: u64,
        /// Checked while the data is copied, when given.
        sha256: Option<[u8; 32]>,
    },
    /// Bytes given inline in the manifest.
    Inline(Vec<u8>),
}

impl FileData {
    pub fn len(&self) -> u64 {
        match self {
            FileData::Host { len, .. } => *len,
            FileData::Inline(v) => v.len() as u64,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Children sorted by name bytes.
    Dir {
        children: Vec<NodeId>,
    },
    File {
        data: FileData,
        /// Keep holes of the source as holes (SEEK_DATA/SEEK_HOLE).
        sparse: bool,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// Another name for the inode owned by `target` (never a directory,
    /// never itself a hard link).
    HardLink {
        target: NodeId,
    },
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Name bytes; empty for the root.
    pub name: Vec<u8>,
    pub parent: NodeId,
    pub meta: Meta,
    pub kind: NodeKind,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }
}

/// A resolved filesystem tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// What a format does with a time it cannot store (see [`time`]).
    pub time_range: crate::spec::TimeRange,
    /// The build's `source_date_epoch`: the time of nodes that have none
    /// of their own (FAT, which cannot express 1970, lets it through).
    pub epoch: i64,
}

impl Tree {
    /// A tree holding only a root directory with the given metadata.
    pub fn new(root_meta: Meta) -> Self {
        let root_meta_epoch = root_meta.mtime.secs;
        Tree {
            nodes: vec![Node {
                name: Vec::new(),
                parent: NodeId::ROOT,
                meta: root_meta,
                kind: NodeKind::Dir {
                    children: Vec::new(),
                },
            }],
            time_range: Default::default(),
            epoch: root_meta_epoch,
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn root(&self) -> &Node {
        &self.nodes[0]
    }

    /// Children of a directory (empty for anything else).
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        match &self.node(id).kind {
            NodeKind::Dir { children } => children,
            _ => &[],
        }
    }

    /// The node ids in sorted pre-order (root first, then each directory's
    /// children in name order, depth first). All writers number inodes and
    /// allocate data in this order.
    pub fn preorder(&self) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![NodeId::ROOT];
        while let Some(id) = stack.pop() {
            out.push(id);
            for &c in self.children(id).iter().rev() {
                stack.push(c);
            }
        }
        out
    }

    /// The path of a node inside the image, `/`-separated, starting with `/`.
    pub fn path_of(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != NodeId::ROOT {
            let n = self.node(cur);
            parts.push(String::from_utf8_lossy(&n.name).into_owned());
            cur = n.parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Number of names that refer to each inode-owning node, indexed by node
    /// id (hard links add to their target; a directory counts `.` and each
    /// subdirectory's `..`).
    pub fn link_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.kind {
                NodeKind::HardLink { target } => counts[target.index()] += 1,
                NodeKind::Dir { children } => {
                    // Its name (the root's is its own ".."), ".", and each
                    // subdirectory's "..".
                    let subdirs = children.iter().filter(|c| self.node(**c).is_dir()).count();
                    counts[i] += 2 + subdirs as u32;
                }
                _ => counts[i] += 1,
            }
        }
        counts
    }

    /// Adds `node` as a child of `parent`, keeping the children sorted by
    /// name bytes. The caller guarantees the name is not taken.
    pub fn insert_child(&mut self, parent: NodeId, mut node: Node) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        node.parent = parent;
        let pos = {
            let nodes = &self.nodes;
            let name = node.name.as_slice();
            self.children(parent)
                .partition_point(|c| nodes[c.index()].name.as_slice() < name)
        };
        self.nodes.push(node);
        if let NodeKind::Dir { children } = &mut self.nodes[parent.index()].kind {
            children.insert(pos, id);
        }
        id
    }

    /// Number of nodes that own an inode (everything except hard links).
    pub fn inode_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.kind, NodeKind::HardLink { .. }))
            .count()
    }

    /// Total bytes of regular file data (hard links counted once).
    pub fn data_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::File { data, .. } => data.len(),
                _ => 0,
            })
            .sum()
    }
}
