//! EROFS writer (Enhanced Read-Only File System).
//!
//! Follows the Linux kernel's `Documentation/filesystems/erofs.rst` and the
//! on-disk definitions of erofs-utils' `include/erofs_fs.h`. The writer is
//! two steps: [`plan`] decides every nid, block and inode field from the
//! tree, then [`write`] streams the data and writes the metadata once.
//!
//! Kept within what erofs-utils 1.5 and every kernel since 5.16 read:
//! compact and extended inodes, the plain, inline (tail-packing) and
//! chunk-based (sparse files) layouts, shared xattrs, a superblock
//! checksum. Compression is not written.

mod bytes;
mod dedupe;
pub mod dir;
pub(crate) mod format;
pub mod inode;
pub mod layout;
pub mod lz4;
mod pack;
pub mod probe;
pub mod read;
pub mod superblock;
pub mod volume;
mod write;
pub mod xattr;
pub mod zmap;
mod zwrite;

pub use layout::{ErofsPlan, Geometry};
pub use write::{write, ErofsReport};

use crate::tree::Tree;

/// Everything the planner needs besides the tree.
#[derive(Debug, Clone)]
pub struct ErofsOptions {
    /// Block size in bytes; the kernel mounts blocks up to the page size,
    /// erofs-utils 1.5 only 4096.
    pub block_size: u32,
    /// Image size in bytes; `None` is "auto": exactly what the tree needs.
    pub size: Option<u64>,
    /// Volume name, at most 16 bytes.
    pub label: String,
    pub uuid: [u8; 16],
    /// `build_time`: the time of every compact inode. Inodes whose mtime
    /// differs get the extended form.
    pub epoch: i64,
    /// Files with equal content share their blocks.
    pub dedupe: bool,
    /// Compress file data with LZ4 where it saves blocks.
    pub lz4: bool,
}

impl Default for ErofsOptions {
    fn default() -> Self {
        ErofsOptions {
            block_size: 4096,
            size: None,
            label: String::new(),
            uuid: [0; 16],
            epoch: 0,
            dedupe: false,
            lz4: false,
        }
    }
}

/// Why an EROFS image could not be planned or written.
#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    #[error("invalid erofs option `{key}`: {message}")]
    Option { key: &'static str, message: String },
    #[error("{path}: {message}")]
    Entry { path: String, message: String },
    #[error("the tree does not fit in {size} bytes: it needs {needed} bytes; use size = \"auto\" or a larger size")]
    TooSmall { size: u64, needed: u64 },
    #[error("the image would need more than 2^32 blocks; EROFS block addresses are 32-bit")]
    TooLarge,
    #[error("more than 2^32 inodes")]
    TooManyInodes,
    #[error("{path}: sha256 mismatch: the spec says {expected}, the file has {found}")]
    Sha256Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("internal error in the EROFS planner: {0}")]
    Internal(&'static str),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
}

/// Checks the options, then plans an image for `tree`.
pub fn plan(tree: &Tree, opts: &ErofsOptions) -> Result<ErofsPlan, ErofsError> {
    if opts.block_size != 4096 {
        return Err(ErofsError::Option {
            key: "block_size",
            message: format!(
                "{} is not supported: EROFS images are written with 4096-byte blocks",
                opts.block_size
            ),
        });
    }
    if opts.label.len() > 16 {
        return Err(ErofsError::Option {
            key: "label",
            message: format!(
                "{:?} is {} bytes; EROFS volume names hold 16",
                opts.label,
                opts.label.len()
            ),
        });
    }
    layout::plan(tree, opts)
}
