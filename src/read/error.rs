//! The readers' one error type.
//!
//! `Io` is the device failing, `Incompatible` is a valid image using
//! something this reader does not implement, and `Corrupt` is an image
//! whose bytes contradict its own format. The kind of corruption is a
//! crate-private enum behind [`Corrupt`], so new kinds can be added without
//! breaking callers; they see the message and may ask [`Corrupt::at`].

use crate::io::IoError;

/// Errors of every volume reader.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] IoError),
    /// The image is valid as far as we can tell but uses a feature this
    /// reader does not support.
    #[error("unsupported: {what}")]
    Incompatible { what: String },
    #[error("corrupt image: {0}")]
    Corrupt(Corrupt),
    /// A path given by the caller names nothing.
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    /// A path given by the caller goes through something that is not a
    /// directory.
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    /// Writing what was read (to a file or stdout) failed.
    #[error("writing the output failed: {0}")]
    Output(#[source] std::io::Error),
}

impl ReadError {
    pub(crate) fn incompatible(what: impl Into<String>) -> Self {
        ReadError::Incompatible { what: what.into() }
    }
}

/// What is wrong with a corrupt image. The kind is private; its message
/// names the structure and, where known, the byte offset.
#[derive(Debug)]
pub struct Corrupt(pub(crate) CorruptKind);

impl Corrupt {
    /// Byte offset (on the volume) of the structure found corrupt, when
    /// the reader knows it.
    pub fn at(&self) -> Option<u64> {
        match self.0 {
            CorruptKind::Field { at, .. }
            | CorruptKind::Magic { at, .. }
            | CorruptKind::Entry { at, .. }
            | CorruptKind::Checksum { at, .. } => Some(at),
            _ => None,
        }
    }
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            CorruptKind::Field { what, value, at } => {
                write!(f, "{what} has impossible value {value} (at byte {at})")
            }
            CorruptKind::Magic { what, at } => {
                write!(f, "{what} has a bad magic number (at byte {at})")
            }
            CorruptKind::Entry { what, at } => write!(f, "malformed {what} (at byte {at})"),
            CorruptKind::Checksum { what, at } => {
                write!(f, "{what} checksum mismatch (at byte {at})")
            }
            CorruptKind::OutOfRange { what, value, limit } => {
                write!(f, "{what} {value} is out of range (limit {limit})")
            }
            CorruptKind::Loop { what, node } => write!(f, "{what} loops (node {node})"),
            CorruptKind::TooDeep { what, limit } => {
                write!(f, "{what} nests deeper than {limit} levels")
            }
            CorruptKind::TooLarge { what, value, limit } => {
                write!(
                    f,
                    "{what} of {value} bytes exceeds what the image can hold ({limit})"
                )
            }
            CorruptKind::Short { what, want, got } => {
                write!(f, "{what} maps {got} bytes where {want} are needed")
            }
            CorruptKind::BadNode { node } => write!(f, "node {node} is not a valid inode"),
        }
    }
}

/// The kinds of corruption. Crate-private: add freely.
#[derive(Debug)]
pub(crate) enum CorruptKind {
    /// A header field whose value cannot be right.
    Field {
        what: &'static str,
        value: u64,
        at: u64,
    },
    /// A structure without its magic number.
    Magic { what: &'static str, at: u64 },
    /// A record (directory entry, extent, xattr entry) that does not parse.
    #[allow(dead_code)] // the ext reader's
    Entry { what: &'static str, at: u64 },
    /// A stored checksum that does not match.
    Checksum { what: &'static str, at: u64 },
    /// A block, cluster or inode number outside the volume.
    OutOfRange {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// A chain or tree that revisits itself.
    Loop { what: &'static str, node: u64 },
    /// A tree deeper than the format allows.
    TooDeep { what: &'static str, limit: u32 },
    /// A size larger than the image could hold (allocation cap).
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// Fewer mapped bytes than the structure's size says.
    Short {
        what: &'static str,
        want: u64,
        got: u64,
    },
    /// A node id that names no inode.
    BadNode { node: u64 },
}

impl From<CorruptKind> for ReadError {
    fn from(k: CorruptKind) -> Self {
        ReadError::Corrupt(Corrupt(k))
    }
}
