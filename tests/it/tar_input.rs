//! A tar archive (plain and gzip) as a filesystem's `source`: members keep
//! the archive's modes, owners, links and devices; the time policy applies;
//! the result passes e2fsck and reads back with debugfs.

use crate::common::*;
use std::path::Path;
use std::process::Command;

const EPOCH: u64 = 1_700_000_000;

fn header(path: &str, kind: tar::EntryType, mode: u32, uid: u64, gid: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).unwrap();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    // Later than the epoch: the `fixed` policy must replace it.
    h.set_mtime(2_000_000_000);
    h.set_size(0);
    h
}

/// Writes the test archive to `w`; returns the big file's contents.
fn write_archive<W: std::io::Write>(w: W) -> Vec<u8> {
    use tar::EntryType as T;
    let big = pattern(300_000, 7);
    let mut b = tar::Builder::new(w);
    let mut add = |mut h: tar::Header, data: &[u8]| {
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(header("./", T::Directory, 0o755, 0, 0), b"");
    add(header("./etc/", T::Directory, 0o750, 10, 20), b"");
    add(
        header("./etc/passwd", T::Regular, 0o640, 0, 42),
        b"root:x:0:0\n",
    );
    add(header("./etc/motd", T::Regular, 0o644, 0, 0), b"first\n");
    // A later member replaces an earlier one, as in an extraction.
    add(header("./etc/motd", T::Regular, 0o600, 5, 6), b"second\n");
    // No member for usr/ or usr/bin/: implied parents.
    add(
        header("./usr/bin/tool", T::Regular, 0o4755, 1000, 1001),
        &big,
    );
    let mut l = header("./usr/bin/tool2", T::Link, 0o4755, 1000, 1001);
    l.set_link_name("./usr/bin/tool").unwrap();
    add(l, b"");
    let mut s = header("./bin", T::Symlink, 0o777, 0, 0);
    s.set_link_name("usr/bin").unwrap();
    add(s, b"");
    let mut d = header("./dev/null", T::Char, 0o666, 0, 0);
    d.set_device_major(1).unwrap();
    d.set_device_minor(3).unwrap();
    add(d, b"");
    add(header("./run/ctl", T::Fifo, 0o620, 0, 0), b"");
    b.into_inner().unwrap().flush().unwrap();
    big
}

fn build(dir: &Path, source: &str, out: &str) -> String {
    let spec = dir.join(format!("{out}.json"));
    std::fs::write(
        &spec,
        format!(
            r#"{{"version": 1, "seed": "tar", "source_date_epoch": {EPOCH},
                "filesystem": {{"type": "ext4", "size": "8MiB", "source": "{source}"}}}}"#
        ),
    )
    .unwrap();
    let tmp = dir.join(format!("{out}.tmpdir"));
    std::fs::create_dir_all(&tmp).unwrap();
    let img = dir.join(out);
    run_ok(
        fstool()
            .env("TMPDIR", &tmp)
            .arg("build")
            .arg(&spec)
            .arg("-o")
            .arg(&img)
            .arg("-q"),
    );
    // The extracted members are gone once the build is over.
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    sha256_file(&img)
}

fn debugfs(img: &Path, cmd: &str) -> Vec<u8> {
    let d = tool("debugfs").expect("checked by the caller");
    let out = run(Command::new(d).arg("-R").arg(cmd).arg(img));
    assert!(out.status.success(), "debugfs -R {cmd:?} failed");
    out.stdout
}

fn stat(img: &Path, path: &str) -> String {
    String::from_utf8_lossy(&debugfs(img, &format!("stat {path}"))).into_owned()
}

/// The numbers after `User:` and `Group:` in debugfs' stat output.
fn owner(stat: &str) -> (u32, u32) {
    let num = |key: &str| -> u32 {
        let rest = &stat[stat.find(key).unwrap_or_else(|| panic!("{key} in {stat}")) + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (num("User:"), num("Group:"))
}

#[test]
fn tar_and_tar_gz_sources() {
    let dir = tempfile::tempdir().unwrap();
    let big = write_archive(std::fs::File::create(dir.path().join("root.tar")).unwrap());
    let gz = std::fs::File::create(dir.path().join("root.tar.gz")).unwrap();
    write_archive(flate2::write::GzEncoder::new(
        gz,
        flate2::Compression::default(),
    ));

    let plain = build(dir.path(), "root.tar", "plain.img");
    let gzip = build(dir.path(), "root.tar.gz", "gzip.img");
    assert_eq!(plain, gzip, "the same members must give the same image");
    // Deterministic: a second build gives the same bytes.
    assert_eq!(plain, build(dir.path(), "root.tar", "again.img"));

    let img = dir.path().join("plain.img");
    crate::ext::fsck_clean(&img);
    if tool("debugfs").is_none() {
        return;
    }
    assert_eq!(debugfs(&img, "cat /etc/passwd"), b"root:x:0:0\n");
    assert_eq!(debugfs(&img, "cat /etc/motd"), b"second\n");
    assert_eq!(debugfs(&img, "cat /usr/bin/tool"), big);

    let s = stat(&img, "/etc");
    assert!(s.contains("Mode:  0750"), "{s}");
    assert_eq!(owner(&s), (10, 20));
    let s = stat(&img, "/etc/passwd");
    assert!(s.contains("Mode:  0640"), "{s}");
    assert_eq!(owner(&s), (0, 42));
    let s = stat(&img, "/etc/motd");
    assert!(s.contains("Mode:  0600"), "{s}");
    assert_eq!(owner(&s), (5, 6));
    let s = stat(&img, "/usr/bin/tool");
    assert!(s.contains("Mode:  04755"), "{s}");
    assert!(s.contains("Links: 2"), "{s}");
    assert_eq!(owner(&s), (1000, 1001));
    // The fixed time policy: every time is the epoch, not the archive's.
    assert!(s.contains(&format!("mtime: 0x{EPOCH:08x}")), "{s}");
    let s2 = stat(&img, "/usr/bin/tool2");
    let ino = |s: &str| s.split_whitespace().nth(1).map(str::to_owned);
    assert_eq!(ino(&s), ino(&s2), "tool2 is a hard link to tool");
    // Implied parent.
    let s = stat(&img, "/usr");
    assert!(s.contains("Mode:  0755"), "{s}");
    assert_eq!(owner(&s), (0, 0));
    let s = stat(&img, "/bin");
    assert!(s.contains("Type: symlink"), "{s}");
    assert!(s.contains("Fast link dest: \"usr/bin\""), "{s}");
    let s = stat(&img, "/dev/null");
    assert!(s.contains("Type: character special"), "{s}");
    assert!(s.contains("Device major/minor number: 01:03"), "{s}");
    assert!(s.contains("Mode:  0666"), "{s}");
    let s = stat(&img, "/run/ctl");
    assert!(s.contains("Type: FIFO"), "{s}");
    assert!(s.contains("Mode:  0620"), "{s}");
}

#[test]
fn tar_member_with_dotdot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(dir.path().join("evil.tar")).unwrap());
    let mut h = tar::Header::new_gnu();
    // set_path refuses `..`; write the name bytes directly.
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(1);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    b.into_inner().unwrap();
    let spec = dir.path().join("s.json");
    std::fs::write(
        &spec,
        r#"{"version": 1, "filesystem": {"type": "ext4", "size": "2MiB", "source": "evil.tar"}}"#,
    )
    .unwrap();
    let out = run(fstool()
        .arg("build")
        .arg(&spec)
        .arg("-o")
        .arg(dir.path().join("x.img"))
        .arg("-q"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".."), "{err}");
    assert!(!dir.path().join("x.img").exists());
}

/// `tar -S` (GNU format, with sparse-map extension blocks) reads back byte
/// for byte; GNU's pax sparse formats, a pax path holding a newline and a
/// truncated sparse archive are clear errors, never a truncated name or a
/// panic.
#[test]
fn gnu_sparse_members_and_pax_records_the_crate_cannot_read() {
    use std::io::{Seek, SeekFrom, Write};
    let Some(tar_bin) = tool("tar") else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // Ten data regions: more than the four map entries of the header, so
    // extension blocks are used; a trailing hole.
    let mut f = std::fs::File::create(src.join("disk.img")).unwrap();
    for i in 0..10u64 {
        f.seek(SeekFrom::Start(i * 300_000 + 3)).unwrap();
        f.write_all(&pattern(5000, i)).unwrap();
    }
    f.set_len(3 << 20).unwrap();
    drop(f);
    let want = std::fs::read(src.join("disk.img")).unwrap();
    let tar = |name: &str, format: &str| {
        run_ok(
            Command::new(&tar_bin)
                .arg(format!("--format={format}"))
                .arg("-S")
                .arg("-cf")
                .arg(dir.path().join(name))
                .arg("-C")
                .arg(&src)
                .arg("."),
        );
    };
    tar("gnu.tar", "gnu");
    build(dir.path(), "gnu.tar", "gnu.img");
    let img = dir.path().join("gnu.img");
    crate::ext::fsck_clean(&img);
    if tool("debugfs").is_some() {
        assert!(
            debugfs(&img, "cat /disk.img") == want,
            "sparse member reads back different"
        );
    }

    let fails = |source: &str, words: &[&str]| {
        let spec = dir.path().join("bad.json");
        std::fs::write(
            &spec,
            format!(r#"{{"version": 1, "filesystem": {{"type": "ext4", "size": "16MiB", "source": "{source}"}}}}"#),
        )
        .unwrap();
        let img = dir.path().join("bad.img");
        let out = run(fstool()
            .arg("build")
            .arg(&spec)
            .arg("-o")
            .arg(&img)
            .arg("-q"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{source}: built");
        assert!(!err.contains("panicked"), "{err}");
        for w in words {
            assert!(err.contains(w), "{source}: {w:?} not in {err}");
        }
        assert!(!img.exists());
    };
    tar("pax.tar", "pax");
    fails(
        "pax.tar",
        &["GNU sparse file in pax format", "--format=gnu"],
    );

    // A truncated sparse archive.
    let bytes = std::fs::read(dir.path().join("gnu.tar")).unwrap();
    std::fs::write(dir.path().join("cut.tar"), &bytes[..bytes.len() / 3]).unwrap();
    fails("cut.tar", &["cut.tar"]);

    // A path over 100 bytes with a newline, in pax format.
    let nl = dir.path().join("nl");
    let long = format!("{}\n{}", "a".repeat(60), "b".repeat(60));
    write_file(&nl, &long, b"one\n");
    run_ok(
        Command::new(&tar_bin)
            .args(["--format=pax", "-cf"])
            .arg(dir.path().join("nl.tar"))
            .arg("-C")
            .arg(&nl)
            .arg("."),
    );
    fails("nl.tar", &["malformed pax extended header", "newline"]);
}
