//! ext4 at scale: big directories (htree), sparse and >4 GiB files, exact
//! auto size. The largest cases are `#[ignore]`d in the default run and run
//! in CI (`scripts/test.sh` passes `--include-ignored`).

use crate::common::LoopMount;
use crate::common::*;
use crate::ext::{add, dir, fsck_clean, inline, meta, write_image};
use fstool::fs::ext::{self, ExtKind, ExtOptions};
use fstool::tree::{FileData, NodeId, NodeKind, Tree};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// Bytes of real disk space a file takes.
fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// A sparse host file of `len` bytes with data at the given offsets.
fn sparse_source(path: &Path, len: u64, chunks: &[(u64, Vec<u8>)]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (off, data) in chunks {
        f.seek(SeekFrom::Start(*off)).unwrap();
        f.write_all(data).unwrap();
    }
}

fn sparse_tree(src: &Path, len: u64) -> Tree {
    let mut t = Tree::new(meta(0o755));
    add(
        &mut t,
        NodeId::ROOT,
        b"sparse.bin",
        0o644,
        NodeKind::File {
            data: FileData::Host {
                path: src.to_path_buf(),
                len,
                sha256: None,
            },
            sparse: true,
        },
    );
    t
}

/// Reads `len` bytes at `off` of a file through a mounted image.
fn pread(path: &Path, off: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).unwrap();
    let mut out = vec![0u8; len];
    f.read_exact_at(&mut out, off).unwrap();
    out
}

fn check_sparse(kind: ExtKind, len: u64, chunks: &[(u64, Vec<u8>)]) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    sparse_source(&src, len, chunks);
    let img = dir.path().join("img");
    let mut o = ExtOptions::new(kind);
    o.uuid = [5; 16];
    write_image(&sparse_tree(&src, len), &o, &img);
    fsck_clean(&img);
    // Holes stayed holes: the image holds metadata and the data chunks only.
    let a = allocated(&img);
    assert!(a < 64 << 20, "{kind:?}: image takes {a} bytes of disk");
    let fs = ext4_view::Ext4::load_from_path(&img).unwrap();
    assert_eq!(fs.metadata("/sparse.bin").unwrap().len(), len);
    // Content through the kernel (ext4-view cannot seek across holes).
    if let Some(m) = LoopMount::new(&img, "ext4") {
        let p = m.path().join("sparse.bin");
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        for (off, data) in chunks {
            assert_eq!(&pread(&p, *off, data.len()), data, "{kind:?} at {off}");
        }
        assert_eq!(
            pread(&p, 3 << 20, 4096),
            vec![0u8; 4096],
            "a hole reads as zeros"
        );
    }
}

#[test]
fn small_sparse_file_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let len = 40u64 << 20;
    let chunks = vec![
        (4096 * 3 + 5, pattern(10_000, 7)),
        (20 << 20, pattern(300_000, 8)),
        (len - 3, vec![1, 2, 3]),
    ];
    let src = dir.path().join("src.bin");
    sparse_source(&src, len, &chunks);
    for kind in [ExtKind::Ext2, ExtKind::Ext4] {
        let img = dir.path().join(format!("{kind:?}.img"));
        write_image(&sparse_tree(&src, len), &ExtOptions::new(kind), &img);
        fsck_clean(&img);
        assert!(allocated(&img) < 8 << 20);
        let Some(debugfs) = tool("debugfs") else {
            return;
        };
        let out = dir.path().join(format!("{kind:?}.out"));
        run_ok(
            Command::new(debugfs)
                .arg("-R")
                .arg(format!("dump /sparse.bin {}", out.display()))
                .arg(&img),
        );
        assert_eq!(sha256_file(&out), sha256_file(&src), "{kind:?}");
    }
}

#[test]
fn sparse_file_over_4gib_keeps_holes_ext4_and_ext3() {
    let len = (4u64 << 30) + (512 << 20) + 7;
    let chunks = vec![
        (0, pattern(5000, 1)),
        (1 << 20, pattern(4096, 2)),
        ((4u64 << 30) + 100, pattern(100, 3)),
        (len - 1, vec![0xAB]),
    ];
    check_sparse(ExtKind::Ext4, len, &chunks);
    check_sparse(ExtKind::Ext3, len, &chunks);
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn scale_one_5gib_sparse_file() {
    let len = 5u64 << 30;
    let chunks: Vec<(u64, Vec<u8>)> = (0..40u64)
        .map(|i| (i * (len / 40) + i * 4097, pattern(65536 + i as usize, i)))
        .collect();
    check_sparse(ExtKind::Ext4, len, &chunks);
}

/// A file whose data is fragmented by metadata needs a deep extent tree:
/// many small runs force more than four extents.
#[test]
fn extent_tree_deeper_than_the_inode() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("frag.bin");
    // 600 data islands separated by holes: 600 extents, two tree levels.
    let chunks: Vec<(u64, Vec<u8>)> = (0..600u64)
        .map(|i| (i * 3 * 4096, pattern(4096, i)))
        .collect();
    let len = 600 * 3 * 4096;
    sparse_source(&src, len, &chunks);
    let img = dir.path().join("img");
    let mut o = ExtOptions::new(ExtKind::Ext4);
    o.block_size = 1024; // 84 extents per block: 600 extents need an index level
    write_image(&sparse_tree(&src, len), &o, &img);
    fsck_clean(&img);
    if let Some(debugfs) = tool("debugfs") {
        let stat = run_ok(
            Command::new(&debugfs)
                .arg("-R")
                .arg("stat /sparse.bin")
                .arg(&img),
        );
        assert!(stat.contains("(ETB1)"), "expected a two-level extent tree");
        let out = dir.path().join("out.bin");
        run_ok(
            Command::new(debugfs)
                .arg("-R")
                .arg(format!("dump /sparse.bin {}", out.display()))
                .arg(&img),
        );
        assert_eq!(sha256_file(&out), sha256_file(&src));
    }
}

/// `size = "auto"` is at most 2% or 4 MiB (whichever is larger) above the
/// smallest explicit size at which the same build still succeeds.
#[test]
fn auto_size_is_within_two_percent_of_the_smallest_that_works() {
    let mut t = Tree::new(meta(0o755));
    for d in 0..40 {
        let di = add(
            &mut t,
            NodeId::ROOT,
            format!("d{d:02}").as_bytes(),
            0o755,
            dir(),
        );
        for f in 0..150 {
            let size = (d * 7919 + f * 104729) % 300_000;
            add(
                &mut t,
                di,
                format!("f{f:03}").as_bytes(),
                0o644,
                inline(&vec![1u8; size]),
            );
        }
    }
    for kind in [ExtKind::Ext4, ExtKind::Ext2] {
        let mut tree = t.clone();
        ext::prepare_tree(&mut tree).unwrap();
        let o = ExtOptions::new(kind);
        let auto = ext::plan(&tree, &o).unwrap().geo.bytes();
        let fits = |size: u64| {
            let mut o = o.clone();
            o.size = Some(size);
            o.inodes = ext::InodePolicy::Auto;
            ext::plan(&tree, &o).is_ok()
        };
        assert!(fits(auto), "{kind:?}: the auto size itself must work");
        let (mut lo, mut hi) = (4096u64, auto);
        while hi - lo > 4096 {
            let mid = (lo + hi) / 2 / 4096 * 4096;
            if fits(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let limit = (hi as f64 * 1.02) as u64;
        let limit = limit.max(hi + (4 << 20));
        assert!(auto <= limit, "{kind:?}: auto {auto} vs smallest {hi}");
        let dirp = tempfile::tempdir().unwrap();
        let img = dirp.path().join("auto.img");
        write_image(&t, &o, &img);
        fsck_clean(&img);
    }
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn scale_one_million_empty_files_in_1000_dirs() {
    let mut t = Tree::new(meta(0o755));
    for d in 0..1000 {
        let di = add(
            &mut t,
            NodeId::ROOT,
            format!("dir{d:04}").as_bytes(),
            0o755,
            dir(),
        );
        for f in 0..1000 {
            add(
                &mut t,
                di,
                format!("file{f:04}").as_bytes(),
                0o644,
                inline(b""),
            );
        }
    }
    let dirp = tempfile::tempdir().unwrap();
    let img = dirp.path().join("million.img");
    write_image(&t, &ExtOptions::new(ExtKind::Ext4), &img);
    fsck_clean(&img);
    let fs = ext4_view::Ext4::load_from_path(&img).unwrap();
    for d in [0, 517, 999] {
        let n = fs.read_dir(format!("/dir{d:04}").as_str()).unwrap().count();
        assert_eq!(n, 1002, "dir{d:04} (with . and ..)");
    }
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn scale_200k_files_in_one_directory_use_htree() {
    let mut t = Tree::new(meta(0o755));
    let di = add(&mut t, NodeId::ROOT, b"big", 0o755, dir());
    let names: Vec<String> = (0..200_000).map(|i| format!("entry-{i:06}.dat")).collect();
    for n in &names {
        add(&mut t, di, n.as_bytes(), 0o644, inline(b""));
    }
    let dirp = tempfile::tempdir().unwrap();
    let img = dirp.path().join("htree.img");
    write_image(&t, &ExtOptions::new(ExtKind::Ext4), &img);
    fsck_clean(&img);
    let Some(debugfs) = tool("debugfs") else {
        return;
    };
    let stat = run_ok(Command::new(&debugfs).arg("-R").arg("stat /big").arg(&img));
    assert!(stat.contains("Flags: 0x81000"), "not indexed:\n{stat}");
    let list = |img: &Path| -> Vec<String> {
        let out = run_ok(Command::new(&debugfs).arg("-R").arg("ls /big").arg(img));
        let mut v: Vec<String> = out
            .split_whitespace()
            .filter(|w| w.starts_with("entry-"))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&img), names);
    // e2fsck -fD rebuilds the index; the same names remain.
    let rebuilt = dirp.path().join("rebuilt.img");
    std::fs::copy(&img, &rebuilt).unwrap();
    let e2fsck = tool("e2fsck").unwrap();
    let out = run(Command::new(e2fsck).arg("-fyD").arg(&rebuilt));
    assert!(out.status.code().unwrap_or(8) <= 1, "e2fsck -fyD: {out:?}");
    fsck_clean(&rebuilt);
    assert_eq!(list(&rebuilt), names);
    // The kernel finds every name (read-only loop mount, where possible).
    if let Some(m) = crate::common::LoopMount::new(&img, "ext4") {
        for n in &names {
            assert!(
                m.path().join("big").join(n).symlink_metadata().is_ok(),
                "kernel misses {n}"
            );
        }
    }
}

/// A directory with more than 65,000 subdirectories: with dir_nlink its
/// link count is 1 ("many"), which e2fsck accepts and the kernel reads.
#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn scale_dir_nlink_past_65000_subdirectories() {
    let mut t = Tree::new(meta(0o755));
    let top = add(&mut t, NodeId::ROOT, b"top", 0o755, dir());
    for i in 0..65_010 {
        add(&mut t, top, format!("d{i:05}").as_bytes(), 0o755, dir());
    }
    let dirp = tempfile::tempdir().unwrap();
    let img = dirp.path().join("nlink.img");
    write_image(&t, &ExtOptions::new(ExtKind::Ext4), &img);
    fsck_clean(&img);
    let Some(debugfs) = tool("debugfs") else {
        return;
    };
    let stat = run_ok(Command::new(&debugfs).arg("-R").arg("stat /top").arg(&img));
    assert!(
        stat.contains("Links: 1 "),
        "dir_nlink count expected:\n{}",
        &stat[..stat.len().min(400)]
    );
    let sub = run_ok(
        Command::new(&debugfs)
            .arg("-R")
            .arg("stat /top/d65009")
            .arg(&img),
    );
    assert!(sub.contains("Links: 2 "), "a leaf directory has 2 links");
    // Without dir_nlink the same tree is refused with a clear error.
    let mut o = ExtOptions::new(ExtKind::Ext4);
    o.features = o.features.apply(&["^dir_nlink".to_string()]).unwrap();
    let mut tree = t.clone();
    ext::prepare_tree(&mut tree).unwrap();
    let err = ext::plan(&tree, &o).unwrap_err().to_string();
    assert!(err.contains("dir_nlink"), "{err}");
}
