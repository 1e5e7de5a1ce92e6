//! The planner: from a tree and options to every nid, block address and
//! inode field, before a byte is written. Pure except for reading source
//! files' holes (sparse files) and hashing candidates for `dedupe`.
//!
//! Image layout: block 0 holds the superblock at byte 1024, then the root
//! inode (nid 36, so the 16-bit `root_nid` always fits), then the shared
//! xattr table, then every other inode record packed by [`Packer`]. File
//! and directory blocks follow the metadata, in sorted pre-order.

use super::dedupe;
use super::dir::{self, FileType};
use super::inode::{DataLayout, Inode, CHUNK_BLKBITS_MASK, NULL_ADDR};
use super::pack::{Packer, SLOT};
use super::superblock;
use super::xattr::{self, Body, SharedTable};
use super::zmap;
use super::{ErofsError, ErofsOptions};
use crate::tree::{FileData, NodeId, NodeKind, Tree};
use serde::Serialize;

/// Longest name a dirent may hold (`EROFS_NAME_LEN`).
const NAME_MAX: usize = 255;
/// Chunk maps stay below this many entries; larger sparse files use
/// larger chunks.
const MAX_CHUNKS: u64 = 1 << 16;

/// Where an inode's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// No blocks (empty files, devices, small inline-only data).
    None,
    /// `count` blocks from `start`. `owner` is false for a deduplicated
    /// file whose blocks another inode writes.
    Blocks { start: u32, count: u32, owner: bool },
    /// Sparse file: one entry per chunk of `1 << chunk_bits` blocks, the
    /// chunk's first block or [`NULL_ADDR`] for a hole.
    Chunks { chunk_bits: u8, map: Vec<u32> },
    /// Compressed file: one block per extent from `start`.
    Compressed {
        start: u32,
        extents: Vec<zmap::Extent>,
    },
}

/// Everything decided for one inode.
#[derive(Debug, Clone)]
pub struct InodePlan {
    pub nid: u64,
    pub inode: Inode,
    pub xattrs: Body,
    /// Bytes of inline data after the inode and xattrs.
    pub tail: u32,
    pub data: Data,
    /// The block size (a compressed file's map has one index per block).
    pub block: u64,
}

impl InodePlan {
    /// Byte offset of the inode record in the image.
    pub fn offset(&self) -> u64 {
        self.nid * SLOT
    }
    /// Bytes of the record before the inline data (inode, xattrs, map).
    pub fn head_len(&self) -> usize {
        let base = self.inode.size_on_disk() + self.xattrs.size;
        let map = match &self.data {
            Data::Chunks { map, .. } => map.len() * 4,
            // 8-byte aligned after the xattrs (records start 32-aligned).
            Data::Compressed { .. } => {
                base.next_multiple_of(8) - base + zmap::map_len(self.inode.size, self.block)
            }
            _ => 0,
        };
        base + map
    }
}

/// Image geometry, part of the build report.
#[derive(Debug, Clone, Serialize)]
pub struct Geometry {
    pub block_size: u32,
    /// Blocks the superblock reports (the whole image).
    pub blocks: u64,
    /// Blocks the content needs (what `size = "auto"` gives).
    pub used_blocks: u64,
    pub metadata_blocks: u64,
    pub inodes: u64,
    pub root_nid: u64,
    pub shared_xattrs_bytes: u64,
    pub compact_inodes: u64,
    pub extended_inodes: u64,
    pub inline_inodes: u64,
    pub chunked_inodes: u64,
    /// Bytes of file data that dedupe stored once instead of again.
    pub deduplicated_bytes: u64,
    /// Files stored LZ4-compressed, and the data blocks that saved
    /// (against each file's blocks stored whole, before tail packing).
    #[serde(skip_serializing_if = "is_zero")]
    pub compressed_inodes: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub compression_saved_blocks: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Geometry {
    pub fn bytes(&self) -> u64 {
        self.blocks * u64::from(self.block_size)
    }
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct ErofsPlan {
    pub opts: ErofsOptions,
    pub geo: Geometry,
    /// Indexed by node id; `None` for hard links.
    pub nodes: Vec<Option<InodePlan>>,
    pub shared: SharedTable,
    /// Byte offset of the shared-xattr table (from `xattr_blkaddr` = 0).
    pub shared_at: u64,
    pub superblock: superblock::Superblock,
}

impl ErofsPlan {
    /// The inode record of `id`, following hard links.
    pub fn inode_of(&self, tree: &Tree, id: NodeId) -> Option<&InodePlan> {
        let id = match tree.node(id).kind {
            NodeKind::HardLink { target } => target,
            _ => id,
        };
        self.nodes.get(id.index())?.as_ref()
    }
}

/// The entries of a directory in on-disk order: `.`, `..` and the children,
/// sorted by name bytes.
pub fn dir_entries(tree: &Tree, id: NodeId) -> Vec<(&[u8], NodeId)> {
    let node = tree.node(id);
    let mut v: Vec<(&[u8], NodeId)> = Vec::with_capacity(tree.children(id).len() + 2);
    v.push((b".", id));
    v.push((b"..", node.parent));
    for &c in tree.children(id) {
        v.push((tree.node(c).name.as_slice(), c));
    }
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// The dirent type of a node, following hard links.
pub fn file_type(tree: &Tree, id: NodeId) -> FileType {
    match &tree.node(id).kind {
        NodeKind::Dir { .. } => FileType::Dir,
        NodeKind::File { .. } => FileType::Regular,
        NodeKind::Symlink { .. } => FileType::Symlink,
        NodeKind::HardLink { target } => file_type(tree, *target),
        NodeKind::CharDev { .. } => FileType::CharDev,
        NodeKind::BlockDev { .. } => FileType::BlockDev,
        NodeKind::Fifo => FileType::Fifo,
        NodeKind::Socket => FileType::Socket,
    }
}

fn type_bits(kind: &NodeKind) -> u16 {
    match kind {
        NodeKind::Dir { .. } => 0o040000,
        NodeKind::File { .. } | NodeKind::HardLink { .. } => 0o100000,
        NodeKind::Symlink { .. } => 0o120000,
        NodeKind::CharDev { .. } => 0o020000,
        NodeKind::BlockDev { .. } => 0o060000,
        NodeKind::Fifo => 0o010000,
        NodeKind::Socket => 0o140000,
    }
}

/// Bytes of a directory's content (the last block counted to its used end)
/// and its block split.
fn dir_size(tree: &Tree, id: NodeId, bs: usize) -> (u64, Vec<(usize, usize)>) {
    let lens: Vec<usize> = dir_entries(tree, id).iter().map(|e| e.0.len()).collect();
    let blocks = dir::split_blocks(&lens, bs);
    let size = (blocks.len() as u64 - 1) * bs as u64 + blocks.last().map_or(0, |b| b.1) as u64;
    (size, blocks)
}

/// The content size of an inode-owning node.
fn content_size(tree: &Tree, id: NodeId, bs: usize) -> u64 {
    match &tree.node(id).kind {
        NodeKind::Dir { .. } => dir_size(tree, id, bs).0,
        NodeKind::File { data, .. } => data.len(),
        NodeKind::Symlink { target } => target.len() as u64,
        _ => 0,
    }
}

fn entry_err(tree: &Tree, id: NodeId, message: impl Into<String>) -> ErofsError {
    ErofsError::Entry {
        path: tree.path_of(id),
        message: message.into(),
    }
}

/// Checks what EROFS cannot store before anything is placed.
fn validate(tree: &Tree, id: NodeId) -> Result<(), ErofsError> {
    let node = tree.node(id);
    if node.name.len() > NAME_MAX {
        return Err(entry_err(
            tree,
            id,
            format!(
                "name of {} bytes (EROFS allows at most {NAME_MAX})",
                node.name.len()
            ),
        ));
    }
    for (name, value) in &node.meta.xattrs {
        let Some((_, suffix)) = xattr::split_name(name) else {
            return Err(entry_err(tree, id, format!("xattr `{name}`: EROFS stores only user., trusted., security., lustre. and the POSIX ACL names")));
        };
        if suffix.len() > 255 || value.len() > usize::from(u16::MAX) {
            return Err(entry_err(
                tree,
                id,
                format!("xattr `{name}`: name suffix over 255 bytes or value over 65535 bytes"),
            ));
        }
    }
    if let NodeKind::Symlink { target } = &node.kind {
        if target.is_empty() || target.len() >= 4096 {
            return Err(entry_err(
                tree,
                id,
                format!("symlink target of {} bytes (must be 1..4095)", target.len()),
            ));
        }
    }
    Ok(())
}

/// Plans the image.
pub fn plan(tree: &Tree, opts: &ErofsOptions) -> Result<ErofsPlan, ErofsError> {
    let bs = opts.block_size as usize;
    let bs64 = bs as u64;
    let order: Vec<NodeId> = tree
        .preorder()
        .into_iter()
        .filter(|&id| !matches!(tree.node(id).kind, NodeKind::HardLink { .. }))
        .collect();
    for &id in &tree.preorder() {
        validate(tree, id)?;
    }
    let links = tree.link_counts();
    let shared = SharedTable::build(order.iter().map(|&id| tree.node(id).meta.xattrs.as_slice()));
    let dups = if opts.dedupe {
        dedupe::find(tree, &order, bs64)?
    } else {
        dedupe::Dups::default()
    };

    // Files to compress, cut into extents on every core up front.
    let mut packed = if opts.lz4 {
        compress_all(tree, &order, &dups, bs64)?
    } else {
        Default::default()
    };

    // Sizes, layouts and inode fields; nids and blocks come after.
    let mut nodes: Vec<Option<InodePlan>> = vec![None; tree.nodes.len()];
    let (mut compact, mut extended, mut inline_n, mut chunked) = (0u64, 0u64, 0u64, 0u64);
    let (mut compressed, mut saved) = (0u64, 0u64);
    for (ino, &id) in order.iter().enumerate() {
        let node = tree.node(id);
        let m = &node.meta;
        let size = content_size(tree, id, bs);
        let nlink = links[id.index()];
        let fits_compact = m.mtime.secs == opts.epoch
            && m.mtime.nanos == 0
            && m.uid <= 0xFFFF
            && m.gid <= 0xFFFF
            && nlink <= 0xFFFF
            && size <= u64::from(u32::MAX);
        let xattrs = Body::plan(&m.xattrs, &shared);
        let icount = xattr::icount_for(xattrs.size)
            .ok_or_else(|| entry_err(tree, id, "xattrs too large for one inode"))?;
        let mut inode = Inode {
            extended: !fits_compact,
            layout: DataLayout::FlatPlain,
            xattr_icount: icount,
            mode: type_bits(&node.kind) | (m.mode & 0o7777),
            nlink,
            size,
            i_u: 0,
            ino: u32::try_from(ino + 1).map_err(|_| ErofsError::TooManyInodes)?,
            uid: m.uid,
            gid: m.gid,
            mtime: m.mtime.secs,
            mtime_nsec: m.mtime.nanos,
        };
        if inode.extended {
            extended += 1;
        } else {
            compact += 1;
            inode.mtime = opts.epoch;
            inode.mtime_nsec = 0;
        }
        let head = inode.size_on_disk() + xattrs.size;
        let mut tail = 0u32;
        let mut data = Data::None;
        match &node.kind {
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                inode.i_u = super::inode::encode_rdev(*major, *minor);
            }
            NodeKind::Fifo | NodeKind::Socket => {}
            NodeKind::File {
                data: FileData::Host { path, len, .. },
                sparse: true,
            } if *len > 0 => {
                let segs = crate::io::nonzero_segments(path, *len, bs64)?;
                let covered: u64 = segs.iter().map(|(s, e)| e - s).sum();
                if covered < *len {
                    let (chunk_bits, map) = chunk_map(&segs, *len, bs64);
                    inode.layout = DataLayout::ChunkBased;
                    inode.i_u = u32::from(chunk_bits) & u32::from(CHUNK_BLKBITS_MASK);
                    data = Data::Chunks { chunk_bits, map };
                    chunked += 1;
                }
            }
            NodeKind::File { .. } if packed.contains_key(&id) => {
                if let Some(extents) = packed.remove(&id).flatten() {
                    saved += size.div_ceil(bs64) - extents.len() as u64;
                    compressed += 1;
                    inode.layout = DataLayout::CompressedFull;
                    data = Data::Compressed { start: 0, extents };
                }
            }
            _ => {}
        }
        let has_content = matches!(
            node.kind,
            NodeKind::Dir { .. } | NodeKind::File { .. } | NodeKind::Symlink { .. }
        );
        if has_content && !matches!(data, Data::Chunks { .. } | Data::Compressed { .. }) {
            let shared_blocks = dups.shares_blocks(id);
            let t = (size % bs64) as usize;
            if t > 0 && head + t <= bs && !shared_blocks {
                inode.layout = DataLayout::FlatInline;
                tail = t as u32;
                inline_n += 1;
            }
            let count = (size - u64::from(tail)).div_ceil(bs64);
            inode.i_u = NULL_ADDR;
            if count > 0 {
                let count =
                    u32::try_from(count).map_err(|_| entry_err(tree, id, "too many blocks"))?;
                data = Data::Blocks {
                    start: 0,
                    count,
                    owner: true,
                };
            }
        }
        nodes[id.index()] = Some(InodePlan {
            nid: 0,
            inode,
            xattrs,
            tail,
            data,
            block: bs64,
        });
    }

    // Metadata: root first, then the shared table, then everything else.
    let mut packer = Packer::new(bs64, (superblock::OFFSET + superblock::SIZE) as u64);
    let mut shared_at = 0;
    for (i, &id) in order.iter().enumerate() {
        let p = nodes[id.index()]
            .as_mut()
            .ok_or(ErofsError::Internal("missing inode plan"))?;
        let len = (p.head_len() + p.tail as usize) as u64;
        let at = packer.place(len, p.tail > 0);
        p.nid = at / SLOT;
        if i == 0 && !shared.is_empty() {
            shared_at = packer.place_blob(shared.bytes.len() as u64);
        }
    }
    let meta_blocks = packer.end().div_ceil(bs64);

    // Data blocks in pre-order; duplicates point at their first copy.
    let mut next = meta_blocks;
    let mut dedup_bytes = 0u64;
    for &id in &order {
        let bytes_len = content_size(tree, id, bs);
        if let Some(first) = dups.first_of(id) {
            let addr = nodes[first.index()]
                .as_ref()
                .map(|f| f.inode.i_u)
                .ok_or(ErofsError::Internal("dedupe source not planned"))?;
            let p = nodes[id.index()]
                .as_mut()
                .ok_or(ErofsError::Internal("missing inode plan"))?;
            if let Data::Blocks { start, owner, .. } = &mut p.data {
                *start = addr;
                *owner = false;
                p.inode.i_u = addr;
                dedup_bytes += bytes_len;
            }
            continue;
        }
        let p = nodes[id.index()]
            .as_mut()
            .ok_or(ErofsError::Internal("missing inode plan"))?;
        match &mut p.data {
            Data::None => {}
            Data::Blocks { start, count, .. } => {
                *start = u32::try_from(next).map_err(|_| ErofsError::TooLarge)?;
                p.inode.i_u = *start;
                next += u64::from(*count);
            }
            Data::Compressed { start, extents } => {
                *start = u32::try_from(next).map_err(|_| ErofsError::TooLarge)?;
                // `i_u` of a compressed inode counts its blocks.
                p.inode.i_u = extents.len() as u32;
                next += extents.len() as u64;
            }
            Data::Chunks { chunk_bits, map } => {
                let chunk = bs64 << *chunk_bits;
                for (i, e) in map.iter_mut().enumerate() {
                    if *e != NULL_ADDR {
                        let start = i as u64 * chunk;
                        let n = chunk.min(bytes_len - start).div_ceil(bs64);
                        *e = u32::try_from(next).map_err(|_| ErofsError::TooLarge)?;
                        next += n;
                    }
                }
            }
        }
    }
    let used_blocks = next;
    let blocks = match opts.size {
        None => used_blocks,
        Some(s) => {
            let b = s / bs64;
            if b < used_blocks {
                return Err(ErofsError::TooSmall {
                    size: s,
                    needed: used_blocks * bs64,
                });
            }
            b
        }
    };
    let blocks32 = u32::try_from(blocks).map_err(|_| ErofsError::TooLarge)?;
    let root_nid = nodes[0].as_ref().map_or(0, |p| p.nid);
    let mut volume_name = [0u8; 16];
    volume_name[..opts.label.len()].copy_from_slice(opts.label.as_bytes());
    let sb = superblock::Superblock {
        checksum: 0,
        feature_compat: superblock::COMPAT_SB_CHKSUM | superblock::COMPAT_MTIME,
        blkszbits: opts.block_size.trailing_zeros() as u8,
        root_nid: u16::try_from(root_nid)
            .map_err(|_| ErofsError::Internal("root nid over 16 bits"))?,
        inos: order.len() as u64,
        build_time: opts.epoch,
        build_time_nsec: 0,
        blocks: blocks32,
        meta_blkaddr: 0,
        xattr_blkaddr: 0,
        uuid: opts.uuid,
        volume_name,
        feature_incompat: if chunked > 0 {
            superblock::INCOMPAT_CHUNKED_FILE
        } else {
            0
        } | if compressed > 0 {
            superblock::INCOMPAT_ZERO_PADDING
        } else {
            0
        },
    };
    Ok(ErofsPlan {
        opts: opts.clone(),
        geo: Geometry {
            block_size: opts.block_size,
            blocks,
            used_blocks,
            metadata_blocks: meta_blocks,
            inodes: order.len() as u64,
            root_nid,
            shared_xattrs_bytes: shared.bytes.len() as u64,
            compact_inodes: compact,
            extended_inodes: extended,
            inline_inodes: inline_n,
            chunked_inodes: chunked,
            deduplicated_bytes: dedup_bytes,
            compressed_inodes: compressed,
            compression_saved_blocks: saved,
        },
        nodes,
        shared,
        shared_at,
        superblock: sb,
    })
}

/// Chunk size and map for a sparse file with these data segments: the
/// smallest chunk (a block or more) that keeps the map under
/// [`MAX_CHUNKS`] entries. Chunks touching data get a placeholder address
/// (0), holes [`NULL_ADDR`].
fn chunk_map(segs: &[(u64, u64)], len: u64, bs: u64) -> (u8, Vec<u32>) {
    let mut bits = 0u8;
    while len.div_ceil(bs << bits) > MAX_CHUNKS {
        bits += 1;
    }
    let chunk = bs << bits;
    let mut map = vec![NULL_ADDR; len.div_ceil(chunk) as usize];
    for &(s, e) in segs {
        if e > s {
            for c in s / chunk..e.div_ceil(chunk) {
                if let Some(m) = map.get_mut(c as usize) {
                    *m = 0;
                }
            }
        }
    }
    (bits, map)
}

/// The extents of a file compressed block by block, or `None` when that
/// saves no block.
fn compress_plan(data: &FileData, bs: u64) -> Result<Option<Vec<zmap::Extent>>, ErofsError> {
    let len = data.len();
    zmap::with_window(data, |w| zmap::plan(w, len, bs))
}

/// Cuts every file that may compress (larger than a block, not a sparse
/// host file, not sharing blocks through dedupe) into extents, on every
/// core; the result depends only on each file's bytes.
fn compress_all(
    tree: &Tree,
    order: &[NodeId],
    dups: &dedupe::Dups,
    bs: u64,
) -> Result<std::collections::HashMap<NodeId, Option<Vec<zmap::Extent>>>, ErofsError> {
    let work: Vec<(NodeId, &FileData)> = order
        .iter()
        .filter_map(|&id| match &tree.node(id).kind {
            NodeKind::File { data, sparse } if data.len() > bs && !dups.shares_blocks(id) => {
                let sparse_host = *sparse && matches!(data, FileData::Host { .. });
                (!sparse_host).then_some((id, data))
            }
            _ => None,
        })
        .collect();
    let extents = crate::par::try_map(&work, |&(_, data)| compress_plan(data, bs))?;
    Ok(work.iter().map(|&(id, _)| id).zip(extents).collect())
}
