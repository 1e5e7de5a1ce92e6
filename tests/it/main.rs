//! Integration tests: one binary. Each module builds images and lets the
//! real validators judge them.
// The test binary reads its own knobs from the environment
// (FSTOOL_REQUIRE_TOOLS, FSTOOL_KEEP, PATH), asks geteuid whether it may
// loop-mount, and shares `pub` helpers between its modules; the library's
// rules against all three do not apply here.
#![allow(clippy::disallowed_methods, unsafe_code, unreachable_pub)]

mod acl;
mod bad_input;
mod cache;
mod catalogue;
mod cli;
mod cli_read;
mod common;
mod corpus;
mod determinism;
mod disk;
mod disk_examples;
mod erofs;
mod examples;
mod ext;
mod ext_readback;
mod ext_sizes;
mod fat;
mod holes;
mod host_bits;
mod house_rules;
mod ids;
mod inspect;
mod interrupt;
mod kernel_vm;
mod labels;
mod layers;
mod links;
mod ntfs;
mod perturb;
mod plan;
mod progress;
mod read_hostile;
mod scale;
mod spec;
mod tar_input;
mod times;
mod verify;
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
