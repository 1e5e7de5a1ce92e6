//! The output side of a build: the device for the container, the atomic
//! rename on success, and the image's SHA-256 (computed while the image is
//! written when it can be).

use crate::container::qcow2::{Qcow2Options, Qcow2Writer};
use crate::io::{AtomicOutput, BlockDevice, IoError, SparseFile};
use crate::spec::ImageFormat;
use std::path::{Path, PathBuf};

/// Phase timings on stderr when `FSTOOL_TIMING` is set (for benchmarks;
/// never part of the output).
pub(super) struct Timing {
    on: bool,
    last: std::cell::Cell<std::time::Instant>,
}

impl Timing {
    pub(super) fn new(on: bool) -> Self {
        Timing {
            on,
            last: std::cell::Cell::new(std::time::Instant::now()),
        }
    }
    /// A line of its own (no phase boundary).
    pub(super) fn note(&self, what: std::fmt::Arguments) {
        if self.on {
            eprintln!("timing:   {what}");
        }
    }

    pub(super) fn mark(&self, phase: &str) {
        if self.on {
            let now = std::time::Instant::now();
            eprintln!(
                "timing: {phase}: {:.3} s{}",
                (now - self.last.get()).as_secs_f64(),
                memory()
            );
            self.last.set(now);
        }
    }
}

/// The process's resident and peak resident memory (Linux), for timings.
pub(super) fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(peak)) => format!(" (RSS {} MiB, peak {} MiB)", rss / 1024, peak / 1024),
        _ => String::new(),
    }
}

/// Creates the output device; the caller writes, then calls [`finish`].
pub(super) fn open(
    out: &AtomicOutput,
    size: u64,
    format: ImageFormat,
    qcow2: &Qcow2Options,
) -> Result<Box<dyn BlockDevice>, super::BuildError> {
    Ok(match format {
        ImageFormat::Raw => Box::new(SparseFile::new(out.file()?, out.target(), size)?),
        ImageFormat::Qcow2 => Box::new(Qcow2Writer::new(out.file()?, out.target(), size, *qcow2)?),
    })
}

/// Flushes the device, hashes the file when asked (showing its progress
/// on `bar`), and renames it into place.
pub(super) fn finish(
    mut dev: Box<dyn BlockDevice>,
    out: &AtomicOutput,
    hash: bool,
    bar: &mut crate::progress::Bar,
) -> Result<Option<String>, IoError> {
    dev.finish()?;
    drop(dev);
    let sha256 = if hash {
        let size = std::fs::metadata(out.path())
            .map_err(crate::io::host_err(out.path()))?
            .len();
        let hasher = FollowingHasher::new(out.path(), size)?;
        hasher.advance(size);
        let h = std::thread::scope(|s| {
            let t = s.spawn(|| hasher.run());
            hasher.show_until_done(&t, bar);
            t.join()
        });
        Some(h.map_err(|_| {
            crate::io::host_err(out.path())(std::io::Error::other("the hashing thread panicked"))
        })??)
    } else {
        None
    };
    Ok(sha256)
}

/// SHA-256 of an image that is still being written, computed by following
/// the writer: bytes below the watermark are final and can be hashed.
pub(super) struct FollowingHasher {
    file: std::fs::File,
    path: PathBuf,
    size: u64,
    watermark: std::sync::atomic::AtomicU64,
    aborted: std::sync::atomic::AtomicBool,
    /// Bytes hashed so far (for progress).
    done: std::sync::atomic::AtomicU64,
    /// Microseconds spent waiting for the writer, before the first final
    /// byte and after it (`FSTOOL_TIMING`: where the hash loses time).
    waited_first: std::sync::atomic::AtomicU64,
    waited_later: std::sync::atomic::AtomicU64,
}

impl FollowingHasher {
    pub(super) fn new(path: &Path, size: u64) -> Result<Self, IoError> {
        Ok(FollowingHasher {
            file: std::fs::File::open(path).map_err(crate::io::host_err(path))?,
            path: path.to_path_buf(),
            size,
            watermark: std::sync::atomic::AtomicU64::new(0),
            aborted: std::sync::atomic::AtomicBool::new(false),
            done: std::sync::atomic::AtomicU64::new(0),
            waited_first: std::sync::atomic::AtomicU64::new(0),
            waited_later: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Shows the "hashing" phase on `bar` until the thread running
    /// [`FollowingHasher::run`] ends.
    pub(super) fn show_until_done<T>(
        &self,
        run: &std::thread::ScopedJoinHandle<'_, T>,
        bar: &mut crate::progress::Bar,
    ) {
        bar.bytes("hashing", self.size);
        while !run.is_finished() {
            bar.update(
                self.done.load(std::sync::atomic::Ordering::Relaxed),
                self.size,
            );
            // Short: the build ends when the hash does, not at the next
            // tick (the bar itself redraws at its own rate).
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Seconds the hasher waited for the writer: before the first final
    /// byte, and after it.
    pub(super) fn waited(&self) -> (f64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed) as f64 / 1e6;
        (s(&self.waited_first), s(&self.waited_later))
    }

    /// Everything below `offset` is final.
    pub(super) fn advance(&self, offset: u64) {
        self.watermark
            .fetch_max(offset.min(self.size), std::sync::atomic::Ordering::Release);
    }

    pub(super) fn abort(&self) {
        self.aborted
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Hashes up to the watermark until the whole image is hashed.
    pub(super) fn run(&self) -> Result<String, IoError> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::FileExt;
        use std::sync::atomic::Ordering;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; crate::io::CHUNK];
        let mut pos = 0u64;
        while pos < self.size {
            let w = self.watermark.load(Ordering::Acquire);
            // Wait for a whole chunk (or the end): following a writer of
            // small files piece by piece cost a SEEK_DATA and a read per
            // file, each taking the image's inode lock the writer needs.
            if w <= pos || (w < self.size && w - pos < crate::io::CHUNK as u64) {
                if self.aborted.load(Ordering::Acquire) {
                    return Err(crate::io::host_err(&self.path)(std::io::Error::other(
                        "build failed",
                    )));
                }
                let idle = std::time::Instant::now();
                std::thread::sleep(std::time::Duration::from_micros(200));
                let us = idle.elapsed().as_micros() as u64;
                match pos {
                    0 => self.waited_first.fetch_add(us, Ordering::Relaxed),
                    _ => self.waited_later.fetch_add(us, Ordering::Relaxed),
                };
                continue;
            }
            // Holes below the watermark are final zeros: hash them from
            // memory instead of reading them.
            // (At most 256 MiB at a time, so that progress moves across a
            // huge hole.)
            let data = crate::io::next_data(&self.file, pos)
                .unwrap_or(w)
                .min(w)
                .min(pos.saturating_add(256 << 20));
            if data > pos {
                crate::io::hash_zeros(&mut h, data - pos);
                pos = data;
                self.done.store(pos, Ordering::Relaxed);
                continue;
            }
            let k = (w - pos).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..k], pos)
                .map_err(crate::io::host_err(&self.path))?;
            h.update(&buf[..k]);
            pos += k as u64;
            self.done.store(pos, Ordering::Relaxed);
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Aborts the hasher when dropped during a panic.
pub(super) struct AbortOnUnwind<'a>(pub(super) &'a FollowingHasher);

impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

/// SHA-256 of a finished file. Holes (found with `SEEK_DATA`) are hashed as
/// zeros from memory instead of being read.
pub fn sha256_file(path: &Path) -> Result<String, IoError> {
    let size = std::fs::metadata(path)
        .map_err(crate::io::host_err(path))?
        .len();
    let hasher = FollowingHasher::new(path, size)?;
    hasher.advance(size);
    hasher.run()
}
