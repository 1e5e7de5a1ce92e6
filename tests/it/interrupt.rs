//! Interrupted builds leave nothing behind: SIGINT, SIGTERM and SIGHUP
//! remove the temp output and the tar extraction dir and exit 128 + the
//! signal; after a SIGKILL the next build to the same directory removes
//! the stale temp files.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A build slow enough to interrupt: a tar source (extracted to a temp
/// dir) in a large image that is hashed.
fn setup(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    write_file(&src, "big", &pattern(96 << 20, 5));
    run_ok(
        Command::new("tar")
            .arg("cf")
            .arg(dir.join("src.tar"))
            .arg("-C")
            .arg(&src)
            .arg("big"),
    );
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::create_dir(dir.join("tmp")).unwrap();
    let spec = dir.join("s.toml");
    std::fs::write(
        &spec,
        "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = \"src.tar\"\nsize = \"16GiB\"\n",
    )
    .unwrap();
    spec
}

fn start(dir: &Path, spec: &Path) -> Child {
    fstool()
        .arg("build")
        .arg(spec)
        .arg("-o")
        .arg(dir.join("out/x.img"))
        .arg("-q")
        .env("TMPDIR", dir.join("tmp"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Waits until the build has both its temp output and its tar dir.
fn wait_for_temps(dir: &Path, child: &mut Child) {
    let t0 = Instant::now();
    loop {
        let out = names(&dir.join("out"));
        if out.iter().any(|n| n.starts_with(".fstool-")) && !names(&dir.join("tmp")).is_empty() {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended too soon"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no temp files appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupted_builds_leave_nothing_behind() {
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let spec = setup(dir.path());
        let mut child = start(dir.path(), &spec);
        wait_for_temps(dir.path(), &mut child);
        run_ok(
            Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(child.id().to_string()),
        );
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{sig}: {status:?}");
        assert!(
            names(&dir.path().join("out")).is_empty(),
            "SIG{sig}: {:?}",
            names(&dir.path().join("out"))
        );
        assert!(
            names(&dir.path().join("tmp")).is_empty(),
            "SIG{sig}: {:?}",
            names(&dir.path().join("tmp"))
        );
    }
}

#[test]
fn the_next_build_removes_what_a_killed_build_left() {
    let dir = tempfile::tempdir().unwrap();
    let spec = setup(dir.path());
    let mut child = start(dir.path(), &spec);
    wait_for_temps(dir.path(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let stale_out = names(&dir.path().join("out"));
    assert_eq!(
        stale_out.len(),
        1,
        "SIGKILL leaves the temp file: {stale_out:?}"
    );
    assert_eq!(names(&dir.path().join("tmp")).len(), 1);
    // A file of another (live) build and an unrelated file stay.
    let live = format!(".fstool-{}-x.tmp", std::process::id());
    std::fs::write(dir.path().join("out").join(&live), b"x").unwrap();
    std::fs::write(dir.path().join("out/keep"), b"x").unwrap();
    let status = start(dir.path(), &spec).wait().unwrap();
    assert!(status.success());
    assert_eq!(
        names(&dir.path().join("out")),
        vec![live, "keep".to_string(), "x.img".to_string()]
    );
    assert!(names(&dir.path().join("tmp")).is_empty());
}
