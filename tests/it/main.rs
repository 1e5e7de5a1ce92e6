//! Integration tests: one binary. Each module builds images and lets the
//! real validators judge them.

mod bad_input;
mod common;
mod determinism;
mod disk;
mod disk_examples;
mod erofs;
mod examples;
mod ext;
mod ext_readback;
mod fat;
mod inspect;
mod ntfs;
mod plan;
mod read_hostile;
mod scale;
mod spec;
mod tar_input;
mod verity;

/// Whole-disk examples are checked by the disk tests' validators (a disk
/// without a partition table has none to check).
fn examples_disk_check(img: &std::path::Path, spec: &str) {
    let no_table = spec.contains("partition_table = \"none\"")
        || spec.contains("\"partition_table\": \"none\"");
    if !no_table {
        disk::validators_clean(img);
    }
}
