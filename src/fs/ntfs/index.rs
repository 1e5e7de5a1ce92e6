//! Indexes: `$INDEX_ROOT` (type 0x90), `INDX` blocks of `$INDEX_ALLOCATION`
//! (0xA0) and their `$BITMAP` (0xB0), per Linux-NTFS "Attribute -
//! $INDEX_ROOT" and "Index Record".
//!
//! An index entry is: the file reference (or, in view indexes, data offset
//! and length) at 0x00, entry length (0x08), key length (0x0A), flags
//! (0x0C: 1 = has a sub-node, 2 = last), the key at 0x10, view data after
//! the key, and with a sub-node the child's VCN in the entry's last 8
//! bytes. A node's last entry is an empty "end" entry.
//!
//! [`build`] bulk-loads a B-tree from entries already in collation order:
//! leaves are filled in order, the entry after each full leaf moves up as
//! the separator whose sub-node is that leaf, and the levels repeat until
//! the top fits in the root. Every leaf therefore sits at the same depth,
//! and a binary search per node finds every key.

use super::attr::align8;
use super::fixup;
use super::record::USN;

/// Entry flag: the entry carries a sub-node VCN.
const HAS_CHILD: u16 = 1;
/// Entry flag: the node's last (end) entry.
const LAST: u16 = 2;

/// Collation rules (`COLLATION_*`).
pub mod collation {
    pub const FILE_NAME: u32 = 0x01;
    pub const NTOFS_ULONG: u32 = 0x10;
    pub const NTOFS_SID: u32 = 0x11;
    pub const NTOFS_SECURITY_HASH: u32 = 0x12;
    pub const NTOFS_ULONGS: u32 = 0x13;
}

/// One index entry without its sub-node pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Bytes 0x00-0x07: a file reference, or the view data offset/length.
    pub head: [u8; 8],
    pub key: Vec<u8>,
    /// View-index data, stored right after the key.
    pub data: Vec<u8>,
    /// Filler after the data (Windows pads `$SDH` entries with "II").
    pub tail: Vec<u8>,
}

impl Entry {
    /// A `$I30` entry: the file reference and its `$FILE_NAME` key.
    pub fn file_name(mref: u64, key: Vec<u8>) -> Self {
        Entry {
            head: mref.to_le_bytes(),
            key,
            data: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// A view-index entry (`$SDH`, `$SII`, `$R`, ...).
    pub fn view(key: Vec<u8>, data: Vec<u8>) -> Self {
        let mut head = [0u8; 8];
        if !data.is_empty() {
            head[0..2].copy_from_slice(&((0x10 + key.len()) as u16).to_le_bytes());
            head[2..4].copy_from_slice(&(data.len() as u16).to_le_bytes());
        } else {
            head[0..2].copy_from_slice(&((0x10 + key.len()) as u16).to_le_bytes());
        }
        Entry {
            head,
            key,
            data,
            tail: Vec::new(),
        }
    }

    /// Encoded length with or without a sub-node pointer.
    pub fn size(&self, child: bool) -> usize {
        align8(0x10 + self.key.len() + self.data.len() + self.tail.len())
            + if child { 8 } else { 0 }
    }

    fn encode_into(&self, out: &mut Vec<u8>, child: Option<u64>) {
        let len = self.size(child.is_some());
        let start = out.len();
        out.resize(start + len, 0);
        let e = &mut out[start..];
        e[0..8].copy_from_slice(&self.head);
        e[8..10].copy_from_slice(&(len as u16).to_le_bytes());
        e[10..12].copy_from_slice(&(self.key.len() as u16).to_le_bytes());
        let flags = if child.is_some() { HAS_CHILD } else { 0 };
        e[12..14].copy_from_slice(&flags.to_le_bytes());
        let mut at = 0x10;
        for part in [&self.key, &self.data, &self.tail] {
            e[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        if let Some(vcn) = child {
            e[len - 8..].copy_from_slice(&vcn.to_le_bytes());
        }
    }
}

fn encode_end(out: &mut Vec<u8>, child: Option<u64>) {
    let len = if child.is_some() { 0x18 } else { 0x10 };
    let start = out.len();
    out.resize(start + len, 0);
    let e = &mut out[start..];
    e[8..10].copy_from_slice(&(len as u16).to_le_bytes());
    let flags = LAST | if child.is_some() { HAS_CHILD } else { 0 };
    e[12..14].copy_from_slice(&flags.to_le_bytes());
    if let Some(vcn) = child {
        e[0x10..0x18].copy_from_slice(&vcn.to_le_bytes());
    }
}

/// One node: its entries (each with its sub-node, if any) and the end
/// entry's sub-node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub entries: Vec<(Entry, Option<u64>)>,
    pub end_child: Option<u64>,
}

impl Node {
    /// The node's entries as stored, end entry included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (e, c) in &self.entries {
            e.encode_into(&mut out, *c);
        }
        encode_end(&mut out, self.end_child);
        out
    }

    fn size(&self) -> usize {
        self.entries
            .iter()
            .map(|(e, c)| e.size(c.is_some()))
            .sum::<usize>()
            + if self.end_child.is_some() { 0x18 } else { 0x10 }
    }

    pub fn has_children(&self) -> bool {
        self.end_child.is_some()
    }
}

/// A bulk-loaded index: the root node and the `INDX` blocks, block `i`
/// at VCN `i * vcn_per_block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub root: Node,
    pub blocks: Vec<Node>,
}

/// Offset of the entries in an `INDX` block, relative to the node header
/// at 0x18 (after the update sequence array at 0x28).
pub fn block_entries_offset(block_size: usize) -> usize {
    align8(0x28 + 2 * (block_size / fixup::STRIDE + 1)) - 0x18
}

/// Room for entries (end entry included) in one block.
pub fn block_capacity(block_size: usize) -> usize {
    block_size - 0x18 - block_entries_offset(block_size)
}

/// Bulk-loads `entries` (sorted) into a root that holds at most `root_small`
/// bytes of entries when it is the only node, `root_large` when it has
/// sub-nodes, and blocks of `block_size`.
pub fn build(
    entries: Vec<Entry>,
    root_small: usize,
    root_large: usize,
    block_size: usize,
    vcn_per_block: u64,
) -> Tree {
    let mut level: Vec<(Entry, Option<u64>)> = entries.into_iter().map(|e| (e, None)).collect();
    let first = Node {
        entries: level.clone(),
        end_child: None,
    };
    if first.size() <= root_small {
        return Tree {
            root: first,
            blocks: Vec::new(),
        };
    }
    let cap = block_capacity(block_size);
    let mut blocks: Vec<Node> = Vec::new();
    let mut tail: Option<u64> = None;
    loop {
        let end_size = if tail.is_some() { 0x18 } else { 0x10 };
        let push = |node: Node, blocks: &mut Vec<Node>| -> u64 {
            let vcn = blocks.len() as u64 * vcn_per_block;
            blocks.push(node);
            vcn
        };
        let mut next: Vec<(Entry, Option<u64>)> = Vec::new();
        let mut cur: Vec<(Entry, Option<u64>)> = Vec::new();
        let mut used = end_size;
        let mut items = level.into_iter().peekable();
        while let Some(item) = items.next() {
            let sz = item.0.size(item.1.is_some());
            if used + sz <= cap || cur.is_empty() {
                used += sz;
                cur.push(item);
                continue;
            }
            if items.peek().is_some() || cur.len() < 2 {
                // `item` separates the full node from the next one.
                let node = Node {
                    entries: std::mem::take(&mut cur),
                    end_child: item.1,
                };
                let vcn = push(node, &mut blocks);
                next.push((item.0, Some(vcn)));
                used = end_size;
            } else {
                // The last item must not leave an empty node behind it:
                // the full node's last entry separates instead.
                let Some(sep) = cur.pop() else { unreachable!() };
                let node = Node {
                    entries: std::mem::take(&mut cur),
                    end_child: sep.1,
                };
                let vcn = push(node, &mut blocks);
                next.push((sep.0, Some(vcn)));
                used = end_size + sz;
                cur.push(item);
            }
        }
        let last = Node {
            entries: cur,
            end_child: tail,
        };
        tail = Some(push(last, &mut blocks));
        let root = Node {
            entries: next,
            end_child: tail,
        };
        // A root with no entries left cannot shrink further; the caller
        // checks that the record holds it.
        if root.size() <= root_large || root.entries.is_empty() {
            return Tree { root, blocks };
        }
        level = root.entries;
    }
}

/// The `$INDEX_ROOT` value: indexed attribute type (0x00; 0 for view
/// indexes), collation rule (0x04), index block size (0x08), clusters (or
/// 512-byte units) per block (0x0C), then the node header (0x10) and the
/// root's entries.
pub fn root_value(
    indexed_type: u32,
    collation: u32,
    block_size: u32,
    blocks_unit: u8,
    root: &Node,
) -> Vec<u8> {
    let entries = root.encode();
    let mut v = vec![0u8; 0x20];
    v[0..4].copy_from_slice(&indexed_type.to_le_bytes());
    v[4..8].copy_from_slice(&collation.to_le_bytes());
    v[8..12].copy_from_slice(&block_size.to_le_bytes());
    v[12] = blocks_unit;
    let len = (0x10 + entries.len()) as u32;
    v[0x10..0x14].copy_from_slice(&0x10u32.to_le_bytes());
    v[0x14..0x18].copy_from_slice(&len.to_le_bytes());
    v[0x18..0x1c].copy_from_slice(&len.to_le_bytes());
    v[0x1c] = u8::from(root.has_children());
    v.extend_from_slice(&entries);
    v
}

/// Bytes of an `$INDEX_ROOT` value for a root node of `entries_len` bytes.
pub const ROOT_OVERHEAD: usize = 0x20;

/// One `INDX` block with fixups applied: magic (0x00), update sequence
/// (0x04), LSN (0x08), the block's VCN (0x10), node header (0x18).
pub fn block(block_size: usize, vcn: u64, node: &Node) -> Vec<u8> {
    let entries = node.encode();
    let eo = block_entries_offset(block_size);
    let mut b = vec![0u8; block_size];
    b[0..4].copy_from_slice(b"INDX");
    b[0x10..0x18].copy_from_slice(&vcn.to_le_bytes());
    b[0x18..0x1c].copy_from_slice(&(eo as u32).to_le_bytes());
    b[0x1c..0x20].copy_from_slice(&((eo + entries.len()) as u32).to_le_bytes());
    b[0x20..0x24].copy_from_slice(&((block_size - 0x18) as u32).to_le_bytes());
    b[0x24] = u8::from(node.has_children());
    let at = 0x18 + eo;
    b[at..at + entries.len()].copy_from_slice(&entries);
    // Sizes come from `block_capacity`, so the array always fits.
    let _ = fixup::protect(&mut b, 0x28, USN);
    b
}

/// The `$BITMAP` of an index allocation with `blocks` blocks in use:
/// one bit per block, padded to 8 bytes.
pub fn bitmap(blocks: usize) -> Vec<u8> {
    let mut v = vec![0u8; align8(blocks.div_ceil(8)).max(8)];
    for i in 0..blocks {
        v[i / 8] |= 1 << (i % 8);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32, key_len: usize) -> Entry {
        let mut key = vec![0u8; key_len];
        key[..4].copy_from_slice(&i.to_be_bytes());
        Entry::file_name(u64::from(i), key)
    }

    /// Walks the tree in order, checking every leaf's depth.
    fn walk(
        t: &Tree,
        node: &Node,
        depth: usize,
        vcn_per_block: u64,
        out: &mut Vec<u32>,
        leaf_depths: &mut Vec<usize>,
    ) {
        let child = |vcn: u64| &t.blocks[(vcn / vcn_per_block) as usize];
        if !node.has_children() {
            leaf_depths.push(depth);
        }
        for (e, c) in &node.entries {
            assert_eq!(c.is_some(), node.has_children());
            if let Some(v) = c {
                walk(t, child(*v), depth + 1, vcn_per_block, out, leaf_depths);
            }
            out.push(u32::from_be_bytes(e.key[..4].try_into().unwrap()));
        }
        if let Some(v) = node.end_child {
            walk(t, child(v), depth + 1, vcn_per_block, out, leaf_depths);
        }
    }

    #[test]
    fn small_index_stays_in_the_root() {
        let t = build((0..3).map(|i| entry(i, 0x50)).collect(), 600, 500, 4096, 1);
        assert!(t.blocks.is_empty());
        assert_eq!(t.root.entries.len(), 3);
    }

    #[test]
    fn bulk_load_keeps_order_and_balance() {
        for n in [5u32, 40, 41, 400, 10_000] {
            let t = build(
                (0..n)
                    .map(|i| entry(i, 0x50 + (i as usize % 5) * 40))
                    .collect(),
                300,
                200,
                4096,
                1,
            );
            let mut keys = Vec::new();
            let mut depths = Vec::new();
            walk(&t, &t.root, 0, 1, &mut keys, &mut depths);
            assert_eq!(keys, (0..n).collect::<Vec<_>>(), "n = {n}");
            assert!(
                depths.iter().all(|&d| d == depths[0]),
                "n = {n}: {depths:?}"
            );
            for b in &t.blocks {
                assert!(b.size() <= block_capacity(4096));
                assert!(!b.entries.is_empty() || b.has_children());
            }
            assert!(t.root.size() <= 200);
        }
    }

    #[test]
    fn block_and_root_layout() {
        let node = Node {
            entries: vec![(entry(1, 0x44), None)],
            end_child: None,
        };
        let mut b = block(4096, 3, &node);
        fixup::unprotect(&mut b).unwrap();
        assert_eq!(&b[0..4], b"INDX");
        assert_eq!(&b[0x18..0x1c], &0x28u32.to_le_bytes());
        assert_eq!(&b[0x1c..0x20], &(0x28u32 + 0x58 + 0x10).to_le_bytes());
        assert_eq!(&b[0x20..0x24], &(4096u32 - 0x18).to_le_bytes());
        assert_eq!(&b[0x40 + 8..0x40 + 10], &0x58u16.to_le_bytes());
        let r = root_value(0x30, collation::FILE_NAME, 4096, 1, &node);
        assert_eq!(r.len(), 0x20 + 0x58 + 0x10);
        assert_eq!(bitmap(9), vec![0xff, 1, 0, 0, 0, 0, 0, 0]);
    }
}
