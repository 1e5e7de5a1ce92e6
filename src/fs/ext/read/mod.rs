//! The ext2/3/4 volume reader behind [`VolumeReader`], one module per
//! on-disk concept: [`superblock`], [`group`] descriptors, [`inode`]s,
//! [`extent`] trees, [`blockmap`]s, [`dir`]ectory blocks and [`xattr`]s.
//! Follows the kernel's "ext4 Data Structures and Algorithms".
//!
//! Nodes are inode numbers. Hostile images give `Corrupt`, never a panic
//! or an unbounded loop: every block number is checked against the
//! volume, trees are depth-limited and cycle-checked, and sizes that
//! drive allocations are capped by the volume's size.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod blockmap;
pub mod dir;
pub mod extent;
pub mod group;
pub mod inode;
pub mod superblock;
pub mod xattr;

use std::cell::RefCell;

use crate::io::ReadAt;
use crate::read::{CorruptKind, DirEntry, Kind, Metadata, NodeId, ReadError, VolumeReader};
use inode::Inode;
use superblock::{incompat, Superblock};

type Result<T> = std::result::Result<T, ReadError>;

/// The root directory's inode number.
const ROOT_INO: u32 = 2;

/// A mapped run of a file: `len` blocks from `logical`, at `physical`
/// (`None`: an uninitialized extent, which reads as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub logical: u64,
    pub physical: Option<u64>,
    pub len: u64,
}

/// An ext2/3/4 volume opened for reading.
pub struct ExtVolume<D> {
    dev: D,
    sb: Superblock,
    /// Inode table block of each group.
    tables: Vec<u64>,
    /// The runs of the last file read: (inode, runs), so that reading a
    /// file in pieces maps it once.
    runs: RefCell<Option<(u32, Vec<Run>)>>,
}

impl<D: ReadAt> ExtVolume<D> {
    /// Opens the ext volume on `dev`.
    pub fn open(dev: D) -> Result<Self> {
        let mut b = vec![0u8; superblock::SIZE];
        if dev.size() < superblock::OFFSET.saturating_add(superblock::SIZE as u64) {
            return Err(ReadError::incompatible(
                "not an ext2/3/4 volume (too small)",
            ));
        }
        dev.read_at(superblock::OFFSET, &mut b)?;
        let sb = Superblock::decode(&b, dev.size())?;
        let tables = group::inode_tables(&dev, &sb)?;
        Ok(ExtVolume {
            dev,
            sb,
            tables,
            runs: RefCell::new(None),
        })
    }

    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    fn block_size(&self) -> u64 {
        u64::from(self.sb.block_size)
    }

    /// Reads block `n`, which must lie on the volume.
    fn read_block(&self, n: u64) -> Result<Vec<u8>> {
        if n >= self.sb.blocks_count {
            return Err(CorruptKind::OutOfRange {
                what: "block",
                value: n,
                limit: self.sb.blocks_count,
            }
            .into());
        }
        let mut b = vec![0u8; usize::try_from(self.block_size()).unwrap_or(0)];
        self.dev
            .read_at(n.saturating_mul(self.block_size()), &mut b)?;
        Ok(b)
    }

    /// Reads and decodes inode `ino` (1-based).
    fn inode(&self, ino: u64) -> Result<Inode> {
        let bad = || ReadError::from(CorruptKind::BadNode { node: ino });
        if ino == 0 || ino > u64::from(self.sb.inodes_count) {
            return Err(bad());
        }
        let idx = ino.saturating_sub(1);
        let ipg = u64::from(self.sb.inodes_per_group);
        let group = usize::try_from(idx.checked_div(ipg).ok_or_else(bad)?).map_err(|_| bad())?;
        let within = idx.checked_rem(ipg).ok_or_else(bad)?;
        let table = *self.tables.get(group).ok_or_else(bad)?;
        let isz = u64::from(self.sb.inode_size);
        let at = table
            .saturating_mul(self.block_size())
            .saturating_add(within.saturating_mul(isz));
        let mut raw = vec![0u8; usize::from(self.sb.inode_size)];
        self.dev.read_at(at, &mut raw)?;
        Inode::decode(&raw).ok_or_else(bad)
    }

    /// The runs mapping an inode's content, sorted by logical block.
    fn runs_of(&self, ino: &Inode) -> Result<Vec<Run>> {
        let bs = self.block_size();
        let read = |n: u64| self.read_block(n);
        if ino.has_flag(inode::FL_INLINE_DATA) {
            return Err(ReadError::incompatible("inline data"));
        }
        // Logical blocks needed to cover the size: more than the volume
        // holds is only possible for sparse files, which map fewer.
        let file_blocks = ino.size.div_ceil(bs);
        let mut runs = if ino.has_flag(inode::FL_EXTENTS) {
            extent::runs(&ino.block, self.sb.blocks_count, &read)?
        } else {
            blockmap::runs(
                &ino.block,
                file_blocks,
                self.sb.block_size,
                self.sb.blocks_count,
                &read,
            )?
        };
        runs.sort_by_key(|r| r.logical);
        Ok(runs)
    }

    /// Reads `buf.len()` bytes at `offset` of a file mapped by `runs`,
    /// holes as zeros (the caller bounds the range by the size).
    fn read_mapped(&self, runs: &[Run], offset: u64, buf: &mut [u8]) -> Result<()> {
        let bs = self.block_size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset.saturating_add(done as u64);
            let lblk = pos.checked_div(bs).unwrap_or(0);
            let within = pos.checked_rem(bs).unwrap_or(0);
            // The last run starting at or before lblk.
            let i = runs.partition_point(|r| r.logical <= lblk);
            let hit = i
                .checked_sub(1)
                .and_then(|j| runs.get(j))
                .filter(|r| lblk < r.logical.saturating_add(r.len));
            let left = buf.len().saturating_sub(done) as u64;
            let (n, phys) = match hit {
                Some(r) => {
                    let into = lblk.saturating_sub(r.logical);
                    let span = r
                        .len
                        .saturating_sub(into)
                        .saturating_mul(bs)
                        .saturating_sub(within);
                    (
                        span.min(left),
                        r.physical.map(|p| {
                            p.saturating_add(into)
                                .saturating_mul(bs)
                                .saturating_add(within)
                        }),
                    )
                }
                None => {
                    // A hole up to the next run (or the end).
                    let next = runs.get(i).map_or(u64::MAX, |r| r.logical);
                    let span = next
                        .saturating_sub(lblk)
                        .saturating_mul(bs)
                        .saturating_sub(within);
                    (span.min(left), None)
                }
            };
            let n = usize::try_from(n.max(1)).unwrap_or(1);
            let end = done.saturating_add(n);
            let dst = buf.get_mut(done..end).ok_or_else(|| {
                ReadError::from(CorruptKind::Short {
                    what: "file mapping",
                    want: left,
                    got: 0,
                })
            })?;
            match phys {
                Some(p) => self.dev.read_at(p, dst)?,
                None => dst.fill(0),
            }
            done = end;
        }
        Ok(())
    }

    /// The whole content of a directory or slow symlink, capped by the
    /// volume size.
    fn content(&self, ino: &Inode, what: &'static str) -> Result<Vec<u8>> {
        let limit = self.sb.blocks_count.saturating_mul(self.block_size());
        if ino.size > limit {
            return Err(CorruptKind::TooLarge {
                what,
                value: ino.size,
                limit,
            }
            .into());
        }
        let runs = self.runs_of(ino)?;
        let mut buf = vec![0u8; usize::try_from(ino.size).unwrap_or(0)];
        self.read_mapped(&runs, 0, &mut buf)?;
        Ok(buf)
    }

    fn xattrs(&self, ino: &Inode) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        xattr::in_inode(&ino.xattr_area, &mut out)?;
        if ino.file_acl != 0 {
            let b = self.read_block(ino.file_acl)?;
            xattr::block(&b, ino.file_acl.saturating_mul(self.block_size()), &mut out)?;
        }
        out.sort();
        Ok(out)
    }

    fn node_ino(node: NodeId) -> u32 {
        u32::try_from(node.0).unwrap_or(0)
    }
}

impl<D: ReadAt> VolumeReader for ExtVolume<D> {
    fn format(&self) -> &'static str {
        self.sb.flavour()
    }

    fn root(&self) -> NodeId {
        NodeId(u64::from(ROOT_INO))
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>> {
        let ino = self.inode(dir.0)?;
        if ino.kind() != Some(Kind::Dir) {
            return Err(ReadError::NotADirectory {
                path: format!("inode {}", dir.0),
            });
        }
        let bytes = self.content(&ino, "directory")?;
        let filetype = self.sb.has_incompat(incompat::FILETYPE);
        let mut recs = Vec::new();
        let bs = usize::try_from(self.block_size()).unwrap_or(usize::MAX);
        for (i, block) in bytes.chunks(bs).enumerate() {
            dir::parse_block(
                block,
                (i as u64).saturating_mul(bs as u64),
                filetype,
                &mut recs,
            )?;
        }
        let mut out = Vec::with_capacity(recs.len());
        for r in recs {
            let node = NodeId(u64::from(r.inode));
            let kind = match r.kind {
                Some(k) => k,
                None => self
                    .inode(node.0)?
                    .kind()
                    .ok_or(CorruptKind::BadNode { node: node.0 })?,
            };
            out.push(DirEntry {
                name: r.name,
                node,
                kind,
            });
        }
        Ok(out)
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata> {
        let ino = self.inode(node.0)?;
        let kind = ino.kind().ok_or(CorruptKind::BadNode { node: node.0 })?;
        let target = if kind == Kind::Symlink {
            Some(if ino.is_fast_symlink(self.sb.block_size) {
                let n = usize::try_from(ino.size).unwrap_or(0);
                ino.block.get(..n).unwrap_or_default().to_vec()
            } else {
                self.content(&ino, "symlink")?
            })
        } else {
            None
        };
        let rdev = if matches!(kind, Kind::CharDev | Kind::BlockDev) {
            ino.rdev()
        } else {
            (0, 0)
        };
        Ok(Metadata {
            kind,
            mode: ino.mode & 0o7777,
            uid: ino.uid,
            gid: ino.gid,
            atime: ino.atime,
            mtime: ino.mtime,
            ctime: ino.ctime,
            crtime: ino.crtime,
            xattrs: self.xattrs(&ino)?,
            nlink: u32::from(ino.links),
            rdev,
            target,
            size: match kind {
                Kind::File | Kind::Symlink | Kind::Dir => ino.size,
                _ => 0,
            },
        })
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let ino_no = Self::node_ino(node);
        let ino = self.inode(node.0)?;
        if ino.kind() != Some(Kind::File) {
            return Err(ReadError::incompatible(format!(
                "inode {} is not a regular file",
                node.0
            )));
        }
        if offset >= ino.size || buf.is_empty() {
            return Ok(0);
        }
        let len = usize::try_from((buf.len() as u64).min(ino.size.saturating_sub(offset)))
            .unwrap_or(buf.len());
        let mut cache = self.runs.borrow_mut();
        let runs = match cache.as_ref() {
            Some((i, r)) if *i == ino_no => r,
            _ => &cache.insert((ino_no, self.runs_of(&ino)?)).1,
        };
        let dst = buf.get_mut(..len).unwrap_or_default();
        self.read_mapped(runs, offset, dst)?;
        Ok(len)
    }
}
