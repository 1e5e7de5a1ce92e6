//! `fstool info`: the partition table and filesystems as built, and no
//! panic on hostile images.

use crate::common::*;
use std::path::Path;

fn examples_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
fn info_lists_partitions_and_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    for (spec, ext, table, types) in [
        ("efi-disk.toml", "img", "gpt", vec!["fat32", "ext4"]),
        ("efi-disk.qcow2.toml", "qcow2", "gpt", vec!["fat32", "ext4"]),
        ("raspberry-pi.toml", "img", "mbr", vec!["fat32", "ext4"]),
        ("bios-legacy-disk.toml", "img", "mbr", vec!["ext2", "ext4"]),
    ] {
        let out = dir.path().join(format!("{spec}.{ext}"));
        run_ok(
            fstool()
                .arg("build")
                .arg(examples_dir().join(spec))
                .arg("-o")
                .arg(&out)
                .arg("-q"),
        );
        let json = run_ok(fstool().arg("info").arg("--json").arg(&out));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["format"], if ext == "qcow2" { "qcow2" } else { "raw" });
        assert_eq!(v["partition_table"]["table"], table, "{spec}");
        let parts = v["partition_table"]["partitions"].as_array().unwrap();
        let got: Vec<&str> = parts
            .iter()
            .map(|p| p["filesystem"]["fs_type"].as_str().unwrap())
            .collect();
        assert_eq!(got, types, "{spec}");
        let text = run_ok(fstool().arg("info").arg(&out));
        for t in &types {
            assert!(text.contains(t), "{spec}: text lacks {t}:\n{text}");
        }
    }
    let out = dir.path().join("rootfs.img");
    run_ok(
        fstool()
            .arg("build")
            .arg(examples_dir().join("rootfs.toml"))
            .arg("-o")
            .arg(&out)
            .arg("-q"),
    );
    let v: serde_json::Value =
        serde_json::from_str(&run_ok(fstool().arg("info").arg("--json").arg(&out))).unwrap();
    assert_eq!(v["filesystem"]["fs_type"], "ext4");
    assert_eq!(v["filesystem"]["label"], "rootfs");
}

/// Corrupts bytes of real images (headers, tables, superblocks) in many
/// deterministic ways; `info` must return (an answer or an error), never
/// panic.
#[test]
fn info_never_panics_on_hostile_images() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for (spec, ext) in [
        ("efi-disk.toml", "img"),
        ("efi-disk.qcow2.toml", "qcow2"),
        ("rootfs.toml", "img"),
        ("raspberry-pi.toml", "img"),
    ] {
        let out = dir.path().join(format!("{spec}.{ext}"));
        run_ok(
            fstool()
                .arg("build")
                .arg(examples_dir().join(spec))
                .arg("-o")
                .arg(&out)
                .arg("-q"),
        );
        images.push(std::fs::read(&out).unwrap());
    }
    let target = dir.path().join("hostile.img");
    let mut cases = 0;
    for (n, img) in images.iter().enumerate() {
        for round in 0..150u64 {
            let mut bytes = img.clone();
            let noise = pattern(64, round * 31 + n as u64);
            // Hit the places parsers trust: the first sectors, the ext
            // superblock and descriptors, the GPT entries, qcow2 tables.
            let region = match round % 5 {
                0 => 0..512,
                1 => 512..1024,
                2 => 1024..2048,
                3 => 1024 * 1024..1024 * 1024 + 8192,
                _ => 0..bytes.len().min(1 << 20),
            };
            let span = region.end.saturating_sub(region.start).max(1);
            for (k, b) in noise.iter().enumerate() {
                let at = region.start + (*b as usize * 7919 + k * 104729) % span;
                if at < bytes.len() {
                    bytes[at] ^= noise[(k + 1) % noise.len()] | 1;
                }
            }
            if round % 7 == 6 {
                bytes.truncate(bytes.len() / (2 + round as usize % 5));
            }
            std::fs::write(&target, &bytes).unwrap();
            let r = std::panic::catch_unwind(|| fstool::inspect::info(&target));
            assert!(r.is_ok(), "info panicked on image {n}, round {round}");
            cases += 1;
        }
    }
    assert_eq!(cases, 600);
}

/// `info` on a FIFO is an error at once, not a hang waiting for a writer;
/// `info ... | head -1` ends quietly when the reader goes away.
#[test]
fn info_refuses_a_fifo_and_exits_quietly_on_a_closed_pipe() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = fstool()
        .arg("info")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("info on a FIFO hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");

    // A reader that closes the pipe after its first byte.
    let img = dir.path().join("disk.img");
    run_ok(
        fstool()
            .arg("build")
            .arg(examples_dir().join("efi-disk.toml"))
            .arg("-o")
            .arg(&img)
            .arg("-q"),
    );
    // The read end is closed before fstool writes its first byte, for every
    // command that writes to stdout.
    let spec = examples_dir().join("efi-disk.toml");
    let disk = img.to_str().unwrap();
    let root = format!("{disk}:2");
    for args in [
        vec!["info", "--json", disk],
        vec!["ls", "-l", &root, "/"],
        vec!["cat", &root, "/etc/passwd"],
        vec!["plan", "--json", spec.to_str().unwrap()],
        vec!["schema"],
    ] {
        let mut child = fstool()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// `info` agrees with blkid on ext4 without extents, and reads a block
/// device's true size.
#[test]
fn info_names_ext4_as_blkid_does_and_sizes_block_devices() {
    let Some(mkfs) = tool("mkfs.ext4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("old.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run_ok(
        std::process::Command::new(mkfs)
            .args(["-q", "-F", "-O", "^extent,^64bit,^flex_bg"])
            .arg(&img),
    );
    let out = run_ok(fstool().arg("info").arg(&img));
    assert!(out.contains("filesystem: ext4"), "{out}");
    if let Some(blkid) = tool("blkid") {
        let b = run_ok(std::process::Command::new(blkid).arg(&img));
        assert!(b.contains("TYPE=\"ext4\""), "{b}");
    }
    let ls = run_ok(fstool().arg("ls").arg(&img).arg("/"));
    assert!(ls.contains("lost+found"), "{ls}");

    if !can_loop_mount() {
        return;
    }
    let Some(losetup) = tool("losetup") else {
        return;
    };
    let dev = run_ok(
        std::process::Command::new(&losetup)
            .args(["-f", "--show", "-r"])
            .arg(&img),
    );
    let dev = dev.trim().to_string();
    let info = fstool()
        .arg("info")
        .arg("--json")
        .arg(&dev)
        .output()
        .unwrap();
    let _ = std::process::Command::new(&losetup)
        .arg("-d")
        .arg(&dev)
        .status();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["size"], 16u64 << 20, "{text}");
}
