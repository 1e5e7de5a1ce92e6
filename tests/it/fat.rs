//! FAT12/16/32: build images from programmatic trees, then let fsck.fat and
//! mtools judge them and read every file back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fstool::fs::fat::{self, FatError, FatOptions, FatReport, FatType};
use fstool::io::{BlockDevice, MemDevice, ReadAt, SparseFile};
use fstool::read::{self, Kind, ReadError, VolumeReader};
use fstool::spec::model::Unsupported;
use fstool::tree::{FileData, Meta, Node, NodeId, NodeKind, Timestamp, Tree};

use crate::common::{
    self, fstool, fstool_build, pattern, run, run_ok, toml_path, tool, write_file,
};

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

/// Everything the crate's own reader sees, keyed like [`expected`].
fn reader_walk(dev: &dyn ReadAt) -> Result<BTreeMap<String, Option<Vec<u8>>>, ReadError> {
    let r = fat::FatVolume::open(dev)?;
    let mut out = BTreeMap::new();
    for e in read::walk(&r)? {
        if e.kind == Kind::Dir {
            out.insert(e.path_lossy(), None);
        } else {
            out.insert(e.path_lossy(), Some(read::read_file(&r, e.node, 1 << 30)?));
        }
    }
    Ok(out)
}

/// The crate's reader sees exactly the tree.
fn reader_equal(img: &Path, tree: &Tree) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let dev = SparseFile::new(f, img, len).unwrap();
    let got = reader_walk(&dev).unwrap();
    let want = expected(tree);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, data) in &want {
        assert!(&got[path] == data, "{path}: contents differ");
    }
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

/// Runs an mtools command that must succeed without a word on stderr (mtools
/// warns there about inconsistent volumes).
fn run_quiet(cmd: &mut Command) -> String {
    let out = run_ok_output(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "{cmd:?} warned:\n{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_ok_output(cmd: &mut Command) -> std::process::Output {
    let out = common::run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `fsck.fat -n` and `fsck.fat -n -V` pass and say nothing beyond their
/// progress lines.
pub fn fsck_clean(img: &Path) {
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
    run_quiet(
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
        Some(mut c) => run_quiet(c.args(["-a", "-i"]).arg(img).arg(format!("::{dir}"))),
        None => String::new(),
    }
}

fn minfo(img: &Path) -> Option<String> {
    let mut c = mtools("minfo")?;
    Some(run_quiet(c.arg("-i").arg(img).arg("::")))
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
    reader_equal(&built.img, &tree);
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

#[test]
fn fat16_pinned_volume_with_many_files() {
    let src = tempfile::tempdir().unwrap();
    let mut tree = rich_tree(2048, src.path());
    // These names are dated 1970, before FAT's range: clamped to 1980.
    tree.time_range = fstool::spec::TimeRange::Clamp;
    let mut b = Tb {
        tree,
        t: Timestamp::from_secs(0),
    };
    // 5,000 names in one directory, most sharing one alias basis.
    for i in 0..5000 {
        let data = if i % 7 == 0 {
            Vec::new()
        } else {
            format!("file {i}\n").into_bytes()
        };
        b.file(&format!("many/Document number {i:05}.txt"), data);
    }
    tree = b.tree;
    let mut o = opts(Some(FatType::Fat16), Some(16 << 20));
    o.label = Some("fat16 vol".into());
    let built = build(&tree, &o);
    let g = &built.report.geometry;
    assert_eq!(g.fat_type, FatType::Fat16);
    assert_eq!(g.sectors_per_cluster, 4);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
    reader_equal(&built.img, &tree);
    assert_minfo(
        &built.img,
        &[
            "cluster size: 4 sectors",
            "max available root directory slots: 512",
            "disk type=\"FAT16   \"",
            "disk label=\"FAT16 VOL  \"",
            "serial number: 1234ABCD",
        ],
    );
    let many = mdir(&built.img, "/many");
    if !many.is_empty() {
        // mdir counts "." and "..".
        assert!(many.contains("5002 files"), "{}", &many[many.len() - 200..]);
        // All 5,000 names share one basis: ~1..~4, then the hashed form.
        assert!(many.contains("DOCUME~4 TXT"), "no ~4 alias");
        assert!(!many.contains("DOCUME~5 TXT"), "~5 must be hashed");
    }
    insta::assert_snapshot!("fat16_16mib_sha256", common::sha256_file(&built.img));
}

/// The EFI system partition shape: FAT32, 260 MiB, 512-byte clusters.
#[test]
fn fat32_esp_260mib() {
    let src = tempfile::tempdir().unwrap();
    let loader = src.path().join("BOOTX64.EFI");
    std::fs::write(&loader, pattern(1 << 20 | 4321, 11)).unwrap();
    let mut b = Tb::new(1_600_000_000);
    b.host("EFI/BOOT/BOOTX64.EFI", &loader, true);
    b.file("EFI/systemd/systemd-bootx64.efi", pattern(90_000, 12));
    b.file(
        "loader/loader.conf",
        b"default arch.conf\ntimeout 3\n".to_vec(),
    );
    b.file(
        "loader/entries/arch.conf",
        b"title Arch Linux\nlinux /vmlinuz-linux\n".to_vec(),
    );
    b.file("vmlinuz-linux", pattern(3 << 20, 13));
    b.file("exact", pattern(512, 14));
    b.file("plus one", pattern(513, 15));
    b.file("empty file", Vec::new());
    let tree = b.tree;
    let mut o = opts(Some(FatType::Fat32), Some(260 << 20));
    o.label = Some("ESP".into());
    let built = build(&tree, &o);
    let g = &built.report.geometry;
    assert_eq!((g.fat_type, g.cluster_bytes()), (FatType::Fat32, 512));
    assert!(g.cluster_count >= 65525);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
    reader_equal(&built.img, &tree);
    assert_minfo(
        &built.img,
        &[
            "cluster size: 1 sectors",
            "reserved (boot) sectors: 32",
            "fats: 2",
            "disk type=\"FAT32   \"",
            "disk label=\"ESP        \"",
            "rootCluster=2",
            "infoSector location=1",
            "backup boot sector=6",
        ],
    );
    // FSInfo's free count equals what the FAT says.
    if let Some(info) = minfo(&built.img) {
        let free_line = format!("free clusters={}", built.report.free_clusters);
        assert!(info.contains(&free_line), "{free_line} not in\n{info}");
    }
    // The image stays sparse: the FATs are mostly zero and never written.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&built.img).unwrap();
    assert_eq!(md.len(), 260 << 20);
    assert!(
        md.blocks() * 512 < 12 << 20,
        "{} bytes allocated",
        md.blocks() * 512
    );
    insta::assert_snapshot!("fat32_esp_260mib_sha256", common::sha256_file(&built.img));
}

#[test]
fn fat32_auto_size_root_with_5000_files_and_headroom() {
    let mut b = Tb::new(0);
    for i in 0..5000 {
        b.file(&format!("entry-{i:04}.data"), pattern(i % 1500, i as u64));
    }
    b.file(
        "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/leaf",
        b"deep\n".to_vec(),
    );
    let tree = b.tree;
    let mut o = opts(Some(FatType::Fat32), None);
    o.headroom_bytes = 1 << 20;
    let built = build(&tree, &o);
    let g = &built.report.geometry;
    assert_eq!(g.fat_type, FatType::Fat32);
    assert!(u64::from(built.report.free_clusters) * u64::from(g.cluster_bytes()) >= 1 << 20);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
}

#[test]
fn auto_sizes_are_small_and_valid() {
    let src = tempfile::tempdir().unwrap();
    for t in [None, Some(FatType::Fat12), Some(FatType::Fat16)] {
        let tree = rich_tree(2048, src.path());
        let built = build(&tree, &opts(t, None));
        if let Some(t) = t {
            assert_eq!(built.report.geometry.fat_type, t);
        }
        fsck_clean(&built.img);
        readback_equal(&built.img, &tree);
        // Within a few clusters of the data it holds.
        let g = &built.report.geometry;
        let slack = u64::from(built.report.free_clusters) * u64::from(g.cluster_bytes());
        // (FAT16 cannot go below 4085 clusters, whatever the tree.)
        let at_type_minimum = g.fat_type == FatType::Fat16 && g.cluster_count < 4085 + 64;
        assert!(
            slack <= 64 * 1024 || at_type_minimum,
            "{t:?}: {slack} bytes free, {g:?}"
        );
    }
}

/// A tree whose node order depends on `reverse`; the sorted tree does not.
fn order_tree(reverse: bool) -> Tree {
    let mut b = Tb::new(1_234_567_891);
    let mut names: Vec<String> = (0..40)
        .map(|i| format!("dir {}/File name {i}.txt", i % 3))
        .collect();
    names.push("Zeta".into());
    names.push("alpha.TXT".into());
    if reverse {
        names.reverse();
    }
    for n in &names {
        let seed = n.len() as u64 * 31 + n.bytes().map(u64::from).sum::<u64>();
        b.file(n, pattern(1000 + (seed as usize % 3000), seed));
    }
    b.tree
}

/// Run by [`same_bytes_under_any_time_zone_and_build_order`] in a child
/// process with another `TZ` (changing the environment of this
/// multi-threaded process would race with the other tests).
#[test]
#[ignore = "helper: run by same_bytes_under_any_time_zone_and_build_order"]
fn tz_child_prints_hash() {
    let built = build(&order_tree(true), &opts(None, None));
    println!("HASH={}", common::sha256_file(&built.img));
}

#[test]
fn same_bytes_under_any_time_zone_and_build_order() {
    let a = order_tree(false);
    let b = order_tree(true);
    assert_ne!(a, b, "the trees differ in node order");
    let h1 = common::sha256_file(&build(&a, &opts(None, None)).img);
    let h2 = common::sha256_file(&build(&b, &opts(None, None)).img);
    assert_eq!(h1, h2, "build order changed the image");
    // The writer never looks at the zone; prove it from other zones.
    for tz in ["Pacific/Kiritimati", "America/St_Johns", "UTC"] {
        let out = run_ok(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "fat::tz_child_prints_hash",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env("TZ", tz),
        );
        let hash = out
            .lines()
            .find_map(|l| l.strip_prefix("HASH="))
            .unwrap_or_else(|| panic!("no hash from the child:\n{out}"));
        assert_eq!(hash, h1, "TZ={tz}");
    }
}

fn plan_err(tree: &Tree, o: &FatOptions) -> FatError {
    fat::plan(tree, o).expect_err("plan must fail")
}

#[test]
fn unsupported_entries_error_or_skip() {
    let mut b = Tb::new(0);
    b.file("a/file", b"x".to_vec());
    b.other(
        "a/link",
        NodeKind::Symlink {
            target: b"file".to_vec(),
        },
    );
    b.other("b/fifo", NodeKind::Fifo);
    b.other("c/null", NodeKind::CharDev { major: 1, minor: 3 });
    let tree = b.tree;
    let err = plan_err(&tree, &opts(None, None));
    assert!(
        matches!(&err, FatError::Unsupported { path, kind: "symlink" } if path == "/a/link"),
        "{err}"
    );
    assert!(err.to_string().contains("/a/link"));
    let mut o = opts(None, None);
    o.unsupported = Unsupported::Skip;
    let built = build(&tree, &o);
    let skipped: Vec<_> = built
        .report
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.kind))
        .collect();
    assert_eq!(
        skipped,
        [
            ("/a/link", "symlink"),
            ("/b/fifo", "fifo"),
            ("/c/null", "char-device")
        ]
    );
    fsck_clean(&built.img);
    let mut want = tree.clone();
    // What mcopy must see: the tree without the skipped entries.
    for n in &mut want.nodes {
        if let NodeKind::Dir { children } = &mut n.kind {
            children.retain(|c| {
                matches!(
                    tree.node(*c).kind,
                    NodeKind::Dir { .. } | NodeKind::File { .. }
                )
            });
        }
    }
    readback_equal(&built.img, &want);
}

#[test]
fn bad_names_and_case_duplicates_are_errors() {
    for bad in [
        "what?",
        "a:b",
        "trailing.",
        "trailing ",
        "pipe|",
        "back\\slash",
        "star*",
        "q\"uote",
        "<x>",
    ] {
        let mut b = Tb::new(0);
        b.file(&format!("dir/{bad}"), vec![]);
        let err = plan_err(&b.tree, &opts(None, None));
        assert!(
            matches!(&err, FatError::InvalidName { path, .. } if path == &format!("/dir/{bad}")),
            "{bad}: {err}"
        );
    }
    let mut b = Tb::new(0);
    b.file("d/README", vec![]);
    b.file("d/readme", vec![]);
    let err = plan_err(&b.tree, &opts(None, None));
    assert!(
        matches!(&err, FatError::CaseDuplicate { first, second } if first == "/d/README" && second == "/d/readme"),
        "{err}"
    );
    let mut b = Tb::new(0);
    b.file("Straße", vec![]);
    b.file("STRASSE", vec![]);
    b.file("ÄBC", vec![]);
    b.file("äbc", vec![]);
    assert!(matches!(
        plan_err(&b.tree, &opts(None, None)),
        FatError::CaseDuplicate { .. }
    ));
}

#[test]
fn sizes_and_options_are_checked() {
    let mut b = Tb::new(0);
    b.file("big", pattern(3 << 20, 1));
    let tree = b.tree;
    let err = plan_err(&tree, &opts(None, Some(1 << 20)));
    let FatError::TooSmall { needed, size } = err else {
        panic!("{err}")
    };
    assert_eq!(size, 1 << 20);
    assert!(needed > 3 << 20 && needed < 4 << 20, "{needed}");
    // The size it asks for is enough.
    fat::plan(&tree, &opts(None, Some(needed))).unwrap();

    type Tweak = Box<dyn Fn(&mut FatOptions)>;
    let bad: Vec<(&str, Tweak)> = vec![
        ("fats", Box::new(|o| o.fats = 3)),
        ("fats", Box::new(|o| o.fats = 0)),
        ("cluster_size", Box::new(|o| o.cluster_size = Some(1000))),
        ("cluster_size", Box::new(|o| o.cluster_size = Some(65536))),
        (
            "sectors_per_cluster",
            Box::new(|o| o.sectors_per_cluster = Some(3)),
        ),
        (
            "sectors_per_cluster",
            Box::new(|o| {
                o.sectors_per_cluster = Some(4);
                o.cluster_size = Some(4096);
            }),
        ),
        ("root_entries", Box::new(|o| o.root_entries = Some(17))),
        (
            "reserved_sectors",
            Box::new(|o| o.reserved_sectors = Some(0)),
        ),
        (
            "label",
            Box::new(|o| o.label = Some("much too long label".into())),
        ),
        ("label", Box::new(|o| o.label = Some("a/b".into()))),
        (
            "root_entries",
            Box::new(|o| {
                o.fat_type = Some(FatType::Fat32);
                o.root_entries = Some(512);
            }),
        ),
        (
            "reserved_sectors",
            Box::new(|o| {
                o.fat_type = Some(FatType::Fat32);
                o.reserved_sectors = Some(4);
            }),
        ),
    ];
    for (field, f) in bad {
        let mut o = opts(None, None);
        f(&mut o);
        match fat::plan(&tree, &o) {
            Err(FatError::Option { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // A FAT32 volume needs 65525 clusters; 16 MiB cannot have them, and
    // the error says what would do.
    let err = plan_err(&tree, &opts(Some(FatType::Fat32), Some(16 << 20)));
    let FatError::TooSmall { needed, .. } = err else {
        panic!("{err}")
    };
    assert!(needed > 32 << 20 && needed < 40 << 20, "{needed}");
    // FAT12 cannot be 600 MB at any cluster size.
    let err = plan_err(&tree, &opts(Some(FatType::Fat12), Some(600 << 20)));
    assert!(matches!(err, FatError::Geometry { .. }), "{err}");
    // Too many root entries for a fixed root directory.
    let mut b = Tb::new(0);
    for i in 0..20 {
        b.file(&format!("long root name {i}"), vec![]);
    }
    let mut o = opts(Some(FatType::Fat16), None);
    o.root_entries = Some(16);
    assert!(matches!(plan_err(&b.tree, &o), FatError::RootFull { .. }));
    // Explicit geometry is honoured.
    let mut o = opts(Some(FatType::Fat16), Some(32 << 20));
    o.sectors_per_cluster = Some(2);
    o.reserved_sectors = Some(8);
    o.fats = 1;
    o.root_entries = Some(1024);
    let built = build(&tree, &o);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
    assert_minfo(
        &built.img,
        &[
            "cluster size: 2 sectors",
            "reserved (boot) sectors: 8",
            "fats: 1",
            "max available root directory slots: 1024",
        ],
    );
}

#[test]
fn host_files_are_verified() {
    let src = tempfile::tempdir().unwrap();
    let p = src.path().join("f");
    std::fs::write(&p, pattern(200_000, 1)).unwrap();
    let mut b = Tb::new(0);
    let id = b.host("f", &p, true);
    let tree = b.tree;
    let plan = fat::plan(&tree, &opts(None, None)).unwrap();
    // Same length, different bytes: the hash catches it.
    std::fs::write(&p, pattern(200_000, 2)).unwrap();
    let mut dev = MemDevice::new(plan.size_bytes() as usize);
    let err = fat::write(&plan, &tree, &mut dev).unwrap_err();
    assert!(matches!(err, FatError::HashMismatch { .. }), "{err}");
    // A different length is a changed source, with or without a hash.
    std::fs::write(&p, pattern(1000, 2)).unwrap();
    let err = fat::write(&plan, &tree, &mut dev).unwrap_err();
    assert!(
        matches!(
            err,
            FatError::Io(fstool::io::IoError::SourceChanged {
                expected: 200_000,
                found: 1000,
                ..
            })
        ),
        "{err}"
    );
    let mut t2 = tree.clone();
    if let NodeKind::File {
        data: FileData::Host { sha256, .. },
        ..
    } = &mut t2.nodes[id.index()].kind
    {
        *sha256 = None;
    }
    let err = fat::write(&plan, &t2, &mut dev).unwrap_err();
    assert!(
        matches!(err, FatError::Io(fstool::io::IoError::SourceChanged { .. })),
        "{err}"
    );
}

#[test]
fn probe_reads_back_identity_and_survives_garbage() {
    let src = tempfile::tempdir().unwrap();
    let tree = rich_tree(512, src.path());
    for (t, size) in [
        (FatType::Fat12, 1_474_560u64),
        (FatType::Fat16, 20 << 20),
        (FatType::Fat32, 40 << 20),
    ] {
        let plan = fat::plan(&tree, &opts(Some(t), Some(size))).unwrap();
        let mut dev = MemDevice::new(plan.size_bytes() as usize);
        let rep = fat::write(&plan, &tree, &mut dev).unwrap();
        let info = fat::probe(&dev).expect("probe");
        assert_eq!(info.fat_type, t);
        assert_eq!(info.label.as_deref(), Some("FSTOOL"));
        assert_eq!(info.volume_id, Some(0x1234_abcd));
        assert_eq!(info.cluster_bytes, rep.cluster_bytes);
        assert_eq!(info.cluster_count, rep.geometry.cluster_count);
        assert_eq!(info.total_bytes, size);
        // Hostile bytes: flip boot-sector bytes one at a time and in
        // random bursts; probe may say anything but must not panic.
        let orig = dev.data[..512].to_vec();
        for (i, &o) in orig.iter().enumerate() {
            for v in [0u8, 0xff, o ^ 0x80] {
                dev.data[i] = v;
                let _ = fat::probe(&dev);
            }
            dev.data[i] = o;
        }
        for seed in 0..300 {
            let noise = pattern(512, seed);
            for (k, b) in noise.iter().enumerate() {
                if k % 3 == (seed % 3) as usize {
                    dev.data[k] = *b;
                }
            }
            dev.data[510] = 0x55;
            dev.data[511] = 0xaa;
            let _ = fat::probe(&dev);
            dev.data[..512].copy_from_slice(&orig);
        }
    }
    assert!(fat::probe(&MemDevice::new(100)).is_none());
    assert!(fat::probe(&MemDevice::new(4096)).is_none());
}

#[test]
fn hard_links_become_copies_and_are_reported() {
    let mut b = Tb::new(0);
    let t = b.file("orig", pattern(5000, 3));
    b.other("x/link1", NodeKind::HardLink { target: t });
    b.other("x/link2", NodeKind::HardLink { target: t });
    let tree = b.tree;
    let built = build(&tree, &opts(None, None));
    let copies: Vec<_> = built
        .report
        .hardlinks_copied
        .iter()
        .map(|h| (h.path.as_str(), h.target.as_str()))
        .collect();
    assert_eq!(copies, [("/x/link1", "/orig"), ("/x/link2", "/orig")]);
    fsck_clean(&built.img);
    readback_equal(&built.img, &tree);
    let json = serde_json::to_value(&built.report).unwrap();
    assert_eq!(json["volume_id"], "1234-ABCD");
    assert_eq!(json["geometry"]["fat_type"], "fat12");
}

/// A filesystem inside a partition fills it and writes nothing outside.
#[test]
fn fills_a_partition_window() {
    let mut b = Tb::new(0);
    b.file("hello.txt", b"hi\n".to_vec());
    let tree = b.tree;
    let mut disk = MemDevice::new(9 << 20);
    let mut o = opts(None, Some(8 << 20));
    o.hidden_sectors = 2048;
    let plan = fat::plan(&tree, &o).unwrap();
    assert_eq!(plan.size_bytes(), 8 << 20);
    {
        let mut part = fstool::io::Slice::new(&mut disk, 1 << 20, 8 << 20).unwrap();
        fat::write(&plan, &tree, &mut part).unwrap();
    }
    assert!(disk.data[..1 << 20].iter().all(|&x| x == 0));
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("p.img");
    std::fs::write(&img, &disk.data[1 << 20..]).unwrap();
    fsck_clean(&img);
    readback_equal(&img, &tree);
    assert_minfo(&img, &["hidden sectors: 2048"]);
}

/// Every size and type fsck.fat and mtools agree on: a sweep across the
/// FAT12/FAT16/FAT32 boundaries, including the odd sizes between them.
#[test]
fn geometry_sweep_passes_fsck() {
    let mut b = Tb::new(0);
    b.file("some file.txt", pattern(3000, 1));
    b.file("d/x", pattern(10, 2));
    let tree = b.tree;
    let kib = |k: u64| k << 10;
    let sizes = [
        kib(160),
        kib(360),
        kib(720),
        kib(1200),
        kib(2880),
        kib(4000),
        kib(8100),
        kib(8200),
        kib(16_000),
        kib(33_000),
        kib(131_071),
        kib(300_000),
        kib(600_000),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for size in sizes {
        for t in [
            None,
            Some(FatType::Fat12),
            Some(FatType::Fat16),
            Some(FatType::Fat32),
        ] {
            let o = opts(t, Some(size));
            let plan = match fat::plan(&tree, &o) {
                Ok(p) => p,
                // A forced width may not exist at this size; "fat" always does.
                Err(e) => {
                    assert!(t.is_some(), "{size}: {e}");
                    assert!(
                        matches!(e, FatError::Geometry { .. } | FatError::TooSmall { .. }),
                        "{size} {t:?}: {e}"
                    );
                    continue;
                }
            };
            let dir = tempfile::tempdir().unwrap();
            let img = dir.path().join("s.img");
            let f = std::fs::File::create(&img).unwrap();
            let mut dev = SparseFile::new(f, &img, plan.size_bytes()).unwrap();
            let rep = fat::write(&plan, &tree, &mut dev).unwrap();
            seen.insert(rep.geometry.fat_type);
            fsck_clean(&img);
            let want = format!(
                "disk type=\"{}   \"",
                rep.geometry.fat_type.name().to_uppercase()
            );
            assert_minfo(&img, &[want.as_str()]);
            let dir_listing = mdir(&img, "/");
            if !dir_listing.is_empty() {
                assert!(
                    dir_listing.contains("some file.txt"),
                    "{size} {t:?}\n{dir_listing}"
                );
            }
        }
    }
    assert_eq!(seen.len(), 3);
}

/// The reader against images made by mkfs.fat and mtools: an independent
/// producer, so the reader's view of the format is checked too.
#[test]
fn reader_reads_mkfs_and_mtools_images() {
    let Some(mkfs) = tool("mkfs.fat") else { return };
    let src = tempfile::tempdir().unwrap();
    let mut b = Tb::new(0);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("Long File Name.txt", pattern(5000, 1)),
        ("UPPER.TXT", b"u".to_vec()),
        ("lower.txt", b"l".to_vec()),
        ("Ünïcödé.bin", pattern(70_000, 2)),
        ("sub dir/nested/deeper name.dat", pattern(1, 3)),
        ("sub dir/empty", Vec::new()),
    ];
    for (p, d) in &files {
        common::write_file(src.path(), p, d);
        b.file(p, d.clone());
    }
    for (fat_bits, kib) in [("12", "1440"), ("16", "20000"), ("32", "40000")] {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("m.img");
        run_ok(
            Command::new(&mkfs)
                .args(["-F", fat_bits, "-C"])
                .arg(&img)
                .arg(kib),
        );
        let Some(mut mcopy) = mtools("mcopy") else {
            return;
        };
        let mut c = mcopy.args(["-s", "-i"]).arg(&img);
        for e in std::fs::read_dir(src.path()).unwrap() {
            c = c.arg(e.unwrap().path());
        }
        run_ok(c.arg("::/"));
        reader_equal(&img, &b.tree);
        let f = std::fs::File::open(&img).unwrap();
        let info = fat::probe(&fstool::io::MemDevice {
            data: std::fs::read(&img).unwrap(),
        })
        .unwrap();
        drop(f);
        assert_eq!(info.fat_type.name(), format!("fat{fat_bits}"));
    }
}

/// Hostile images: random damage to the boot sector, FATs and
/// directories. Reading may fail, but must not panic or hang.
#[test]
fn reader_survives_damage() {
    let src = tempfile::tempdir().unwrap();
    let tree = rich_tree(512, src.path());
    for t in [FatType::Fat12, FatType::Fat16, FatType::Fat32] {
        let size = if t == FatType::Fat32 {
            34 << 20
        } else {
            5 << 20
        };
        let plan = fat::plan(&tree, &opts(Some(t), Some(size))).unwrap();
        let mut dev = MemDevice::new(plan.size_bytes() as usize);
        fat::write(&plan, &tree, &mut dev).unwrap();
        let clean = dev.data.clone();
        assert_eq!(reader_walk(&dev).unwrap(), expected(&tree));
        let g = plan.geometry().clone();
        let meta_end = (g.cluster_offset(2) + 64 * 1024) as usize;
        // A loop in the FAT: the first file chain points back at itself.
        let mut looped = 0;
        for seed in 0..200u64 {
            dev.data.copy_from_slice(&clean);
            let noise = pattern(64, seed);
            for pair in noise.chunks(4) {
                let pos = u32::from_le_bytes([pair[0], pair[1], pair[2], 0]) as usize % meta_end;
                dev.data[pos] = pair[3];
            }
            if let Err(e) = reader_walk(&dev) {
                let _ = e.to_string();
                looped += 1;
            }
            let _ = fat::probe(&dev);
        }
        // Some damage must have been noticed (not all of it can be benign).
        assert!(looped > 0, "{t:?}: no damage detected");
        // A chain that loops is reported, not followed forever: point a
        // multi-cluster file's first cluster at itself.
        dev.data.copy_from_slice(&clean);
        let name = "a long file name with spaces.text";
        let (node, size) = {
            let r = fat::FatVolume::open(&dev).unwrap();
            let node = read::lookup(&r, name.as_bytes(), true).unwrap();
            (node, r.metadata(node).unwrap().size)
        };
        assert!(size > u64::from(g.cluster_bytes()));
        // DIR_FstClusLO (26) of the short entry the node names.
        let at = node.0 as usize;
        let n = u16::from_le_bytes([dev.data[at + 26], dev.data[at + 27]]) as usize;
        let fat0 = g.fat_offset(0) as usize;
        match t {
            FatType::Fat12 => {
                let o = fat0 + n * 3 / 2;
                let w = u16::from_le_bytes([dev.data[o], dev.data[o + 1]]);
                let w = if n % 2 == 0 {
                    (w & 0xf000) | n as u16
                } else {
                    (w & 0x000f) | ((n as u16) << 4)
                };
                dev.data[o..o + 2].copy_from_slice(&w.to_le_bytes());
            }
            FatType::Fat16 => {
                dev.data[fat0 + 2 * n..fat0 + 2 * n + 2].copy_from_slice(&(n as u16).to_le_bytes())
            }
            FatType::Fat32 => {
                dev.data[fat0 + 4 * n..fat0 + 4 * n + 4].copy_from_slice(&(n as u32).to_le_bytes())
            }
        }
        let r = fat::FatVolume::open(&dev).unwrap();
        let err = read::read_file(&r, node, 1 << 30);
        assert!(matches!(err, Err(ReadError::Corrupt(_))), "{t:?}: {err:?}");
    }
}

/// Names outside the BMP are stored as UTF-16 surrogate pairs; fsck.fat
/// accepts them and the reader decodes them (mtools cannot, see above).
#[test]
fn names_beyond_the_bmp_round_trip() {
    let mut b = Tb::new(0);
    b.file("emoji 🦀 crab.rs", b"fn main() {}\n".to_vec());
    b.file("𝔘𝔫𝔦𝔠𝔬𝔡𝔢/𝒻𝒾𝓁𝑒.txt", pattern(10, 1));
    let tree = b.tree;
    for t in [FatType::Fat12, FatType::Fat32] {
        let built = build(&tree, &opts(Some(t), None));
        fsck_clean(&built.img);
        reader_equal(&built.img, &tree);
    }
}

/// A chain longer than the reader's FAT window (65,536 FAT32 entries)
/// reads back whole, and FAT copies agree for fsck.fat.
#[test]
fn long_chains_cross_fat_windows() {
    let src = tempfile::tempdir().unwrap();
    let p = src.path().join("big");
    std::fs::write(&p, pattern(40 << 20, 5)).unwrap();
    let mut b = Tb::new(0);
    b.file("small first", pattern(100, 1));
    b.host("big file", &p, false);
    b.file("zz after", pattern(5000, 2));
    let tree = b.tree;
    let mut o = opts(Some(FatType::Fat32), None);
    o.cluster_size = Some(512);
    let built = build(&tree, &o);
    assert!(built.report.used_clusters > 80_000);
    fsck_clean(&built.img);
    reader_equal(&built.img, &tree);
}

/// Names that differ only in case (a copy of /usr/share has
/// `libffi8/html/index.html` and `Index.html`): an error naming both by
/// default; with `case_conflicts = "skip"` the later one (a directory with
/// everything in it) is left out, with `"rename"` it becomes `name~N.ext`;
/// both are reported and the volume passes fsck.fat. The first in byte
/// order keeps its name.
#[test]
fn case_conflicts_error_skip_or_rename() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    write_file(&src, "html/Index.html", b"upper\n");
    write_file(&src, "html/index.html", b"lower\n");
    write_file(&src, "html/index~1.html", b"taken\n");
    write_file(&src, "Doc/a", b"a\n");
    write_file(&src, "doc/b/c", b"c\n");
    let build = |policy: &str| {
        let spec = d.path().join(format!("{policy}.toml"));
        std::fs::write(
            &spec,
            format!(
                "version = 1\nseed = \"case\"\n[filesystem]\ntype = \"fat32\"\nsize = \"40MiB\"\n\
                 source = {}\ncase_conflicts = \"{policy}\"\n",
                toml_path(&src)
            ),
        )
        .unwrap();
        let img = d.path().join(format!("{policy}.img"));
        let report = d.path().join(format!("{policy}.json"));
        let out = run(&mut fstool_build(
            &spec,
            &img,
            &["--report", report.to_str().unwrap()],
        ));
        (img, report, out)
    };
    let (img, _, out) = build("error");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/Doc and /doc differ only in case"), "{err}");
    assert!(err.contains("case_conflicts"), "{err}");
    assert!(!img.exists());

    let names = |img: &Path, dir: &str| -> Vec<String> {
        let out = run_ok(fstool().arg("ls").arg(img).arg(dir));
        out.lines().map(str::to_string).collect()
    };
    let (img, report, out) = build("skip");
    assert!(out.status.success());
    fsck_clean(&img);
    assert_eq!(names(&img, "/"), ["Doc", "html"]);
    assert_eq!(names(&img, "/html"), ["Index.html", "index~1.html"]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let skipped = &r["filesystems"][0]["skipped"];
    assert_eq!(skipped[0]["path"], "/doc");
    assert_eq!(skipped[0]["conflicts_with"], "/Doc");
    assert_eq!(skipped[1]["path"], "/html/index.html");
    assert_eq!(skipped.as_array().unwrap().len(), 2, "{skipped}");

    let (img, report, out) = build("rename");
    assert!(out.status.success());
    fsck_clean(&img);
    assert_eq!(names(&img, "/"), ["Doc", "doc~1", "html"]);
    assert_eq!(
        names(&img, "/html"),
        ["Index.html", "index~1.html", "index~2.html"]
    );
    let cat = |p: &str| run(fstool().arg("cat").arg(&img).arg(p)).stdout;
    assert_eq!(cat("/html/index~2.html"), b"lower\n");
    assert_eq!(cat("/html/index~1.html"), b"taken\n");
    assert_eq!(cat("/doc~1/b/c"), b"c\n");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let renamed = &r["filesystems"][0]["renamed"];
    assert_eq!(renamed[1]["path"], "/html/index.html");
    assert_eq!(renamed[1]["name"], "index~2.html");
    assert_eq!(renamed[1]["conflicts_with"], "/html/Index.html");
}
