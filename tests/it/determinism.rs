//! Same inputs, same bytes: builds that differ only in host state the
//! manifest does not name (time zone, umask, where the source lives, the
//! working directory, the order files were created in, host mtimes under the
//! `fixed` policy) must give the same SHA-256; the seed and the epoch must
//! change it. `perturb.rs` runs the rest of the host-perturbation matrix
//! (locale, tmpfs, host owners, nobody, JSON) on every format and a disk.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const FLAVOURS: [&str; 4] = ["ext2", "ext3", "ext4", "erofs"];

/// How the source tree is made: directories, then files, symlinks and
/// hard links, then explicit permissions for everything.
enum Op {
    Dir(String),
    File(String, Vec<u8>),
    Symlink(String, String),
    /// (new name, existing file)
    HardLink(String, String),
}

fn ops() -> Vec<Op> {
    let s = |x: &str| x.to_string();
    let mut v = vec![
        Op::Dir(s("a")),
        Op::Dir(s("a/b")),
        Op::Dir(s("c")),
        Op::Dir(s("many")),
        Op::File(s("top.txt"), b"top\n".to_vec()),
        Op::File(s("a/1.txt"), b"one\n".to_vec()),
        Op::File(s("a/b/2.bin"), pattern(100_000, 42)),
        Op::File(s("c/empty"), vec![]),
        Op::Symlink(s("link"), s("a/1.txt")),
        Op::Symlink(
            s("c/slow"),
            s("../a/b/this-target-is-longer-than-sixty-bytes/so-it-needs-a-block"),
        ),
        Op::HardLink(s("a/b/hl"), s("a/1.txt")),
        Op::HardLink(s("many/hl2"), s("a/1.txt")),
    ];
    for i in 0..200 {
        v.push(Op::File(
            format!("many/f{i:03}"),
            format!("{i}\n").into_bytes(),
        ));
    }
    v
}

/// Permissions set on every path after creation, so the tree's modes do
/// not depend on the umask it was made under.
fn mode_of(op: &Op) -> Option<(&str, u32)> {
    match op {
        Op::Dir(p) => Some((p, if p == "c" { 0o750 } else { 0o755 })),
        Op::File(p, _) => Some((p, if p.ends_with(".bin") { 0o600 } else { 0o644 })),
        _ => None,
    }
}

/// Creates the tree with std. `reverse` creates every file (and directory)
/// in descending name order, so inode numbers and on-disk directory order
/// on the host differ.
fn create(root: &Path, reverse: bool) {
    std::fs::create_dir_all(root).unwrap();
    let mut ops = ops();
    if reverse {
        ops.reverse();
    }
    use std::os::unix::fs::PermissionsExt;
    for op in ops.iter().filter(|o| matches!(o, Op::Dir(_))) {
        if let Op::Dir(p) = op {
            std::fs::create_dir_all(root.join(p)).unwrap();
        }
    }
    for op in &ops {
        match op {
            Op::File(p, b) => std::fs::write(root.join(p), b).unwrap(),
            Op::Symlink(p, t) => std::os::unix::fs::symlink(t, root.join(p)).unwrap(),
            _ => {}
        }
    }
    for op in &ops {
        if let Op::HardLink(p, t) = op {
            std::fs::hard_link(root.join(t), root.join(p)).unwrap();
            if reverse {
                // The link first, the original name re-created from it:
                // the same inode under the same names, made the other way
                // round.
                std::fs::remove_file(root.join(t)).unwrap();
                std::fs::hard_link(root.join(p), root.join(t)).unwrap();
            }
        }
    }
    for (p, m) in ops.iter().filter_map(mode_of) {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Creates the same tree from a shell running under `umask 077`: files and
/// directories are born 0600/0700, then get the same explicit modes.
fn create_under_umask(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let mut script = String::from("set -e\numask 077\n");
    let q = |s: &str| format!("'{s}'");
    for op in ops() {
        match &op {
            Op::Dir(p) => script.push_str(&format!("mkdir -p {}\n", q(p))),
            Op::File(p, b) => {
                // Contents go through a helper file: the shell only creates
                // and fills it with cat, so the umask applies.
                let blob = root.with_extension(format!("blob-{}", p.replace('/', "_")));
                std::fs::write(&blob, b).unwrap();
                script.push_str(&format!("cat {} > {}\n", q(blob.to_str().unwrap()), q(p)));
            }
            Op::Symlink(p, t) => script.push_str(&format!("ln -s {} {}\n", q(t), q(p))),
            Op::HardLink(p, t) => script.push_str(&format!("ln {} {}\n", q(t), q(p))),
        }
    }
    let probe = "test \"$(stat -c %a top.txt)\" = 600\n";
    script.push_str(probe);
    for (p, m) in ops().iter().filter_map(mode_of) {
        script.push_str(&format!("chmod {m:o} {}\n", q(p)));
    }
    script.push_str("chmod 755 .\n");
    run_ok(Command::new("sh").arg("-c").arg(script).current_dir(root));
}

fn spec_text(fstype: &str, source: &str, extra: &str) -> String {
    format!(
        r#"version = 1
seed = "determinism"
{extra}
[filesystem]
type = "{fstype}"
source = {source}
label = "det"

[[filesystem.entries]]
path = "/etc/motd"
type = "file"
contents = "hello\n"
mode = 0o644
xattrs = {{ "user.k" = "v" }}

[[filesystem.entries]]
path = "/dev/console"
type = "char"
major = 5
minor = 1
mode = 0o600
"#
    )
}

/// A work dir holding `src/` (the tree) and `spec.toml` (with a relative
/// source), for one flavour.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(fstype: &str, extra: &str, make: impl FnOnce(&Path)) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        make(&dir.path().join("src"));
        std::fs::write(
            dir.path().join("spec.toml"),
            spec_text(fstype, "\"src\"", extra),
        )
        .unwrap();
        Setup { dir }
    }
    fn spec(&self) -> PathBuf {
        self.dir.path().join("spec.toml")
    }
    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }
    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

const EPOCH_LINE: &str = "source_date_epoch = 1700000000";

#[test]
fn each_flavour_twice_gives_the_same_bytes() {
    let mut hashes = Vec::new();
    for t in FLAVOURS {
        let s = Setup::new(t, EPOCH_LINE, |p| create(p, false));
        let a = build_ok(&s.spec(), &s.out("a.img"), &[]);
        let b = build_ok(&s.spec(), &s.out("b.img"), &[]);
        assert_eq!(a, b, "{t}: two builds of one spec differ");
        if t == "erofs" {
            crate::erofs::fsck_clean(&s.out("a.img"));
        } else {
            crate::ext::fsck_clean(&s.out("a.img"));
        }
        hashes.push(a);
    }
    hashes.dedup();
    assert_eq!(
        hashes.len(),
        FLAVOURS.len(),
        "no two flavours may be identical"
    );
}

#[test]
fn time_zone_does_not_matter() {
    // `preserve` puts host times into the image: the zone still must not.
    for policy in ["fixed", "preserve"] {
        let extra = format!("{EPOCH_LINE}\ntime_policy = \"{policy}\"");
        let s = Setup::new("ext4", &extra, |p| create(p, false));
        let utc = s.out("utc.img");
        let chatham = s.out("chatham.img");
        run_ok(fstool_build(&s.spec(), &utc, &[]).env("TZ", "UTC"));
        run_ok(fstool_build(&s.spec(), &chatham, &[]).env("TZ", "Pacific/Chatham"));
        run_ok(fstool_build(&s.spec(), &s.out("odd.img"), &[]).env("TZ", "XYZ-13:45"));
        let h = sha256_file(&utc);
        assert_eq!(h, sha256_file(&chatham), "{policy}: TZ changed the image");
        assert_eq!(
            h,
            sha256_file(&s.out("odd.img")),
            "{policy}: TZ changed the image"
        );
    }
}

#[test]
fn umask_does_not_matter() {
    for t in FLAVOURS {
        let s = Setup::new(t, EPOCH_LINE, |p| create(p, false));
        let plain = build_ok(&s.spec(), &s.out("plain.img"), &[]);
        // The same build, run under umask 077.
        let masked = s.out("masked.img");
        let script = "umask 077; exec \"$0\" build \"$1\" -o \"$2\" -q";
        run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(env!("CARGO_BIN_EXE_fstool"))
                .arg(s.spec())
                .arg(&masked)
                .env_remove("SOURCE_DATE_EPOCH"),
        );
        assert_eq!(
            plain,
            sha256_file(&masked),
            "{t}: the build's umask leaked in"
        );
        // A tree created under umask 077 (then given the same modes).
        let s2 = Setup::new(t, EPOCH_LINE, create_under_umask);
        let other = build_ok(&s2.spec(), &s2.out("tree-umask.img"), &[]);
        assert_eq!(
            plain, other,
            "{t}: the source tree's creation umask leaked in"
        );
    }
}

#[test]
fn source_location_and_working_directory_do_not_matter() {
    let s = Setup::new("ext4", EPOCH_LINE, |p| create(p, false));
    let here = build_ok(&s.spec(), &s.out("here.img"), &[]);

    // The same tree copied elsewhere (cp -a keeps modes), spec beside it.
    let other = tempfile::tempdir().unwrap();
    let deeper = other.path().join("some/deeper/place");
    std::fs::create_dir_all(&deeper).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(s.src())
            .arg(deeper.join("src")),
    );
    std::fs::copy(s.spec(), deeper.join("spec.toml")).unwrap();
    let moved = build_ok(&deeper.join("spec.toml"), &other.path().join("m.img"), &[]);
    assert_eq!(here, moved, "the source's host path leaked in");

    // An absolute source path instead of a relative one.
    let abs_spec = other.path().join("abs.toml");
    std::fs::write(
        &abs_spec,
        spec_text("ext4", &toml_path(&deeper.join("src")), EPOCH_LINE),
    )
    .unwrap();
    let abs = build_ok(&abs_spec, &other.path().join("abs.img"), &[]);
    assert_eq!(here, abs, "an absolute source path changed the image");

    // Different working directories (and relative spec/output paths).
    for cwd in [Path::new("/"), s.dir.path(), other.path()] {
        let out = other.path().join("cwd.img");
        let _ = std::fs::remove_file(&out);
        run_ok(fstool_build(&s.spec(), &out, &[]).current_dir(cwd));
        assert_eq!(
            here,
            sha256_file(&out),
            "working directory {}",
            cwd.display()
        );
    }
    let rel = s.dir.path().join("rel.img");
    run_ok(
        fstool_build(Path::new("spec.toml"), Path::new("rel.img"), &[]).current_dir(s.dir.path()),
    );
    assert_eq!(here, sha256_file(&rel), "relative spec and output paths");
}

#[test]
fn creation_order_does_not_matter() {
    use std::os::unix::fs::MetadataExt;
    for t in FLAVOURS {
        let fwd = Setup::new(t, EPOCH_LINE, |p| create(p, false));
        let rev = Setup::new(t, EPOCH_LINE, |p| create(p, true));
        // The host really saw another order: names sorted by inode number
        // come out differently.
        let by_ino = |s: &Setup| {
            let mut v: Vec<(u64, String)> = (0..200)
                .map(|i| {
                    let f = format!("many/f{i:03}");
                    (std::fs::metadata(s.src().join(&f)).unwrap().ino(), f)
                })
                .collect();
            v.sort();
            v.into_iter().map(|(_, f)| f).collect::<Vec<_>>()
        };
        assert_ne!(
            by_ino(&fwd),
            by_ino(&rev),
            "{t}: creation order had no effect"
        );
        let a = build_ok(&fwd.spec(), &fwd.out("fwd.img"), &[]);
        let b = build_ok(&rev.spec(), &rev.out("rev.img"), &[]);
        assert_eq!(a, b, "{t}: the order files were created in leaked in");
    }
}

fn touch_all(root: &Path, secs: i64) {
    let mut stack = vec![root.to_path_buf()];
    let t = filetime::FileTime::from_unix_time(secs, 123_456_789);
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.symlink_metadata().unwrap().is_dir() {
                stack.push(p.clone());
            }
            filetime::set_symlink_file_times(&p, t, t).unwrap();
        }
        filetime::set_symlink_file_times(&d, t, t).unwrap();
    }
}

#[test]
fn host_mtimes_do_not_matter_under_fixed_but_do_under_preserve() {
    for (policy, should_differ) in [("fixed", false), ("clamp", false), ("preserve", true)] {
        let extra = format!("{EPOCH_LINE}\ntime_policy = \"{policy}\"");
        let s = Setup::new("ext4", &extra, |p| create(p, false));
        // Both times are after the epoch: clamp folds them onto it too.
        touch_all(&s.src(), 1_800_000_000);
        let a = build_ok(&s.spec(), &s.out("a.img"), &[]);
        touch_all(&s.src(), 1_900_000_000);
        let b = build_ok(&s.spec(), &s.out("b.img"), &[]);
        assert_eq!(
            a != b,
            should_differ,
            "{policy}: host mtimes {} the image",
            if should_differ {
                "must change"
            } else {
                "must not change"
            }
        );
    }
}

#[test]
fn seed_changes_the_hash() {
    let s = Setup::new("ext4", EPOCH_LINE, |p| create(p, false));
    let a1 = build_ok(&s.spec(), &s.out("a1.img"), &["--seed", "alpha"]);
    let a2 = build_ok(&s.spec(), &s.out("a2.img"), &["--seed", "alpha"]);
    let b = build_ok(&s.spec(), &s.out("b.img"), &["--seed", "beta"]);
    let spec_seed = build_ok(&s.spec(), &s.out("s.img"), &[]);
    assert_eq!(a1, a2);
    assert_ne!(a1, b, "--seed did not change the image");
    assert_ne!(a1, spec_seed, "--seed did not override the spec's seed");
}

#[test]
fn source_date_epoch_env_is_honoured() {
    // No source_date_epoch in the spec: the environment decides.
    let s = Setup::new("ext4", "", |p| create(p, false));
    let build_env = |name: &str, v: Option<&str>| {
        let out = s.out(name);
        let report = s.out(format!("{name}.json").as_str());
        let mut c = fstool_build(&s.spec(), &out, &["--report", report.to_str().unwrap()]);
        if let Some(v) = v {
            c.env("SOURCE_DATE_EPOCH", v);
        }
        run_ok(&mut c);
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (sha256_file(&out), r["source_date_epoch"].as_i64().unwrap())
    };
    let (a, ea) = build_env("a.img", Some("1000000000"));
    let (a2, _) = build_env("a2.img", Some("1000000000"));
    let (b, eb) = build_env("b.img", Some("1500000000"));
    let (z, ez) = build_env("z.img", None);
    assert_eq!((ea, eb, ez), (1_000_000_000, 1_500_000_000, 0));
    assert_eq!(a, a2);
    assert_ne!(a, b, "SOURCE_DATE_EPOCH did not change the image");
    assert_ne!(a, z);
    // The root directory's mtime is the epoch.
    if let Some(debugfs) = tool("debugfs") {
        let out = run_ok(
            Command::new(debugfs)
                .arg("-R")
                .arg("stat /")
                .arg(s.out("b.img")),
        );
        assert!(
            out.contains(&format!("mtime: {:#010x}", 1_500_000_000)),
            "root mtime is not SOURCE_DATE_EPOCH:\n{out}"
        );
    }
    // A spec value beats the environment.
    let pinned = s.dir.path().join("pinned.toml");
    std::fs::write(
        &pinned,
        spec_text("ext4", "\"src\"", "source_date_epoch = 1000000000"),
    )
    .unwrap();
    let out = s.out("p.img");
    run_ok(fstool_build(&pinned, &out, &[]).env("SOURCE_DATE_EPOCH", "1500000000"));
    assert_eq!(
        sha256_file(&out),
        a,
        "the spec's source_date_epoch must win"
    );
}

/// A spec with no host input at all, so its hash depends on nothing but
/// fstool: pinned, to catch any unintended change of the output format.
fn pinned_spec(fstype: &str) -> String {
    format!(
        r#"version = 1
seed = "pinned"
source_date_epoch = 1700000000

[filesystem]
type = "{fstype}"
label = "pinned"

[[filesystem.entries]]
path = "/etc/hostname"
type = "file"
contents = "fstool\n"

[[filesystem.entries]]
path = "/bin/tool"
type = "file"
contents = "{body}"
mode = 0o755
uid = 1
gid = 2
mtime = 1600000000
xattrs = {{ "security.selinux" = "system_u:object_r:bin_t:s0" }}

[[filesystem.entries]]
path = "/bin/sh"
type = "symlink"
target = "tool"

[[filesystem.entries]]
path = "/dev/null"
type = "char"
major = 1
minor = 3
mode = 0o666
"#,
        body = "x".repeat(10_000)
    )
}

#[test]
fn pinned_hashes() {
    let dir = tempfile::tempdir().unwrap();
    for t in FLAVOURS {
        let spec = dir.path().join(format!("{t}.toml"));
        std::fs::write(&spec, pinned_spec(t)).unwrap();
        let img = dir.path().join(format!("{t}.img"));
        let h = build_ok(&spec, &img, &[]);
        if t == "erofs" {
            crate::erofs::fsck_clean(&img);
        } else {
            crate::ext::fsck_clean(&img);
        }
        insta::assert_snapshot!(format!("pinned_{t}"), h);
    }
}

#[test]
fn create_matches_the_equivalent_spec() {
    for t in FLAVOURS {
        let s = Setup::new(t, "", |p| create(p, false));
        let spec = s.out("plain.toml");
        std::fs::write(
            &spec,
            format!("version = 1\nsource_date_epoch = 1700000000\n[filesystem]\ntype = \"{t}\"\nsource = \"src\"\n"),
        )
        .unwrap();
        let built = build_ok(&spec, &s.out("built.img"), &[]);
        let mut created = Vec::new();
        for name in ["c1.img", "c2.img"] {
            let out = s.out(name);
            run_ok(
                fstool()
                    .args(["create", "-q", "-t", t, "--source-date-epoch", "1700000000"])
                    .arg(s.src())
                    .arg("-o")
                    .arg(&out)
                    .env_remove("SOURCE_DATE_EPOCH"),
            );
            created.push(sha256_file(&out));
        }
        assert_eq!(created[0], created[1], "{t}: create is not deterministic");
        assert_eq!(
            created[0], built,
            "{t}: create differs from the equivalent spec"
        );
    }
}
