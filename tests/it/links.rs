//! Link counts: ext4 stores at most 65,000 names for a file; more is an
//! error naming the file, never a count that wraps (65,536 names read as 0,
//! which e2fsck takes for a deleted inode).

use crate::ext::{add, inline, meta};
use fstool::fs::ext::{self, ExtKind, ExtOptions};
use fstool::tree::{NodeId, NodeKind, Tree};

fn tree_with_names(n: u32) -> Tree {
    let mut tree = Tree::new(meta(0o755));
    let target = add(&mut tree, NodeId::ROOT, b"file", 0o644, inline(b"x"));
    // Names sort after "file", so it stays the inode's owner.
    for i in 1..n {
        let name = format!("link{i:06}");
        add(
            &mut tree,
            NodeId::ROOT,
            name.as_bytes(),
            0o644,
            NodeKind::HardLink { target },
        );
    }
    ext::prepare_tree(&mut tree).unwrap();
    tree
}

#[test]
fn more_than_65000_names_is_an_error_naming_the_file() {
    let opts = ExtOptions::new(ExtKind::Ext4);
    for n in [65_001u32, 65_536] {
        let err = ext::plan(&tree_with_names(n), &opts)
            .err()
            .unwrap_or_else(|| panic!("{n} names planned"));
        let msg = err.to_string();
        assert!(msg.contains("/file"), "{msg}");
        assert!(msg.contains("65000"), "{msg}");
    }
    // The limit itself is fine.
    let plan = ext::plan(&tree_with_names(65_000), &opts).unwrap();
    let file = plan.inodes.iter().find(|i| i.ino == 12).unwrap();
    assert_eq!(file.links, 65_000);
}
