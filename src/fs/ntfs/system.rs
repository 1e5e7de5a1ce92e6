//! The system files, MFT records 0-15 and `$Extend`'s children 24-26
//! (Linux-NTFS "Files"): what each record holds and where its streams lie.
//! Their times are the root directory's; their names are in the Win32 and
//! DOS namespace, as mkntfs writes them.

use super::attr::{self, kind, utf16, StreamSize};
use super::file_name::{FileName, Namespace};
use super::index::{self, collation, Entry};
use super::layout::{self, Extent, NtfsPlan, EXTEND, OBJ_ID, QUOTA, REPARSE, ROOT};
use super::node::{self, AttrValue};
use super::record::{self, mref, Header};
use super::runlist::Run;
use super::secure;
use super::std_info::{self, fa};
use super::NtfsError;
use crate::tree::Tree;

/// Version written to `$Volume`'s `$VOLUME_INFORMATION`.
const VERSION: (u8, u8) = (3, 1);

fn times(tree: &Tree) -> std_info::Times {
    layout::times(&tree.root().meta)
}

fn nonres(e: Extent, cluster: u64, data: u64) -> AttrValue {
    AttrValue::NonResident(
        e.runs(),
        StreamSize {
            allocated: e.clusters * cluster,
            data,
            initialized: data,
            compressed: None,
        },
    )
}

/// (extent, data size) of a system file's unnamed `$DATA`, if non-resident.
fn data_of(p: &NtfsPlan, rec: u64) -> Option<(Extent, u64)> {
    let s = &p.sys;
    let r = p.geo.record as u64;
    Some(match rec {
        0 => (s.mft, p.mft_records * r),
        1 => (s.mirr, p.geo.mirror_records() * r),
        2 => (s.log, p.log_bytes),
        4 => (s.attrdef, super::attrdef::encode().len() as u64),
        6 => (s.bitmap, p.bitmap_bytes),
        7 => (s.boot, s.boot.clusters * p.geo.cluster),
        10 => (s.upcase, 2 * super::upcase::LEN as u64),
        _ => return None,
    })
}

fn sys_attributes(rec: u64) -> u32 {
    match rec {
        ROOT => fa::HIDDEN | fa::SYSTEM | fa::DUP_FILE_NAME_INDEX_PRESENT,
        EXTEND => fa::HIDDEN | fa::SYSTEM | fa::DUP_FILE_NAME_INDEX_PRESENT,
        9 | QUOTA | OBJ_ID | REPARSE => {
            fa::HIDDEN | fa::SYSTEM | fa::ARCHIVE | fa::DUP_VIEW_INDEX_PRESENT
        }
        _ => fa::HIDDEN | fa::SYSTEM,
    }
}

/// The `$FILE_NAME` of system file `rec`, named `name`.
pub fn system_file_name(p: &NtfsPlan, tree: &Tree, name: &str, rec: u64) -> FileName {
    let (allocated, data) =
        data_of(p, rec).map_or((0, 0), |(e, d)| (e.clusters * p.geo.cluster, d));
    let parent = if rec >= QUOTA {
        mref(EXTEND, EXTEND as u16)
    } else {
        mref(ROOT, ROOT as u16)
    };
    FileName {
        parent,
        times: times(tree),
        allocated,
        data,
        attributes: sys_attributes(rec),
        reparse_tag: 0,
        namespace: Namespace::Win32AndDos,
        name: utf16(name),
    }
}

fn si(tree: &Tree, rec: u64) -> (u32, Vec<u16>, AttrValue) {
    let v = layout::si_value(
        &times(tree),
        sys_attributes(rec) & !fa::DUP_FILE_NAME_INDEX_PRESENT,
    );
    (
        kind::STANDARD_INFORMATION,
        Vec::new(),
        AttrValue::Resident(v.to_vec(), false),
    )
}

fn fname(p: &NtfsPlan, tree: &Tree, name: &str, rec: u64) -> (u32, Vec<u16>, AttrValue) {
    let f = system_file_name(p, tree, name, rec);
    (
        kind::FILE_NAME,
        Vec::new(),
        AttrValue::Resident(f.encode(), true),
    )
}

fn empty_index(p: &NtfsPlan, name: &str, coll: u32) -> Vec<(u32, Vec<u16>, AttrValue)> {
    let t = index::build(Vec::new(), usize::MAX, usize::MAX, layout::INDEX_BLOCK, 1);
    node::index_attrs(p, &utf16(name), 0, coll, &t, Extent::default(), None)
}

/// Records 0-15 and 24-26, with their numbers.
pub fn records(p: &NtfsPlan, tree: &Tree) -> Result<Vec<(u64, Vec<u8>)>, NtfsError> {
    let c = p.geo.cluster;
    let mut out = Vec::new();
    let names: Vec<(&str, u64)> = layout::SYSTEM_NAMES
        .iter()
        .copied()
        .filter(|(_, r)| *r != ROOT)
        .chain([("$Quota", QUOTA), ("$ObjId", OBJ_ID), ("$Reparse", REPARSE)])
        .collect();
    for (name, rec) in names {
        let mut attrs = vec![si(tree, rec), fname(p, tree, name, rec)];
        let mut flags = record::IN_USE;
        match rec {
            0 => {
                let (e, d) = data_of(p, 0).unwrap_or_default();
                attrs.push((kind::DATA, Vec::new(), nonres(e, c, d)));
                attrs.push((
                    kind::BITMAP,
                    Vec::new(),
                    nonres(p.sys.mft_bitmap, c, p.mft_bitmap_bytes()),
                ));
            }
            3 => {
                let label: Vec<u8> = p
                    .opts
                    .label
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes())
                    .collect();
                attrs.push((
                    kind::VOLUME_NAME,
                    Vec::new(),
                    AttrValue::Resident(label, false),
                ));
                let mut info = vec![0u8; 12];
                info[8] = VERSION.0;
                info[9] = VERSION.1;
                attrs.push((
                    kind::VOLUME_INFORMATION,
                    Vec::new(),
                    AttrValue::Resident(info, false),
                ));
                attrs.push((
                    kind::DATA,
                    Vec::new(),
                    AttrValue::Resident(Vec::new(), false),
                ));
            }
            8 => {
                attrs.push((
                    kind::DATA,
                    Vec::new(),
                    AttrValue::Resident(Vec::new(), false),
                ));
                // $Bad: one hole the size of the volume, no bad clusters.
                let n = p.geo.total_clusters;
                let bytes = n * c;
                let size = StreamSize {
                    allocated: bytes,
                    data: bytes,
                    initialized: bytes,
                    compressed: None,
                };
                let runs = vec![Run { lcn: None, len: n }];
                attrs.push((
                    kind::DATA,
                    utf16("$Bad"),
                    AttrValue::NonResident(runs, size),
                ));
            }
            9 => {
                flags |= record::VIEW_INDEX;
                let sds_len = secure::sds().len() as u64;
                attrs.push((kind::DATA, utf16("$SDS"), nonres(p.sys.sds, c, sds_len)));
                let sdh = index::build(
                    vec![secure::sdh_entry()],
                    usize::MAX,
                    usize::MAX,
                    layout::INDEX_BLOCK,
                    1,
                );
                let sii = index::build(
                    vec![secure::sii_entry()],
                    usize::MAX,
                    usize::MAX,
                    layout::INDEX_BLOCK,
                    1,
                );
                attrs.extend(node::index_attrs(
                    p,
                    &utf16("$SDH"),
                    0,
                    collation::NTOFS_SECURITY_HASH,
                    &sdh,
                    Extent::default(),
                    None,
                ));
                attrs.extend(node::index_attrs(
                    p,
                    &utf16("$SII"),
                    0,
                    collation::NTOFS_ULONG,
                    &sii,
                    Extent::default(),
                    None,
                ));
            }
            EXTEND => {
                flags |= record::DIRECTORY;
                let mut entries: Vec<Entry> = Vec::new();
                for (n, r) in [("$ObjId", OBJ_ID), ("$Quota", QUOTA), ("$Reparse", REPARSE)] {
                    let f = system_file_name(p, tree, n, r);
                    entries.push(Entry::file_name(mref(r, NtfsPlan::seq(r)), f.encode()));
                }
                let t = index::build(entries, usize::MAX, usize::MAX, layout::INDEX_BLOCK, 1);
                attrs.extend(node::index_attrs(
                    p,
                    &utf16("$I30"),
                    kind::FILE_NAME,
                    collation::FILE_NAME,
                    &t,
                    Extent::default(),
                    None,
                ));
            }
            QUOTA => {
                flags |= record::VIEW_INDEX;
                attrs.extend(empty_index(p, "$O", collation::NTOFS_SID));
                attrs.extend(empty_index(p, "$Q", collation::NTOFS_ULONG));
            }
            OBJ_ID => {
                flags |= record::VIEW_INDEX;
                attrs.extend(empty_index(p, "$O", collation::NTOFS_ULONGS));
            }
            REPARSE => {
                flags |= record::VIEW_INDEX;
                attrs.extend(node::index_attrs(
                    p,
                    &utf16("$R"),
                    0,
                    collation::NTOFS_ULONGS,
                    &p.reparse_index,
                    p.sys.reparse,
                    None,
                ));
            }
            r => {
                if let Some((e, d)) = data_of(p, r) {
                    attrs.push((kind::DATA, Vec::new(), nonres(e, c, d)));
                }
            }
        }
        let h = Header {
            number: rec as u32,
            seq: NtfsPlan::seq(rec),
            links: 1,
            flags,
            base: 0,
        };
        out.push((
            rec,
            node::assemble(p, h, &attrs, || format!("system file {name}"))?,
        ));
    }
    // 12-15: reserved, in use, no name.
    for rec in 12..16u64 {
        let attrs = vec![
            si(tree, rec),
            (
                kind::DATA,
                Vec::new(),
                AttrValue::Resident(Vec::new(), false),
            ),
        ];
        let h = Header {
            number: rec as u32,
            seq: NtfsPlan::seq(rec),
            links: 0,
            flags: record::IN_USE,
            base: 0,
        };
        out.push((
            rec,
            node::assemble(p, h, &attrs, || format!("system record {rec}"))?,
        ));
    }
    out.sort_by_key(|r| r.0);
    let _ = attr::align8(0);
    Ok(out)
}
