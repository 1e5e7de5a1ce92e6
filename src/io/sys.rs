//! The few host calls the standard library has no API for: finding holes
//! in host files with `lseek(SEEK_DATA / SEEK_HOLE)`, creating special files
//! with `mknod` and asking whether we run as root (for `extract`). This is
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
