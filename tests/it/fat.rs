//! FAT12/16/32: build images from programmatic trees, then let fsck.fat and
//! mtools judge them and read every file back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fstool::fs::fat::{self, FatError, FatOptions, FatReport, FatType};
use fstool::io::{BlockDevice, MemDevice, SparseFile};
use fstool::spec::model::Unsupported;
use fstool::tree::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};

use crate::common::{self, hex, pattern, run, run_ok, tool};

/// Builds trees node by node, keeping children sorted by name bytes.
struct Tb {
    tree: Tree,
    t: Timestamp,
}

impl Tb {
    fn new(secs: i64) -> Tb {
        let t = Timestamp::from_secs(secs);
        Tb {
            tree: Tree::new(Meta::new(0o755, 0, 0, t)),
            t,
        }
    }

    fn add(&mut self, parent: NodeId, name: &str, mode: u16, kind: NodeKind) -> NodeId {
        let id = NodeId(self.tree.nodes.len() as u32);
        self.tree.nodes.push(Node {
            name: name.as_bytes().to_vec(),
            parent,
            meta: Meta::new(mode, 1000, 1000, self.t),
            kind,
        });
        let names: Vec<Vec<u8>> = self.tree.nodes.iter().map(|n| n.name.clone()).collect();
        let NodeKind::Dir { children } = &mut self.tree.nodes[parent.index()].kind else {
            panic!("parent is not a directory");
        };
        let pos = children
            .binary_search_by(|c| names[c.index()].as_slice().cmp(name.as_bytes()))
            .expect_err("duplicate name");
        children.insert(pos, id);
        id
    }

    fn lookup(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        self.tree
            .children(parent)
            .iter()
            .copied()
            .find(|c| self.tree.node(*c).name == name.as_bytes())
    }

    /// Creates (or finds) the directory at `path` ("a/b/c").
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

    fn host(&mut self, path: &str, src: &Path, sha: bool) -> NodeId {
        let bytes = std::fs::read(src).unwrap();
        let sha256 = sha.then(|| {
            use sha2::{Digest, Sha256};
            let d: [u8; 32] = Sha256::digest(&bytes).into();
            d
        });
        let (d, n) = Tb::split(path);
        let p = self.dir(d);
        self.add(
            p,
            n,
            0o644,
            NodeKind::File {
                data: FileData::Host {
                    path: src.to_path_buf(),
                    len: bytes.len() as u64,
                    sha256,
                },
                sparse: false,
            },
        )
    }

    fn other(&mut self, path: &str, kind: NodeKind) -> NodeId {
        let (d, n) = Tb::split(path);
        let p = self.dir(d);
        self.add(p, n, 0o644, kind)
    }
}

/// Every file of the tree by path (hard links as copies), and every dir.
fn expected(tree: &Tree) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for id in tree.preorder().into_iter().skip(1) {
        let node = tree.node(id);
        let kind = match &node.kind {
            NodeKind::HardLink { target } => &tree.node(*target).kind,
            k => k,
        };
        let v = match kind {
            NodeKind::Dir { .. } => None,
            NodeKind::File { data, .. } => Some(match data {
                FileData::Inline(v) => v.clone(),
                FileData::Host { path, .. } => std::fs::read(path).unwrap(),
            }),
            _ => continue,
        };
        out.insert(tree.path_of(id), v);
    }
    out
}

/// Everything under `root`, keyed like [`expected`].
fn walk(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().to_str().unwrap());
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

struct Built {
    _dir: tempfile::TempDir,
    img: PathBuf,
    report: FatReport,
}

fn build(tree: &Tree, opts: &FatOptions) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fat.img");
    let plan = fat::plan(tree, opts).unwrap();
    let f = std::fs::File::create(&img).unwrap();
    let mut dev = SparseFile::new(f, &img, plan.size_bytes()).unwrap();
    let report = fat::write(&plan, tree, &mut dev).unwrap();
    dev.finish().unwrap();
    Built {
        _dir: dir,
        img,
        report,
    }
}

fn mtools(name: &str) -> Option<Command> {
    let p = tool(name)?;
    let mut c = Command::new(p);
    c.env("MTOOLS_SKIP_CHECK", "1")
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8");
    Some(c)
}

/// `fsck.fat -n` and `fsck.fat -n -V` pass and say nothing beyond their
/// progress lines.
fn fsck_clean(img: &Path) {
    let Some(fsck) = tool("fsck.fat") else { return };
    for verify in [false, true] {
        let mut c = Command::new(&fsck);
        c.arg("-n");
        if verify {
            c.arg("-V");
        }
        let out = run_ok(c.arg(img));
        for line in out.lines() {
            let ok = line.starts_with("fsck.fat ")
                || line.starts_with("Checking we can access the last sector")
                || line == "Starting check/repair pass."
                || line == "Starting verification pass."
                || (line.contains(" files, ") && line.contains(" clusters"));
            assert!(
                ok,
                "fsck.fat -n{}: unexpected message {line:?}\n{out}",
                if verify { " -V" } else { "" }
            );
        }
    }
}

/// mcopy reads back every file and directory, with its long name and
/// contents equal to the source.
fn readback_equal(img: &Path, tree: &Tree) {
    let Some(mut mcopy) = mtools("mcopy") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    run_ok(
        mcopy
            .args(["-s", "-n", "-i"])
            .arg(img)
            .arg("::")
            .arg(out.path()),
    );
    let got = walk(out.path());
    let want = expected(tree);
    assert_eq!(got.len(), want.len(), "entry count differs");
    for (path, data) in &want {
        let g = got
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from mcopy output"));
        assert!(g == data, "{path}: contents differ");
    }
}

fn mdir(img: &Path, dir: &str) -> String {
    match mtools("mdir") {
        Some(mut c) => run_ok(c.args(["-a", "-i"]).arg(img).arg(format!("::{dir}"))),
        None => String::new(),
    }
}

fn minfo(img: &Path) -> Option<String> {
    let mut c = mtools("minfo")?;
    Some(run_ok(c.arg("-i").arg(img).arg("::")))
}

fn assert_minfo(img: &Path, expect: &[&str]) {
    if let Some(info) = minfo(img) {
        for e in expect {
            assert!(
                info.lines().any(|l| l.trim() == *e),
                "minfo lacks {e:?}:\n{info}"
            );
        }
    }
}

fn opts(t: Option<FatType>, size: Option<u64>) -> FatOptions {
    FatOptions {
        fat_type: t,
        size,
        volume_id: 0x1234_abcd,
        label: Some("FSTOOL".into()),
        ..FatOptions::default()
    }
}

/// A tree that exercises names, nesting and cluster boundaries for
/// clusters of `cluster` bytes.
fn rich_tree(cluster: usize, src: &Path) -> Tree {
    let mut b = Tb::new(1_700_000_000);
    b.file("README.TXT", b"upper 8.3\n".to_vec());
    b.file("readme2.txt", b"lower 8.3 with case bits\n".to_vec());
    b.file("MixedCase.Txt", b"mixed\n".to_vec());
    b.file("a long file name with spaces.text", pattern(3000, 1));
    b.file("Ünïcödé ファイル 名前.txt", pattern(700, 2));
    // BMP only: mtools decodes each UTF-16 unit on its own, so it cannot
    // read names outside the BMP back (the names unit tests cover the
    // surrogate pairs fstool writes).
    b.file("Ελληνικά και Кириллица.md", b"# text\n".to_vec());
    b.file(".hidden", b"dot\n".to_vec());
    b.file("many.dots.in.name.tar.gz", pattern(100, 3));
    b.file("empty", Vec::new());
    b.file("edge/exact_cluster", pattern(cluster, 4));
    b.file("edge/cluster_plus_one", pattern(cluster + 1, 5));
    b.file("edge/cluster_minus_one", pattern(cluster - 1, 6));
    b.file("edge/two_clusters", pattern(2 * cluster, 7));
    b.file("edge/zeros", vec![0; 3 * cluster + 17]);
    b.file("case_a/README", b"A\n".to_vec());
    b.file("case_b/readme", b"b\n".to_vec());
    for i in 0..6 {
        b.file(
            &format!("alias/longname_number_{i}.txt"),
            format!("{i}\n").into_bytes(),
        );
    }
    b.file(
        "alias/LONGNA~1.TXT",
        b"a real 8.3 name that looks like an alias\n".to_vec(),
    );
    let mut deep = String::new();
    for i in 0..12 {
        deep.push_str(&format!("level {i} directory/"));
    }
    b.file(&format!("{deep}leaf.bin"), pattern(5000, 8));
    b.dir("empty dir");
    let host = src.join("host.bin");
    std::fs::write(&host, pattern(3 * cluster + 100, 9)).unwrap();
    b.host("host/with sha.bin", &host, true);
    b.host("host/plain.bin", &host, false);
    let target = b.file("links/original.txt", b"shared\n".to_vec());
    b.other("links/hardlink.txt", NodeKind::HardLink { target });
    let ro = b.file("readonly.txt", b"ro\n".to_vec());
    b.tree.nodes[ro.index()].meta.mode = 0o444;
    b.tree
}

#[test]
fn fat12_floppy_names_and_boundaries() {
    let src = tempfile::tempdir().unwrap();
    let tree = rich_tree(512, src.path());
    let built = build(&tree, &opts(None, Some(1_474_560)));
    assert_eq!(built.report.geometry.fat_type, FatType::Fat12);
    assert_eq!(built.report.hardlinks_copied.len(), 1);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
    assert_minfo(
        &built.img,
        &[
            "cluster size: 1 sectors",
            "max available root directory slots: 224",
            "sectors per fat: 9",
            "small size: 2880 sectors",
            "media descriptor byte: 0xf0",
            "serial number: 1234ABCD",
            "disk label=\"FSTOOL     \"",
            "disk type=\"FAT12   \"",
        ],
    );
    let root = mdir(&built.img, "/");
    if !root.is_empty() {
        assert!(root.contains("Volume in drive : is FSTOOL"), "{root}");
        // Plain 8.3 names in one case need no long name; the NT case bits
        // make the lower-case one show lower-case.
        assert!(
            root.lines().any(|l| l.starts_with("README   TXT")),
            "{root}"
        );
        assert!(
            root.lines().any(|l| l.starts_with("readme2  txt")),
            "{root}"
        );
        assert!(
            root.contains("MIXEDC~1 TXT") || root.contains("MIXEDCAS TXT"),
            "{root}"
        );
        // UTC, never the local zone: 1_700_000_000 is 2023-11-14 22:13:20.
        assert!(root.contains("2023-11-14  22:13"), "{root}");
    }
    let alias = mdir(&built.img, "/alias");
    if !alias.is_empty() {
        // The real LONGNA~1.TXT keeps its name; aliases go around it, and
        // past ~4 take the hashed form.
        assert!(alias.contains("LONGNA~1 TXT        41"), "{alias}");
        for n in 2..=4 {
            assert!(alias.contains(&format!("LONGNA~{n} TXT")), "{alias}");
        }
        let hashed = alias
            .lines()
            .filter(|l| l.starts_with("LO") && l.contains("~1 TXT") && !l.starts_with("LONGNA"))
            .count();
        assert_eq!(hashed, 3, "{alias}");
    }
    if let Some(mut c) = mtools("mattrib") {
        let out = run_ok(
            c.arg("-i")
                .arg(&built.img)
                .args(["::/readonly.txt", "::/README.TXT"]),
        );
        // Attribute columns: archive, then read-only.
        let flags: Vec<&str> = out
            .lines()
            .map(|l| l.split("::").next().unwrap().trim())
            .collect();
        assert_eq!(flags, ["A    R", "A"], "{out}");
    }
    let hash = common::sha256_file(&built.img);
    insta::assert_snapshot!("fat12_floppy_sha256", hash);
}
