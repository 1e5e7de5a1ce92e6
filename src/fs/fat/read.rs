//! The FAT12/16/32 volume reader, with VFAT long names, behind
//! [`VolumeReader`].
//!
//! A node is named by the volume byte offset of its short directory entry
//! (the root, which has none, is node 0: offset 0 is the boot sector).
//! Hostile images are expected: every offset is checked, every chain walk
//! is bounded by the cluster count (a loop is `Corrupt`, not a hang), and
//! nothing indexes unchecked.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::cell::RefCell;

use super::boot::{Bpb, Layout};
use super::geometry::FatType;
use super::names;
use crate::bytes::{array, le_u16, le_u32, u8_at};
use crate::io::ReadAt;
use crate::read::{
    CorruptKind, DirEntry, Kind, Metadata, NodeId, ReadError, Timestamp, VolumeReader,
};

type Result<T> = std::result::Result<T, ReadError>;

/// Bytes of one directory entry.
const ENTRY: u64 = 32;

/// Bytes of the FAT the reader keeps in memory at a time.
const FAT_WINDOW: u64 = 256 * 1024;

/// Most bytes a directory may have (65536 entries, the spec's limit).
const MAX_DIR_BYTES: u64 = 65536 * ENTRY;

/// The short entry of a node, decoded.
#[derive(Debug, Clone)]
struct Short {
    /// DIR_Name (0..11).
    name: [u8; 11],
    /// DIR_Attr (11).
    attr: u8,
    /// DIR_NTRes (12): lower-case flags.
    case: u8,
    /// DIR_CrtTimeTenth (13), DIR_CrtTime (14), DIR_CrtDate (16).
    created: (u8, u16, u16),
    /// DIR_LstAccDate (18).
    accessed: u16,
    /// DIR_FstClusHI (20) << 16 | DIR_FstClusLO (26); HI only on FAT32.
    first_cluster: u32,
    /// DIR_WrtTime (22), DIR_WrtDate (24).
    written: (u16, u16),
    /// DIR_FileSize (28).
    size: u32,
}

impl Short {
    fn decode(e: &[u8], fat32: bool) -> Option<Short> {
        let hi = if fat32 { le_u16(e, 20)? } else { 0 };
        Some(Short {
            name: array(e, 0)?,
            attr: u8_at(e, 11)?,
            case: u8_at(e, 12)?,
            created: (u8_at(e, 13)?, le_u16(e, 14)?, le_u16(e, 16)?),
            accessed: le_u16(e, 18)?,
            first_cluster: (u32::from(hi) << 16) | u32::from(le_u16(e, 26)?),
            written: (le_u16(e, 22)?, le_u16(e, 24)?),
            size: le_u32(e, 28)?,
        })
    }
    fn is_dir(&self) -> bool {
        self.attr & 0x10 != 0
    }
}

/// FAT date and time (read as UTC, as fstool writes them) to Unix seconds.
/// Every term is bounded by the 7-bit year field, far from overflow.
#[allow(clippy::arithmetic_side_effects)]
fn unix_time(date: u16, time: u16) -> i64 {
    let y = 1980 + i64::from(date >> 9);
    let m = i64::from((date >> 5) & 0x0f).clamp(1, 12);
    let d = i64::from(date & 0x1f).max(1);
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = i64::from(time >> 11) * 3600
        + i64::from((time >> 5) & 0x3f) * 60
        + i64::from(time & 0x1f) * 2;
    days * 86_400 + secs
}

fn short_name_text(raw: &[u8; 11], case: u8) -> String {
    let conv = |part: &[u8], lower: bool| -> String {
        part.iter()
            .enumerate()
            .map(|(i, &c)| {
                let c = if i == 0 && c == 0x05 { 0xe5 } else { c };
                let ch = char::from(c);
                if lower {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                }
            })
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    let (base, ext) = raw.split_at(8);
    let base = conv(base, case & names::CASE_LOWER_BASE != 0);
    let ext = conv(ext, case & names::CASE_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Long-name slots collected so far: checksum, slot count, UTF-16 units by
/// slot.
type LongName = (u8, usize, Vec<Option<[u16; 13]>>);

/// Byte positions of the 13 UTF-16 units in a long-name slot.
const LFN_UNITS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// One parsed entry: its short entry's volume offset, the name to show,
/// and the short entry.
struct Parsed {
    offset: u64,
    name: String,
    short: Short,
}

/// A FAT volume opened for reading.
pub struct FatVolume<D> {
    dev: D,
    vol: Layout,
    /// A window of the first FAT: (byte offset in the FAT, bytes). Chains
    /// are mostly sequential, so one window serves long runs of lookups and
    /// memory stays bounded whatever the volume size.
    fat: RefCell<Option<(u64, Vec<u8>)>>,
    /// The last chain read for a file: (first cluster, clusters), so that
    /// reading a file in pieces walks its chain once.
    chain: RefCell<Option<(u32, Vec<u32>)>>,
}

fn field(what: &'static str, value: u64, at: u64) -> ReadError {
    CorruptKind::Field { what, value, at }.into()
}

impl<D: ReadAt> FatVolume<D> {
    /// Opens the FAT volume on `dev`; `Incompatible` when the boot sector
    /// is not a FAT boot sector, `Corrupt` when its fields contradict the
    /// device.
    pub fn open(dev: D) -> Result<Self> {
        if dev.size() < 512 {
            return Err(ReadError::incompatible("not a FAT volume (too small)"));
        }
        let mut b = [0u8; 512];
        dev.read_at(0, &mut b)?;
        let bpb = Bpb::decode(&b).ok_or(CorruptKind::Magic {
            what: "FAT boot sector",
            at: 0,
        })?;
        let vol = bpb
            .layout()
            .map_err(|f| ReadError::incompatible(format!("not a FAT volume ({f})")))?;
        // The whole volume must lie on the device, and the FAT must have an
        // entry for every cluster.
        if vol.total_bytes > dev.size() {
            return Err(field("BPB_TotSec", vol.total_bytes, 19));
        }
        let entries_bytes = u64::from(vol.clusters)
            .saturating_add(2)
            .saturating_mul(vol.fat_type.bits())
            / 8;
        if vol.clusters == 0 || entries_bytes > vol.fat_bytes {
            return Err(field("BPB_FATSz", vol.fat_bytes, 22));
        }
        Ok(FatVolume {
            dev,
            vol,
            fat: RefCell::new(None),
            chain: RefCell::new(None),
        })
    }

    pub fn fat_type(&self) -> FatType {
        self.vol.fat_type
    }

    /// The checked layout of the volume.
    pub fn layout(&self) -> &Layout {
        &self.vol
    }

    /// The FAT entry of cluster `n` (at most 0x0FFF_FFFF + 1, so the byte
    /// arithmetic below stays far from overflow).
    fn entry(&self, n: u32) -> Result<u32> {
        let bits = self.vol.fat_type.bits();
        // Byte offset of the entry (FAT12: of its first byte) and its width.
        let off = u64::from(n).saturating_mul(bits) / 8;
        let width = if bits == 32 { 4 } else { 2 };
        let end = off.saturating_add(width);
        let mut cache = self.fat.borrow_mut();
        let hit = cache.as_ref().is_some_and(|(start, buf)| {
            off >= *start && end <= start.saturating_add(buf.len() as u64)
        });
        if !hit {
            let start = off.saturating_sub(off % FAT_WINDOW);
            let stop = start.saturating_add(FAT_WINDOW + 4).min(self.vol.fat_bytes);
            if stop < end {
                return Err(CorruptKind::OutOfRange {
                    what: "cluster with a FAT entry",
                    value: u64::from(n),
                    limit: u64::from(self.vol.clusters) + 1,
                }
                .into());
            }
            let mut buf = vec![0u8; usize::try_from(stop.saturating_sub(start)).unwrap_or(0)];
            self.dev
                .read_at(self.vol.fat_offset.saturating_add(start), &mut buf)?;
            *cache = Some((start, buf));
        }
        let Some((start, fat)) = cache.as_ref() else {
            return Err(ReadError::incompatible("FAT window missing"));
        };
        let o = usize::try_from(off.saturating_sub(*start)).unwrap_or(usize::MAX);
        let v = match self.vol.fat_type {
            FatType::Fat12 => {
                let w = u32::from(le_u16(fat, o).unwrap_or(0));
                if n % 2 == 0 {
                    w & 0xfff
                } else {
                    w >> 4
                }
            }
            FatType::Fat16 => u32::from(le_u16(fat, o).unwrap_or(0)),
            FatType::Fat32 => le_u32(fat, o).unwrap_or(0) & 0x0fff_ffff,
        };
        Ok(v)
    }

    fn is_eoc(&self, v: u32) -> bool {
        match self.vol.fat_type {
            FatType::Fat12 => v >= 0xff8,
            FatType::Fat16 => v >= 0xfff8,
            FatType::Fat32 => v >= 0x0fff_fff8,
        }
    }

    /// The first `want` clusters of the chain starting at `first` (fewer
    /// when it ends sooner). A bad link, or a chain that revisits a cluster
    /// (a loop or a cross-link), is `Corrupt`.
    fn chain(&self, first: u32, want: u64) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut c = first;
        let last = u64::from(self.vol.clusters) + 1;
        while (out.len() as u64) < want {
            if c < 2 || u64::from(c) > last {
                return Err(CorruptKind::OutOfRange {
                    what: "cluster chain link",
                    value: u64::from(c),
                    limit: last,
                }
                .into());
            }
            if out.len() as u64 >= u64::from(self.vol.clusters) {
                return Err(CorruptKind::Loop {
                    what: "cluster chain",
                    node: u64::from(first),
                }
                .into());
            }
            out.push(c);
            let next = self.entry(c)?;
            if self.is_eoc(next) {
                break;
            }
            c = next;
        }
        let mut sorted = out.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(CorruptKind::Loop {
                what: "cluster chain",
                node: u64::from(first),
            }
            .into());
        }
        Ok(out)
    }

    /// Volume offset of cluster `c` (2 ..= clusters + 1, checked by
    /// [`chain`](Self::chain)).
    fn cluster_offset(&self, c: u32) -> u64 {
        u64::from(c.saturating_sub(2))
            .saturating_mul(self.vol.cluster_bytes)
            .saturating_add(self.vol.data_offset)
    }

    /// The raw bytes of a directory (`first` = 0 means the root) and the
    /// volume offset of each of its 32-byte entries.
    fn dir_bytes(&self, first: u32) -> Result<(Vec<u8>, Vec<u64>)> {
        let fixed_root = first == 0 && self.vol.fat_type != FatType::Fat32;
        if fixed_root {
            let len = usize::try_from(self.vol.root_bytes).unwrap_or(0);
            let mut buf = vec![0u8; len];
            self.dev.read_at(self.vol.root_offset, &mut buf)?;
            let offs = (0..self.vol.root_bytes / ENTRY)
                .map(|i| self.vol.root_offset.saturating_add(i.saturating_mul(ENTRY)))
                .collect();
            return Ok((buf, offs));
        }
        let start = if first == 0 {
            self.vol.root_cluster
        } else {
            first
        };
        let cb = self.vol.cluster_bytes;
        let chain = self.chain(start, MAX_DIR_BYTES.div_ceil(cb))?;
        let mut buf = Vec::new();
        let mut offs = Vec::new();
        let mut cluster = vec![0u8; usize::try_from(cb).unwrap_or(0)];
        for &c in &chain {
            let base = self.cluster_offset(c);
            self.dev.read_at(base, &mut cluster)?;
            buf.extend_from_slice(&cluster);
            offs.extend((0..cb / ENTRY).map(|i| base.saturating_add(i.saturating_mul(ENTRY))));
        }
        Ok((buf, offs))
    }

    /// Parses the entries of a directory (without `.`, `..` and labels).
    fn parse_dir(&self, bytes: &[u8], offs: &[u64]) -> Vec<Parsed> {
        let fat32 = self.vol.fat_type == FatType::Fat32;
        let mut out = Vec::new();
        let mut lfn: Option<LongName> = None;
        for (e, &offset) in bytes.chunks_exact(32).zip(offs) {
            let Some(short) = Short::decode(e, fat32) else {
                break;
            };
            let first = short.name[0];
            if first == 0 {
                break;
            }
            if first == 0xe5 {
                lfn = None;
                continue;
            }
            if short.attr & 0x3f == 0x0f {
                lfn = long_slot(lfn.take(), e);
                continue;
            }
            let long = lfn.take().and_then(|(sum, _, slots)| {
                if sum != names::lfn_checksum(&short.name) {
                    return None;
                }
                let mut units = Vec::new();
                for s in slots {
                    units.extend_from_slice(&s?);
                }
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                String::from_utf16(units.get(..end)?).ok()
            });
            if short.attr & 0x08 != 0 {
                continue; // volume label
            }
            if &short.name == b".          " || &short.name == b"..         " {
                continue;
            }
            let name = long.unwrap_or_else(|| short_name_text(&short.name, short.case));
            // A name with a separator or a dot-name would escape its
            // directory when extracted; it cannot be valid FAT either.
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                continue;
            }
            out.push(Parsed {
                offset,
                name,
                short,
            });
        }
        out
    }

    /// The short entry of `node`; `None` for the root.
    fn short(&self, node: NodeId) -> Result<Option<Short>> {
        if node.0 == 0 {
            return Ok(None);
        }
        let bad = || ReadError::from(CorruptKind::BadNode { node: node.0 });
        if node.0 % ENTRY != 0 || node.0.saturating_add(ENTRY) > self.vol.total_bytes {
            return Err(bad());
        }
        let mut e = [0u8; 32];
        self.dev.read_at(node.0, &mut e)?;
        let s = Short::decode(&e, self.vol.fat_type == FatType::Fat32).ok_or_else(bad)?;
        Ok(Some(s))
    }

    /// The first cluster of directory `node` (0 = the root).
    fn dir_cluster(&self, node: NodeId) -> Result<u32> {
        match self.short(node)? {
            None => Ok(0),
            Some(s) if s.is_dir() => Ok(s.first_cluster),
            Some(_) => Err(ReadError::NotADirectory {
                path: format!("node {}", node.0),
            }),
        }
    }
}

/// Adds one long-name slot `e` to the name being collected.
fn long_slot(lfn: Option<LongName>, e: &[u8]) -> Option<LongName> {
    let first = u8_at(e, 0)?;
    let sum = u8_at(e, 13)?;
    let ord = usize::from(first & 0x3f);
    if ord == 0 || ord > 20 {
        return None;
    }
    let mut lfn = if first & 0x40 != 0 {
        Some((sum, ord, vec![None; ord]))
    } else {
        lfn
    };
    let (s, n, slots) = lfn.as_mut()?;
    if *s != sum || ord > *n {
        return None;
    }
    let mut units = [0u16; 13];
    for (u, &p) in units.iter_mut().zip(LFN_UNITS.iter()) {
        *u = le_u16(e, p)?;
    }
    *slots.get_mut(ord.checked_sub(1)?)? = Some(units);
    lfn
}

impl<D: ReadAt> VolumeReader for FatVolume<D> {
    fn format(&self) -> &'static str {
        self.vol.fat_type.name()
    }

    fn root(&self) -> NodeId {
        NodeId(0)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let first = self.dir_cluster(dir)?;
        let (bytes, offs) = self.dir_bytes(first)?;
        Ok(self
            .parse_dir(&bytes, &offs)
            .into_iter()
            .map(|p| DirEntry {
                kind: if p.short.is_dir() {
                    Kind::Dir
                } else {
                    Kind::File
                },
                name: p.name.into_bytes(),
                node: NodeId(p.offset),
            })
            .collect())
    }

    /// FAT has no owners, permissions or xattrs: directories are 0755,
    /// files 0644, or 0444 with the read-only attribute. Times are UTC;
    /// ctime is the write time.
    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        let Some(s) = self.short(node)? else {
            let t = Timestamp::default();
            return Ok(Metadata {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                atime: t,
                mtime: t,
                ctime: t,
                crtime: None,
                xattrs: Vec::new(),
                nlink: 1,
                rdev: (0, 0),
                target: None,
                size: 0,
            });
        };
        let (kind, mode) = if s.is_dir() {
            (Kind::Dir, 0o755)
        } else if s.attr & 0x01 != 0 {
            (Kind::File, 0o444)
        } else {
            (Kind::File, 0o644)
        };
        let mtime = Timestamp::from_secs(unix_time(s.written.1, s.written.0));
        let (tenth, ctime, cdate) = s.created;
        let crtime = Timestamp {
            secs: unix_time(cdate, ctime).saturating_add(i64::from(tenth / 100)),
            nanos: u32::from(tenth % 100).saturating_mul(10_000_000),
        };
        Ok(Metadata {
            kind,
            mode,
            uid: 0,
            gid: 0,
            atime: Timestamp::from_secs(unix_time(s.accessed, 0)),
            mtime,
            ctime: mtime,
            crtime: Some(crtime),
            xattrs: Vec::new(),
            nlink: 1,
            rdev: (0, 0),
            target: None,
            size: if s.is_dir() { 0 } else { u64::from(s.size) },
        })
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let Some(s) = self.short(node)? else {
            return Err(ReadError::incompatible("the root is a directory"));
        };
        if s.is_dir() {
            return Err(ReadError::incompatible("a directory has no file content"));
        }
        let size = u64::from(s.size);
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let cb = self.vol.cluster_bytes;
        let want = size.div_ceil(cb);
        let mut cache = self.chain.borrow_mut();
        let chain = match cache.as_ref() {
            Some((first, c)) if *first == s.first_cluster && c.len() as u64 == want => c,
            _ => {
                let c = self.chain(s.first_cluster, want)?;
                if (c.len() as u64) < want {
                    return Err(CorruptKind::Short {
                        what: "file cluster chain",
                        want: size,
                        got: (c.len() as u64).saturating_mul(cb),
                    }
                    .into());
                }
                &cache.insert((s.first_cluster, c)).1
            }
        };
        let len = (buf.len() as u64).min(size.saturating_sub(offset));
        let mut done = 0u64;
        while done < len {
            let pos = offset.saturating_add(done);
            let idx = usize::try_from(pos.checked_div(cb).unwrap_or(0)).unwrap_or(usize::MAX);
            let within = pos.checked_rem(cb).unwrap_or(0);
            let Some(&c) = chain.get(idx) else {
                break;
            };
            // Extend over physically consecutive clusters.
            let mut run = 1u64;
            while chain
                .get(idx.saturating_add(run as usize))
                .is_some_and(|&n| u64::from(n) == u64::from(c).saturating_add(run))
                && run.saturating_mul(cb) < crate::io::CHUNK as u64
            {
                run = run.saturating_add(1);
            }
            let n = run
                .saturating_mul(cb)
                .saturating_sub(within)
                .min(len.saturating_sub(done));
            let (from, to) = (
                usize::try_from(done).unwrap_or(usize::MAX),
                usize::try_from(done.saturating_add(n)).unwrap_or(usize::MAX),
            );
            let Some(dst) = buf.get_mut(from..to) else {
                break;
            };
            self.dev
                .read_at(self.cluster_offset(c).saturating_add(within), dst)?;
            done = done.saturating_add(n);
        }
        Ok(usize::try_from(done).unwrap_or(0))
    }
}

#[cfg(test)]
// Tests index fixed buffers they built themselves.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_utc() {
        // 2023-11-14 22:13:20 = 1_700_000_000.
        let date = (43 << 9) | (11 << 5) | 14;
        let time = (22 << 11) | (13 << 5) | 10;
        assert_eq!(unix_time(date, time), 1_700_000_000);
        assert_eq!(unix_time((1 << 5) | 1, 0), 315_532_800);
    }

    #[test]
    fn short_names_honour_case_flags() {
        assert_eq!(short_name_text(b"README  TXT", 0x18), "readme.txt");
        assert_eq!(short_name_text(b"NOEXT      ", 0), "NOEXT");
    }
}
