//! The progress display on a real terminal (tmux): it appears at once and
//! names each phase in order (extracting the tar source, writing, hashing),
//! with byte counts and an ETA, and gives way to the summary. The screens
//! are captured every 50 ms and printed.

use crate::common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn progress_names_each_phase_on_a_tty() {
    let Some(tmux) = tool("tmux") else {
        return;
    };
    let Some(tar) = tool("tar") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    for i in 0..20_000 {
        write_file(
            &w.join("tree"),
            &format!("many/f{i:05}"),
            i.to_string().as_bytes(),
        );
    }
    run_ok(
        Command::new(tar)
            .arg("-C")
            .arg(w.join("tree"))
            .arg("-cf")
            .arg(w.join("tree.tar"))
            .arg("."),
    );
    std::fs::write(w.join("big.bin"), pattern(300 << 20, 5)).unwrap();
    let spec = w.join("p.toml");
    std::fs::write(
        &spec,
        format!(
            "version = 1\nseed = \"progress\"\n[filesystem]\ntype = \"ext4\"\nsize = \"6GiB\"\n\
             sources = [{{ path = \"/\", source = {} }}]\n\
             [[filesystem.entries]]\npath = \"/big.bin\"\ntype = \"file\"\nsource = {}\n",
            toml_path(&w.join("tree.tar")),
            toml_path(&w.join("big.bin"))
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_fstool");
    let session = format!("fstool-progress-{}", std::process::id());
    let cmd = format!(
        "{bin} build {} -o {}; sleep 30",
        spec.display(),
        w.join("out.img").display()
    );
    run_ok(
        Command::new(&tmux)
            .args(["new-session", "-d", "-s", &session, "-x", "150", "-y", "12"])
            .arg(&cmd),
    );
    let mut frames: Vec<String> = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(90) {
        let out = Command::new(&tmux)
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .unwrap();
        let screen = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !screen.is_empty() && frames.last() != Some(&screen) {
            frames.push(screen.clone());
        }
        if screen.contains("sha256 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new(&tmux)
        .args(["kill-session", "-t", &session])
        .output();
    println!("{} distinct screens:", frames.len());
    for f in &frames {
        println!("----\n{f}");
    }
    let first = |what: &str| frames.iter().position(|f| f.contains(what));
    let extracting = first("extracting tree.tar").expect("no 'extracting tree.tar' screen");
    let writing = first("writing").expect("no 'writing' screen");
    let hashing = first("hashing").expect("no 'hashing' screen");
    let done = first("sha256 ").expect("the build did not finish");
    assert!(
        extracting < writing && writing < hashing && hashing < done,
        "phases out of order"
    );
    assert!(
        frames[writing].contains("ETA") && frames[hashing].contains("GiB"),
        "no byte counts"
    );
    // The display appears at once: the first screen already names a phase.
    assert!(
        frames[0].contains("extracting") || frames[0].contains("resolving the tree"),
        "{}",
        frames[0]
    );
    // The bar is gone when the summary is printed.
    assert!(!frames[done].contains("hashing"), "{}", frames[done]);
}
