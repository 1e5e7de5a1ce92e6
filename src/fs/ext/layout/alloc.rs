//! Block placement: group metadata packed per flex group, then one bump
//! cursor over the free blocks for data and mapping blocks.

use super::{geometry, GroupMeta, InodeSource, Laid, LayoutFail, Need, Run};
use crate::fs::ext::features::Features;
use crate::fs::ext::map;
use crate::fs::ext::ExtOptions;

/// Sorted, non-overlapping block ranges that are taken, with a cursor that
/// hands out the gaps in order.
struct Allocator {
    taken: Vec<(u64, u64)>,
    idx: usize,
    cursor: u64,
}

impl Allocator {
    /// Moves the cursor past any taken range it sits in.
    fn settle(&mut self) {
        while self.idx < self.taken.len() {
            let (s, e) = self.taken[self.idx];
            if self.cursor >= e {
                self.idx += 1;
            } else if self.cursor >= s {
                self.cursor = e;
                self.idx += 1;
            } else {
                break;
            }
        }
    }
    /// Hands out `n` blocks as runs (logical numbering from `logical`).
    fn take(&mut self, mut logical: u64, mut n: u64, out: &mut Vec<Run>) {
        while n > 0 {
            self.settle();
            let gap_end = self.taken.get(self.idx).map_or(u64::MAX, |r| r.0);
            let len = n.min(gap_end - self.cursor);
            match out.last_mut() {
                Some(last)
                    if last.physical + last.len == self.cursor
                        && last.logical + last.len == logical =>
                {
                    last.len += len
                }
                _ => {
                    // Most inodes have one run: room for exactly one, not
                    // the four a first push reserves (1,000,000 files are
                    // 72 MB apart).
                    if out.capacity() == 0 {
                        out.reserve_exact(1);
                    }
                    out.push(Run {
                        logical,
                        physical: self.cursor,
                        len,
                    })
                }
            }
            self.cursor += len;
            logical += len;
            n -= len;
        }
    }
    /// One contiguous range of `n` blocks at or after the cursor.
    fn take_contig(&mut self, n: u64) -> u64 {
        loop {
            self.settle();
            let gap_end = self.taken.get(self.idx).map_or(u64::MAX, |r| r.0);
            if gap_end - self.cursor >= n {
                let s = self.cursor;
                self.cursor += n;
                return s;
            }
            self.cursor = gap_end;
        }
    }
}

pub(super) fn try_layout(
    opts: &ExtOptions,
    features: &Features,
    blocks: u64,
    inodes: u64,
    needs: &[Need],
) -> Result<Laid, LayoutFail> {
    let geo = geometry(opts, features, blocks, inodes)?;
    if (geo.inodes) < needs.last().map_or(0, |n| n.ino) as u64 {
        return Err(LayoutFail::Inodes {
            available: geo.inodes,
        });
    }
    // Superblock and descriptor copies.
    let mut sb_ranges = Vec::new();
    for g in 0..geo.groups {
        if geo.has_super(g) {
            let s = if g == 0 { 0 } else { geo.group_start(g) };
            let e = geo.group_start(g) + 1 + geo.gdt_blocks as u64;
            // A backup superblock and descriptor table must fit inside a
            // last group that may be short.
            if e > blocks {
                return Err(LayoutFail::Geometry);
            }
            sb_ranges.push((s, e));
        }
    }
    // Group metadata, packed per flex group.
    let mut meta = Allocator {
        taken: sb_ranges.clone(),
        idx: 0,
        cursor: 0,
    };
    let mut groups = vec![
        GroupMeta {
            block_bitmap: 0,
            inode_bitmap: 0,
            inode_table: 0,
        };
        geo.groups as usize
    ];
    let mut meta_ranges = Vec::new();
    let flex = geo.groups_per_flex;
    let mut f0 = 0;
    while f0 < geo.groups {
        let f1 = (f0 + flex).min(geo.groups);
        meta.cursor = meta.cursor.max(geo.group_start(f0));
        for g in f0..f1 {
            groups[g as usize].block_bitmap = meta.take_contig(1);
        }
        for g in f0..f1 {
            groups[g as usize].inode_bitmap = meta.take_contig(1);
        }
        for g in f0..f1 {
            groups[g as usize].inode_table = meta.take_contig(geo.inode_table_blocks as u64);
        }
        f0 = f1;
    }
    for g in &groups {
        meta_ranges.push((g.block_bitmap, g.block_bitmap + 1));
        meta_ranges.push((g.inode_bitmap, g.inode_bitmap + 1));
        meta_ranges.push((g.inode_table, g.inode_table + geo.inode_table_blocks as u64));
    }
    if meta.cursor > blocks {
        return Err(LayoutFail::Needs(meta.cursor + 64));
    }
    if flex == 1 {
        // Without flex_bg each group's metadata must sit inside the group.
        for (g, m) in groups.iter().enumerate() {
            let s = geo.group_start(g as u32);
            let e = s + geo.group_len(g as u32);
            if m.inode_table + geo.inode_table_blocks as u64 > e || m.block_bitmap < s {
                return Err(LayoutFail::Geometry);
            }
        }
    }
    let mut taken: Vec<(u64, u64)> = sb_ranges
        .iter()
        .chain(meta_ranges.iter())
        .copied()
        .collect();
    taken.sort_unstable();
    let taken = merge(taken);

    let mut data = Allocator {
        taken: taken.clone(),
        idx: 0,
        cursor: 0,
    };
    let mut runs: Vec<Vec<Run>> = Vec::with_capacity(needs.len() + 1);
    let mut xattr_blocks = Vec::with_capacity(needs.len());
    // Journal first, as one contiguous stretch where possible.
    let mut journal_runs = Vec::new();
    data.take(0, geo.journal_blocks as u64, &mut journal_runs);
    for n in needs {
        if n.source == InodeSource::Journal {
            runs.push(std::mem::take(&mut journal_runs));
            xattr_blocks.push(None);
            continue;
        }
        xattr_blocks.push(if n.xattr_block {
            let mut r = Vec::new();
            data.take(0, 1, &mut r);
            Some(r[0].physical)
        } else {
            None
        });
        let mut r = Vec::new();
        for &(logical, len) in &n.data {
            data.take(logical, len, &mut r);
        }
        runs.push(r);
    }
    // Mapping blocks after all data.
    let mut map_blocks = Vec::with_capacity(needs.len());
    for r in &runs {
        let count = if features.extents() {
            map::extent_tree_blocks(r, opts.block_size)
        } else {
            map::blockmap_blocks(r, opts.block_size)
        };
        let mut v = Vec::new();
        if count > 0 {
            let mut rr = Vec::new();
            data.take(0, count, &mut rr);
            for run in rr {
                v.extend(run.physical..run.physical + run.len);
            }
        }
        map_blocks.push(v);
    }
    data.settle();
    let end = data.cursor;
    // Everything handed out must lie inside the filesystem, and the
    // reserved blocks must stay free.
    let meta_blocks: u64 = taken.iter().map(|(s, e)| e - s).sum();
    let used_data: u64 = runs.iter().flatten().map(|r| r.len).sum::<u64>()
        + map_blocks.iter().map(|v| v.len() as u64).sum::<u64>()
        + xattr_blocks.iter().flatten().count() as u64;
    let used_total = meta_blocks.min(blocks) + used_data;
    if end > blocks || used_total + geo.reserved_blocks > blocks {
        let reserved_extra = geo.reserved_blocks;
        return Err(LayoutFail::Needs(end.max(used_total) + reserved_extra));
    }
    // Used ranges for bitmaps.
    let mut used = taken;
    for r in runs.iter().flatten() {
        used.push((r.physical, r.physical + r.len));
    }
    for v in &map_blocks {
        for &b in v {
            used.push((b, b + 1));
        }
    }
    for &b in xattr_blocks.iter().flatten() {
        used.push((b, b + 1));
    }
    used.sort_unstable();
    let used = merge(used);
    let mut geo = geo;
    let used_count: u64 = used.iter().map(|(s, e)| e - s).sum();
    geo.free_blocks = blocks - used_count;
    Ok(Laid {
        geo,
        groups,
        runs,
        map_blocks,
        xattr_blocks,
        used,
    })
}

pub(super) fn merge(v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
