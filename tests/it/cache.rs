//! The input digest (`fstool digest`, the report's `input_digest`) and
//! `build --cache`: the digest follows every input and nothing else; a
//! cached image is the image a build would write.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// A small source tree and a spec building it as ext4, in `dir`.
fn setup(dir: &Path) -> std::path::PathBuf {
    write_file(dir, "src/etc/hostname", b"box\n");
    write_file(dir, "src/usr/bin/tool", &pattern(70_000, 3));
    write_file(dir, "src/data/big", &pattern(300_000, 4));
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        "version = 1\nseed = \"cache-test\"\n[filesystem]\ntype = \"ext4\"\nsource = \"src\"\nsize = \"auto\"\n",
    )
    .unwrap();
    spec
}

fn digest(spec: &Path, extra: &[&str]) -> String {
    let out = run_ok(
        fstool()
            .arg("digest")
            .arg(spec)
            .args(extra)
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    let d = out.trim().to_string();
    assert_eq!(d.len(), 64, "{out}");
    d
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn digest_follows_inputs_not_their_location() {
    let a = tempfile::tempdir().unwrap();
    let spec = setup(a.path());
    let d = digest(&spec, &[]);
    // The report of a build carries the same digest.
    let img = a.path().join("x.img");
    let rep = a.path().join("x.json");
    build_ok(
        &spec,
        &img,
        &["--input-digest", "--report", rep.to_str().unwrap()],
    );
    assert_eq!(report(&rep)["input_digest"], d.as_str());
    // Without the flag the report has none (it costs a read of the inputs).
    build_ok(&spec, &img, &["--report", rep.to_str().unwrap()]);
    assert!(report(&rep).get("input_digest").is_none());

    // The same tree elsewhere, written in another order: same digest.
    let b = tempfile::tempdir().unwrap();
    write_file(b.path(), "src/data/big", &pattern(300_000, 4));
    write_file(b.path(), "src/usr/bin/tool", &pattern(70_000, 3));
    write_file(b.path(), "src/etc/hostname", b"box\n");
    std::fs::copy(&spec, b.path().join("spec.toml")).unwrap();
    assert_eq!(digest(&b.path().join("spec.toml"), &[]), d);

    // Each input changes it: one content byte, a mode, the seed, the
    // container.
    let mut big = pattern(300_000, 4);
    big[123_456] ^= 1;
    write_file(b.path(), "src/data/big", &big);
    let one_byte = digest(&b.path().join("spec.toml"), &[]);
    assert_ne!(one_byte, d);
    write_file(b.path(), "src/data/big", &pattern(300_000, 4));
    assert_eq!(digest(&b.path().join("spec.toml"), &[]), d);
    let spec_b = b.path().join("spec.toml");
    let text = std::fs::read_to_string(&spec_b).unwrap();
    std::fs::write(
        &spec_b,
        format!("{text}permissions = \"canonical\"\n[[filesystem.entries]]\npath = \"/etc/hostname\"\ntype = \"file\"\ncontents = \"box\\n\"\nmode = \"0600\"\noverride = true\n"),
    )
    .unwrap();
    let mode = digest(&spec_b, &[]);
    std::fs::write(&spec_b, &text).unwrap();
    let seed = digest(&spec_b, &["--seed", "other"]);
    let qcow2 = digest(&spec_b, &["-o", "x.qcow2"]);
    let all = [&d, &one_byte, &mode, &seed, &qcow2];
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y, "two different inputs share a digest");
        }
    }
    // `-o x.qcow2` is what a qcow2 build's report carries.
    let q = b.path().join("x.qcow2");
    let rep = b.path().join("q.json");
    build_ok(
        &spec_b,
        &q,
        &["--input-digest", "--report", rep.to_str().unwrap()],
    );
    assert_eq!(report(&rep)["input_digest"], qcow2.as_str());
}

#[test]
fn cache_hit_copies_the_image_a_build_writes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = setup(dir.path());
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let (a, b, c) = (
        dir.path().join("a.img"),
        dir.path().join("b.img"),
        dir.path().join("c.img"),
    );
    let (ra, rb, rc) = (
        dir.path().join("a.json"),
        dir.path().join("b.json"),
        dir.path().join("c.json"),
    );
    let ha = build_ok(
        &spec,
        &a,
        &["--cache", cache_arg, "--report", ra.to_str().unwrap()],
    );
    let (ja, d) = (report(&ra), digest(&spec, &[]));
    assert_eq!(ja["cache"], "stored");
    assert_eq!(ja["input_digest"], d.as_str());
    assert!(cache.join(format!("{d}.img")).is_file());

    let hb = build_ok(
        &spec,
        &b,
        &["--cache", cache_arg, "--report", rb.to_str().unwrap()],
    );
    let jb = report(&rb);
    assert_eq!(jb["cache"], "hit");
    assert_eq!(ha, hb);
    assert_eq!(jb["sha256"], ha.as_str());
    // The report is the one a build writes, but for where the image went.
    let strip = |mut v: Value| {
        let m = v.as_object_mut().unwrap();
        m.remove("output");
        m.remove("cache");
        v
    };
    assert_eq!(strip(ja.clone()), strip(jb));
    // The copy is read back equal to the source by e2fsck's standards too.
    if let Some(e2fsck) = tool("e2fsck") {
        run_ok(std::process::Command::new(e2fsck).arg("-fn").arg(&b));
    }

    // A changed input misses and stores a second entry.
    write_file(dir.path(), "src/etc/hostname", b"other\n");
    let hc = build_ok(
        &spec,
        &c,
        &["--cache", cache_arg, "--report", rc.to_str().unwrap()],
    );
    assert_eq!(report(&rc)["cache"], "stored");
    assert_ne!(hc, ha);

    // An entry whose report disagrees with the plan (here: another size) is
    // not used; the build writes and replaces it.
    write_file(dir.path(), "src/etc/hostname", b"box\n");
    let stale = cache.join(format!("{d}.json"));
    let mut j = report(&stale);
    j["size"] = Value::from(12345);
    std::fs::write(&stale, serde_json::to_vec(&j).unwrap()).unwrap();
    let hd = build_ok(
        &spec,
        &b,
        &["--cache", cache_arg, "--report", rb.to_str().unwrap()],
    );
    assert_eq!(report(&rb)["cache"], "stored");
    assert_eq!(hd, ha);
    // No temp files are left in the cache.
    let mut names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn cache_keeps_the_holes_of_a_sparse_disk() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "src/f", b"x");
    let spec = dir.path().join("disk.toml");
    std::fs::write(
        &spec,
        "version = 1\nseed = \"s\"\n[image]\npartition_table = \"gpt\"\nsize = \"1GiB\"\n[[partitions]]\ntype = \"linux\"\nsize = \"64MiB\"\n[partitions.filesystem]\ntype = \"ext4\"\nsource = \"src\"\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    // The hash comes from the build (hashing 1 GiB here twice more would
    // be most of the test's time); `cmp` checks the copy.
    let c = cache.to_str().unwrap();
    run_ok(&mut fstool_build(&spec, &a, &["--cache", c]));
    let rb = dir.path().join("b.json");
    run_ok(&mut fstool_build(
        &spec,
        &b,
        &["--cache", c, "--report", rb.to_str().unwrap()],
    ));
    assert_eq!(report(&rb)["cache"], "hit");
    run_ok(std::process::Command::new("cmp").arg(&a).arg(&b));
    let used = std::fs::metadata(&b).unwrap().blocks() * 512;
    assert!(
        used < 512 << 20,
        "the cached copy uses {used} bytes of disk"
    );
}
