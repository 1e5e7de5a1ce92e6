//! Directory blocks: linear `ext4_dir_entry_2` records, with the checksum
//! tail of metadata_csum, and (for large directories) an htree index.

use super::csum;
use super::htree;
use super::ExtOptions;
use crate::tree::{NodeId, NodeKind, Tree};

/// `file_type` values of directory entries.
pub fn file_type(kind: &NodeKind, tree: &Tree) -> u8 {
    match kind {
        NodeKind::File { .. } => 1,
        NodeKind::Dir { .. } => 2,
        NodeKind::CharDev { .. } => 3,
        NodeKind::BlockDev { .. } => 4,
        NodeKind::Fifo => 5,
        NodeKind::Socket => 6,
        NodeKind::Symlink { .. } => 7,
        NodeKind::HardLink { target } => file_type(&tree.node(*target).kind, tree),
    }
}

/// Size of a record for a name of `len` bytes.
pub fn rec_len(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

/// Size of the checksum tail (a fake entry) at the end of each leaf block.
pub const TAIL: usize = 12;

/// How a directory's entries are spread over its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirLayout {
    /// Total blocks of the directory.
    pub blocks: u64,
    /// For linear directories: number of child entries in each block (the
    /// first block also holds `.` and `..`). Blocks past these are empty.
    pub per_block: Vec<u32>,
    /// Set when the directory is hash-indexed.
    pub htree: Option<super::dir::Htree>,
}

/// A hash-indexed layout: children in hash order, packed into leaves, with
/// zero or one level of interior index nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Htree {
    /// Children (positions in the directory's child list) in hash order.
    pub order: Vec<u32>,
    /// Per leaf: index into `order` of its first entry, and the hash the
    /// index records for it (bit 0 set when a hash run continues from the
    /// previous leaf).
    pub leaves: Vec<(u32, u32)>,
    /// Interior index nodes (0 for a one-level tree).
    pub nodes: u32,
}

/// Lays out the directory `id`. `lost_found` directories are padded to
/// 16 KiB, as mke2fs does, so e2fsck can reconnect files without allocating.
pub fn layout(tree: &Tree, id: NodeId, opts: &ExtOptions, lost_found: bool) -> DirLayout {
    let bs = opts.block_size as usize;
    let usable = bs - if opts.features.csum() { TAIL } else { 0 };
    let mut per_block = Vec::new();
    let mut used = rec_len(1) + rec_len(2);
    let mut count = 0u32;
    for &c in tree.children(id) {
        let r = rec_len(tree.node(c).name.len());
        if used + r > usable {
            per_block.push(count);
            count = 0;
            used = 0;
        }
        used += r;
        count += 1;
    }
    per_block.push(count);
    if per_block.len() > 1 && opts.features.dir_index() && opts.htree && !lost_found {
        if let Some(h) = htree_layout(tree, id, opts) {
            let blocks = 1 + h.nodes as u64 + h.leaves.len() as u64;
            return DirLayout {
                blocks,
                per_block: Vec::new(),
                htree: Some(h),
            };
        }
    }
    let mut blocks = per_block.len() as u64;
    if lost_found {
        blocks = blocks.max((16384 / bs as u64).max(1));
    }
    DirLayout {
        blocks,
        per_block,
        htree: None,
    }
}

fn put_entry(buf: &mut [u8], off: usize, ino: u32, rec: usize, name: &[u8], ft: u8) {
    buf[off..off + 4].copy_from_slice(&ino.to_le_bytes());
    buf[off + 4..off + 6].copy_from_slice(&(rec as u16).to_le_bytes());
    buf[off + 6] = name.len() as u8;
    buf[off + 7] = ft;
    buf[off + 8..off + 8 + name.len()].copy_from_slice(name);
}

/// Writes the checksum tail of a leaf block.
fn seal(buf: &mut [u8], inode_seed: u32) {
    let bs = buf.len();
    let t = bs - TAIL;
    buf[t..t + 4].fill(0);
    buf[t + 4..t + 6].copy_from_slice(&(TAIL as u16).to_le_bytes());
    buf[t + 6] = 0;
    buf[t + 7] = 0xDE;
    let c = csum::crc32c(inode_seed, &buf[..t]);
    buf[t + 8..t + 12].copy_from_slice(&c.to_le_bytes());
}

/// Renders every block of a linear directory, in order, into `out`
/// (`layout.blocks * block_size` bytes).
#[allow(clippy::too_many_arguments)]
pub fn render(
    tree: &Tree,
    id: NodeId,
    ino_of: &[u32],
    self_ino: u32,
    parent_ino: u32,
    layout: &DirLayout,
    opts: &ExtOptions,
    inode_seed: u32,
    out: &mut Vec<u8>,
) {
    let bs = opts.block_size as usize;
    let csum = opts.features.csum();
    let usable = bs - if csum { TAIL } else { 0 };
    out.clear();
    out.resize(layout.blocks as usize * bs, 0);
    if let Some(h) = &layout.htree {
        render_htree(
            tree, id, ino_of, self_ino, parent_ino, h, opts, inode_seed, out,
        );
        return;
    }
    let children = tree.children(id);
    let mut next = 0usize;
    for b in 0..layout.blocks as usize {
        let buf = &mut out[b * bs..(b + 1) * bs];
        let mut entries: Vec<(u32, &[u8], u8)> = Vec::new();
        if b == 0 {
            entries.push((self_ino, b".", 2));
            entries.push((parent_ino, b"..", 2));
        }
        let n = layout.per_block.get(b).copied().unwrap_or(0) as usize;
        for &c in &children[next..next + n] {
            let node = tree.node(c);
            entries.push((ino_of[c.index()], &node.name, file_type(&node.kind, tree)));
        }
        next += n;
        if entries.is_empty() {
            // An empty block: one unused record spanning it.
            put_entry(buf, 0, 0, usable, b"", 0);
        } else {
            let mut off = 0;
            let last = entries.len() - 1;
            for (i, (ino, name, ft)) in entries.into_iter().enumerate() {
                let rec = if i == last {
                    usable - off
                } else {
                    rec_len(name.len())
                };
                put_entry(buf, off, ino, rec, name, ft);
                off += rec;
            }
        }
        if csum {
            seal(buf, inode_seed);
        }
    }
}

fn htree_layout(tree: &Tree, id: NodeId, opts: &ExtOptions) -> Option<Htree> {
    let bs = opts.block_size as usize;
    let csum = opts.features.csum();
    let usable = bs - if csum { TAIL } else { 0 };
    let children = tree.children(id);
    let mut keyed: Vec<(u32, u32, u32)> = children
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let (h, minor) = htree::half_md4(&tree.node(c).name, &opts.hash_seed);
            (h, minor, i as u32)
        })
        .collect();
    // Sorted by hash; ties by minor hash, then by name order: deterministic.
    keyed.sort_unstable();
    let mut leaves: Vec<(u32, u32)> = Vec::new();
    let mut used = usable; // forces a new leaf for the first entry
    let mut prev_hash = None;
    for (pos, &(h, _, i)) in keyed.iter().enumerate() {
        let r = rec_len(tree.node(children[i as usize]).name.len());
        if used + r > usable {
            let idx_hash = match prev_hash {
                None => 0,
                Some(p) if p == h => h | 1,
                Some(_) => h,
            };
            leaves.push((pos as u32, idx_hash));
            used = 0;
        }
        used += r;
        prev_hash = Some(h);
    }
    let root_limit = htree::root_limit(bs, csum);
    let node_limit = htree::node_limit(bs, csum);
    let nodes = if leaves.len() <= root_limit {
        0
    } else {
        let k = leaves.len().div_ceil(node_limit);
        if k > root_limit {
            // Three levels need the largedir feature; stay linear.
            return None;
        }
        k as u32
    };
    Some(Htree {
        order: keyed.into_iter().map(|k| k.2).collect(),
        leaves,
        nodes,
    })
}

/// Writes an index block's count/limit header and entries at `at`;
/// `entries` are (hash, logical block), the first hash implied.
fn put_dx_entries(buf: &mut [u8], at: usize, limit: usize, entries: &[(u32, u32)]) {
    buf[at..at + 2].copy_from_slice(&(limit as u16).to_le_bytes());
    buf[at + 2..at + 4].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    buf[at + 4..at + 8].copy_from_slice(&entries[0].1.to_le_bytes());
    for (k, &(h, b)) in entries.iter().enumerate().skip(1) {
        let o = at + 8 * k;
        buf[o..o + 4].copy_from_slice(&h.to_le_bytes());
        buf[o + 4..o + 8].copy_from_slice(&b.to_le_bytes());
    }
}

fn seal_dx(buf: &mut [u8], at: usize, limit: usize, count: usize, inode_seed: u32) {
    let t = at + 8 * limit;
    buf[t..t + 8].fill(0);
    let c = csum::dx_node(inode_seed, buf, at, count, 0);
    buf[t + 4..t + 8].copy_from_slice(&c.to_le_bytes());
}

/// Renders a hash-indexed directory: root, interior nodes, then leaves.
#[allow(clippy::too_many_arguments)]
fn render_htree(
    tree: &Tree,
    id: NodeId,
    ino_of: &[u32],
    self_ino: u32,
    parent_ino: u32,
    h: &Htree,
    opts: &ExtOptions,
    inode_seed: u32,
    out: &mut [u8],
) {
    let bs = opts.block_size as usize;
    let csum = opts.features.csum();
    let usable = bs - if csum { TAIL } else { 0 };
    let children = tree.children(id);
    let first_leaf = 1 + h.nodes;
    // Root block: "." and ".." (whose record spans the block), dx info.
    {
        let root = &mut out[..bs];
        put_entry(root, 0, self_ino, 12, b".", 2);
        put_entry(root, 12, parent_ino, bs - 12, b"..", 2);
        root[0x18..0x1C].fill(0);
        root[0x1C] = 1; // half_md4 (unsigned by the superblock flag)
        root[0x1D] = 8; // info length
        root[0x1E] = if h.nodes > 0 { 1 } else { 0 };
        root[0x1F] = 0;
        let limit = htree::root_limit(bs, csum);
        let entries: Vec<(u32, u32)> = if h.nodes == 0 {
            h.leaves
                .iter()
                .enumerate()
                .map(|(i, l)| (l.1, first_leaf + i as u32))
                .collect()
        } else {
            let nl = htree::node_limit(bs, csum);
            (0..h.nodes as usize)
                .map(|j| (h.leaves[j * nl].1, 1 + j as u32))
                .collect()
        };
        put_dx_entries(root, 0x20, limit, &entries);
        if csum {
            seal_dx(root, 0x20, limit, entries.len(), inode_seed);
        }
    }
    // Interior nodes.
    let nl = htree::node_limit(bs, csum);
    for j in 0..h.nodes as usize {
        let node = &mut out[(1 + j) * bs..(2 + j) * bs];
        put_entry(node, 0, 0, bs, b"", 0);
        let entries: Vec<(u32, u32)> = h.leaves[j * nl..((j + 1) * nl).min(h.leaves.len())]
            .iter()
            .enumerate()
            .map(|(k, l)| (l.1, first_leaf + (j * nl + k) as u32))
            .collect();
        put_dx_entries(node, 8, nl, &entries);
        if csum {
            seal_dx(node, 8, nl, entries.len(), inode_seed);
        }
    }
    // Leaves.
    for (li, &(start, _)) in h.leaves.iter().enumerate() {
        let end = h.leaves.get(li + 1).map_or(h.order.len(), |n| n.0 as usize);
        let b = first_leaf as usize + li;
        let buf = &mut out[b * bs..(b + 1) * bs];
        let mut off = 0;
        let items = &h.order[start as usize..end];
        for (k, &ci) in items.iter().enumerate() {
            let c = children[ci as usize];
            let node = tree.node(c);
            let rec = if k + 1 == items.len() {
                usable - off
            } else {
                rec_len(node.name.len())
            };
            put_entry(
                buf,
                off,
                ino_of[c.index()],
                rec,
                &node.name,
                file_type(&node.kind, tree),
            );
            off += rec;
        }
        if csum {
            seal(buf, inode_seed);
        }
    }
}
