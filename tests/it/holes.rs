//! Zero data is never written: all-zero blocks of file data stay holes in
//! the raw output file, whatever `sparse` says and whether the source had
//! holes or written zeros. The image bytes are the same either way.

use crate::common::*;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const MIB: u64 = 1 << 20;

/// A 200 MiB file with 3 MiB of data and a hole-punched middle, and a
/// 16 MiB file of zeros written out (no holes in the source).
fn mostly_zero_tree(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let mut f = std::fs::File::create(root.join("disk.bin")).unwrap();
    f.write_all(&pattern(MIB as usize, 1)).unwrap();
    f.seek(SeekFrom::Start(64 * MIB)).unwrap();
    f.write_all(&pattern(MIB as usize, 2)).unwrap();
    f.write_all(&vec![0u8; MIB as usize]).unwrap(); // written zeros
    f.write_all(&pattern(MIB as usize, 3)).unwrap();
    f.seek(SeekFrom::Start(199 * MIB)).unwrap();
    f.write_all(&pattern(4096, 4)).unwrap();
    f.set_len(200 * MIB).unwrap();
    std::fs::write(root.join("zeros.bin"), vec![0u8; 16 * MIB as usize]).unwrap();
    write_file(root, "etc/hostname", b"holes\n");
}

fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// The bytes of `/name` in `img`: fstool's reader for ext and FAT,
/// ntfs-3g's `ntfscat` for NTFS and `fsck.erofs --extract` for EROFS (fstool
/// reads neither). `None` when the tool is missing.
fn read_back(ty: &str, img: &Path, name: &str) -> Option<Vec<u8>> {
    use std::process::Command;
    let out = match ty {
        "ntfs" => run(Command::new(tool("ntfscat")?).arg(img).arg(name)),
        "erofs" => {
            let dir = tempfile::tempdir().unwrap();
            let to = dir.path().join("x");
            run_ok(
                Command::new(tool("fsck.erofs")?)
                    .arg(format!("--extract={}", to.display()))
                    .arg(img),
            );
            return Some(std::fs::read(to.join(name)).unwrap());
        }
        _ => run(fstool().arg("cat").arg(img).arg(format!("/{name}"))),
    };
    assert!(out.status.success(), "{ty}: reading /{name} failed");
    Some(out.stdout)
}

/// `/name` read through a read-only loop mount, or `None` when the
/// machine cannot mount.
fn kernel_read(img: &Path, name: &str) -> Option<Vec<u8>> {
    use std::process::Command;
    if !can_loop_mount() {
        return None;
    }
    let mnt = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("mount")
            .args(["-o", "ro,loop"])
            .arg(img)
            .arg(mnt.path()),
    );
    let got = std::fs::read(mnt.path().join(name));
    run_ok(Command::new("umount").arg(mnt.path()));
    Some(got.unwrap())
}

#[test]
fn zero_blocks_of_file_data_are_holes_in_the_output_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mostly_zero_tree(&src);
    for (ty, size) in [
        ("ext4", "\nsize = \"512MiB\""),
        ("ext2", "\nsize = \"512MiB\""),
        ("fat32", "\nsize = \"512MiB\""),
        ("ntfs", "\nsize = \"512MiB\""),
        ("erofs", ""),
    ] {
        let spec = dir.path().join(format!("{ty}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"holes\"\n[filesystem]\ntype = \"{ty}\"\nsource = {}{size}\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = dir.path().join(format!("{ty}.img"));
        build_ok(&spec, &img, &[]);
        let used = allocated(&img);
        assert!(
            used < 32 * MIB,
            "{ty}: the output file uses {used} bytes of disk for 3 MiB of data"
        );
        for name in ["disk.bin", "zeros.bin", "etc/hostname"] {
            let Some(got) = read_back(ty, &img, name) else {
                break;
            };
            let want = std::fs::read(src.join(name)).unwrap();
            assert!(got == want, "{ty}: /{name} reads back different");
        }
        match ty {
            "ext4" | "ext2" => crate::ext::fsck_clean(&img),
            "erofs" => crate::erofs::fsck_clean(&img),
            "ntfs" => crate::ntfs::ntfsfix_clean(&img),
            _ => {
                if let Some(fsck) = tool("fsck.fat") {
                    run_ok(std::process::Command::new(fsck).arg("-n").arg(&img));
                }
            }
        }
    }
}

#[test]
fn ext4_readback_through_debugfs_of_a_mostly_hole_file() {
    let Some(debugfs) = tool("debugfs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    mostly_zero_tree(&src);
    let spec = dir.path().join("s.toml");
    std::fs::write(
        &spec,
        format!(
            "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = {}\n",
            toml_path(&src)
        ),
    )
    .unwrap();
    let img = dir.path().join("a.img");
    let hash = build_ok(&spec, &img, &[]);
    assert!(allocated(&img) < 32 * MIB, "{}", allocated(&img));
    let out = dir.path().join("disk.out");
    run_ok(
        std::process::Command::new(debugfs)
            .arg("-R")
            .arg(format!("dump /disk.bin {}", out.display()))
            .arg(&img),
    );
    assert!(std::fs::read(&out).unwrap() == std::fs::read(src.join("disk.bin")).unwrap());
    // The bytes of the image are those of a dense copy of it.
    assert_eq!(hash, sha256_file(&img));
}

/// With `sparse = true`, holes are decided by the bytes: a file written
/// with zeros and the same file created sparse give the same image.
#[test]
fn sparse_true_holes_come_from_the_bytes_not_the_host_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (dense, holey) = (dir.path().join("dense"), dir.path().join("holey"));
    let mut content = vec![0u8; 3 * MIB as usize];
    content[..5000].copy_from_slice(&pattern(5000, 7));
    content[2 * MIB as usize..2 * MIB as usize + 100].copy_from_slice(&pattern(100, 8));
    write_file(&dense, "f.bin", &content);
    std::fs::create_dir_all(&holey).unwrap();
    {
        let mut f = std::fs::File::create(holey.join("f.bin")).unwrap();
        f.write_all(&content[..5000]).unwrap();
        f.seek(SeekFrom::Start(2 * MIB)).unwrap();
        f.write_all(&content[2 * MIB as usize..2 * MIB as usize + 100])
            .unwrap();
        f.set_len(3 * MIB).unwrap();
    }
    assert!(allocated(&holey.join("f.bin")) < allocated(&dense.join("f.bin")));
    for (ty, extra) in [("ext4", ""), ("ext2", "block_size = 1024\n"), ("erofs", "")] {
        let mut hashes = Vec::new();
        for src in [&dense, &holey] {
            let spec = dir.path().join(format!("{ty}.toml"));
            std::fs::write(
                &spec,
                format!(
                    "version = 1\nseed = \"s\"\n[filesystem]\ntype = \"{ty}\"\nsource = {}\nsparse = true\n{extra}",
                    toml_path(src)
                ),
            )
            .unwrap();
            let img = dir.path().join(format!("{ty}.img"));
            hashes.push(build_ok(&spec, &img, &[]));
            // Debian 12's fsck.erofs extracts chunk-based files with holes
            // wrongly; the kernel is the judge for EROFS here.
            let got = if ty == "erofs" {
                kernel_read(&img, "f.bin")
            } else {
                read_back(ty, &img, "f.bin")
            };
            assert!(
                got.is_none_or(|b| b == content),
                "{ty}: f.bin reads back different"
            );
            match ty {
                "erofs" => crate::erofs::fsck_clean(&img),
                _ => crate::ext::fsck_clean(&img),
            }
        }
        assert_eq!(
            hashes[0], hashes[1],
            "{ty}: the host's holes changed the image"
        );
    }
}
