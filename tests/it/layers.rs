//! Layered sources: host directories and tar archives placed at image
//! paths, later layers over earlier ones, OCI whiteouts when asked for.
//! The image holds exactly the expected tree; one layer at `/` is the same
//! image as `source`.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn tar_of(dir: &Path, out: &Path) {
    let tar = tool("tar").unwrap_or_else(|| "tar".into());
    run_ok(
        Command::new(tar)
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(out)
            .arg("."),
    );
}

fn listing(img: &Path) -> Vec<String> {
    run_ok(fstool().arg("ls").arg(img).args(["/", "-R"]))
        .lines()
        .map(str::to_string)
        .collect()
}

fn cat(img: &Path, p: &str) -> Vec<u8> {
    let out = run(fstool().arg("cat").arg(img).arg(p));
    assert!(out.status.success(), "cat {p}");
    out.stdout
}

fn spec(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!("version = 1\nseed = \"layers\"\n[filesystem]\ntype = \"ext4\"\n{body}"),
    )
    .unwrap();
    p
}

#[test]
fn layers_stack_and_whiteouts_delete() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    write_file(&w.join("base"), "etc/os-release", b"base\n");
    write_file(&w.join("base"), "etc/motd", b"old\n");
    write_file(&w.join("base"), "usr/share/doc/README", b"doc\n");
    write_file(&w.join("base"), "var/lib/x", b"file becomes dir\n");
    write_file(&w.join("base"), "srv/www/index", b"dir becomes file\n");
    tar_of(&w.join("base"), &w.join("base.tar"));
    write_file(&w.join("app"), "bin/server", b"app\n");
    let top = w.join("top");
    write_file(&top, "etc/motd", b"new\n");
    write_file(&top, "etc/.wh.os-release", b"");
    write_file(&top, "usr/share/.wh..wh..opq", b"");
    write_file(&top, "usr/share/mine", b"mine\n");
    write_file(&top, "var/lib/x/inside", b"now a dir\n");
    write_file(&top, "srv/www", b"now a file\n");
    // The opaque marker in a tar layer empties /opt/app of the layers below.
    let wipe = w.join("wipe");
    write_file(&wipe, "app/.wh..wh..opq", b"");
    write_file(&wipe, "app/fresh", b"fresh\n");
    tar_of(&wipe, &w.join("wipe.tar"));

    let layers = format!(
        "whiteouts = true\nsources = [\n\
         {{ path = \"/\", source = {} }},\n\
         {{ path = \"/opt/app\", source = {} }},\n\
         {{ path = \"/\", source = {} }},\n\
         {{ path = \"/opt\", source = {} }},\n]\n",
        toml_path(&w.join("base.tar")),
        toml_path(&w.join("app")),
        toml_path(&top),
        toml_path(&w.join("wipe.tar")),
    );
    let img = w.join("layers.img");
    build_ok(&spec(w, "layers", &layers), &img, &[]);
    crate::ext::fsck_clean(&img);
    assert_eq!(
        listing(&img),
        [
            "/etc",
            "/etc/motd",
            "/lost+found",
            "/opt",
            "/opt/app",
            "/opt/app/fresh",
            "/srv",
            "/srv/www",
            "/usr",
            "/usr/share",
            "/usr/share/mine",
            "/var",
            "/var/lib",
            "/var/lib/x",
            "/var/lib/x/inside",
        ]
    );
    assert_eq!(cat(&img, "/etc/motd"), b"new\n");
    assert_eq!(cat(&img, "/srv/www"), b"now a file\n");
    assert_eq!(cat(&img, "/opt/app/fresh"), b"fresh\n");

    // Without `whiteouts`, .wh.* names are ordinary files.
    let plain = layers.replace("whiteouts = true\n", "");
    let img2 = w.join("plain.img");
    build_ok(&spec(w, "plain", &plain), &img2, &[]);
    let l = listing(&img2);
    assert!(l.contains(&"/etc/.wh.os-release".to_string()), "{l:?}");
    assert!(l.contains(&"/etc/os-release".to_string()), "{l:?}");
    assert!(l.contains(&"/opt/app/bin/server".to_string()), "{l:?}");
}

#[test]
fn one_layer_at_the_root_is_the_same_image_as_source() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    write_file(&w.join("src"), "a/b", b"b\n");
    write_file(&w.join("src"), "c", &pattern(70_000, 1));
    let src = toml_path(&w.join("src"));
    let a = build_ok(
        &spec(w, "a", &format!("source = {src}\n")),
        &w.join("a.img"),
        &[],
    );
    let b = build_ok(
        &spec(
            w,
            "b",
            &format!("sources = [{{ path = \"/\", source = {src} }}]\n"),
        ),
        &w.join("b.img"),
        &[],
    );
    assert_eq!(a, b);
}

#[test]
fn layer_mistakes_name_the_key() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    write_file(&w.join("src"), "f", b"f\n");
    let src = toml_path(&w.join("src"));
    let fails = |name: &str, body: &str, want: &[&str]| {
        let out = run(&mut fstool_build(
            &spec(w, name, body),
            &w.join("x.img"),
            &[],
        ));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}");
        for k in want {
            assert!(err.contains(k), "{name}: {err} lacks {k}");
        }
    };
    fails(
        "both",
        &format!("source = {src}\nsources = [{{ path = \"/\", source = {src} }}]\n"),
        &["filesystem.sources", "not both"],
    );
    fails(
        "relative",
        &format!("sources = [{{ path = \"opt\", source = {src} }}]\n"),
        &["filesystem.sources[0].path", "absolute"],
    );
    fails(
        "missing",
        &format!(
            "sources = [\n  {{ path = \"/\", source = {src} }},\n  {{ path = \"/x\", source = \"nope\" }},\n]\n"
        ),
        &["missing.toml:7", "filesystem.sources[1].source", "does not exist"],
    );
    fails(
        "onto-file",
        &format!("sources = [\n  {{ path = \"/\", source = {src} }},\n  {{ path = \"/f/x\", source = {src} }},\n]\n"),
        &["/f/x", "not a directory"],
    );
}
