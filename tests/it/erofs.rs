//! EROFS writer: images judged by fsck.erofs and dump.erofs, mounted
//! read-only by the kernel and compared with their source tree entry by
//! entry (names, types, modes, owners, mtimes, xattrs, symlink targets,
//! device numbers, hard-link groups, contents).

use crate::common::*;
use fstool::fs::erofs::{self, ErofsOptions};
use fstool::io::{BlockDevice, SparseFile};
use fstool::tree::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const EPOCH: i64 = 1_700_000_000;

pub fn meta(mode: u16) -> Meta {
    Meta::new(mode, 0, 0, Timestamp::from_secs(EPOCH))
}

pub fn add_with(
    tree: &mut Tree,
    parent: NodeId,
    name: &[u8],
    meta: Meta,
    kind: NodeKind,
) -> NodeId {
    tree.insert_child(
        parent,
        Node {
            name: name.to_vec(),
            parent,
            meta,
            kind,
        },
    )
}

pub fn add(tree: &mut Tree, parent: NodeId, name: &[u8], mode: u16, kind: NodeKind) -> NodeId {
    add_with(tree, parent, name, meta(mode), kind)
}

pub fn dir() -> NodeKind {
    NodeKind::Dir { children: vec![] }
}

pub fn inline(b: &[u8]) -> NodeKind {
    NodeKind::File {
        data: FileData::Inline(b.to_vec()),
        sparse: false,
    }
}

pub fn opts() -> ErofsOptions {
    ErofsOptions {
        uuid: [0x42; 16],
        epoch: EPOCH,
        label: "fstool-test".into(),
        ..ErofsOptions::default()
    }
}

/// Plans and writes `tree` into `out`.
pub fn write_image(tree: &Tree, o: &ErofsOptions, out: &Path) -> erofs::ErofsReport {
    let plan = erofs::plan(tree, o).unwrap();
    let f = std::fs::File::create(out).unwrap();
    let mut dev = SparseFile::new(f, out, plan.geo.bytes()).unwrap();
    let r = erofs::write(&plan, tree, &mut dev, &mut |_| {}).unwrap();
    dev.finish().unwrap();
    if let Ok(k) = std::env::var("FSTOOL_KEEP") {
        std::fs::copy(out, Path::new(&k).join(out.file_name().unwrap())).unwrap();
    }
    r
}

/// `fsck.erofs --extract` style deep check: fsck.erofs reads every inode
/// and file (with `--extract` it also decodes all data).
pub fn fsck_clean(img: &Path) {
    let Some(fsck) = tool("fsck.erofs") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let out = run(Command::new(&fsck)
        .arg(format!("--extract={}", scratch.path().join("x").display()))
        .arg(img));
    assert!(
        out.status.success(),
        "fsck.erofs {} failed ({}):\n{}\n{}",
        img.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dump.erofs` must agree on the superblock fields and the inode counts.
pub fn dump_agrees(img: &Path, tree: &Tree, uuid: [u8; 16]) {
    let Some(dump) = tool("dump.erofs") else {
        return;
    };
    let text = run_ok(Command::new(dump).arg(img));
    let field = |k: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(k))
            .and_then(|l| l.split(':').nth(1).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("dump.erofs shows no {k:?}:\n{text}"))
    };
    assert_eq!(field("Filesystem magic number"), "0xE0F5E1E2");
    assert_eq!(
        field("Filesystem inode count"),
        tree.inode_count().to_string()
    );
    assert_eq!(
        field("Filesystem UUID"),
        uuid::Uuid::from_bytes(uuid).to_string()
    );
    let size = std::fs::metadata(img).unwrap().len();
    assert_eq!(field("Filesystem blocks"), (size / 4096).to_string());
    // dump.erofs -S counts names, so hard links count with their target.
    let stats = run_ok(Command::new(tool("dump.erofs").unwrap()).arg("-S").arg(img));
    for (k, label) in [
        ("regular", "regular file count"),
        ("directory", "directory count"),
        ("symlink", "symlink file count"),
        ("char", "char dev count"),
        ("block", "block dev count"),
        ("FIFO", "FIFO file count"),
        ("SOCK", "SOCK file count"),
    ] {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("Filesystem {label}")))
            .unwrap_or_else(|| panic!("dump.erofs -S shows no {label:?}:\n{stats}"));
        let got: usize = line.split(':').nth(1).unwrap().trim().parse().unwrap();
        let want = (0..tree.nodes.len())
            .filter(|&i| {
                let id = NodeId(i as u32);
                let owner = match tree.node(id).kind {
                    NodeKind::HardLink { target } => target,
                    _ => id,
                };
                count_kind(tree, owner) == k
            })
            .count();
        assert_eq!(got, want, "dump.erofs -S {label}");
    }
}

fn count_kind(tree: &Tree, id: NodeId) -> &'static str {
    match tree.node(id).kind {
        NodeKind::File { .. } => "regular",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::CharDev { .. } => "char",
        NodeKind::BlockDev { .. } => "block",
        NodeKind::Fifo => "FIFO",
        NodeKind::Socket => "SOCK",
        NodeKind::Dir { .. } => "directory",
        NodeKind::HardLink { .. } => "other",
    }
}

fn content_of(data: &FileData) -> Vec<u8> {
    match data {
        FileData::Inline(b) => b.clone(),
        FileData::Host { path, .. } => std::fs::read(path).unwrap(),
    }
}

/// Compares a mounted image with its tree: every entry, both ways.
pub fn compare_mount(tree: &Tree, root: &Path) {
    // Inode number of each hard-link group's owner, by node id.
    let mut group_ino: BTreeMap<usize, u64> = BTreeMap::new();
    let links = tree.link_counts();
    let mut checked = 0usize;
    for id in tree.preorder() {
        let node = tree.node(id);
        let rel = tree.path_of(id);
        let p = root.join(rel.trim_start_matches('/'));
        let md = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let (owner, kind) = match &node.kind {
            NodeKind::HardLink { target } => (*target, &tree.node(*target).kind),
            k => (id, k),
        };
        let m = &tree.node(owner).meta;
        let ft = md.file_type();
        match kind {
            NodeKind::Dir { children } => {
                assert!(ft.is_dir(), "{rel}: not a directory");
                let mut names: Vec<Vec<u8>> = std::fs::read_dir(&p)
                    .unwrap()
                    .map(|e| {
                        use std::os::unix::ffi::OsStrExt;
                        e.unwrap().file_name().as_bytes().to_vec()
                    })
                    .collect();
                names.sort();
                let want: Vec<Vec<u8>> = children
                    .iter()
                    .map(|c| tree.node(*c).name.clone())
                    .collect();
                assert_eq!(names, want, "{rel}: directory listing");
            }
            NodeKind::File { data, .. } => {
                assert!(ft.is_file(), "{rel}: not a file");
                assert_eq!(md.len(), data.len(), "{rel}: size");
                assert!(
                    std::fs::read(&p).unwrap() == content_of(data),
                    "{rel}: content differs"
                );
            }
            NodeKind::Symlink { target } => {
                assert!(ft.is_symlink(), "{rel}: not a symlink");
                use std::os::unix::ffi::OsStrExt;
                assert_eq!(
                    std::fs::read_link(&p).unwrap().as_os_str().as_bytes(),
                    &target[..],
                    "{rel}: target"
                );
            }
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                assert!(
                    ft.is_char_device() || ft.is_block_device(),
                    "{rel}: not a device"
                );
                assert_eq!(
                    ft.is_char_device(),
                    matches!(kind, NodeKind::CharDev { .. }),
                    "{rel}: device kind"
                );
                assert_eq!(split_rdev(md.rdev()), (*major, *minor), "{rel}: rdev");
            }
            NodeKind::Fifo => assert!(ft.is_fifo(), "{rel}: not a fifo"),
            NodeKind::Socket => assert!(ft.is_socket(), "{rel}: not a socket"),
            NodeKind::HardLink { .. } => unreachable!(),
        }
        assert_eq!(md.mode() & 0o7777, u32::from(m.mode), "{rel}: mode");
        assert_eq!((md.uid(), md.gid()), (m.uid, m.gid), "{rel}: owner");
        assert_eq!(
            (md.mtime(), md.mtime_nsec() as u32),
            (m.mtime.secs, m.mtime.nanos),
            "{rel}: mtime"
        );
        assert_eq!(md.nlink(), u64::from(links[owner.index()]), "{rel}: nlink");
        let ino = *group_ino.entry(owner.index()).or_insert(md.ino());
        assert_eq!(md.ino(), ino, "{rel}: hard-link group shares one inode");
        let mut got: Vec<(String, Vec<u8>)> = xattr::list(&p)
            .unwrap()
            .map(|n| {
                let v = xattr::get(&p, &n).unwrap().unwrap_or_default();
                (n.to_string_lossy().into_owned(), v)
            })
            .collect();
        got.sort();
        assert_eq!(got, m.xattrs, "{rel}: xattrs");
        checked += 1;
    }
    // Distinct inodes in the mount equal the tree's.
    assert_eq!(
        group_ino
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        tree.inode_count(),
        "distinct inodes"
    );
    assert_eq!(checked, tree.nodes.len());
}

/// Every check on one image: fsck.erofs, dump.erofs, kernel mount.
pub fn validate(img: &Path, tree: &Tree, o: &ErofsOptions) {
    fsck_clean(img);
    dump_agrees(img, tree, o.uuid);
    if let Some(m) = LoopMount::new(img, "erofs") {
        compare_mount(tree, m.path());
    }
}

/// A tree with every kind of entry and every layout the writer uses.
pub fn rich_tree(host: &Path) -> Tree {
    let mut t = Tree::new(meta(0o755));
    let etc = add(&mut t, NodeId::ROOT, b"etc", 0o755, dir());
    add(&mut t, etc, b"hostname", 0o644, inline(b"fstool\n"));
    add(&mut t, etc, b"empty", 0o600, inline(b""));
    for (i, len) in [1usize, 4095, 4096, 4097, 8192, 70_000, 3 * 4096 + 100]
        .iter()
        .enumerate()
    {
        add(
            &mut t,
            NodeId::ROOT,
            format!("size-{len}").as_bytes(),
            0o644,
            inline(&pattern(*len, i as u64)),
        );
    }
    // Names that sort before "." and "..".
    add(&mut t, NodeId::ROOT, b"!bang", 0o644, inline(b"!"));
    add(&mut t, NodeId::ROOT, b"-dash", 0o644, inline(b"-"));
    add(&mut t, NodeId::ROOT, b"+plus", 0o644, inline(b"+"));
    // Symlinks, short and long.
    add(
        &mut t,
        NodeId::ROOT,
        b"link",
        0o777,
        NodeKind::Symlink {
            target: b"etc/hostname".to_vec(),
        },
    );
    add(
        &mut t,
        NodeId::ROOT,
        b"longlink",
        0o777,
        NodeKind::Symlink {
            target: "x/".repeat(1500).into_bytes(),
        },
    );
    // Devices, fifo, socket.
    let dev = add(&mut t, NodeId::ROOT, b"dev", 0o755, dir());
    add(
        &mut t,
        dev,
        b"null",
        0o666,
        NodeKind::CharDev { major: 1, minor: 3 },
    );
    add(
        &mut t,
        dev,
        b"sda1",
        0o660,
        NodeKind::BlockDev { major: 8, minor: 1 },
    );
    add(
        &mut t,
        dev,
        b"big",
        0o600,
        NodeKind::CharDev {
            major: 259,
            minor: 70_000,
        },
    );
    add(&mut t, dev, b"fifo", 0o644, NodeKind::Fifo);
    add(&mut t, dev, b"sock", 0o755, NodeKind::Socket);
    // Owners and times that need extended inodes; setuid bits.
    let mut m = meta(0o4755);
    m.uid = 100_000;
    m.gid = 70_000;
    add_with(&mut t, NodeId::ROOT, b"owned", m, inline(b"owner\n"));
    let mut m = meta(0o640);
    m.mtime = Timestamp {
        secs: 1_234_567_890,
        nanos: 123_456_789,
    };
    add_with(&mut t, NodeId::ROOT, b"older", m, inline(&pattern(5000, 9)));
    let mut m = meta(0o640);
    m.mtime = Timestamp {
        secs: -1000,
        nanos: 5,
    };
    add_with(&mut t, NodeId::ROOT, b"before-1970", m, inline(b"old\n"));
    // xattrs: a repeated label (shared table) and unique ones.
    let label = (
        "security.selinux".to_string(),
        b"system_u:object_r:etc_t:s0\0".to_vec(),
    );
    let xd = add(&mut t, NodeId::ROOT, b"xattrs", 0o755, dir());
    for i in 0..5 {
        let mut m = meta(0o644);
        m.xattrs = vec![
            label.clone(),
            ("user.index".to_string(), format!("{i}").into_bytes()),
        ];
        m.xattrs.sort();
        add_with(
            &mut t,
            xd,
            format!("f{i}").as_bytes(),
            m,
            inline(&pattern(100 + i, 3)),
        );
    }
    let mut m = meta(0o644);
    m.xattrs = vec![
        ("trusted.big".to_string(), pattern(3000, 5)),
        ("user.a".to_string(), b"".to_vec()),
    ];
    add_with(&mut t, xd, b"bigxattr", m, inline(&pattern(2000, 4)));
    let mut m = meta(0o755);
    m.xattrs = vec![label.clone()];
    t.nodes[xd.index()].meta = m;
    // Hard links: a group of three names.
    let hl = add(&mut t, NodeId::ROOT, b"hl-a", 0o644, inline(b"linked\n"));
    add(
        &mut t,
        NodeId::ROOT,
        b"hl-b",
        0o644,
        NodeKind::HardLink { target: hl },
    );
    add(
        &mut t,
        etc,
        b"hl-c",
        0o644,
        NodeKind::HardLink { target: hl },
    );
    // A directory that needs several blocks.
    let many = add(&mut t, NodeId::ROOT, b"many", 0o755, dir());
    for i in 0..600 {
        let name = format!("entry-{i:04}-{}", "y".repeat(i % 50));
        add(
            &mut t,
            many,
            name.as_bytes(),
            0o644,
            inline(format!("{i}\n").as_bytes()),
        );
    }
    // A sparse host file: data, a hole, data, a trailing hole.
    let sparse = host.join("sparse.bin");
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&sparse).unwrap();
        f.set_len(10 << 20).unwrap();
        f.write_all_at(&pattern(5000, 7), 0).unwrap();
        f.write_all_at(&pattern(9000, 8), 6 << 20).unwrap();
    }
    add(
        &mut t,
        NodeId::ROOT,
        b"sparse",
        0o644,
        NodeKind::File {
            data: FileData::Host {
                path: sparse.clone(),
                len: 10 << 20,
                sha256: None,
            },
            sparse: true,
        },
    );
    // A host file that is not sparse.
    let plain = host.join("plain.bin");
    std::fs::write(&plain, pattern(123_457, 11)).unwrap();
    add(
        &mut t,
        NodeId::ROOT,
        b"host-plain",
        0o644,
        NodeKind::File {
            data: FileData::Host {
                path: plain,
                len: 123_457,
                sha256: None,
            },
            sparse: false,
        },
    );
    t
}

pub fn tmp_img(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn rich_tree_passes_fsck_dump_and_mounts_equal() {
    let d = tempfile::tempdir().unwrap();
    let t = rich_tree(d.path());
    let img = tmp_img(d.path(), "rich.erofs");
    let o = opts();
    let r = write_image(&t, &o, &img);
    assert!(r.geometry.extended_inodes >= 3, "{:?}", r.geometry);
    assert!(r.geometry.compact_inodes > 600);
    assert!(r.geometry.inline_inodes > 600);
    assert_eq!(r.geometry.chunked_inodes, 1);
    assert!(r.geometry.shared_xattrs_bytes > 0);
    validate(&img, &t, &o);
}

#[test]
fn empty_tree_and_tiny_trees() {
    let d = tempfile::tempdir().unwrap();
    let t = Tree::new(meta(0o700));
    let img = tmp_img(d.path(), "empty.erofs");
    write_image(&t, &opts(), &img);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 4096);
    validate(&img, &t, &opts());
}

#[test]
fn dedupe_shares_blocks_of_equal_files() {
    let d = tempfile::tempdir().unwrap();
    let mut t = Tree::new(meta(0o755));
    let body = pattern(50_000, 77);
    for i in 0..20 {
        add(
            &mut t,
            NodeId::ROOT,
            format!("copy-{i:02}").as_bytes(),
            0o644,
            inline(&body),
        );
    }
    add(
        &mut t,
        NodeId::ROOT,
        b"other",
        0o644,
        inline(&pattern(50_000, 78)),
    );
    let plain = tmp_img(d.path(), "nodedupe.erofs");
    let deduped = tmp_img(d.path(), "dedupe.erofs");
    let r0 = write_image(&t, &opts(), &plain);
    let o = ErofsOptions {
        dedupe: true,
        ..opts()
    };
    let r1 = write_image(&t, &o, &deduped);
    assert_eq!(r1.geometry.deduplicated_bytes, 19 * 50_000);
    let (a, b) = (r0.geometry.bytes(), r1.geometry.bytes());
    assert!(
        a - b >= 19 * 48 * 1024,
        "dedupe saves the copies' blocks: {a} vs {b}"
    );
    validate(&plain, &t, &opts());
    validate(&deduped, &t, &o);
}

/// What the reader shows of one entry: inode, xattrs, content.
type Seen = BTreeMap<String, (erofs::read::Node, Vec<(String, Vec<u8>)>, Vec<u8>)>;

/// Everything the reader sees under `nid`, keyed by path.
fn walk_reader<I: erofs::read::Image + ?Sized>(
    r: &erofs::read::Reader<I>,
    nid: u64,
    path: String,
    out: &mut Seen,
    budget: &mut usize,
    cap: u64,
) -> Result<(), erofs::read::ReadError> {
    // A damaged image can hold a directory cycle: stop deep, not at the
    // stack's end.
    if *budget == 0 || path.matches('/').count() > 64 {
        return Ok(());
    }
    *budget -= 1;
    let n = r.node(nid)?;
    let x = r.xattrs(&n)?;
    let content = if n.file_type() == erofs::dir::FileType::Dir {
        Vec::new()
    } else {
        let mut v = vec![0u8; n.inode.size.min(cap) as usize];
        let got = r.read_at(&n, 0, &mut v)?;
        v.truncate(got);
        v
    };
    let is_dir = n.file_type() == erofs::dir::FileType::Dir;
    out.insert(path.clone(), (n.clone(), x, content));
    if is_dir {
        for (name, child, _) in r.read_dir(&n)? {
            let p = format!(
                "{}/{}",
                path.trim_end_matches('/'),
                String::from_utf8_lossy(&name)
            );
            if !out.contains_key(&p) {
                walk_reader(r, child, p, out, budget, cap)?;
            }
        }
    }
    Ok(())
}

#[test]
fn reader_reads_back_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let t = rich_tree(d.path());
    let img = tmp_img(d.path(), "rich.erofs");
    write_image(&t, &opts(), &img);
    reader_matches(&img, &t);
}

/// fstool's EROFS reader sees exactly `t` in `img`: every path, mode,
/// owner, time, link count, xattr, content byte, link target and device.
fn reader_matches(img: &Path, t: &Tree) {
    let r = erofs::read::Reader::open(Box::new(std::fs::File::open(img).unwrap())).unwrap();
    let mut seen = BTreeMap::new();
    walk_reader(
        &r,
        r.root(),
        "/".into(),
        &mut seen,
        &mut usize::MAX.clone(),
        u64::MAX,
    )
    .unwrap();
    assert_eq!(seen.len(), t.nodes.len());
    let links = t.link_counts();
    for id in t.preorder() {
        let rel = t.path_of(id);
        let (n, x, content) = &seen[&rel];
        let owner = match t.node(id).kind {
            NodeKind::HardLink { target } => target,
            _ => id,
        };
        let m = &t.node(owner).meta;
        assert_eq!(n.inode.mode & 0o7777, m.mode, "{rel}");
        assert_eq!((n.inode.uid, n.inode.gid), (m.uid, m.gid), "{rel}");
        assert_eq!(
            (n.inode.mtime, n.inode.mtime_nsec),
            (m.mtime.secs, m.mtime.nanos),
            "{rel}"
        );
        assert_eq!(n.inode.nlink, links[owner.index()], "{rel}");
        assert_eq!(x, &m.xattrs, "{rel}");
        match &t.node(owner).kind {
            NodeKind::File { data, .. } => assert!(content == &content_of(data), "{rel}: content"),
            NodeKind::Symlink { target } => assert_eq!(content, target, "{rel}"),
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                assert_eq!(
                    erofs::inode::decode_rdev(n.inode.i_u),
                    (*major, *minor),
                    "{rel}"
                )
            }
            _ => {}
        }
    }
}

#[test]
fn hostile_images_never_panic() {
    hostile_rounds(&opts());
}

#[test]
fn hostile_compressed_images_never_panic() {
    hostile_rounds(&ErofsOptions {
        lz4: true,
        ..opts()
    });
}

/// Damages the rich tree's image (metadata bytes, the superblock
/// checksum resealed half the time, truncation) and reads everything.
fn hostile_rounds(o: &ErofsOptions) {
    let d = tempfile::tempdir().unwrap();
    let mut t = rich_tree(d.path());
    add_compressible(&mut t);
    let img = tmp_img(d.path(), "rich.erofs");
    let r = write_image(&t, o, &img);
    let clean = std::fs::read(&img).unwrap();
    let meta_len = (r.geometry.metadata_blocks * 4096) as usize;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut opened, mut failed) = (0, 0);
    for round in 0..1500 {
        let mut b = clean.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % meta_len;
            b[at] = next() as u8;
        }
        if round % 10 == 0 {
            b.truncate((next() as usize) % b.len());
        }
        // Half the rounds keep a valid checksum so the reader goes deeper.
        if round % 2 == 0 && b.len() >= 4096 {
            erofs::superblock::seal(&mut b[..4096]);
        }
        let mut mem = fstool::io::MemDevice::new(b.len());
        mem.write_at(0, &b).unwrap();
        let _ = erofs::probe::probe(&mem);
        match erofs::read::Reader::open(b.into_boxed_slice()) {
            Ok(r) => {
                opened += 1;
                let mut seen = BTreeMap::new();
                if walk_reader(&r, r.root(), "/".into(), &mut seen, &mut 5000, 1 << 16).is_err() {
                    failed += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    assert!(opened > 500, "most sealed images open: {opened}");
    assert!(failed > 100, "corruption is noticed: {failed}");
}

/// Files that LZ4 shrinks, at sizes around block and extent boundaries,
/// and one that only partly compresses.
fn add_compressible(t: &mut Tree) {
    let z = add(t, NodeId::ROOT, b"z", 0o755, dir());
    let text = |n: usize, seed: usize| -> Vec<u8> {
        (0..)
            .flat_map(|i: usize| {
                format!("{} line {} of fstool\n", seed, (i * 7919) % 1000).into_bytes()
            })
            .take(n)
            .collect()
    };
    for (i, n) in [4097usize, 8192, 8193, 65_536, 65_537, 300_001, 1_000_000]
        .into_iter()
        .enumerate()
    {
        add(
            t,
            z,
            format!("text-{n}").as_bytes(),
            0o644,
            inline(&text(n, i)),
        );
    }
    add(t, z, b"zeros", 0o644, inline(&vec![0u8; 200_000]));
    let mut mixed = pattern(100_000, 9);
    mixed.extend(text(100_000, 99));
    mixed.extend(pattern(5000, 10));
    add(t, z, b"mixed", 0o644, inline(&mixed));
}

#[test]
fn lz4_compressed_files_pass_fsck_mount_equal_and_read_back() {
    let d = tempfile::tempdir().unwrap();
    let mut t = rich_tree(d.path());
    add_compressible(&mut t);
    let plain = tmp_img(d.path(), "plain.erofs");
    let packed = tmp_img(d.path(), "lz4.erofs");
    let o = ErofsOptions {
        lz4: true,
        ..opts()
    };
    let before = write_image(&t, &opts(), &plain).geometry;
    let after = write_image(&t, &o, &packed).geometry;
    // Every text file and the zeros compress; random data stays plain.
    assert!(after.compressed_inodes >= 9, "{after:?}");
    // Saved against whole blocks; plain tails would have gone inline, and
    // the maps take some metadata.
    let fewer = before.used_blocks - after.used_blocks;
    assert!(
        fewer <= after.compression_saved_blocks && fewer * 10 >= after.compression_saved_blocks * 9,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.used_blocks * 2 < before.used_blocks,
        "{before:?} -> {after:?}"
    );
    validate(&packed, &t, &o);
    reader_matches(&packed, &t);
    insta::assert_snapshot!("erofs_rich_lz4_sha256", sha256_file(&packed));
}

#[test]
fn pinned_hashes() {
    let d = tempfile::tempdir().unwrap();
    let t = rich_tree(d.path());
    let img = tmp_img(d.path(), "pinned.erofs");
    write_image(&t, &opts(), &img);
    insta::assert_snapshot!("erofs_rich_sha256", sha256_file(&img));
    let o = fstool::verity::VerityOptions::from_seed("pinned", 0);
    let built = crate::verity::hash_file(&img, &o);
    insta::assert_snapshot!("erofs_rich_verity_roothash", hex(&built.root_hash));
    let deduped = tmp_img(d.path(), "pinned-dedupe.erofs");
    write_image(
        &t,
        &ErofsOptions {
            dedupe: true,
            ..opts()
        },
        &deduped,
    );
    insta::assert_snapshot!("erofs_rich_dedupe_sha256", sha256_file(&deduped));
}
