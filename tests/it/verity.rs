//! dm-verity hash trees: byte for byte what `veritysetup format` writes
//! with the same salt and UUID, accepted by `veritysetup verify` in both
//! layouts (own device, appended with `--hash-offset`), rejected after one
//! data byte flips.

use crate::common::*;
use crate::erofs as e;
use fstool::verity::{self, VerityOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

/// Builds the hash area for the data in `data` (whole file).
pub fn hash_file(data: &Path, o: &VerityOptions) -> verity::Built {
    let size = std::fs::metadata(data).unwrap().len();
    let plan = verity::plan(size, o).unwrap();
    let f = std::fs::File::open(data).unwrap();
    verity::build(&plan, &mut |off, buf| {
        f.read_exact_at(buf, off).unwrap();
        Ok(())
    })
    .unwrap()
}

fn uuid_str(u: [u8; 16]) -> String {
    uuid::Uuid::from_bytes(u).to_string()
}

/// `veritysetup verify DATA HASH ROOT [--hash-offset N]` succeeds.
pub fn verify_ok(data: &Path, hash: &Path, root: &str, hash_offset: Option<u64>) -> bool {
    let Some(vs) = tool("veritysetup") else {
        return true;
    };
    let mut c = Command::new(vs);
    c.arg("verify").arg(data).arg(hash).arg(root);
    if let Some(o) = hash_offset {
        c.arg(format!("--hash-offset={o}"));
    }
    run(&mut c).status.success()
}

#[test]
fn tree_equals_veritysetup_format_for_many_sizes() {
    let Some(vs) = tool("veritysetup") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let o = VerityOptions::from_seed("verity-test", 0);
    for blocks in [1usize, 2, 127, 128, 129, 300, 16_385] {
        let data = d.path().join(format!("data-{blocks}"));
        std::fs::write(&data, pattern(blocks * 4096, blocks as u64)).unwrap();
        let ours = hash_file(&data, &o);
        let theirs = d.path().join(format!("hash-{blocks}"));
        let out = run_ok(
            Command::new(&vs)
                .arg("format")
                .arg(&data)
                .arg(&theirs)
                .arg(format!("--salt={}", hex(&o.salt)))
                .arg(format!("--uuid={}", uuid_str(o.uuid))),
        );
        let root = out
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(hex(&ours.root_hash), root, "{blocks} blocks: root hash");
        let want = std::fs::read(&theirs).unwrap();
        assert!(
            ours.area == want,
            "{blocks} blocks: hash area differs from veritysetup's"
        );
    }
}

#[test]
fn erofs_with_separate_and_appended_trees_verifies() {
    let d = tempfile::tempdir().unwrap();
    let t = e::rich_tree(d.path());
    let img = d.path().join("root.erofs");
    e::write_image(&t, &e::opts(), &img);
    let o = VerityOptions::from_seed("appliance", 0);
    let built = hash_file(&img, &o);
    let root = hex(&built.root_hash);

    // Own device.
    let hash = d.path().join("root.verity");
    std::fs::write(&hash, &built.area).unwrap();
    assert!(verify_ok(&img, &hash, &root, None), "separate layout");
    if let Some(vs) = tool("veritysetup") {
        let dump = run_ok(Command::new(vs).arg("dump").arg(&hash));
        assert!(
            dump.contains(&hex(&o.salt)),
            "dump shows the seed's salt:\n{dump}"
        );
        assert!(
            dump.contains(&uuid_str(o.uuid)),
            "dump shows the seed's UUID:\n{dump}"
        );
    }

    // Appended after the data in the same image.
    let both = d.path().join("appended.img");
    let data = std::fs::read(&img).unwrap();
    let hash_offset = data.len() as u64;
    let mut all = data.clone();
    all.extend_from_slice(&built.area);
    std::fs::write(&both, &all).unwrap();
    assert!(
        verify_ok(&both, &both, &root, Some(hash_offset)),
        "appended layout"
    );

    // One flipped data byte fails both.
    if tool("veritysetup").is_some() {
        let mut bad = data.clone();
        bad[data.len() / 2] ^= 1;
        let badimg = d.path().join("bad.erofs");
        std::fs::write(&badimg, &bad).unwrap();
        assert!(
            !verify_ok(&badimg, &hash, &root, None),
            "flipped byte must fail"
        );
        all[5000] ^= 0x80;
        std::fs::write(&both, &all).unwrap();
        assert!(
            !verify_ok(&both, &both, &root, Some(hash_offset)),
            "flipped byte must fail (appended)"
        );
    }
}

/// Checks the tree a build report describes with `veritysetup verify`,
/// in either layout, on the image `raw` (a raw disk or filesystem).
pub fn check_report_verity(
    raw: &Path,
    report: &serde_json::Value,
    fs: &serde_json::Value,
    v: &serde_json::Value,
    tmp: &Path,
) {
    let root = v["roothash"].as_str().unwrap();
    let data_at = fs["offset"].as_u64().unwrap();
    let data_len = v["data_blocks"].as_u64().unwrap() * 4096;
    let data = tmp.join("verity-data.img");
    crate::examples::extract(raw, data_at, data_len, &data);
    let hash = tmp.join("verity-hash.img");
    match v["layout"].as_str().unwrap() {
        "appended" => {
            let off = v["hash_offset"].as_u64().unwrap();
            crate::examples::extract(raw, data_at + off, v["hash_size"].as_u64().unwrap(), &hash);
        }
        _ => {
            let n = v["hash_partition"].as_u64().unwrap();
            let parts = report["partition_table"]["partitions"].as_array().unwrap();
            let p = parts
                .iter()
                .find(|p| p["index"].as_u64() == Some(n))
                .unwrap();
            let start = p["offset"].as_u64().unwrap();
            crate::examples::extract(raw, start, v["hash_size"].as_u64().unwrap(), &hash);
        }
    }
    assert!(
        verify_ok(&data, &hash, root, None),
        "veritysetup verify rejects {}",
        raw.display()
    );
}

/// A host tree whose data spans several hundred verity blocks, so that the
/// tree has two levels.
fn big_source(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    write_file(&src, "usr/lib/big.bin", &pattern(3 << 20, 7));
    write_file(&src, "etc/hostname", b"appliance\n");
    write_file(&src, "usr/bin/tool", &pattern(70_000, 8));
    src
}

fn build_with_report(spec_text: &str, dir: &Path, name: &str) -> (std::path::PathBuf, Value) {
    let spec = dir.join(format!("{name}.toml"));
    std::fs::write(&spec, spec_text).unwrap();
    let img = dir.join(format!("{name}.img"));
    let report = dir.join(format!("{name}.json"));
    build_ok(&spec, &img, &["--report", report.to_str().unwrap()]);
    let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (img, r)
}

use serde_json::Value;

/// `veritysetup dump` of a hash area shows the salt and UUID the report
/// gives (derived from the seed).
fn dump_shows(hash_dev: &Path, offset: Option<u64>, v: &Value) {
    let Some(vs) = tool("veritysetup") else {
        return;
    };
    let mut c = Command::new(vs);
    c.arg("dump").arg(hash_dev);
    if let Some(o) = offset {
        c.arg(format!("--hash-offset={o}"));
    }
    let dump = run_ok(&mut c);
    for k in ["salt", "uuid"] {
        assert!(
            dump.contains(v[k].as_str().unwrap()),
            "dump lacks {k}:\n{dump}"
        );
    }
    let blocks = v["data_blocks"].as_u64().unwrap().to_string();
    assert!(
        dump.contains(&blocks),
        "dump lacks the block count:\n{dump}"
    );
}

#[test]
fn bare_erofs_with_an_appended_tree_verifies_and_is_pinned() {
    let d = tempfile::tempdir().unwrap();
    let src = big_source(d.path());
    let spec = format!(
        "version = 1\nseed = \"verity-bare\"\nsource_date_epoch = 1700000000\n\n\
         [filesystem]\ntype = \"erofs\"\nsource = {}\nverity = \"appended\"\n",
        toml_path(&src)
    );
    let (img, r) = build_with_report(&spec, d.path(), "bare");
    let fs = &r["filesystems"][0];
    let v = &fs["verity"];
    assert_eq!(v["layout"], "appended");
    let off = v["hash_offset"].as_u64().unwrap();
    let root = v["roothash"].as_str().unwrap().to_string();
    assert_eq!(off % 4096, 0);
    assert!(fs["size"].as_u64().unwrap() <= off);
    assert_eq!(v["data_blocks"].as_u64().unwrap() * 4096, off);
    assert!(v["data_blocks"].as_u64().unwrap() > 128, "two tree levels");
    let hash_size = v["hash_size"].as_u64().unwrap();
    assert_eq!(std::fs::metadata(&img).unwrap().len(), off + hash_size);
    assert_eq!(r["size"].as_u64().unwrap(), off + hash_size);

    assert!(
        verify_ok(&img, &img, &root, Some(off)),
        "veritysetup verify"
    );
    dump_shows(&img, Some(off), v);
    let data = d.path().join("data.erofs");
    crate::examples::extract(&img, 0, off, &data);
    crate::erofs::fsck_clean(&data);

    // `fstool info` finds the tree after the filesystem.
    let info = run_ok(fstool().args(["info", "--json"]).arg(&img));
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["filesystem"]["fs_type"], "erofs");
    assert_eq!(info["filesystem"]["verity"]["hash_offset"], off);
    assert_eq!(info["filesystem"]["verity"]["salt"], v["salt"]);

    // One flipped byte of file data fails verification.
    if tool("veritysetup").is_some() {
        let mut bytes = std::fs::read(&img).unwrap();
        bytes[(off / 2) as usize] ^= 0x01;
        let bad = d.path().join("bad.img");
        std::fs::write(&bad, &bytes).unwrap();
        assert!(!verify_ok(&bad, &bad, &root, Some(off)), "flipped byte");
    }
    insta::assert_snapshot!(
        "verity_bare_erofs",
        format!("image {}\nroot {root}", sha256_file(&img))
    );
}

const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
const ROOT_VERITY_X86_64: &str = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5";

fn disk_spec(src: &Path, esp: &Path) -> String {
    format!(
        "version = 1\nseed = \"verity-disk\"\nsource_date_epoch = 1700000000\n\n\
         [image]\npartition_table = \"gpt\"\n\n\
         [[partitions]]\nname = \"ESP\"\ntype = \"esp\"\nsize = \"40MiB\"\n\
         [partitions.filesystem]\ntype = \"fat32\"\nsource = {}\n\n\
         [[partitions]]\nname = \"root\"\ntype = \"linux-root\"\n\
         [partitions.filesystem]\ntype = \"erofs\"\nsource = {}\nverity = true\n\n\
         [[partitions]]\nname = \"root-verity\"\ntype = \"root-verity\"\n",
        toml_path(esp),
        toml_path(src)
    )
}

#[test]
fn gpt_root_and_root_verity_pair_follow_the_dps() {
    let d = tempfile::tempdir().unwrap();
    let src = big_source(d.path());
    let esp = d.path().join("esp");
    write_file(&esp, "EFI/BOOT/BOOTX64.EFI", &pattern(4096, 3));
    let spec = disk_spec(&src, &esp);
    let (img, r) = build_with_report(&spec, d.path(), "disk");
    let fs = &r["filesystems"][1];
    let v = &fs["verity"];
    assert_eq!(v["layout"], "partition");
    assert_eq!(v["hash_partition"], 3);
    let root = v["roothash"].as_str().unwrap().to_string();
    crate::verity::check_report_verity(&img, &r, fs, v, d.path());

    // sfdisk sees the DPS types, and UUIDs that are the root hash's halves.
    if let Some(sfdisk) = tool("sfdisk") {
        let out = run_ok(Command::new(sfdisk).arg("--json").arg(&img));
        let t: Value = serde_json::from_str(&out).unwrap();
        let parts = t["partitiontable"]["partitions"].as_array().unwrap();
        let plain = |p: &Value, k: &str| p[k].as_str().unwrap().to_lowercase().replace('-', "");
        assert_eq!(plain(&parts[1], "type"), ROOT_X86_64.replace('-', ""));
        assert_eq!(
            plain(&parts[2], "type"),
            ROOT_VERITY_X86_64.replace('-', "")
        );
        assert_eq!(plain(&parts[1], "uuid"), root[..32]);
        assert_eq!(plain(&parts[2], "uuid"), root[32..]);
    }
    // The hash partition's superblock carries the seed's salt and UUID.
    let parts = r["partition_table"]["partitions"].as_array().unwrap();
    let hash_part = d.path().join("p3.img");
    let p3 = &parts[2];
    crate::examples::extract(
        &img,
        p3["offset"].as_u64().unwrap(),
        p3["size"].as_u64().unwrap(),
        &hash_part,
    );
    dump_shows(&hash_part, None, v);

    // One flipped byte in the root partition fails verification.
    if tool("veritysetup").is_some() {
        let p2 = &parts[1];
        let data = d.path().join("p2.img");
        crate::examples::extract(
            &img,
            p2["offset"].as_u64().unwrap(),
            v["data_blocks"].as_u64().unwrap() * 4096,
            &data,
        );
        assert!(verify_ok(&data, &hash_part, &root, None));
        let mut bytes = std::fs::read(&data).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x40;
        std::fs::write(&data, &bytes).unwrap();
        assert!(!verify_ok(&data, &hash_part, &root, None), "flipped byte");
    }

    // `fstool plan` leaves the pair's UUIDs nil: they are not known yet.
    let plan_spec = d.path().join("disk.toml");
    let plan = run_ok(fstool().args(["plan", "--json"]).arg(&plan_spec));
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let pparts = plan["partition_table"]["partitions"].as_array().unwrap();
    assert_eq!(pparts[1]["uuid"], uuid::Uuid::nil().to_string());
    assert_eq!(pparts[2]["uuid"], uuid::Uuid::nil().to_string());
    assert!(plan["filesystems"][1]["verity"].get("roothash").is_none());
    assert_eq!(plan["filesystems"][1]["verity"]["salt"], v["salt"]);

    // systemd recognises the pair by the root hash, and no other.
    if let Some(dissect) = tool("systemd-dissect").filter(|_| can_loop_mount()) {
        let out = run_ok(
            Command::new(&dissect)
                .args(["--json=short", &format!("--root-hash={root}")])
                .arg(&img),
        );
        let j: Value = serde_json::from_str(&out).unwrap();
        let mounts = j["mounts"].as_array().unwrap();
        let rootm = mounts.iter().find(|m| m["designator"] == "root").unwrap();
        assert_eq!(rootm["verity"], "yes", "{out}");
        assert_eq!(rootm["fstype"], "erofs", "{out}");
        let mut wrong = root.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        let out = run(Command::new(&dissect)
            .arg(format!("--root-hash={wrong}"))
            .arg(&img));
        assert!(!out.status.success(), "a wrong root hash must not match");
    }
    // Another seed: `fstool diff` explains the pair by its GUIDs (new root
    // hash) and the hash partition's superblock (new salt and UUID).
    let other = d.path().join("other.img");
    build_ok(&d.path().join("disk.toml"), &other, &["--seed", "other"]);
    let out = run(fstool().arg("diff").arg(&img).arg(&other).arg("--json"));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["place"].as_str().unwrap().to_string(),
                f["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("partition 2", "GUID"),
        ("partition 3", "GUID"),
        ("partition 3: dm-verity superblock", "salt"),
        ("partition 3: dm-verity superblock", "uuid"),
        ("partition 2: EROFS superblock", "uuid"),
    ] {
        assert!(
            found.contains(&(want.0.into(), want.1.into())),
            "{want:?} missing: {found:?}"
        );
    }
    insta::assert_snapshot!(
        "verity_gpt_disk",
        format!("image {}\nroot {root}", sha256_file(&img))
    );
}

#[test]
fn ext4_partition_with_an_appended_tree() {
    let d = tempfile::tempdir().unwrap();
    let src = big_source(d.path());
    let spec = format!(
        "version = 1\nseed = \"verity-ext\"\n\n[image]\npartition_table = \"gpt\"\n\n\
         [[partitions]]\ntype = \"linux\"\nsize = \"20MiB\"\n\
         [partitions.filesystem]\ntype = \"ext4\"\nsource = {}\n\
         verity = {{ layout = \"appended\", salt = \"00ff\" }}\n",
        toml_path(&src)
    );
    let (img, r) = build_with_report(&spec, d.path(), "ext");
    let fs = &r["filesystems"][0];
    let v = &fs["verity"];
    assert_eq!(v["layout"], "appended");
    assert_eq!(v["salt"], "00ff");
    let off = v["hash_offset"].as_u64().unwrap();
    let part = r["partition_table"]["partitions"][0]["size"]
        .as_u64()
        .unwrap();
    assert_eq!(part, 20 << 20);
    assert!(off + v["hash_size"].as_u64().unwrap() <= part);
    assert!(fs["size"].as_u64().unwrap() <= off);
    // The filesystem takes every block the tree leaves.
    assert!(part - off - v["hash_size"].as_u64().unwrap() < 4096 * 2);
    crate::verity::check_report_verity(&img, &r, fs, v, d.path());
    let data = d.path().join("data.ext4");
    crate::examples::extract(&img, fs["offset"].as_u64().unwrap(), off, &data);
    crate::ext::fsck_clean(&data);
}

/// SHA-256 of tests/data/verity-sig/test-cert.pem's DER.
const TEST_CERT_SHA256: &str = "e7ee30b5fb9ffba8603abcbd27841c82c84dd24ad2e6a9f72d80a7409e3f7912";
const ROOT_VERITY_SIG_X86_64: &str = "41092b05-9fc8-4523-994f-2def0408b176";

#[test]
fn root_verity_sig_partition_signs_the_root_hash() {
    let d = tempfile::tempdir().unwrap();
    let src = big_source(d.path());
    let esp = d.path().join("esp");
    write_file(&esp, "EFI/BOOT/BOOTX64.EFI", &pattern(4096, 3));
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/verity-sig");
    let spec = format!(
        "{}\n[[partitions]]\nname = \"root-verity-sig\"\ntype = \"root-verity-sig\"\n\
         [partitions.signature]\nkey = {}\ncertificate = {}\n",
        disk_spec(&src, &esp),
        toml_path(&keys.join("test-key.pem")),
        toml_path(&keys.join("test-cert.pem"))
    );
    let (img, r) = build_with_report(&spec, d.path(), "signed");
    let root = r["filesystems"][1]["verity"]["roothash"]
        .as_str()
        .unwrap()
        .to_string();
    let parts = r["partition_table"]["partitions"].as_array().unwrap();
    let sig = &parts[3];
    assert_eq!(sig["type"], ROOT_VERITY_SIG_X86_64);
    assert_eq!(sig["size"], 16384);
    // The partition: the JSON object, then NUL bytes to its end.
    let part = d.path().join("p4.img");
    crate::examples::extract(
        &img,
        sig["offset"].as_u64().unwrap(),
        sig["size"].as_u64().unwrap(),
        &part,
    );
    let raw = std::fs::read(&part).unwrap();
    let end = raw.iter().position(|&b| b == 0).unwrap();
    assert!(raw[end..].iter().all(|&b| b == 0));
    let j: Value = serde_json::from_slice(&raw[..end]).unwrap();
    assert_eq!(j["rootHash"], root.as_str());
    assert_eq!(j["certificateFingerprint"], TEST_CERT_SHA256);
    let mut keys_seen: Vec<&String> = j.as_object().unwrap().keys().collect();
    keys_seen.sort();
    assert_eq!(
        keys_seen,
        ["certificateFingerprint", "rootHash", "signature"]
    );

    // OpenSSL accepts the signature over the root hash text, and only it.
    if let Some(openssl) = tool("openssl") {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(j["signature"].as_str().unwrap())
            .unwrap();
        std::fs::write(d.path().join("sig.der"), der).unwrap();
        let check = |content: &str| {
            std::fs::write(d.path().join("content"), content).unwrap();
            run(Command::new(&openssl)
                .args(["smime", "-verify", "-binary", "-inform", "der", "-nointern"])
                .arg("-in")
                .arg(d.path().join("sig.der"))
                .arg("-content")
                .arg(d.path().join("content"))
                .arg("-certfile")
                .arg(keys.join("test-cert.pem"))
                .arg("-CAfile")
                .arg(keys.join("test-cert.pem")))
            .status
            .success()
        };
        assert!(check(&root), "openssl does not verify the signature");
        let mut other = root.clone().into_bytes();
        other[0] = if other[0] == b'0' { b'1' } else { b'0' };
        assert!(!check(&String::from_utf8(other).unwrap()));
    }
    // systemd sees a signed root.
    if let Some(dissect) = tool("systemd-dissect").filter(|_| can_loop_mount()) {
        let out = run_ok(Command::new(&dissect).arg("--json=short").arg(&img));
        let j: Value = serde_json::from_str(&out).unwrap();
        let mounts = j["mounts"].as_array().unwrap();
        let rootm = mounts.iter().find(|m| m["designator"] == "root").unwrap();
        assert_eq!(rootm["verity"], "signed", "{out}");
    }
    // RSA PKCS#1 v1.5 signatures are deterministic: so is the image.
    let again = d.path().join("again.img");
    build_ok(&d.path().join("signed.toml"), &again, &[]);
    assert_eq!(sha256_file(&again), sha256_file(&img));
    insta::assert_snapshot!("verity_signed_disk_sha256", sha256_file(&img));
}
