//! A small reader: list directories and read files of a FAT12/16/32 volume,
//! with VFAT long names. Used by `fstool ls`/`cat` and by tests.
//!
//! Hostile images are expected: every offset is checked, every chain walk
//! is bounded by the cluster count (a loop is `Corrupt`, not a hang), and
//! nothing indexes unchecked.

use std::io::Write;

use serde::Serialize;

use super::geometry::FatType;
use super::names;
use crate::bytes::{le_u16, le_u32};
use crate::io::{BlockDevice, IoError};

/// Errors of the reader.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a FAT volume")]
    NotFat,
    #[error("corrupt FAT volume: {0}")]
    Corrupt(String),
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: is a directory")]
    IsADirectory(String),
    #[error("writing the output failed: {0}")]
    Output(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] IoError),
}

type Result<T> = std::result::Result<T, ReadError>;

fn corrupt<T>(what: impl Into<String>) -> Result<T> {
    Err(ReadError::Corrupt(what.into()))
}

/// One directory entry as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    /// The long name when present and valid, else the short name (with the
    /// NT case flags applied).
    pub name: String,
    /// The 8.3 name, `NAME.EXT`.
    pub short_name: String,
    pub is_dir: bool,
    pub size: u32,
    pub first_cluster: u32,
    /// `DIR_Attr`.
    pub attributes: u8,
    /// Last write, seconds since the Unix epoch (FAT time read as UTC).
    pub mtime: i64,
}

/// The layout fields a reader needs, validated.
#[derive(Debug, Clone)]
struct Volume {
    fat_type: FatType,
    bps: u64,
    spc: u64,
    fat_offset: u64,
    fat_bytes: u64,
    root_offset: u64,
    root_bytes: u64,
    root_cluster: u32,
    data_offset: u64,
    clusters: u32,
}

fn parse_volume(b: &[u8], dev_size: u64) -> Option<Volume> {
    if b.get(510..512)? != [0x55, 0xaa] {
        return None;
    }
    let bps = u64::from(le_u16(b, 11)?);
    if !matches!(bps, 512 | 1024 | 2048 | 4096) {
        return None;
    }
    let spc = u64::from(*b.get(13)?);
    if spc == 0 || !spc.is_power_of_two() {
        return None;
    }
    let reserved = u64::from(le_u16(b, 14)?);
    let fats = u64::from(*b.get(16)?);
    let root_entries = u64::from(le_u16(b, 17)?);
    let tot16 = u64::from(le_u16(b, 19)?);
    let total = if tot16 != 0 {
        tot16
    } else {
        u64::from(le_u32(b, 32)?)
    };
    let fatsz16 = u64::from(le_u16(b, 22)?);
    let fatsz = if fatsz16 != 0 {
        fatsz16
    } else {
        u64::from(le_u32(b, 36)?)
    };
    if reserved == 0 || fats == 0 || fatsz == 0 {
        return None;
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let data_sector = reserved + fats * fatsz + root_sectors;
    let clusters = total.checked_sub(data_sector)? / spc;
    let clusters = u32::try_from(clusters).ok()?;
    let fat_type = FatType::from_cluster_count(clusters);
    if (fat_type == FatType::Fat32) != (fatsz16 == 0) || clusters == 0 {
        return None;
    }
    // The whole volume must lie on the device.
    if total.checked_mul(bps)? > dev_size {
        return None;
    }
    // The FAT must have an entry for every cluster.
    let fat_bytes = fatsz * bps;
    if (u64::from(clusters) + 2) * fat_type.bits() / 8 > fat_bytes {
        return None;
    }
    let root_cluster = if fat_type == FatType::Fat32 {
        le_u32(b, 44)?
    } else {
        0
    };
    Some(Volume {
        fat_type,
        bps,
        spc,
        fat_offset: reserved * bps,
        fat_bytes,
        root_offset: (reserved + fats * fatsz) * bps,
        root_bytes: root_sectors * bps,
        root_cluster,
        data_offset: data_sector * bps,
        clusters,
    })
}

/// FAT date and time (read as UTC) to Unix seconds.
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

fn short_name_text(raw: &[u8], case: u8) -> String {
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
    let base = conv(
        raw.get(..8).unwrap_or(&[]),
        case & names::CASE_LOWER_BASE != 0,
    );
    let ext = conv(
        raw.get(8..11).unwrap_or(&[]),
        case & names::CASE_LOWER_EXT != 0,
    );
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Long-name slots collected so far: checksum, slot count, UTF-16 units by
/// slot.
type LongName = (u8, usize, Vec<Option<[u16; 13]>>);

/// Bytes of the FAT the reader keeps in memory at a time.
const FAT_WINDOW: u64 = 256 * 1024;

/// Most bytes a directory may have (65536 entries).
const MAX_DIR_BYTES: u64 = 65536 * 32;

/// A FAT volume opened for reading.
pub struct FatReader<'a> {
    dev: &'a mut dyn BlockDevice,
    vol: Volume,
    /// A window of the first FAT: (byte offset in the FAT, bytes). Chains
    /// are mostly sequential, so one window serves long runs of lookups and
    /// memory stays bounded whatever the volume size.
    fat: Option<(u64, Vec<u8>)>,
}

impl<'a> FatReader<'a> {
    pub fn open(dev: &'a mut dyn BlockDevice) -> Result<Self> {
        if dev.size() < 512 {
            return Err(ReadError::NotFat);
        }
        let mut b = [0u8; 512];
        dev.read_at(0, &mut b)?;
        let vol = parse_volume(&b, dev.size()).ok_or(ReadError::NotFat)?;
        Ok(FatReader {
            dev,
            vol,
            fat: None,
        })
    }

    pub fn fat_type(&self) -> FatType {
        self.vol.fat_type
    }

    fn cluster_bytes(&self) -> u64 {
        self.vol.bps * self.vol.spc
    }

    /// The FAT entry of cluster `n`.
    fn entry(&mut self, n: u32) -> Result<u32> {
        let bytes_per = self.vol.fat_type.bits();
        // Byte offset of the entry (FAT12: of its first byte) and its width.
        let off = u64::from(n) * bytes_per / 8;
        let width = if bytes_per == 32 { 4 } else { 2 };
        let cached = self
            .fat
            .as_ref()
            .is_some_and(|(start, buf)| off >= *start && off + width <= *start + buf.len() as u64);
        if !cached {
            let start = off - off % FAT_WINDOW;
            let end = (start + FAT_WINDOW + 4).min(self.vol.fat_bytes);
            if end < off + width {
                return corrupt(format!("cluster {n} has no FAT entry"));
            }
            let mut buf = vec![0u8; (end - start) as usize];
            self.dev.read_at(self.vol.fat_offset + start, &mut buf)?;
            self.fat = Some((start, buf));
        }
        let Some((start, fat)) = self.fat.as_ref() else {
            return corrupt("FAT window missing");
        };
        let o = (off - start) as usize;
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
    /// when it ends sooner). A bad link, or a chain longer than the volume
    /// has clusters (a loop), is `Corrupt`.
    fn chain(&mut self, first: u32, want: u64) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut c = first;
        while (out.len() as u64) < want {
            if c < 2 || c > self.vol.clusters + 1 {
                return corrupt(format!("cluster chain points at cluster {c}"));
            }
            if out.len() as u64 >= u64::from(self.vol.clusters) {
                return corrupt(format!("cluster chain from {first} loops"));
            }
            out.push(c);
            let next = self.entry(c)?;
            if self.is_eoc(next) {
                break;
            }
            c = next;
        }
        // A cluster twice in one chain is a loop (or a cross-link).
        let mut sorted = out.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return corrupt(format!("cluster chain from {first} loops"));
        }
        Ok(out)
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.vol.data_offset + u64::from(c - 2) * self.cluster_bytes()
    }

    /// The raw bytes of a directory (`first` = 0 means the root).
    fn dir_bytes(&mut self, first: u32) -> Result<Vec<u8>> {
        let fixed_root = first == 0 && self.vol.fat_type != FatType::Fat32;
        if fixed_root {
            let mut buf = vec![0u8; self.vol.root_bytes as usize];
            self.dev.read_at(self.vol.root_offset, &mut buf)?;
            return Ok(buf);
        }
        let start = if first == 0 {
            self.vol.root_cluster
        } else {
            first
        };
        let limit = MAX_DIR_BYTES.div_ceil(self.cluster_bytes());
        let chain = self.chain(start, limit)?;
        let cb = self.cluster_bytes() as usize;
        let mut buf = vec![0u8; chain.len() * cb];
        for (i, &c) in chain.iter().enumerate() {
            let off = self.cluster_offset(c);
            self.dev.read_at(off, &mut buf[i * cb..(i + 1) * cb])?;
        }
        Ok(buf)
    }

    /// Parses the entries of a directory (without `.`, `..` and labels).
    fn parse_dir(&self, bytes: &[u8]) -> Vec<DirEntry> {
        let mut out = Vec::new();
        let mut lfn: Option<LongName> = None;
        for e in bytes.chunks_exact(32) {
            let first = e[0];
            if first == 0 {
                break;
            }
            if first == 0xe5 {
                lfn = None;
                continue;
            }
            let attr = e[11];
            if attr & 0x3f == 0x0f {
                let ord = usize::from(first & 0x3f);
                if ord == 0 || ord > 20 {
                    lfn = None;
                    continue;
                }
                if first & 0x40 != 0 {
                    lfn = Some((e[13], ord, vec![None; ord]));
                }
                if let Some((sum, n, slots)) = &mut lfn {
                    if *sum != e[13] || ord > *n {
                        lfn = None;
                        continue;
                    }
                    let mut units = [0u16; 13];
                    const POS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
                    for (u, &p) in units.iter_mut().zip(POS.iter()) {
                        *u = u16::from_le_bytes([e[p], e[p + 1]]);
                    }
                    slots[ord - 1] = Some(units);
                }
                continue;
            }
            let long = lfn.take().and_then(|(sum, _, slots)| {
                let mut short = [0u8; 11];
                short.copy_from_slice(&e[..11]);
                if sum != names::lfn_checksum(&short) {
                    return None;
                }
                let mut units = Vec::new();
                for s in slots {
                    units.extend_from_slice(&s?);
                }
                let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
                String::from_utf16(&units[..end]).ok()
            });
            if attr & 0x08 != 0 {
                continue; // volume label
            }
            if &e[..11] == b".          " || &e[..11] == b"..         " {
                continue;
            }
            let short_name = short_name_text(&e[..11], 0);
            let name = long.unwrap_or_else(|| short_name_text(&e[..11], e[12]));
            let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
            let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
            let first_cluster = if self.vol.fat_type == FatType::Fat32 {
                (hi << 16) | lo
            } else {
                lo
            };
            out.push(DirEntry {
                name,
                short_name,
                is_dir: attr & 0x10 != 0,
                size: u32::from_le_bytes([e[28], e[29], e[30], e[31]]),
                first_cluster,
                attributes: attr,
                mtime: unix_time(
                    u16::from_le_bytes([e[24], e[25]]),
                    u16::from_le_bytes([e[22], e[23]]),
                ),
            });
        }
        out
    }

    /// Finds the entry at `path` (`/`-separated, case-insensitive); `None`
    /// for the root.
    fn lookup(&mut self, path: &str) -> Result<Option<DirEntry>> {
        let mut cur: Option<DirEntry> = None;
        let mut walked = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let dir = match &cur {
                None => 0,
                Some(e) if e.is_dir => e.first_cluster,
                Some(_) => return Err(ReadError::NotADirectory(walked)),
            };
            walked.push('/');
            walked.push_str(part);
            let key = names::fold_key(part);
            let bytes = self.dir_bytes(dir)?;
            let found = self
                .parse_dir(&bytes)
                .into_iter()
                .find(|e| names::fold_key(&e.name) == key || names::fold_key(&e.short_name) == key);
            cur = Some(found.ok_or_else(|| ReadError::NotFound(walked.clone()))?);
        }
        Ok(cur)
    }

    /// Lists the directory an entry (from [`read_dir`](Self::read_dir))
    /// describes.
    pub fn read_dir_entry(&mut self, e: &DirEntry) -> Result<Vec<DirEntry>> {
        if !e.is_dir {
            return Err(ReadError::NotADirectory(e.name.clone()));
        }
        let bytes = self.dir_bytes(e.first_cluster)?;
        Ok(self.parse_dir(&bytes))
    }

    /// Every entry of the volume with its path (`/dir/name`), directories
    /// before their contents, each directory in on-disk order. Safe on
    /// hostile images: a directory reached twice (a loop) is `Corrupt`.
    pub fn walk(&mut self) -> Result<Vec<(String, DirEntry)>> {
        let mut out = Vec::new();
        let mut visited = std::collections::BTreeSet::from([0u32]);
        let root = self.read_dir("/")?;
        let mut stack: Vec<(String, std::vec::IntoIter<DirEntry>)> =
            vec![(String::new(), root.into_iter())];
        while let Some((prefix, iter)) = stack.last_mut() {
            let Some(e) = iter.next() else {
                stack.pop();
                continue;
            };
            let path = format!("{prefix}/{}", e.name);
            if e.is_dir {
                if !visited.insert(e.first_cluster) {
                    return corrupt(format!("{path}: directory loop"));
                }
                let sub = self.read_dir_entry(&e)?;
                out.push((path.clone(), e));
                stack.push((path, sub.into_iter()));
            } else {
                out.push((path, e));
            }
        }
        Ok(out)
    }

    /// Lists the directory at `path`.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>> {
        let first = match self.lookup(path)? {
            None => 0,
            Some(e) if e.is_dir => {
                if e.first_cluster == 0 {
                    // ".." style pointer to the root.
                    0
                } else {
                    e.first_cluster
                }
            }
            Some(_) => return Err(ReadError::NotADirectory(path.to_string())),
        };
        let bytes = self.dir_bytes(first)?;
        Ok(self.parse_dir(&bytes))
    }

    /// Writes the contents of the file at `path` to `out`; returns its size.
    pub fn read_file(&mut self, path: &str, out: &mut dyn Write) -> Result<u64> {
        match self.lookup(path)? {
            Some(e) if !e.is_dir => self.read_entry(&e, out),
            _ => Err(ReadError::IsADirectory(path.to_string())),
        }
    }

    /// Writes the contents of the file an entry describes to `out`.
    pub fn read_entry(&mut self, e: &DirEntry, out: &mut dyn Write) -> Result<u64> {
        if e.is_dir {
            return Err(ReadError::IsADirectory(e.name.clone()));
        }
        let path = &e.name;
        let size = u64::from(e.size);
        if size == 0 {
            return Ok(0);
        }
        let cb = self.cluster_bytes();
        let chain = self.chain(e.first_cluster, size.div_ceil(cb))?;
        if (chain.len() as u64) < size.div_ceil(cb) {
            return corrupt(format!("{path}: chain shorter than the file"));
        }
        // Read runs of consecutive clusters in large pieces.
        let mut left = size;
        let mut i = 0;
        let mut buf = Vec::new();
        while left > 0 {
            let mut run = 1;
            while i + run < chain.len()
                && chain[i + run] == chain[i] + run as u32
                && (run as u64 + 1) * cb <= crate::io::CHUNK as u64
            {
                run += 1;
            }
            let n = (run as u64 * cb).min(left);
            buf.resize(n as usize, 0);
            self.dev.read_at(self.cluster_offset(chain[i]), &mut buf)?;
            out.write_all(&buf).map_err(ReadError::Output)?;
            left -= n;
            i += run;
        }
        Ok(size)
    }
}

#[cfg(test)]
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
