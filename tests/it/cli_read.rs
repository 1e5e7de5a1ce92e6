//! `fstool ls`, `cat` and `extract`: images built by fstool read back
//! through the command line, bare and inside GPT disks (raw and qcow2);
//! extraction restores a tree that rebuilds to the same bytes, its tar
//! is deterministic, and a crafted image cannot make it write outside
//! the destination.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const EPOCH: i64 = 1_700_000_000;

fn fstool_ok(args: &[&std::ffi::OsStr]) -> String {
    run_ok(fstool().args(args))
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Regular files under `root` by relative path, with their bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    write_file(&src, "d/e/f", b"hi\n");
    write_file(&src, "big", &pattern(300_000, 7));
    write_file(&src, "empty", b"");
    for i in 0..200 {
        write_file(&src, &format!("many/file-{i:03}"), &pattern(i, i as u64));
    }
    std::os::unix::fs::symlink("d/e/f", src.join("link")).unwrap();
    std::fs::hard_link(src.join("d/e/f"), src.join("hard")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("d"), std::fs::Permissions::from_mode(0o4750)).unwrap();
    src
}

fn spec(dir: &Path, name: &str, fs_type: &str, src: &Path) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "version = 1\nseed = \"cli-read\"\nsource_date_epoch = {EPOCH}\n\n\
             [filesystem]\ntype = \"{fs_type}\"\nsource = {}\nlabel = \"rt\"\n",
            toml_path(src)
        ),
    )
    .unwrap();
    p
}

/// ext4: ls/cat see the source; extract, rebuild from the extracted tree
/// with the same spec, and the image's SHA-256 is the same; two tar
/// extractions are byte-identical.
#[test]
fn ext4_extract_rebuilds_identically_and_tar_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let img = dir.path().join("a.img");
    let sha_a = build_ok(&spec(dir.path(), "a.toml", "ext4", &src), &img, &[]);
    let imgs = img.to_str().unwrap();

    let listing = fstool_ok(&[os("ls"), os(imgs), os("-R")]);
    assert!(listing.lines().any(|l| l == "/d/e/f"), "{listing}");
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("/many/")).count(),
        200
    );
    let long = fstool_ok(&[os("ls"), os(imgs), os("/"), os("-l")]);
    assert!(long.contains("drwsr-x---"), "{long}");
    assert!(long.contains("link -> d/e/f"), "{long}");
    let json: serde_json::Value =
        serde_json::from_str(&fstool_ok(&[os("ls"), os(imgs), os("/d/e"), os("--json")])).unwrap();
    assert_eq!(json[0]["path"], "f");
    assert_eq!(json[0]["nlink"], 2);
    assert_eq!(json[0]["mtime"]["secs"], EPOCH);
    let out = run(fstool().args(["cat", imgs, "/big"]));
    assert!(out.status.success());
    assert!(out.stdout == pattern(300_000, 7), "cat /big differs");

    let x = dir.path().join("x");
    fstool_ok(&[os("extract"), os(imgs), x.as_os_str()]);
    assert_eq!(
        std::fs::read_link(x.join("link")).unwrap(),
        Path::new("d/e/f")
    );
    use std::os::unix::fs::MetadataExt;
    let (f, h) = (
        std::fs::metadata(x.join("d/e/f")).unwrap(),
        std::fs::metadata(x.join("hard")).unwrap(),
    );
    assert_eq!((f.ino(), f.nlink()), (h.ino(), 2), "hard link not restored");
    assert_eq!(
        std::fs::metadata(x.join("d")).unwrap().mode() & 0o7777,
        0o4750
    );
    assert_eq!(f.mtime(), EPOCH);
    let img_b = dir.path().join("b.img");
    let sha_b = build_ok(&spec(dir.path(), "b.toml", "ext4", &x), &img_b, &[]);
    assert_eq!(
        sha_a, sha_b,
        "rebuilding the extracted tree changed the image"
    );

    let (t1, t2) = (dir.path().join("1.tar"), dir.path().join("2.tar"));
    for t in [&t1, &t2] {
        fstool_ok(&[os("extract"), os(imgs), os("--tar"), t.as_os_str()]);
    }
    let (b1, b2) = (std::fs::read(&t1).unwrap(), std::fs::read(&t2).unwrap());
    assert!(b1 == b2, "two tar extractions differ");
    // The tar holds the tree: GNU tar lists it the same way.
    if let Some(tar) = tool("tar") {
        let t = dir.path().join("t");
        std::fs::create_dir(&t).unwrap();
        run_ok(
            std::process::Command::new(tar)
                .arg("-xf")
                .arg(&t1)
                .arg("-C")
                .arg(&t),
        );
        assert_eq!(files(&t), files(&x));
    }
}

/// Both partitions of the GPT example disk, raw and qcow2: every regular
/// file extracted equals its source.
#[test]
fn disk_partitions_read_back_raw_and_qcow2() {
    let dir = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (spec, name) in [
        ("efi-disk.toml", "d.img"),
        ("efi-disk.qcow2.toml", "d.qcow2"),
    ] {
        let img = dir.path().join(name);
        build_ok(&ex.join(spec), &img, &[]);
        for (part, src) in [(1, "esp"), (2, "rootfs")] {
            let target = format!("{}:{part}", img.display());
            let out = dir.path().join(format!("{name}-{part}"));
            fstool_ok(&[os("extract"), os(&target), out.as_os_str()]);
            let want = files(&ex.join(src));
            let got: BTreeMap<_, _> = files(&out)
                .into_iter()
                .filter(|(p, _)| !p.starts_with("lost+found"))
                .collect();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            );
            assert!(got == want, "{target}: file contents differ");
        }
        let esp = format!("{}:1", img.display());
        let cat = run(fstool().args(["cat", &esp, "/efi/boot/bootx64.efi"]));
        assert!(cat.status.success(), "FAT names are case-insensitive");
        assert_eq!(
            cat.stdout,
            std::fs::read(ex.join("esp/EFI/BOOT/BOOTX64.EFI")).unwrap()
        );
        let bad = run(fstool().args(["ls", &format!("{}:7", img.display())]));
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("no partition 7"));
    }
}

/// Replaces the only occurrence of `from` in `img` with `to` (same length).
fn patch(img: &Path, from: &[u8], to: &[u8]) {
    let mut b = std::fs::read(img).unwrap();
    let hits: Vec<usize> = b
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{:?} found {} times",
        String::from_utf8_lossy(from),
        hits.len()
    );
    b[hits[0]..hits[0] + to.len()].copy_from_slice(to);
    std::fs::write(img, b).unwrap();
}

/// Crafted images: a name with `/`, two entries of one name (a symlink to
/// outside and a directory, so that a later file would go through the
/// link), and a `..` name. Extraction (to a directory or a tar) refuses
/// or leaves the entry out; nothing appears outside the destination.
#[test]
fn extract_never_writes_outside_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let src = dir.path().join("src");
    write_file(&src, "zzdir1/payload", b"escaped\n");
    write_file(&src, "zzslash", b"x");
    write_file(&src, "qq", b"dot-dot");
    std::os::unix::fs::symlink(&outside, src.join("zzdir0")).unwrap();
    let cases: [(&str, &[u8], &[u8], bool); 3] = [
        ("slash", b"zzslash", b"zz/lash", true),
        ("duplicate", b"zzdir0", b"zzdir1", true),
        ("dotdot", b"\x02\x01qq", b"\x02\x01..", false),
    ];
    for (name, from, to, refused) in cases {
        let img = dir.path().join(format!("{name}.img"));
        build_ok(&spec(dir.path(), "c.toml", "ext4", &src), &img, &[]);
        patch(&img, from, to);
        let dest = dir.path().join(format!("dest-{name}"));
        let out = run(fstool().arg("extract").arg(&img).arg(&dest));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(!out.status.success(), refused, "{name}: {err}");
        if refused {
            assert!(
                err.contains("refusing") || err.contains("parent"),
                "{name}: {err}"
            );
        }
        let tar = dir.path().join(format!("{name}.tar"));
        let out = run(fstool().arg("extract").arg(&img).arg("--tar").arg(&tar));
        assert_eq!(!out.status.success(), refused, "{name} --tar");
        assert!(
            !refused || !tar.exists(),
            "{name}: a refused tar was left behind"
        );
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{name}: wrote outside"
        );
        assert!(!dir.path().join("payload").exists() && !dir.path().join("lash").exists());
    }
}

/// `fstool diff` with its exit code and stdout (JSON findings).
fn diff(a: &Path, b: &Path) -> (i32, serde_json::Value) {
    let out = run(fstool().arg("diff").arg(a).arg(b).arg("--json"));
    let code = out.status.code().unwrap();
    let v = if code == 2 {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    };
    (code, v)
}

/// `ls`, `cat` and `extract` of `img` see [`source`]'s tree `src`: names,
/// the symlink, `/big`'s bytes, every regular file and the hard link (the
/// extraction goes to `x`). Returns the `ls -R` and `ls / -l` outputs.
fn reads_back_as_source(img: &Path, src: &Path, x: &Path) -> (String, String) {
    let imgs = img.to_str().unwrap();
    let listing = fstool_ok(&[os("ls"), os(imgs), os("-R")]);
    assert!(listing.lines().any(|l| l == "/d/e/f"), "{listing}");
    let long = fstool_ok(&[os("ls"), os(imgs), os("/"), os("-l")]);
    assert!(long.contains("link -> d/e/f"), "{long}");
    let out = run(fstool().args(["cat", imgs, "/big"]));
    assert!(out.status.success() && out.stdout == pattern(300_000, 7));
    fstool_ok(&[os("extract"), os(imgs), x.as_os_str()]);
    assert_eq!(files(x), files(src));
    use std::os::unix::fs::MetadataExt;
    let (f, h) = (
        std::fs::metadata(x.join("d/e/f")).unwrap(),
        std::fs::metadata(x.join("hard")).unwrap(),
    );
    assert_eq!((f.ino(), f.nlink()), (h.ino(), 2), "hard link not restored");
    (listing, long)
}

/// Copies `img` to `to` with one byte of `/big` (the source's
/// `pattern(300_000, 7)`) flipped at offset 123457, and checks that `diff`
/// names exactly that file and offset.
fn patched_big_is_found(img: &Path, to: &Path) {
    let mut bytes = std::fs::read(img).unwrap();
    let big = pattern(300_000, 7);
    let at = bytes.windows(64).position(|w| w == &big[..64]).unwrap() + 123_457;
    bytes[at] ^= 0x40;
    std::fs::write(to, &bytes).unwrap();
    let (code, v) = diff(img, to);
    assert_eq!(code, 1);
    assert_eq!(
        fields(&v),
        [("tree".into(), "filesystem: /big".into(), "content".into())]
    );
    assert_eq!(v["findings"][0]["a"], "first difference at byte 123457");
}

/// (layer, place, field) of each finding.
fn fields(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("layer"), s("place"), s("field"))
        })
        .collect()
}

/// Two builds that differ only in `seed` differ exactly in the IDs (and
/// the checksum covering them); the file trees are equal. One changed
/// content byte, one changed mode, one added xattr, one renamed file and
/// one flipped GPT attribute bit are each found, named and located.
#[test]
fn diff_names_and_locates_each_difference() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let a = dir.path().join("a.img");
    build_ok(&spec(dir.path(), "a.toml", "ext4", &src), &a, &[]);
    assert_eq!(diff(&a, &a).0, 0);

    let b = dir.path().join("b.img");
    build_ok(
        &spec(dir.path(), "a.toml", "ext4", &src),
        &b,
        &["--seed", "other"],
    );
    let (code, v) = diff(&a, &b);
    assert_eq!(code, 1);
    let got: Vec<String> = fields(&v).into_iter().map(|(_, _, f)| f).collect();
    assert_eq!(
        got,
        [
            "s_uuid",
            "s_hash_seed",
            "s_checksum (covers the fields above)"
        ],
        "{v:#}"
    );

    // One content byte, patched in place by offset.
    patched_big_is_found(&a, &dir.path().join("c.img"));

    // A mode, an xattr and a name, through the spec.
    let variant = |name: &str, extra: &str| {
        let p = dir.path().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(dir.path().join("a.toml")).unwrap();
        std::fs::write(&p, format!("{text}{extra}")).unwrap();
        let img = dir.path().join(format!("{name}.img"));
        build_ok(&p, &img, &[]);
        img
    };
    let m = variant(
        "mode",
        "rules = [{ glob = \"/empty\", type = \"file\", mode = \"0600\" }]\n",
    );
    let (_, v) = diff(&a, &m);
    assert!(
        fields(&v).contains(&("tree".into(), "filesystem: /empty".into(), "mode".into())),
        "{v:#}"
    );
    assert_eq!(
        fields(&v).iter().filter(|f| f.0 == "tree").count(),
        1,
        "{v:#}"
    );
    let x = variant(
        "xattr",
        "\n[[filesystem.entries]]\npath = \"/empty\"\ntype = \"file\"\ncontents = \"\"\noverride = true\nxattrs = { \"user.k\" = \"v\" }\n",
    );
    let (_, v) = diff(&a, &x);
    let tree: Vec<_> = fields(&v).into_iter().filter(|f| f.0 == "tree").collect();
    assert_eq!(
        tree,
        [("tree".into(), "filesystem: /empty".into(), "xattrs".into())],
        "{v:#}"
    );

    let src2 = dir.path().join("src2");
    std::fs::rename(&src, &src2).unwrap();
    std::fs::rename(src2.join("empty"), src2.join("renamed")).unwrap();
    let r = dir.path().join("r.img");
    build_ok(&spec(dir.path(), "r.toml", "ext4", &src2), &r, &[]);
    let (_, v) = diff(&a, &r);
    let tree: Vec<_> = fields(&v).into_iter().filter(|f| f.0 == "tree").collect();
    assert!(
        tree.contains(&("tree".into(), "filesystem: /empty".into(), "removed".into())),
        "{v:#}"
    );
    assert!(
        tree.contains(&("tree".into(), "filesystem: /renamed".into(), "added".into())),
        "{v:#}"
    );

    // A GPT attribute bit flipped (the GUID partition entry's bit 60,
    // read-only), both CRCs fixed up as a tool would.
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let d1 = dir.path().join("d1.img");
    build_ok(&ex.join("efi-disk.toml"), &d1, &[]);
    let mut disk = std::fs::read(&d1).unwrap();
    let entries = 1024usize; // LBA 2
    let attr = entries + 48; // partition 1's Attributes
    disk[attr + 7] ^= 0x10;
    let crc = |b: &[u8]| crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(b);
    let array_crc = crc(&disk[entries..entries + 128 * 128]);
    disk[512 + 88..512 + 92].copy_from_slice(&array_crc.to_le_bytes());
    disk[512 + 16..512 + 20].fill(0);
    let hcrc = crc(&disk[512..512 + 92]);
    disk[512 + 16..512 + 20].copy_from_slice(&hcrc.to_le_bytes());
    let d2 = dir.path().join("d2.img");
    std::fs::write(&d2, &disk).unwrap();
    let (code, v) = diff(&d1, &d2);
    assert_eq!(code, 1);
    assert_eq!(
        fields(&v),
        [(
            "partition-table".into(),
            "partition 1".into(),
            "attributes".into()
        )],
        "{v:#}"
    );
    assert_eq!(v["findings"][0]["b"], "0x1000000000000000");
    assert_eq!(diff(&d1, &dir.path().join("missing")).0, 2);
}

/// EROFS through the reader layer: ls, cat and extract see the source,
/// the extracted tree rebuilds to the same bytes, and `diff` names a
/// changed file (with the offset), a changed seed (the superblock UUID)
/// and a corrupted metadata block (the reader's checksum error).
#[test]
fn erofs_reads_back_and_diff_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let img = dir.path().join("a.erofs");
    let sha_a = build_ok(&spec(dir.path(), "a.toml", "erofs", &src), &img, &[]);
    let (_, long) = reads_back_as_source(&img, &src, &dir.path().join("x"));
    assert!(long.contains("drwsr-x---"), "{long}");
    let x = dir.path().join("x");
    let sha_b = build_ok(
        &spec(dir.path(), "b.toml", "erofs", &x),
        &dir.path().join("b.erofs"),
        &[],
    );
    assert_eq!(
        sha_a, sha_b,
        "rebuilding the extracted tree changed the image"
    );

    // Another seed: the superblock UUID and the checksum over it.
    let s = dir.path().join("s.erofs");
    build_ok(
        &spec(dir.path(), "a.toml", "erofs", &src),
        &s,
        &["--seed", "other"],
    );
    let (code, v) = diff(&img, &s);
    assert_eq!(code, 1);
    let got: Vec<String> = fields(&v).into_iter().map(|(_, _, f)| f).collect();
    assert_eq!(got, ["uuid", "checksum (covers the fields above)"], "{v:#}");

    // One content byte of /big.
    let c = dir.path().join("c.erofs");
    patched_big_is_found(&img, &c);

    // A byte of block 0 past the superblock: the checksum no longer holds.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[2000] ^= 0x01;
    std::fs::write(&c, &bytes).unwrap();
    let (code, v) = diff(&img, &c);
    assert_eq!(code, 1);
    assert_eq!(
        fields(&v),
        [("filesystem".into(), "filesystem".into(), "reader".into())],
        "{v:#}"
    );
    let b = v["findings"][0]["b"].as_str().unwrap();
    assert!(b.contains("checksum mismatch"), "{b}");
}

/// NTFS through the reader layer: ls, cat and extract see the source
/// (names, contents, hard links, symlinks), and `diff` and `verify` name a
/// changed file by path and offset and another seed by the boot sector's
/// serial.
#[test]
fn ntfs_reads_back_and_diff_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let spec_a = spec(dir.path(), "a.toml", "ntfs", &src);
    let img = dir.path().join("a.ntfs");
    build_ok(&spec_a, &img, &[]);
    let (listing, _) = reads_back_as_source(&img, &src, &dir.path().join("x"));
    assert!(
        !listing.contains("$MFT"),
        "system files are listed:\n{listing}"
    );

    let s = dir.path().join("s.ntfs");
    build_ok(&spec_a, &s, &["--seed", "other"]);
    let (code, v) = diff(&img, &s);
    assert_eq!(code, 1);
    assert_eq!(
        fields(&v),
        [(
            "filesystem".into(),
            "filesystem: NTFS boot sector".into(),
            "volume_serial".into()
        )],
        "{v:#}"
    );

    let c = dir.path().join("c.ntfs");
    patched_big_is_found(&img, &c);
    let out = run(fstool().arg("verify").arg(&spec_a).arg(&c));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/big: content: first difference at byte 123457"),
        "{text}"
    );
}

/// `diff` skips ranges that are holes in both images but never a hole
/// against data: explicit zeros equal a hole, one non-zero byte in a hole
/// of the other image is found at its offset.
#[test]
fn diff_skips_common_holes_and_finds_bytes_in_a_hole() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, zeros_written: bool, extra: Option<u64>| {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        if zeros_written {
            f.write_all(&vec![0u8; 16 << 20]).unwrap();
        } else {
            f.set_len(16 << 20).unwrap();
        }
        f.seek(SeekFrom::Start(4 << 20)).unwrap();
        f.write_all(b"data").unwrap();
        if let Some(at) = extra {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(b"y").unwrap();
        }
        p
    };
    let sparse = write("sparse", false, None);
    let dense = write("dense", true, None);
    let other = write("other", false, Some((12 << 20) + 5));
    let same = run(fstool().arg("diff").arg(&sparse).arg(&dense));
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    let out = run(fstool().arg("diff").arg(&dense).arg(&other));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&((12u64 << 20) + 5).to_string()), "{text}");
}

/// FAT: extract, rebuild from the extracted tree, same SHA-256, with the
/// source's times kept (`time_policy = "preserve"`) at FAT's resolution
/// (even seconds, after 1980).
#[test]
fn fat_extract_rebuilds_identically_with_preserved_times() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_file(&src, "Long File Name.txt", b"hello\n");
    write_file(&src, "dir/sub/data.bin", &pattern(70_000, 3));
    write_file(&src, "dir/naïve ünïcode.txt", b"x");
    write_file(&src, "empty", b"");
    // Directories last: writing their files moved their times.
    let all = [
        "Long File Name.txt",
        "dir/sub/data.bin",
        "dir/naïve ünïcode.txt",
        "empty",
        "dir/sub",
        "dir",
        "",
    ];
    for (i, rel) in all.iter().enumerate() {
        let t = filetime::FileTime::from_unix_time(1_600_000_000 + 2 * i as i64, 0);
        filetime::set_file_times(src.join(rel), t, t).unwrap();
    }
    let spec = |name: &str, from: &Path| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "version = 1\nseed = \"fat-rt\"\nsource_date_epoch = {EPOCH}\ntime_policy = \"preserve\"\n\n\
                 [filesystem]\ntype = \"fat32\"\nsize = \"40MiB\"\nsource = {}\nlabel = \"RT\"\n",
                toml_path(from)
            ),
        )
        .unwrap();
        p
    };
    let img = dir.path().join("a.img");
    let sha_a = build_ok(&spec("a.toml", &src), &img, &[]);
    let x = dir.path().join("x");
    fstool_ok(&[os("extract"), img.as_os_str(), x.as_os_str()]);
    assert_eq!(files(&x), files(&src));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(x.join("dir/sub/data.bin"))
            .unwrap()
            .mtime(),
        1_600_000_002
    );
    let sha_b = build_ok(&spec("b.toml", &x), &dir.path().join("b.img"), &[]);
    assert_eq!(
        sha_a, sha_b,
        "rebuilding the extracted FAT tree changed the image"
    );
}
