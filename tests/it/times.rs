//! Times a format cannot store: an error naming the path and the range, or
//! the nearest end of the range with `time_range = "clamp"`; never a wrap,
//! a panic or a hang.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` and kills it after `secs` (a hang is a failure, not a stuck
/// test run).
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {secs} s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Builds `spec` (TOML text) into `dir/out/t.img`; the build must fail within
/// a minute with every keyword in stderr and leave nothing in `dir/out`.
fn build_fails(dir: &Path, spec: &str, keywords: &[&str]) {
    let spec_path = dir.join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = run_with_timeout(
        &mut fstool_build(&spec_path, &out_dir.join("t.img"), &[]),
        60,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("spec:\n{spec}\nstatus {}\nstderr:\n{stderr}", out.status);
    assert!(out.status.code().is_some_and(|c| c != 0), "{all}");
    assert!(!stderr.contains("panicked"), "{all}");
    for k in keywords {
        assert!(stderr.contains(k), "stderr lacks {k:?}: {all}");
    }
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{all}");
}

fn entry(path: &str, mtime: i64) -> String {
    format!(
        "\n[[filesystem.entries]]\npath = \"{path}\"\ntype = \"file\"\ncontents = \"x\"\nmtime = {mtime}\n"
    )
}

#[test]
fn i64_max_times_are_errors_not_panics_or_hangs() {
    let dir = tempfile::tempdir().unwrap();
    for fstype in ["ext2", "ext4", "fat32"] {
        let range_end = if fstype == "fat32" {
            "2107-12-31T23:59:59Z"
        } else {
            "2446-05-10T22:38:55Z"
        };
        build_fails(
            dir.path(),
            &format!(
                "version = 1\n[filesystem]\ntype = \"{fstype}\"\n{}",
                entry("/f", i64::MAX)
            ),
            &["/f", "mtime", range_end],
        );
    }
    build_fails(
        dir.path(),
        &format!(
            "version = 1\nsource_date_epoch = {}\n[filesystem]\ntype = \"ext4\"\n",
            i64::MAX
        ),
        &["source_date_epoch"],
    );
}

#[test]
fn ext_times_outside_the_inode_range_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let small = "version = 1\n[filesystem]\ntype = \"ext2\"\ninode_size = 128\n";
    let large = "version = 1\n[filesystem]\ntype = \"ext4\"\n";
    // One second past each end.
    for (head, t, end) in [
        (small, 1i64 << 31, "2038-01-19T03:14:07Z"),
        (small, -(1i64 << 31) - 1, "1901-12-13T20:45:52Z"),
        (large, (1i64 << 31) + (3 << 32), "2446-05-10T22:38:55Z"),
        (large, -(1i64 << 31) - 1, "1901-12-13T20:45:52Z"),
    ] {
        build_fails(
            dir.path(),
            &format!("{head}{}", entry("/dir/late", t)),
            &["/dir/late", end, "time_range"],
        );
    }
    // The superblock holds 1970 to 36812: a negative or huge epoch is named.
    for epoch in [-1i64, 99_999_999_999_999] {
        build_fails(
            dir.path(),
            &format!("version = 1\nsource_date_epoch = {epoch}\n[filesystem]\ntype = \"ext4\"\n"),
            &["source_date_epoch", "1970-01-01T00:00:00Z"],
        );
    }
}

#[test]
fn fat_times_outside_1980_to_2107_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let head = "version = 1\nsource_date_epoch = 400000000\n[filesystem]\ntype = \"fat32\"\n";
    for t in [315_532_799i64, 4_354_819_200] {
        build_fails(
            dir.path(),
            &format!("{head}{}", entry("/f", t)),
            &["/f", "1980-01-01T00:00:00Z", "2107-12-31T23:59:59Z"],
        );
    }
}

/// The raw `mtime: 0xLLLLLLLL[:EEEEEEEE]` of `path`, decoded as the kernel
/// does: signed seconds plus the extra word's epoch bits.
fn debugfs_mtime(img: &Path, path: &str) -> Option<i64> {
    let debugfs = tool("debugfs")?;
    let out = run_ok(
        Command::new(debugfs)
            .arg("-R")
            .arg(format!("stat {path}"))
            .arg(img),
    );
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("mtime: 0x"))
        .unwrap_or_else(|| panic!("{path}: no mtime in\n{out}"));
    let hex = line.trim_start().trim_start_matches("mtime: 0x");
    let lo = u32::from_str_radix(&hex[..8], 16).unwrap();
    let mut secs = i64::from(lo as i32);
    if hex.as_bytes().get(8) == Some(&b':') {
        let extra = u32::from_str_radix(&hex[9..17], 16).unwrap();
        secs += i64::from(extra & 3) << 32;
    }
    Some(secs)
}

fn build_ok_in(dir: &Path, spec: &str) -> PathBuf {
    let spec_path = dir.join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let img = dir.join("t.img");
    let out = run_with_timeout(&mut fstool_build(&spec_path, &img, &[]), 60);
    assert!(
        out.status.success(),
        "spec:\n{spec}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
}

#[test]
fn clamp_stores_the_nearest_end_of_the_range() {
    let dir = tempfile::tempdir().unwrap();
    for (head, late, max) in [
        ("ext2\"\ninode_size = 128", i64::MAX, i64::from(i32::MAX)),
        ("ext4", i64::MAX, i64::from(i32::MAX) + (3 << 32)),
    ] {
        let spec = format!(
            "version = 1\ntime_range = \"clamp\"\n[filesystem]\ntype = \"{head}\n{}{}{}",
            entry("/late", late),
            entry("/early", i64::MIN),
            entry("/inside", 1_000_000_000),
        );
        let spec = spec.replace("type = \"ext4\n", "type = \"ext4\"\n");
        let img = build_ok_in(dir.path(), &spec);
        crate::ext::fsck_clean(&img);
        if debugfs_mtime(&img, "/late").is_some() {
            assert_eq!(debugfs_mtime(&img, "/late"), Some(max), "{spec}");
            assert_eq!(debugfs_mtime(&img, "/early"), Some(i64::from(i32::MIN)));
            assert_eq!(debugfs_mtime(&img, "/inside"), Some(1_000_000_000));
        }
        if let Some(mnt) = LoopMount::new(&img, "ext4") {
            use std::os::unix::fs::MetadataExt;
            let md = std::fs::metadata(mnt.path().join("late")).unwrap();
            assert_eq!(md.mtime(), max);
        }
    }
    // The superblock's times clamp too: -1 becomes 1970.
    let img = build_ok_in(
        dir.path(),
        "version = 1\nsource_date_epoch = -1\ntime_range = \"clamp\"\n[filesystem]\ntype = \"ext4\"\n",
    );
    crate::ext::fsck_clean(&img);
    if let Some(dumpe2fs) = tool("dumpe2fs") {
        let out = run_ok(Command::new(dumpe2fs).arg("-h").arg(&img).env("TZ", "UTC"));
        // A zero s_mkfs_time is not printed; the write time always is.
        let written = out
            .lines()
            .find(|l| l.starts_with("Last write time:"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(written.ends_with("Thu Jan  1 00:00:00 1970"), "{written}");
    }
    // FAT clamps to 1980..2107.
    let img = build_ok_in(
        dir.path(),
        &format!(
            "version = 1\nsource_date_epoch = 400000000\ntime_range = \"clamp\"\n[filesystem]\ntype = \"fat32\"\n{}",
            entry("/late", i64::MAX)
        ),
    );
    if let Some(mdir) = tool("mdir") {
        let out = run_ok(
            Command::new(mdir)
                .arg("-i")
                .arg(&img)
                .arg("::/")
                .env("MTOOLS_SKIP_CHECK", "1"),
        );
        assert!(out.contains("2107-12-31"), "{out}");
    }
}

#[test]
fn pre_1970_gnu_tar_member_under_preserve_keeps_its_time() {
    let Some(tar) = tool("tar") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("old"), "old").unwrap();
    // 1960-01-01T00:00:00Z; GNU tar stores it in base-256.
    run_ok(
        Command::new(tar)
            .arg("--format=gnu")
            .arg("--mtime=@-315619200")
            .arg("-cf")
            .arg(dir.path().join("t.tar"))
            .arg("-C")
            .arg(&src)
            .arg("old"),
    );
    let img = build_ok_in(
        dir.path(),
        "version = 1\ntime_policy = \"preserve\"\n[filesystem]\ntype = \"ext4\"\nsource = \"t.tar\"\n",
    );
    crate::ext::fsck_clean(&img);
    if debugfs_mtime(&img, "/old").is_some() {
        assert_eq!(debugfs_mtime(&img, "/old"), Some(-315_619_200));
    }
}
