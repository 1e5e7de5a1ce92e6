//! Every example in `examples/` builds out of the box, passes its
//! validators, and has a pinned SHA-256.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An example's name and where to build it in `dir` (`.qcow2` for the
/// qcow2 example, whose container follows the output's name).
pub fn output_for(dir: &Path, spec: &Path) -> (String, PathBuf) {
    let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
    let ext = if name.ends_with("qcow2") {
        "qcow2"
    } else {
        "img"
    };
    let out = dir.join(format!("{name}.{ext}"));
    (name, out)
}

/// Every spec in `examples/`, sorted.
pub fn examples() -> Vec<PathBuf> {
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

fn build_spec_with_report(spec: &Path, out: &Path, report: &Path) -> String {
    let stdout = run_ok(
        fstool()
            .arg("build")
            .arg(spec)
            .arg("-o")
            .arg(out)
            .arg("--report")
            .arg(report),
    );
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

/// Copies `len` bytes at `offset` of `img` into a new sparse file.
pub fn extract(img: &Path, offset: u64, len: u64, to: &Path) {
    use std::os::unix::fs::FileExt;
    let src = std::fs::File::open(img).unwrap();
    let dst = std::fs::File::create(to).unwrap();
    dst.set_len(len).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], offset + done).unwrap();
        if buf[..n].iter().any(|&b| b != 0) {
            dst.write_all_at(&buf[..n], done).unwrap();
        }
        done += n as u64;
    }
}

/// Runs each filesystem's checker on its bytes, at the offset the report
/// gives (qcow2 images are converted to raw first).
pub fn check_filesystems(img: &Path, report: &Path, tmp: &Path) {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let raw = if r["format"] == "qcow2" {
        let Some(qemu_img) = tool("qemu-img") else {
            return;
        };
        let raw = tmp.join("converted.raw");
        run_ok(
            Command::new(qemu_img)
                .args(["convert", "-O", "raw"])
                .arg(img)
                .arg(&raw),
        );
        raw
    } else {
        img.to_path_buf()
    };
    for (i, fs) in r["filesystems"].as_array().unwrap().iter().enumerate() {
        let part = tmp.join(format!("fs{i}.img"));
        extract(
            &raw,
            fs["offset"].as_u64().unwrap(),
            fs["size"].as_u64().unwrap(),
            &part,
        );
        if let Some(v) = fs.get("verity") {
            crate::verity::check_report_verity(&raw, &r, fs, v, tmp);
        }
        match fs["type"].as_str().unwrap() {
            "ext2" | "ext3" | "ext4" => crate::ext::fsck_clean(&part),
            "erofs" => crate::erofs::fsck_clean(&part),
            "ntfs" => crate::ntfs::ntfsfix_clean(&part),
            _ => {
                let Some(fsck) = tool("fsck.fat") else {
                    continue;
                };
                let out = run(Command::new(fsck).args(["-n", "-V"]).arg(&part));
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success(),
                    "fsck.fat -n -V failed on {}: {text}",
                    img.display()
                );
                let noise: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        !l.starts_with("fsck.fat ")
                            && !l.starts_with("Starting check/repair pass")
                            && !l.starts_with("Starting verification pass")
                            && !l.contains(" files, ")
                            && !l.trim().is_empty()
                    })
                    .collect();
                assert!(
                    noise.is_empty(),
                    "fsck.fat complained about {}: {noise:?}",
                    img.display()
                );
            }
        }
    }
}

#[test]
fn examples_build_validate_and_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let list = examples();
    assert!(list.len() >= 3, "examples missing: {list:?}");
    for spec in list {
        let (name, out) = output_for(dir.path(), &spec);
        let report = dir.path().join(format!("{name}.json"));
        let sha = build_spec_with_report(&spec, &out, &report);
        let text = std::fs::read_to_string(&spec).unwrap();
        if text.contains("[image]") || text.contains("\"image\"") {
            crate::examples_disk_check(&out, &text);
        }
        check_filesystems(&out, &report, dir.path());
        insta::assert_snapshot!(format!("example-{name}"), sha);
    }
}
