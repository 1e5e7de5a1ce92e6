//! POSIX ACLs are stored in ext's on-disk ACL format (version 1, short
//! entries for the owner, owning group, mask and other), so the kernel and
//! debugfs read them; a malformed ACL value is an error naming the file.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn getfacl(root: &Path, names: &[&str]) -> String {
    let getfacl = tool("getfacl").unwrap();
    run_ok(
        Command::new(getfacl)
            .current_dir(root)
            .args(["-R", "-n"])
            .args(names),
    )
}

#[test]
fn host_acls_read_back_through_debugfs_and_the_kernel() {
    let (Some(setfacl), Some(_), Some(debugfs)) =
        (tool("setfacl"), tool("getfacl"), tool("debugfs"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_file(&src, "f", b"acl\n");
    std::fs::create_dir_all(src.join("d")).unwrap();
    for args in [
        vec!["-m", "u:1000:r,g:100:rw", "f"],
        vec!["-m", "u:1000:rx", "d"],
        vec!["-d", "-m", "u:1000:rwx,g::r", "d"],
    ] {
        let out = run(Command::new(&setfacl).current_dir(&src).args(&args));
        if !out.status.success() {
            // The filesystem under the temp dir may not take ACLs.
            let why = String::from_utf8_lossy(&out.stderr);
            assert!(!tools_required(), "setfacl failed: {why}");
            eprintln!("SKIPPED: setfacl failed here: {why}");
            return;
        }
    }
    let want = getfacl(&src, &["f", "d"]);
    assert!(want.contains("user:1000:r--"), "{want}");
    for ty in ["ext2", "ext4"] {
        let spec = dir.path().join(format!("{ty}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"acl\"\n[filesystem]\ntype = \"{ty}\"\nsource = {}\npreserve_xattrs = true\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = dir.path().join(format!("{ty}.img"));
        build_ok(&spec, &img, &[]);
        crate::ext::fsck_clean(&img);
        for (path, name) in [
            ("/f", "system.posix_acl_access"),
            ("/d", "system.posix_acl_access"),
            ("/d", "system.posix_acl_default"),
        ] {
            let out = run(Command::new(&debugfs)
                .arg("-R")
                .arg(format!("ea_get {path} {name}"))
                .arg(&img));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success() && !text.contains("Invalid argument") && text.contains(name),
                "{ty}: debugfs ea_get {path} {name}:\n{text}"
            );
        }
        // fstool's own reader gives back the getxattr format.
        let ls = run_ok(fstool().args(["ls", "-R", "--json"]).arg(&img).arg("/"));
        assert!(ls.contains("system.posix_acl_default"), "{ls}");
        if can_loop_mount() {
            let mnt = tempfile::tempdir().unwrap();
            run_ok(
                Command::new("mount")
                    .args(["-o", "ro,loop"])
                    .arg(&img)
                    .arg(mnt.path()),
            );
            let got = std::panic::catch_unwind(|| getfacl(mnt.path(), &["f", "d"]));
            run_ok(Command::new("umount").arg(mnt.path()));
            assert_eq!(got.unwrap(), want, "{ty}: getfacl on the loop mount");
        }
    }
}

#[test]
fn a_malformed_acl_value_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    // Version 2 header, then 6 bytes: not whole 8-byte entries.
    std::fs::write(
        &spec,
        "version = 1\n[filesystem]\ntype = \"ext4\"\n\
         [[filesystem.entries]]\npath = \"/etc\"\ntype = \"dir\"\n\
         xattrs = { \"system.posix_acl_access\" = { base64 = \"AgAAAAEABgAAAA==\" } }\n",
    )
    .unwrap();
    let out_img = dir.path().join("x.img");
    let out = run(&mut fstool_build(&spec, &out_img, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/etc") && err.contains("posix_acl_access"),
        "{err}"
    );
    assert!(!out_img.exists());
}
