//! Filesystem writers and readers, one module per format.

pub mod ext;
pub mod fat;
pub mod ntfs;
