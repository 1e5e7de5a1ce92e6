//! Planning each directory's `$I30` index: its entries (the names in it,
//! and the system files' in the root), sorted by NTFS collation
//! ([`upcase::collate`]), and how they split between `$INDEX_ROOT` in the
//! record and `INDX` blocks ([`index::build`]). Pure: works on the plan.

use super::attr::align8;
use super::index::{self, Entry};
use super::layout::{NtfsPlan, INDEX_BLOCK, SYSTEM_NAMES};
use super::record::{self, mref};
use super::{node, upcase, NtfsError};
use crate::tree::Tree;

/// For each directory tree node, the names in it: (inode, name index).
pub(super) fn names_by_dir(p: &NtfsPlan, tree: &Tree) -> Vec<Vec<(usize, usize)>> {
    let mut out = vec![Vec::new(); tree.nodes.len()];
    for (i, ino) in p.inodes.iter().enumerate() {
        for (k, name) in ino.names.iter().enumerate() {
            out[name.dir.index()].push((i, k));
        }
    }
    out
}

/// The `$I30` entries of a directory inode, sorted, bulk-loaded; and
/// whether the index's `$BITMAP` must live outside the record (a directory
/// of thousands of index blocks).
pub(super) fn dir_index(
    p: &NtfsPlan,
    tree: &Tree,
    dir: usize,
    by_dir: &[Vec<(usize, usize)>],
    vpb: u64,
) -> Result<(index::Tree, bool), NtfsError> {
    let dir_node = p.inodes[dir].node;
    let mut entries: Vec<(Vec<u16>, Entry)> = Vec::new();
    for &(i, k) in &by_dir[dir_node.index()] {
        let name = &p.inodes[i].names[k];
        let f = node::file_name(p, tree, i, name);
        entries.push((
            name.units.clone(),
            Entry::file_name(p.mref_of(i), f.encode()),
        ));
    }
    if dir == 0 {
        for &(s, rec) in SYSTEM_NAMES {
            let f = super::system::system_file_name(p, tree, s, rec);
            entries.push((
                f.name.clone(),
                Entry::file_name(mref(rec, NtfsPlan::seq(rec)), f.encode()),
            ));
        }
    }
    entries.sort_by(|a, b| upcase::collate(&p.upcase, &a.0, &b.0));
    let space = record::attr_space(p.geo.record);
    let fixed = node::fixed_attrs_len(&p.inodes[dir]);
    let ir = 0x18 + 8 + index::ROOT_OVERHEAD;
    let small = space.saturating_sub(fixed + ir);
    // With sub-nodes the record also holds $INDEX_ALLOCATION and $BITMAP.
    let blocks_guess = entries.iter().map(|e| e.1.size(true)).sum::<usize>()
        / (index::block_capacity(INDEX_BLOCK) / 2)
        + 2;
    let resident = 0x60 + 0x20 + align8(blocks_guess.div_ceil(8));
    // A non-resident bitmap: header, name, one run.
    let outside = 0x60 + 0x60;
    let bitmap_outside = resident > outside && small.saturating_sub(resident) < 0x100;
    let large = small.saturating_sub(if bitmap_outside { outside } else { resident });
    if large < 0x18 {
        return Err(NtfsError::RecordFull {
            path: tree.path_of(dir_node),
            what: "the directory index root".into(),
            record_size: p.opts.mft_record_size,
        });
    }
    let sorted: Vec<Entry> = entries.into_iter().map(|e| e.1).collect();
    Ok((
        index::build(sorted, small, large, INDEX_BLOCK, vpb),
        bitmap_outside,
    ))
}
