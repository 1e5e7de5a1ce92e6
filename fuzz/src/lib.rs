//! What the fuzz targets run: every reader opens the bytes as an image,
//! walks it and reads every file (bounded), the way `ls -R`, `cat`,
//! `extract`, `diff` and `verify` do. A reader may refuse the bytes with an
//! error; it must never panic, hang or allocate without bound (AFL reports
//! a panic as a crash and a run past its time limit as a hang).

use fstool::io::MemDevice;
use fstool::read::{self, Kind, ReadError, VolumeReader};

/// Largest file content one run reads.
const READ_CAP: u64 = 1 << 20;

/// Walks a volume and reads everything in it.
pub fn exercise(r: &dyn VolumeReader) -> Result<usize, ReadError> {
    let entries = read::walk(r)?;
    for e in &entries {
        let md = r.metadata(e.node)?;
        match md.kind {
            Kind::File => {
                read::copy_range(r, e.node, READ_CAP, &mut std::io::sink())?;
            }
            Kind::Dir => {
                r.read_dir(e.node)?;
            }
            _ => {}
        }
    }
    Ok(entries.len())
}

fn dev(data: &[u8]) -> MemDevice {
    MemDevice {
        data: data.to_vec(),
    }
}

/// Opens the bytes with one reader and walks what it opened.
fn open_and_walk<'a, R: VolumeReader, E>(
    d: &'a MemDevice,
    open: impl FnOnce(&'a MemDevice) -> Result<R, E>,
) {
    if let Ok(r) = open(d) {
        let _ = exercise(&r);
    }
}

pub fn ext(data: &[u8]) {
    open_and_walk(&dev(data), fstool::fs::ext::read::ExtVolume::open);
}

pub fn fat(data: &[u8]) {
    open_and_walk(&dev(data), fstool::fs::fat::FatVolume::open);
}

pub fn ntfs(data: &[u8]) {
    open_and_walk(&dev(data), fstool::fs::ntfs::read::NtfsVolume::open);
}

pub fn erofs(data: &[u8]) {
    open_and_walk(&dev(data), fstool::fs::erofs::volume::ErofsVolume::open);
}

/// Partition tables (GPT, MBR) and the probe `info` runs, then the
/// filesystem the registry recognises.
pub fn part(data: &[u8]) {
    let d = dev(data);
    let _ = fstool::part::probe(&d);
    let _ = fstool::inspect::probe_fs(&d);
    if let Ok(Some(r)) = fstool::inspect::volume::open_fs(&d) {
        let _ = exercise(r.as_ref());
    };
}

/// qcow2: the reader opens a file, so the bytes go to a temporary one.
pub fn qcow2(data: &[u8]) {
    use std::io::Write;
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    let path = f.path().to_path_buf();
    let Ok(file) = f.reopen() else { return };
    let Ok(q) = fstool::container::qcow2_read::Qcow2Reader::open(file, &path) else {
        return;
    };
    use fstool::io::ReadAt;
    let size = q.size();
    let mut buf = vec![0u8; 65536];
    // Read a bounded sample of guest offsets: start, middle, end.
    for at in [0, size / 2, size.saturating_sub(buf.len() as u64)] {
        let n = buf
            .len()
            .min(usize::try_from(size.saturating_sub(at)).unwrap_or(0));
        let _ = q.read_at(at, &mut buf[..n]);
    }
}

/// The spec parser and validator, on TOML text.
pub fn spec(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fstool::spec::parse_str(text, "fuzz.toml");
    }
}

/// Formats the round-trip target builds.
const FORMATS: [&str; 5] = ["ext4", "ext2", "fat32", "erofs", "ntfs"];
/// Name pieces: ASCII, case pairs, dots, spaces and multibyte UTF-8.
const PIECES: [&str; 16] = [
    "a", "B", "b", "z", "0", "_", ".", "-", " ", "é", "É", "ß", "日", "😀", "~", "x",
];

/// A cursor over the fuzz input: every value it hands out is bounded.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Builds a small source tree described by the bytes in one of the
/// formats, then reads it back with fstool's reader for that format: every
/// file must read back equal to its source, every symlink with its target.
/// A build may refuse the tree with an error (a name FAT cannot hold, say);
/// a panic, a hang, or a tree that reads back different is a finding.
pub fn build_roundtrip(data: &[u8]) {
    use std::collections::BTreeMap;
    let mut b = Bytes(data);
    let Some(f) = b.byte() else { return };
    let format = FORMATS[usize::from(f) % FORMATS.len()];
    let Ok(dir) = tempfile::tempdir() else { return };
    let src = dir.path().join("src");
    if std::fs::create_dir(&src).is_err() {
        return;
    }
    // What the image must hold: path -> file bytes, or a symlink target.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let mut dirs = vec![String::new()];
    for _ in 0..24 {
        let Some(op) = b.byte() else { break };
        let Some(len) = b.byte() else { break };
        let name: String = b
            .take(usize::from(len % 12) + 1)
            .iter()
            .map(|&c| PIECES[usize::from(c) % PIECES.len()])
            .collect();
        if name == "." || name == ".." {
            continue;
        }
        let parent = dirs[usize::from(op >> 2) % dirs.len()].clone();
        let path = format!("{parent}/{name}");
        let host = src.join(path.trim_start_matches('/'));
        if host.symlink_metadata().is_ok() {
            continue;
        }
        match op % 4 {
            0 => {
                let n = b.byte().map_or(0, |x| usize::from(x) * 37);
                let body: Vec<u8> = b.take(n.min(64)).iter().cycle().take(n).copied().collect();
                if std::fs::write(&host, &body).is_ok() {
                    files.insert(path, body);
                }
            }
            1 => {
                if std::fs::create_dir(&host).is_ok() {
                    dirs.push(path);
                }
            }
            2 => {
                let target = format!("../{name}");
                if std::os::unix::fs::symlink(&target, &host).is_ok() {
                    links.insert(path, target);
                }
            }
            _ => {
                // A second name for an existing file.
                let Some((first, body)) = files.iter().next().map(|(k, v)| (k.clone(), v.clone()))
                else {
                    continue;
                };
                let from = src.join(first.trim_start_matches('/'));
                if std::fs::hard_link(&from, &host).is_ok() {
                    files.insert(path, body);
                }
            }
        }
    }
    let spec_text = format!(
        "version = 1\nseed = \"fuzz\"\n[filesystem]\ntype = \"{format}\"\nsource = \"src\"\nsize = \"auto\"\n"
    );
    let Ok(spec) = fstool::spec::parse_str(&spec_text, "fuzz.toml") else {
        panic!("the round-trip spec does not parse: {spec_text}");
    };
    let img = dir.path().join("image.img");
    let opts = fstool::BuildOptions {
        output: img.clone(),
        base_dir: dir.path().to_path_buf(),
        progress: false,
        hash: false,
        env_source_date_epoch: None,
        timing: false,
        input_digest: false,
        cache: None,
    };
    if fstool::build(&spec, &opts).is_err() {
        return;
    }
    let bytes = std::fs::read(&img).expect("the built image");
    let d = MemDevice { data: bytes };
    let r = fstool::inspect::volume::open_fs(&d)
        .expect("fstool reads what it built")
        .expect("fstool recognises what it built");
    for (path, body) in &files {
        let node = read::lookup(r.as_ref(), path.as_bytes(), false)
            .unwrap_or_else(|e| panic!("{format}: {path:?} not found: {e}"));
        let got = read::read_file(r.as_ref(), node, 1 << 20).expect("file content");
        assert_eq!(&got, body, "{format}: {path:?} reads back different");
    }
    for (path, target) in &links {
        let node = read::lookup(r.as_ref(), path.as_bytes(), false)
            .unwrap_or_else(|e| panic!("{format}: {path:?} not found: {e}"));
        let md = r.metadata(node).expect("symlink metadata");
        assert_eq!(md.kind, Kind::Symlink, "{format}: {path:?}");
        assert_eq!(
            md.target.as_deref(),
            Some(target.as_bytes()),
            "{format}: {path:?} points elsewhere"
        );
    }
}
