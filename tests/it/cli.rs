//! The command line explains itself: every argument has help, `@FILE`
//! is documented, `create` lists every type it builds, completions and a
//! man page are generated, `-o -` is a clear error, and output names are
//! matched without regard to case.

use crate::common::*;
use std::process::Command;

const SUBCOMMANDS: [&str; 12] = [
    "build",
    "create",
    "plan",
    "schema",
    "completions",
    "man",
    "info",
    "ls",
    "cat",
    "extract",
    "verify",
    "diff",
];

#[test]
fn every_argument_has_help() {
    let top = run_ok(fstool().arg("--help"));
    assert!(top.contains("@FILE"), "{top}");
    for sub in SUBCOMMANDS {
        assert!(top.contains(&format!("  {sub} ")), "{sub} missing:\n{top}");
        let help = run_ok(fstool().args([sub, "--help"]));
        // Under "Arguments:", each `<NAME>` line carries a description.
        let mut in_args = false;
        for line in help.lines() {
            if line == "Arguments:" {
                in_args = true;
                continue;
            }
            if in_args && line.is_empty() {
                break;
            }
            if in_args {
                let text = line.trim();
                // `<NAME>` or `[NAME]`, then the description.
                let described = text
                    .split_once(char::is_whitespace)
                    .is_some_and(|(_, rest)| !rest.trim().is_empty());
                assert!(described, "`fstool {sub}`: {text:?} has no help");
            }
        }
    }
    let create = run_ok(fstool().args(["create", "--help"]));
    for t in fstool::fs::type_names(fstool::fs::FORMATS) {
        assert!(create.contains(t), "create --help lacks {t}:\n{create}");
    }
}

#[test]
fn completions_and_man_page() {
    let bash = run_ok(fstool().args(["completions", "bash"]));
    assert!(bash.contains("_fstool()"), "{bash}");
    for sub in SUBCOMMANDS {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("fstool.bash");
    std::fs::write(&script, &bash).unwrap();
    run_ok(Command::new("bash").arg("-n").arg(&script));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(!run_ok(fstool().args(["completions", shell])).is_empty());
    }
    let man = run_ok(fstool().arg("man"));
    assert!(man.contains(".TH fstool 1"), "{man}");
    assert!(man.contains("verify"), "{man}");
    let bad = run(fstool().args(["completions", "tcsh"]));
    assert!(!bad.status.success());
}

#[test]
fn stdout_output_is_refused_and_qcow2_names_ignore_case() {
    let d = tempfile::tempdir().unwrap();
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rootfs.toml");
    let out = run(fstool()
        .args(["build"])
        .arg(&ex)
        .args(["-o", "-"])
        .current_dir(d.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot stream to stdout"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!d.path().join("-").exists());

    let img = d.path().join("ROOT.QCOW2");
    build_ok(&ex, &img, &[]);
    let head = std::fs::read(&img).unwrap();
    assert_eq!(&head[..4], b"QFI\xfb", "not a qcow2 image");
}
