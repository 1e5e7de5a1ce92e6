//! ext2/ext3/ext4 writer.
//!
//! Follows the Linux kernel's "ext4 Data Structures and Algorithms"
//! (Documentation/filesystems/ext4) and, for the journal, the jbd2 format in
//! the same documentation. The writer is two steps: [`plan`] decides every
//! block and inode from the tree (pure, no I/O), then [`write`] streams file
//! data in on-disk order and writes the metadata, built in memory, once.

mod acl;
mod csum;
pub mod dir;
mod features;
pub(crate) mod format;
mod htree;
pub mod layout;
mod map;
// Items here are `pub` inside a private module; narrowing them to
// `pub(crate)` is left to the next change of these files.
#[allow(unreachable_pub)]
mod ondisk;
pub mod probe;
pub mod read;
#[allow(unreachable_pub)]
mod write;
#[allow(unreachable_pub)]
mod xattr;

pub use features::Features;
pub use layout::{ExtPlan, Geometry};
pub use write::write;

pub use crate::plan::size::Headroom;
use crate::tree::Tree;
use serde::Serialize;

/// Which ext flavour, which picks the default features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtKind {
    Ext2,
    Ext3,
    Ext4,
}

impl ExtKind {
    /// The type name, as the spec and tools spell it.
    pub fn name(self) -> &'static str {
        match self {
            ExtKind::Ext2 => "ext2",
            ExtKind::Ext3 => "ext3",
            ExtKind::Ext4 => "ext4",
        }
    }
}

/// Inode-count policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodePolicy {
    /// Enough for the tree plus headroom (the default for `size = "auto"`).
    Auto,
    /// One inode per this many bytes, like `mke2fs -i` (the default for an
    /// explicit size is 16384), never fewer than the tree needs.
    Ratio(u64),
    /// mke2fs's default for an explicit size, one inode per 16 KiB, unless
    /// the tree then no longer fits the size: then enough for the tree, as
    /// [`InodePolicy::Auto`]. This way the size `auto` chose always builds
    /// when it is asked for explicitly.
    SizedDefault,
    /// Exactly this many (rounded up to fill whole inode-table blocks).
    Fixed(u64),
}

/// Everything the ext planner needs besides the tree.
#[derive(Debug, Clone)]
pub struct ExtOptions {
    pub kind: ExtKind,
    /// Image size in bytes; `None` is "auto": the smallest that holds the
    /// tree, plus `headroom`.
    pub size: Option<u64>,
    /// Extra bytes added to an auto size.
    pub headroom: Headroom,
    pub block_size: u32,
    pub inode_size: u16,
    pub inodes: InodePolicy,
    /// Journal size in bytes (ext3/4); `None` follows mke2fs's table.
    pub journal_size: Option<u64>,
    pub features: Features,
    pub label: String,
    pub uuid: [u8; 16],
    /// Directory hash seed (htree).
    pub hash_seed: [u8; 16],
    /// Reserved blocks for root, in percent of all blocks (mke2fs `-m`).
    pub reserved_percent: f64,
    /// Every superblock time (`s_mkfs_time`, `s_wtime`, `s_lastcheck`).
    pub epoch: i64,
    /// Index directories that need more than one block with an htree (with
    /// the dir_index feature); smaller ones stay linear, as mke2fs does.
    pub htree: bool,
}

impl ExtOptions {
    /// Defaults matching current `mke2fs -t KIND` for a modern kernel.
    pub fn new(kind: ExtKind) -> Self {
        ExtOptions {
            kind,
            size: None,
            headroom: Headroom::None,
            block_size: 4096,
            inode_size: 256,
            inodes: InodePolicy::Auto,
            journal_size: None,
            features: Features::defaults(kind),
            label: String::new(),
            uuid: [0; 16],
            hash_seed: [0; 16],
            reserved_percent: 5.0,
            epoch: 0,
            htree: true,
        }
    }
}

/// Why an ext image could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum ExtError {
    #[error("the tree does not fit in {size} bytes: it needs at least {needed} bytes ({needed_h}); use size = \"auto\" or a larger size")]
    TooSmall {
        size: u64,
        needed: u64,
        needed_h: String,
    },
    #[error("size {size} bytes ({size_h}) is larger than {kind} can address: at most {max} bytes ({max_h}) {why}")]
    TooLarge {
        size: u64,
        size_h: String,
        kind: &'static str,
        max: u64,
        max_h: String,
        why: String,
    },
    #[error("the tree needs {needed} inodes but the filesystem has room for {available}; raise `inodes` or lower `inode_ratio`")]
    TooFewInodes { needed: u64, available: u64 },
    #[error("invalid ext option `{key}`: {message}")]
    Option { key: &'static str, message: String },
    #[error("{path}: {message}")]
    Entry { path: String, message: String },
    #[error("{path}: sha256 mismatch: the spec says {expected}, the file has {found}")]
    Sha256Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Time(#[from] crate::tree::time::OutOfRange),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
}

/// Plans an image for `tree`: geometry, every inode number and block.
pub fn plan(tree: &Tree, opts: &ExtOptions) -> Result<ExtPlan, ExtError> {
    layout::plan(tree, opts)
}

pub use write::ExtReport;

/// Adds `/lost+found` (mode 0700, owned by root, with the root's times) when
/// the tree has none; e2fsck expects it. An existing non-directory of that
/// name is an error.
pub fn prepare_tree(tree: &mut Tree) -> Result<(), ExtError> {
    use crate::tree::{Meta, Node, NodeId, NodeKind};
    let existing = tree
        .children(NodeId::ROOT)
        .iter()
        .copied()
        .find(|&c| tree.node(c).name == b"lost+found");
    match existing {
        Some(id) if tree.node(id).is_dir() => Ok(()),
        Some(_) => Err(ExtError::Entry {
            path: "/lost+found".into(),
            message: "exists but is not a directory; ext filesystems need it as a directory".into(),
        }),
        None => {
            let root = &tree.nodes[0].meta;
            let mut meta = Meta::new(0o700, 0, 0, root.mtime);
            meta.atime = root.atime;
            meta.ctime = root.ctime;
            meta.crtime = root.crtime;
            tree.insert_child(
                NodeId::ROOT,
                Node {
                    name: b"lost+found".to_vec(),
                    parent: NodeId::ROOT,
                    meta,
                    kind: NodeKind::Dir {
                        children: Vec::new(),
                    },
                },
            );
            Ok(())
        }
    }
}
