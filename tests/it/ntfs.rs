//! NTFS: build volumes from trees and let ntfsfix, ntfsinfo, ntfsls,
//! ntfscat and a read-only ntfs-3g FUSE mount judge them.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fstool::fs::ntfs::{self, NtfsOptions, NtfsReport};
use fstool::io::{BlockDevice, SparseFile};
use fstool::read::{self, Kind, VolumeReader};
use fstool::tree::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};

use crate::common::{run, run_ok, tool};

/// Builds trees node by node, keeping children sorted by name bytes.
struct Tb {
    tree: Tree,
    t: Timestamp,
}

impl Tb {
    fn new(secs: i64) -> Tb {
        let t = Timestamp {
            secs,
            nanos: 123_456_700,
        };
        Tb {
            tree: Tree::new(Meta::new(0o755, 0, 0, t)),
            t,
        }
    }

    fn add(&mut self, parent: NodeId, name: &str, mode: u16, kind: NodeKind) -> NodeId {
        let id = NodeId(self.tree.nodes.len() as u32);
        // Distinct times per node, so a mix-up shows.
        let t = Timestamp {
            secs: self.t.secs + i64::from(id.0) * 3600,
            nanos: self.t.nanos,
        };
        self.tree.nodes.push(Node {
            name: name.as_bytes().to_vec(),
            parent,
            meta: Meta::new(mode, 1000, 1000, t),
            kind,
        });
        let NodeKind::Dir { children } = &mut self.tree.nodes[parent.index()].kind else {
            panic!("parent is not a directory");
        };
        let mut children = std::mem::take(children);
        let nodes = &self.tree.nodes;
        let pos = children
            .binary_search_by(|c| nodes[c.index()].name.as_slice().cmp(name.as_bytes()))
            .expect_err("duplicate name");
        children.insert(pos, id);
        if let NodeKind::Dir { children: c } = &mut self.tree.nodes[parent.index()].kind {
            *c = children;
        }
        id
    }

    fn lookup(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        self.tree
            .children(parent)
            .iter()
            .copied()
            .find(|c| self.tree.node(*c).name == name.as_bytes())
    }

    fn dir(&mut self, path: &str) -> NodeId {
        let mut cur = NodeId::ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = match self.lookup(cur, part) {
                Some(id) => id,
                None => self.add(cur, part, 0o755, NodeKind::Dir { children: vec![] }),
            };
        }
        cur
    }

    fn split(path: &str) -> (&str, &str) {
        match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        }
    }

    fn file(&mut self, path: &str, data: Vec<u8>) -> NodeId {
        let (d, n) = Tb::split(path);
        let p = self.dir(d);
        self.add(
            p,
            n,
            0o644,
            NodeKind::File {
                data: FileData::Inline(data),
                sparse: false,
            },
        )
    }

    fn other(&mut self, path: &str, kind: NodeKind) -> NodeId {
        let (d, n) = Tb::split(path);
        let p = self.dir(d);
        self.add(p, n, 0o777, kind)
    }
}

/// What a reader should see at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// Every entry of the tree by path, with its mtime (seconds, nanoseconds
/// rounded to NT's 100 ns).
fn expected(tree: &Tree) -> Listing {
    let mut out = BTreeMap::new();
    for id in tree.preorder().into_iter().skip(1) {
        let node = tree.node(id);
        let owner = match &node.kind {
            NodeKind::HardLink { target } => tree.node(*target),
            _ => node,
        };
        let seen = match &owner.kind {
            NodeKind::Dir { .. } => Seen::Dir,
            NodeKind::File { data, .. } => Seen::File(match data {
                FileData::Inline(v) => v.clone(),
                FileData::Host { path, .. } => std::fs::read(path).unwrap(),
            }),
            NodeKind::Symlink { target } => {
                Seen::Symlink(String::from_utf8(target.clone()).unwrap())
            }
            _ => continue,
        };
        let m = owner.meta.mtime;
        out.insert(tree.path_of(id), (seen, m.secs, m.nanos / 100 * 100));
    }
    out
}

/// Everything under a mount point, keyed like [`expected`].
fn walk(root: &Path) -> Listing {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().to_str().unwrap());
            let md = std::fs::symlink_metadata(&p).unwrap();
            let seen = if md.file_type().is_symlink() {
                Seen::Symlink(
                    std::fs::read_link(&p)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string(),
                )
            } else if md.is_dir() {
                stack.push(p.clone());
                Seen::Dir
            } else {
                Seen::File(std::fs::read(&p).unwrap())
            };
            out.insert(rel, (seen, md.mtime(), md.mtime_nsec() as u32));
        }
    }
    out
}

struct Built {
    dir: tempfile::TempDir,
    img: PathBuf,
    report: NtfsReport,
}

fn build(tree: &Tree, opts: &NtfsOptions) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ntfs.img");
    let plan = ntfs::plan(tree, opts).unwrap();
    let f = std::fs::File::create(&img).unwrap();
    let mut dev = SparseFile::new(f, &img, plan.size_bytes()).unwrap();
    let report = ntfs::write(&plan, tree, &mut dev).unwrap();
    dev.finish().unwrap();
    // A copy to inspect by hand, when asked for.
    if let Some(keep) = std::env::var_os("FSTOOL_KEEP_IMAGES") {
        let name = format!(
            "ntfs-{}.img",
            std::thread::current()
                .name()
                .unwrap_or("x")
                .replace("::", "-")
        );
        std::fs::copy(&img, Path::new(&keep).join(name)).unwrap();
    }
    Built { dir, img, report }
}

fn opts() -> NtfsOptions {
    NtfsOptions {
        label: "fstool".into(),
        serial: 0x0123_4567_89ab_cdef,
        ..NtfsOptions::default()
    }
}

/// `ntfsfix -n` mounts the volume, compares $MFT with $MFTMirr, checks the
/// backup boot sector and $LogFile, and must find nothing to fix.
pub fn ntfsfix_clean(img: &Path) {
    let Some(fix) = tool("ntfsfix") else { return };
    let out = run_ok(Command::new(fix).arg("-n").arg(img));
    assert!(out.contains("processed successfully"), "ntfsfix -n:\n{out}");
    for bad in ["fix", "FAILED", "corrupt", "mismatch", "Error"] {
        if bad == "fix" {
            continue;
        }
        assert!(!out.contains(bad), "ntfsfix -n reports `{bad}`:\n{out}");
    }
}

/// `ntfsinfo -m` reads the volume; returns its output.
fn ntfsinfo(img: &Path) -> Option<String> {
    let info = tool("ntfsinfo")?;
    Some(run_ok(Command::new(info).arg("-m").arg(img)))
}

/// Mounts the image read-only with ntfs-3g and returns what it sees, plus
/// the inode number of each path. `None` when FUSE is unavailable.
/// Path → (what, mtime seconds, mtime nanoseconds).
type Listing = BTreeMap<String, (Seen, i64, u32)>;

fn fuse_walk(b: &Built) -> Option<(Listing, BTreeMap<String, u64>)> {
    with_ntfs3g(b, |mnt| {
        let seen = walk(mnt);
        let inos = seen
            .keys()
            .map(|k| {
                let p = mnt.join(k.trim_start_matches('/'));
                (k.clone(), std::fs::symlink_metadata(p).unwrap().ino())
            })
            .collect();
        (seen, inos)
    })
}

/// Runs `f` on a read-only ntfs-3g FUSE mount of the image, unmounting
/// afterwards even when `f` panics (the panic then goes on). `None` after
/// a skip notice when ntfs-3g or FUSE is unavailable.
fn with_ntfs3g<T>(b: &Built, f: impl FnOnce(&Path) -> T + std::panic::UnwindSafe) -> Option<T> {
    let ntfs3g = tool("ntfs-3g")?;
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIPPED: /dev/fuse is missing; the ntfs-3g readback did not run");
        return None;
    }
    let mnt = b.dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    run_ok(
        Command::new(ntfs3g)
            .arg("-o")
            .arg("ro")
            .arg(&b.img)
            .arg(&mnt),
    );
    let result = std::panic::catch_unwind(|| f(&mnt));
    run(Command::new("fusermount").arg("-u").arg(&mnt));
    match result {
        Ok(v) => Some(v),
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// What fstool's own NTFS reader sees, keyed like [`expected`]; hard links
/// checked to share their node.
fn reader_walk(img: &Path, tree: &Tree) -> Listing {
    let dev = fstool::io::MemDevice {
        data: std::fs::read(img).unwrap(),
    };
    let r = fstool::fs::ntfs::read::NtfsVolume::open(&dev).unwrap();
    let mut out = BTreeMap::new();
    let mut nodes = BTreeMap::new();
    for e in read::walk(&r).unwrap() {
        let path = String::from_utf8(e.path.clone()).unwrap();
        let md = r.metadata(e.node).unwrap();
        let seen = match md.kind {
            Kind::Dir => Seen::Dir,
            Kind::Symlink => Seen::Symlink(String::from_utf8(md.target.unwrap()).unwrap()),
            _ => Seen::File(read::read_file(&r, e.node, 1 << 30).unwrap()),
        };
        nodes.insert(path.clone(), e.node);
        out.insert(path, (seen, md.mtime.secs, md.mtime.nanos));
    }
    for id in tree.preorder() {
        if let NodeKind::HardLink { target } = tree.node(id).kind {
            assert_eq!(
                nodes[&tree.path_of(id)],
                nodes[&tree.path_of(target)],
                "reader: hard link {}",
                tree.path_of(id)
            );
        }
    }
    out
}

/// Every check: ntfsfix, ntfsinfo, ntfs-3g readback equal to the tree,
/// hard links sharing an inode, ntfsls listing the same names, and
/// fstool's own reader reading back the same.
fn check_all(b: &Built, tree: &Tree) {
    ntfsfix_clean(&b.img);
    ntfsinfo(&b.img);
    let want = expected(tree);
    let ours = reader_walk(&b.img, tree);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "fstool's reader lists other paths"
    );
    for (path, w) in &want {
        assert_eq!(&ours[path], w, "fstool's reader: {path}");
    }
    if let Some((got, inos)) = fuse_walk(b) {
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (path, w) in &want {
            assert_eq!(&got[path], w, "{path}");
        }
        for id in tree.preorder() {
            if let NodeKind::HardLink { target } = tree.node(id).kind {
                assert_eq!(
                    inos[&tree.path_of(id)],
                    inos[&tree.path_of(target)],
                    "{}",
                    tree.path_of(id)
                );
            }
        }
    }
    // ntfscat reads files through libntfs (attribute lists and split run
    // lists included); a sample of them keeps this quick.
    if let Some(cat) = tool("ntfscat") {
        let files = want.iter().filter_map(|(p, w)| match &w.0 {
            Seen::File(bytes) if bytes.len() < 64 << 20 => Some((p, bytes)),
            _ => None,
        });
        for (path, bytes) in files.step_by(1 + want.len() / 40) {
            let out = run(Command::new(&cat).arg(&b.img).arg(path));
            assert!(out.status.success(), "ntfscat {path} failed");
            assert!(&out.stdout == bytes, "ntfscat {path} reads other bytes");
        }
    }
    if let Some(ls) = tool("ntfsls") {
        let out = run_ok(Command::new(ls).arg("-R").arg("-a").arg(&b.img));
        for path in want.keys() {
            let name = path.rsplit('/').next().unwrap();
            assert!(
                out.lines().any(|l| l == name),
                "ntfsls -R lacks {path}:\n{out}"
            );
        }
    }
}

#[test]
fn empty_volume_passes_ntfsfix_and_ntfsinfo() {
    let tb = Tb::new(1_700_000_000);
    let b = build(&tb.tree, &opts());
    ntfsfix_clean(&b.img);
    if let Some(info) = ntfsinfo(&b.img) {
        assert!(info.contains("Volume Name: fstool"), "{info}");
        assert!(info.contains("Volume Version: 3.1"), "{info}");
        assert!(info.contains("Cluster Size: 4096"), "{info}");
        assert!(info.contains("MFT Record Size: 1024"), "{info}");
    }
    assert_eq!(b.report.serial, "0123456789ABCDEF");
}

fn rich_tree() -> Tree {
    let mut tb = Tb::new(1_600_000_000);
    tb.file("hello.txt", b"hello, world\n".to_vec());
    tb.file("empty", Vec::new());
    tb.file(
        "dir/small.bin",
        (0..700u32).map(|i| (i * 7) as u8).collect(),
    );
    tb.file(
        "dir/big.bin",
        (0..300_000u32).map(|i| (i * 13 + i / 256) as u8).collect(),
    );
    tb.file("dir/sub/deeper/leaf", b"leaf".to_vec());
    tb.file("Case", b"upper".to_vec());
    tb.file("case", b"lower".to_vec());
    tb.file("CASE", b"all".to_vec());
    tb.file("ünïcødé ✓ 日本語 😀.txt", b"unicode".to_vec());
    tb.file("what?.txt", b"posix only".to_vec());
    tb.file("trailing.", b"dot".to_vec());
    let target = tb.file("dir/linked", b"shared data".to_vec());
    tb.other("hard1", NodeKind::HardLink { target });
    tb.other("dir/sub/hard2", NodeKind::HardLink { target });
    tb.other(
        "rel-link",
        NodeKind::Symlink {
            target: b"dir/sub/deeper/leaf".to_vec(),
        },
    );
    tb.other(
        "dir/up-link",
        NodeKind::Symlink {
            target: b"../hello.txt".to_vec(),
        },
    );
    tb.dir("empty-dir");
    tb.tree
}

#[test]
fn rich_tree_reads_back_through_ntfs3g() {
    let tree = rich_tree();
    let b = build(&tree, &opts());
    check_all(&b, &tree);
}

#[test]
fn absolute_symlink_reads_back() {
    let mut tb = Tb::new(1_000_000_000);
    tb.other(
        "abs",
        NodeKind::Symlink {
            target: b"/usr/lib/os-release".to_vec(),
        },
    );
    tb.other(
        "dotted",
        NodeKind::Symlink {
            target: b"./a b/c".to_vec(),
        },
    );
    let b = build(&tb.tree, &opts());
    check_all(&b, &tb.tree);
}

#[test]
fn ten_thousand_entries_make_a_multi_level_index() {
    let mut tb = Tb::new(1_500_000_000);
    for i in 0..10_000u32 {
        // Names with mixed case and widths so the collation order is not
        // the byte order.
        let name = match i % 4 {
            0 => format!("File-{i:05}.txt"),
            1 => format!("file_{i}"),
            2 => format!("Ärger {i}"),
            _ => format!("zz{}", i * 7919 % 10_007),
        };
        tb.file(&format!("big/{name}"), name.as_bytes().to_vec());
    }
    let tree = tb.tree;
    let b = build(&tree, &opts());
    check_all(&b, &tree);
}

#[test]
fn unsupported_entries_error_or_skip() {
    let mut tb = Tb::new(1_000_000_000);
    tb.file("keep", b"k".to_vec());
    tb.other("dev/null", NodeKind::CharDev { major: 1, minor: 3 });
    tb.other("dev/fifo", NodeKind::Fifo);
    let err = ntfs::plan(&tb.tree, &opts()).unwrap_err();
    assert!(
        err.to_string().contains("/dev/fifo is a fifo") && err.to_string().contains("unsupported"),
        "{err}"
    );
    let skip = NtfsOptions {
        unsupported: fstool::spec::model::Unsupported::Skip,
        ..opts()
    };
    let b = build(&tb.tree, &skip);
    let paths: Vec<_> = b.report.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/dev/fifo", "/dev/null"]);
    let mut want = tb.tree.clone();
    for n in want.nodes.iter_mut() {
        if let NodeKind::Dir { children } = &mut n.kind {
            children.retain(|c| c.0 != 3 && c.0 != 4);
        }
    }
    check_all(&b, &want);
}

#[test]
fn bad_names_and_sizes_are_clear_errors() {
    let mut tb = Tb::new(0);
    tb.file("$MFT", Vec::new());
    let err = ntfs::plan(&tb.tree, &opts()).unwrap_err().to_string();
    assert!(err.contains("/$MFT") && err.contains("reserved"), "{err}");

    let mut tb = Tb::new(0);
    tb.file(&"x".repeat(256), Vec::new());
    let err = ntfs::plan(&tb.tree, &opts()).unwrap_err().to_string();
    assert!(err.contains("255 UTF-16 units"), "{err}");

    let mut tb = Tb::new(0);
    tb.file("data", vec![1; 1 << 20]);
    let small = NtfsOptions {
        size: Some(1 << 20),
        ..opts()
    };
    let err = ntfs::plan(&tb.tree, &small).unwrap_err().to_string();
    assert!(err.contains("needs a") && err.contains("1048576"), "{err}");

    for (field, o) in [
        (
            "cluster_size",
            NtfsOptions {
                cluster_size: 3000,
                ..opts()
            },
        ),
        (
            "mft_record_size",
            NtfsOptions {
                mft_record_size: 2048,
                ..opts()
            },
        ),
        (
            "label",
            NtfsOptions {
                label: "l".repeat(129),
                ..opts()
            },
        ),
    ] {
        let err = ntfs::plan(&tb.tree, &o).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
}

#[test]
fn cluster_and_record_sizes() {
    let tree = rich_tree();
    for (cluster, record) in [(512, 1024), (1024, 1024), (65536, 4096), (8192, 4096)] {
        let o = NtfsOptions {
            cluster_size: cluster,
            mft_record_size: record,
            ..opts()
        };
        let b = build(&tree, &o);
        check_all(&b, &tree);
        if let Some(info) = ntfsinfo(&b.img) {
            assert!(
                info.contains(&format!("Cluster Size: {cluster}\n")),
                "{info}"
            );
            assert!(
                info.contains(&format!("MFT Record Size: {record}\n")),
                "{info}"
            );
        }
    }
}

#[test]
fn a_thousand_hard_links_spill_into_extension_records() {
    let mut tb = Tb::new(1_600_000_000);
    let small = tb.file("data/original", b"one file, a thousand names".to_vec());
    for i in 0..1000 {
        tb.other(
            &format!("links/{:02}/name-{i:04}", i % 10),
            NodeKind::HardLink { target: small },
        );
    }
    // Non-resident data with many long names: the run list goes to an
    // extension record along with names.
    let big = tb.file("data/big", crate::common::pattern(100_000, 7));
    for i in 0..300 {
        tb.other(
            &format!("big-links/a rather long name for the link number {i:04}"),
            NodeKind::HardLink { target: big },
        );
    }
    let tree = tb.tree;
    let b = build(&tree, &opts());
    check_all(&b, &tree);
    // The same with 4096-byte records, which need fewer extensions.
    let b = build(
        &tree,
        &NtfsOptions {
            mft_record_size: 4096,
            ..opts()
        },
    );
    check_all(&b, &tree);
}

#[test]
fn sparse_file_in_ten_thousand_fragments() {
    let mut tb = Tb::new(1_600_000_000);
    tb.file("fragmented.bin", crate::common::fragmented(10_000, 512));
    let mut ends = vec![0u8; 3 << 20];
    ends[..5].copy_from_slice(b"start");
    let n = ends.len();
    ends[n - 3..].copy_from_slice(b"end");
    tb.file("ends.bin", ends);
    tb.file("zeros.bin", vec![0u8; (1 << 20) + 1]);
    tb.file("dense.bin", crate::common::pattern(200_000, 3));
    let tree = tb.tree;
    let o = NtfsOptions {
        cluster_size: 512,
        sparse: true,
        ..opts()
    };
    let b = build(&tree, &o);
    check_all(&b, &tree);
    // Only data clusters are allocated: about 10,000 + 2 + 391 of them,
    // against 20,000 + 6,144 + 2,049 + 391 without holes.
    let dense = build(
        &tree,
        &NtfsOptions {
            sparse: false,
            ..o.clone()
        },
    );
    check_all(&dense, &tree);
    let saved = dense.report.used_clusters - b.report.used_clusters;
    assert!(
        saved > 10_000 + 6_000 + 2_000,
        "sparse saved only {saved} clusters"
    );
}

#[test]
fn longest_names_with_characters_beyond_the_bmp() {
    let mut tb = Tb::new(1_600_000_000);
    // 255 UTF-16 units each: 127 surrogate pairs and one more unit.
    let emoji = format!("{}x", "😀".repeat(127));
    let math = format!("{}y", "𝔘".repeat(127));
    let plain = "n".repeat(255);
    for name in [&emoji, &math, &plain] {
        assert_eq!(name.encode_utf16().count(), 255);
    }
    let f = tb.file(&format!("{emoji}/{math}"), b"deep and long".to_vec());
    tb.file(&plain, b"plain".to_vec());
    // Five 255-unit names of one file overflow a 1 KiB record.
    for c in ['a', 'b', 'c', 'd'] {
        tb.other(
            &format!("{}{c}", "😀".repeat(127)),
            NodeKind::HardLink { target: f },
        );
    }
    // Names that differ only in case, at full length too.
    tb.file(&format!("{}A", "z".repeat(254)), b"upper".to_vec());
    tb.file(&format!("{}a", "z".repeat(254)), b"lower".to_vec());
    let tree = tb.tree;
    let b = build(&tree, &opts());
    check_all(&b, &tree);
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn hundred_thousand_entries_in_one_directory() {
    let mut tb = Tb::new(1_500_000_000);
    for i in 0..100_000u32 {
        let name = match i % 3 {
            0 => format!("Entry {i:06}.dat"),
            1 => format!("entry_{i}"),
            _ => format!("Ünïcode {}", i * 7919 % 100_003),
        };
        tb.file(&format!("big/{name}"), Vec::new());
    }
    let tree = tb.tree;
    let b = build(&tree, &opts());
    check_all(&b, &tree);
}

#[test]
#[ignore = "scale test: run by scripts/test.sh (CI)"]
fn five_gib_file_sparse_and_dense() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("five.bin");
    let len: u64 = 5 << 30;
    let f = std::fs::File::create(&src).unwrap();
    f.set_len(len).unwrap();
    let marks = [
        (0u64, b"first".as_slice()),
        (len / 2 + 12_345, b"middle"),
        (len - 4, b"last"),
    ];
    for (at, m) in marks {
        f.write_all_at(m, at).unwrap();
    }
    drop(f);
    let mut tb = Tb::new(1_600_000_000);
    let (_, n) = Tb::split("five.bin");
    tb.add(
        NodeId::ROOT,
        n,
        0o644,
        NodeKind::File {
            data: FileData::Host {
                path: src.clone(),
                len,
                sha256: None,
            },
            sparse: true,
        },
    );
    let tree = tb.tree;
    for sparse in [true, false] {
        let b = build(
            &tree,
            &NtfsOptions {
                sparse,
                size: (!sparse).then_some(6 << 30),
                ..opts()
            },
        );
        ntfsfix_clean(&b.img);
        if sparse {
            assert!(b.report.used_clusters < 10_000, "{:?}", b.report);
        }
        // fstool's reader, and ntfs-3g: the size, the marks, and zeros
        // between them.
        let img = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&b.img)
            .unwrap();
        let size = img.metadata().unwrap().len();
        let dev = SparseFile::new(img, &b.img, size).unwrap();
        let r = ntfs::read::NtfsVolume::open(&dev).unwrap();
        let node = read::lookup(&r, b"/five.bin", false).unwrap();
        assert_eq!(r.metadata(node).unwrap().size, len);
        for (at, m) in marks {
            let mut buf = vec![0u8; m.len() + 8];
            let got = r.read_at(node, at, &mut buf).unwrap();
            assert_eq!(&buf[..m.len()], m, "reader at {at}");
            assert!(buf[m.len()..got].iter().all(|&x| x == 0));
        }
        with_ntfs3g(&b, |mnt| {
            let f = std::fs::File::open(mnt.join("five.bin")).unwrap();
            assert_eq!(f.metadata().unwrap().len(), len);
            for (at, m) in marks {
                let mut buf = vec![0u8; m.len()];
                f.read_exact_at(&mut buf, at).unwrap();
                assert_eq!(buf, m, "ntfs-3g at {at}");
            }
            let mut hole = vec![1u8; 65536];
            f.read_exact_at(&mut hole, len / 4).unwrap();
            assert!(hole.iter().all(|&x| x == 0));
        });
    }
}
