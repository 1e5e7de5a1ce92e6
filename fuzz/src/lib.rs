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
