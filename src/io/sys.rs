//! The few host calls the standard library has no API for: finding holes
//! in host files with `lseek(SEEK_DATA / SEEK_HOLE)`, `lstat` and the
//! read-permission check relative to an open directory (no path walk per
//! entry when a source tree is read), creating special files with `mknod`
//! and asking whether we run as root (for `extract`). This is
//! the one module of the crate that calls into libc with `unsafe`.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

/// The first offset at or after `pos` that holds data (`SEEK_DATA`);
/// `None` when the rest of the file is a hole (`ENXIO`: also past the
/// end). Any other failure answers `pos` itself: callers then read the
/// bytes, which is never wrong, only slower.
pub fn next_data(f: &File, pos: u64) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let off = libc::off_t::try_from(pos).ok()?;
    // SAFETY: the descriptor belongs to `f`, which outlives this call;
    // lseek touches no memory of ours. Using it from several threads is
    // fine for SEEK_DATA, which only reports and whose moved offset no one
    // here relies on (all reads are positional).
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, libc::SEEK_DATA) };
    match u64::try_from(r) {
        Ok(d) => Some(d),
        Err(_) if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) => None,
        Err(_) => Some(pos),
    }
}

/// The first offset at or after `pos` inside a hole (`SEEK_HOLE`; the end
/// of the file counts as one). Any failure answers the file's end as given:
/// callers then copy the bytes, which is never wrong, only slower.
pub fn next_hole(f: &File, pos: u64, end: u64) -> u64 {
    use std::os::fd::AsRawFd;
    let Ok(off) = libc::off_t::try_from(pos) else {
        return end;
    };
    // SAFETY: as for `next_data`: the descriptor is `f`'s, alive for the
    // call, and lseek touches no memory of ours.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, libc::SEEK_HOLE) };
    u64::try_from(r).map_or(end, |h| h.min(end))
}

/// Makes `dst` share `src`'s blocks (`FICLONE`: a reflink on btrfs, XFS
/// and other filesystems that have one). Fails where the filesystem has
/// none, or the two files are on different filesystems.
pub fn clone_file(dst: &File, src: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // FICLONE = _IOW(0x94, 9, int), from linux/fs.h.
    const FICLONE: libc::c_ulong = 0x4004_9409;
    // SAFETY: FICLONE takes the source descriptor as its argument by
    // value; both descriptors belong to files alive for the call, and the
    // kernel writes no memory of ours.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE, src.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Creates a special file (fifo, socket, character or block device) at
/// `path` with mknod(2); `mode` carries the type bits. Devices need root.
pub fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte")
    })?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a NUL-terminated string that lives until the call
    // returns; mknod only reads it and touches no other memory of ours.
    let r = unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// True when the process runs as root (it may then set owners and create
/// device nodes).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no
    // memory.
    unsafe { libc::geteuid() == 0 }
}

/// The `lstat` fields a source walk uses.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub mode: u32,
    pub size: u64,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
}

fn c_name(name: &std::ffi::OsStr) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(name.as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "name contains a NUL byte")
    })
}

/// `lstat` of `name` in the open directory `dir` (`fstatat` with
/// `AT_SYMLINK_NOFOLLOW`).
pub fn lstat_at(dir: &File, name: &std::ffi::OsStr) -> std::io::Result<Stat> {
    use std::os::fd::AsRawFd;
    let c = c_name(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: the descriptor belongs to `dir`, which outlives the call; `c`
    // is NUL-terminated and lives until the call returns; `st` points to
    // writable memory the size of `struct stat`, which fstatat fills
    // completely when it returns 0 and does not read.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatat returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    Ok(Stat {
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
        nlink: st.st_nlink,
        dev: st.st_dev,
        ino: st.st_ino,
        rdev: st.st_rdev,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
    })
}

/// Whether this process may read `name` in the open directory `dir`
/// (`faccessat(R_OK)` with the effective IDs, as `open` would check).
pub fn readable_at(dir: &File, name: &std::ffi::OsStr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let c = c_name(name)?;
    // SAFETY: the descriptor belongs to `dir`, which outlives the call; `c`
    // is NUL-terminated and lives until the call returns; faccessat only
    // reads it.
    let r = unsafe { libc::faccessat(dir.as_raw_fd(), c.as_ptr(), libc::R_OK, libc::AT_EACCESS) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
