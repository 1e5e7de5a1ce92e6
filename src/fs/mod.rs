//! Filesystem formats, one directory per format, each behind [`Format`].
//!
//! A format parses its own spec keys into options ([`Format::options`]),
//! plans a volume purely from the resolved tree ([`VolumeOptions::plan`]),
//! and writes the plan through a [`BlockDevice`] ([`VolumePlan::write`]).
//! The build pipeline only speaks these traits: adding a format is a new
//! directory under `src/fs/` and one line in [`FORMATS`].

// Not yet behind `Format`; its private modules' `pub` items are narrowed
// when it is wired in.
#[allow(unreachable_pub)]
pub mod erofs;
pub mod ext;
pub mod fat;
pub mod ntfs;

use crate::io::{BlockDevice, ReadAt};
use crate::progress::Tick;
use crate::read::{ReadError, VolumeReader};
use crate::spec::{FsSpec, KeyPath};
use crate::tree::Tree;
use serde::Serialize;

/// Every format this fstool builds, in the order `type` names are matched.
pub static FORMATS: &[&dyn Format] = &[
    &ext::format::Ext,
    &fat::format::Fat,
    &erofs::format::Erofs,
    &ntfs::format::Ntfs,
];

/// The format that builds spec type `name`, in `formats`.
pub fn find<'a>(formats: &[&'a dyn Format], name: &str) -> Option<&'a dyn Format> {
    formats.iter().copied().find(|f| f.types().contains(&name))
}

/// Every spec type name of `formats`, for messages and the schema.
pub fn type_names(formats: &[&dyn Format]) -> Vec<&'static str> {
    formats
        .iter()
        .flat_map(|f| f.types().iter().copied())
        .collect()
}

/// A spec key whose value a format cannot use.
pub type KeyProblem = (KeyPath, String);

/// What a format's options may depend on besides its own keys.
#[derive(Debug, Clone)]
pub struct VolumeContext<'a> {
    /// The spec's seed; every default ID derives from it.
    pub seed: &'a str,
    /// 0 for a bare filesystem, the partition number inside a disk, so that
    /// two filesystems of one disk get different IDs.
    pub index: u64,
    /// `source_date_epoch`, for the format's own times (superblocks).
    pub epoch: i64,
    /// What tells this filesystem apart from others built with the same
    /// seed: its type and label, and inside a disk its partition's type and
    /// name. A bare ext2 and ext4, or a rootfs and a /home, get different
    /// IDs.
    pub identity: &'a str,
}

impl VolumeContext<'_> {
    /// The role string of one of the volume's IDs (`"ext-uuid"`), with the
    /// volume's identity mixed in.
    pub fn role(&self, id: &str) -> String {
        format!("{id}|{}", self.identity)
    }
}

/// How large a volume is to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// The smallest size that holds the tree (plus the spec's headroom).
    Auto,
    /// Exactly this many bytes (a pinned size, or a partition to fill).
    Exact(u64),
}

/// Where a volume sits in the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Byte offset of the volume in the image.
    pub offset: u64,
    /// The partition's first LBA (FAT's hidden sectors); 0 for a bare volume.
    pub start_lba: u64,
}

impl Placement {
    /// The partition's first LBA as FAT's and NTFS's 32-bit hidden-sectors
    /// field: a partition beyond 2 TiB cannot say where it starts, and
    /// tools ignore the field for such disks.
    pub fn hidden_sectors(&self) -> u32 {
        u32::try_from(self.start_lba).unwrap_or(u32::MAX)
    }
}

/// A format's failure, with the format's own error as the source.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct FsError(pub Box<dyn std::error::Error + Send + Sync>);

impl FsError {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        FsError(Box::new(e))
    }
}

/// One filesystem format.
pub trait Format: Sync {
    /// The format's name (`ext`, `fat`).
    fn name(&self) -> &'static str;
    /// The spec `type` values this format builds (`ext4`, `fat32`, ...).
    fn types(&self) -> &'static [&'static str];
    /// Parses this format's keys of `fs`, found at key path `at`. Keys that
    /// belong to another format are errors naming the key.
    fn options(
        &self,
        fs: &FsSpec,
        at: &KeyPath,
        cx: &VolumeContext,
    ) -> Result<Box<dyn VolumeOptions>, KeyProblem>;
    /// Recognises the format at the start of `dev`, as JSON for `info`:
    /// `fs_type`, `label`, `uuid` and `bytes`, then the format's own fields.
    fn probe(&self, dev: &dyn ReadAt) -> Option<serde_json::Value>;
    /// Opens the volume on `dev` for reading (`ls`, `cat`, `diff`, ...).
    /// `Incompatible` when `dev` does not hold this format.
    fn open<'a>(&self, dev: Box<dyn ReadAt + 'a>) -> Result<Box<dyn VolumeReader + 'a>, ReadError> {
        let _ = dev;
        Err(ReadError::incompatible("this format has no reader"))
    }
}

/// A format's parsed options for one volume.
pub trait VolumeOptions: Send + Sync + std::fmt::Debug {
    /// Adds what the format needs in every tree (ext's `/lost+found`).
    fn prepare(&self, _tree: &mut Tree) -> Result<(), FsError> {
        Ok(())
    }
    /// Decides every block, cluster and ID. Pure: no I/O.
    fn plan(
        &self,
        tree: &Tree,
        fit: Fit,
        placement: Placement,
    ) -> Result<Box<dyn VolumePlan>, FsError>;
}

/// A planned volume, ready to write.
pub trait VolumePlan: Send + Sync + std::fmt::Debug {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Moves an auto-sized volume to its final place, once the partitions
    /// are laid out. The geometry stays as planned.
    fn place(&mut self, placement: Placement);
    /// Type, label, ID and geometry, as in the plan and the report.
    fn describe(&self) -> VolumeDescription;
    /// Writes the volume onto `dev` (its own window of the output).
    fn write(
        &self,
        tree: &Tree,
        dev: &mut dyn BlockDevice,
        progress: &mut dyn FnMut(Tick),
    ) -> Result<VolumeStats, FsError>;
}

/// The planned facts of one volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeDescription {
    /// The spec type actually built (`fat` resolves to `fat12`/`16`/`32`).
    #[serde(rename = "type")]
    pub fs_type: &'static str,
    pub label: String,
    /// Filesystem UUID or volume ID, as tools print it.
    pub uuid: String,
    pub size: u64,
    pub geometry: serde_json::Value,
    /// What builds but may not work where the image goes (an ext block
    /// size over the page size). Printed on stderr and kept in the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What a writer counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct VolumeStats {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub other: u64,
    pub data_bytes: u64,
    /// Entries the format cannot store that were left out.
    pub skipped: Vec<serde_json::Value>,
    /// Entries stored under another name (FAT case conflicts).
    pub renamed: Vec<serde_json::Value>,
    /// Hard links stored as copies.
    pub hardlinks_copied: Vec<serde_json::Value>,
}

impl Serialize for dyn VolumePlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.describe().serialize(s)
    }
}

/// Rejects the first key in `set` that is set: it belongs to another
/// format. `why` says so, e.g. "is an ext option; FAT has no such setting".
pub fn reject_keys(at: &KeyPath, set: &[(&str, bool)], why: &str) -> Result<(), KeyProblem> {
    match set.iter().find(|(_, on)| *on) {
        Some((k, _)) => Err((at.key(k), why.to_string())),
        None => Ok(()),
    }
}
