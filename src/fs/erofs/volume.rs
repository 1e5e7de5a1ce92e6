//! EROFS behind the reader layer ([`VolumeReader`]): `ls`, `cat`,
//! `extract`, `diff` and `verify` read EROFS images through this adapter
//! over the bounds-checked [`Reader`]. Node ids are EROFS nids.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::dir::FileType;
use super::inode::decode_rdev;
use super::read::{self, Image, Reader};
use crate::io::{IoError, ReadAt};
use crate::read::{CorruptKind, DirEntry, Kind, Metadata, NodeId, ReadError, Timestamp};

/// A [`ReadAt`] device as the EROFS reader's [`Image`].
struct Device<D>(D);

impl<D: ReadAt> Image for Device<D> {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read_at(offset, buf)
    }
}

/// An open EROFS volume.
pub struct ErofsVolume<D: ReadAt> {
    r: Reader<Device<D>>,
}

fn lift(e: read::ReadError) -> ReadError {
    match e {
        read::ReadError::Io(e) => ReadError::Io(e),
        read::ReadError::Incompatible(what) => ReadError::incompatible(what),
        read::ReadError::Corrupt { what, offset } => {
            match what.strip_suffix(" checksum mismatch") {
                Some(what) => CorruptKind::Checksum { what, at: offset }.into(),
                None => CorruptKind::Entry { what, at: offset }.into(),
            }
        }
    }
}

fn kind(t: FileType, at: u64) -> Result<Kind, ReadError> {
    Ok(match t {
        FileType::Regular => Kind::File,
        FileType::Dir => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        FileType::CharDev => Kind::CharDev,
        FileType::BlockDev => Kind::BlockDev,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::Unknown => {
            return Err(CorruptKind::Entry {
                what: "file type",
                at,
            }
            .into())
        }
    })
}

impl<D: ReadAt> ErofsVolume<D> {
    /// Checks the superblock (magic, block size, checksum, features).
    pub fn open(dev: D) -> Result<Self, ReadError> {
        Ok(ErofsVolume {
            r: Reader::open(Box::new(Device(dev))).map_err(lift)?,
        })
    }

    fn node(&self, id: NodeId) -> Result<read::Node, ReadError> {
        self.r.node(id.0).map_err(lift)
    }
}

impl<D: ReadAt> crate::read::VolumeReader for ErofsVolume<D> {
    fn format(&self) -> &'static str {
        "erofs"
    }

    fn root(&self) -> NodeId {
        NodeId(self.r.root())
    }

    fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>, ReadError> {
        let n = self.node(dir)?;
        self.r
            .read_dir(&n)
            .map_err(lift)?
            .into_iter()
            .map(|(name, nid, t)| {
                Ok(DirEntry {
                    name,
                    node: NodeId(nid),
                    kind: kind(t, dir.0)?,
                })
            })
            .collect()
    }

    fn metadata(&self, node: NodeId) -> Result<Metadata, ReadError> {
        let n = self.node(node)?;
        let k = kind(n.file_type(), node.0)?;
        let i = &n.inode;
        // EROFS keeps one time; the kernel shows it as atime, mtime and
        // ctime alike.
        let t = Timestamp {
            secs: i.mtime,
            nanos: i.mtime_nsec,
        };
        let target = match k {
            Kind::Symlink => Some(self.r.read_link(&n).map_err(lift)?),
            _ => None,
        };
        Ok(Metadata {
            kind: k,
            mode: i.mode & 0o7777,
            uid: i.uid,
            gid: i.gid,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: None,
            xattrs: self.r.xattrs(&n).map_err(lift)?,
            nlink: i.nlink,
            rdev: match k {
                Kind::CharDev | Kind::BlockDev => decode_rdev(i.i_u),
                _ => (0, 0),
            },
            target,
            size: i.size,
        })
    }

    fn read_at(&self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
        let n = self.node(node)?;
        if n.file_type() != FileType::Regular {
            return Err(ReadError::incompatible("reading a node that is not a file"));
        }
        self.r.read_at(&n, offset, buf).map_err(lift)
    }
}
