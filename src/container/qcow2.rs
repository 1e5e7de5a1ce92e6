//! qcow2 version 3 output, following QEMU's `docs/interop/qcow2.txt`.
//!
//! The writer is a [`BlockDevice`] over a host file. Guest clusters get host
//! clusters in the order they are first written with non-zero data (the
//! writers are deterministic, so this order is too); data goes straight to
//! the file as it arrives, and clusters never written stay unallocated, so
//! zero regions cost nothing. [`BlockDevice::finish`] appends the L2 tables
//! (in guest order), the L1 table, the refcount table and refcount blocks,
//! then writes the header into cluster 0. Nothing else depends on timing or
//! memory addresses, so equal writes give equal files.
//!
//! With `compress`, `finish` first deflates every data cluster in place (in
//! host order, packed at 512-byte boundaries; see `compress_clusters`).
//! The bytes depend on the deflate implementation and level, both pinned.
//!
//! Host file layout:
//! ```text
//! cluster 0              header (104 bytes, then the end-of-extensions mark)
//! clusters 1..=D         data, in first-write order
//! then                   L2 tables, in L1 index order
//! then                   L1 table
//! then                   refcount table, then refcount blocks (16-bit)
//! ```

use crate::io::{host_err, is_zero, BlockDevice, IoError, ReadAt, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// "QFI\xfb".
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Length of the version 3 header without optional fields.
pub const HEADER_LENGTH: u32 = 104;
/// 16-bit refcounts (`refcount_order` 4), QEMU's default.
pub const REFCOUNT_ORDER: u32 = 4;
/// L1/L2 flag: the cluster's refcount is exactly one (may be written in
/// place). qemu-img check insists on it for every singly-referenced cluster.
pub const COPIED: u64 = 1 << 63;
/// L2 flag: the cluster is deflate-compressed (descriptor format).
pub const COMPRESSED: u64 = 1 << 62;
/// Deflate level for `compress = true`. Pinned with the exact miniz_oxide
/// version in Cargo.toml: both decide the compressed bytes.
pub const DEFLATE_LEVEL: u8 = 6;
/// Default cluster size, as `qemu-img create` uses.
pub const DEFAULT_CLUSTER_SIZE: u32 = 64 * 1024;

/// Errors setting up a qcow2 output.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("qcow2 cluster size {cluster_size} is invalid: it must be a power of two from 512 bytes to 2 MiB")]
    BadClusterSize { cluster_size: u64 },
    #[error(transparent)]
    Io(#[from] IoError),
}

/// qcow2 output options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qcow2Options {
    pub cluster_size: u64,
    pub compress: bool,
}

impl Default for Qcow2Options {
    fn default() -> Self {
        Qcow2Options {
            cluster_size: u64::from(DEFAULT_CLUSTER_SIZE),
            compress: false,
        }
    }
}

impl Qcow2Options {
    /// The cluster size must be a power of two from 512 bytes to 2 MiB.
    pub fn check(&self) -> std::result::Result<(), ContainerError> {
        let cs = self.cluster_size;
        if !cs.is_power_of_two() || !(512..=2 << 20).contains(&cs) {
            return Err(ContainerError::BadClusterSize { cluster_size: cs });
        }
        Ok(())
    }
}

/// The version 3 header (qcow2.txt "Header"); fields not listed are zero:
/// no backing file, no encryption, no snapshots, no feature bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 20: cluster_bits.
    pub cluster_bits: u32,
    /// 24: size, the virtual disk size in bytes.
    pub size: u64,
    /// 36: l1_size, number of L1 entries.
    pub l1_size: u32,
    /// 40: l1_table_offset.
    pub l1_table_offset: u64,
    /// 48: refcount_table_offset.
    pub refcount_table_offset: u64,
    /// 56: refcount_table_clusters.
    pub refcount_table_clusters: u32,
}

impl Header {
    /// Big-endian header bytes: magic at 0, version 3 at 4, the fields
    /// above, refcount_order at 96, header_length at 100.
    pub fn encode(&self) -> [u8; HEADER_LENGTH as usize] {
        let mut b = [0u8; HEADER_LENGTH as usize];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[20..24].copy_from_slice(&self.cluster_bits.to_be_bytes());
        b[24..32].copy_from_slice(&self.size.to_be_bytes());
        b[36..40].copy_from_slice(&self.l1_size.to_be_bytes());
        b[40..48].copy_from_slice(&self.l1_table_offset.to_be_bytes());
        b[48..56].copy_from_slice(&self.refcount_table_offset.to_be_bytes());
        b[56..60].copy_from_slice(&self.refcount_table_clusters.to_be_bytes());
        b[96..100].copy_from_slice(&REFCOUNT_ORDER.to_be_bytes());
        b[100..104].copy_from_slice(&HEADER_LENGTH.to_be_bytes());
        b
    }
}

/// A qcow2 image being written; see the module docs.
pub struct Qcow2Writer {
    file: File,
    path: PathBuf,
    size: u64,
    cluster_bits: u32,
    /// Per L1 index, the L2 table: host byte offset of each guest cluster,
    /// 0 when unallocated. Allocated lazily.
    l2: Vec<Option<Box<[u64]>>>,
    /// Next free host cluster index.
    next_cluster: u64,
    compress: bool,
    finished: bool,
}

fn other(path: &Path, msg: &str) -> IoError {
    host_err(path)(std::io::Error::other(msg.to_string()))
}

impl Qcow2Writer {
    /// Starts an image of `size` virtual bytes in `file` (emptied first).
    pub fn new(
        file: File,
        path: &Path,
        size: u64,
        opts: Qcow2Options,
    ) -> std::result::Result<Self, ContainerError> {
        opts.check()?;
        let cs = opts.cluster_size;
        let cluster_bits = cs.trailing_zeros();
        let l1_size = Self::l1_entries(size, cluster_bits);
        if u32::try_from(l1_size).is_err() || l1_size > 1 << 25 {
            return Err(IoError::OutOfBounds {
                offset: 0,
                len: size,
                size: 0,
            }
            .into());
        }
        file.set_len(0).map_err(host_err(path))?;
        let mut l2 = Vec::new();
        l2.resize_with(l1_size as usize, || None);
        Ok(Qcow2Writer {
            file,
            path: path.to_path_buf(),
            size,
            cluster_bits,
            l2,
            next_cluster: 1,
            compress: opts.compress,
            finished: false,
        })
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Guest clusters one L2 table maps.
    fn l2_entries(cluster_bits: u32) -> u64 {
        1 << (cluster_bits - 3)
    }

    fn l1_entries(size: u64, cluster_bits: u32) -> u64 {
        size.div_ceil(1 << cluster_bits)
            .div_ceil(Self::l2_entries(cluster_bits))
    }

    fn split(&self, guest_cluster: u64) -> (usize, usize) {
        let per = Self::l2_entries(self.cluster_bits);
        (
            (guest_cluster / per) as usize,
            (guest_cluster % per) as usize,
        )
    }

    /// Host offset of a guest cluster, if allocated.
    fn lookup(&self, guest_cluster: u64) -> Option<u64> {
        let (i, j) = self.split(guest_cluster);
        let off = *self.l2.get(i)?.as_ref()?.get(j)?;
        (off != 0).then_some(off)
    }

    fn allocate(&mut self, guest_cluster: u64) -> Result<u64> {
        let (i, j) = self.split(guest_cluster);
        let per = Self::l2_entries(self.cluster_bits) as usize;
        let host = self
            .next_cluster
            .checked_mul(self.cluster_size())
            .ok_or_else(|| other(&self.path, "qcow2 host offset overflows"))?;
        let table = self
            .l2
            .get_mut(i)
            .ok_or_else(|| other(&self.path, "guest cluster beyond L1"))?
            .get_or_insert_with(|| vec![0u64; per].into_boxed_slice());
        let slot = table
            .get_mut(j)
            .ok_or_else(|| other(&self.path, "guest cluster beyond L2"))?;
        *slot = host;
        self.next_cluster += 1;
        Ok(host)
    }

    fn pwrite(&self, buf: &[u8], at: u64) -> Result<()> {
        self.file
            .write_all_at(buf, at)
            .map_err(host_err(&self.path))
    }

    /// Host clusters the image occupies once finished (for tests and
    /// reports): only allocated data plus metadata.
    pub fn allocated_data_clusters(&self) -> u64 {
        self.next_cluster - 1
    }

    /// Compresses the data clusters in place, in host order: each is read,
    /// deflated, and written at a byte cursor that never passes the cluster
    /// being read (a compressed cluster takes less than a cluster; one that
    /// does not shrink is stored whole at the next cluster boundary). The L2
    /// tables then hold final entries. Returns each data host cluster's
    /// refcount: the number of compressed clusters touching it, or 1.
    fn compress_clusters(&mut self) -> Result<Vec<u16>> {
        let cs = self.cluster_size();
        let per = Self::l2_entries(self.cluster_bits);
        // Host cluster k holds guest cluster order[k - 1].
        let mut order = vec![(0usize, 0usize); self.allocated_data_clusters() as usize];
        for (i, table) in self.l2.iter().enumerate() {
            for (j, off) in table.iter().flat_map(|t| t.iter().enumerate()) {
                if *off != 0 {
                    if let Some(slot) = order.get_mut((off / cs - 1) as usize) {
                        *slot = (i, j);
                    }
                }
            }
        }
        let mut refcounts = vec![0u16; order.len() + 1];
        refcounts[0] = 1; // the header
                          // A byte offset; cluster 0 is the header. Compressed data must
                          // leave room for the descriptor's sector count.
        let mut cursor = cs;
        let sector_bits = self.cluster_bits - 8;
        let offset_bits = 62 - sector_bits;
        // Batches of clusters are read, deflated on every core (each
        // cluster alone, so the bytes do not depend on the split), then
        // written in order. Reading a whole batch before writing keeps the
        // cursor rule: writes stay below the first unread cluster.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let batch = 16 * workers;
        let mut bufs: Vec<Vec<u8>> = Vec::new();
        for (b, chunk) in order.chunks(batch).enumerate() {
            bufs.resize_with(chunk.len(), || vec![0u8; cs as usize]);
            for (n, buf) in bufs.iter_mut().enumerate().take(chunk.len()) {
                let host = ((b * batch + n) as u64 + 1) * cs;
                self.file
                    .read_exact_at(buf, host)
                    .map_err(host_err(&self.path))?;
            }
            let inputs = &bufs[..chunk.len()];
            let per_worker = inputs.len().div_ceil(workers).max(1);
            let packed: Vec<Vec<u8>> = std::thread::scope(|sc| {
                let handles: Vec<_> = inputs
                    .chunks(per_worker)
                    .map(|part| {
                        sc.spawn(move || {
                            part.iter()
                                .map(|c| miniz_oxide::deflate::compress_to_vec(c, DEFLATE_LEVEL))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            if packed.len() != chunk.len() {
                return Err(other(&self.path, "a compression thread failed"));
            }
            for ((&(i, j), packed), buf) in chunk.iter().zip(&packed).zip(inputs) {
                let sectors = (packed.len() as u64).div_ceil(512);
                let entry = if sectors * 512 < cs {
                    self.pwrite(packed, cursor)?;
                    let first = cursor / cs;
                    let last = (cursor + sectors * 512 - 1) / cs;
                    for c in first..=last {
                        if let Some(r) = refcounts.get_mut(c as usize) {
                            *r += 1;
                        }
                    }
                    let e = COMPRESSED | ((sectors - 1) << offset_bits) | cursor;
                    cursor += sectors * 512;
                    e
                } else {
                    cursor = cursor.div_ceil(cs) * cs;
                    self.pwrite(buf, cursor)?;
                    if let Some(r) = refcounts.get_mut((cursor / cs) as usize) {
                        *r = 1;
                    }
                    let e = cursor | COPIED;
                    cursor += cs;
                    e
                };
                if let Some(slot) = self
                    .l2
                    .get_mut(i)
                    .and_then(|t| t.as_mut())
                    .and_then(|t| t.get_mut(j))
                {
                    *slot = entry;
                }
            }
        }
        debug_assert!(per > 0);
        self.next_cluster = cursor.div_ceil(cs);
        refcounts.truncate(self.next_cluster as usize);
        Ok(refcounts)
    }

    /// Writes the L2 tables, L1 table, refcounts and header.
    fn write_metadata(&mut self) -> Result<()> {
        let data_refcounts = if self.compress {
            Some(self.compress_clusters()?)
        } else {
            None
        };
        let cs = self.cluster_size();
        let per = Self::l2_entries(self.cluster_bits) as usize;
        let mut l1 = vec![0u64; self.l2.len()];
        let mut cursor = self.next_cluster;
        let mut buf = vec![0u8; cs as usize];
        for (i, table) in self.l2.iter().enumerate() {
            let Some(table) = table else { continue };
            for (dst, off) in buf.chunks_exact_mut(8).zip(table.iter()) {
                let v = match (*off, &data_refcounts) {
                    (0, _) => 0,
                    // Already final entries.
                    (e, Some(_)) => e,
                    (e, None) => e | COPIED,
                };
                dst.copy_from_slice(&v.to_be_bytes());
            }
            debug_assert_eq!(table.len(), per);
            let at = cursor * cs;
            self.pwrite(&buf, at)?;
            if let Some(e) = l1.get_mut(i) {
                *e = at | COPIED;
            }
            cursor += 1;
        }

        let l1_offset = cursor * cs;
        let l1_bytes: Vec<u8> = l1.iter().flat_map(|e| e.to_be_bytes()).collect();
        let l1_clusters = (l1_bytes.len() as u64).div_ceil(cs).max(1);
        let mut l1_area = vec![0u8; (l1_clusters * cs) as usize];
        l1_area[..l1_bytes.len()].copy_from_slice(&l1_bytes);
        self.pwrite(&l1_area, l1_offset)?;
        cursor += l1_clusters;

        // The refcount structures count themselves: grow them until the
        // table and blocks cover every cluster including their own.
        let per_block = cs * 8 / (1 << REFCOUNT_ORDER);
        let (mut rt, mut rb) = (1u64, 1u64);
        loop {
            let total = cursor + rt + rb;
            let need_rb = total.div_ceil(per_block);
            let need_rt = (need_rb * 8).div_ceil(cs);
            if need_rb <= rb && need_rt <= rt {
                break;
            }
            rb = rb.max(need_rb);
            rt = rt.max(need_rt);
        }
        let total = cursor + rt + rb;
        let rt_offset = cursor * cs;
        let rb_first = cursor + rt;
        let mut table = vec![0u8; (rt * cs) as usize];
        for (k, dst) in table.chunks_exact_mut(8).take(rb as usize).enumerate() {
            dst.copy_from_slice(&((rb_first + k as u64) * cs).to_be_bytes());
        }
        self.pwrite(&table, rt_offset)?;
        for k in 0..rb {
            let first = k * per_block;
            let used = total.saturating_sub(first).min(per_block);
            buf.fill(0);
            for (n, dst) in buf.chunks_exact_mut(2).take(used as usize).enumerate() {
                let cluster = first + n as u64;
                let count = data_refcounts
                    .as_ref()
                    .and_then(|r| r.get(cluster as usize).copied())
                    .unwrap_or(1);
                dst.copy_from_slice(&count.to_be_bytes());
            }
            self.pwrite(&buf, (rb_first + k) * cs)?;
        }

        let header = Header {
            cluster_bits: self.cluster_bits,
            size: self.size,
            l1_size: l1.len() as u32,
            l1_table_offset: l1_offset,
            refcount_table_offset: rt_offset,
            refcount_table_clusters: rt as u32,
        };
        buf.fill(0);
        buf[..HEADER_LENGTH as usize].copy_from_slice(&header.encode());
        self.pwrite(&buf, 0)?;
        self.file
            .set_len(total * cs)
            .map_err(host_err(&self.path))?;
        self.file.sync_data().map_err(host_err(&self.path))
    }
}

impl ReadAt for Qcow2Writer {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        crate::io::check_bounds(self.size, offset, buf.len())?;
        let cs = self.cluster_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let within = pos & (cs - 1);
            let n = (cs - within).min((buf.len() - done) as u64) as usize;
            let chunk = &mut buf[done..done + n];
            match self.lookup(pos >> self.cluster_bits) {
                Some(host) => self
                    .file
                    .read_exact_at(chunk, host + within)
                    .map_err(host_err(&self.path))?,
                None => chunk.fill(0),
            }
            done += n;
        }
        Ok(())
    }
}

impl BlockDevice for Qcow2Writer {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<()> {
        if self.finished {
            return Err(other(&self.path, "write to a finished qcow2 image"));
        }
        crate::io::check_bounds(self.size, offset, buf.len())?;
        let cs = self.cluster_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let guest = pos >> self.cluster_bits;
            let within = pos & (cs - 1);
            let n = (cs - within).min((buf.len() - done) as u64) as usize;
            let chunk = &buf[done..done + n];
            match self.lookup(guest) {
                Some(host) => self.pwrite(chunk, host + within)?,
                // The guest reads zeros there already.
                None if is_zero(chunk) => {}
                None => {
                    let host = self.allocate(guest)?;
                    if n as u64 == cs {
                        self.pwrite(chunk, host)?;
                    } else {
                        let mut c = vec![0u8; cs as usize];
                        c[within as usize..within as usize + n].copy_from_slice(chunk);
                        self.pwrite(&c, host)?;
                    }
                }
            }
            done += n;
        }
        Ok(())
    }

    /// Appends the metadata and writes the header. Later calls do nothing.
    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.write_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(size: u64, cs: u64) -> (tempfile::NamedTempFile, Qcow2Writer) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = tmp.as_file().try_clone().unwrap();
        let opts = Qcow2Options {
            cluster_size: cs,
            compress: false,
        };
        let w = Qcow2Writer::new(f, tmp.path(), size, opts).unwrap();
        (tmp, w)
    }

    #[test]
    fn header_layout() {
        let h = Header {
            cluster_bits: 16,
            size: 1 << 30,
            l1_size: 2,
            l1_table_offset: 0x30000,
            refcount_table_offset: 0x40000,
            refcount_table_clusters: 1,
        };
        let b = h.encode();
        assert_eq!(&b[0..8], &[b'Q', b'F', b'I', 0xfb, 0, 0, 0, 3]);
        assert_eq!(&b[20..24], &[0, 0, 0, 16]);
        assert_eq!(&b[24..32], &[0, 0, 0, 0, 0x40, 0, 0, 0]);
        assert_eq!(&b[96..104], &[0, 0, 0, 4, 0, 0, 0, 104]);
    }

    #[test]
    fn reads_back_partial_and_unallocated() {
        let (_tmp, mut w) = writer(1 << 20, 4096);
        w.write_at(5000, b"hello").unwrap();
        w.write_at(4090, &[9u8; 20]).unwrap();
        w.write_at(100_000, &[0u8; 5000]).unwrap();
        assert_eq!(w.allocated_data_clusters(), 2);
        let mut b = vec![0xaau8; 30];
        w.read_at(4085, &mut b).unwrap();
        let mut want = vec![0u8; 30];
        want[5..25].fill(9);
        assert_eq!(b, want);
        let mut b = [1u8; 5];
        w.read_at(5000, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        w.read_at(200_000, &mut b).unwrap();
        assert_eq!(b, [0; 5]);
        // Zeros over allocated data must land.
        w.write_at(5000, &[0; 5]).unwrap();
        w.read_at(5000, &mut b).unwrap();
        assert_eq!(b, [0; 5]);
        assert!(w.write_at((1 << 20) - 2, &[1, 2, 3]).is_err());
    }

    #[test]
    fn options_are_checked() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = || tmp.as_file().try_clone().unwrap();
        let bad = Qcow2Options {
            cluster_size: 3000,
            compress: false,
        };
        assert!(matches!(
            Qcow2Writer::new(f(), tmp.path(), 1 << 20, bad),
            Err(ContainerError::BadClusterSize { .. })
        ));
    }
}
