//! Filesystem writers and readers, one module per format.

pub mod erofs;
pub mod ext;
pub mod fat;
pub mod ntfs;
