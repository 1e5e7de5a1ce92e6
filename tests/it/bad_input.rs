//! Bad input ends in a clear error: non-zero exit, a message naming what is
//! wrong and where, no panic, and nothing left at (or beside) the output
//! path.

use crate::common::*;
use std::path::PathBuf;
use std::process::Command;

/// A work dir with the spec and host files in it, and an empty `out/`
/// directory that must stay empty after a failed build.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        Case { dir }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn out(&self) -> PathBuf {
        self.path("out/image.img")
    }
    fn spec(&self, text: &str) -> PathBuf {
        let p = self.path("spec.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs `cmd`, which must fail cleanly; returns stderr.
    fn fails(&self, cmd: &mut Command, keywords: &[&str]) -> String {
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let all = format!("{cmd:?}\nstatus {}\nstderr:\n{stderr}", out.status);
        assert!(!out.status.success(), "expected a failure: {all}");
        assert!(out.status.code().is_some_and(|c| c != 0), "killed? {all}");
        assert!(!stderr.contains("panicked"), "panic: {all}");
        assert!(stderr.contains("error"), "no error message: {all}");
        for k in keywords {
            assert!(
                stderr.to_lowercase().contains(&k.to_lowercase()),
                "stderr lacks {k:?}: {all}"
            );
        }
        assert!(
            !self.out().exists(),
            "output written despite the error: {all}"
        );
        let stray: Vec<_> = std::fs::read_dir(self.path("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(stray.is_empty(), "left behind in the output dir: {stray:?}");
        stderr
    }

    /// `fstool build` of a spec text that must fail with `keywords`.
    fn build_fails(&self, spec: &str, keywords: &[&str]) -> String {
        let spec = self.spec(spec);
        self.fails(&mut fstool_build(&spec, &self.out(), &[]), keywords)
    }
}

const HEAD: &str = "version = 1\n\n[filesystem]\ntype = \"ext4\"\n";

fn file_entry(path: &str, extra: &str) -> String {
    format!("\n[[filesystem.entries]]\npath = \"{path}\"\ntype = \"file\"\n{extra}\n")
}

#[test]
fn missing_source_directory_is_named() {
    let c = Case::new();
    let missing = c.path("no-such-tree");
    c.build_fails(
        &format!("{HEAD}source = {}\n", toml_path(&missing)),
        &["does not exist", missing.to_str().unwrap()],
    );
    // The same through `fstool create`.
    c.fails(
        fstool()
            .args(["create", "-t", "ext4", "-q"])
            .arg(&missing)
            .arg("-o")
            .arg(c.out()),
        &["does not exist", missing.to_str().unwrap()],
    );
    // A relative source resolves against the spec's directory: the message
    // shows where it looked.
    c.build_fails(
        &format!("{HEAD}source = \"rel/tree\"\n"),
        &["does not exist", c.path("rel/tree").to_str().unwrap()],
    );
}

#[test]
fn missing_or_dangling_entry_source_is_named() {
    let c = Case::new();
    c.build_fails(
        &format!("{HEAD}{}", file_entry("/etc/x", "source = \"nope.bin\"")),
        &["does not exist", "nope.bin"],
    );
    std::os::unix::fs::symlink("gone", c.path("dangling")).unwrap();
    c.build_fails(
        &format!("{HEAD}{}", file_entry("/etc/x", "source = \"dangling\"")),
        &["does not exist", "dangling"],
    );
}

#[test]
fn entry_source_that_is_a_directory_is_rejected() {
    let c = Case::new();
    std::fs::create_dir(c.path("adir")).unwrap();
    c.build_fails(
        &format!("{HEAD}{}", file_entry("/etc/x", "source = \"adir\"")),
        &["/etc/x", "adir", "not a regular file"],
    );
}

#[test]
fn unreadable_source_file_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    write_file(&c.path("tree"), "secret", b"secret\n");
    let secret = c.path("tree/secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&secret).is_ok() {
        // root (CAP_DAC_OVERRIDE) reads a mode-000 file; the error path
        // cannot be reached this way. The directory-as-file and dangling
        // cases above cover the "cannot use this source" errors.
        eprintln!("SKIPPED: running as root, mode 000 does not stop reads");
        return;
    }
    c.build_fails(
        &format!("{HEAD}source = \"tree\"\n"),
        &["cannot read", "secret"],
    );
    c.build_fails(
        &format!("{HEAD}{}", file_entry("/s", "source = \"tree/secret\"")),
        &["secret"],
    );
}

#[test]
fn sha256_mismatch_is_an_error() {
    let c = Case::new();
    std::fs::write(c.path("data.bin"), b"real contents\n").unwrap();
    let wrong = "0".repeat(64);
    let stderr = c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry(
                "/etc/data",
                &format!("source = \"data.bin\"\nsha256 = \"{wrong}\"")
            )
        ),
        &["/etc/data", &wrong],
    );
    let actual = sha256_file(&c.path("data.bin"));
    assert!(
        stderr.contains(&actual),
        "the actual hash is not shown:\n{stderr}"
    );
    // Inline contents are checked too.
    c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry(
                "/etc/inline",
                &format!("contents = \"x\"\nsha256 = \"{wrong}\"")
            )
        ),
        &["/etc/inline", &wrong],
    );
    // A malformed hash is a spec error naming the key.
    c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry("/etc/inline", "contents = \"x\"\nsha256 = \"abc\"")
        ),
        &["sha256", "64 hex"],
    );
}

#[test]
fn bad_names_are_rejected() {
    let c = Case::new();
    let long = "n".repeat(256);
    c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry(&format!("/d/{long}"), "contents = \"\"")
        ),
        &["256 bytes", "255"],
    );
    // 255 bytes is fine.
    let ok = c.spec(&format!(
        "{HEAD}{}",
        file_entry(&format!("/d/{}", "n".repeat(255)), "contents = \"\"")
    ));
    run_ok(&mut fstool_build(&ok, &c.path("ok.img"), &[]));
    std::fs::remove_file(c.path("ok.img")).unwrap();

    c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry("/a/nul\\u0000byte", "contents = \"\"")
        ),
        &["NUL"],
    );
    c.build_fails(
        &format!("{HEAD}{}", file_entry("/a/../etc", "contents = \"\"")),
        &[".."],
    );
    c.build_fails(
        &format!("{HEAD}{}", file_entry("relative/path", "contents = \"\"")),
        &["relative/path", "absolute"],
    );
    // A "/" inside a name cannot be written in an image path (it separates
    // components); the only place a name could carry one is a host file
    // name, which Linux forbids.
}

fn size_spec(size: &str) -> String {
    format!(
        "version = 1\n[filesystem]\ntype = \"ext4\"\nsize = {size}\n{}",
        file_entry("/big.bin", "source = \"big.bin\"")
    )
}

/// Builds into 1 MiB (too small for 3 MiB of data); returns the byte count
/// the error says is needed.
fn needed_for_3mib(c: &Case) -> u64 {
    std::fs::write(c.path("big.bin"), pattern(3 << 20, 9)).unwrap();
    let stderr = c.build_fails(&size_spec("\"1MiB\""), &["needs at least", "bytes"]);
    let needed: u64 = stderr
        .split("needs at least ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count after \"needs at least\":\n{stderr}"));
    assert!(needed > 3 << 20, "needed {needed} < the data itself");
    needed
}

#[test]
fn too_small_a_size_says_how_much_is_needed() {
    let c = Case::new();
    let needed = needed_for_3mib(&c);
    // Below the figure is still an error.
    c.build_fails(
        &size_spec(&(needed - 4096).to_string()),
        &["needs at least"],
    );
}

#[test]
fn the_size_said_to_be_needed_is_enough() {
    let c = Case::new();
    let needed = needed_for_3mib(&c);
    let ok = c.spec(&size_spec(&needed.to_string()));
    let img = c.path("fits.img");
    run_ok(&mut fstool_build(&ok, &img, &[]));
    assert_eq!(std::fs::metadata(&img).unwrap().len(), needed);
    crate::ext::fsck_clean(&img);
}

#[test]
fn error_messages_say_things_once() {
    let c = Case::new();
    std::fs::write(c.path("data.bin"), b"data").unwrap();
    let cases = [
        (c.path("absent.toml"), String::new()),
        (
            c.path("spec.toml"),
            format!(
                "{HEAD}{}",
                file_entry(
                    "/d",
                    &format!("source = \"data.bin\"\nsha256 = \"{}\"", "0".repeat(64))
                )
            ),
        ),
        (c.path("spec.toml"), size_spec("\"1MiB\"")),
    ];
    for (spec, text) in cases {
        if !text.is_empty() {
            std::fs::write(&spec, text).unwrap();
        }
        let stderr = c.fails(&mut fstool_build(&spec, &c.out(), &[]), &[]);
        let parts: Vec<&str> = stderr
            .trim()
            .split(": ")
            .filter(|p| p.len() >= 12)
            .collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(
                !parts[i + 1..].contains(p),
                "{p:?} is said twice in:\n{stderr}"
            );
        }
    }
}

#[test]
fn symlink_loop_in_the_source_is_copied_as_links() {
    let c = Case::new();
    let tree = c.path("tree");
    std::fs::create_dir(&tree).unwrap();
    std::os::unix::fs::symlink("b", tree.join("a")).unwrap();
    std::os::unix::fs::symlink("a", tree.join("b")).unwrap();
    std::os::unix::fs::symlink(".", tree.join("self")).unwrap();
    let spec = c.spec(&format!("{HEAD}source = \"tree\"\n"));
    let img = c.out();
    run_ok(&mut fstool_build(&spec, &img, &[]));
    crate::ext::fsck_clean(&img);
    let fs = ext4_view::Ext4::load(Box::new(std::fs::read(&img).unwrap())).unwrap();
    for (name, target) in [("/a", "b"), ("/b", "a"), ("/self", ".")] {
        let t = fs.read_link(name).unwrap();
        assert_eq!(t.as_ref() as &[u8], target.as_bytes(), "{name}");
        assert!(fs.symlink_metadata(name).unwrap().is_symlink());
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let c = Case::new();
    let text = format!("{HEAD}label = \"x\"\nlable_typo = \"y\"\n");
    let line = line_of(&text, "lable_typo");
    c.build_fails(&text, &["lable_typo", &format!("spec.toml:{line}")]);

    let text = format!(
        "{HEAD}{}",
        file_entry("/x", "contents = \"\"\nowner = \"root\"")
    );
    let line = line_of(&text, "owner");
    c.build_fails(
        &text,
        &["owner", "entries[0]", &format!("spec.toml:{line}")],
    );

    let text = "version = 1\ncolour = \"blue\"\n";
    c.build_fails(text, &["colour", "spec.toml:2"]);
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let c = Case::new();
    let text = format!(
        "{HEAD}{}",
        file_entry("/x", "contents = \"\"\nuid = \"root\"")
    );
    let line = line_of(&text, "uid =");
    c.build_fails(&text, &["uid", &format!("spec.toml:{line}")]);

    let text = format!("{HEAD}block_size = \"big\"\n");
    c.build_fails(&text, &["block_size", "spec.toml:5"]);

    c.build_fails("version = \"one\"\n", &["version", "spec.toml:1"]);
    c.build_fails(
        "version = 1\n[filesystem]\ntype = \"btrfs\"\n",
        &["type", "btrfs", "spec.toml:3"],
    );
    c.build_fails(
        &format!(
            "{HEAD}{}",
            file_entry("/x", "contents = \"\"\nmode = \"rwx\"")
        ),
        &["mode"],
    );
}

#[test]
fn invalid_syntax_is_named_with_its_line() {
    let c = Case::new();
    c.build_fails(
        "version = 1\n[filesystem\ntype = \"ext4\"\n",
        &["spec.toml:2"],
    );
    c.build_fails("{ \"version\": 1, }", &["spec"]);
}

#[test]
fn unsupported_feature_combinations_are_rejected() {
    let c = Case::new();
    c.build_fails(
        &format!("{HEAD}features = [\"^extent\"]\n"),
        &["features", "64bit requires extent"],
    );
    c.build_fails(
        &format!("{HEAD}features = [\"frobnicate\"]\n"),
        &["features", "frobnicate"],
    );
    c.build_fails(
        "version = 1\n[filesystem]\ntype = \"ext2\"\njournal_size = \"4MiB\"\n",
        &["journal_size", "journal"],
    );
}

#[test]
fn bad_hard_links_are_rejected() {
    let c = Case::new();
    c.build_fails(
        &format!(
            "{HEAD}\n[[filesystem.entries]]\npath = \"/l\"\ntype = \"hardlink\"\ntarget = \"/missing\"\n"
        ),
        &["/l", "/missing"],
    );
    c.build_fails(
        &format!(
            "{HEAD}\n[[filesystem.entries]]\npath = \"/d\"\ntype = \"dir\"\n\
             \n[[filesystem.entries]]\npath = \"/l\"\ntype = \"hardlink\"\ntarget = \"/d\"\n"
        ),
        &["/l", "/d"],
    );
}

#[test]
fn bad_environment_and_paths_are_reported() {
    let c = Case::new();
    // A missing spec file.
    c.fails(
        &mut fstool_build(&c.path("absent.toml"), &c.out(), &[]),
        &["absent.toml"],
    );
    // An unusable SOURCE_DATE_EPOCH (the spec does not pin one).
    let spec = c.spec(HEAD);
    c.fails(
        fstool_build(&spec, &c.out(), &[]).env("SOURCE_DATE_EPOCH", "yesterday"),
        &["SOURCE_DATE_EPOCH", "yesterday"],
    );
    // An output directory that does not exist.
    let out = run(&mut fstool_build(&spec, &c.path("no/such/dir/x.img"), &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("no/such/dir"), "{stderr}");
}

/// A file that grows (or shrinks) between resolving the tree and writing
/// it must fail the build: the plan was made for the old length.
#[test]
fn source_that_changes_size_during_the_build_is_an_error() {
    use fstool::io::MemDevice;
    for (what, change) in [("grows", 1i64), ("shrinks", -1)] {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        write_file(&tree, "f.bin", &pattern(50_000, 3));
        let spec = fstool::spec::parse_str(
            "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = \"tree\"\n",
            "spec.toml",
        )
        .unwrap();
        let opts = fstool::PlanOptions {
            base_dir: dir.path().to_path_buf(),
            output: None,
            env_source_date_epoch: None,
            phase: Default::default(),
        };
        let mut planned = fstool::plan(&spec, &opts).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(tree.join("f.bin"))
            .unwrap();
        f.set_len((50_000 + change * 1000) as u64).unwrap();
        let mut dev = MemDevice::new(planned.size() as usize);
        let err = match planned.write_to(&mut dev, &mut |_| {}) {
            Ok(_) => panic!("{what}: the write succeeded"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("changed size"), "{what}: {err}");
        assert!(err.contains("f.bin"), "{what}: {err}");
    }
}

#[test]
fn errors_never_leave_a_partial_image_over_an_existing_one() {
    // A failed rebuild must not clobber the previous good image.
    let c = Case::new();
    let good = c.spec(HEAD);
    let img = c.out();
    run_ok(&mut fstool_build(&good, &img, &[]));
    let before = sha256_file(&img);
    let bad = c.spec(&format!("{HEAD}source = \"missing\"\n"));
    let out = run(&mut fstool_build(&bad, &img, &[]));
    assert!(!out.status.success());
    assert_eq!(sha256_file(&img), before, "the old image was touched");
    let names: Vec<_> = std::fs::read_dir(c.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "stray files: {names:?}");
}

#[test]
fn unknown_key_path_names_the_key_once() {
    let c = Case::new();
    let stderr = c.build_fails(
        &format!("{HEAD}lable_typo = 1\n"),
        &["filesystem.lable_typo: unknown key"],
    );
    assert!(!stderr.contains("lable_typo.lable_typo"), "{stderr}");
}

/// An output path that is a FIFO (or a device, such as `/dev/null`) must
/// not be replaced by the renamed temp file: the build refuses it and the
/// node stays what it was.
#[test]
fn output_that_is_not_a_regular_file_is_refused_and_kept() {
    use std::os::unix::fs::FileTypeExt;
    let c = Case::new();
    let spec = c.spec(HEAD);
    let fifo = c.path("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let out = run(&mut fstool_build(&spec, &fifo, &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let ft = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(ft.is_fifo(), "the FIFO was replaced");
    let stray: Vec<_> = std::fs::read_dir(c.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".fstool-"))
        .collect();
    assert!(stray.is_empty(), "temp files left: {stray:?}");
}

/// Errors that later layers raise about a spec key name the key and its
/// line, as the spec parser's own errors do.
#[test]
fn missing_source_is_named_with_its_key_and_line() {
    let c = Case::new();
    let spec = format!("{HEAD}label = \"x\"\nsource = \"no-such-tree\"\n");
    c.build_fails(
        &spec,
        &["spec.toml:6: filesystem.source:", "does not exist"],
    );
    let disk = "version = 1\n[image]\npartition_table = \"gpt\"\n\n[[partitions]]\ntype = \"linux\"\n[partitions.filesystem]\ntype = \"ext4\"\nsource = \"gone\"\n";
    c.build_fails(
        disk,
        &["spec.toml:9: partitions[0].filesystem.source:", "gone"],
    );
}

/// Every output path is checked before anything is written: a report that
/// cannot be written leaves no image (issue: the image used to stay).
#[test]
fn report_into_a_missing_directory_leaves_no_image() {
    let c = Case::new();
    let spec = c.spec(HEAD);
    c.fails(
        fstool_build(&spec, &c.out(), &["--report"]).arg(c.path("nodir/r.json")),
        &["report", "nodir", "does not exist"],
    );
    c.fails(
        fstool_build(&spec, &c.out(), &["--report"]).arg(c.path("out")),
        &["report", "is a directory"],
    );
}

/// `-o dir/` and `-o dir` say that the output is a directory.
#[test]
fn output_that_is_a_directory_says_so() {
    let c = Case::new();
    let spec = c.spec(HEAD);
    for out in [c.path("out/"), c.path("out")] {
        c.fails(&mut fstool_build(&spec, &out, &[]), &["is a directory"]);
    }
}

/// A size beyond what the format can address says so, not that the tree
/// does not fit.
#[test]
fn a_size_beyond_the_format_is_too_large_not_too_small() {
    let c = Case::new();
    let e = c.build_fails(
        &format!("{HEAD}size = \"999999TiB\"\n"),
        &["larger than ext4 can address", "2^32 block groups"],
    );
    assert!(!e.contains("does not fit"), "{e}");
    c.build_fails(
        "version = 1\n[filesystem]\ntype = \"ext3\"\nsize = \"17TiB\"\n",
        &["larger than ext3 can address", "64bit"],
    );
}

/// A full output disk is the output's problem: the message names the
/// output path, not the source file being copied.
#[test]
fn a_full_output_disk_names_the_output() {
    if !can_loop_mount() {
        return;
    }
    let c = Case::new();
    write_file(&c.path("tree"), "blob", &pattern(6 << 20, 9));
    let full = c.path("full");
    std::fs::create_dir(&full).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
            .arg(&full),
    );
    let out = full.join("x.img");
    let o = run(fstool()
        .args(["create", "-q", "-t", "ext4", "-o"])
        .arg(&out)
        .arg(c.path("tree")));
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().collect();
    run_ok(Command::new("umount").arg(&full));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(
        stderr.contains(out.to_str().unwrap()),
        "names the output: {stderr}"
    );
    assert!(!stderr.contains("blob"), "blames the source: {stderr}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A FAT partition on a 4Kn disk would carry 512-byte sectors, which Linux
/// refuses to mount; the build refuses it instead, naming key and line.
#[test]
fn fat_on_a_disk_with_4096_byte_sectors_is_refused() {
    let c = Case::new();
    let disk = "version = 1\n[image]\npartition_table = \"gpt\"\nsector_size = 4096\n\
                [[partitions]]\ntype = \"esp\"\nsize = \"64MiB\"\n\
                [partitions.filesystem]\ntype = \"fat32\"\n";
    c.build_fails(
        disk,
        &[
            "spec.toml:9",
            "partitions[0].filesystem.type",
            "4096-byte sectors",
        ],
    );
    // ext4 on the same disk builds.
    let ok = disk.replace("\"fat32\"", "\"ext4\"");
    build_ok(&c.spec(&ok), &c.out(), &[]);
    crate::disk::validators_clean(&c.out());
}

/// A verity request that cannot be met names the key (and its line) and
/// what would work.
#[test]
fn verity_mistakes_name_the_key() {
    let c = Case::new();
    let bare = "version = 1\n[filesystem]\ntype = \"erofs\"\nverity = \"partition\"\n";
    c.build_fails(bare, &["spec.toml:4", "filesystem.verity", "\"appended\""]);
    let odd = bare.replace("\"partition\"", "\"sideways\"");
    c.build_fails(&odd, &["filesystem.verity", "sideways"]);
    let salt = bare.replace("\"partition\"", "{ salt = \"abc\" }");
    c.build_fails(&salt, &["filesystem.verity.salt", "hex"]);

    let disk = "version = 1\n[image]\npartition_table = \"gpt\"\n\
                [[partitions]]\ntype = \"linux-root\"\nsize = \"8MiB\"\n\
                [partitions.filesystem]\ntype = \"ext4\"\nverity = true\n";
    // No root-verity partition to hold the tree.
    c.build_fails(
        disk,
        &[
            "spec.toml:9",
            "partitions[0].filesystem.verity",
            "root-verity",
        ],
    );
    // A hash partition too small says how much the tree needs.
    let small = format!("{disk}[[partitions]]\ntype = \"root-verity\"\nsize = 512\n");
    let need = fstool::verity::hash_size_for(8 << 20).unwrap();
    c.build_fails(
        &small,
        &["partitions[1].size", &format!("needs {need} bytes")],
    );
    // A verity pair's UUIDs are the root hash's.
    let pinned = format!(
        "{disk}[[partitions]]\ntype = \"root-verity\"\n\
         uuid = \"11111111-2222-3333-4444-555555555555\"\n"
    );
    c.build_fails(&pinned, &["partitions[1].uuid", "root hash"]);
    // A plain linux partition has no hash-partition type.
    let plain = disk.replace("\"linux-root\"", "\"linux\"");
    let plain = plain.replace("verity = true", "verity = \"partition\"");
    c.build_fails(&plain, &["partitions[0].filesystem.verity", "appended"]);
    // With the partition added, it builds.
    let ok = format!("{disk}[[partitions]]\ntype = \"root-verity\"\n");
    build_ok(&c.spec(&ok), &c.out(), &[]);
    crate::disk::validators_clean(&c.out());
}

/// `permissions` and `capabilities` name the key, its line and what is
/// accepted.
#[test]
fn permission_and_capability_mistakes_name_the_key() {
    let c = Case::new();
    let text = format!("{HEAD}permissions = \"loose\"\n");
    c.build_fails(
        &text,
        &["spec.toml:5", "filesystem.permissions", "canonical"],
    );
    let text = format!(
        "{HEAD}{}",
        file_entry("/bin/x", "contents = \"\"\ncapabilities = \"cap_bogus+ep\"")
    );
    let line = line_of(&text, "cap_bogus");
    c.build_fails(
        &text,
        &[
            &format!("spec.toml:{line}"),
            "filesystem.entries[0].capabilities",
            "cap_bogus",
        ],
    );
    let text = format!(
        "{HEAD}[[filesystem.rules]]\nglob = \"/x\"\ncapabilities = \"cap_chown+p cap_kill+ep\"\n"
    );
    c.build_fails(&text, &["filesystem.rules[0].capabilities", "effective"]);
    let text = format!(
        "{HEAD}[filesystem.selinux]\nfile_contexts = \"{}\"\n",
        c.path("missing_contexts").display()
    );
    c.build_fails(&text, &["missing_contexts"]);
}
