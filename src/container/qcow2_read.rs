//! A read-only qcow2 reader (`docs/interop/qcow2.txt`, versions 2 and 3),
//! so `fstool info` and the tests can look inside qcow2 images. It reads
//! plain and deflate-compressed clusters of non-encrypted images without a
//! backing file; anything else
//! is refused with an error that says what. Hostile bytes give errors,
//! never panics or unbounded allocation.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::qcow2::MAGIC;
use crate::bytes::{be_u32, be_u64};
use crate::io::{host_err, IoError, ReadAt, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bits 9-55 of an L1 or L2 entry: the host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry bit 62: compressed cluster.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry bit 0 (version 3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// Incompatible feature bits we can honour: bit 0 "dirty" only means
/// refcounts may be stale, which a reader does not use.
const KNOWN_INCOMPATIBLE: u64 = 1;
/// QEMU's own bound on the L1 table (32 MiB).
const MAX_L1_BYTES: u64 = 32 << 20;

/// True when `head` starts with the qcow2 magic.
pub fn is_qcow2(head: &[u8]) -> bool {
    head.get(..4) == Some(&MAGIC[..])
}

/// Where a guest cluster's data lives.
enum Cluster {
    /// At this host offset, uncompressed.
    Plain(u64),
    /// Deflated; the L2 descriptor.
    Compressed(u64),
}

/// An open qcow2 image, read as its virtual disk.
pub struct Qcow2Reader {
    file: File,
    path: PathBuf,
    size: u64,
    cluster_bits: u32,
    l1: Vec<u64>,
}

fn bad(path: &Path, msg: String) -> IoError {
    host_err(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, msg))
}

impl Qcow2Reader {
    /// Opens `file`, checking the header and loading the L1 table.
    pub fn open(file: File, path: &Path) -> Result<Self> {
        let mut h = [0u8; 104];
        file.read_exact_at(&mut h[..72], 0)
            .map_err(host_err(path))?;
        if !is_qcow2(&h) {
            return Err(bad(path, "not a qcow2 image (bad magic)".into()));
        }
        let version = be_u32(&h, 4).unwrap_or(0);
        if version == 3 {
            file.read_exact_at(&mut h[72..], 72)
                .map_err(host_err(path))?;
        } else if version != 2 {
            return Err(bad(
                path,
                format!("qcow2 version {version} is not supported"),
            ));
        }
        let cluster_bits = be_u32(&h, 20).unwrap_or(0);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(
                path,
                format!("qcow2 cluster_bits {cluster_bits} is invalid"),
            ));
        }
        if be_u64(&h, 8).unwrap_or(0) != 0 {
            return Err(bad(
                path,
                "qcow2 images with a backing file are not supported".into(),
            ));
        }
        if be_u32(&h, 32).unwrap_or(0) != 0 {
            return Err(bad(path, "encrypted qcow2 images are not supported".into()));
        }
        let incompatible = be_u64(&h, 72).unwrap_or(0);
        if incompatible & !KNOWN_INCOMPATIBLE != 0 {
            return Err(bad(
                path,
                format!("qcow2 incompatible features {incompatible:#x} are not supported"),
            ));
        }
        let size = be_u64(&h, 24).unwrap_or(0);
        let l1_size = u64::from(be_u32(&h, 36).unwrap_or(0));
        let l1_offset = be_u64(&h, 40).unwrap_or(0);
        // cluster_bits is 9..=21 (checked above), so these shifts are exact.
        let per_l2 = 1u64 << cluster_bits.saturating_sub(3);
        let needed = size.div_ceil(1 << cluster_bits).div_ceil(per_l2);
        if l1_size < needed || l1_size.saturating_mul(8) > MAX_L1_BYTES {
            return Err(bad(
                path,
                format!("qcow2 L1 size {l1_size} does not fit the virtual size {size}"),
            ));
        }
        let mut raw = vec![0u8; usize::try_from(l1_size.saturating_mul(8)).unwrap_or(0)];
        file.read_exact_at(&mut raw, l1_offset)
            .map_err(host_err(path))?;
        let l1 = raw
            .chunks_exact(8)
            .map(|c| be_u64(c, 0).unwrap_or(0))
            .collect();
        Ok(Qcow2Reader {
            file,
            path: path.to_path_buf(),
            size,
            cluster_bits,
            l1,
        })
    }

    /// Where the data of guest cluster `gc` is, or `None` for zeros.
    fn locate(&self, gc: u64) -> Result<Option<Cluster>> {
        let per_l2 = 1u64 << self.cluster_bits.saturating_sub(3);
        let l1e = usize::try_from(gc.checked_div(per_l2).unwrap_or(0))
            .ok()
            .and_then(|i| self.l1.get(i))
            .copied()
            .unwrap_or(0);
        let l2_off = l1e & OFFSET_MASK;
        if l2_off == 0 {
            return Ok(None);
        }
        let mut e = [0u8; 8];
        let at = l2_off
            .checked_add(gc.checked_rem(per_l2).unwrap_or(0).saturating_mul(8))
            .ok_or_else(|| bad(&self.path, "qcow2 L2 offset overflows".into()))?;
        self.file
            .read_exact_at(&mut e, at)
            .map_err(host_err(&self.path))?;
        let l2e = u64::from_be_bytes(e);
        if l2e & COMPRESSED != 0 {
            return Ok(Some(Cluster::Compressed(l2e)));
        }
        let off = l2e & OFFSET_MASK;
        if l2e & ZERO != 0 || off == 0 {
            return Ok(None);
        }
        Ok(Some(Cluster::Plain(off)))
    }

    /// Inflates a compressed cluster (descriptor `d`, qcow2.txt
    /// "Compressed Clusters Descriptor"): raw deflate, at most one cluster.
    fn inflate(&self, d: u64) -> Result<Vec<u8>> {
        let cs = 1usize << self.cluster_bits;
        let offset_bits = 62u32.saturating_sub(self.cluster_bits.saturating_sub(8));
        let offset = d & ((1u64 << offset_bits).saturating_sub(1));
        let extra = (d & !(COMPRESSED | (1 << 63))) >> offset_bits;
        // The data runs from `offset` to the end of the `extra`-th sector
        // after the one holding `offset`.
        let len = extra
            .saturating_add(1)
            .saturating_mul(512)
            .saturating_sub(offset & 511);
        let len = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(cs.saturating_mul(2));
        let file_len = self.file.metadata().map_err(host_err(&self.path))?.len();
        let avail = file_len.saturating_sub(offset);
        let mut packed = vec![0u8; len.min(usize::try_from(avail).unwrap_or(len))];
        self.file
            .read_exact_at(&mut packed, offset)
            .map_err(host_err(&self.path))?;
        let mut out = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, cs)
            .or_else(|e| {
                // Trailing sector padding after the stream is allowed.
                if e.output.len() == cs {
                    Ok(e.output)
                } else {
                    Err(e)
                }
            })
            .map_err(|_| {
                bad(
                    &self.path,
                    format!("qcow2 compressed cluster at {offset} is corrupt"),
                )
            })?;
        if out.len() < cs {
            return Err(bad(
                &self.path,
                format!("qcow2 compressed cluster at {offset} is short"),
            ));
        }
        out.truncate(cs);
        Ok(out)
    }
}

impl ReadAt for Qcow2Reader {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        crate::io::check_bounds(self.size, offset, buf.len())?;
        let cs = 1u64 << self.cluster_bits;
        let short = || bad(&self.path, "qcow2 compressed cluster is short".into());
        let mut done = 0usize;
        while done < buf.len() {
            // In bounds: check_bounds proved offset + buf.len() <= size.
            let pos = offset.saturating_add(done as u64);
            let within = pos & cs.saturating_sub(1);
            let n = usize::try_from(
                cs.saturating_sub(within)
                    .min(buf.len().saturating_sub(done) as u64),
            )
            .unwrap_or(0);
            let end = done.saturating_add(n);
            let chunk = buf.get_mut(done..end).ok_or_else(short)?;
            match self.locate(pos >> self.cluster_bits)? {
                Some(Cluster::Plain(host)) => self
                    .file
                    .read_exact_at(chunk, host.saturating_add(within))
                    .map_err(host_err(&self.path))?,
                Some(Cluster::Compressed(d)) => {
                    let data = self.inflate(d)?;
                    let w = usize::try_from(within).unwrap_or(usize::MAX);
                    let src = data.get(w..w.saturating_add(n)).ok_or_else(short)?;
                    chunk.copy_from_slice(src);
                }
                None => chunk.fill(0),
            }
            done = end;
        }
        Ok(())
    }
}

#[cfg(test)]
// Tests index buffers they built themselves.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::super::qcow2::{Qcow2Options, Qcow2Writer};
    use super::*;
    use crate::io::BlockDevice;

    #[test]
    fn reads_what_the_writer_wrote() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = tmp.as_file().try_clone().unwrap();
        let opts = Qcow2Options {
            cluster_size: 512,
            compress: false,
        };
        let size = 300_000;
        let mut w = Qcow2Writer::new(f, tmp.path(), size, opts).unwrap();
        w.write_at(1000, &[5u8; 3000]).unwrap();
        w.write_at(size - 10, &[6u8; 10]).unwrap();
        w.finish().unwrap();
        let r = Qcow2Reader::open(tmp.reopen().unwrap(), tmp.path()).unwrap();
        assert_eq!(r.size(), size);
        let mut b = vec![1u8; 5000];
        r.read_at(0, &mut b).unwrap();
        assert!(b[..1000].iter().all(|x| *x == 0));
        assert!(b[1000..4000].iter().all(|x| *x == 5));
        assert!(b[4000..].iter().all(|x| *x == 0));
        let mut t = [0u8; 10];
        r.read_at(size - 10, &mut t).unwrap();
        assert_eq!(t, [6; 10]);
    }

    #[test]
    fn reads_compressed_images() {
        for cs in [4096u64, 65536] {
            let tmp = tempfile::NamedTempFile::new().unwrap();
            let f = tmp.as_file().try_clone().unwrap();
            let opts = Qcow2Options {
                cluster_size: cs,
                compress: true,
            };
            let size = 1 << 20;
            let mut w = Qcow2Writer::new(f, tmp.path(), size, opts).unwrap();
            let text: Vec<u8> = (0..200_000u32)
                .map(|i| (i % 251) as u8 ^ (i / 7000) as u8)
                .collect();
            w.write_at(3000, &text).unwrap();
            // Incompressible bytes are stored whole.
            let mut x = 77u64;
            let noise: Vec<u8> = (0..70_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            w.write_at(500_000, &noise).unwrap();
            w.finish().unwrap();
            let r = Qcow2Reader::open(tmp.reopen().unwrap(), tmp.path()).unwrap();
            let mut b = vec![0u8; text.len()];
            r.read_at(3000, &mut b).unwrap();
            assert!(b == text, "cluster size {cs}");
            let mut b = vec![0u8; noise.len()];
            r.read_at(500_000, &mut b).unwrap();
            assert!(b == noise, "cluster size {cs}");
        }
    }

    #[test]
    fn hostile_images_give_errors() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = tmp.as_file().try_clone().unwrap();
        let mut w = Qcow2Writer::new(f, tmp.path(), 1 << 20, Qcow2Options::default()).unwrap();
        w.write_at(4096, &[7u8; 70_000]).unwrap();
        w.finish().unwrap();
        let good = std::fs::read(tmp.path()).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..300 {
            let mut img = good.clone();
            for _ in 0..1 + round % 8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly the header and tables, sometimes anywhere.
                let span = if round % 3 == 0 { img.len() } else { 128 };
                let i = (x as usize) % span;
                img[i] ^= (x >> 32) as u8 | 1;
            }
            let t = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(t.path(), &img).unwrap();
            if let Ok(r) = Qcow2Reader::open(t.reopen().unwrap(), t.path()) {
                let size = r.size().min(1 << 22);
                let mut b = vec![0u8; 8192];
                let mut off = 0;
                while off + 8192 <= size {
                    let _ = r.read_at(off, &mut b);
                    off += 65536;
                }
            }
        }
    }
}
