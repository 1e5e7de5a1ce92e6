//! Directory blocks: linear `ext4_dir_entry_2` records, with the checksum
//! tail of metadata_csum, and (for large directories) an htree index.

use super::csum;
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

/// Placeholder for the hash-indexed layout (see `htree.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Htree;

/// Lays out the directory `id`. `lost_found` directories are padded to
/// 16 KiB, as mke2fs does, so e2fsck can reconnect files without allocating.
pub fn layout(
    tree: &Tree,
    id: NodeId,
    _ino_of: &[u32],
    opts: &ExtOptions,
    lost_found: bool,
) -> DirLayout {
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
