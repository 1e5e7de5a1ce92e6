//! Block mapping: ext4 extent trees (any depth) and ext2/3 block maps with
//! single, double and triple indirect blocks.
//!
//! Both come in two halves: a count of the metadata blocks a mapping needs
//! (used by the planner before it allocates them) and a builder that fills
//! them in, given the allocated block numbers.

use super::csum;
use super::layout::Run;

/// Longest initialized extent.
const MAX_EXTENT: u64 = 32768;
const EXT_MAGIC: u16 = 0xF30A;

/// One leaf extent: logical start, length, physical start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Extent {
    pub logical: u32,
    pub len: u16,
    pub physical: u64,
}

/// Splits runs into extents of at most 32768 blocks.
pub(super) fn extents(runs: &[Run]) -> Vec<Extent> {
    let mut out = Vec::new();
    for r in runs {
        let mut done = 0;
        while done < r.len {
            let n = (r.len - done).min(MAX_EXTENT);
            out.push(Extent {
                logical: (r.logical + done) as u32,
                len: n as u16,
                physical: r.physical + done,
            });
            done += n;
        }
    }
    out
}

fn per_block(block_size: u32) -> usize {
    (block_size as usize - 12) / 12
}

/// Number of nodes per level, leaves first, for `n` extents; the inode's
/// own four slots hold the top level (not counted).
fn levels(n: usize, block_size: u32) -> Vec<usize> {
    let per = per_block(block_size);
    let mut v = Vec::new();
    let mut cur = n;
    while cur > 4 {
        cur = cur.div_ceil(per);
        v.push(cur);
    }
    v
}

/// Extent-tree blocks needed to map `runs`.
pub(super) fn extent_tree_blocks(runs: &[Run], block_size: u32) -> u64 {
    levels(extents(runs).len(), block_size)
        .iter()
        .sum::<usize>() as u64
}

fn put_header(buf: &mut [u8], entries: usize, max: usize, depth: u16) {
    buf[0..2].copy_from_slice(&EXT_MAGIC.to_le_bytes());
    buf[2..4].copy_from_slice(&(entries as u16).to_le_bytes());
    buf[4..6].copy_from_slice(&(max as u16).to_le_bytes());
    buf[6..8].copy_from_slice(&depth.to_le_bytes());
    buf[8..12].fill(0);
}

fn put_leaf(buf: &mut [u8], e: &Extent) {
    buf[0..4].copy_from_slice(&e.logical.to_le_bytes());
    buf[4..6].copy_from_slice(&e.len.to_le_bytes());
    buf[6..8].copy_from_slice(&((e.physical >> 32) as u16).to_le_bytes());
    buf[8..12].copy_from_slice(&(e.physical as u32).to_le_bytes());
}

fn put_index(buf: &mut [u8], logical: u32, child: u64) {
    buf[0..4].copy_from_slice(&logical.to_le_bytes());
    buf[4..8].copy_from_slice(&(child as u32).to_le_bytes());
    buf[8..10].copy_from_slice(&((child >> 32) as u16).to_le_bytes());
    buf[10..12].fill(0);
}

/// Builds the extent tree: returns the 60 bytes of `i_block` and the
/// contents of each tree block (paired with its block number from `blocks`,
/// consumed leaves first). `inode_seed` is `Some` with metadata_csum.
pub(super) fn build_extent_tree(
    runs: &[Run],
    blocks: &[u64],
    block_size: u32,
    inode_seed: Option<u32>,
) -> ([u8; 60], Vec<(u64, Vec<u8>)>) {
    let exts = extents(runs);
    let per = per_block(block_size);
    let bs = block_size as usize;
    let mut iblock = [0u8; 60];
    let mut out = Vec::new();
    // (first logical block, entries) of the current level.
    let mut level: Vec<(u32, Vec<u8>)> = exts
        .iter()
        .map(|e| {
            let mut b = vec![0u8; 12];
            put_leaf(&mut b, e);
            (e.logical, b)
        })
        .collect();
    let mut depth = 0u16;
    let mut next_block = 0usize;
    while level.len() > 4 {
        let mut up = Vec::new();
        for chunk in level.chunks(per) {
            let pblk = blocks[next_block];
            next_block += 1;
            let mut buf = vec![0u8; bs];
            put_header(&mut buf, chunk.len(), per, depth);
            for (i, (_, e)) in chunk.iter().enumerate() {
                buf[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
            }
            if let Some(seed) = inode_seed {
                let tail = 12 + 12 * per;
                let c = csum::crc32c(seed, &buf[..tail]);
                buf[tail..tail + 4].copy_from_slice(&c.to_le_bytes());
            }
            let mut idx = vec![0u8; 12];
            put_index(&mut idx, chunk[0].0, pblk);
            up.push((chunk[0].0, idx));
            out.push((pblk, buf));
        }
        level = up;
        depth += 1;
    }
    put_header(&mut iblock, level.len(), 4, depth);
    for (i, (_, e)) in level.iter().enumerate() {
        iblock[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
    }
    (iblock, out)
}

/// Largest file (in blocks) a block map can address.
pub(super) fn blockmap_max_blocks(block_size: u32) -> u64 {
    let p = block_size as u64 / 4;
    12 + p + p * p + p * p * p
}

/// An indirect block: which `i_block` slot tree (12, 13 or 14) it hangs
/// from, its depth below that slot, and its index among blocks of that depth.
type NodeKey = (u8, u8, u64);

/// The chain of (indirect block, slot) a logical block goes through, from
/// the top; `None` for the 12 direct blocks. The last step's slot holds the
/// data pointer.
fn chain(logical: u64, p: u64) -> Option<(usize, Vec<(NodeKey, u64)>)> {
    if logical < 12 {
        return None;
    }
    let l = logical - 12;
    if l < p {
        return Some((12, vec![((12, 0, 0), l)]));
    }
    let l = l - p;
    if l < p * p {
        return Some((13, vec![((13, 0, 0), l / p), ((13, 1, l / p), l % p)]));
    }
    let l = l - p * p;
    Some((
        14,
        vec![
            ((14, 0, 0), l / (p * p)),
            ((14, 1, l / (p * p)), (l / p) % p),
            ((14, 2, l / p), l % p),
        ],
    ))
}

/// Visits every mapped logical block with its physical block, ascending.
fn each_block(runs: &[Run], mut f: impl FnMut(u64, u64)) {
    for r in runs {
        for k in 0..r.len {
            f(r.logical + k, r.physical + k);
        }
    }
}

/// Indirect blocks, in first-use order (a parent before its children).
fn indirect_nodes(runs: &[Run], block_size: u32) -> Vec<NodeKey> {
    let p = block_size as u64 / 4;
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::new();
    each_block(runs, |l, _| {
        if let Some((_, steps)) = chain(l, p) {
            for (key, _) in steps {
                if seen.insert(key) {
                    order.push(key);
                }
            }
        }
    });
    order
}

/// Indirect blocks needed to map `runs` (holes need none).
pub(super) fn blockmap_blocks(runs: &[Run], block_size: u32) -> u64 {
    indirect_nodes(runs, block_size).len() as u64
}

/// Builds a block map: returns `i_block` (15 pointers) and the indirect
/// blocks' contents, paired with block numbers taken from `blocks` in
/// first-use order.
pub(super) fn build_blockmap(
    runs: &[Run],
    blocks: &[u64],
    block_size: u32,
) -> ([u8; 60], Vec<(u64, Vec<u8>)>) {
    let p = block_size as u64 / 4;
    let nodes = indirect_nodes(runs, block_size);
    let index: std::collections::HashMap<NodeKey, usize> =
        nodes.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut contents: Vec<(u64, Vec<u8>)> = nodes
        .iter()
        .zip(blocks)
        .map(|(_, &b)| (b, vec![0u8; block_size as usize]))
        .collect();
    let mut iblock = [0u8; 60];
    let put = |buf: &mut [u8], slot: u64, v: u64| {
        let o = slot as usize * 4;
        buf[o..o + 4].copy_from_slice(&(v as u32).to_le_bytes());
    };
    each_block(runs, |l, phys| match chain(l, p) {
        None => put(&mut iblock, l, phys),
        Some((top, steps)) => {
            let first = contents[index[&steps[0].0]].0;
            put(&mut iblock, top as u64, first);
            for w in steps.windows(2) {
                let child = contents[index[&w[1].0]].0;
                put(&mut contents[index[&w[0].0]].1, w[0].1, child);
            }
            let (last_key, slot) = steps[steps.len() - 1];
            put(&mut contents[index[&last_key]].1, slot, phys);
        }
    });
    (iblock, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockmap_counts_match_the_textbook() {
        let run = |n| {
            vec![Run {
                logical: 0,
                physical: 1000,
                len: n,
            }]
        };
        assert_eq!(blockmap_blocks(&run(12), 1024), 0);
        assert_eq!(blockmap_blocks(&run(13), 1024), 1);
        assert_eq!(blockmap_blocks(&run(12 + 256), 1024), 1);
        assert_eq!(blockmap_blocks(&run(12 + 256 + 1), 1024), 3);
        assert_eq!(
            blockmap_blocks(&run(12 + 256 + 256 * 256 + 1), 1024),
            1 + 1 + 256 + 3
        );
    }

    #[test]
    fn blockmap_pointers_follow_the_chain() {
        let runs = vec![Run {
            logical: 0,
            physical: 5000,
            len: 12 + 256 + 2,
        }];
        let n = blockmap_blocks(&runs, 1024) as usize;
        let blocks: Vec<u64> = (100..100 + n as u64).collect();
        let (ib, c) = build_blockmap(&runs, &blocks, 1024);
        let rd = |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(rd(&ib, 0), 5000);
        assert_eq!(rd(&ib, 12), 100);
        assert_eq!(rd(&c[0].1, 0), 5012);
        assert_eq!(rd(&ib, 13), 101);
        assert_eq!(rd(&c[1].1, 0), 102);
        assert_eq!(rd(&c[2].1, 1), 5012 + 256 + 1);
    }

    #[test]
    fn extent_tree_depths() {
        let runs: Vec<Run> = (0..1000)
            .map(|i| Run {
                logical: i * 2,
                physical: 10_000 + i * 3,
                len: 1,
            })
            .collect();
        assert_eq!(extent_tree_blocks(&runs[..4], 4096), 0);
        assert_eq!(extent_tree_blocks(&runs[..5], 4096), 1);
        assert_eq!(extent_tree_blocks(&runs, 4096), 3);
        let blocks = [1, 2, 3];
        let (ib, out) = build_extent_tree(&runs, &blocks, 4096, Some(0));
        assert_eq!(u16::from_le_bytes([ib[6], ib[7]]), 1); // depth
        assert_eq!(u16::from_le_bytes([ib[2], ib[3]]), 3); // entries
        assert_eq!(out.len(), 3);
        // 5 leaf blocks of 1024 byte blocks need a second index level
        assert_eq!(extent_tree_blocks(&runs, 1024), 12 + 1);
    }
}
