//! Filling one on-disk inode from its plan and metadata.

use super::{S_IFBLK, S_IFCHR, S_IFIFO, S_IFLNK, S_IFSOCK};
use crate::fs::ext::layout::{ExtPlan, InodePlan};
use crate::fs::ext::ondisk::{self, ino, put16, put32};
use crate::fs::ext::xattr;
use crate::tree::Timestamp;

/// Device numbers in `i_block`: the old 16-bit form when both fit a byte,
/// else the new 32-bit form in the second word, as the kernel does.
pub(super) fn device_iblock(major: u32, minor: u32) -> [u8; 60] {
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
pub(super) fn fill_inode(
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
