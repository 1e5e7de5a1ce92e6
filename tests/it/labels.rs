//! Labels and modes that build systems set on every image: SELinux labels
//! from a real policy's file_contexts (checked against libselinux's
//! `matchpathcon`, then read back through debugfs and the kernel), file
//! capabilities (`getcap` on a loop mount), and `permissions`
//! normalisation of a read-only, Nix-store-like source.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const POLICY: &str = "/etc/selinux/default/contexts/files";

/// Paths a policy's file_contexts names: every line whose regex is a plain
/// path, optionally followed by `(/.*)?` or `/.*` (then also a child).
fn policy_paths(fc: &Path) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(fc).unwrap().lines() {
        let line = line.split('#').next().unwrap().trim();
        let Some(re) = line.split_whitespace().next() else {
            continue;
        };
        let mut base = re.to_string();
        let mut child = false;
        for suffix in ["(/.*)?", "/.*"] {
            if let Some(b) = base.strip_suffix(suffix) {
                base = b.to_string();
                child = true;
            }
        }
        let base = base.replace("\\.", ".");
        if !base.starts_with('/')
            || base.len() < 2
            || base.contains(|c| "^$?*+|[](){}\\".contains(c))
        {
            continue;
        }
        if child {
            out.insert(format!("{base}/sub"));
        }
        out.insert(base);
    }
    out.into_iter().collect()
}

/// Makes every path under `root`: a directory when another path lies
/// below it, else a file. Returns each path with its kind (`true`: dir),
/// parents included.
fn make_tree(root: &Path, paths: &[String]) -> BTreeMap<String, bool> {
    let mut kinds = BTreeMap::new();
    for p in paths {
        let mut acc = String::new();
        let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        for (i, c) in parts.iter().enumerate() {
            acc.push('/');
            acc.push_str(c);
            let dir = i + 1 < parts.len();
            let e = kinds.entry(acc.clone()).or_insert(dir);
            *e |= dir;
        }
    }
    for (p, dir) in &kinds {
        let host = root.join(p.trim_start_matches('/'));
        if *dir {
            std::fs::create_dir_all(&host).unwrap();
        } else {
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(&host, p.as_bytes()).unwrap();
        }
    }
    kinds
}

/// `matchpathcon` labels of `paths` (`None` for `<<none>>`).
fn reference(paths: &BTreeMap<String, bool>) -> BTreeMap<String, Option<String>> {
    let mpc = tool("matchpathcon").unwrap();
    let mut out = BTreeMap::new();
    for (mode, want_dir) in [("file", false), ("dir", true)] {
        let args: Vec<&String> = paths
            .iter()
            .filter(|(_, d)| **d == want_dir)
            .map(|(p, _)| p)
            .collect();
        for chunk in args.chunks(200) {
            let text = run_ok(
                Command::new(&mpc)
                    .args(["-f", &format!("{POLICY}/file_contexts"), "-m", mode])
                    .args(chunk.iter().map(|s| s.as_str())),
            );
            for line in text.lines() {
                let (p, ctx) = line.split_once('\t').unwrap();
                let ctx = (ctx != "<<none>>").then(|| ctx.to_string());
                out.insert(p.to_string(), ctx);
            }
        }
    }
    out
}

/// One field of every entry of an image, by path, as `fstool ls -R
/// --json` reads it.
fn by_path<T>(img: &Path, field: impl Fn(&serde_json::Value) -> T) -> BTreeMap<String, T> {
    let out = run_ok(fstool().arg("ls").arg(img).args(["/", "-R", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_string(), field(e)))
        .collect()
}

/// Labels as `fstool ls -R --json` reads them from an image.
fn labels_in(img: &Path) -> BTreeMap<String, Option<String>> {
    by_path(img, |e| {
        e["xattrs"]["security.selinux"]
            .as_str()
            .map(|s| s.trim_end_matches('\0').to_string())
    })
}

#[test]
fn file_contexts_labels_match_matchpathcon() {
    let fc = Path::new(POLICY).join("file_contexts");
    if !fc.exists() {
        assert!(
            !tools_required(),
            "{} is missing (selinux-policy-default)",
            fc.display()
        );
        eprintln!("SKIPPED: no SELinux policy at {POLICY}");
        return;
    }
    let Some(_) = tool("matchpathcon") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    // Every 8th path the policy names, and some it reaches through the
    // home-directory and substitution files.
    let mut paths: Vec<String> = policy_paths(&fc).into_iter().step_by(8).collect();
    paths.extend(
        [
            "/home/alice/notes.txt",
            "/var/run/daemon.pid",
            "/usr/lib64/libx.so",
        ]
        .map(String::from),
    );
    let kinds = make_tree(&src, &paths);
    assert!(kinds.len() >= 600, "{} paths", kinds.len());
    let want = reference(&kinds);
    assert_eq!(want.len(), kinds.len());
    let labelled = want.values().filter(|l| l.is_some()).count();
    assert!(labelled >= 500, "only {labelled} paths have a label");

    for fs in ["ext4", "erofs"] {
        let spec = d.path().join(format!("{fs}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"labels\"\n[filesystem]\ntype = \"{fs}\"\nsource = {}\n\
                 [filesystem.selinux]\nfile_contexts = [\"{POLICY}/file_contexts\", \
                 \"{POLICY}/file_contexts.homedirs\"]\n\
                 substitutions = [\"{POLICY}/file_contexts.subs_dist\"]\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = d.path().join(format!("{fs}.img"));
        build_ok(&spec, &img, &[]);
        let got = labels_in(&img);
        let mut wrong = Vec::new();
        for (p, w) in &want {
            if got.get(p) != Some(w) {
                wrong.push(format!("{p}: want {w:?}, got {:?}", got.get(p)));
            }
        }
        assert!(
            wrong.is_empty(),
            "{fs}: {} of {} differ:\n{}",
            wrong.len(),
            want.len(),
            wrong.join("\n")
        );

        // The kernel reads the same labels.
        if can_loop_mount() {
            let m = d.path().join(format!("mnt-{fs}"));
            std::fs::create_dir(&m).unwrap();
            run_ok(
                Command::new("mount")
                    .args(["-o", "ro,loop"])
                    .arg(&img)
                    .arg(&m),
            );
            let mut bad = Vec::new();
            for (p, w) in &want {
                let host = m.join(p.trim_start_matches('/'));
                let v = xattr::get(&host, "security.selinux").unwrap();
                let v = v.map(|b| {
                    String::from_utf8(b)
                        .unwrap()
                        .trim_end_matches('\0')
                        .to_string()
                });
                if &v != w {
                    bad.push(format!("{p}: {v:?}"));
                }
            }
            run_ok(Command::new("umount").arg(&m));
            assert!(bad.is_empty(), "{fs} through the kernel: {bad:?}");
        }
        if fs == "ext4" {
            // debugfs agrees, NUL included, and lost+found is labelled.
            if let Some(debugfs) = tool("debugfs") {
                let out = run_ok(
                    Command::new(debugfs)
                        .arg("-R")
                        .arg("ea_get /lost+found security.selinux")
                        .arg(&img),
                );
                assert!(out.contains("lost_found_t"), "{out}");
                assert!(out.contains("\\000"), "{out}");
            }
        }
    }
}

/// Writes the image and loop-mounts it; returns the mount point.
fn mount(img: &Path, at: &Path) -> bool {
    if !can_loop_mount() {
        return false;
    }
    std::fs::create_dir_all(at).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-o", "ro,loop"])
            .arg(img)
            .arg(at),
    );
    true
}

#[test]
fn capabilities_show_in_getcap() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    write_file(&src, "usr/bin/server", b"#!/bin/sh\n");
    write_file(&src, "usr/bin/plain", b"#!/bin/sh\n");
    for fs in ["ext4", "erofs"] {
        let spec = d.path().join(format!("{fs}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"caps\"\n[filesystem]\ntype = \"{fs}\"\nsource = {}\n\
                 [[filesystem.entries]]\npath = \"/usr/bin/ping\"\ntype = \"file\"\n\
                 contents = \"ping\"\nmode = \"0755\"\n\
                 capabilities = \"cap_net_raw,cap_net_admin+ep\"\n\
                 [[filesystem.rules]]\nglob = \"/usr/bin/server\"\n\
                 capabilities = \"cap_net_bind_service=eip\"\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = d.path().join(format!("{fs}.img"));
        build_ok(&spec, &img, &[]);
        let m = d.path().join(format!("m-{fs}"));
        if !mount(&img, &m) {
            continue;
        }
        let Some(getcap) = tool("getcap") else {
            run_ok(Command::new("umount").arg(&m));
            continue;
        };
        let out = run(Command::new(getcap).arg("-r").arg(&m));
        run_ok(Command::new("umount").arg(&m));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| l.replace(m.to_str().unwrap(), ""))
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "/usr/bin/ping cap_net_admin,cap_net_raw=ep",
                "/usr/bin/server cap_net_bind_service=eip",
            ],
            "{fs}"
        );
    }
}

fn modes(img: &Path) -> BTreeMap<String, String> {
    by_path(img, |e| e["mode"].as_str().unwrap().to_string())
}

/// A read-only source (as a Nix store path is: 0555 directories, 0444
/// files, 0555 programs) made canonical or masked.
#[test]
fn permissions_normalise_a_read_only_source() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("store");
    write_file(&src, "bin/tool", b"#!/bin/sh\n");
    write_file(&src, "share/doc/README", b"hi\n");
    let set = |p: &str, m: u32| {
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    set("bin/tool", 0o4555);
    set("share/doc/README", 0o444);
    for dir in ["bin", "share/doc", "share", "."] {
        set(dir, 0o555);
    }
    let build = |name: &str, perms: &str| -> PathBuf {
        let spec = d.path().join(format!("{name}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"perms\"\n[filesystem]\ntype = \"ext4\"\nsource = {}\n\
                 {perms}\n[[filesystem.entries]]\npath = \"/etc/secret\"\ntype = \"file\"\n\
                 contents = \"s\"\nmode = \"0600\"\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = d.path().join(format!("{name}.img"));
        build_ok(&spec, &img, &[]);
        img
    };
    let as_is = modes(&build("source", ""));
    assert_eq!(as_is["/bin"], "0555");
    assert_eq!(as_is["/bin/tool"], "4555");
    assert_eq!(as_is["/share/doc/README"], "0444");
    let canonical = modes(&build("canonical", "permissions = \"canonical\""));
    assert_eq!(canonical["/bin"], "0755");
    assert_eq!(canonical["/share/doc"], "0755");
    assert_eq!(canonical["/bin/tool"], "0755");
    assert_eq!(canonical["/share/doc/README"], "0644");
    assert_eq!(canonical["/etc/secret"], "0600", "entries keep their modes");
    let masked = modes(&build(
        "masks",
        "permissions = { clear = \"07022\", set = \"0200\" }",
    ));
    assert_eq!(masked["/bin"], "0755");
    assert_eq!(masked["/bin/tool"], "0755");
    assert_eq!(masked["/share/doc/README"], "0644");
    crate::ext::fsck_clean(&d.path().join("canonical.img"));
    for dir in ["bin", "share/doc", "share", "."] {
        set(dir, 0o755);
    }
}
