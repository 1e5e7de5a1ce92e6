//! Carries out an [`ErofsPlan`]: builds the metadata area (superblock,
//! inode records, shared xattrs, inline tails read from the sources) in
//! memory, seals the superblock checksum and writes it first, then streams
//! file and directory blocks in block order, reporting how far the image
//! is final so that the build's hash can follow.

use super::dir;
use super::layout::{dir_entries, file_type, Data, ErofsPlan, InodePlan};
use super::superblock;
use super::zmap;
use super::zwrite;
use super::ErofsError;
use crate::bytes::hex;
use crate::io::{host_err, BlockDevice, IoError};
use crate::progress::Tick;
use crate::tree::{FileData, NodeId, NodeKind, Tree};
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What the writer reports (part of `--report`).
#[derive(Debug, Clone, Serialize)]
pub struct ErofsReport {
    pub geometry: super::Geometry,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub other: u64,
    pub hard_links: u64,
    pub data_bytes: u64,
}

/// Writes the planned image of `tree` onto `dev` (which must read as
/// zeros and hold at least the planned size).
pub fn write(
    plan: &ErofsPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    progress: &mut dyn FnMut(Tick),
) -> Result<ErofsReport, ErofsError> {
    let bs = u64::from(plan.geo.block_size);
    if dev.size() < plan.geo.bytes() {
        return Err(ErofsError::Io(IoError::OutOfBounds {
            offset: 0,
            len: plan.geo.bytes(),
            size: dev.size(),
        }));
    }
    let meta_len =
        usize::try_from(plan.geo.metadata_blocks * bs).map_err(|_| ErofsError::TooLarge)?;
    let mut meta = vec![0u8; meta_len];
    let mut report = ErofsReport {
        geometry: plan.geo.clone(),
        files: 0,
        directories: 0,
        symlinks: 0,
        other: 0,
        hard_links: 0,
        data_bytes: 0,
    };
    let data_total = tree.data_bytes();
    // 1. The metadata area first, inline tails included (read from the
    // sources), so that it can be written before the data: the image is
    // then final from its start up to the last data block written, and the
    // build's hash follows the writer.
    let mut rec = Vec::new();
    for id in tree.preorder() {
        let node = tree.node(id);
        let Some(p) = plan.nodes.get(id.index()).and_then(|p| p.as_ref()) else {
            continue;
        };
        rec.clear();
        p.inode.encode_into(&mut rec);
        p.xattrs
            .encode_into(&mut rec, &node.meta.xattrs, plan.shared_at as u32);
        match &p.data {
            Data::Chunks { map, .. } => {
                for a in map {
                    rec.extend_from_slice(&a.to_le_bytes());
                }
            }
            Data::Compressed { start, extents } => {
                // The record starts 32-byte aligned: this aligns the map.
                rec.resize(rec.len().next_multiple_of(8), 0);
                rec.extend_from_slice(&zmap::encode_map(extents, p.inode.size, bs, *start));
            }
            _ => {}
        }
        let head = rec.len();
        rec.resize(head + p.tail as usize, 0);
        let tail = &mut rec[head..];
        match &node.kind {
            NodeKind::Dir { .. } if p.tail > 0 => {
                let content = dir_content(plan, tree, id, bs as usize)?;
                tail.copy_from_slice(&content[content.len() - tail.len()..]);
            }
            NodeKind::Symlink { target } => {
                tail.copy_from_slice(&target[target.len() - tail.len()..]);
            }
            // A file without blocks is read only here: its size is checked
            // here too.
            NodeKind::File { data, .. } if p.tail > 0 || p.data == Data::None => {
                read_tail(data, tail)?
            }
            _ => {}
        }
        let at = usize::try_from(p.offset()).map_err(|_| ErofsError::TooLarge)?;
        meta.get_mut(at..at + rec.len())
            .ok_or(ErofsError::Internal("inode record past the metadata area"))?
            .copy_from_slice(&rec);
    }
    let sa = plan.shared_at as usize;
    meta.get_mut(sa..sa + plan.shared.bytes.len())
        .ok_or(ErofsError::Internal("shared xattrs past the metadata area"))?
        .copy_from_slice(&plan.shared.bytes);
    meta[superblock::OFFSET..superblock::OFFSET + superblock::SIZE]
        .copy_from_slice(&plan.superblock.encode());
    superblock::seal(&mut meta[..bs as usize]);
    dev.write_at(0, &meta)?;
    drop(meta);

    // 2. The data, in block order (the planner handed blocks out in this
    // same pre-order), each node's tail again into a scratch buffer;
    // compressed files' blocks come from the compressing workers.
    let order = tree.preorder();
    let packed: Vec<(&FileData, &[zmap::Extent])> = order
        .iter()
        .filter_map(|&id| {
            let p = plan.nodes.get(id.index())?.as_ref()?;
            match (&p.data, &tree.node(id).kind) {
                (Data::Compressed { extents, .. }, NodeKind::File { data, .. }) => {
                    Some((data, extents.as_slice()))
                }
                _ => None,
            }
        })
        .collect();
    zwrite::with_compressed(&packed, bs, |pull| {
        write_data(
            plan,
            tree,
            dev,
            &order,
            pull,
            &mut report,
            meta_len as u64,
            progress,
        )
    })?;
    progress(Tick {
        data_done: data_total,
        data_total,
        final_below: plan.geo.bytes(),
    });
    Ok(report)
}

/// Pass 2 of [`write`]: every node's data blocks, in block order.
#[allow(clippy::too_many_arguments)]
fn write_data(
    plan: &ErofsPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    order: &[NodeId],
    pull: &mut dyn FnMut() -> Result<Vec<u8>, ErofsError>,
    report: &mut ErofsReport,
    meta_len: u64,
    progress: &mut dyn FnMut(Tick),
) -> Result<(), ErofsError> {
    let bs = u64::from(plan.geo.block_size);
    let data_total = tree.data_bytes();
    let mut final_below = meta_len;
    for &id in order {
        let node = tree.node(id);
        let Some(p) = plan.nodes.get(id.index()).and_then(|p| p.as_ref()) else {
            report.hard_links += 1;
            continue;
        };
        // Tails are in the metadata already: only blocks are written here.
        let owns_blocks = matches!(p.data, Data::Blocks { owner: true, .. });
        match &node.kind {
            NodeKind::Dir { .. } => {
                report.directories += 1;
                if owns_blocks {
                    let content = dir_content(plan, tree, id, bs as usize)?;
                    write_blocks(dev, p, &content, bs)?;
                }
            }
            NodeKind::Symlink { target } => {
                report.symlinks += 1;
                write_blocks(dev, p, target, bs)?;
            }
            NodeKind::File { data, .. } => {
                report.files += 1;
                report.data_bytes += data.len();
                if let Data::Compressed { start, extents } = &p.data {
                    if let FileData::Host {
                        path,
                        sha256: Some(want),
                        ..
                    } = data
                    {
                        let f = File::open(path).map_err(host_err(path))?;
                        verify_sha(&f, path, want, &|| tree.path_of(id))?;
                    }
                    let mut at = u64::from(*start) * bs;
                    for _ in 0..zwrite::runs(extents.len()) {
                        let blocks = pull()?;
                        crate::io::write_nonzero(dev, at, &blocks)?;
                        at += blocks.len() as u64;
                    }
                } else {
                    write_file(dev, p, data, bs, &|| tree.path_of(id))?;
                }
            }
            _ => report.other += 1,
        }
        final_below = final_below.max(data_end(p, bs));
        if matches!(node.kind, NodeKind::File { .. }) {
            progress(Tick {
                data_done: report.data_bytes,
                data_total,
                final_below,
            });
        }
    }
    Ok(())
}

/// Where the last block this node writes ends (0 when it writes none).
fn data_end(p: &InodePlan, bs: u64) -> u64 {
    let blocks = match &p.data {
        Data::Blocks {
            start,
            count,
            owner: true,
        } => u64::from(*start) + u64::from(*count),
        Data::Compressed { start, extents } => u64::from(*start) + extents.len() as u64,
        Data::Chunks { map, chunk_bits } => {
            // A chunk holds `chunk` bytes, the last one what is left.
            let chunk = bs << chunk_bits;
            map.iter()
                .enumerate()
                .filter(|(_, &a)| a != super::inode::NULL_ADDR)
                .map(|(i, &a)| {
                    let left = p.inode.size.saturating_sub(i as u64 * chunk);
                    u64::from(a) + chunk.min(left).div_ceil(bs)
                })
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    };
    blocks * bs
}

/// The last `tail.len()` bytes of a file, for its inode record.
fn read_tail(data: &FileData, tail: &mut [u8]) -> Result<(), ErofsError> {
    match data {
        FileData::Inline(b) => {
            tail.copy_from_slice(&b[b.len() - tail.len()..]);
            Ok(())
        }
        FileData::Host { path, len, .. } => {
            let f = File::open(path).map_err(host_err(path))?;
            check_len(&f, path, *len)?;
            let at = len - tail.len() as u64;
            f.read_exact_at(tail, at).map_err(|_| {
                ErofsError::Io(IoError::SourceChanged {
                    path: path.clone(),
                    expected: *len,
                    found: f.metadata().map(|m| m.len()).unwrap_or(0),
                })
            })
        }
    }
}

/// A directory's bytes: full blocks zero padded, the last one to its used
/// end.
fn dir_content(
    plan: &ErofsPlan,
    tree: &Tree,
    id: NodeId,
    bs: usize,
) -> Result<Vec<u8>, ErofsError> {
    let entries = dir_entries(tree, id);
    let lens: Vec<usize> = entries.iter().map(|e| e.0.len()).collect();
    let blocks = dir::split_blocks(&lens, bs);
    let mut out = Vec::with_capacity(blocks.len() * bs);
    let mut i = 0;
    for (bi, &(n, _)) in blocks.iter().enumerate() {
        let mut ents = Vec::with_capacity(n);
        for (name, target) in &entries[i..i + n] {
            let nid = plan
                .inode_of(tree, *target)
                .ok_or(ErofsError::Internal("dirent to an unplanned inode"))?
                .nid;
            ents.push((*name, nid, file_type(tree, *target)));
        }
        dir::encode_block(&mut out, &ents);
        if bi + 1 < blocks.len() {
            out.resize((bi + 1) * bs, 0);
        }
        i += n;
    }
    Ok(out)
}

/// Writes the block part of in-memory content (all but the inline tail)
/// to the data area.
fn write_blocks(
    dev: &mut dyn BlockDevice,
    p: &InodePlan,
    content: &[u8],
    bs: u64,
) -> Result<(), ErofsError> {
    let body = content.len() - p.tail as usize;
    if let Data::Blocks {
        start, owner: true, ..
    } = p.data
    {
        crate::io::write_nonzero(dev, u64::from(start) * bs, &content[..body])?;
    }
    Ok(())
}

/// Streams a regular file's block part to the data area (or chunk by
/// chunk for sparse files); its tail went into the inode record with the
/// metadata. A file without blocks is opened only for a `sha256` check.
fn write_file(
    dev: &mut dyn BlockDevice,
    p: &InodePlan,
    data: &FileData,
    bs: u64,
    image_path: &dyn Fn() -> String,
) -> Result<(), ErofsError> {
    let (path, len, sha) = match data {
        FileData::Inline(b) => return write_blocks(dev, p, b, bs),
        FileData::Host { path, len, sha256 } => (path, *len, sha256),
    };
    if p.data == Data::None && sha.is_none() {
        return Ok(());
    }
    let mut f = File::open(path).map_err(host_err(path))?;
    check_len(&f, path, len)?;
    if let Some(want) = sha {
        verify_sha(&f, path, want, image_path)?;
    }
    let body = len - u64::from(p.tail);
    match &p.data {
        Data::Blocks {
            start, owner: true, ..
        } if body > 0 => {
            dev.copy_from(u64::from(*start) * bs, &mut f, path, 0, body)?;
        }
        Data::Chunks { chunk_bits, map } => {
            let chunk = bs << chunk_bits;
            for (i, &a) in map.iter().enumerate() {
                if a != super::inode::NULL_ADDR {
                    let s = i as u64 * chunk;
                    dev.copy_from(u64::from(a) * bs, &mut f, path, s, chunk.min(len - s))?;
                }
            }
        }
        _ => {}
    }
    check_len(&f, path, len)
}

fn check_len(f: &File, path: &Path, expected: u64) -> Result<(), ErofsError> {
    let found = f.metadata().map_err(host_err(path))?.len();
    if found != expected {
        return Err(ErofsError::Io(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected,
            found,
        }));
    }
    Ok(())
}

/// Checks a source file against the SHA-256 the spec gives for it.
fn verify_sha(
    f: &File,
    path: &Path,
    want: &[u8; 32],
    image_path: &dyn Fn() -> String,
) -> Result<(), ErofsError> {
    let (got, _) = crate::io::sha256_read(f).map_err(host_err(path))?;
    if &got != want {
        return Err(ErofsError::Sha256Mismatch {
            path: format!("{} (from {})", image_path(), path.display()),
            expected: hex(want),
            found: hex(&got),
        });
    }
    Ok(())
}
