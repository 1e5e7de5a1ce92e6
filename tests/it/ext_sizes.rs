//! Explicit ext sizes: every size from the true minimum up builds, the
//! "needs at least" message gives that minimum, and the size `auto` chose
//! builds when it is asked for by number.

use crate::common::*;
use crate::ext::fsck_clean;
use std::path::Path;
use tempfile::TempDir;

/// Runs `fstool create` on `src`; `Ok(())` or the error text.
fn create(src: &Path, out: &Path, fs: &str, size: &str, extra: &[&str]) -> Result<(), String> {
    let o = run(fstool()
        .args(["create", "-q", "--no-hash", "-t", fs, "--size", size, "-o"])
        .arg(out)
        .args(extra)
        .arg(src));
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// The byte count a "needs at least N bytes" message names.
fn needed(msg: &str) -> u64 {
    let rest = msg
        .split("needs at least ")
        .nth(1)
        .unwrap_or_else(|| panic!("no minimum in {msg:?}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// A tree with a few dozen small files and one bigger one.
fn small_tree(root: &Path) {
    for i in 0..40u64 {
        write_file(
            root,
            &format!("d{}/f{i}", i % 4),
            &pattern((i * 997) as usize, i),
        );
    }
    write_file(root, "big", &pattern(300_000, 7));
}

/// mke2fs builds these sizes although their last block group is too short
/// for its own metadata: it leaves that group out. So does fstool, and the
/// image file keeps the size asked for.
#[test]
fn short_last_groups_build_at_the_size_asked_for() {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("empty");
    std::fs::create_dir(&src).unwrap();
    let img = dir.path().join("out.img");
    for (fs, size) in [
        ("ext3", 129u64 << 20),
        ("ext3", 257 << 20),
        ("ext3", 1025 << 20),
        ("ext2", 129 << 20),
        ("ext4", (128 << 20) + 4096),
        ("ext4", 129 << 20),
    ] {
        create(&src, &img, fs, &size.to_string(), &[])
            .unwrap_or_else(|e| panic!("{fs} at {size} bytes: {e}"));
        assert_eq!(std::fs::metadata(&img).unwrap().len(), size, "{fs} {size}");
        fsck_clean(&img);
    }
}

/// The minimum the error names builds, one block less does not, and every
/// size above it builds (a sweep of 96 block counts, e2fsck on a sample).
#[test]
fn needs_at_least_names_the_true_minimum() {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("tree");
    small_tree(&src);
    let img = dir.path().join("out.img");
    for (fs, bs) in [
        ("ext2", 4096u64),
        ("ext4", 4096),
        ("ext2", 1024),
        ("ext3", 1024),
    ] {
        let spec = dir.path().join(format!("{fs}-{bs}.toml"));
        let write_spec = |size: u64| {
            std::fs::write(
                &spec,
                format!(
                    "version = 1\n[filesystem]\ntype = \"{fs}\"\nsource = {}\nblock_size = {bs}\nsize = {size}\n",
                    toml_path(&src)
                ),
            )
            .unwrap();
        };
        let build = |size: u64| -> Result<(), String> {
            write_spec(size);
            let o = run(&mut fstool_build(&spec, &img, &["--no-hash"]));
            if o.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).into_owned())
            }
        };
        let err = build(bs).expect_err("one block cannot hold the tree");
        let min = needed(&err);
        assert_eq!(min % bs, 0, "{fs}/{bs}: {err}");
        let below = build(min - bs).expect_err("one block below the minimum");
        assert_eq!(needed(&below), min, "{fs}/{bs}: the minimum is stable");
        for k in 0..96 {
            let size = min + k * bs;
            build(size).unwrap_or_else(|e| panic!("{fs}/{bs} at {size} (minimum {min}): {e}"));
            if k % 32 == 0 {
                fsck_clean(&img);
            }
        }
    }
}

/// Asking for exactly the size `auto` chose builds, for trees whose inode
/// needs differ from mke2fs's one inode per 16 KiB in both directions.
#[test]
fn the_size_auto_chose_builds_when_asked_for() {
    let dir = TempDir::new().unwrap();
    let many = dir.path().join("many");
    for i in 0..3000 {
        write_file(&many, &format!("d{}/{i}", i % 30), b"x");
    }
    let big = dir.path().join("big");
    write_file(&big, "a", &pattern(3 << 20, 1));
    write_file(&big, "b", &pattern(5 << 20, 2));
    let small = dir.path().join("small");
    small_tree(&small);
    let img = dir.path().join("out.img");
    for src in [&many, &big, &small] {
        for fs in ["ext2", "ext3", "ext4"] {
            create(src, &img, fs, "auto", &[]).unwrap();
            let size = std::fs::metadata(&img).unwrap().len();
            create(src, &img, fs, &size.to_string(), &[]).unwrap_or_else(|e| {
                panic!(
                    "{fs} on {}: auto chose {size}, asked by number: {e}",
                    src.display()
                )
            });
            assert_eq!(std::fs::metadata(&img).unwrap().len(), size);
            fsck_clean(&img);
        }
    }
}

/// A block size over the page size builds a valid filesystem (e2fsck
/// judges it: blocks per group are capped at 65,528 as mke2fs caps them)
/// that x86-64 Linux cannot mount: the build says so on stderr, even with
/// `--quiet`, and in the report, as mke2fs warns.
#[test]
fn block_size_over_the_page_size_warns() {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("tree");
    small_tree(&src);
    let img = dir.path().join("out.img");
    let report = dir.path().join("r.json");
    for bs in [4096u32, 8192, 16384, 32768, 65536] {
        let spec = dir.path().join("s.toml");
        std::fs::write(
            &spec,
            format!(
                "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = {}\nblock_size = {bs}\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let o = run(fstool_build(&spec, &img, &["--report"]).arg(&report));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stderr = String::from_utf8_lossy(&o.stderr);
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let warnings = &r["filesystems"][0]["warnings"];
        if bs == 4096 {
            assert!(!stderr.contains("warning"), "{stderr}");
            assert!(warnings.is_null(), "{warnings}");
        } else {
            assert!(
                stderr.contains(&format!("warning: block_size = {bs}"))
                    && stderr.contains("page size"),
                "{stderr}"
            );
            assert!(
                warnings[0].as_str().unwrap().contains("page size"),
                "{warnings}"
            );
        }
        fsck_clean(&img);
    }
}
