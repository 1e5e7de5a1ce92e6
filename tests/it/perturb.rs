//! The host-perturbation matrix on every format, on a disk and on an
//! EROFS root with its dm-verity partition: time zone,
//! locale and umask of the build, a source on tmpfs against one on ext4,
//! host owners, host times, the calling user (nobody), and TOML against
//! JSON. Each must leave the image's SHA-256 unchanged.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories and files only, so that every format stores all of it.
fn make_tree(root: &Path) {
    for (p, b) in [
        ("etc/hostname", b"matrix\n".to_vec()),
        ("etc/empty", vec![]),
        ("usr/share/data.bin", pattern(100_000, 3)),
        ("usr/share/doc/README", b"read me\n".to_vec()),
    ] {
        write_file(root, p, &b);
    }
    for i in 0..40 {
        write_file(
            root,
            &format!("var/many/f{i:02}"),
            format!("{i}\n").as_bytes(),
        );
    }
    set_modes(root);
}

/// Explicit modes everywhere, so the tree does not depend on the umask it
/// was made under.
fn set_modes(root: &Path) {
    for e in walk(root) {
        let m = if e.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(m)).unwrap();
    }
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![root.to_path_buf()];
    let mut i = 0;
    while i < v.len() {
        if v[i].is_dir() {
            let mut kids: Vec<PathBuf> = std::fs::read_dir(&v[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            kids.sort();
            v.extend(kids);
        }
        i += 1;
    }
    v
}

/// (name, TOML body after `source = ...`) of every target. FAT and NTFS
/// take the same tree; the disk holds a FAT ESP and an ext4 root.
fn targets(src: &str) -> Vec<(&'static str, String)> {
    let fs = |ty: &str, extra: &str| {
        format!(
            "version = 1\nseed = \"matrix\"\nsource_date_epoch = 1700000000\n\
             [filesystem]\ntype = \"{ty}\"\nsource = {src}\nlabel = \"M\"\n{extra}"
        )
    };
    vec![
        ("ext2", fs("ext2", "")),
        ("ext3", fs("ext3", "")),
        ("ext4", fs("ext4", "")),
        ("erofs", fs("erofs", "")),
        ("fat", fs("fat32", "size = \"40MiB\"\n")),
        ("ntfs", fs("ntfs", "size = \"16MiB\"\n")),
        (
            "disk",
            format!(
                "version = 1\nseed = \"matrix\"\nsource_date_epoch = 1700000000\n\
                 [image]\npartition_table = \"gpt\"\n\
                 [[partitions]]\nname = \"ESP\"\ntype = \"esp\"\nsize = \"40MiB\"\n\
                 [partitions.filesystem]\ntype = \"fat32\"\nsource = {src}\n\
                 [[partitions]]\nname = \"root\"\ntype = \"linux\"\n\
                 [partitions.filesystem]\ntype = \"ext4\"\nsource = {src}\n"
            ),
        ),
        (
            "verity-disk",
            format!(
                "version = 1\nseed = \"matrix\"\nsource_date_epoch = 1700000000\n\
                 [image]\npartition_table = \"gpt\"\n\
                 [[partitions]]\nname = \"root\"\ntype = \"linux-root\"\n\
                 [partitions.filesystem]\ntype = \"erofs\"\nsource = {src}\nverity = true\n\
                 [[partitions]]\nname = \"root-verity\"\ntype = \"root-verity\"\n"
            ),
        ),
    ]
}

/// Builds every target from `src`, with `tweak` applied to each command;
/// returns the hashes in target order.
fn hashes(work: &Path, src: &Path, tag: &str, tweak: &dyn Fn(&mut Command)) -> Vec<String> {
    let mut out = Vec::new();
    for (name, text) in targets(&toml_path(src)) {
        let spec = work.join(format!("{tag}-{name}.toml"));
        std::fs::write(&spec, text).unwrap();
        let img = work.join(format!("{tag}-{name}.img"));
        let mut cmd = fstool_build(&spec, &img, &["--no-hash"]);
        tweak(&mut cmd);
        run_ok(&mut cmd);
        out.push(sha256_file(&img));
        std::fs::remove_file(&img).unwrap();
    }
    out
}

fn same(base: &[String], other: &[String], what: &str) {
    for (i, (name, _)) in targets("\"x\"").iter().enumerate() {
        assert_eq!(base[i], other[i], "{name}: {what} changed the image");
    }
}

#[test]
fn host_perturbations_do_not_change_any_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777)).unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let none = |_: &mut Command| {};
    let base = hashes(&work, &src, "base", &none);

    // Time zone, locale and the build's own umask.
    let env = |c: &mut Command| {
        c.env("TZ", "Pacific/Chatham")
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "de_DE.UTF-8");
    };
    same(&base, &hashes(&work, &src, "env", &env), "TZ/locale");
    let umask = |c: &mut Command| {
        // Run the same argv under umask 077 through sh.
        let argv: Vec<String> = std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect();
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("umask 077; exec {}", argv.join(" ")));
        *c = sh;
    };
    same(&base, &hashes(&work, &src, "umask", &umask), "umask 077");

    // Host times: every atime and mtime moved.
    let timed = dir.path().join("timed");
    run_ok(Command::new("cp").arg("-a").arg(&src).arg(&timed));
    for p in walk(&timed) {
        filetime::set_file_times(
            &p,
            filetime::FileTime::from_unix_time(1_234_567_890, 7),
            filetime::FileTime::from_unix_time(1_500_000_000, 9),
        )
        .unwrap();
    }
    same(&base, &hashes(&work, &timed, "times", &none), "host times");

    // TOML against JSON: the same spec in the other syntax.
    for (name, text) in targets(&toml_path(&src)) {
        let v: toml::Value = toml::from_str(&text).unwrap();
        let json = work.join(format!("j-{name}.json"));
        std::fs::write(&json, serde_json::to_string(&v).unwrap()).unwrap();
        let img = work.join(format!("j-{name}.img"));
        run_ok(&mut fstool_build(&json, &img, &["--no-hash"]));
        let i = targets("\"x\"").iter().position(|t| t.0 == name).unwrap();
        assert_eq!(base[i], sha256_file(&img), "{name}: JSON spec differs");
    }

    // A source on tmpfs (readdir order and inode numbers differ from the
    // disk filesystem the base tree is on).
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let t = tempfile::tempdir_in(shm).unwrap();
        let on_tmpfs = t.path().join("src");
        run_ok(Command::new("cp").arg("-a").arg(&src).arg(&on_tmpfs));
        same(
            &base,
            &hashes(&work, &on_tmpfs, "tmpfs", &none),
            "a tmpfs source",
        );
    } else {
        eprintln!("SKIPPED: no /dev/shm for a tmpfs source");
    }

    // Root only: host owners on the source, and the calling user.
    if !can_loop_mount() {
        return;
    }
    let owned = dir.path().join("owned");
    run_ok(Command::new("cp").arg("-a").arg(&src).arg(&owned));
    run_ok(Command::new("chown").arg("-R").arg("1234:5678").arg(&owned));
    same(
        &base,
        &hashes(&work, &owned, "owners", &none),
        "host owners",
    );

    let Some(setpriv) = tool("setpriv") else {
        return;
    };
    let nobody = |c: &mut Command| {
        let mut s = Command::new(&setpriv);
        s.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .args(c.get_args());
        *c = s;
    };
    // nobody must be able to reach the binary; skip when the checkout is
    // not world-readable.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fstool"));
    let reachable = bin.ancestors().all(|a| {
        a.as_os_str().is_empty()
            || std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o005 == 0o005)
    });
    if !reachable {
        eprintln!("SKIPPED: the fstool binary is not reachable by nobody");
        return;
    }
    same(
        &base,
        &hashes(&work, &src, "nobody", &nobody),
        "running as nobody",
    );
}
