//! The plan: geometry, where every group's metadata sits, every inode
//! number and every block of every inode. A pure function of the tree and
//! the options; [`super::write`] only carries it out.
//!
//! Placement policy (deterministic, no rescanning allocator):
//! - Group metadata (bitmaps, inode tables) is packed per flex group at the
//!   start of the flex group's first group, like mke2fs.
//! - Data is handed out by one bump cursor over the free blocks, in the
//!   order: journal, then every inode in sorted pre-order (directory blocks,
//!   xattr blocks, file data, slow symlinks). Files are contiguous except
//!   where reserved metadata interrupts them.
//! - Extent-tree and indirect blocks come after all data, in inode order.

use super::dir;
use super::features::Features;
use super::map;
use super::xattr;
use super::{ExtError, ExtOptions, Headroom, InodePolicy};
use crate::plan::size::human;
use crate::tree::{FileData, NodeId, NodeKind, Tree};
use serde::Serialize;

pub const ROOT_INO: u32 = 2;
pub const JOURNAL_INO: u32 = 8;
pub const FIRST_INO: u32 = 11;
pub const LOST_FOUND_INO: u32 = 11;

/// Filesystem geometry, reported in `--report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    pub block_size: u32,
    pub blocks: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u32,
    pub groups: u32,
    pub inodes: u64,
    pub inodes_per_group: u32,
    pub inode_size: u16,
    pub inode_table_blocks: u32,
    pub desc_size: u16,
    pub gdt_blocks: u32,
    pub groups_per_flex: u32,
    pub reserved_blocks: u64,
    pub journal_blocks: u32,
    pub free_blocks: u64,
    pub free_inodes: u64,
    pub features: Vec<&'static str>,
}

impl Geometry {
    pub fn group_start(&self, g: u32) -> u64 {
        self.first_data_block + g as u64 * self.blocks_per_group as u64
    }
    /// Number of blocks in group `g` (the last one may be short).
    pub fn group_len(&self, g: u32) -> u64 {
        let start = self.group_start(g);
        (self.blocks - start).min(self.blocks_per_group as u64)
    }
    pub fn has_super(&self, g: u32) -> bool {
        g <= 1 || [3u32, 5, 7].iter().any(|&b| is_power_of(g, b))
    }
    pub fn bytes(&self) -> u64 {
        self.blocks * self.block_size as u64
    }
    pub fn group_of_ino(&self, ino: u32) -> u32 {
        (ino - 1) / self.inodes_per_group
    }
}

fn is_power_of(mut n: u32, b: u32) -> bool {
    if n == 0 {
        return false;
    }
    while n % b == 0 {
        n /= b;
    }
    n == 1
}

/// Where one group's metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMeta {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
}

/// A run of blocks: `len` blocks from logical block `logical` stored at
/// physical block `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
}

/// What an inode holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeSource {
    Node(NodeId),
    Journal,
}

/// The plan of one inode.
#[derive(Debug, Clone)]
pub struct InodePlan {
    pub ino: u32,
    pub source: InodeSource,
    /// Data blocks (file data, directory blocks, slow symlink target).
    pub runs: Vec<Run>,
    /// Mapping metadata blocks (extent tree or indirect blocks), in the
    /// order the mapping builder consumes them.
    pub map_blocks: Vec<u64>,
    pub xattr_block: Option<u64>,
    /// Directory layout, for directories.
    pub dir: Option<dir::DirLayout>,
    pub links: u32,
    /// Logical size in blocks of the data (for i_size of directories).
    pub data_blocks: u64,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct ExtPlan {
    pub geo: Geometry,
    pub features: Features,
    pub groups: Vec<GroupMeta>,
    /// Inode plans in inode-number order (2, 8, 11, 12, ...).
    pub inodes: Vec<InodePlan>,
    /// Inode number of every tree node (hard links: their target's).
    pub ino_of: Vec<u32>,
    /// Used-block ranges `[start, end)`, sorted, for the bitmaps.
    pub used: Vec<(u64, u64)>,
    pub opts: ExtOptions,
}

impl ExtPlan {
    /// Directory blocks with an htree index, for reports and tests.
    pub fn indexed_dirs(&self) -> usize {
        self.inodes
            .iter()
            .filter(|i| i.dir.as_ref().is_some_and(|d| d.htree.is_some()))
            .count()
    }
}

/// Per-inode needs that do not depend on the geometry.
struct Need {
    ino: u32,
    source: InodeSource,
    /// Data blocks, with holes for sparse files: (logical, len) extents.
    data: Vec<(u64, u64)>,
    data_blocks: u64,
    xattr_block: bool,
    dir: Option<dir::DirLayout>,
    links: u32,
}

/// Plans the image.
pub fn plan(tree: &Tree, opts: &ExtOptions) -> Result<ExtPlan, ExtError> {
    validate_options(opts)?;
    let features = opts.features;
    let (needs, ino_of, max_ino) = inode_needs(tree, opts)?;
    let data_total: u64 = needs
        .iter()
        .map(|n| n.data_blocks + n.xattr_block as u64)
        .sum();
    let bs = opts.block_size as u64;

    // The inode count a given size gets under the options' policy.
    let inodes_at = |blocks: u64| -> u64 {
        match (opts.inodes, opts.size) {
            (InodePolicy::Fixed(n), _) => n,
            (InodePolicy::Ratio(r), _) => (blocks * bs / r.max(1)).max(max_ino as u64),
            (InodePolicy::Auto, _) => auto_inodes(max_ino),
        }
    };
    if let InodePolicy::Fixed(n) = opts.inodes {
        if n < max_ino as u64 {
            return Err(ExtError::TooFewInodes {
                needed: max_ino as u64,
                available: n,
            });
        }
    }
    match opts.size {
        Some(size) => {
            let blocks = size / bs;
            match try_layout(opts, &features, blocks, inodes_at(blocks), &needs) {
                Ok(p) => Ok(finish(p, needs, ino_of, opts)),
                Err(LayoutFail::Geometry) | Err(LayoutFail::Needs(_)) => {
                    let needed = min_blocks(opts, &features, &needs, &inodes_at, data_total)? * bs;
                    Err(ExtError::TooSmall {
                        size,
                        needed,
                        needed_h: human(needed),
                    })
                }
                Err(LayoutFail::Inodes { available }) => Err(ExtError::TooFewInodes {
                    needed: max_ino as u64,
                    available,
                }),
            }
        }
        None => {
            let mut blocks = min_blocks(opts, &features, &needs, &inodes_at, data_total)?;
            blocks = match opts.headroom {
                Headroom::None => blocks,
                Headroom::Percent(p) => blocks + (blocks as f64 * p / 100.0).ceil() as u64,
                Headroom::Bytes(b) => blocks + b.div_ceil(bs),
            };
            // Headroom may shift group boundaries; grow until it lays out.
            loop {
                match try_layout(opts, &features, blocks, inodes_at(blocks), &needs) {
                    Ok(p) => return Ok(finish(p, needs, ino_of, opts)),
                    Err(_) => blocks += 16,
                }
            }
        }
    }
}

fn validate_options(opts: &ExtOptions) -> Result<(), ExtError> {
    let bad = |key, message: String| Err(ExtError::Option { key, message });
    if ![1024, 2048, 4096, 65536 / 2, 65536].contains(&opts.block_size)
        && opts.block_size != 8192
        && opts.block_size != 16384
    {
        return bad(
            "block_size",
            format!(
                "{} is not one of 1024, 2048, 4096, 8192, 16384, 32768, 65536",
                opts.block_size
            ),
        );
    }
    if !opts.inode_size.is_power_of_two()
        || opts.inode_size < 128
        || opts.inode_size as u32 > opts.block_size
    {
        return bad(
            "inode_size",
            format!(
                "{} must be a power of two from 128 to the block size",
                opts.inode_size
            ),
        );
    }
    if opts.features.has_ro(super::features::RO_EXTRA_ISIZE) && opts.inode_size < 256 {
        return bad("inode_size", "extra_isize (and nanosecond times) needs inode_size 256 or more; add \"^extra_isize\" to features for 128".into());
    }
    if !(0.0..=50.0).contains(&opts.reserved_percent) {
        return bad(
            "reserved_percent",
            format!("{} is outside 0..50", opts.reserved_percent),
        );
    }
    if opts.label.len() > 16 {
        return bad("label", format!("{:?} is longer than 16 bytes", opts.label));
    }
    opts.features.validate()
}

fn auto_inodes(max_ino: u32) -> u64 {
    // Room for the tree plus a little: 1/32 more, at least 32.
    let n = max_ino as u64;
    n + (n / 32).max(32)
}

/// The smallest block count that lays the tree out (with reserved blocks
/// free), found by fixed-point iteration on the layout: each round adds what
/// the previous geometry lacked. Layout cost grows monotonically with size,
/// so this climbs to the least fixed point from below. `inodes_at` gives the
/// inode count at a size, so a ratio policy is sized the way it is built.
fn min_blocks(
    opts: &ExtOptions,
    features: &Features,
    needs: &[Need],
    inodes_at: &dyn Fn(u64) -> u64,
    data_total: u64,
) -> Result<u64, ExtError> {
    let bs = opts.block_size as u64;
    let journal = journal_blocks_for(opts, data_total);
    let mut blocks = (data_total + journal as u64 + 64).max(64);
    blocks += inodes_at(blocks) * opts.inode_size as u64 / bs;
    for _ in 0..10_000 {
        match try_layout(opts, features, blocks, inodes_at(blocks), needs) {
            Ok(_) => return Ok(blocks),
            Err(LayoutFail::Needs(n)) if n > blocks => blocks = n,
            Err(_) => blocks += (blocks / 256).max(8),
        }
    }
    Err(ExtError::Option {
        key: "size",
        message: "could not compute an automatic size".into(),
    })
}

/// mke2fs's default journal size for a filesystem of `blocks` blocks.
fn default_journal_blocks(blocks: u64) -> u32 {
    match blocks {
        b if b < 2048 => 0,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    }
}

fn journal_blocks_for(opts: &ExtOptions, blocks: u64) -> u32 {
    if !opts.features.journal() {
        return 0;
    }
    match opts.journal_size {
        Some(b) => (b / opts.block_size as u64).max(1024) as u32,
        None => default_journal_blocks(blocks).max(1024),
    }
}

enum LayoutFail {
    /// Needs at least this many blocks with the current geometry.
    Needs(u64),
    Geometry,
    Inodes {
        available: u64,
    },
}

struct Laid {
    geo: Geometry,
    groups: Vec<GroupMeta>,
    runs: Vec<Vec<Run>>,
    map_blocks: Vec<Vec<u64>>,
    xattr_blocks: Vec<Option<u64>>,
    used: Vec<(u64, u64)>,
}

fn geometry(
    opts: &ExtOptions,
    features: &Features,
    blocks: u64,
    inodes: u64,
) -> Result<Geometry, LayoutFail> {
    let bs = opts.block_size;
    let first_data_block = if bs == 1024 { 1 } else { 0 };
    let bpg = 8 * bs;
    if blocks <= first_data_block + 16 {
        return Err(LayoutFail::Needs(64));
    }
    let groups = (blocks - first_data_block).div_ceil(bpg as u64);
    let groups = u32::try_from(groups).map_err(|_| LayoutFail::Geometry)?;
    let ipb = bs / opts.inode_size as u32;
    let unit = ipb.max(8);
    let ipg = inodes.div_ceil(groups as u64).div_ceil(unit as u64) * unit as u64;
    let max_ipg = (8 * bs).min(65536 - unit) as u64;
    if ipg > max_ipg {
        // More groups are needed to hold this many inodes.
        let groups_needed = inodes.div_ceil(max_ipg);
        return Err(LayoutFail::Needs(
            first_data_block + (groups_needed - 1) * bpg as u64 + bpg as u64 / 2,
        ));
    }
    let ipg = ipg as u32;
    let desc_size: u16 = if features.is_64bit() { 64 } else { 32 };
    let gdt_blocks = (groups as u64 * desc_size as u64).div_ceil(bs as u64) as u32;
    if !features.is_64bit() && blocks > u32::MAX as u64 {
        return Err(LayoutFail::Geometry);
    }
    let journal_blocks = journal_blocks_for(opts, blocks);
    let reserved = (blocks as f64 * opts.reserved_percent / 100.0).floor() as u64;
    Ok(Geometry {
        block_size: bs,
        blocks,
        first_data_block,
        blocks_per_group: bpg,
        groups,
        inodes: ipg as u64 * groups as u64,
        inodes_per_group: ipg,
        inode_size: opts.inode_size,
        inode_table_blocks: ipg * opts.inode_size as u32 / bs,
        desc_size,
        gdt_blocks,
        groups_per_flex: if features.flex_bg() { 16 } else { 1 },
        reserved_blocks: reserved,
        journal_blocks,
        free_blocks: 0,
        free_inodes: 0,
        features: features.names(),
    })
}

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
                _ => out.push(Run {
                    logical,
                    physical: self.cursor,
                    len,
                }),
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

fn try_layout(
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

fn merge(v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn finish(laid: Laid, needs: Vec<Need>, ino_of: Vec<u32>, opts: &ExtOptions) -> ExtPlan {
    let mut geo = laid.geo;
    geo.free_inodes = geo.inodes
        - (FIRST_INO as u64 - 1)
        - needs.iter().filter(|n| n.ino >= FIRST_INO).count() as u64;
    let mut inodes = Vec::with_capacity(needs.len());
    for (((n, runs), map_blocks), xattr_block) in needs
        .into_iter()
        .zip(laid.runs)
        .zip(laid.map_blocks)
        .zip(laid.xattr_blocks)
    {
        inodes.push(InodePlan {
            ino: n.ino,
            source: n.source,
            runs,
            map_blocks,
            xattr_block,
            dir: n.dir,
            links: n.links,
            data_blocks: n.data_blocks,
        });
    }
    ExtPlan {
        geo,
        features: opts.features,
        groups: laid.groups,
        inodes,
        ino_of,
        used: laid.used,
        opts: opts.clone(),
    }
}

/// Numbers the inodes (root 2, journal 8, lost+found 11, the rest from 12
/// in sorted pre-order) and works out what each one needs.
fn inode_needs(tree: &Tree, opts: &ExtOptions) -> Result<(Vec<Need>, Vec<u32>, u32), ExtError> {
    let bs = opts.block_size as u64;
    let features = &opts.features;
    let order = tree.preorder();
    let mut ino_of = vec![0u32; tree.nodes.len()];
    let lost_found = tree
        .children(NodeId::ROOT)
        .iter()
        .copied()
        .find(|&c| tree.node(c).name == b"lost+found");
    match lost_found {
        Some(id) if tree.node(id).is_dir() => {}
        Some(_) => {
            return Err(ExtError::Entry {
                path: "/lost+found".into(),
                message: "must be a directory on ext filesystems".into(),
            })
        }
        None => {
            return Err(ExtError::Entry {
                path: "/lost+found".into(),
                message: "missing (call fs::ext::prepare_tree first)".into(),
            })
        }
    }
    let lost_found = lost_found.unwrap_or(NodeId::ROOT);
    ino_of[0] = ROOT_INO;
    ino_of[lost_found.index()] = LOST_FOUND_INO;
    let mut next = FIRST_INO + 1;
    for &id in &order {
        if id == NodeId::ROOT || id == lost_found {
            continue;
        }
        if let NodeKind::HardLink { .. } = tree.node(id).kind {
            continue;
        }
        ino_of[id.index()] = next;
        next = next.checked_add(1).ok_or(ExtError::Option {
            key: "inodes",
            message: "more than 2^32 inodes".into(),
        })?;
    }
    for &id in &order {
        if let NodeKind::HardLink { target } = tree.node(id).kind {
            ino_of[id.index()] = ino_of[target.index()];
        }
    }
    let links = tree.link_counts();
    let mut needs: Vec<Need> = Vec::with_capacity(tree.nodes.len() + 1);
    // Build in inode order: root, journal, lost+found, then pre-order.
    let push_node = |id: NodeId, needs: &mut Vec<Need>| -> Result<(), ExtError> {
        let node = tree.node(id);
        let path = || tree.path_of(id);
        let ino = ino_of[id.index()];
        let xattr_block = if node.meta.xattrs.is_empty() {
            false
        } else {
            if !features.ext_attr() {
                return Err(ExtError::Entry {
                    path: path(),
                    message: "has xattrs but the ext_attr feature is off".into(),
                });
            }
            xattr::placement(&node.meta.xattrs, opts.inode_size, opts.block_size).map_err(
                |message| ExtError::Entry {
                    path: path(),
                    message,
                },
            )? == xattr::Placement::Block
        };
        let mut links_n = links[id.index()];
        let (data, data_blocks, dir) = match &node.kind {
            NodeKind::Dir { .. } => {
                let layout = dir::layout(tree, id, opts, id == lost_found);
                let nb = layout.blocks;
                if links_n >= 65000 && features.dir_nlink() {
                    links_n = 1;
                } else if links_n >= 65000 {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: "more than 64998 subdirectories needs the dir_nlink feature"
                            .into(),
                    });
                }
                (vec![(0, nb)], nb, Some(layout))
            }
            NodeKind::File { data, sparse } => {
                let n = data.len().div_ceil(bs);
                if !features.has_ro(super::features::RO_LARGE_FILE) && data.len() >= 1 << 31 {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: "files of 2 GiB or more need the large_file feature".into(),
                    });
                }
                let max_blocks = if features.extents() {
                    1u64 << 32
                } else {
                    map::blockmap_max_blocks(opts.block_size)
                };
                if n > max_blocks {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: format!(
                            "{} bytes is larger than the largest file this filesystem can map",
                            data.len()
                        ),
                    });
                }
                match data {
                    FileData::Host {
                        path: host, len, ..
                    } if *sparse && n > 0 => {
                        // Holes of the source stay holes: map only the
                        // blocks that hold data.
                        let segs = crate::io::data_segments(host, *len)?;
                        let mut blocks: Vec<(u64, u64)> = Vec::new();
                        for (s, e) in segs {
                            let (b0, b1) = (s / bs, e.div_ceil(bs));
                            match blocks.last_mut() {
                                Some(last) if b0 <= last.0 + last.1 => {
                                    last.1 = last.1.max(b1 - last.0)
                                }
                                _ => blocks.push((b0, b1 - b0)),
                            }
                        }
                        let total = blocks.iter().map(|b| b.1).sum();
                        (blocks, total, None)
                    }
                    _ => (if n > 0 { vec![(0, n)] } else { vec![] }, n, None),
                }
            }
            NodeKind::Symlink { target } => {
                if target.is_empty() || target.len() as u64 >= bs.min(4096) {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: format!(
                            "symlink target of {} bytes (must be 1..{})",
                            target.len(),
                            bs.min(4096) - 1
                        ),
                    });
                }
                if target.len() < 60 {
                    (vec![], 0, None)
                } else {
                    (vec![(0, 1)], 1, None)
                }
            }
            NodeKind::HardLink { .. } => return Ok(()),
            _ => (vec![], 0, None),
        };
        needs.push(Need {
            ino,
            source: InodeSource::Node(id),
            data,
            data_blocks,
            xattr_block,
            dir,
            links: links_n,
        });
        Ok(())
    };
    push_node(NodeId::ROOT, &mut needs)?;
    if features.journal() {
        needs.push(Need {
            ino: JOURNAL_INO,
            source: InodeSource::Journal,
            data: vec![],
            data_blocks: 0,
            xattr_block: false,
            dir: None,
            links: 1,
        });
    }
    push_node(lost_found, &mut needs)?;
    for &id in &order {
        if id != NodeId::ROOT && id != lost_found {
            push_node(id, &mut needs)?;
        }
    }
    let max_ino = next - 1;
    Ok((needs, ino_of, max_ino))
}
