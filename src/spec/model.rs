//! The manifest model, version 1. TOML and JSON are two syntaxes of this one
//! schema. Unknown keys are errors (`deny_unknown_fields` everywhere).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Schema version; must be 1.
    pub version: u32,
    /// Every identifier (UUIDs, hash seeds, GUIDs, serials) derives from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Seconds since the epoch; else `$SOURCE_DATE_EPOCH`; else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
    #[serde(default)]
    pub time_policy: TimePolicy,
    /// What a time outside the format's range becomes.
    #[serde(default, skip_serializing_if = "TimeRange::is_error")]
    pub time_range: TimeRange,
    /// A bare filesystem image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FsSpec>,
    /// A whole disk (partition table + partitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimePolicy {
    /// Every time is the epoch.
    #[default]
    Fixed,
    /// Source times later than the epoch are set to the epoch.
    Clamp,
    /// Source times are kept.
    Preserve,
}

/// A time the filesystem cannot store: an error (the default) or clamped
/// to the nearest end of the format's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeRange {
    #[default]
    Error,
    Clamp,
}

impl TimeRange {
    pub fn is_error(&self) -> bool {
        *self == TimeRange::Error
    }
}

/// A filesystem type name (`ext4`, `fat32`, ...). Which names exist is the
/// format registry's business ([`crate::fs::FORMATS`]); validation rejects
/// the others, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FsType(pub String);

impl FsType {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A size: bytes, a string with a unit (`"64MiB"`), or `"auto"`.
/// Partitions also accept `"remaining"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SizeSpec {
    Bytes(u64),
    Text(String),
}

/// A count or `"auto"` (inode counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CountSpec {
    Count(u64),
    Text(String),
}

/// Headroom added to an `"auto"` size: `"10%"` or a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeadroomSpec {
    Bytes(u64),
    Text(String),
}

/// One filesystem (bare, or the content of a partition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsSpec {
    #[serde(rename = "type")]
    pub fs_type: FsType,
    /// Host directory or tar archive whose contents form the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// Layers: host directories or tar archives, each placed at an image
    /// path, later ones over earlier ones (instead of `source`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<LayerSpec>,
    /// In `sources`: `.wh.NAME` deletes NAME of the layers below and
    /// `.wh..wh..opq` empties a directory of them (OCI image layers).
    #[serde(default)]
    pub whiteouts: bool,
    /// Bytes, `"64MiB"`, or `"auto"` (default `"auto"`). Inside a partition
    /// the filesystem fills the partition unless this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<HeadroomSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Pinned filesystem UUID (ext) or volume ID (FAT, `"1234-ABCD"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Keep holes of every source file as holes.
    #[serde(default)]
    pub sparse: bool,
    /// Copy host xattrs of files under `source`.
    #[serde(default)]
    pub preserve_xattrs: bool,
    /// Keep the setgid bit of directories under `source`. Off by default:
    /// a directory inherits setgid from a g+s parent (`/usr/local` on
    /// Debian), so the bit says where the tree was checked out, not what
    /// the image should hold. Entries and rules may still set it.
    #[serde(default)]
    pub keep_host_setgid: bool,
    /// A dm-verity hash tree over the filesystem: `true`, `"appended"`,
    /// `"partition"`, or a table with `layout`, `salt` and `uuid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verity: Option<VeritySpec>,
    /// Modes of the entries that come from `source`: `"source"` (as they
    /// are, the default), `"canonical"`, or `{ clear, set }` masks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsSpec>,
    /// SELinux labels (`security.selinux`) from a file_contexts file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<SelinuxSpec>,

    // ---- ext ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode_size: Option<u16>,
    /// Inode count or `"auto"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes: Option<CountSpec>,
    /// Bytes per inode, like `mke2fs -i`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode_ratio: Option<u64>,
    /// Journal size (ext3/ext4): bytes or `"64MiB"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_size: Option<SizeSpec>,
    /// Feature list overriding the defaults. `"^name"` removes a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Reserved-blocks percentage (like `mke2fs -m`, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_percent: Option<f64>,

    // ---- FAT ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sectors_per_cluster: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_sectors: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fats: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_entries: Option<u32>,
    /// What to do with entries FAT (or NTFS) cannot store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<Unsupported>,
    /// FAT: names of one directory that differ only in case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_conflicts: Option<CaseConflicts>,

    // ---- erofs ----
    /// `"none"` (the default) or `"lz4"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Files with the same content share their blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<bool>,
    // ---- NTFS ----
    /// Bytes per MFT record: 1024 (default) or 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mft_record_size: Option<u32>,
    /// DOS 8.3 names beside the long names (only `false` is supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_names: Option<bool>,

    // ---- tree ----
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntrySpec>,
    /// Path-pattern rules applied in order (later rules win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
    /// A genext2fs/makedevs device table file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_table: Option<PathBuf>,
}

/// One `sources` layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// Where in the image the layer's root goes (`"/"`, `"/opt/app"`).
    pub path: String,
    /// Host directory or tar archive (relative to the spec).
    pub source: PathBuf,
    /// A directory layer's symlinks to regular files are stored as those
    /// files (build sandboxes stage files as symlinks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_symlinks: bool,
}

/// `permissions = ...` on a filesystem; see [`crate::tree::perms`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PermissionsSpec {
    /// `"source"` or `"canonical"`.
    Named(String),
    Masks(PermissionMasks),
}

/// `permissions = { clear = "0022", set = "0444" }`: every mode (symlinks
/// aside) becomes `(mode & !clear) | set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionMasks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<ModeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ModeSpec>,
}

/// `[filesystem.selinux]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelinuxSpec {
    /// file_contexts files (host paths, relative to the spec), read as one
    /// list in this order: e.g. `file_contexts` and
    /// `file_contexts.homedirs`.
    pub file_contexts: PathList,
    /// Path substitution files (`file_contexts.subs_dist`, `.subs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitutions: Vec<PathBuf>,
}

/// One path or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathList {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl PathList {
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            PathList::One(p) => vec![p.clone()],
            PathList::Many(v) => v.clone(),
        }
    }
}

/// `verity = ...` on a filesystem. The planner
/// ([`crate::plan::verity`]) turns it into a layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VeritySpec {
    /// `true`: the hash partition for a `linux-root`/`linux-usr` partition
    /// of a GPT disk, else appended; `false`: no tree.
    On(bool),
    /// `"appended"` or `"partition"`.
    Layout(String),
    Table(VerityTable),
}

/// `[filesystem.verity]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerityTable {
    /// `"appended"` or `"partition"`; as `verity = true` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Salt in hex (at most 256 bytes); derived from the seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The verity superblock's UUID; derived from the seed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// `case_conflicts`: FAT compares names case-insensitively, so of
/// `Index.html` and `index.html` in one directory only one can stay as is.
/// The first in byte order (upper case sorts first) always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseConflicts {
    /// The build fails, naming both paths.
    #[default]
    Error,
    /// The later names are left out (a directory with all it holds) and
    /// reported.
    Skip,
    /// The later names get `~N` before their extension and are reported.
    Rename,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unsupported {
    #[default]
    Error,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// A mode: a number (`0o755` in TOML, 493 in JSON) or an octal string `"0755"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModeSpec {
    Number(u32),
    Octal(String),
}

/// An xattr value: a UTF-8 string, or `{ base64 = "..." }` for raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum XattrValue {
    Text(String),
    Bytes { base64: String },
}

/// One `[[filesystem.entries]]` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// Path inside the image, e.g. `/etc/hostname`.
    pub path: String,
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    /// `file`: host path of the contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// `file`: inline UTF-8 contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// `file`: expected SHA-256 (hex) of the contents, checked at build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `symlink`: link target; `hardlink`: image path of the existing file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Seconds since the epoch; subject to the time policy like any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, XattrValue>,
    /// Keep holes of this file's source as holes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    /// File capabilities in `setcap` text form (`"cap_net_bind_service+ep"`),
    /// stored as the `security.capability` xattr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
    /// Replace an earlier entry (or a source-tree entry) for the same path.
    #[serde(default, rename = "override")]
    pub override_: bool,
}

/// One `[[filesystem.rules]]` item: a glob over image paths and the metadata
/// to set on every match. `*` matches within one path component, `**` across
/// components, `?` one character, `[abc]` a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub glob: String,
    /// Only entries of this type (e.g. `"dir"` or `"file"`) match.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<EntryType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// File capabilities for every matching file, as on an entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionTable {
    #[default]
    Gpt,
    Mbr,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Raw,
    Qcow2,
}

/// `[image]`: a whole disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Bytes, `"8GiB"`, or `"auto"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeSpec>,
    #[serde(default)]
    pub partition_table: PartitionTable,
    /// Partition alignment (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<SizeSpec>,
    /// Logical sector size: 512 (default) or 4096 (GPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImageFormat>,
    /// qcow2 cluster size (default 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<SizeSpec>,
    /// Deflate-compress qcow2 clusters.
    #[serde(default)]
    pub compress: bool,
    /// GPT disk GUID pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_guid: Option<String>,
    /// MBR disk signature pin (`"0x12345678"` or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_signature: Option<CountSpec>,
    /// Host file whose first 440 bytes become the MBR boot code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootcode: Option<PathBuf>,
    /// GPT entry count (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt_entries: Option<u32>,
}

/// GPT attributes: names or a raw 64-bit number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributesSpec {
    Names(Vec<String>),
    Number(u64),
}

/// One `[[partitions]]` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Alias (`esp`, `linux`, `linux-root`, ...), MBR byte (`"0x83"`) or GPT
    /// type GUID.
    #[serde(rename = "type")]
    pub part_type: String,
    /// Bytes, `"512MiB"`, `"auto"` (default) or `"remaining"` (last only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesSpec>,
    #[serde(default)]
    pub bootable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FsSpec>,
    /// Prebuilt blob copied in verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// A `root-verity-sig`/`usr-verity-sig` partition: the key and
    /// certificate that sign its verity pair's root hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureSpec>,
}

/// `[partitions.signature]`: PEM files of an RSA key and its X.509
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSpec {
    pub key: PathBuf,
    pub certificate: PathBuf,
}
