//! The source tree's own rules, checked so that they stay true: no file in
//! `src/` grows past 600 lines, and every module that parses image bytes
//! (each format's reader and probe) denies unchecked indexing and
//! arithmetic, so that a hostile image cannot reach a panic through them.

use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;
const STRICT: &str = "#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 100, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn every_reader_and_probe_denies_unchecked_indexing_and_arithmetic() {
    let fs_dir = src().join("fs");
    let mut formats: Vec<PathBuf> = fs::read_dir(&fs_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    formats.sort();
    let names: Vec<String> = formats
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["erofs", "ext", "fat", "ntfs"]);
    let mut missing = Vec::new();
    for f in &formats {
        // A reader is `read.rs`, or `read/mod.rs` whose inner attribute
        // covers its submodules.
        let reader = if f.join("read.rs").exists() {
            f.join("read.rs")
        } else {
            f.join("read/mod.rs")
        };
        for p in [reader, f.join("probe.rs")] {
            let text = fs::read_to_string(&p).unwrap_or_default();
            if !text.contains(STRICT) {
                missing.push(p.display().to_string());
            }
        }
    }
    for p in [
        "part/info.rs",
        "container/qcow2_read.rs",
        "inspect/mod.rs",
        "bytes.rs",
    ] {
        if !fs::read_to_string(src().join(p)).unwrap().contains(STRICT) {
            missing.push(p.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "these parse image bytes without the strict lints: {missing:?}"
    );
}
