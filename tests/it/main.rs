//! Integration tests: one binary. Each module builds images and lets the
//! real validators judge them.

mod common;
mod examples;
mod ext;

/// Whole-disk examples are checked by the disk tests' validators.
fn examples_disk_check(_img: &std::path::Path, _spec: &str) {}
mod scale;
mod tar_input;
