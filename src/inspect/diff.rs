//! `fstool diff A B`: a layered, structural comparison of two images.
//!
//! 1. Container: raw and qcow2 are compared by their guest bytes; equal
//!    guest bytes end the comparison ("same").
//! 2. Partition table, field by field (disk GUID or signature, each
//!    entry's type, GUID, name, attributes, start and size).
//! 3. Per filesystem, the superblock (ext) or boot sector (FAT) fields by
//!    their spec names. A checksum field that differs alongside other
//!    fields of its structure is attributed to them.
//! 4. The file tree: added, removed and changed entries, each with what
//!    changed (content with the first differing offset, mode, owner,
//!    times, xattrs, link target, device numbers, link count).

use crate::bytes::hex;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::headers::header_fields;
use super::volume::{open_fs, InspectError};
use crate::io::{ReadAt, ReadSlice};
use crate::part::{self, PartitionTableInfo};
use crate::read::{self, Kind, Metadata, VolumeReader};

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `container`, `partition-table`, `filesystem` or `tree`.
    pub layer: &'static str,
    /// Where: `partition 2`, `partition 1: ext4 superblock`, a path.
    pub place: String,
    /// The field or aspect (`s_uuid`, `content`, `mode`, `added`).
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// The result of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// The guest bytes are identical.
    pub same: bool,
    pub findings: Vec<Finding>,
}

fn f(
    layer: &'static str,
    place: &str,
    field: &str,
    a: Option<String>,
    b: Option<String>,
) -> Finding {
    Finding {
        layer,
        place: place.to_string(),
        field: field.to_string(),
        a,
        b,
    }
}

/// Compares two opened devices byte for byte (1 MiB at a time).
fn same_bytes(a: &dyn ReadAt, b: &dyn ReadAt) -> Result<bool, InspectError> {
    Ok(first_byte_difference(a, b)?.is_none())
}

/// Compares images `a` and `b`.
pub fn diff(a: &Path, b: &Path) -> Result<DiffReport, InspectError> {
    let (da, fa) = super::open(a)?;
    let (db, fb) = super::open(b)?;
    let mut out = Vec::new();
    if fa != fb {
        out.push(f(
            "container",
            "image",
            "format",
            Some(fa.into()),
            Some(fb.into()),
        ));
    }
    if same_bytes(da.as_ref(), db.as_ref())? {
        return Ok(DiffReport {
            same: true,
            findings: out,
        });
    }
    if da.size() != db.size() {
        out.push(f(
            "container",
            "image",
            "guest size",
            Some(da.size().to_string()),
            Some(db.size().to_string()),
        ));
    }
    // A filesystem at offset 0 wins over a table, as in `info`.
    let table = |d: &dyn ReadAt, img: &Path| -> Result<Option<PartitionTableInfo>, InspectError> {
        if super::is_filesystem(d) {
            return Ok(None);
        }
        part::probe(d).map_err(|source| InspectError::Partition {
            image: img.display().to_string(),
            source,
        })
    };
    let (ta, tb) = (table(da.as_ref(), a)?, table(db.as_ref(), b)?);
    // (place, (offset, length) in a, in b).
    type Windows = Vec<(String, (u64, u64), (u64, u64))>;
    let mut volumes: Windows = Vec::new();
    match (&ta, &tb) {
        (Some(x), Some(y)) => {
            tables(x, y, &mut out);
            for p in &x.partitions {
                if let Some(q) = y.partitions.iter().find(|q| q.index == p.index) {
                    volumes.push((
                        format!("partition {}", p.index),
                        (p.offset_bytes, p.size_bytes),
                        (q.offset_bytes, q.size_bytes),
                    ));
                }
            }
        }
        (None, None) => volumes.push(("filesystem".into(), (0, da.size()), (0, db.size()))),
        _ => out.push(f(
            "partition-table",
            "image",
            "table",
            Some(ta.as_ref().map_or("none".into(), tname)),
            Some(tb.as_ref().map_or("none".into(), tname)),
        )),
    }
    for (place, (oa, la), (ob, lb)) in volumes {
        let (Ok(va), Ok(vb)) = (
            ReadSlice::new(da.as_ref(), oa, la),
            ReadSlice::new(db.as_ref(), ob, lb),
        ) else {
            continue;
        };
        if same_bytes(&va, &vb)? {
            continue;
        }
        let before = out.len();
        volume(&place, &va, &vb, &mut out)?;
        // Nothing structural explains it (free space, a hash tree, a
        // format without a reader): say where the bytes part.
        if out.len() == before {
            if let Some(at) = first_byte_difference(&va, &vb)? {
                out.push(f(
                    "bytes",
                    &place,
                    "first difference at byte",
                    Some(at.to_string()),
                    None,
                ));
            }
        }
    }
    Ok(DiffReport {
        same: false,
        findings: out,
    })
}

fn tables(x: &PartitionTableInfo, y: &PartitionTableInfo, out: &mut Vec<Finding>) {
    let mut cmp = |place: &str, field: &str, a: String, b: String| {
        if a != b {
            out.push(f("partition-table", place, field, Some(a), Some(b)));
        }
    };
    cmp("table", "type", tname(x), tname(y));
    cmp(
        "table",
        "sector size",
        x.sector_size.to_string(),
        y.sector_size.to_string(),
    );
    cmp(
        "table",
        "disk GUID",
        format!("{:?}", x.disk_guid),
        format!("{:?}", y.disk_guid),
    );
    cmp(
        "table",
        "disk signature",
        format!("{:?}", x.disk_signature),
        format!("{:?}", y.disk_signature),
    );
    cmp(
        "table",
        "usable LBAs",
        format!("{:?}-{:?}", x.first_usable_lba, x.last_usable_lba),
        format!("{:?}-{:?}", y.first_usable_lba, y.last_usable_lba),
    );
    for p in &x.partitions {
        let place = format!("partition {}", p.index);
        let Some(q) = y.partitions.iter().find(|q| q.index == p.index) else {
            out.push(f(
                "partition-table",
                &place,
                "removed",
                Some(p.part_type.to_string()),
                None,
            ));
            continue;
        };
        let mut cmp = |field: &str, a: String, b: String| {
            if a != b {
                out.push(f("partition-table", &place, field, Some(a), Some(b)));
            }
        };
        cmp("type", p.part_type.to_string(), q.part_type.to_string());
        cmp("name", format!("{:?}", p.name), format!("{:?}", q.name));
        cmp("GUID", format!("{:?}", p.uuid), format!("{:?}", q.uuid));
        cmp(
            "attributes",
            format!("{:#018x}", p.attributes),
            format!("{:#018x}", q.attributes),
        );
        cmp(
            "start LBA",
            p.start_lba.to_string(),
            q.start_lba.to_string(),
        );
        cmp("sectors", p.sectors.to_string(), q.sectors.to_string());
        cmp("bootable", p.bootable.to_string(), q.bootable.to_string());
    }
    for q in &y.partitions {
        if !x.partitions.iter().any(|p| p.index == q.index) {
            let place = format!("partition {}", q.index);
            out.push(f(
                "partition-table",
                &place,
                "added",
                None,
                Some(q.part_type.to_string()),
            ));
        }
    }
}

fn tname(t: &PartitionTableInfo) -> String {
    format!("{:?}", t.table).to_lowercase()
}

/// Layers 3 and 4 for one volume.
fn volume(
    place: &str,
    a: &dyn ReadAt,
    b: &dyn ReadAt,
    out: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let (ha, hb) = (header_fields(a), header_fields(b));
    match (&ha, &hb) {
        (Some((na, fa)), Some((nb, fb))) if na == nb => {
            let at = format!("{place}: {na}");
            let mut diffs: Vec<Finding> = fa
                .iter()
                .zip(fb)
                .filter(|(x, y)| x.1 != y.1)
                .map(|(x, y)| f("filesystem", &at, x.0, Some(x.1.clone()), Some(y.1.clone())))
                .collect();
            // A checksum that moved with the fields it covers is theirs.
            if diffs.len() > 1 {
                for d in &mut diffs {
                    if d.field == "s_checksum" || d.field == "checksum" {
                        d.field = format!("{} (covers the fields above)", d.field);
                    }
                }
            }
            out.extend(diffs);
        }
        // Neither side is a filesystem fstool knows: the caller says
        // where the bytes part.
        (None, None) => return Ok(()),
        _ => {
            let name = |h: &Option<(&str, _)>| h.as_ref().map(|(n, _)| n.to_string());
            out.push(f("filesystem", place, "format", name(&ha), name(&hb)));
            return Ok(());
        }
    }
    // A side that cannot be opened is itself the finding (a checksum that
    // no longer matches its block, say).
    let (ra, rb) = (open_fs(a), open_fs(b));
    if ra.is_err() || rb.is_err() {
        let state = |r: &Result<_, read::ReadError>| match r {
            Ok(_) => "readable".to_string(),
            Err(e) => format!("unreadable: {e}"),
        };
        out.push(f(
            "filesystem",
            place,
            "reader",
            Some(state(&ra)),
            Some(state(&rb)),
        ));
        return Ok(());
    }
    let (Ok(Some(ra)), Ok(Some(rb))) = (ra, rb) else {
        return Ok(());
    };
    tree(place, ra.as_ref(), rb.as_ref(), out)
}

/// The first byte where two devices differ, or `None` (the shorter one's
/// end when one is a prefix of the other).
fn first_byte_difference(a: &dyn ReadAt, b: &dyn ReadAt) -> Result<Option<u64>, InspectError> {
    const CHUNK: u64 = 1 << 20;
    let size = a.size().min(b.size());
    let (mut x, mut y) = (vec![0u8; CHUNK as usize], vec![0u8; CHUNK as usize]);
    let mut off = 0u64;
    while off < size {
        // A range that is a hole in both reads as zeros in both: skipped
        // unread (a sparse disk compares at the speed of its data).
        let data = match (a.next_data(off), b.next_data(off)) {
            (None, None) => size,
            (p, q) => p.unwrap_or(size).min(q.unwrap_or(size)),
        };
        if data > off {
            off = data.min(size);
            continue;
        }
        let n = usize::try_from(size.saturating_sub(off).min(CHUNK)).unwrap_or(0);
        let (x, y) = (
            x.get_mut(..n).unwrap_or_default(),
            y.get_mut(..n).unwrap_or_default(),
        );
        a.read_at(off, x)?;
        b.read_at(off, y)?;
        if x != y {
            let i = x
                .iter()
                .zip(y.iter())
                .position(|(p, q)| p != q)
                .unwrap_or(0);
            return Ok(Some(off.saturating_add(i as u64)));
        }
        off = off.saturating_add(n as u64);
    }
    Ok((a.size() != b.size()).then_some(size))
}

fn entries(
    r: &dyn VolumeReader,
    place: &str,
) -> Result<BTreeMap<Vec<u8>, (read::NodeId, Metadata)>, InspectError> {
    let err = |source| InspectError::Read {
        image: place.to_string(),
        source,
    };
    let mut m = BTreeMap::new();
    for e in read::walk(r).map_err(err)? {
        let md = r.metadata(e.node).map_err(err)?;
        m.insert(e.path, (e.node, md));
    }
    Ok(m)
}

/// The first offset where two files differ, or `None`.
fn first_difference(
    ra: &dyn VolumeReader,
    na: read::NodeId,
    rb: &dyn VolumeReader,
    nb: read::NodeId,
    len: u64,
) -> Result<Option<u64>, read::ReadError> {
    let mut off = 0u64;
    while off < len {
        let n = usize::try_from(len.saturating_sub(off).min(1 << 20)).unwrap_or(1 << 20);
        let (mut x, mut y) = (vec![0u8; n], vec![0u8; n]);
        let ga = ra.read_at(na, off, &mut x)?;
        let gb = rb.read_at(nb, off, &mut y)?;
        let k = ga.min(gb);
        x.truncate(k);
        y.truncate(k);
        if let Some(i) = x.iter().zip(&y).position(|(p, q)| p != q) {
            return Ok(Some(off.saturating_add(i as u64)));
        }
        if ga != gb || k == 0 {
            return Ok(Some(off.saturating_add(k as u64)));
        }
        off = off.saturating_add(k as u64);
    }
    Ok(None)
}

fn tree(
    place: &str,
    ra: &dyn VolumeReader,
    rb: &dyn VolumeReader,
    out: &mut Vec<Finding>,
) -> Result<(), InspectError> {
    let (ea, eb) = (entries(ra, place)?, entries(rb, place)?);
    let show = |p: &[u8]| format!("{place}: {}", String::from_utf8_lossy(p));
    for (p, (na, ma)) in &ea {
        let at = show(p);
        let Some((nb, mb)) = eb.get(p) else {
            out.push(f("tree", &at, "removed", Some(ma.kind.name().into()), None));
            continue;
        };
        let mut cmp = |field: &str, a: String, b: String| {
            if a != b {
                out.push(f("tree", &at, field, Some(a), Some(b)));
            }
        };
        cmp("kind", ma.kind.name().into(), mb.kind.name().into());
        cmp(
            "mode",
            format!("{:04o}", ma.mode),
            format!("{:04o}", mb.mode),
        );
        cmp(
            "owner",
            format!("{}:{}", ma.uid, ma.gid),
            format!("{}:{}", mb.uid, mb.gid),
        );
        cmp(
            "mtime",
            format!("{:?}", ma.mtime),
            format!("{:?}", mb.mtime),
        );
        cmp(
            "atime",
            format!("{:?}", ma.atime),
            format!("{:?}", mb.atime),
        );
        cmp(
            "ctime",
            format!("{:?}", ma.ctime),
            format!("{:?}", mb.ctime),
        );
        cmp(
            "crtime",
            format!("{:?}", ma.crtime),
            format!("{:?}", mb.crtime),
        );
        cmp("nlink", ma.nlink.to_string(), mb.nlink.to_string());
        cmp("rdev", format!("{:?}", ma.rdev), format!("{:?}", mb.rdev));
        let target = |t: &Option<Vec<u8>>| {
            format!(
                "{:?}",
                t.as_ref().map(|t| String::from_utf8_lossy(t).into_owned())
            )
        };
        cmp("link target", target(&ma.target), target(&mb.target));
        let names = |m: &Metadata| {
            m.xattrs
                .iter()
                .map(|(k, v)| format!("{k}={}", hex(v)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        cmp("xattrs", names(ma), names(mb));
        if ma.kind == Kind::File && mb.kind == Kind::File {
            if ma.size != mb.size {
                cmp("size", ma.size.to_string(), mb.size.to_string());
            }
            let len = ma.size.min(mb.size);
            let d =
                first_difference(ra, *na, rb, *nb, len).map_err(|source| InspectError::Read {
                    image: place.to_string(),
                    source,
                })?;
            if let Some(off) = d {
                out.push(f(
                    "tree",
                    &at,
                    "content",
                    Some(format!("first difference at byte {off}")),
                    None,
                ));
            }
        }
    }
    for (p, (_, mb)) in &eb {
        if !ea.contains_key(p) {
            out.push(f(
                "tree",
                &show(p),
                "added",
                None,
                Some(mb.kind.name().into()),
            ));
        }
    }
    Ok(())
}

/// Renders the findings for people, at most `max` of them.
pub fn render_text(r: &DiffReport, max: usize) -> String {
    if r.same {
        return "same: the images hold identical bytes\n".into();
    }
    let mut s = String::new();
    for x in r.findings.iter().take(max) {
        s.push_str(&format!(
            "{:<15} {}: {}: {} -> {}\n",
            x.layer,
            x.place,
            x.field,
            x.a.as_deref().unwrap_or("-"),
            x.b.as_deref().unwrap_or("-")
        ));
    }
    if r.findings.len() > max {
        s.push_str(&format!(
            "... and {} more\n",
            r.findings.len().saturating_sub(max)
        ));
    }
    if r.findings.is_empty() {
        s.push_str("different bytes, but no difference in the structures compared\n");
    }
    s
}
