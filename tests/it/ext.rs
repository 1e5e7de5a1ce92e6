//! ext2/3/4 writer: images judged by e2fsck, read back by debugfs.

use crate::common::*;
use fstool::fs::ext::{self, ExtKind, ExtOptions};
use fstool::io::{BlockDevice, SparseFile};
use fstool::tree::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn meta(mode: u16) -> Meta {
    Meta::new(mode, 0, 0, Timestamp::from_secs(1_700_000_000))
}

pub fn add(tree: &mut Tree, parent: NodeId, name: &[u8], mode: u16, kind: NodeKind) -> NodeId {
    tree.insert_child(
        parent,
        Node {
            name: name.to_vec(),
            parent,
            meta: meta(mode),
            kind,
        },
    )
}

pub fn dir() -> NodeKind {
    NodeKind::Dir { children: vec![] }
}

pub fn inline(b: &[u8]) -> NodeKind {
    NodeKind::File {
        data: FileData::Inline(b.to_vec()),
        sparse: false,
    }
}

/// Plans and writes `tree` into `out`, returns the image path.
pub fn write_image(tree: &Tree, opts: &ExtOptions, out: &Path) -> PathBuf {
    let mut tree = tree.clone();
    ext::prepare_tree(&mut tree).unwrap();
    let plan = ext::plan(&tree, opts).unwrap();
    let f = std::fs::File::create(out).unwrap();
    let mut dev = SparseFile::new(f, out, plan.geo.bytes()).unwrap();
    ext::write(&plan, &tree, &mut dev, &mut |_| {}).unwrap();
    dev.finish().unwrap();
    out.to_path_buf()
}

/// Runs `e2fsck -fn` and asserts it is clean.
pub fn fsck_clean(img: &Path) {
    let Some(e2fsck) = tool("e2fsck") else { return };
    let out = run(Command::new(e2fsck).arg("-fn").arg(img));
    assert!(
        out.status.success(),
        "e2fsck -fn {} failed ({}):\n{}\n{}",
        img.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn small_tree() -> Tree {
    let mut t = Tree::new(meta(0o755));
    let etc = add(&mut t, NodeId::ROOT, b"etc", 0o755, dir());
    add(&mut t, etc, b"hostname", 0o644, inline(b"fstool\n"));
    add(
        &mut t,
        NodeId::ROOT,
        b"big",
        0o600,
        inline(&pattern(70_000, 1)),
    );
    add(
        &mut t,
        NodeId::ROOT,
        b"link",
        0o777,
        NodeKind::Symlink {
            target: b"etc/hostname".to_vec(),
        },
    );
    t
}

#[test]
fn smoke_all_flavours_pass_e2fsck() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [ExtKind::Ext2, ExtKind::Ext3, ExtKind::Ext4] {
        let img = dir.path().join(format!("{kind:?}.img"));
        let mut o = ExtOptions::new(kind);
        o.uuid = [7; 16];
        write_image(&small_tree(), &o, &img);
        fsck_clean(&img);
        if let Ok(k) = std::env::var("FSTOOL_KEEP") {
            std::fs::copy(&img, format!("{k}/{kind:?}.img")).unwrap();
        }
    }
}

#[test]
fn big_directory_gets_an_htree_that_e2fsck_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, n) in [
        (ExtKind::Ext4, 10_000),
        (ExtKind::Ext2, 3_000),
        (ExtKind::Ext4, 150),
    ] {
        let mut t = Tree::new(meta(0o755));
        let d = add(&mut t, NodeId::ROOT, b"many", 0o755, self::dir());
        for i in 0..n {
            let name = format!("file-{i:05}-{}", "x".repeat(i % 40));
            add(
                &mut t,
                d,
                name.as_bytes(),
                0o644,
                inline(format!("{i}\n").as_bytes()),
            );
        }
        let img = dir.path().join(format!("{kind:?}-{n}.img"));
        let mut o = ExtOptions::new(kind);
        o.uuid = [9; 16];
        o.hash_seed = [3; 16];
        write_image(&t, &o, &img);
        fsck_clean(&img);
        if let Ok(k) = std::env::var("FSTOOL_KEEP") {
            std::fs::copy(&img, format!("{k}/{kind:?}-{n}.img")).unwrap();
        }
    }
}
