//! The MFT record of one tree inode: `$STANDARD_INFORMATION`, one
//! `$FILE_NAME` per name (hard links), then the content: `$DATA`
//! (resident or one contiguous run), a directory's `$I30` index
//! (`$INDEX_ROOT`, and `$INDEX_ALLOCATION` + `$BITMAP` when it has
//! blocks), or a symlink's `$REPARSE_POINT`.

use super::attr::{self, align8, kind, StreamSize};
use super::file_name::FileName;
use super::index;
use super::layout::{self, Content, Inode, Name, NtfsPlan, INDEX_BLOCK};
use super::record::{self, Header};
use super::spill;
use super::std_info::{self, fa};
use super::NtfsError;
use crate::tree::Tree;

/// Bytes of the attributes every record of `ino` has: the standard
/// information and the names.
pub fn fixed_attrs_len(ino: &Inode) -> usize {
    // The root's own name, ".", is not one of its tree names.
    let dot = if ino.record == layout::ROOT {
        0x18 + align8(0x44)
    } else {
        0
    };
    dot + 0x18
        + std_info::LEN
        + ino
            .names
            .iter()
            .map(|n| 0x18 + align8(0x42 + 2 * n.units.len()))
            .sum::<usize>()
}

/// (allocated, data) sizes as `$FILE_NAME` records them.
fn sizes(p: &NtfsPlan, ino: &Inode) -> (u64, u64) {
    match &ino.content {
        Content::File {
            len,
            resident: true,
            ..
        } => (align8(*len as usize) as u64, *len),
        Content::File { len, .. } => (p.geo.clusters_for(*len) * p.geo.cluster, *len),
        _ => (0, 0),
    }
}

/// The `$FILE_NAME` of inode `i` under `name`.
pub fn file_name(p: &NtfsPlan, tree: &Tree, i: usize, name: &Name) -> FileName {
    let ino = &p.inodes[i];
    let mut attributes = ino.attributes;
    let mut tag = 0;
    match ino.content {
        Content::Dir { .. } => attributes |= fa::DUP_FILE_NAME_INDEX_PRESENT,
        Content::Symlink { tag: t, .. } => tag = t,
        Content::File { .. } => {}
    }
    let times = layout::times(&tree.node(ino.node).meta);
    layout::file_name_value(
        p.dir_mref(name.dir),
        times,
        sizes(p, ino),
        attributes,
        tag,
        name,
    )
}

/// `$INDEX_ROOT` + `$INDEX_ALLOCATION` + `$BITMAP` of an index named
/// `name`, in that order (the attributes' type order).
pub fn index_attrs(
    p: &NtfsPlan,
    name: &[u16],
    indexed_type: u32,
    collation: u32,
    tree: &index::Tree,
    alloc: layout::Extent,
    bitmap: Option<layout::Extent>,
) -> Vec<(u32, Vec<u16>, AttrValue)> {
    let unit = (INDEX_BLOCK as u64 / p.geo.index_vcn_unit()) as u8;
    let root = index::root_value(
        indexed_type,
        collation,
        INDEX_BLOCK as u32,
        unit,
        &tree.root,
    );
    let mut out = vec![(
        kind::INDEX_ROOT,
        name.to_vec(),
        AttrValue::Resident(root, false),
    )];
    if !tree.blocks.is_empty() {
        let data = (tree.blocks.len() * INDEX_BLOCK) as u64;
        let size = StreamSize {
            allocated: alloc.clusters * p.geo.cluster,
            data,
            initialized: data,
            compressed: None,
        };
        out.push((
            kind::INDEX_ALLOCATION,
            name.to_vec(),
            AttrValue::NonResident(alloc.runs(), size),
        ));
        let bits = index::bitmap(tree.blocks.len());
        let value = match bitmap {
            None => AttrValue::Resident(bits, false),
            Some(e) => AttrValue::NonResident(
                e.runs(),
                StreamSize {
                    allocated: e.clusters * p.geo.cluster,
                    data: bits.len() as u64,
                    initialized: bits.len() as u64,
                    compressed: None,
                },
            ),
        };
        out.push((kind::BITMAP, name.to_vec(), value));
    }
    out
}

/// An attribute's value before encoding.
#[derive(Debug, Clone)]
pub enum AttrValue {
    /// The value and the "indexed" flag.
    Resident(Vec<u8>, bool),
    NonResident(Vec<super::runlist::Run>, StreamSize),
}

/// Encodes attributes with instances 0, 1, ... and assembles the record.
pub fn assemble(
    p: &NtfsPlan,
    h: Header,
    attrs: &[(u32, Vec<u16>, AttrValue)],
    path: impl FnOnce() -> String,
) -> Result<Vec<u8>, NtfsError> {
    let encoded: Vec<Vec<u8>> = attrs
        .iter()
        .enumerate()
        .map(|(i, it)| spill::encode(it, i as u16))
        .collect();
    record::build(p.geo.record, h, &encoded).ok_or_else(|| NtfsError::RecordFull {
        path: path(),
        what: "its attributes".into(),
        record_size: p.opts.mft_record_size,
    })
}

/// The records of one inode, and a non-resident attribute list's value
/// with the clusters it goes to.
pub struct Built {
    /// The base record, then its extension records.
    pub records: Vec<Vec<u8>>,
    pub list: Option<(layout::Extent, Vec<u8>)>,
}

/// The attributes of inode `i` in type order, and its base record's
/// header. `resident_data` is a resident file's content; with `widest`,
/// run lists start at [`spill::WIDEST_LCN`] (for planning, before clusters
/// are handed out).
pub fn items(
    p: &NtfsPlan,
    tree: &Tree,
    i: usize,
    resident_data: &[u8],
    widest: bool,
) -> (Vec<spill::Item>, Header) {
    let ino = &p.inodes[i];
    let meta = &tree.node(ino.node).meta;
    let si = layout::si_value(&layout::times(meta), ino.attributes);
    let mut attrs = vec![(
        kind::STANDARD_INFORMATION,
        Vec::new(),
        AttrValue::Resident(si.to_vec(), false),
    )];
    let mut links = ino.names.len() as u16;
    if ino.record == layout::ROOT {
        let f = super::system::system_file_name(p, tree, ".", layout::ROOT);
        attrs.push((
            kind::FILE_NAME,
            Vec::new(),
            AttrValue::Resident(f.encode(), true),
        ));
        links = 1;
    }
    for name in &ino.names {
        let f = file_name(p, tree, i, name);
        attrs.push((
            kind::FILE_NAME,
            Vec::new(),
            AttrValue::Resident(f.encode(), true),
        ));
    }
    let mut flags = record::IN_USE;
    match &ino.content {
        Content::Dir {
            index: t,
            alloc,
            bitmap,
        } => {
            flags |= record::DIRECTORY;
            attrs.extend(index_attrs(
                p,
                &attr::utf16("$I30"),
                kind::FILE_NAME,
                index::collation::FILE_NAME,
                t,
                *alloc,
                *bitmap,
            ));
        }
        Content::File {
            len,
            resident: true,
            ..
        } => {
            debug_assert_eq!(resident_data.len() as u64, *len);
            attrs.push((
                kind::DATA,
                Vec::new(),
                AttrValue::Resident(resident_data.to_vec(), false),
            ));
        }
        Content::File {
            len,
            alloc,
            segments,
            ..
        } => {
            let c = p.geo.cluster;
            let size = StreamSize {
                allocated: p.geo.clusters_for(*len) * c,
                data: *len,
                initialized: *len,
                compressed: segments.as_ref().map(|_| alloc.clusters * c),
            };
            let lcn = if widest { spill::WIDEST_LCN } else { alloc.lcn };
            attrs.push((
                kind::DATA,
                Vec::new(),
                AttrValue::NonResident(super::data::file_runs(*len, c, lcn, segments), size),
            ));
        }
        Content::Symlink { reparse, .. } => {
            attrs.push((
                kind::REPARSE_POINT,
                Vec::new(),
                AttrValue::Resident(reparse.clone(), false),
            ));
        }
    }
    let h = Header {
        number: ino.record as u32,
        seq: NtfsPlan::seq(ino.record),
        links,
        flags,
        base: 0,
    };
    (attrs, h)
}

/// The records of inode `i`; `resident_data` is a resident file's content.
pub fn build(
    p: &NtfsPlan,
    tree: &Tree,
    i: usize,
    resident_data: &[u8],
) -> Result<Built, NtfsError> {
    let ino = &p.inodes[i];
    let (attrs, h) = items(p, tree, i, resident_data, false);
    let Some(s) = &ino.spill else {
        let r = assemble(p, h, &attrs, || tree.path_of(ino.node))?;
        return Ok(Built {
            records: vec![r],
            list: None,
        });
    };
    let (records, outside) = spill::assemble(p.geo.record, p.geo.cluster, h, &attrs, s)
        .ok_or_else(|| NtfsError::RecordFull {
            path: tree.path_of(ino.node),
            what: "its attributes, spread over extension records,".into(),
            record_size: p.opts.mft_record_size,
        })?;
    let list = match (s.list, outside) {
        (spill::ListForm::NonResident(e), Some(v)) => Some((e, v)),
        _ => None,
    };
    Ok(Built { records, list })
}
