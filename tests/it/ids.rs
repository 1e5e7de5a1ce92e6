//! Where IDs come from: without `seed`, from the resolved manifest, so that
//! different images never share a UUID or GUID while equal inputs still
//! give equal bytes; with one seed, from the filesystem's identity too, so
//! that a rootfs and a /home built with one product seed differ.

use crate::common::*;
use std::path::{Path, PathBuf};

fn plan_json(spec: &Path) -> serde_json::Value {
    let out = run_ok(
        fstool()
            .args(["plan", "--json"])
            .arg(spec)
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn gpt_spec(src: &Path, seed: &str, parts: &[(&str, &str)]) -> String {
    let mut s =
        format!("version = 1\n{seed}\n[image]\npartition_table = \"gpt\"\nsize = \"64MiB\"\n");
    for (ty, name) in parts {
        s.push_str(&format!(
            "[[partitions]]\ntype = \"{ty}\"\nname = \"{name}\"\n\
             [partitions.filesystem]\ntype = \"ext4\"\nsource = {}\n",
            toml_path(src)
        ));
    }
    s
}

/// Disk GUID, partition GUIDs and filesystem UUIDs of a plan.
fn ids(plan: &serde_json::Value) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(t) = plan.get("partition_table") {
        v.push(t["disk_guid"].as_str().unwrap_or_default().to_string());
        for p in t["partitions"].as_array().unwrap() {
            v.push(p["uuid"].as_str().unwrap().to_string());
        }
    }
    for f in plan["filesystems"].as_array().unwrap() {
        v.push(f["uuid"].as_str().unwrap().to_string());
    }
    v
}

fn assert_disjoint(a: &[String], b: &[String], what: &str) {
    for x in a {
        assert!(!b.contains(x), "{what}: {x} is in both {a:?} and {b:?}");
    }
}

#[test]
fn without_a_seed_different_trees_get_different_ids_and_equal_inputs_equal_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    write_file(&one, "etc/hostname", b"alpha\n");
    write_file(&two, "etc/hostname", b"alpha\n");
    write_file(&two, "etc/motd", b"welcome\n");
    let s1 = write_spec(
        dir.path(),
        "one.toml",
        &gpt_spec(&one, "", &[("linux", "root")]),
    );
    let s2 = write_spec(
        dir.path(),
        "two.toml",
        &gpt_spec(&two, "", &[("linux", "root")]),
    );
    let (p1, p2) = (plan_json(&s1), plan_json(&s2));
    let seed = p1["seed"].as_str().unwrap();
    assert!(seed.starts_with("manifest-"), "derived seed: {seed}");
    assert_ne!(p1["seed"], p2["seed"]);
    let (i1, i2) = (ids(&p1), ids(&p2));
    assert_eq!(i1.len(), 3, "{i1:?}");
    assert_disjoint(&i1, &i2, "two different images share an ID");

    // The same inputs, built twice, give the same bytes and the planned IDs.
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    assert_eq!(build_ok(&s1, &a, &[]), build_ok(&s1, &b, &[]));
    if let Some(sfdisk) = tool("sfdisk") {
        let dump = run_ok(std::process::Command::new(sfdisk).arg("--dump").arg(&a));
        assert!(
            dump.to_ascii_lowercase().contains(&i1[0]),
            "disk GUID {} not in:\n{dump}",
            i1[0]
        );
    }
    if let Some(dumpe2fs) = tool("dumpe2fs") {
        let fs = dir.path().join("fs.img");
        let off = p1["filesystems"][0]["offset"].as_u64().unwrap();
        let len = p1["filesystems"][0]["size"].as_u64().unwrap();
        let bytes = std::fs::read(&a).unwrap();
        std::fs::write(&fs, &bytes[off as usize..(off + len) as usize]).unwrap();
        let h = run_ok(std::process::Command::new(dumpe2fs).arg("-h").arg(&fs));
        assert!(h.contains(&i1[2]), "UUID {} not in:\n{h}", i1[2]);
    }
}

#[test]
fn without_a_seed_the_source_location_does_not_change_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (
        dir.path().join("here"),
        dir.path().join("elsewhere/deeper/tree"),
    );
    for root in [&here, &there] {
        write_file(root, "etc/hostname", b"alpha\n");
        write_file(root, "usr/bin/tool", b"#!/bin/sh\n");
    }
    let s1 = write_spec(
        dir.path(),
        "here.toml",
        &gpt_spec(&here, "", &[("linux", "root")]),
    );
    let s2 = write_spec(
        dir.path(),
        "there.toml",
        &gpt_spec(&there, "", &[("linux", "root")]),
    );
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    assert_eq!(build_ok(&s1, &a, &[]), build_ok(&s2, &b, &[]));
    // One changed byte of metadata is a different image with new IDs.
    write_file(&there, "usr/bin/tool2", b"#!/bin/sh\n");
    assert_disjoint(
        &ids(&plan_json(&s1)),
        &ids(&plan_json(&s2)),
        "an added file kept an ID",
    );
}

#[test]
fn one_seed_gives_each_filesystem_and_partition_its_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_file(&src, "etc/hostname", b"alpha\n");
    // A rootfs and a /home of one product: same seed, same tree.
    let disk = write_spec(
        dir.path(),
        "disk.toml",
        &gpt_spec(
            &src,
            "seed = \"product-7\"",
            &[("linux", "root"), ("home", "home")],
        ),
    );
    let p = plan_json(&disk);
    assert_eq!(p["seed"], "product-7");
    let all = ids(&p);
    let mut uniq = all.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), all.len(), "IDs repeat within one disk: {all:?}");

    // Bare images with one seed: ext2, ext3 and ext4 differ, and so do two
    // labels of one type, and two FAT volumes.
    let mut seen: Vec<String> = Vec::new();
    for (ty, label, extra) in [
        ("ext2", "", ""),
        ("ext3", "", ""),
        ("ext4", "", ""),
        ("ext4", "rootfs", ""),
        ("ext4", "home", ""),
        ("fat", "", "size = \"8MiB\"\n"),
        ("fat", "ESP", "size = \"8MiB\"\n"),
    ] {
        let label_line = if label.is_empty() {
            String::new()
        } else {
            format!("label = \"{label}\"\n")
        };
        let spec = write_spec(
            dir.path(),
            &format!("{ty}-{label}.toml"),
            &format!(
                "version = 1\nseed = \"product-7\"\n[filesystem]\ntype = \"{ty}\"\nsource = {}\n{label_line}{extra}",
                toml_path(&src)
            ),
        );
        let uuid = plan_json(&spec)["filesystems"][0]["uuid"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            !seen.contains(&uuid),
            "{ty} label {label:?} repeats UUID {uuid} of {seen:?}"
        );
        seen.push(uuid);
    }
}

#[test]
fn a_pinned_uuid_and_seed_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_file(&src, "a", b"a");
    let uuid = "0b9e4a56-7d43-4f0e-9b6a-1c2d3e4f5a6b";
    let spec = write_spec(
        dir.path(),
        "pin.toml",
        &format!(
            "version = 1\n[filesystem]\ntype = \"ext4\"\nsource = {}\nuuid = \"{uuid}\"\n",
            toml_path(&src)
        ),
    );
    let p = plan_json(&spec);
    assert_eq!(p["filesystems"][0]["uuid"], uuid);
}
