//! Reads NTFS volumes behind the reader layer ([`VolumeReader`]): the boot
//! sector, MFT records (fixups undone, `$MFT`'s own run list followed), the
//! attributes in them, `$I30` directory indexes (`$INDEX_ROOT` and every
//! `INDX` block of `$INDEX_ALLOCATION`), resident and non-resident
//! (sparse) `$DATA`, and symlink reparse points. Node ids are MFT record
//! numbers; the root directory is record 5. The system files (`$MFT`,
//! `$Extend`, ...) are not listed.
//!
//! NTFS keeps no Unix mode or owner in the volumes fstool writes: files
//! read back 0644 (0444 with the read-only attribute), directories and
//! symlinks 0755 and 0777, owned by 0:0, as drivers show such volumes.
//!
//! Built for hostile input: every offset is checked, every allocation
//! capped by the volume's size, every loop bounded.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::attr::kind;
use super::{fixup, reparse, runlist};
use crate::io::ReadAt;
use crate::read::{CorruptKind, DirEntry, Kind, Metadata, NodeId, ReadError, Timestamp};

/// The root directory's MFT record.
const ROOT: u64 = 5;
/// Records below this are NTFS's own (0-15 system files, 16-23 reserved).
const FIRST_USER: u64 = 24;
/// `FILE_ATTRIBUTE_READONLY`.
const READONLY: u32 = 0x1;
/// Most attributes one record is searched for.
const MAX_ATTRS: usize = 512;

fn bad(what: &'static str, at: u64) -> ReadError {
    CorruptKind::Entry { what, at }.into()
}

/// UTF-16LE code units of `b` (an odd last byte is dropped).
fn utf16(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .filter_map(|c| crate::bytes::le_u16(c, 0))
        .collect()
}

fn le(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(n)?)?;
    let mut v = [0u8; 8];
    v.get_mut(..n)?.copy_from_slice(s);
    Some(u64::from_le_bytes(v))
}

/// One attribute of a record.
struct Attr {
    typ: u32,
    name: Vec<u16>,
    /// The first VCN a non-resident extent maps (0 when resident).
    vcn: u64,
    body: Body,
}

/// Most extension records one file may have.
const MAX_EXTENSIONS: usize = 1 << 16;

enum Body {
    Resident(Vec<u8>),
    /// Runs, data size.
    NonResident(Vec<runlist::Run>, u64),
}

/// An open NTFS volume.
pub struct NtfsVolume<D: ReadAt> {
    dev: D,
    cluster: u64,
    record: u64,
    /// `$MFT`'s runs: where each record lives.
    mft: Vec<runlist::Run>,
}

impl<D: ReadAt> NtfsVolume<D> {
    /// Reads the boot sector and `$MFT`'s run list.
    pub fn open(dev: D) -> Result<Self, ReadError> {
        let mut bs = [0u8; 512];
        dev.read_at(0, &mut bs)?;
        if bs.get(3..11) != Some(b"NTFS    ") {
            return Err(CorruptKind::Magic {
                what: "NTFS boot sector",
                at: 3,
            }
            .into());
        }
        let bps = le(&bs, 0x0b, 2).unwrap_or(0);
        let spc_field = le(&bs, 0x0d, 1).unwrap_or(0) as u8;
        let spc = if spc_field <= 0x80 {
            u64::from(spc_field)
        } else {
            1u64.checked_shl(u32::from(spc_field.wrapping_neg()))
                .unwrap_or(0)
        };
        let cluster = bps.saturating_mul(spc);
        if !(256..=4096).contains(&bps) || !cluster.is_power_of_two() || cluster > 1 << 21 {
            return Err(bad("bytes per sector or sectors per cluster", 0x0b));
        }
        let rec_field = le(&bs, 0x40, 1).unwrap_or(0) as u8 as i8;
        let record = if rec_field > 0 {
            cluster.saturating_mul(rec_field as u64)
        } else {
            1u64.checked_shl(u32::from(rec_field.unsigned_abs()))
                .unwrap_or(0)
        };
        if !(512..=65536).contains(&record) || !record.is_power_of_two() {
            return Err(bad("clusters per MFT record", 0x40));
        }
        let mft_lcn = le(&bs, 0x30, 8).unwrap_or(u64::MAX);
        let mut v = NtfsVolume {
            dev,
            cluster,
            record,
            mft: vec![runlist::Run {
                lcn: Some(mft_lcn),
                len: record.checked_div(cluster).unwrap_or(0).saturating_add(1),
            }],
        };
        // Record 0 ($MFT) says where all records are.
        let attrs = v.attrs(0)?;
        let data = attrs
            .into_iter()
            .find(|a| a.typ == kind::DATA && a.name.is_empty())
            .ok_or_else(|| bad("$MFT without $DATA", 0))?;
        if let Body::NonResident(runs, _) = data.body {
            v.mft = runs;
        }
        Ok(v)
    }

    /// Byte offset of `len` bytes at `vcn_byte` of a stream with `runs`
    /// (`None` in a hole), and how many bytes run on from there.
    fn map(&self, runs: &[runlist::Run], pos: u64) -> Option<(Option<u64>, u64)> {
        let mut vcn = 0u64;
        for r in runs {
            let start = vcn.checked_mul(self.cluster)?;
            let end = vcn.checked_add(r.len)?.checked_mul(self.cluster)?;
            if pos < end {
                let within = pos.checked_sub(start)?;
                let at = r
                    .lcn
                    .map(|l| l.checked_mul(self.cluster)?.checked_add(within));
                return match at {
                    Some(None) => None,
                    Some(Some(a)) => Some((Some(a), end.checked_sub(pos)?)),
                    None => Some((None, end.checked_sub(pos)?)),
                };
            }
            vcn = vcn.checked_add(r.len)?;
        }
        None
    }

    /// Reads `buf.len()` bytes of a stream at `pos` (holes read as zeros).
    fn read_runs(&self, runs: &[runlist::Run], pos: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let p = pos.saturating_add(done as u64);
            let (at, run) = self
                .map(runs, p)
                .ok_or_else(|| bad("run list too short", p))?;
            let left = buf.len().saturating_sub(done);
            let n = usize::try_from(run.min(left as u64)).unwrap_or(left);
            let chunk = buf
                .get_mut(done..done.saturating_add(n))
                .ok_or_else(|| bad("run", p))?;
            match at {
                Some(a) => self.dev.read_at(a, chunk)?,
                None => chunk.fill(0),
            }
            done = done.saturating_add(n);
        }
        Ok(())
    }

    /// MFT record `n`, fixups undone.
    fn record(&self, n: u64) -> Result<Vec<u8>, ReadError> {
        let at = n
            .checked_mul(self.record)
            .ok_or_else(|| bad("record number", n))?;
        let mut rec = vec![0u8; self.record as usize];
        self.read_runs(&self.mft, at, &mut rec)?;
        if rec.get(0..4) != Some(b"FILE") {
            return Err(CorruptKind::BadNode { node: n }.into());
        }
        fixup::unprotect(&mut rec).map_err(|_| CorruptKind::Checksum {
            what: "MFT record update sequence",
            at,
        })?;
        // In use?
        if le(&rec, 0x16, 2).unwrap_or(0) & 1 == 0 {
            return Err(CorruptKind::BadNode { node: n }.into());
        }
        Ok(rec)
    }

    /// The attributes of file record `n`, those in its extension records
    /// included (found through its `$ATTRIBUTE_LIST`), with the extents
    /// of each non-resident attribute joined into one run list.
    fn attrs(&self, n: u64) -> Result<Vec<Attr>, ReadError> {
        let rec = self.record(n)?;
        let mut own = Self::record_attrs(&rec, n)?;
        let Some(pos) = own.iter().position(|a| a.typ == kind::ATTRIBUTE_LIST) else {
            return Ok(own);
        };
        let list = own.remove(pos);
        let entries = super::attr_list::decode(&self.value(&list)?)
            .ok_or_else(|| bad("attribute list", n))?;
        let mut others: Vec<u64> = entries
            .iter()
            .map(|e| e.mref & 0xffff_ffff_ffff)
            .filter(|&r| r != n)
            .collect();
        others.sort_unstable();
        others.dedup();
        if others.len() > MAX_EXTENSIONS {
            return Err(bad("too many extension records", n));
        }
        for r in others {
            let ext = self.record(r)?;
            if le(&ext, 0x20, 8).map(|b| b & 0xffff_ffff_ffff) != Some(n) {
                return Err(bad("extension record of another file", r));
            }
            let attrs = Self::record_attrs(&ext, r)?;
            if attrs.iter().any(|a| a.typ == kind::ATTRIBUTE_LIST) {
                return Err(bad("attribute list in an extension record", r));
            }
            own.extend(attrs);
        }
        join_extents(own, n)
    }

    /// The attributes in one record (fixups undone), as they are.
    fn record_attrs(rec: &[u8], n: u64) -> Result<Vec<Attr>, ReadError> {
        let mut at = le(rec, 0x14, 2).unwrap_or(0) as usize;
        let mut out = Vec::new();
        for _ in 0..MAX_ATTRS {
            let typ = le(rec, at, 4).ok_or_else(|| bad("attribute header", n))? as u32;
            if typ == kind::END {
                return Ok(out);
            }
            let len = le(rec, at.saturating_add(4), 4).unwrap_or(0) as usize;
            let a = rec
                .get(at..at.saturating_add(len))
                .filter(|_| len >= 0x18)
                .ok_or_else(|| bad("attribute length", n))?;
            // Both bytes exist: `a` is at least 0x18 long.
            let nlen = usize::from(a.get(9).copied().unwrap_or(0));
            let resident = a.get(8).copied().unwrap_or(0) == 0;
            let noff = le(a, 0x0a, 2).unwrap_or(0) as usize;
            let name = utf16(
                a.get(noff..noff.saturating_add(nlen.saturating_mul(2)))
                    .ok_or_else(|| bad("attribute name", n))?,
            );
            let vcn = if resident {
                0
            } else {
                le(a, 0x10, 8).unwrap_or(u64::MAX)
            };
            let body = if resident {
                let vlen = le(a, 0x10, 4).unwrap_or(0) as usize;
                let voff = le(a, 0x14, 2).unwrap_or(0) as usize;
                let v = a
                    .get(voff..voff.saturating_add(vlen))
                    .ok_or_else(|| bad("resident value", n))?;
                Body::Resident(v.to_vec())
            } else {
                let moff = le(a, 0x20, 2).unwrap_or(0) as usize;
                let runs = runlist::decode(a.get(moff..).unwrap_or(&[]))
                    .map_err(|_| bad("run list", n))?;
                Body::NonResident(runs, le(a, 0x30, 8).unwrap_or(0))
            };
            out.push(Attr {
                typ,
                name,
                vcn,
                body,
            });
            at = at.saturating_add(len);
        }
        Err(bad("too many attributes", n))
    }

    /// A whole attribute value, refusing more than the volume could hold.
    fn value(&self, a: &Attr) -> Result<Vec<u8>, ReadError> {
        match &a.body {
            Body::Resident(v) => Ok(v.clone()),
            Body::NonResident(runs, size) => {
                if *size > self.dev.size() {
                    return Err(CorruptKind::TooLarge {
                        what: "attribute",
                        value: *size,
                        limit: self.dev.size(),
                    }
                    .into());
                }
                let mut v = vec![0u8; *size as usize];
                self.read_runs(runs, 0, &mut v)?;
                Ok(v)
            }
        }
    }

    fn find<'a>(attrs: &'a [Attr], typ: u32, name: &[u16]) -> Option<&'a Attr> {
        attrs.iter().find(|a| a.typ == typ && a.name == name)
    }

    /// The `$I30` entries of one index node (at `at` in `b`, whose node
    /// header says where its entries are).
    fn node_entries(b: &[u8], header: usize, out: &mut Vec<(Vec<u16>, u64, u8)>) {
        let first = le(b, header, 4).unwrap_or(0) as usize;
        let end = (le(b, header.saturating_add(4), 4).unwrap_or(0) as usize)
            .min(b.len().saturating_sub(header));
        let mut at = header.saturating_add(first);
        let stop = header.saturating_add(end);
        while at.saturating_add(0x10) <= stop {
            // `at + 0x10` fits: the loop condition computed it.
            let field = |off: usize| le(b, at.saturating_add(off), 2).unwrap_or(0);
            let elen = field(8) as usize;
            let klen = field(10) as usize;
            let flags = field(12);
            if flags & 2 != 0 || elen < 0x10 {
                return;
            }
            if let Some(key) = b
                .get(at.saturating_add(0x10)..at.saturating_add(0x10).saturating_add(klen))
                .filter(|k| k.len() >= 0x42)
            {
                let mref = le(b, at, 8).unwrap_or(0) & 0x0000_ffff_ffff_ffff;
                // $FILE_NAME: name length at 0x40, namespace at 0x41, name at 0x42.
                let nlen = usize::from(key.get(0x40).copied().unwrap_or(0));
                let ns = key.get(0x41).copied().unwrap_or(0);
                let name = utf16(
                    key.get(0x42..0x42usize.saturating_add(nlen.saturating_mul(2)))
                        .unwrap_or(&[]),
                );
                out.push((name, mref, ns));
            }
            at = at.saturating_add(elen);
        }
    }
}

fn time(b: &[u8], at: usize) -> Timestamp {
    super::time::from_filetime(le(b, at, 8).unwrap_or(0))
}

impl<D: ReadAt> crate::read::VolumeReader for NtfsVolume<D> {
    fn format(&self) -> &'static str {
        "ntfs"
    }

    fn root(&self) -> NodeId {
        NodeId(ROOT)
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>, ReadError> {
        let attrs = self.attrs(dir.0)?;
        let i30: Vec<u16> = "$I30".encode_utf16().collect();
        let root = Self::find(&attrs, kind::INDEX_ROOT, &i30)
            .ok_or_else(|| ReadError::incompatible("not a directory"))?;
        let rv = self.value(root)?;
        let mut found = Vec::new();
        Self::node_entries(&rv, 0x10, &mut found);
        if let Some(alloc) = Self::find(&attrs, kind::INDEX_ALLOCATION, &i30) {
            let bsize = le(&rv, 8, 4).unwrap_or(0) as usize;
            if !(512..=65536).contains(&bsize) || !bsize.is_power_of_two() {
                return Err(bad("index block size", dir.0));
            }
            let data = self.value(alloc)?;
            for mut blk in data.chunks_exact(bsize).map(<[u8]>::to_vec) {
                // Blocks never used (zeros) are free; others must check out.
                if blk.get(0..4) != Some(b"INDX") {
                    continue;
                }
                fixup::unprotect(&mut blk).map_err(|_| CorruptKind::Checksum {
                    what: "INDX block update sequence",
                    at: dir.0,
                })?;
                Self::node_entries(&blk, 0x18, &mut found);
            }
        }
        let mut out = Vec::new();
        found.sort();
        found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        for (name, mref, ns) in found {
            // DOS 8.3 aliases name the same file again; system files stay
            // hidden, as drivers show them.
            if ns == 2 || mref < FIRST_USER || (dir.0 == ROOT && name.first() == Some(&0x24)) {
                continue;
            }
            let md = self.metadata(NodeId(mref))?;
            out.push(DirEntry {
                name: String::from_utf16_lossy(&name).into_bytes(),
                node: NodeId(mref),
                kind: md.kind,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata, ReadError> {
        let rec = self.record(node.0)?;
        let dir = le(&rec, 0x16, 2).unwrap_or(0) & 2 != 0;
        let attrs = self.attrs(node.0)?;
        let si = Self::find(&attrs, kind::STANDARD_INFORMATION, &[])
            .map(|a| self.value(a))
            .transpose()?
            .ok_or_else(|| bad("no $STANDARD_INFORMATION", node.0))?;
        let flags = le(&si, 0x20, 4).unwrap_or(0) as u32;
        let names = attrs
            .iter()
            .filter(|a| a.typ == kind::FILE_NAME)
            .filter(|a| matches!(&a.body, Body::Resident(v) if v.get(0x41) != Some(&2)))
            .count() as u32;
        let target = match Self::find(&attrs, kind::REPARSE_POINT, &[]) {
            Some(a) => symlink_target(&self.value(a)?),
            None => None,
        };
        let (kind, mode, size) = if let Some(t) = &target {
            (Kind::Symlink, 0o777, t.len() as u64)
        } else if dir {
            (Kind::Dir, 0o755, 0)
        } else {
            let size = match Self::find(&attrs, kind::DATA, &[]).map(|a| &a.body) {
                Some(Body::Resident(v)) => v.len() as u64,
                Some(Body::NonResident(_, s)) => *s,
                None => 0,
            };
            let mode = if flags & READONLY != 0 { 0o444 } else { 0o644 };
            (Kind::File, mode, size)
        };
        Ok(Metadata {
            kind,
            mode,
            uid: 0,
            gid: 0,
            atime: time(&si, 0x18),
            mtime: time(&si, 0x08),
            ctime: time(&si, 0x10),
            crtime: Some(time(&si, 0x00)),
            xattrs: Vec::new(),
            nlink: if dir { 1 } else { names.max(1) },
            rdev: (0, 0),
            target,
            size,
        })
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        let attrs = self.attrs(node.0)?;
        let data = Self::find(&attrs, kind::DATA, &[])
            .ok_or_else(|| ReadError::incompatible("reading a node that is not a file"))?;
        let size = match &data.body {
            Body::Resident(v) => v.len() as u64,
            Body::NonResident(_, s) => *s,
        };
        if offset >= size {
            return Ok(0);
        }
        let left = size.saturating_sub(offset);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let dst = buf.get_mut(..n).unwrap_or(&mut []);
        match &data.body {
            Body::Resident(v) => {
                let start = offset as usize;
                let src = v
                    .get(start..start.saturating_add(n))
                    .ok_or_else(|| bad("resident data", node.0))?;
                dst.copy_from_slice(src);
            }
            Body::NonResident(runs, _) => self.read_runs(runs, offset, dst)?,
        }
        Ok(n)
    }
}

/// Joins the extents of each non-resident attribute (same type and name)
/// into one run list, in VCN order; each extent must start where the one
/// before it ends. The stream's size comes from the first extent.
fn join_extents(mut attrs: Vec<Attr>, n: u64) -> Result<Vec<Attr>, ReadError> {
    attrs.sort_by(|a, b| (a.typ, &a.name, a.vcn).cmp(&(b.typ, &b.name, b.vcn)));
    let mut out: Vec<Attr> = Vec::with_capacity(attrs.len());
    for a in attrs {
        let joins = matches!(
            (out.last(), &a.body),
            (Some(prev), Body::NonResident(..)) if prev.typ == a.typ && prev.name == a.name && a.vcn > 0
        );
        if !joins {
            if a.vcn != 0 {
                return Err(bad("attribute extent without its first extent", n));
            }
            out.push(a);
            continue;
        }
        let Some(Attr {
            body: Body::NonResident(runs, _),
            ..
        }) = out.last_mut()
        else {
            return Err(bad("resident attribute with extents", n));
        };
        let mapped = runs.iter().try_fold(0u64, |v, r| v.checked_add(r.len));
        if mapped != Some(a.vcn) {
            return Err(bad("attribute extents that do not follow each other", n));
        }
        if let Body::NonResident(more, _) = a.body {
            runs.extend(more);
        }
    }
    Ok(out)
}

/// The target of a symlink reparse point (Windows or WSL form), `/`
/// separated; `None` for any other reparse point.
fn symlink_target(v: &[u8]) -> Option<Vec<u8>> {
    let tag = le(v, 0, 4)? as u32;
    if tag == reparse::TAG_LX_SYMLINK {
        let len = le(v, 4, 2)? as usize;
        return Some(v.get(12..len.checked_add(8)?)?.to_vec());
    }
    if tag != reparse::TAG_SYMLINK {
        return None;
    }
    let off = le(v, 0x0c, 2)? as usize;
    let len = le(v, 0x0e, 2)? as usize;
    let start = off.checked_add(0x14)?;
    let units: Vec<u16> = utf16(v.get(start..start.checked_add(len)?)?)
        .into_iter()
        .map(|u| {
            if u == u16::from(b'\\') {
                u16::from(b'/')
            } else {
                u
            }
        })
        .collect();
    Some(String::from_utf16_lossy(&units).into_bytes())
}
