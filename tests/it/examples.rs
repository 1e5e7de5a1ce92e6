//! Every example in `examples/` builds out of the box, passes its
//! validators, and has a pinned SHA-256.

use crate::common::*;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("toml" | "json")
            )
        })
        .collect();
    v.sort();
    v
}

/// Builds `spec` with the CLI into `out`; returns the sha256 it printed,
/// after checking it against the file itself.
pub fn build_spec(spec: &Path, out: &Path) -> String {
    let stdout = run_ok(fstool().arg("build").arg(spec).arg("-o").arg(out));
    let printed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .unwrap_or_else(|| panic!("no sha256 line in {stdout}"))
        .to_string();
    assert_eq!(
        printed,
        sha256_file(out),
        "printed hash differs from the file's"
    );
    printed
}

#[test]
fn examples_build_validate_and_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let list = examples();
    assert!(list.len() >= 3, "examples missing: {list:?}");
    for spec in list {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let ext = if name.ends_with("qcow2") {
            "qcow2"
        } else {
            "img"
        };
        let out = dir.path().join(format!("{name}.{ext}"));
        let sha = build_spec(&spec, &out);
        let text = std::fs::read_to_string(&spec).unwrap();
        if text.contains("[image]") || text.contains("\"image\"") {
            crate::examples_disk_check(&out, &text);
        } else if text.contains("ext2") || text.contains("ext3") || text.contains("ext4") {
            crate::ext::fsck_clean(&out);
        }
        insta::assert_snapshot!(format!("example-{name}"), sha);
    }
}
