//! Opening one filesystem of an image for reading: `IMAGE` (a bare
//! filesystem, raw or qcow2) or `IMAGE:N` (partition N of a GPT or MBR
//! disk), behind [`VolumeReader`].

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::path::{Path, PathBuf};

use crate::io::{check_bounds, IoError, ReadAt};
use crate::part::PartError;
use crate::read::{ReadError, VolumeReader};

/// Errors of opening and reading images from the command line.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{image}: {source}")]
    Read {
        image: String,
        #[source]
        source: ReadError,
    },
    #[error("{image}: {source}")]
    Partition {
        image: String,
        #[source]
        source: PartError,
    },
    #[error(
        "{image}: no partition table, so no partition {index}; name the image without :{index}"
    )]
    NoTable { image: String, index: usize },
    #[error("{image}: no partition {index} (the table has {}: {})", .have.len(), fmt_list(.have))]
    NoPartition {
        image: String,
        index: usize,
        have: Vec<usize>,
    },
    #[error("{image}: no ext2/3/4 or FAT filesystem found{hint}")]
    Unknown { image: String, hint: String },
    #[error("{path}: {what}")]
    Refused { path: String, what: String },
    #[error("{path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn fmt_list(v: &[usize]) -> String {
    v.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A window of an owned device: a partition.
pub struct Window {
    inner: Box<dyn ReadAt>,
    start: u64,
    len: u64,
}

impl ReadAt for Window {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::io::Result<()> {
        check_bounds(self.len, offset, buf.len())?;
        self.inner.read_at(self.start.saturating_add(offset), buf)
    }
    fn next_data(&self, offset: u64) -> Option<u64> {
        crate::io::window_next_data(self.inner.as_ref(), self.start, self.len, offset)
    }
}

/// `IMAGE[:N]` split: a trailing `:N` names partition N, unless a file
/// with the whole name exists.
pub fn parse_target(arg: &str) -> (PathBuf, Option<usize>) {
    if let Some((img, n)) = arg.rsplit_once(':') {
        if let Ok(n) = n.parse::<usize>() {
            if !Path::new(arg).exists() {
                return (PathBuf::from(img), Some(n));
            }
        }
    }
    (PathBuf::from(arg), None)
}

/// Opens the filesystem `arg` (`IMAGE` or `IMAGE:N`) names.
pub fn open(arg: &str) -> Result<Box<dyn VolumeReader>, InspectError> {
    let (path, part) = parse_target(arg);
    let image = path.display().to_string();
    let (dev, _) = super::open(&path)?;
    let size = dev.size();
    let window = match part {
        None => Window {
            inner: dev,
            start: 0,
            len: size,
        },
        Some(index) => {
            let table = crate::part::probe(dev.as_ref())
                .map_err(|source| InspectError::Partition {
                    image: image.clone(),
                    source,
                })?
                .ok_or_else(|| InspectError::NoTable {
                    image: image.clone(),
                    index,
                })?;
            let p = table
                .partitions
                .iter()
                .find(|p| p.index == index)
                .ok_or_else(|| InspectError::NoPartition {
                    image: image.clone(),
                    index,
                    have: table.partitions.iter().map(|p| p.index).collect(),
                })?;
            check_bounds(
                size,
                p.offset_bytes,
                usize::try_from(p.size_bytes).unwrap_or(usize::MAX),
            )?;
            Window {
                inner: dev,
                start: p.offset_bytes,
                len: p.size_bytes,
            }
        }
    };
    open_volume(window).map_err(|e| match e {
        OpenError::Unknown => InspectError::Unknown {
            hint: if part.is_none() {
                " (for a partition of a disk image, add :N)".into()
            } else {
                String::new()
            },
            image,
        },
        OpenError::Read(source) => InspectError::Read { image, source },
    })
}

enum OpenError {
    Unknown,
    Read(ReadError),
}

fn open_volume(dev: Window) -> Result<Box<dyn VolumeReader>, OpenError> {
    match open_fs(dev) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(OpenError::Unknown),
        Err(e) => Err(OpenError::Read(e)),
    }
}

/// Opens the filesystem on `dev` with the first registered format that
/// recognises it; `Ok(None)` when none does.
pub fn open_fs<'a, D: ReadAt + 'a>(
    dev: D,
) -> Result<Option<Box<dyn VolumeReader + 'a>>, ReadError> {
    match crate::fs::FORMATS.iter().find(|f| f.probe(&dev).is_some()) {
        Some(f) => Ok(Some(f.open(Box::new(dev))?)),
        None => Ok(None),
    }
}
