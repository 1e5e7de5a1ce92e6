//! Files whose attributes overflow one MFT record: many hard links (one
//! `$FILE_NAME` each) or a long sparse run list. Their attributes spill
//! into extension records, which follow the base record, and the base
//! record gains an `$ATTRIBUTE_LIST` ([`super::attr_list`]) naming where
//! each one lives.
//!
//! Planned once ([`plan`]) from the attributes' sizes, with every run
//! list's first LCN at its widest (the clusters are not handed out yet), so
//! the placement holds whatever LCNs allocation gives; [`assemble`] then
//! encodes the real attributes into that placement. The base record keeps
//! `$STANDARD_INFORMATION` and the list; the other attributes follow in
//! type order, filling the base record and then each extension record in
//! turn. A `$DATA` run list too long for one record is split into extents
//! (by run), each mapping its own VCN range.

use super::attr::{self, align8, kind, StreamSize};
use super::attr_list::{self, Entry};
use super::layout::{Content, Extent, NtfsPlan};
use super::node::AttrValue;
use super::record::{self, mref, Header};
use super::runlist::{self, Run};

/// An LCN wider than any real one (2^40 clusters is 4 PiB at 4 KiB):
/// planning with it bounds every run list's real size.
pub const WIDEST_LCN: u64 = (1 << 40) - 1;

/// An attribute before encoding: type, name, value.
pub type Item = (u32, Vec<u16>, AttrValue);

/// Where the attribute list's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListForm {
    Resident,
    /// In its own clusters (handed out by the allocator).
    NonResident(Extent),
}

/// How one inode's attributes spread over its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spill {
    /// Extension records after the base record.
    pub extensions: u32,
    /// The record of each attribute (0 = base, k = the k-th extension), in
    /// item order with `$DATA` split into its extents.
    pub placement: Vec<u32>,
    /// Index of the first run of each `$DATA` extent after the first.
    pub data_splits: Vec<usize>,
    pub list: ListForm,
    /// Bytes of the list's value.
    pub list_len: u64,
}

/// Encodes one attribute with its instance number.
pub fn encode(item: &Item, instance: u16) -> Vec<u8> {
    let (t, name, v) = item;
    match v {
        AttrValue::Resident(value, indexed) => attr::resident(*t, name, value, instance, *indexed),
        AttrValue::NonResident(runs, size) => attr::non_resident(*t, name, runs, *size, instance),
    }
}

/// Splits a run list so that each piece, as a non-resident attribute
/// named `name`, fits `space` bytes. Returns the first run index of every
/// piece after the first; `None` when one run alone does not fit.
fn split_runs(name: &[u16], runs: &[Run], sparse: bool, space: usize) -> Option<Vec<usize>> {
    // Bytes before the mapping pairs.
    let header = attr::non_resident_len(name, &[], sparse) - 8;
    let mut splits = Vec::new();
    let mut used = header + 1;
    let mut prev = 0u64;
    let mut piece_start = 0usize;
    for (i, r) in runs.iter().enumerate() {
        let mut n = runlist::pair_len(r, prev);
        if align8(used + n) > space {
            if i == piece_start {
                return None;
            }
            // Each extent's mapping pairs start again from LCN 0.
            splits.push(i);
            piece_start = i;
            used = header + 1;
            n = runlist::pair_len(r, 0);
            if align8(used + n) > space {
                return None;
            }
        }
        used += n;
        if let Some(l) = r.lcn {
            prev = l;
        } else if i == piece_start {
            prev = 0;
        }
    }
    Some(splits)
}

/// One `$DATA` extent per piece of `runs`: (lowest VCN, runs).
fn extents<'a>(runs: &'a [Run], splits: &[usize]) -> Vec<(u64, &'a [Run])> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut vcn = 0u64;
    for &end in splits.iter().chain(std::iter::once(&runs.len())) {
        let piece = &runs[start..end];
        out.push((vcn, piece));
        vcn += piece.iter().map(|r| r.len).sum::<u64>();
        start = end;
    }
    out
}

/// The attributes as records will hold them: `$DATA`'s run list cut into
/// extents. Each is (type, name, lowest VCN, encoded with `instance`).
fn pieces(items: &[Item], splits: &[usize]) -> Vec<(u32, Vec<u16>, u64, Piece)> {
    let mut out = Vec::new();
    for it in items {
        match &it.2 {
            AttrValue::NonResident(runs, size) if it.0 == kind::DATA && it.1.is_empty() => {
                for (vcn, piece) in extents(runs, splits) {
                    out.push((
                        it.0,
                        it.1.clone(),
                        vcn,
                        Piece::Extent(piece.to_vec(), *size, vcn),
                    ));
                }
            }
            _ => out.push((it.0, it.1.clone(), 0, Piece::Whole(it.clone()))),
        }
    }
    out
}

enum Piece {
    Whole(Item),
    Extent(Vec<Run>, StreamSize, u64),
}

impl Piece {
    fn encode(&self, t: u32, name: &[u16], instance: u16) -> Vec<u8> {
        match self {
            Piece::Whole(it) => encode(it, instance),
            Piece::Extent(runs, size, vcn) => {
                attr::non_resident_extent(t, name, runs, *size, *vcn, instance)
            }
        }
    }
}

/// Bytes of an attribute-list entry for an attribute named `name`.
fn entry_len(name: &[u16]) -> usize {
    align8(0x1a + 2 * name.len())
}

/// The non-resident form of the list: one run.
fn list_nonresident_len() -> usize {
    attr::non_resident_len(
        &[],
        &[Run {
            lcn: Some(WIDEST_LCN),
            len: 1 << 20,
        }],
        false,
    )
}

/// Plans the spill of `items` (the inode's attributes in type order,
/// `$STANDARD_INFORMATION` first, run lists at [`WIDEST_LCN`]) into
/// records with `space` bytes for attributes. `None` when the attributes
/// fit one record. `Err` names an attribute too large for any record.
pub fn plan(items: &[Item], space: usize) -> Result<Option<Spill>, &'static str> {
    let whole: usize = items.iter().map(|it| encode(it, 0).len()).sum();
    if whole <= space {
        return Ok(None);
    }
    let mut data_splits = Vec::new();
    for it in items {
        if let AttrValue::NonResident(runs, size) = &it.2 {
            if it.0 == kind::DATA && it.1.is_empty() {
                data_splits = split_runs(&it.1, runs, size.compressed.is_some(), space)
                    .ok_or("one run of its data")?;
            }
        }
    }
    let ps = pieces(items, &data_splits);
    let sizes: Vec<usize> = ps.iter().map(|p| p.3.encode(p.0, &p.1, 0).len()).collect();
    if sizes.iter().any(|&s| s > space) {
        return Err("an attribute");
    }
    let list_len: usize = ps.iter().map(|p| entry_len(&p.1)).sum();
    let resident_list = 0x18 + align8(list_len);
    let base_fixed = sizes[0];
    let (list, list_size) = if base_fixed + resident_list <= space {
        (ListForm::Resident, resident_list)
    } else {
        (
            ListForm::NonResident(Extent::default()),
            list_nonresident_len(),
        )
    };
    // Fill the base record, then extension records, in order.
    let mut placement = vec![0u32; ps.len()];
    let mut rec = 0u32;
    let mut used = base_fixed + list_size;
    for (k, &s) in sizes.iter().enumerate().skip(1) {
        if used + s > space {
            rec += 1;
            used = 0;
        }
        placement[k] = rec;
        used += s;
    }
    Ok(Some(Spill {
        extensions: rec,
        placement,
        data_splits,
        list,
        list_len: list_len as u64,
    }))
}

/// A spilled inode's records (base first), and its attribute list's value
/// when that lives outside the records.
pub type Assembled = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// The records of a spilled inode: the base record (header `h`) and its
/// extension records, and the attribute list's value when it is
/// non-resident (to be written at its extent). `items` as for [`plan`],
/// with the real LCNs.
pub fn assemble(
    record_size: usize,
    cluster: u64,
    h: Header,
    items: &[Item],
    s: &Spill,
) -> Option<Assembled> {
    let ps = pieces(items, &s.data_splits);
    if ps.len() != s.placement.len() {
        return None;
    }
    let base_ref = mref(u64::from(h.number), h.seq);
    let seq_of = |r: u32| if r == 0 { h.seq } else { 1 };
    // Instances: in the base record, the standard information is 0 and
    // the list 1; the rest count up from there in each record.
    let mut next = vec![0u16; s.extensions as usize + 1];
    next[0] = 2;
    let mut encoded: Vec<(u32, Vec<u8>)> = Vec::with_capacity(ps.len());
    let mut entries = Vec::with_capacity(ps.len());
    for (k, p) in ps.iter().enumerate() {
        let r = s.placement[k];
        let instance = if k == 0 {
            0
        } else {
            let i = next[r as usize];
            next[r as usize] += 1;
            i
        };
        encoded.push((r, p.3.encode(p.0, &p.1, instance)));
        entries.push(Entry {
            typ: p.0,
            name: p.1.clone(),
            lowest_vcn: p.2,
            mref: mref(u64::from(h.number) + u64::from(r), seq_of(r)),
            instance,
        });
    }
    entries.sort_by(|a, b| (a.typ, &a.name, a.lowest_vcn).cmp(&(b.typ, &b.name, b.lowest_vcn)));
    let value = attr_list::encode(&entries);
    let (list_attr, outside) = match s.list {
        ListForm::Resident => (
            attr::resident(kind::ATTRIBUTE_LIST, &[], &value, 1, false),
            None,
        ),
        ListForm::NonResident(e) => {
            let size = StreamSize {
                allocated: e.clusters * cluster,
                data: value.len() as u64,
                initialized: value.len() as u64,
                compressed: None,
            };
            (
                attr::non_resident(kind::ATTRIBUTE_LIST, &[], &e.runs(), size, 1),
                Some(value),
            )
        }
    };
    let mut records = Vec::with_capacity(s.extensions as usize + 1);
    for r in 0..=s.extensions {
        let mut attrs: Vec<Vec<u8>> = Vec::new();
        for (k, (er, bytes)) in encoded.iter().enumerate() {
            if *er == r {
                attrs.push(bytes.clone());
                if k == 0 {
                    attrs.push(list_attr.clone());
                }
            }
        }
        let header = if r == 0 {
            h
        } else {
            Header {
                number: h.number + r,
                seq: 1,
                links: 0,
                flags: record::IN_USE,
                base: base_ref,
            }
        };
        records.push(record::build(record_size, header, &attrs)?);
    }
    Some((records, outside))
}

/// True when inode `i`'s attributes might not fit one record (a cheap
/// bound; [`plan`] decides). Directories never spill: their index
/// root is sized to the record.
pub fn may_spill(p: &NtfsPlan, i: usize) -> bool {
    let ino = &p.inodes[i];
    let content = match &ino.content {
        Content::Dir { .. } => return false,
        Content::File {
            len,
            resident: true,
            ..
        } => 0x18 + align8(*len as usize),
        Content::File { len, segments, .. } => attr::non_resident_len(
            &[],
            &super::data::file_runs(*len, p.geo.cluster, WIDEST_LCN, segments),
            segments.is_some(),
        ),
        Content::Symlink { reparse, .. } => 0x18 + align8(reparse.len()),
    };
    super::node::fixed_attrs_len(ino) + content > record::attr_space(p.geo.record)
}
