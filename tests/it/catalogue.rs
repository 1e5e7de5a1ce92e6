//! The bad-input catalogue: one table of the ways a user can get input
//! wrong, each run through the CLI and judged the same way. A case gives
//! its files, its spec and its command line; the run must end (no hang)
//! with the expected exit code, a message holding the expected words, no
//! panic, nothing at or beside the output path, and no temp file left in
//! the private TMPDIR.
//!
//! The cases that need a process killed mid-build or a full disk are in
//! `interrupt.rs` and `bad_input.rs`, which check the same things.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a case prepares its directory beyond `files` and the spec.
type Setup = fn(&Path);

struct Bad {
    name: &'static str,
    /// Host files (path relative to the case dir, contents).
    files: &'static [(&'static str, &'static [u8])],
    /// Written to `spec.toml` unless empty.
    spec: &'static str,
    /// Arguments after `fstool`; `SPEC`, `OUT` and `DIR` are replaced by
    /// the spec, `out/image.img` and the case directory.
    args: &'static [&'static str],
    setup: Option<Setup>,
    code: i32,
    /// Words the message must hold (case-insensitive).
    says: &'static [&'static str],
}

const BUILD: &[&str] = &["build", "SPEC", "-o", "OUT"];

const fn bad(name: &'static str, spec: &'static str, says: &'static [&'static str]) -> Bad {
    Bad {
        name,
        files: &[],
        spec,
        args: BUILD,
        setup: None,
        code: 1,
        says,
    }
}

fn many_links(dir: &Path) {
    let mut s = String::from(
        "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\n",
    );
    for i in 0..65_000 {
        s += &format!(
            "[[filesystem.entries]]\npath = \"/l{i}\"\ntype = \"hardlink\"\ntarget = \"/f\"\n"
        );
    }
    std::fs::write(dir.join("spec.toml"), s).unwrap();
}

fn fifo(dir: &Path) {
    run_ok(Command::new("mkfifo").arg(dir.join("fifo")));
}

fn newline_tar(dir: &Path) {
    // A pax header giving a path with a newline in it, then the member.
    let name = format!("{}\nx", "d".repeat(120));
    let record = {
        let body = format!("path={name}\n");
        let mut len = body.len() + 3;
        while format!("{len} {body}").len() != len {
            len += 1;
        }
        format!("{len} {body}")
    };
    let header = |path: &str, kind: tar::EntryType, size: usize| {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size as u64);
        h.set_cksum();
        h
    };
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("pax", tar::EntryType::XHeader, record.len()),
        record.as_bytes(),
    )
    .unwrap();
    b.append(&header("short", tar::EntryType::Regular, 1), &b"z"[..])
        .unwrap();
    std::fs::write(dir.join("nl.tar"), b.into_inner().unwrap()).unwrap();
}

const EXT: &str = "version = 1\n[filesystem]\ntype = \"ext4\"\n";

fn catalogue() -> Vec<Bad> {
    vec![
        // Item 1: times that overflowed, now errors naming the path.
        bad(
            "entry mtime of i64::MAX",
            "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\nmtime = 9223372036854775807\n",
            &["/f"],
        ),
        bad(
            "source_date_epoch of i64::MAX",
            "version = 1\nsource_date_epoch = 9223372036854775807\n[filesystem]\ntype = \"ext4\"\n",
            &["time"],
        ),
        // Item 2: times outside the format's range.
        bad(
            "2040 in a 128-byte ext inode",
            "version = 1\n[filesystem]\ntype = \"ext4\"\ninode_size = 128\nfeatures = [\"^extra_isize\"]\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\nmtime = 2208988800\n",
            &["/f", "2038"],
        ),
        bad(
            "1970 on FAT",
            "version = 1\nsource_date_epoch = 1000000000\n[filesystem]\ntype = \"fat32\"\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\nmtime = 0\n",
            &["/f", "1980"],
        ),
        bad(
            "source_date_epoch = -1 on ext4",
            "version = 1\nsource_date_epoch = -1\n[filesystem]\ntype = \"ext4\"\ninode_size = 128\nfeatures = [\"^extra_isize\"]\n",
            &["source_date_epoch", "1970-01-01", "clamp"],
        ),
        // Item 3: more names than ext4's link limit.
        Bad {
            setup: Some(many_links),
            ..bad("65,001 names of one file", "", &["/f", "65000"])
        },
        // Item 4: sizes.
        Bad {
            files: &[("src/big", &[1u8; 3 << 20])],
            ..bad(
                "too small says the true minimum",
                "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = \"src\"\nsize = \"1MiB\"\n",
                &["needs at least"],
            )
        },
        bad(
            "size beyond the format",
            "version = 1\n[filesystem]\ntype = \"ext4\"\nsize = \"999999TiB\"\n",
            &["larger than"],
        ),
        // Item 5: FAT on a 4Kn disk.
        bad(
            "FAT on 4096-byte sectors",
            "version = 1\n[image]\npartition_table = \"gpt\"\nsector_size = 4096\n[[partitions]]\ntype = \"esp\"\nsize = \"64MiB\"\n[partitions.filesystem]\ntype = \"fat32\"\n",
            &["4096"],
        ),
        // Item 8: a pax path with a newline.
        Bad {
            setup: Some(newline_tar),
            ..bad(
                "tar member path with a newline",
                "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = \"nl.tar\"\n",
                &["newline"],
            )
        },
        // Item 14: every output checked before anything is written.
        Bad {
            args: &["build", "SPEC", "-o", "OUT", "--report", "DIR/missing/r.json"],
            ..bad("report into a missing directory", EXT, &["report", "does not exist"])
        },
        Bad {
            args: &["build", "SPEC", "-o", "DIR/out/"],
            ..bad("-o naming a directory", EXT, &["is a directory"])
        },
        Bad {
            args: &["build", "SPEC", "-o", "-"],
            ..bad("-o - (stdout)", EXT, &["random access"])
        },
        Bad {
            args: &["build", "SPEC", "-o", "DIR/fifo"],
            setup: Some(fifo),
            ..bad("output that is a FIFO", EXT, &["not a regular file"])
        },
        // Item 15: errors that name the key, its line, the path.
        bad(
            "missing source",
            "version = 1\n\n[filesystem]\ntype = \"ext4\"\nsource = \"nowhere\"\n",
            &["spec.toml:5", "nowhere"],
        ),
        bad(
            "unknown key",
            "version = 1\n[filesystem]\ntype = \"ext4\"\nblock_sise = 4096\n",
            &["spec.toml:4", "block_sise"],
        ),
        bad(
            "wrong type",
            "version = 1\n[filesystem]\ntype = \"ext4\"\nblock_size = \"big\"\n",
            &["spec.toml:4", "block_size"],
        ),
        bad("invalid TOML", "version = 1\n[filesystem\n", &["spec.toml:2"]),
        bad(
            "FAT key on ext",
            "version = 1\n[filesystem]\ntype = \"ext4\"\nfats = 1\n",
            &["fats"],
        ),
        bad(
            "headroom on a fixed-size partition",
            "version = 1\n[image]\npartition_table = \"gpt\"\n[[partitions]]\ntype = \"linux\"\nsize = \"64MiB\"\nheadroom = \"500%\"\n[partitions.filesystem]\ntype = \"ext4\"\n",
            &["headroom"],
        ),
        bad(
            "entry path with ..",
            "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/a/../b\"\ntype = \"dir\"\n",
            &["/a/../b"],
        ),
        bad(
            "hard link to nothing",
            "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/l\"\ntype = \"hardlink\"\ntarget = \"/missing\"\n",
            &["/missing"],
        ),
        Bad {
            files: &[("f", b"x")],
            ..bad(
            "sha256 mismatch",
            "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\nsource = \"f\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
            &["/f", "sha256"],
        )
        },
        bad(
            "capabilities that do not parse",
            "version = 1\n[filesystem]\ntype = \"ext4\"\n[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\ncapabilities = \"cap_no_such+ep\"\n",
            &["cap_no_such"],
        ),
        bad(
            "unknown verity layout",
            "version = 1\n[filesystem]\ntype = \"erofs\"\nverity = \"sideways\"\n",
            &["verity"],
        ),
        bad(
            "signature partition without a key",
            "version = 1\n[image]\npartition_table = \"gpt\"\n[[partitions]]\ntype = \"linux-root\"\n[partitions.filesystem]\ntype = \"erofs\"\nverity = true\n[[partitions]]\ntype = \"root-verity\"\n[[partitions]]\ntype = \"root-verity-sig\"\n",
            &["partitions[2].signature", "key"],
        ),
        Bad {
            files: &[("key.pem", b"not a key"), ("cert.pem", b"not a cert")],
            ..bad(
                "signature key that is not a key",
                "version = 1\n[image]\npartition_table = \"gpt\"\n[[partitions]]\ntype = \"linux-root\"\n[partitions.filesystem]\ntype = \"erofs\"\nverity = true\n[[partitions]]\ntype = \"root-verity\"\n[[partitions]]\ntype = \"root-verity-sig\"\n[partitions.signature]\nkey = \"key.pem\"\ncertificate = \"cert.pem\"\n",
                &["key.pem", "RSA private key"],
            )
        },
        bad(
            "signature on a partition that is not a signature partition",
            "version = 1\n[image]\npartition_table = \"gpt\"\n[[partitions]]\ntype = \"linux\"\nsize = \"1MiB\"\n[partitions.signature]\nkey = \"k\"\ncertificate = \"c\"\n",
            &["partitions[0].signature", "root-verity-sig"],
        ),
        bad(
            "signature partition with no verity pair to sign",
            "version = 1\n[image]\npartition_table = \"gpt\"\n[[partitions]]\ntype = \"linux-root\"\n[partitions.filesystem]\ntype = \"erofs\"\n[[partitions]]\ntype = \"root-verity-sig\"\n[partitions.signature]\nkey = \"k\"\ncertificate = \"c\"\n",
            &["partitions[1].type", "verity"],
        ),
        bad(
            "unknown filesystem type",
            "version = 1\n[filesystem]\ntype = \"zfs\"\n",
            &["zfs"],
        ),
        // Item 16: reading commands on things that are not images.
        Bad {
            args: &["info", "DIR/fifo"],
            setup: Some(fifo),
            ..bad("info on a FIFO", "", &["not a regular file"])
        },
        Bad {
            args: &["ls", "DIR/missing.img"],
            ..bad("ls of a missing image", "", &["missing.img"])
        },
        Bad {
            args: &["diff", "DIR/missing.img", "DIR/other.img"],
            code: 2,
            ..bad("diff of a missing image", "", &["missing.img"])
        },
        Bad {
            args: &["verify", "SPEC", "DIR/missing.img"],
            code: 2,
            ..bad("verify of a missing image", EXT, &["missing.img"])
        },
        Bad {
            args: &["digest", "SPEC"],
            ..bad(
                "digest of a spec whose source is missing",
                "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = \"nowhere\"\n",
                &["nowhere"],
            )
        },
        Bad {
            args: &["build", "SPEC", "-o", "OUT", "--cache", "DIR/f"],
            files: &[("f", b"a file, not a directory")],
            ..bad("--cache naming a file", EXT, &["cache"])
        },
    ]
}

/// Runs `cmd` with a deadline: a hang is a failure, not a stuck test.
fn run_bounded(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bad_input_catalogue() {
    let mut failures = Vec::new();
    let cases = catalogue();
    for case in &cases {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        for sub in ["out", "tmp"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        for (rel, body) in case.files {
            write_file(dir, rel, body);
        }
        if !case.spec.is_empty() {
            std::fs::write(dir.join("spec.toml"), case.spec).unwrap();
        }
        if let Some(setup) = case.setup {
            setup(dir);
        }
        let before = entries(dir);
        let mut cmd = fstool();
        let dir_s = dir.to_str().unwrap();
        for a in case.args {
            let a = match *a {
                "SPEC" => format!("{dir_s}/spec.toml"),
                "OUT" => format!("{dir_s}/out/image.img"),
                other => other.replace("DIR", dir_s),
            };
            cmd.arg(a);
        }
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .env("TMPDIR", dir.join("tmp"))
            .current_dir(dir);
        let out = run_bounded(cmd, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!(
                "exit {:?}, expected {}",
                out.status.code(),
                case.code
            ));
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if !stderr.contains("error") {
            problems.push("no error message".into());
        }
        let lower = stderr.to_lowercase();
        for w in case.says {
            if !lower.contains(&w.to_lowercase()) {
                problems.push(format!("message lacks {w:?}"));
            }
        }
        let left = entries(&dir.join("out"));
        if !left.is_empty() {
            problems.push(format!("left in the output dir: {left:?}"));
        }
        let tmp = entries(&dir.join("tmp"));
        if !tmp.is_empty() {
            problems.push(format!("left in TMPDIR: {tmp:?}"));
        }
        if entries(dir) != before {
            problems.push(format!(
                "the case dir changed: {:?} -> {:?}",
                before,
                entries(dir)
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                case.name,
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} catalogue cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
