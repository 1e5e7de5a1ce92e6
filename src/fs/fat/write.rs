//! The writer: turns a [`FatPlan`] into bytes on a device. The device starts
//! zeroed, so only non-zero 4 KiB runs are written; file data streams from
//! its source in large writes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::boot;
use super::geometry::FatType;
use super::layout::{DirPlan, FatPlan};
use super::table;
use super::time::FatTime;
use super::{format_volume_id, FatError, FatReport};
use crate::io::{host_err, write_nonzero, BlockDevice, IoError, CHUNK};
use crate::tree::{FileData, Meta, NodeId, NodeKind, Tree};

const ATTR_READ_ONLY: u8 = 0x01;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;

/// Encodes one 32-byte short directory entry (spec "Directory Structure").
fn short_entry(
    name: &[u8; 11],
    attr: u8,
    case: u8,
    meta: &Meta,
    cluster: u32,
    size: u32,
) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[0..11].copy_from_slice(name); // DIR_Name
    e[11] = attr; // DIR_Attr
    e[12] = case; // DIR_NTRes
    let crt = FatTime::from_timestamp(meta.crtime);
    let wrt = FatTime::from_timestamp(meta.mtime);
    let acc = FatTime::from_timestamp(meta.atime);
    e[13] = crt.tenths; // DIR_CrtTimeTenth
    e[14..16].copy_from_slice(&crt.time.to_le_bytes()); // DIR_CrtTime
    e[16..18].copy_from_slice(&crt.date.to_le_bytes()); // DIR_CrtDate
    e[18..20].copy_from_slice(&acc.date.to_le_bytes()); // DIR_LstAccDate
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes()); // DIR_FstClusHI
    e[22..24].copy_from_slice(&wrt.time.to_le_bytes()); // DIR_WrtTime
    e[24..26].copy_from_slice(&wrt.date.to_le_bytes()); // DIR_WrtDate
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes()); // DIR_FstClusLO
    e[28..32].copy_from_slice(&size.to_le_bytes()); // DIR_FileSize
    e
}

fn first_cluster(plan: &FatPlan, id: NodeId) -> u32 {
    plan.alloc
        .get(id.index())
        .copied()
        .flatten()
        .map_or(0, |a| a.first)
}

/// The bytes of one directory.
fn encode_dir(plan: &FatPlan, tree: &Tree, d: &DirPlan) -> Vec<u8> {
    let node = tree.node(d.node);
    let mut out = Vec::new();
    if d.node == NodeId::ROOT {
        if let Some(label) = &plan.label {
            out.extend_from_slice(&short_entry(label, ATTR_VOLUME_ID, 0, &node.meta, 0, 0));
        }
    } else {
        let own = first_cluster(plan, d.node);
        // ".." of a directory in the root points at cluster 0, even on
        // FAT32 where the root has a cluster.
        let parent = if node.parent == NodeId::ROOT {
            0
        } else {
            first_cluster(plan, node.parent)
        };
        let parent_meta = &tree.node(node.parent).meta;
        out.extend_from_slice(&short_entry(
            b".          ",
            ATTR_DIRECTORY,
            0,
            &node.meta,
            own,
            0,
        ));
        out.extend_from_slice(&short_entry(
            b"..         ",
            ATTR_DIRECTORY,
            0,
            parent_meta,
            parent,
            0,
        ));
    }
    for e in &d.entries {
        if let Some(long) = &e.long {
            let sum = super::names::lfn_checksum(&e.short);
            for slot in super::names::lfn_slots(long, sum) {
                out.extend_from_slice(&slot);
            }
        }
        let child = tree.node(e.node);
        let cluster = first_cluster(plan, e.node);
        // A hard link carries its own name but the target's metadata.
        let meta = match &child.kind {
            NodeKind::HardLink { target } => &tree.node(*target).meta,
            _ => &child.meta,
        };
        let (attr, size) = if child.is_dir() {
            (ATTR_DIRECTORY, 0)
        } else {
            // Files are at most 4 GiB - 1 (checked by the plan).
            let size = plan.alloc[e.node.index()].map_or(0, |a| a.bytes as u32);
            // The only permission FAT keeps: no write bit means read-only.
            let ro = if meta.mode & 0o222 == 0 {
                ATTR_READ_ONLY
            } else {
                0
            };
            (ATTR_ARCHIVE | ro, size)
        };
        out.extend_from_slice(&short_entry(&e.short, attr, e.case, meta, cluster, size));
    }
    out
}

/// Copies a host file, verifying its length and, when given, its SHA-256.
fn copy_host(
    dev: &mut dyn BlockDevice,
    offset: u64,
    path: &Path,
    len: u64,
    sha256: Option<&[u8; 32]>,
) -> Result<(), FatError> {
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
    match sha256 {
        None => dev.copy_from(offset, &mut f, path, 0, len)?,
        Some(expected) => {
            // Hashing needs the bytes, so read them here instead of letting
            // the device copy them.
            let mut h = Sha256::new();
            let mut buf = vec![0u8; CHUNK.min(len as usize).max(1)];
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(buf.len() as u64) as usize;
                let chunk = &mut buf[..n];
                let mut got = 0;
                while got < n {
                    match f.read(&mut chunk[got..]) {
                        Ok(0) => {
                            return Err(IoError::SourceChanged {
                                path: path.to_path_buf(),
                                expected: len,
                                found: done + got as u64,
                            }
                            .into())
                        }
                        Ok(k) => got += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(host_err(path)(e).into()),
                    }
                }
                h.update(&*chunk);
                write_nonzero(dev, offset + done, chunk)?;
                done += n as u64;
            }
            let digest: [u8; 32] = h.finalize().into();
            if &digest != expected {
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                return Err(FatError::HashMismatch {
                    path: path.to_path_buf(),
                    expected: hex(expected),
                    found: hex(&digest),
                });
            }
        }
    }
    let now = f.metadata().map_err(host_err(path))?.len();
    if now != len {
        return Err(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected: len,
            found: now,
        }
        .into());
    }
    Ok(())
}

/// Writes the planned volume to `dev`, which must be zero-filled and at
/// least [`FatPlan::size_bytes`] long. Does not call `dev.finish()`.
pub fn write(
    plan: &FatPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
) -> Result<FatReport, FatError> {
    write_with_progress(plan, tree, dev, &mut |_| {})
}

/// [`write`], reporting progress per file. The FATs, boot sectors and
/// directories come first; each tick then says everything below the
/// lowest cluster still to be copied is final, so the image hash can
/// follow the writer.
pub fn write_with_progress(
    plan: &FatPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    progress: &mut dyn FnMut(crate::progress::Tick),
) -> Result<FatReport, FatError> {
    let g = &plan.geometry;
    if dev.size() < g.volume_bytes() {
        return Err(FatError::DeviceSize {
            expected: plan.size_bytes,
            found: dev.size(),
        });
    }
    let fat32 = g.fat_type == FatType::Fat32;

    // The FATs: encoded piece by piece from the chain list (which is all
    // they hold), every copy identical; the free tail stays unwritten.
    let mut chains: Vec<(u32, u32)> = plan
        .alloc
        .iter()
        .flatten()
        .filter(|a| a.clusters > 0)
        .map(|a| (a.first, a.clusters))
        .collect();
    chains.sort_unstable();
    table::stream(g.fat_type, g.media, &chains, |off, bytes| {
        (0..g.fats).try_for_each(|i| write_nonzero(dev, g.fat_offset(i) + off, bytes))
    })?;

    // Boot record (and on FAT32, FSInfo and the backups at sectors 6, 7).
    let label = plan.label.unwrap_or(*b"NO NAME    ");
    let bs = boot::boot_sector(g, plan.volume_id, &label);
    dev.write_at(0, &bs)?;
    let free = g.cluster_count - plan.used_clusters;
    if fat32 {
        let next_free = if free > 0 {
            plan.used_clusters + 2
        } else {
            0xffff_ffff
        };
        let fi = boot::fsinfo(free, next_free);
        let sec = u64::from(g.bytes_per_sector);
        dev.write_at(sec, &fi)?;
        dev.write_at(6 * sec, &bs)?;
        dev.write_at(7 * sec, &fi)?;
    }

    // Directories.
    for d in &plan.dirs {
        let bytes = encode_dir(plan, tree, d);
        let offset = if d.node == NodeId::ROOT && !fat32 {
            g.root_dir_offset()
        } else {
            g.cluster_offset(first_cluster(plan, d.node))
        };
        write_nonzero(dev, offset, &bytes)?;
    }

    // File data, contiguous, in pre-order. `final_below[k]`: the lowest
    // offset the k-th file or any after it writes.
    let files: Vec<(NodeId, u64, u64)> = plan
        .files
        .iter()
        .filter_map(|&id| plan.alloc[id.index()].map(|a| (id, a)))
        .filter(|(_, a)| a.bytes > 0)
        .map(|(id, a)| (id, g.cluster_offset(a.first), a.bytes))
        .collect();
    let mut final_below = vec![g.volume_bytes(); files.len() + 1];
    for k in (0..files.len()).rev() {
        final_below[k] = final_below[k + 1].min(files[k].1);
    }
    let data_total: u64 = files.iter().map(|f| f.2).sum();
    let mut data_done = 0u64;
    for (k, &(id, offset, bytes)) in files.iter().enumerate() {
        progress(crate::progress::Tick {
            data_done,
            data_total,
            final_below: final_below[k],
        });
        data_done += bytes;
        let kind = match &tree.node(id).kind {
            NodeKind::HardLink { target } => &tree.node(*target).kind,
            k => k,
        };
        match kind {
            NodeKind::File {
                data: FileData::Inline(v),
                ..
            } => write_nonzero(dev, offset, v)?,
            NodeKind::File {
                data: FileData::Host { path, len, sha256 },
                ..
            } => copy_host(dev, offset, path, *len, sha256.as_ref())?,
            _ => {}
        }
    }

    Ok(FatReport {
        geometry: g.clone(),
        volume_id: format_volume_id(plan.volume_id),
        label: plan
            .label
            .map(|l| String::from_utf8_lossy(&l).trim_end().to_string()),
        cluster_bytes: g.cluster_bytes(),
        used_clusters: plan.used_clusters,
        free_clusters: free,
        skipped: plan.skipped.clone(),
        renamed: plan.renamed.clone(),
        hardlinks_copied: plan.hardlinks.clone(),
    })
}
