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
