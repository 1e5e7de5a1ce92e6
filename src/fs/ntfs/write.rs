//! The writer: turns an [`NtfsPlan`] into bytes on a device. The device
//! starts zeroed, so zero runs are never written; the MFT is assembled and
//! written in 1 MiB batches, file data streams from its source.

use crate::bytes::hex;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::boot::BootSector;
use super::index;
use super::layout::{Content, Extent, NtfsPlan, INDEX_BLOCK};
use super::{attrdef, node, record, secure, system, upcase};
use super::{NtfsError, NtfsReport};
use crate::io::{host_err, write_nonzero, BlockDevice, IoError, CHUNK};
use crate::tree::{FileData, NodeKind, Tree};

/// Reads a host file whole (resident data: under a record in size).
fn read_small(path: &Path, len: u64, sha256: Option<&[u8; 32]>) -> Result<Vec<u8>, NtfsError> {
    let mut f = File::open(path).map_err(host_err(path))?;
    let mut v = Vec::with_capacity(len as usize);
    f.by_ref()
        .take(len + 1)
        .read_to_end(&mut v)
        .map_err(host_err(path))?;
    if v.len() as u64 != len {
        return Err(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected: len,
            found: v.len() as u64,
        }
        .into());
    }
    check_hash(path, &Sha256::digest(&v).into(), sha256)?;
    Ok(v)
}

fn check_hash(
    path: &Path,
    digest: &[u8; 32],
    expected: Option<&[u8; 32]>,
) -> Result<(), NtfsError> {
    match expected {
        Some(e) if e != digest => Err(NtfsError::HashMismatch {
            path: path.to_path_buf(),
            expected: hex(e),
            found: hex(digest),
        }),
        _ => Ok(()),
    }
}

/// Where a non-resident file's bytes go: (source offset, device offset,
/// bytes), in order; one piece unless the file is sparse.
fn pieces(
    len: u64,
    cluster: u64,
    at: u64,
    segments: &Option<Vec<(u64, u64)>>,
) -> Vec<(u64, u64, u64)> {
    let Some(segs) = segments else {
        return vec![(0, at, len)];
    };
    let mut out = Vec::with_capacity(segs.len());
    let mut dst = at;
    for &(vcn, n) in segs {
        let src = vcn * cluster;
        let bytes = (n * cluster).min(len.saturating_sub(src));
        out.push((src, dst, bytes));
        dst += n * cluster;
    }
    out
}

/// Streams the `pieces` of a host file of `len` bytes to the device.
/// With a manifest SHA-256, the whole file is hashed on the way, the bytes
/// between pieces (all zero) from memory.
fn copy_host(
    dev: &mut dyn BlockDevice,
    pieces: &[(u64, u64, u64)],
    path: &Path,
    len: u64,
    sha256: Option<&[u8; 32]>,
) -> Result<(), NtfsError> {
    let mut f = File::open(path).map_err(host_err(path))?;
    let found = f.metadata().map_err(host_err(path))?.len();
    if found != len {
        return Err(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected: len,
            found,
        }
        .into());
    }
    let Some(expected) = sha256 else {
        for &(src, dst, n) in pieces {
            dev.copy_from(dst, &mut f, path, src, n)?;
        }
        return Ok(());
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK.min(len as usize).max(1)];
    let mut hashed = 0u64;
    for &(src, dst, n) in pieces {
        crate::io::hash_zeros(&mut h, src - hashed);
        let mut done = 0u64;
        while done < n {
            let k = (n - done).min(buf.len() as u64) as usize;
            f.read_exact_at(&mut buf[..k], src + done)
                .map_err(|_| IoError::SourceChanged {
                    path: path.to_path_buf(),
                    expected: len,
                    found: src + done,
                })?;
            h.update(&buf[..k]);
            write_nonzero(dev, dst + done, &buf[..k])?;
            done += k as u64;
        }
        hashed = src + n;
    }
    crate::io::hash_zeros(&mut h, len - hashed);
    check_hash(path, &h.finalize().into(), Some(expected))
}

fn file_data(tree: &Tree, id: crate::tree::NodeId) -> Option<&FileData> {
    match &tree.node(id).kind {
        NodeKind::File { data, .. } => Some(data),
        _ => None,
    }
}

fn offset(p: &NtfsPlan, e: Extent) -> u64 {
    e.lcn * p.geo.cluster
}

/// Writes the planned volume to `dev` (zero-filled, at least
/// [`NtfsPlan::size_bytes`] long). Does not call `dev.finish()`.
pub fn write(
    p: &NtfsPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
) -> Result<NtfsReport, NtfsError> {
    write_with_progress(p, tree, dev, &mut |_| {})
}

/// [`write`], reporting progress as file data is copied. Metadata comes
/// first and the data follows in ascending clusters, so each tick says
/// everything below the next file's data is final (the image hash can
/// follow the writer).
pub fn write_with_progress(
    p: &NtfsPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    progress: &mut dyn FnMut(crate::progress::Tick),
) -> Result<NtfsReport, NtfsError> {
    let g = p.geo;
    if dev.size() < g.volume_bytes {
        return Err(NtfsError::DeviceSize {
            expected: g.volume_bytes,
            found: dev.size(),
        });
    }
    // Boot sector and its backup in the last sector.
    let bs = BootSector {
        bytes_per_sector: 512,
        cluster_size: g.cluster as u32,
        hidden_sectors: p.opts.hidden_sectors,
        total_sectors: g.volume_bytes / 512 - 1,
        mft_lcn: p.sys.mft.lcn,
        mftmirr_lcn: p.sys.mirr.lcn,
        record_size: g.record as u32,
        index_block_size: INDEX_BLOCK as u32,
        serial: p.opts.serial,
    }
    .encode();
    dev.write_at(0, &bs)?;
    dev.write_at(g.volume_bytes - 512, &bs)?;

    // The MFT, in batches; the first records are kept for the mirror.
    let sys = system::records(p, tree)?;
    let mut by_record: Vec<Option<usize>> = vec![None; p.mft_records as usize];
    for (i, ino) in p.inodes.iter().enumerate() {
        by_record[ino.record as usize] = Some(i);
    }
    let mut mirror = Vec::new();
    let mut batch: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut batch_start = offset(p, p.sys.mft);
    let mut sys_iter = sys.iter().peekable();
    let mut mft_bitmap = vec![0u8; p.mft_bitmap_bytes() as usize];
    // Extension records still to come (they follow their base record), and
    // attribute lists that live outside the MFT.
    let mut extensions = std::collections::VecDeque::new();
    let mut lists = Vec::new();
    for rec in 0..p.mft_records {
        let bytes = if let Some(b) = extensions.pop_front() {
            b
        } else if let Some(i) = by_record[rec as usize] {
            let ino = &p.inodes[i];
            let data = match (&ino.content, file_data(tree, ino.node)) {
                (Content::File { resident: true, .. }, Some(FileData::Inline(v))) => v.clone(),
                (
                    Content::File {
                        resident: true,
                        len,
                        ..
                    },
                    Some(FileData::Host { path, sha256, .. }),
                ) => read_small(path, *len, sha256.as_ref())?,
                _ => Vec::new(),
            };
            let built = node::build(p, tree, i, &data)?;
            lists.extend(built.list);
            let mut records = built.records.into_iter();
            let base = records.next().unwrap_or_default();
            extensions.extend(records);
            base
        } else if sys_iter.peek().is_some_and(|s| s.0 == rec) {
            sys_iter.next().map(|s| s.1.clone()).unwrap_or_default()
        } else {
            record::empty(g.record, rec as u32)
        };
        if bytes.get(0x16).is_some_and(|f| f & 1 != 0) {
            mft_bitmap[(rec / 8) as usize] |= 1 << (rec % 8);
        }
        if rec < g.mirror_records() {
            mirror.extend_from_slice(&bytes);
        }
        batch.extend_from_slice(&bytes);
        if batch.len() >= CHUNK {
            write_nonzero(dev, batch_start, &batch)?;
            batch_start += batch.len() as u64;
            batch.clear();
        }
    }
    write_nonzero(dev, batch_start, &batch)?;
    for (e, v) in &lists {
        write_nonzero(dev, offset(p, *e), v)?;
    }
    write_nonzero(dev, offset(p, p.sys.mft_bitmap), &mft_bitmap)?;
    write_nonzero(dev, offset(p, p.sys.mirr), &mirror)?;

    // $LogFile: every byte 0xFF, the state mkntfs and ntfsfix leave (an
    // empty, clean log).
    let log = vec![0xffu8; CHUNK.min(p.log_bytes as usize)];
    let mut done = 0;
    while done < p.log_bytes {
        let n = (p.log_bytes - done).min(log.len() as u64) as usize;
        dev.write_at(offset(p, p.sys.log) + done, &log[..n])?;
        done += n as u64;
    }
    write_nonzero(dev, offset(p, p.sys.attrdef), &attrdef::encode())?;

    // $Bitmap: clusters 0..used are in use (allocation is one sweep).
    let mut bitmap = vec![0u8; p.bitmap_bytes as usize];
    for c in 0..p.used_clusters {
        bitmap[(c / 8) as usize] |= 1 << (c % 8);
    }
    write_nonzero(dev, offset(p, p.sys.bitmap), &bitmap)?;
    write_nonzero(dev, offset(p, p.sys.upcase), &upcase::encode(&p.upcase))?;
    write_nonzero(dev, offset(p, p.sys.sds), &secure::sds())?;

    // Index blocks.
    let vpb = g.vcn_per_block();
    let write_blocks =
        |t: &index::Tree, e: Extent, dev: &mut dyn BlockDevice| -> Result<(), IoError> {
            for (i, b) in t.blocks.iter().enumerate() {
                let bytes = index::block(INDEX_BLOCK, i as u64 * vpb, b);
                dev.write_at(offset(p, e) + (i * INDEX_BLOCK) as u64, &bytes)?;
            }
            Ok(())
        };
    write_blocks(&p.reparse_index, p.sys.reparse, dev)?;
    for ino in &p.inodes {
        if let Content::Dir {
            index,
            alloc,
            bitmap,
        } = &ino.content
        {
            write_blocks(index, *alloc, dev)?;
            if let Some(b) = bitmap {
                write_nonzero(dev, offset(p, *b), &index::bitmap(index.blocks.len()))?;
            }
        }
    }

    // File data, contiguous, in pre-order (a sparse file's data clusters
    // only).
    let data_total = tree.data_bytes();
    let mut data_done = 0u64;
    for ino in &p.inodes {
        let Content::File {
            resident: false,
            alloc,
            segments,
            len,
        } = &ino.content
        else {
            continue;
        };
        let pieces = pieces(*len, g.cluster, offset(p, *alloc), segments);
        progress(crate::progress::Tick {
            data_done,
            data_total,
            final_below: offset(p, *alloc),
        });
        data_done += len;
        match file_data(tree, ino.node) {
            Some(FileData::Inline(v)) => {
                for &(src, dst, n) in &pieces {
                    write_nonzero(dev, dst, &v[src as usize..(src + n) as usize])?;
                }
            }
            Some(FileData::Host { path, len, sha256 }) => {
                copy_host(dev, &pieces, path, *len, sha256.as_ref())?
            }
            None => {}
        }
    }

    Ok(p.report())
}
