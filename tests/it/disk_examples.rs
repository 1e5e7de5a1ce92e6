//! The whole-disk examples read back through the tools users trust, at
//! the partition offsets, and build the same bytes under the variations of
//! the determinism contract.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn report(img: &Path, spec: &str) -> serde_json::Value {
    let r = img.with_extension("json");
    run_ok(
        fstool()
            .arg("build")
            .arg(examples_dir().join(spec))
            .arg("-o")
            .arg(img)
            .arg("--report")
            .arg(&r)
            .arg("-q"),
    );
    serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap()
}

#[test]
fn efi_disk_files_read_back_at_partition_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("efi.img");
    let r = report(&img, "efi-disk.toml");
    let fs = r["filesystems"].as_array().unwrap();
    let (esp, root) = (&fs[0], &fs[1]);
    assert_eq!(esp["type"], "fat32");
    assert_eq!(root["type"], "ext4");
    // The ESP's boot loader through mtools, straight from the disk image.
    if let Some(mtype) = tool("mtype") {
        let at = format!("{}@@{}", img.display(), esp["offset"].as_u64().unwrap());
        let out = Command::new(mtype)
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &at, "::/EFI/BOOT/BOOTX64.EFI"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            out.stdout,
            std::fs::read(examples_dir().join("esp/EFI/BOOT/BOOTX64.EFI")).unwrap()
        );
    }
    // The root filesystem's files through debugfs, from the partition's bytes.
    let part = dir.path().join("root.img");
    crate::examples::extract(
        &img,
        root["offset"].as_u64().unwrap(),
        root["size"].as_u64().unwrap(),
        &part,
    );
    if let Some(debugfs) = tool("debugfs") {
        for f in [
            "usr/bin/hello",
            "etc/passwd",
            "etc/hostname",
            "usr/share/doc/fstool/README",
        ] {
            let out = dir.path().join("out");
            run_ok(
                Command::new(&debugfs)
                    .arg("-R")
                    .arg(format!("dump /{f} {}", out.display()))
                    .arg(&part),
            );
            assert_eq!(
                std::fs::read(&out).unwrap(),
                std::fs::read(examples_dir().join("rootfs").join(f)).unwrap(),
                "{f}"
            );
        }
        let stat = run_ok(
            Command::new(&debugfs)
                .arg("-R")
                .arg("stat /usr/bin/hello")
                .arg(&part),
        );
        assert!(stat.contains("Mode:  0755"), "{stat}");
    }
    // And through the kernel, where the machine can mount.
    if let Some(m) = LoopMount::new(&part, "ext4") {
        assert_eq!(
            std::fs::read(m.path().join("etc/passwd")).unwrap(),
            std::fs::read(examples_dir().join("rootfs/etc/passwd")).unwrap()
        );
    }
}

#[test]
fn raspberry_pi_boot_files_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("rpi.img");
    let r = report(&img, "raspberry-pi.toml");
    let boot = &r["filesystems"][0];
    let Some(mcopy) = tool("mcopy") else { return };
    let at = format!("{}@@{}", img.display(), boot["offset"].as_u64().unwrap());
    let out = dir.path().join("boot");
    let o = Command::new(mcopy)
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-i", &at, "::/", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for f in ["cmdline.txt", "config.txt"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(examples_dir().join("rpi-boot").join(f)).unwrap(),
            "{f}"
        );
    }
}

/// Raw and qcow2 disks hash the same under another TZ, umask and working
/// directory, and the qcow2 holds the same content as the raw build.
#[test]
fn disks_are_deterministic_raw_and_qcow2() {
    let dir = tempfile::tempdir().unwrap();
    for (spec, ext) in [
        ("efi-disk.toml", "img"),
        ("efi-disk.qcow2.toml", "qcow2"),
        ("bios-legacy-disk.toml", "img"),
    ] {
        let a = dir.path().join(format!("a.{ext}"));
        let b = dir.path().join(format!("b.{ext}"));
        run_ok(
            fstool()
                .arg("build")
                .arg(examples_dir().join(spec))
                .arg("-o")
                .arg(&a)
                .arg("-q")
                .env("TZ", "UTC")
                .current_dir("/"),
        );
        let cmd = format!(
            "umask 077; exec {} build {} -o {} -q",
            env!("CARGO_BIN_EXE_fstool"),
            examples_dir().join(spec).display(),
            b.display()
        );
        run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("TZ", "Pacific/Chatham")
                .env("LC_ALL", "C")
                .current_dir(dir.path()),
        );
        assert_eq!(sha256_file(&a), sha256_file(&b), "{spec}");
    }
    if let Some(qemu_img) = tool("qemu-img") {
        let raw = dir.path().join("raw.img");
        run_ok(
            fstool()
                .arg("build")
                .arg(examples_dir().join("efi-disk.toml"))
                .arg("-o")
                .arg(&raw)
                .arg("-q"),
        );
        let q = dir.path().join("a.qcow2");
        let out = run_ok(Command::new(qemu_img).arg("compare").arg(&q).arg(&raw));
        assert!(out.contains("identical"), "{out}");
    }
}

/// A 64 GiB raw disk holding 100 MiB stays sparse (under 200 MiB of real
/// space). With `--no-hash` the build skips reading the 64 GiB back; the
/// report says the hash was not computed.
#[test]
fn big_sparse_disk_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..10u64 {
        std::fs::write(src.join(format!("blob{i}.bin")), pattern(10 << 20, i)).unwrap();
    }
    let spec = dir.path().join("big.toml");
    std::fs::write(
        &spec,
        "version = 1\n[image]\npartition_table = \"gpt\"\nsize = \"64GiB\"\n\
         [[partitions]]\ntype = \"linux\"\nsize = \"remaining\"\n\
         [partitions.filesystem]\ntype = \"ext4\"\nsource = \"src\"\n",
    )
    .unwrap();
    let img = dir.path().join("big.img");
    let rep = dir.path().join("big.json");
    let out = run_ok(
        fstool()
            .arg("build")
            .arg(&spec)
            .arg("-o")
            .arg(&img)
            .arg("--report")
            .arg(&rep)
            .arg("--no-hash"),
    );
    assert!(out.contains("not computed"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    assert!(r["sha256"].is_null());
    assert_eq!(r["size"], 64u64 << 30);
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&img).unwrap();
    assert_eq!(md.len(), 64 << 30);
    assert!(
        md.blocks() * 512 < 200 << 20,
        "takes {} bytes",
        md.blocks() * 512
    );
    crate::disk::validators_clean(&img);
    let fs = &r["filesystems"][0];
    let off = fs["offset"].as_u64().unwrap();
    if let Some(debugfs) = tool("debugfs") {
        // debugfs reads the filesystem at its offset inside the disk.
        let target = format!("{}?offset={off}", img.display());
        let got = dir.path().join("got");
        run_ok(
            Command::new(debugfs)
                .arg("-R")
                .arg(format!("dump /blob7.bin {}", got.display()))
                .arg(&target),
        );
        assert_eq!(std::fs::read(&got).unwrap(), pattern(10 << 20, 7));
    }
}
