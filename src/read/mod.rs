//! The reader layer: one read-only view of a filesystem volume, whatever
//! the format.
//!
//! A format's reader implements [`VolumeReader`] over a [`ReadAt`]
//! device (a bare image, a partition window, a qcow2 guest). Everything
//! above it — `ls`, `cat`, `extract`, `diff`, the readback tests — goes
//! through this trait only, so a new format gets all of them at once.
//!
//! Readers face hostile images. They never panic, never loop without
//! bound (chains and trees are depth-limited and cycle-checked) and cap
//! every allocation by what the image could hold; a contradiction in the
//! image is [`ReadError::Corrupt`].
//!
//! [`ReadAt`]: crate::io::ReadAt

mod error;
pub mod walk;

pub use crate::tree::Timestamp;
pub(crate) use error::CorruptKind;
pub use error::{Corrupt, ReadError};
pub use walk::{copy_file, copy_range, lookup, read_file, walk, walk_from, WalkEntry, MAX_DEPTH};

/// A node (inode) of a volume, as its reader numbers it: the inode number
/// for ext, the byte offset of the directory entry for FAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
}

impl Kind {
    /// The `S_IFMT` bits of this kind.
    pub fn mode_bits(self) -> u32 {
        match self {
            Kind::Fifo => 0o010000,
            Kind::CharDev => 0o020000,
            Kind::Dir => 0o040000,
            Kind::BlockDev => 0o060000,
            Kind::File => 0o100000,
            Kind::Symlink => 0o120000,
            Kind::Socket => 0o140000,
        }
    }

    /// The kind named by the `S_IFMT` bits of `mode`.
    pub fn from_mode(mode: u32) -> Option<Kind> {
        Some(match mode & 0o170000 {
            0o010000 => Kind::Fifo,
            0o020000 => Kind::CharDev,
            0o040000 => Kind::Dir,
            0o060000 => Kind::BlockDev,
            0o100000 => Kind::File,
            0o120000 => Kind::Symlink,
            0o140000 => Kind::Socket,
            _ => return None,
        })
    }

    /// One letter, as `ls -l` prints it.
    pub fn letter(self) -> char {
        match self {
            Kind::File => '-',
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::CharDev => 'c',
            Kind::BlockDev => 'b',
            Kind::Fifo => 'p',
            Kind::Socket => 's',
        }
    }

    /// The name used in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::CharDev => "char",
            Kind::BlockDev => "block",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// One entry of a directory (never `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Name bytes as stored (FAT: the long name, else the short name, as
    /// UTF-8).
    pub name: Vec<u8>,
    pub node: NodeId,
    pub kind: Kind,
}

/// Everything a reader knows about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub kind: Kind,
    /// Permission bits, setuid/setgid/sticky included (`0o7777` mask).
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Creation time, when the format stores one.
    pub crtime: Option<Timestamp>,
    /// Extended attributes by full name (`user.foo`), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Hard link count.
    pub nlink: u32,
    /// Device numbers (major, minor) of a character or block device;
    /// `(0, 0)` otherwise.
    pub rdev: (u32, u32),
    /// Target of a symlink.
    pub target: Option<Vec<u8>>,
    /// Size in bytes (a symlink: its target's length).
    pub size: u64,
}

/// A read-only view of one filesystem volume.
pub trait VolumeReader {
    /// The format's name (`ext4`, `fat32`, ...).
    fn format(&self) -> &'static str;
    /// The root directory.
    fn root(&self) -> NodeId;
    /// The entries of directory `dir`, in on-disk order.
    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>, ReadError>;
    /// The metadata of `node`.
    fn metadata(&self, node: NodeId) -> Result<Metadata, ReadError>;
    /// Reads file bytes at `offset` into `buf`; returns how many were read
    /// (fewer than `buf.len()` only at the end of the file; 0 past it).
    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError>;
}
