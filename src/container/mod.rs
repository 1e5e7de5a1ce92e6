//! Output containers: image formats that wrap a virtual disk. Each is an
//! [`crate::io::BlockDevice`], so writers do not know which one they feed.

pub mod qcow2;
pub mod qcow2_read;
