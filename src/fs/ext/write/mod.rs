//! Carries out an [`ExtPlan`]: streams file data in on-disk order, then
//! writes inode tables, bitmaps, descriptors and superblocks, each once.

use super::csum;
use super::dir;
use super::layout::{ExtPlan, InodePlan, InodeSource, ROOT_INO};
use super::map;
use super::ondisk::{self, ino, put16};
use super::xattr;
use super::ExtError;
use crate::io::{BlockDevice, IoError};
use crate::tree::{FileData, NodeId, NodeKind, Timestamp, Tree};
use serde::Serialize;

mod data;
mod groups;
mod inode;

use data::{write_file_data, write_runs_from};
use groups::{journal_superblock, write_group_metadata};
use inode::{device_iblock, fill_inode};

/// What the writer reports (part of `--report`).
#[derive(Debug, Clone, Serialize)]
pub struct ExtReport {
    pub geometry: super::Geometry,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub other: u64,
    pub hard_links: u64,
    pub data_bytes: u64,
    pub indexed_directories: usize,
}

/// Progress callback; see [`crate::progress::Tick`].
pub type Progress<'a> = &'a mut dyn FnMut(crate::progress::Tick);

const S_IFIFO: u16 = 0o010000;
const S_IFCHR: u16 = 0o020000;
const S_IFDIR: u16 = 0o040000;
const S_IFBLK: u16 = 0o060000;
const S_IFREG: u16 = 0o100000;
const S_IFLNK: u16 = 0o120000;
const S_IFSOCK: u16 = 0o140000;

/// A regular file's data to copy: its inode plan, node and contents.
type DataJob<'a> = (&'a InodePlan, NodeId, &'a FileData);

/// Writes the planned image for `tree` onto `dev` (which must read as zeros).
///
/// Everything but file data (inode tables, directory, extent and xattr
/// blocks, bitmaps, descriptors, superblocks) is written by the inode pass;
/// file data is copied in on-disk order. The two touch disjoint blocks, so
/// where the device can hand out a second handle (a raw file) the data is
/// copied on another thread while the inode pass runs, and the bytes are
/// the same either way. Progress says a prefix is final only once the inode
/// pass is done, and then up to the first file not yet copied.
pub fn write(
    plan: &ExtPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    progress: Progress,
) -> Result<ExtReport, ExtError> {
    let geo = &plan.geo;
    if dev.size() < geo.bytes() {
        return Err(ExtError::Io(IoError::OutOfBounds {
            offset: 0,
            len: geo.bytes(),
            size: dev.size(),
        }));
    }
    let jobs = data_jobs(plan, tree);
    let total_data = tree.data_bytes();
    let bs = geo.block_size as u64;
    // Data runs were allocated in inode order by one ascending cursor.
    let start_of = |job: Option<&DataJob>| {
        job.and_then(|j| j.0.runs.first())
            .map_or(geo.bytes(), |r| r.physical * bs)
    };
    let tick = |data_done, final_below| crate::progress::Tick {
        data_done,
        data_total: total_data,
        final_below,
    };
    // Copies every file in order; after each, `copied(bytes so far, start
    // of the next file)`. Stops early when `stop` is set.
    let copy_all = |dev: &mut dyn BlockDevice,
                    stop: &dyn Fn() -> bool,
                    copied: &mut dyn FnMut(u64, u64)|
     -> Result<(), ExtError> {
        let mut done = 0u64;
        for (k, &(ip, id, data)) in jobs.iter().enumerate() {
            if stop() {
                break;
            }
            write_file_data(dev, &ip.runs, bs, data, &|| tree.path_of(id))?;
            done += data.len();
            copied(done, start_of(jobs.get(k + 1)));
        }
        Ok(())
    };
    let Some(mut second) = dev.split_writer() else {
        let report = write_inodes(plan, tree, dev)?;
        progress(tick(0, start_of(jobs.first())));
        copy_all(dev, &|| false, &mut |done, next| progress(tick(done, next)))?;
        return Ok(report);
    };
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let done = AtomicU64::new(0);
    let next = AtomicU64::new(start_of(jobs.first()));
    let stop = AtomicBool::new(false);
    let (inodes, copied) = std::thread::scope(|s| {
        let copier = s.spawn(|| {
            copy_all(
                second.as_mut(),
                &|| stop.load(Ordering::Relaxed),
                &mut |d, n| {
                    done.store(d, Ordering::Relaxed);
                    // Release: the bytes below are written before anyone
                    // reads this as final.
                    next.store(n, Ordering::Release);
                },
            )
        });
        let inodes = write_inodes(plan, tree, dev);
        match &inodes {
            Err(_) => stop.store(true, Ordering::Relaxed),
            // The inode pass is done: from here what the copier has
            // finished is final.
            Ok(_) => {
                while !copier.is_finished() {
                    progress(tick(
                        done.load(Ordering::Relaxed),
                        next.load(Ordering::Acquire),
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        let copied = copier
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (inodes, copied)
    });
    // An inode-pass error first, as when the two ran one after the other.
    let report = inodes?;
    copied?;
    second.finish()?;
    progress(tick(done.into_inner(), next.into_inner()));
    Ok(report)
}

/// Every regular file with data blocks, in inode (and so on-disk) order.
fn data_jobs<'a>(plan: &'a ExtPlan, tree: &'a Tree) -> Vec<DataJob<'a>> {
    plan.inodes
        .iter()
        .filter(|ip| !ip.runs.is_empty())
        .filter_map(|ip| match ip.source {
            InodeSource::Node(id) => match &tree.node(id).kind {
                NodeKind::File { data, .. } => Some((ip, id, data)),
                _ => None,
            },
            InodeSource::Journal => None,
        })
        .collect()
}

/// The inode pass: inode tables, directory, extent, xattr and symlink
/// blocks, the journal superblock, then bitmaps, descriptors and
/// superblocks. Everything but file data.
fn write_inodes(
    plan: &ExtPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
) -> Result<ExtReport, ExtError> {
    let geo = &plan.geo;
    let bs = geo.block_size as u64;
    let csum_on = plan.features.csum();
    let fs_seed = csum::fs_seed(&plan.opts.uuid);
    let ipg = geo.inodes_per_group as usize;
    let isz = geo.inode_size as usize;
    let mut table = vec![0u8; ipg * isz];
    let mut table_group: u32 = 0;
    let mut table_used = 0usize; // bytes of `table` that hold inodes
    let mut jnl_backup = None;
    let mut dirbuf = Vec::new();
    let mut report = ExtReport {
        geometry: geo.clone(),
        files: 0,
        directories: 0,
        symlinks: 0,
        other: 0,
        hard_links: tree
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::HardLink { .. }))
            .count() as u64,
        data_bytes: 0,
        indexed_directories: plan.indexed_dirs(),
    };

    for ip in &plan.inodes {
        let group = geo.group_of_ino(ip.ino);
        if group != table_group {
            flush_table(plan, dev, table_group, &mut table, table_used)?;
            table_group = group;
            table_used = 0;
        }
        let idx = (ip.ino as usize - 1) % ipg;
        let raw = &mut table[idx * isz..(idx + 1) * isz];
        table_used = table_used.max((idx + 1) * isz);
        let iseed = csum::inode_seed(fs_seed, ip.ino, 0);
        let tail_seed = if csum_on { Some(iseed) } else { None };
        match ip.source {
            InodeSource::Journal => {
                let jb = geo.journal_blocks as u64;
                let first = ip.runs.first().map(|r| r.physical).unwrap_or(0);
                dev.write_at(first * bs, &journal_superblock(plan))?;
                let iblock = write_mapping(plan, dev, ip, tail_seed)?;
                let t = Timestamp::from_secs(plan.opts.epoch);
                fill_inode(
                    raw,
                    plan,
                    S_IFREG | 0o600,
                    0,
                    0,
                    [t; 4],
                    1,
                    jb * bs,
                    ip,
                    &iblock,
                    0,
                );
                let mut words = [0u32; 17];
                for (i, w) in words.iter_mut().take(15).enumerate() {
                    *w = u32::from_le_bytes([
                        iblock[i * 4],
                        iblock[i * 4 + 1],
                        iblock[i * 4 + 2],
                        iblock[i * 4 + 3],
                    ]);
                }
                words[15] = ((jb * bs) >> 32) as u32;
                words[16] = (jb * bs) as u32;
                jnl_backup = Some(words);
            }
            InodeSource::Node(id) => {
                let node = tree.node(id);
                let m = &node.meta;
                let mut flags = 0u32;
                let (typ, size, iblock) = match &node.kind {
                    NodeKind::Dir { .. } => {
                        report.directories += 1;
                        let layout = ip
                            .dir
                            .as_ref()
                            .ok_or_else(|| internal("directory without layout"))?;
                        let parent_ino = if id == NodeId::ROOT {
                            ROOT_INO
                        } else {
                            plan.ino_of[node.parent.index()]
                        };
                        dir::render(
                            tree,
                            id,
                            &plan.ino_of,
                            ip.ino,
                            parent_ino,
                            layout,
                            &plan.opts,
                            iseed,
                            &mut dirbuf,
                        );
                        if layout.htree.is_some() {
                            flags |= ondisk::FL_INDEX;
                        }
                        write_runs_from(dev, &ip.runs, bs, &dirbuf)?;
                        let iblock = write_mapping(plan, dev, ip, tail_seed)?;
                        (S_IFDIR, layout.blocks * bs, iblock)
                    }
                    NodeKind::File { data, .. } => {
                        report.files += 1;
                        report.data_bytes += data.len();
                        let iblock = write_mapping(plan, dev, ip, tail_seed)?;
                        (S_IFREG, data.len(), iblock)
                    }
                    NodeKind::Symlink { target } => {
                        report.symlinks += 1;
                        if ip.runs.is_empty() {
                            let mut iblock = [0u8; 60];
                            iblock[..target.len()].copy_from_slice(target);
                            (S_IFLNK, target.len() as u64, iblock)
                        } else {
                            write_runs_from(dev, &ip.runs, bs, target)?;
                            let iblock = write_mapping(plan, dev, ip, tail_seed)?;
                            (S_IFLNK, target.len() as u64, iblock)
                        }
                    }
                    NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                        report.other += 1;
                        let t = if matches!(node.kind, NodeKind::CharDev { .. }) {
                            S_IFCHR
                        } else {
                            S_IFBLK
                        };
                        (t, 0, device_iblock(*major, *minor))
                    }
                    NodeKind::Fifo => {
                        report.other += 1;
                        (S_IFIFO, 0, [0u8; 60])
                    }
                    NodeKind::Socket => {
                        report.other += 1;
                        (S_IFSOCK, 0, [0u8; 60])
                    }
                    NodeKind::HardLink { .. } => return Err(internal("hard link owns an inode")),
                };
                if let Some(b) = ip.xattr_block {
                    let blk = xattr::build_block(
                        &m.xattrs,
                        geo.block_size,
                        b,
                        csum_on.then_some(fs_seed),
                    )
                    .map_err(|message| ExtError::Entry {
                        path: tree.path_of(id),
                        message,
                    })?;
                    dev.write_at(b * bs, &blk)?;
                }
                let times = [m.atime, m.ctime, m.mtime, m.crtime];
                fill_inode(
                    raw,
                    plan,
                    typ | (m.mode & 0o7777),
                    m.uid,
                    m.gid,
                    times,
                    ip.links,
                    size,
                    ip,
                    &iblock,
                    flags,
                );
                if !m.xattrs.is_empty() && ip.xattr_block.is_none() {
                    xattr::write_ibody(raw, &m.xattrs).map_err(|message| ExtError::Entry {
                        path: tree.path_of(id),
                        message,
                    })?;
                }
            }
        }
        if csum_on {
            let c = csum::inode(fs_seed, ip.ino, 0, raw);
            put16(raw, ino::CHECKSUM_LO, c as u16);
            if isz > 128 {
                put16(raw, ino::CHECKSUM_HI, (c >> 16) as u16);
            }
        }
    }
    flush_table(plan, dev, table_group, &mut table, table_used)?;
    drop(table);
    write_group_metadata(plan, dev, fs_seed, jnl_backup)?;
    Ok(report)
}

fn internal(msg: &str) -> ExtError {
    ExtError::Option {
        key: "internal",
        message: msg.to_string(),
    }
}

/// Writes one group's inode table (only the part holding inodes; the rest
/// stays zero) and clears the buffer for the next group.
fn flush_table(
    plan: &ExtPlan,
    dev: &mut dyn BlockDevice,
    group: u32,
    table: &mut [u8],
    used: usize,
) -> Result<(), ExtError> {
    if used == 0 {
        return Ok(());
    }
    let bs = plan.geo.block_size as usize;
    let len = used.div_ceil(bs) * bs;
    let start = plan.groups[group as usize].inode_table * bs as u64;
    dev.write_at(start, &table[..len.min(table.len())])?;
    table[..used].fill(0);
    Ok(())
}

/// Builds the mapping (extent tree or block map), writes its blocks, and
/// returns `i_block`.
fn write_mapping(
    plan: &ExtPlan,
    dev: &mut dyn BlockDevice,
    ip: &InodePlan,
    tail_seed: Option<u32>,
) -> Result<[u8; 60], ExtError> {
    let bs = plan.geo.block_size as u64;
    let (iblock, blocks) = if plan.features.extents() {
        map::build_extent_tree(&ip.runs, &ip.map_blocks, plan.geo.block_size, tail_seed)
    } else {
        map::build_blockmap(&ip.runs, &ip.map_blocks, plan.geo.block_size)
    };
    for (b, data) in blocks {
        dev.write_at(b * bs, &data)?;
    }
    Ok(iblock)
}
