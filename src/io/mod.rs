//! The output side: one `BlockDevice` trait, addressed by byte offset, with no
//! cursor state. Writers never seek; they say where each byte goes.
//!
//! Implementations: a sparse raw file ([`SparseFile`]), memory ([`MemDevice`],
//! for tests), and a window onto another device ([`Slice`], for partitions).
//! The qcow2 container lives in `container::qcow2`.

pub mod cleanup;
mod copy;
pub use copy::copy_image;
mod sys;
pub use sys::{clone_file, is_root, lstat_at, mknod, next_data, next_hole, readable_at, Stat};
mod zeros;
pub use zeros::{
    copy_by_chunks, is_zero, nonzero_segments, nonzero_segments_in, write_nonzero, HOLE_BLOCK,
};

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors of the output layer.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error(
        "write of {len} bytes at offset {offset} goes past the end of the device ({size} bytes)"
    )]
    OutOfBounds { offset: u64, len: u64, size: u64 },
    #[error("I/O error on {path}: {source}")]
    Host {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source file {path} changed size during the build: expected {expected} bytes, found {found}")]
    SourceChanged {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

pub type Result<T> = std::result::Result<T, IoError>;

/// Wraps a host I/O error with the path it concerns.
pub fn host_err(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError::Host {
        path: path.to_path_buf(),
        source,
    }
}

/// A byte-addressed, read-only device: what readers and probes need.
/// Reads take `&self` and carry no cursor, so one device can serve several
/// readers at once.
pub trait ReadAt {
    /// Size of the device in bytes.
    fn size(&self) -> u64;
    /// Reads exactly `buf.len()` bytes at `offset`; a range past the end
    /// is [`IoError::OutOfBounds`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// The first offset at or after `offset` that may hold non-zero bytes
    /// (everything before it reads as zeros), or `None` when only zeros
    /// follow. A hint for skipping holes: the default, `offset`, is always
    /// right.
    fn next_data(&self, offset: u64) -> Option<u64> {
        Some(offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn next_data(&self, offset: u64) -> Option<u64> {
        (**self).next_data(offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn next_data(&self, offset: u64) -> Option<u64> {
        (**self).next_data(offset)
    }
}

/// A byte-addressed output device. The device starts out all zeros; writers
/// may therefore skip writing zeros (and sparse sinks keep them as holes).
pub trait BlockDevice: ReadAt {
    /// Writes `buf` at `offset`.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()>;
    /// Copies `len` bytes of `src` starting at `src_offset` to `offset`.
    /// The default, [`copy_by_chunks`], leaves all-zero blocks as holes.
    fn copy_from(
        &mut self,
        offset: u64,
        src: &mut File,
        src_path: &Path,
        src_offset: u64,
        len: u64,
    ) -> Result<()> {
        copy_by_chunks(self, offset, src, src_path, src_offset, len)
    }
    /// Flushes buffered state (qcow2 tables, for example).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// A second handle on the same bytes, for another thread writing
    /// ranges this one does not (a raw file: a duplicated descriptor).
    /// `None` (the default) where every write must go through one handle:
    /// qcow2 allocates clusters in write order, a window would need its
    /// parent's.
    fn split_writer(&self) -> Option<Box<dyn BlockDevice + Send>> {
        None
    }
}

/// Size of one streaming chunk: large enough for sequential I/O to run at
/// disk speed, small enough that memory does not grow with file size.
pub const CHUNK: usize = 1 << 20;

/// Checks that `len` bytes at `offset` lie inside a device of `size` bytes.
pub fn check_bounds(size: u64, offset: u64, len: usize) -> Result<()> {
    let len = len as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(IoError::OutOfBounds { offset, len, size }),
    }
}

/// In-memory device, for tests and for small metadata staging.
#[derive(Debug, Clone)]
pub struct MemDevice {
    pub data: Vec<u8>,
}

impl MemDevice {
    pub fn new(size: usize) -> Self {
        MemDevice {
            data: vec![0; size],
        }
    }
}

impl ReadAt for MemDevice {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(self.size(), offset, buf.len())?;
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }
}

impl BlockDevice for MemDevice {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        check_bounds(self.size(), offset, buf.len())?;
        let start = offset as usize;
        self.data[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }
}

/// A raw image file, created at its full size as one hole. Zero blocks are
/// never written, so they stay holes.
pub struct SparseFile {
    file: File,
    path: PathBuf,
    size: u64,
}

impl SparseFile {
    /// Wraps a freshly created (empty) file and sets its length.
    pub fn new(file: File, path: &Path, size: u64) -> Result<Self> {
        file.set_len(size).map_err(host_err(path))?;
        Ok(SparseFile {
            file,
            path: path.to_path_buf(),
            size,
        })
    }
    pub fn into_file(self) -> File {
        self.file
    }
}

impl ReadAt for SparseFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        check_bounds(self.size, offset, buf.len())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(host_err(&self.path))
    }
}

impl BlockDevice for SparseFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        check_bounds(self.size, offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(host_err(&self.path))
    }
    /// No fsync: like compilers and archivers, a build leaves durability to
    /// the system; the atomic rename already keeps partial output away from
    /// the target path.
    fn finish(&mut self) -> Result<()> {
        self.file.flush().map_err(host_err(&self.path))
    }
    /// `pwrite` through either descriptor lands in the same file; the
    /// writers keep to disjoint ranges.
    fn split_writer(&self) -> Option<Box<dyn BlockDevice + Send>> {
        let file = self.file.try_clone().ok()?;
        Some(Box::new(SparseFile {
            file,
            path: self.path.clone(),
            size: self.size,
        }))
    }
}

/// A window `[start, start + len)` of another device: a partition.
pub struct Slice<'a> {
    inner: &'a mut dyn BlockDevice,
    start: u64,
    len: u64,
}

impl<'a> Slice<'a> {
    pub fn new(inner: &'a mut dyn BlockDevice, start: u64, len: u64) -> Result<Self> {
        check_bounds(
            inner.size(),
            start,
            usize::try_from(len).unwrap_or(usize::MAX),
        )?;
        Ok(Slice { inner, start, len })
    }
}

impl ReadAt for Slice<'_> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(self.len, offset, buf.len())?;
        self.inner.read_at(self.start + offset, buf)
    }
}

impl BlockDevice for Slice<'_> {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        check_bounds(self.len, offset, buf.len())?;
        self.inner.write_at(self.start + offset, buf)
    }
    fn copy_from(
        &mut self,
        offset: u64,
        src: &mut File,
        src_path: &Path,
        src_offset: u64,
        len: u64,
    ) -> Result<()> {
        check_bounds(self.len, offset, usize::try_from(len).unwrap_or(usize::MAX))?;
        self.inner
            .copy_from(self.start + offset, src, src_path, src_offset, len)
    }
}

/// A read-only window `[start, start + len)` of another device: a
/// partition, as readers see it.
pub struct ReadSlice<'a> {
    inner: &'a dyn ReadAt,
    start: u64,
    len: u64,
}

impl<'a> ReadSlice<'a> {
    pub fn new(inner: &'a dyn ReadAt, start: u64, len: u64) -> Result<Self> {
        check_bounds(
            inner.size(),
            start,
            usize::try_from(len).unwrap_or(usize::MAX),
        )?;
        Ok(ReadSlice { inner, start, len })
    }
}

impl ReadAt for ReadSlice<'_> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_bounds(self.len, offset, buf.len())?;
        let at = self.start.checked_add(offset).ok_or(IoError::OutOfBounds {
            offset,
            len: buf.len() as u64,
            size: self.len,
        })?;
        self.inner.read_at(at, buf)
    }
    fn next_data(&self, offset: u64) -> Option<u64> {
        window_next_data(self.inner, self.start, self.len, offset)
    }
}

/// [`ReadAt::next_data`] of the window `[start, start + len)` of `inner`,
/// in window offsets.
pub fn window_next_data(inner: &dyn ReadAt, start: u64, len: u64, offset: u64) -> Option<u64> {
    let d = inner.next_data(start.checked_add(offset)?)?;
    d.checked_sub(start).filter(|d| *d < len)
}

/// Output written to a temp file beside the target and renamed into place
/// only on success: a failed build leaves nothing at the output path.
pub struct AtomicOutput {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
    _interrupt: cleanup::Registered,
}

/// Checks that `target` can be written as an output file (an image, a
/// report): its directory exists, and the path is absent or a regular file.
/// Returns the directory. Every output of a build is checked before any is
/// written, so a bad one fails the build before it starts.
pub fn check_output_path(target: &Path) -> Result<PathBuf> {
    let err = |path: &Path, kind, message: String| IoError::Host {
        path: path.to_path_buf(),
        source: std::io::Error::new(kind, message),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `-o dir/` names a directory, whatever is there.
    if target.as_os_str().as_encoded_bytes().ends_with(b"/") || target.is_dir() {
        return Err(err(
            target,
            std::io::ErrorKind::InvalidInput,
            "is a directory; name the file to write inside it (for example DIR/image.img)".into(),
        ));
    }
    if !dir.is_dir() {
        return Err(err(
            &dir,
            std::io::ErrorKind::NotFound,
            "the output directory does not exist".into(),
        ));
    }
    // The output is renamed into place, which would replace a device
    // node or a FIFO (`-o /dev/null` would delete the system's null
    // device); outputs are written only to regular files.
    if let Ok(md) = std::fs::metadata(target) {
        if !md.is_file() {
            return Err(err(
                target,
                std::io::ErrorKind::InvalidInput,
                "the output exists and is not a regular file; fstool writes images only to regular files".into(),
            ));
        }
    }
    Ok(dir)
}

/// Temp outputs are `.fstool-<pid>-<random>.tmp` beside the target.
pub const TEMP_BASE: &str = ".fstool-";

impl AtomicOutput {
    pub fn create(target: &Path) -> Result<Self> {
        let dir = check_output_path(target)?;
        cleanup::remove_stale(&dir, TEMP_BASE);
        let tmp = tempfile::Builder::new()
            .prefix(&cleanup::owned_prefix(TEMP_BASE))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(host_err(&dir))?;
        let _interrupt = cleanup::register(tmp.path());
        Ok(AtomicOutput {
            tmp,
            target: target.to_path_buf(),
            _interrupt,
        })
    }
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    /// The path the output will have: what errors name, since the temp
    /// file's name means nothing to the user.
    pub fn target(&self) -> &Path {
        &self.target
    }
    pub fn file(&self) -> Result<File> {
        self.tmp
            .as_file()
            .try_clone()
            .map_err(host_err(self.tmp.path()))
    }
    /// Renames into place. Permissions follow the usual 0644 of an output
    /// file rather than the 0600 of a temp file.
    pub fn commit(self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(self.tmp.path(), perms).map_err(host_err(&self.target))?;
        self.tmp
            .persist(&self.target)
            .map_err(|e| host_err(&self.target)(e.error))?;
        Ok(())
    }
}

/// SHA-256 of everything `r` yields, read in [`CHUNK`]s, and how many
/// bytes that was.
pub fn sha256_read(mut r: impl std::io::Read) -> std::io::Result<([u8; 32], u64)> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok((h.finalize().into(), total)),
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Feeds `n` zero bytes to a SHA-256 (holes of sparse files and images hash
/// as zeros without being read).
pub fn hash_zeros(h: &mut sha2::Sha256, mut n: u64) {
    use sha2::Digest;
    let zeros = [0u8; 65536];
    while n > 0 {
        let k = n.min(zeros.len() as u64) as usize;
        h.update(&zeros[..k]);
        n -= k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_zero_detects_any_nonzero_byte() {
        let mut b = vec![0u8; 4099];
        assert!(is_zero(&b));
        for i in [0, 7, 8, 4095, 4098] {
            b[i] = 1;
            assert!(!is_zero(&b), "byte {i}");
            b[i] = 0;
        }
    }

    #[test]
    fn slice_bounds_are_checked() {
        let mut mem = MemDevice::new(100);
        let mut s = Slice::new(&mut mem, 10, 20).unwrap();
        s.write_at(19, &[7]).unwrap();
        assert!(s.write_at(20, &[7]).is_err());
        assert_eq!(mem.data[29], 7);
    }
}
