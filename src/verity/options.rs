//! From a filesystem's `verity` key to a layout and tree options, and the
//! step that hashes a written filesystem and stores its tree.

use super::{VerityError, VerityOptions};
use crate::io::BlockDevice;
use crate::spec::VeritySpec;
use serde::Serialize;

/// Where the hash tree goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// After the data, in the same image or partition.
    Appended,
    /// In its own partition (DPS `root-verity` / `usr-verity`).
    Partition,
}

/// A `verity` key that cannot be used; `key` is relative to the key path
/// of the `verity` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        key,
        message: message.into(),
    }
}

/// Resolves the `verity` key. `in_disk` says whether the filesystem sits in
/// a partition (where the default layout is a partition of its own).
/// Returns `None` when verity is off.
pub fn from_spec(
    v: &VeritySpec,
    in_disk: bool,
    seed: &str,
    index: u64,
) -> Result<Option<(Layout, VerityOptions)>, Invalid> {
    let default = if in_disk {
        Layout::Partition
    } else {
        Layout::Appended
    };
    let layout_of = |s: &str, key: &'static str| match s {
        "appended" => Ok(Layout::Appended),
        "partition" => Ok(Layout::Partition),
        other => Err(bad(
            key,
            format!("{other:?}: expected \"appended\" or \"partition\""),
        )),
    };
    let mut opts = VerityOptions::from_seed(seed, index);
    let layout = match v {
        VeritySpec::Enabled(false) => return Ok(None),
        VeritySpec::Enabled(true) => default,
        VeritySpec::Layout(s) => layout_of(s, "")?,
        VeritySpec::Table(t) => {
            if let Some(s) = &t.salt {
                opts.salt = parse_hex(s)
                    .ok_or_else(|| bad("salt", format!("{s:?} is not hex bytes (at most 256)")))?;
            }
            if let Some(u) = &t.uuid {
                opts.uuid = *uuid::Uuid::parse_str(u)
                    .map_err(|e| bad("uuid", format!("{u:?} is not a UUID: {e}")))?
                    .as_bytes();
            }
            match &t.layout {
                Some(s) => layout_of(s, "layout")?,
                None => default,
            }
        }
    };
    if layout == Layout::Partition && !in_disk {
        return Err(bad(
            "",
            "a bare filesystem keeps its hash tree appended; use verity = \"appended\" (or true)",
        ));
    }
    Ok(Some((layout, opts)))
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 512 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// What a build reports of a hash tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerityReport {
    pub layout: Layout,
    pub roothash: String,
    /// Offset of the verity superblock from the start of the data (the
    /// `--hash-offset` of `veritysetup` for the appended layout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_offset: Option<u64>,
    /// Partition number holding the tree (the partition layout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_partition: Option<usize>,
    pub hash_size: u64,
    pub data_blocks: u64,
    pub salt: String,
    pub uuid: String,
}

/// Bytes of data a tree covers for a filesystem of `fs_size` bytes (whole
/// 4 KiB blocks; the padding reads as zeros).
pub fn data_size(fs_size: u64) -> u64 {
    fs_size.next_multiple_of(4096)
}

/// Hashes `data_size` bytes at `data_at` of `dev` and writes the hash area
/// at `hash_at`. Returns the tree's report (with `hash_offset` set to
/// `hash_at - data_at`; the caller clears it for the partition layout).
pub fn write_tree(
    dev: &mut dyn BlockDevice,
    opts: &VerityOptions,
    layout: Layout,
    data_at: u64,
    data_size: u64,
    hash_at: u64,
) -> Result<(VerityReport, [u8; 32]), VerityError> {
    let plan = super::plan(data_size, opts)?;
    let built = super::build(&plan, &mut |off, buf| dev.read_at(data_at + off, buf))?;
    dev.write_at(hash_at, &built.area)?;
    Ok((
        VerityReport {
            layout,
            roothash: super::hex(&built.root_hash),
            hash_offset: Some(hash_at - data_at),
            hash_partition: None,
            hash_size: plan.hash_size,
            data_blocks: plan.data_blocks,
            salt: super::hex(&opts.salt),
            uuid: uuid::Uuid::from_bytes(opts.uuid).to_string(),
        },
        built.root_hash,
    ))
}
