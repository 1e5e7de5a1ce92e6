//! Carries out an [`ExtPlan`]: streams file data in on-disk order, then
//! writes inode tables, bitmaps, descriptors and superblocks, each once.

use super::csum;
use super::dir;
use super::layout::{ExtPlan, InodePlan, InodeSource, Run, ROOT_INO};
use super::map;
use super::ondisk::{self, ino, put16, put32, GroupCounts};
use super::xattr;
use super::ExtError;
use crate::io::{host_err, BlockDevice, IoError, CHUNK};
use crate::tree::{FileData, NodeId, NodeKind, Timestamp, Tree};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::Path;

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

/// Writes the planned image for `tree` onto `dev` (which must read as zeros).
pub fn write(
    plan: &ExtPlan,
    tree: &Tree,
    dev: &mut dyn BlockDevice,
    progress: Progress,
) -> Result<ExtReport, ExtError> {
    let geo = &plan.geo;
    let bs = geo.block_size as u64;
    let csum_on = plan.features.csum();
    let fs_seed = csum::fs_seed(&plan.opts.uuid);
    if dev.size() < geo.bytes() {
        return Err(ExtError::Io(IoError::OutOfBounds {
            offset: 0,
            len: geo.bytes(),
            size: dev.size(),
        }));
    }

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
    let total_data = tree.data_bytes();
    // File data is written last, in on-disk order, so that everything below
    // the current write position is final (a hasher can follow behind).
    let mut data_jobs: Vec<(&InodePlan, NodeId, &FileData)> = Vec::new();

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
                        if !ip.runs.is_empty() {
                            data_jobs.push((ip, id, data));
                        }
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

    // Data runs were allocated in inode order by one ascending cursor.
    let mut done_data = 0u64;
    let start_of = |job: Option<&(&InodePlan, NodeId, &FileData)>| {
        job.and_then(|j| j.0.runs.first())
            .map_or(geo.bytes(), |r| r.physical * bs)
    };
    progress(crate::progress::Tick {
        data_done: 0,
        data_total: total_data,
        final_below: start_of(data_jobs.first()),
    });
    for (k, &(ip, id, data)) in data_jobs.iter().enumerate() {
        write_file_data(dev, &ip.runs, bs, data, &|| tree.path_of(id))?;
        done_data += data.len();
        progress(crate::progress::Tick {
            data_done: done_data,
            data_total: total_data,
            final_below: start_of(data_jobs.get(k + 1)),
        });
    }
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

/// Writes `data` (the inode's logical bytes) across its runs.
fn write_runs_from(
    dev: &mut dyn BlockDevice,
    runs: &[Run],
    bs: u64,
    data: &[u8],
) -> Result<(), ExtError> {
    for r in runs {
        let start = (r.logical * bs) as usize;
        if start >= data.len() {
            continue;
        }
        let end = ((r.logical + r.len) * bs).min(data.len() as u64) as usize;
        dev.write_at(r.physical * bs, &data[start..end])?;
    }
    Ok(())
}

/// Streams a regular file's bytes to its runs, checking size and sha256.
fn write_file_data(
    dev: &mut dyn BlockDevice,
    runs: &[Run],
    bs: u64,
    data: &FileData,
    image_path: &dyn Fn() -> String,
) -> Result<(), ExtError> {
    match data {
        FileData::Inline(bytes) => write_runs_from(dev, runs, bs, bytes),
        FileData::Host { path, len, sha256 } => {
            let mut f = File::open(path).map_err(host_err(path))?;
            check_len(&f, path, *len)?;
            let mut hasher = sha256.map(|_| Sha256::new());
            // Bytes hashed so far; holes of sparse files hash as zeros.
            let mut pos = 0u64;
            for r in runs {
                let start = r.logical * bs;
                if start >= *len {
                    continue;
                }
                let n = (r.len * bs).min(*len - start);
                match hasher.as_mut() {
                    None => dev.copy_from(r.physical * bs, &mut f, path, start, n)?,
                    Some(h) => {
                        crate::io::hash_zeros(h, start - pos);
                        copy_hashing(dev, r.physical * bs, &mut f, path, start, n, *len, h)?
                    }
                }
                pos = start + n;
            }
            if let Some(h) = hasher.as_mut() {
                crate::io::hash_zeros(h, *len - pos);
            }
            check_len(&f, path, *len)?;
            if let (Some(h), Some(want)) = (hasher, sha256) {
                let got: [u8; 32] = h.finalize().into();
                if &got != want {
                    return Err(ExtError::Sha256Mismatch {
                        path: format!("{} (from {})", image_path(), path.display()),
                        expected: hex(want),
                        found: hex(&got),
                    });
                }
            }
            Ok(())
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check_len(f: &File, path: &Path, expected: u64) -> Result<(), ExtError> {
    let found = f.metadata().map_err(host_err(path))?.len();
    if found != expected {
        return Err(ExtError::Io(IoError::SourceChanged {
            path: path.to_path_buf(),
            expected,
            found,
        }));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn copy_hashing(
    dev: &mut dyn BlockDevice,
    offset: u64,
    f: &mut File,
    path: &Path,
    start: u64,
    n: u64,
    total: u64,
    h: &mut Sha256,
) -> Result<(), ExtError> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(start)).map_err(host_err(path))?;
    let mut buf = vec![0u8; CHUNK.min(n as usize).max(1)];
    let mut done = 0u64;
    while done < n {
        let k = (n - done).min(buf.len() as u64) as usize;
        let mut got = 0;
        while got < k {
            let r = f.read(&mut buf[got..k]).map_err(host_err(path))?;
            if r == 0 {
                return Err(ExtError::Io(IoError::SourceChanged {
                    path: path.to_path_buf(),
                    expected: total,
                    found: start + done + got as u64,
                }));
            }
            got += r;
        }
        h.update(&buf[..k]);
        if !crate::io::is_zero(&buf[..k]) {
            dev.write_at(offset + done, &buf[..k])?;
        }
        done += k as u64;
    }
    Ok(())
}

/// Device numbers in `i_block`: the old 16-bit form when both fit a byte,
/// else the new 32-bit form in the second word, as the kernel does.
fn device_iblock(major: u32, minor: u32) -> [u8; 60] {
    let mut b = [0u8; 60];
    if major < 256 && minor < 256 {
        put32(&mut b, 0, (major << 8) | minor);
    } else {
        let v = (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & !0xFF) << 12);
        put32(&mut b, 4, v);
    }
    b
}

/// Fills an on-disk inode. `times` is (atime, ctime, mtime, crtime).
#[allow(clippy::too_many_arguments)]
fn fill_inode(
    raw: &mut [u8],
    plan: &ExtPlan,
    mode: u16,
    uid: u32,
    gid: u32,
    times: [Timestamp; 4],
    links: u32,
    size: u64,
    ip: &InodePlan,
    iblock: &[u8; 60],
    mut flags: u32,
) {
    let bs = plan.geo.block_size as u64;
    put16(raw, ino::MODE, mode);
    put16(raw, ino::UID, uid as u16);
    put16(raw, ino::UID_HIGH, (uid >> 16) as u16);
    put16(raw, ino::GID, gid as u16);
    put16(raw, ino::GID_HIGH, (gid >> 16) as u16);
    put32(raw, ino::SIZE_LO, size as u32);
    put32(raw, ino::SIZE_HIGH, (size >> 32) as u32);
    let [at, ct, mt, crt] = times.map(ondisk::encode_time);
    put32(raw, ino::ATIME, at.0);
    put32(raw, ino::CTIME, ct.0);
    put32(raw, ino::MTIME, mt.0);
    put16(raw, ino::LINKS, links as u16);
    let blocks: u64 = ip.runs.iter().map(|r| r.len).sum::<u64>()
        + ip.map_blocks.len() as u64
        + ip.xattr_block.is_some() as u64;
    let sectors = blocks * (bs / 512);
    put32(raw, ino::BLOCKS_LO, sectors as u32);
    put16(raw, ino::BLOCKS_HIGH, (sectors >> 32) as u16);
    let is_fast_symlink = mode & 0o170000 == S_IFLNK && ip.runs.is_empty();
    let is_device = matches!(mode & 0o170000, S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK);
    if plan.features.extents() && !is_fast_symlink && !is_device {
        flags |= ondisk::FL_EXTENTS;
    }
    put32(raw, ino::FLAGS, flags);
    raw[ino::BLOCK..ino::BLOCK + 60].copy_from_slice(iblock);
    if let Some(b) = ip.xattr_block {
        put32(raw, ino::FILE_ACL_LO, b as u32);
        put16(raw, ino::FILE_ACL_HIGH, (b >> 32) as u16);
    }
    if plan.geo.inode_size > 128 {
        put16(raw, ino::EXTRA_ISIZE, xattr::EXTRA_ISIZE as u16);
        put32(raw, ino::ATIME_EXTRA, at.1);
        put32(raw, ino::CTIME_EXTRA, ct.1);
        put32(raw, ino::MTIME_EXTRA, mt.1);
        put32(raw, ino::CRTIME, crt.0);
        put32(raw, ino::CRTIME_EXTRA, crt.1);
    }
}

/// The jbd2 superblock (version 2) of a clean, empty journal. jbd2 is
/// big-endian.
fn journal_superblock(plan: &ExtPlan) -> Vec<u8> {
    let mut b = vec![0u8; plan.geo.block_size as usize];
    let be = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    be(&mut b, 0x0, 0xC03B_3998); // h_magic
    be(&mut b, 0x4, 4); // h_blocktype: superblock v2
    be(&mut b, 0xC, plan.geo.block_size); // s_blocksize
    be(&mut b, 0x10, plan.geo.journal_blocks); // s_maxlen
    be(&mut b, 0x14, 1); // s_first
    be(&mut b, 0x18, 1); // s_sequence
    be(&mut b, 0x1C, 0); // s_start: 0 = clean
    b[0x30..0x40].copy_from_slice(&plan.opts.uuid); // s_uuid
    be(&mut b, 0x40, 1); // s_nr_users
    b
}

/// Bitmaps, group descriptors and every superblock copy.
fn write_group_metadata(
    plan: &ExtPlan,
    dev: &mut dyn BlockDevice,
    fs_seed: u32,
    jnl: Option<[u32; 17]>,
) -> Result<(), ExtError> {
    let geo = &plan.geo;
    let bs = geo.block_size as u64;
    let ipg = geo.inodes_per_group;
    let mut counts = vec![GroupCounts::default(); geo.groups as usize];

    // Inode bitmaps: reserved inodes 1..10, then every planned inode.
    let mut used_inodes: Vec<u32> = (1..super::layout::FIRST_INO).collect();
    used_inodes.extend(
        plan.inodes
            .iter()
            .map(|i| i.ino)
            .filter(|&i| i >= super::layout::FIRST_INO),
    );
    used_inodes.sort_unstable();
    used_inodes.dedup();
    let mut dirs_per_group = vec![0u32; geo.groups as usize];
    for ip in &plan.inodes {
        if ip.dir.is_some() {
            dirs_per_group[geo.group_of_ino(ip.ino) as usize] += 1;
        }
    }
    let mut it = used_inodes.iter().peekable();
    for g in 0..geo.groups {
        let mut bm = vec![0xFFu8; bs as usize];
        bm[..(ipg / 8) as usize].fill(0);
        let lo = g * ipg + 1;
        let hi = lo + ipg;
        let mut used = 0u32;
        let mut last = 0u32;
        while let Some(&&i) = it.peek() {
            if i >= hi {
                break;
            }
            let k = i - lo;
            bm[(k / 8) as usize] |= 1 << (k % 8);
            used += 1;
            last = k + 1;
            it.next();
        }
        let c = &mut counts[g as usize];
        c.free_inodes = ipg - used;
        c.itable_unused = ipg - last;
        c.used_dirs = dirs_per_group[g as usize];
        c.inode_bitmap_csum = csum::bitmap(fs_seed, &bm[..(ipg / 8) as usize]);
        dev.write_at(plan.groups[g as usize].inode_bitmap * bs, &bm)?;
    }

    // Block bitmaps from the used ranges.
    let bpg = geo.blocks_per_group as u64;
    let mut ranges = plan.used.iter().copied().peekable();
    for g in 0..geo.groups {
        let start = geo.group_start(g);
        let len = geo.group_len(g);
        let end = start + len;
        let mut bm = vec![0u8; bs as usize];
        // Bits past the end of a short last group are set.
        for k in len..bpg {
            bm[(k / 8) as usize] |= 1 << (k % 8);
        }
        let mut used = 0u64;
        while let Some(&(s, e)) = ranges.peek() {
            if s >= end {
                break;
            }
            let (a, b) = (s.max(start), e.min(end));
            for blk in a..b {
                let k = blk - start;
                bm[(k / 8) as usize] |= 1 << (k % 8);
            }
            used += b.saturating_sub(a);
            if e <= end {
                ranges.next();
            } else {
                break;
            }
        }
        let c = &mut counts[g as usize];
        c.free_blocks = (len - used) as u32;
        c.block_bitmap_csum = csum::bitmap(fs_seed, &bm[..(bpg / 8) as usize]);
        if !crate::io::is_zero(&bm) {
            dev.write_at(plan.groups[g as usize].block_bitmap * bs, &bm)?;
        }
    }

    // Descriptor table.
    let mut gdt = Vec::with_capacity(geo.gdt_blocks as usize * bs as usize);
    for g in 0..geo.groups {
        gdt.extend(ondisk::group_desc(
            plan,
            g,
            &plan.groups[g as usize],
            &counts[g as usize],
            fs_seed,
        ));
    }
    // Superblock and descriptor copies.
    for g in 0..geo.groups {
        if !geo.has_super(g) {
            continue;
        }
        let sb = ondisk::superblock(plan, g, jnl);
        let sb_off = if g == 0 {
            1024
        } else {
            geo.group_start(g) * bs
        };
        dev.write_at(sb_off, &sb)?;
        let gdt_off = (geo.group_start(g) + 1) * bs;
        dev.write_at(gdt_off, &gdt)?;
    }
    Ok(())
}
