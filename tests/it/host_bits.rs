//! Host state that must not reach the image: the setgid bit a directory
//! inherits from a g+s parent where the tree was checked out.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn tree(root: &Path) {
    write_file(root, "etc/hostname", b"fstool\n");
    write_file(root, "usr/local/bin/tool", b"#!/bin/sh\n");
}

fn spec(dir: &Path, src: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join(format!("spec{}.toml", extra.len()));
    std::fs::write(
        &p,
        format!(
            "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = {}\n{extra}",
            toml_path(src)
        ),
    )
    .unwrap();
    p
}

/// The mode `fstool ls -l` shows for `path`.
fn mode_of(img: &Path, path: &str) -> String {
    let out = run_ok(fstool().arg("ls").arg("-l").arg(img).arg(path));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn setgid_directories_from_the_host_do_not_change_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let sgid = dir.path().join("sgid");
    tree(&plain);
    tree(&sgid);
    for d in ["", "etc", "usr", "usr/local", "usr/local/bin"] {
        let p = sgid.join(d);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode | 0o2000)).unwrap();
    }
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    let ha = build_ok(&spec(dir.path(), &plain, ""), &a, &[]);
    let hb = build_ok(&spec(dir.path(), &sgid, ""), &b, &[]);
    assert_eq!(ha, hb, "a setgid checkout changed the image");
    assert!(
        !mode_of(&b, "/usr").contains('s'),
        "{}",
        mode_of(&b, "/usr")
    );
    // Asked for, the host bit is kept.
    let c = dir.path().join("c.img");
    let hc = build_ok(
        &spec(dir.path(), &sgid, "keep_host_setgid = true\n"),
        &c,
        &[],
    );
    assert_ne!(ha, hc);
    let m = mode_of(&c, "/usr");
    assert!(m.contains('s'), "setgid kept: {m}");
    crate::ext::fsck_clean(&c);
}
