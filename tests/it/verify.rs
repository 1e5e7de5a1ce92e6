//! `fstool verify SPEC IMAGE`: every example verifies; an image patched
//! after the build, or built with another seed, does not, and the output
//! names the file or the ID field; errors exit 2 and leave nothing behind.

use crate::common::*;
use std::path::Path;

fn verify(spec: &Path, img: &Path, tmp: &Path) -> (i32, String) {
    let out = run(fstool()
        .env("TMPDIR", tmp)
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("verify")
        .arg(spec)
        .arg(img));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    // The rebuild's temp dir is gone, whatever the outcome.
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_example_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let list = crate::examples::examples();
    assert!(list.len() >= 5, "{list:?}");
    for spec in list {
        let (name, img) = crate::examples::output_for(dir.path(), &spec);
        run_ok(
            fstool()
                .env_remove("SOURCE_DATE_EPOCH")
                .arg("build")
                .arg(&spec)
                .arg("-o")
                .arg(&img)
                .arg("-q"),
        );
        let (code, text) = verify(&spec, &img, &tmp);
        assert_eq!(code, 0, "{name}: {text}");
        assert!(text.starts_with("verified:"), "{text}");
        std::fs::remove_file(&img).unwrap();
    }
}

#[test]
fn patched_files_and_other_seeds_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let src = dir.path().join("src");
    write_file(
        &src,
        "etc/unique.txt",
        b"unique-verify-content-0123456789\n",
    );
    write_file(&src, "usr/data.bin", &pattern(50_000, 5));
    let spec = dir.path().join("disk.toml");
    std::fs::write(
        &spec,
        format!(
            "version = 1\nseed = \"v\"\n[image]\npartition_table = \"gpt\"\n\
             [[partitions]]\nname = \"ESP\"\ntype = \"esp\"\nsize = \"40MiB\"\n\
             [partitions.filesystem]\ntype = \"fat32\"\nsource = {src}\n\
             [[partitions]]\nname = \"root\"\ntype = \"linux\"\n\
             [partitions.filesystem]\ntype = \"ext4\"\nsource = {src}\n",
            src = toml_path(&src)
        ),
    )
    .unwrap();
    let img = dir.path().join("disk.img");
    build_ok(&spec, &img, &[]);
    assert_eq!(verify(&spec, &img, &tmp).0, 0);
    let pristine = std::fs::read(&img).unwrap();

    // One data byte patched in place, by offset: in the FAT partition (the
    // first copy of the file) and in the ext4 one (the last).
    let needle = b"unique-verify-content";
    let at = |b: &[u8], last: bool| {
        let mut hits = b
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| w == needle);
        let hit = if last { hits.next_back() } else { hits.next() };
        hit.unwrap().0
    };
    for (last, part) in [(false, "partition 1"), (true, "partition 2")] {
        let mut b = pristine.clone();
        let off = at(&b, last) + 7;
        b[off] ^= 0x20;
        std::fs::write(&img, &b).unwrap();
        let (code, text) = verify(&spec, &img, &tmp);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains(&format!(
                "{part}: /etc/unique.txt: content: first difference at byte 7"
            )),
            "byte {off}: {text}"
        );
    }

    // Built with another seed: the IDs are named, the trees are equal.
    std::fs::write(&img, &pristine).unwrap();
    build_ok(&spec, &img, &["--seed", "other"]);
    let (code, text) = verify(&spec, &img, &tmp);
    assert_eq!(code, 1, "{text}");
    for field in ["disk GUID", "s_uuid"] {
        assert!(text.contains(field), "{field} not named: {text}");
    }
    assert!(!text.contains("/etc/unique.txt"), "{text}");

    // Errors: exit 2, nothing left behind.
    let (code, text) = verify(&spec, &dir.path().join("missing.img"), &tmp);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("missing.img"), "{text}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[filesystem]\ntype = \"ext9\"\n").unwrap();
    let (code, text) = verify(&bad, &img, &tmp);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("bad.toml:3"), "{text}");
}
