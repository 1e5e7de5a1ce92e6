//! The Linux kernel's own drivers read fstool's FAT and NTFS images back.
//!
//! The host kernel has neither vfat nor ntfs3, so these tests boot Debian's
//! kernel in QEMU (TCG) with a busybox initramfs (`tests/vm/assets.sh`
//! prepares both; `tests/vm/init` is its /init). All images of a test are
//! attached to one VM as virtio disks; the guest mounts each read-only and
//! prints every entry's type, size, links, inode, mtime and SHA-256 (or
//! symlink target) on the serial port. The listing must equal the source
//! tree: names, types, sizes, contents, times, link targets and hard-link
//! groups, and the kernel must log nothing about the volumes.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every time in the images (the `fixed` time policy).
const EPOCH: i64 = 1_700_000_000;

/// The prepared VM: QEMU, its firmware and modules, the kernel and the
/// initramfs.
struct Vm {
    dir: PathBuf,
}

impl Vm {
    /// The assets under `$FSTOOL_VM_DIR` (default `target/vm`). Missing
    /// assets skip the test with a notice, or fail it when tools are
    /// required.
    fn find() -> Option<Vm> {
        let dir = std::env::var_os("FSTOOL_VM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vm"));
        if dir.join("ready").is_file() {
            return Some(Vm { dir });
        }
        let msg = format!("no VM assets in {} (run tests/vm/assets.sh)", dir.display());
        if tools_required() {
            panic!("{msg}; FSTOOL_REQUIRE_TOOLS=1");
        }
        eprintln!("SKIPPED: {msg}; the kernel readback of FAT and NTFS did not run");
        None
    }

    /// Boots once with `disks` attached in order (vda, vdb, ...) and returns
    /// each mounted device's listing, keyed by the device the guest
    /// mounted (`vdb1` for a disk's first partition).
    fn boot(&self, disks: &[Disk]) -> BTreeMap<String, Listing> {
        let q = self.dir.join("qemu");
        // A guest that hangs must not hang the test run.
        let mut cmd = Command::new("timeout");
        cmd.arg("300")
            .arg(q.join("usr/bin/qemu-system-x86_64"))
            .env("QEMU_MODULE_DIR", q.join("usr/lib/x86_64-linux-gnu/qemu"))
            .arg("-L")
            .arg(q.join("usr/share/qemu"))
            .arg("-L")
            .arg(q.join("usr/share/seabios"))
            .args(["-nodefaults", "-display", "none", "-serial", "stdio"])
            .args(["-no-reboot", "-m", "512", "-accel", "tcg"])
            .arg("-kernel")
            .arg(self.dir.join("vmlinuz"))
            .arg("-initrd")
            .arg(self.dir.join("initrd.img"));
        let mut mounts = Vec::new();
        for (i, d) in disks.iter().enumerate() {
            let letter = char::from(b'a' + u8::try_from(i).unwrap());
            let dev = format!("vd{letter}{}", d.partition);
            mounts.push(format!("{dev}:{}", d.fstype));
            let mut drive = std::ffi::OsString::from("file=");
            drive.push(&d.image);
            drive.push(format!(",format={},if=virtio,readonly=on", d.format));
            cmd.arg("-drive").arg(drive);
        }
        cmd.arg("-append").arg(format!(
            "console=ttyS0 quiet panic=-1 fstool_disks={}",
            mounts.join(",")
        ));
        let out = run(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains("=== DONE"),
            "the VM did not finish ({}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut found = parse(&text);
        for m in &mounts {
            let dev = m.split(':').next().unwrap();
            assert!(found.contains_key(dev), "no listing for {dev}:\n{text}");
        }
        let complaints: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("dmesg:") && l.contains("(vd"))
            .collect();
        assert!(
            complaints.is_empty(),
            "the kernel logged about the volumes:\n{}",
            complaints.join("\n")
        );
        found.retain(|k, _| mounts.iter().any(|m| m.starts_with(&format!("{k}:"))));
        found
    }
}

/// One image attached to the VM.
struct Disk {
    image: PathBuf,
    /// "raw" or "qcow2" (QEMU's drive format).
    format: &'static str,
    /// "" for a bare filesystem, "1" for the first partition.
    partition: &'static str,
    /// The guest's filesystem driver: "vfat" or "ntfs3".
    fstype: &'static str,
}

/// What one path reads as.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    mtime: i64,
    /// Links and inode (as the guest reports them; host values are not
    /// comparable, only the grouping is).
    links: u64,
    ino: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File { size: u64, sha256: String },
    Symlink { target: String },
}

type Listing = BTreeMap<String, Entry>;

/// Parses the guest's serial output into one listing per device.
fn parse(text: &str) -> BTreeMap<String, Listing> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, Listing, BTreeMap<String, String>, bool)> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(dev) = line.strip_prefix("=== BEGIN ") {
            cur = Some((dev.to_string(), Listing::new(), BTreeMap::new(), true));
        } else if line.starts_with("=== MOUNT FAILED") {
            panic!("the kernel could not mount a volume:\n{text}");
        } else if line.starts_with("=== END ") {
            let (dev, mut listing, hashes, _) = cur.take().expect("END without BEGIN");
            for (path, h) in hashes {
                match listing.get_mut(&path).map(|e| &mut e.kind) {
                    Some(Kind::File { sha256, .. }) => *sha256 = h,
                    _ => panic!("hash for a non-file {path}"),
                }
            }
            out.insert(dev, listing);
        } else if let Some((_, listing, hashes, _)) = cur.as_mut() {
            if let Some(rest) = line.strip_prefix("stat: ") {
                let f: Vec<&str> = rest.splitn(7, '|').collect();
                assert_eq!(f.len(), 7, "bad stat line {line:?}");
                let path = f[6].strip_prefix("./").expect("relative path").to_string();
                let kind = match f[0] {
                    "directory" => Kind::Dir,
                    "regular file" | "regular empty file" => Kind::File {
                        size: f[2].parse().unwrap(),
                        sha256: String::new(),
                    },
                    "symbolic link" => Kind::Symlink {
                        target: String::new(),
                    },
                    other => panic!("unexpected type {other} for {path}"),
                };
                let e = Entry {
                    kind,
                    links: f[3].parse().unwrap(),
                    ino: f[4].parse().unwrap(),
                    mtime: f[5].parse().unwrap(),
                };
                listing.insert(path, e);
            } else if let Some(rest) = line.strip_prefix("ends: ") {
                let (head, rest) = rest.split_once(' ').expect("ends line");
                let (tail, p) = rest.split_once(' ').expect("ends line");
                let p = p.strip_prefix("./").expect("relative path");
                hashes.insert(p.to_string(), format!("ends:{head}:{tail}"));
            } else if let Some(rest) = line.strip_prefix("link: ") {
                let (p, t) = rest.split_once(" -> ").expect("link line");
                let p = p.strip_prefix("./").unwrap();
                match listing.get_mut(p).map(|e| &mut e.kind) {
                    Some(Kind::Symlink { target }) => *target = t.to_string(),
                    _ => panic!("link line for a non-symlink {p}"),
                }
            } else if line.len() > 66 && line.as_bytes()[64] == b' ' {
                let (h, p) = line.split_at(64);
                if let Some(p) = p.strip_prefix("  ./") {
                    hashes.insert(p.to_string(), h.to_string());
                }
            }
        }
    }
    out
}

/// The source tree as the guest should list it: every time is the epoch,
/// and hard links share an inode (grouped by host inode).
fn expected(root: &Path) -> (Listing, Vec<Vec<String>>) {
    use std::os::unix::fs::MetadataExt;
    let mut listing = Listing::new();
    let mut groups: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let kind = if md.is_dir() {
                stack.push(p.clone());
                Kind::Dir
            } else if md.file_type().is_symlink() {
                Kind::Symlink {
                    target: std::fs::read_link(&p)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string(),
                }
            } else {
                if md.nlink() > 1 {
                    groups.entry(md.ino()).or_default().push(rel.clone());
                }
                Kind::File {
                    size: md.len(),
                    sha256: content_hash(&p, md.len()),
                }
            };
            let links = if md.is_dir() { 0 } else { md.nlink() };
            listing.insert(
                rel,
                Entry {
                    kind,
                    mtime: EPOCH,
                    links,
                    ino: 0,
                },
            );
        }
    }
    (listing, groups.into_values().collect())
}

/// What the guest prints for a file: its SHA-256, or for one over
/// 256 MiB those of its first and last MiB (hashing gigabytes in an
/// emulated CPU would take minutes).
fn content_hash(p: &Path, len: u64) -> String {
    use std::os::unix::fs::FileExt;
    if len <= 256 << 20 {
        return sha256_file(p);
    }
    let f = std::fs::File::open(p).unwrap();
    let mib = |i: u64| {
        let start = i << 20;
        let mut buf = vec![0u8; (len - start).min(1 << 20) as usize];
        f.read_exact_at(&mut buf, start).unwrap();
        hex(&<sha2::Sha256 as sha2::Digest>::digest(&buf))
    };
    format!("ends:{}:{}", mib(0), mib((len - 1) >> 20))
}

/// Compares what the guest listed with the source tree.
fn check(what: &str, got: &Listing, root: &Path, fat: bool) {
    let (want, groups) = expected(root);
    let got_paths: Vec<&String> = got.keys().collect();
    let want_paths: Vec<&String> = want.keys().collect();
    assert_eq!(got_paths, want_paths, "{what}: the names differ");
    for (path, w) in &want {
        let g = &got[path];
        assert_eq!(g.kind, w.kind, "{what}: {path}");
        // FAT keeps times in 2-second steps, NTFS in 100 ns; the epoch is
        // even, so both hold it exactly. Directories too.
        assert_eq!(g.mtime, w.mtime, "{what}: mtime of {path}");
        if !fat && !matches!(w.kind, Kind::Dir) {
            assert_eq!(g.links, w.links, "{what}: link count of {path}");
        }
    }
    for group in &groups {
        let inos: Vec<u64> = group.iter().map(|p| got[p].ino).collect();
        assert!(
            inos.windows(2).all(|w| w[0] == w[1]),
            "{what}: hard links {group:?} are not one inode ({inos:?})"
        );
    }
}

/// Builds `spec` (TOML text, sources relative to `dir`) into `dir/name`.
fn build(dir: &Path, name: &str, spec: &str) -> PathBuf {
    let spec_path = dir.join(format!("{name}.toml"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = dir.join(name);
    build_ok(&spec_path, &out, &[]);
    out
}

/// A tree that exercises FAT's names and directories: 8.3 and long names,
/// case, Unicode, deep nesting, a directory spanning many clusters, sizes
/// around cluster boundaries, empty files and directories.
fn fat_tree(root: &Path) {
    write_file(root, "README.TXT", b"short name\r\n");
    write_file(root, "Mixed.Txt", b"mixed case short name");
    write_file(root, "lower.txt", b"lower case");
    write_file(root, "A long file name with spaces.txt", b"long name");
    write_file(root, "ünïcødé ✓ 日本語.txt", b"unicode");
    write_file(root, "dots.in.the.name.tar.gz", &pattern(1000, 1));
    write_file(root, "a/b/c/d/e/f/leaf", b"deep");
    write_file(root, "empty", b"");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    write_file(root, "big/three-megs.bin", &pattern(3 * 1024 * 1024 + 7, 2));
    for (i, n) in [511usize, 512, 513, 4095, 4096, 4097, 32768]
        .iter()
        .enumerate()
    {
        write_file(root, &format!("sizes/{n}.bin"), &pattern(*n, 10 + i as u64));
    }
    for i in 0..300 {
        write_file(
            root,
            &format!("many/file number {i:03} with a long name.dat"),
            format!("{i}\n").as_bytes(),
        );
    }
}

/// A tree for NTFS: FAT's names plus case-only differences, hard links
/// (a thousand of one file), symlinks, a directory large enough for a
/// multi-level index, files with long zero runs, and the longest names.
fn ntfs_tree(root: &Path) {
    fat_tree(root);
    write_file(root, "Case", b"upper");
    write_file(root, "case", b"lower");
    write_file(root, "CASE", b"all");
    write_file(root, "what?.txt", b"posix only");
    write_file(root, "links/original", b"shared data");
    std::fs::hard_link(root.join("links/original"), root.join("links/second")).unwrap();
    std::fs::hard_link(root.join("links/original"), root.join("a/third")).unwrap();
    std::os::unix::fs::symlink("../a/b/c/d/e/f/leaf", root.join("links/rel")).unwrap();
    std::os::unix::fs::symlink("original", root.join("links/sibling")).unwrap();
    let mut zeros = vec![0u8; 2 * 1024 * 1024];
    zeros[1024 * 1024..1024 * 1024 + 5].copy_from_slice(b"hello");
    write_file(root, "zeros.bin", &zeros);
    for i in 0..2000 {
        write_file(root, &format!("index/entry-{i:05}"), b"x");
    }
    // Attribute lists: a thousand names of one file, and (with 512-byte
    // clusters and `sparse = true`) a run list of 20,000 runs.
    std::fs::create_dir_all(root.join("links/many")).unwrap();
    for i in 0..1000 {
        std::fs::hard_link(
            root.join("links/original"),
            root.join(format!("links/many/link-{i:04}")),
        )
        .unwrap();
    }
    let frag = fragmented(10_000, 512);
    write_file(root, "fragmented.bin", &frag);
    // The longest name a Linux path holds (255 bytes), surrogate pairs in
    // UTF-16.
    write_file(root, &format!("{}xyz", "😀".repeat(63)), b"longest name");
    write_file(root, &"n".repeat(255), b"255 UTF-16 units");
}

#[test]
fn kernel_reads_fat_and_ntfs_back() {
    let Some(vm) = Vm::find() else { return };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    fat_tree(&dir.join("fat"));
    ntfs_tree(&dir.join("ntfs"));
    let head = format!("version = 1\nseed = \"kernel-vm\"\nsource_date_epoch = {EPOCH}\n");
    let fat12 = build(
        dir,
        "fat12.img",
        &format!("{head}[filesystem]\ntype = \"fat12\"\nsource = \"fat\"\nsize = \"8MiB\"\n"),
    );
    let fat16 = build(
        dir,
        "fat16-mbr.qcow2",
        &format!(
            "{head}[image]\npartition_table = \"mbr\"\nformat = \"qcow2\"\n\
             [[partitions]]\ntype = \"0x0e\"\nsize = \"40MiB\"\n\
             [partitions.filesystem]\ntype = \"fat16\"\nsource = \"fat\"\n"
        ),
    );
    let fat32 = build(
        dir,
        "fat32-gpt.img",
        &format!(
            "{head}[image]\npartition_table = \"gpt\"\nsize = \"auto\"\n\
             [[partitions]]\nname = \"ESP\"\ntype = \"esp\"\nsize = \"100MiB\"\n\
             [partitions.filesystem]\ntype = \"fat32\"\nsource = \"fat\"\nlabel = \"ESP\"\n"
        ),
    );
    let ntfs = build(
        dir,
        "ntfs.img",
        &format!("{head}[filesystem]\ntype = \"ntfs\"\nsource = \"ntfs\"\nsize = \"auto\"\n"),
    );
    let ntfs_gpt = build(
        dir,
        "ntfs-gpt.img",
        &format!(
            "{head}[image]\npartition_table = \"gpt\"\nsize = \"auto\"\n\
             [[partitions]]\nname = \"data\"\ntype = \"msdata\"\nsize = \"auto\"\n\
             [partitions.filesystem]\ntype = \"ntfs\"\nsource = \"ntfs\"\nlabel = \"Data\"\n"
        ),
    );
    let ntfs_sparse = build(
        dir,
        "ntfs-sparse.img",
        &format!(
            "{head}[filesystem]\ntype = \"ntfs\"\nsource = \"ntfs\"\nsize = \"auto\"\n\
             cluster_size = 512\nsparse = true\n"
        ),
    );
    let disk = |image: &Path, format, partition, fstype| Disk {
        image: image.to_path_buf(),
        format,
        partition,
        fstype,
    };
    let got = vm.boot(&[
        disk(&fat12, "raw", "", "vfat"),
        disk(&fat16, "qcow2", "1", "vfat"),
        disk(&fat32, "raw", "1", "vfat"),
        disk(&ntfs, "raw", "", "ntfs3"),
        disk(&ntfs_gpt, "raw", "1", "ntfs3"),
        disk(&ntfs_sparse, "raw", "", "ntfs3"),
    ]);
    check("FAT12", &got["vda"], &dir.join("fat"), true);
    check("FAT16 in MBR, qcow2", &got["vdb1"], &dir.join("fat"), true);
    check("FAT32 in GPT", &got["vdc1"], &dir.join("fat"), true);
    check("NTFS", &got["vdd"], &dir.join("ntfs"), false);
    check("NTFS in GPT", &got["vde1"], &dir.join("ntfs"), false);
    check(
        "NTFS, sparse, 512-byte clusters",
        &got["vdf"],
        &dir.join("ntfs"),
        false,
    );
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn kernel_reads_a_hundred_thousand_entry_ntfs_directory_and_a_5_gib_sparse_file() {
    let Some(vm) = Vm::find() else { return };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let src = dir.join("src");
    for i in 0..100_000u32 {
        let name = match i % 3 {
            0 => format!("Entry {i:06}.dat"),
            1 => format!("entry_{i}"),
            _ => format!("Ünïcode {}", i * 7919 % 100_003),
        };
        write_file(&src, &format!("big/{name}"), b"");
    }
    // A 5 GiB sparse file with data at both ends and in the middle.
    let f = std::fs::File::create(src.join("five-gib.bin")).unwrap();
    let len: u64 = 5 << 30;
    f.set_len(len).unwrap();
    for (at, m) in [
        (0u64, &b"first"[..]),
        (len / 2, b"middle"),
        (len - 4, b"last"),
    ] {
        std::os::unix::fs::FileExt::write_all_at(&f, m, at).unwrap();
    }
    drop(f);
    let head = format!("version = 1\nseed = \"kernel-vm\"\nsource_date_epoch = {EPOCH}\n");
    let img = build(
        dir,
        "ntfs.img",
        &format!(
            "{head}[filesystem]\ntype = \"ntfs\"\nsource = \"src\"\nsize = \"auto\"\nsparse = true\n"
        ),
    );
    let got = vm.boot(&[Disk {
        image: img,
        format: "raw",
        partition: "",
        fstype: "ntfs3",
    }]);
    check(
        "NTFS, 100,000 entries and 5 GiB sparse",
        &got["vda"],
        &src,
        false,
    );
}
