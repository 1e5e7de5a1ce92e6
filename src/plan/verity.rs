//! dm-verity in the image plan: which filesystems carry a hash tree, in
//! which layout, how large the hash area is and where it goes.
//!
//! Two layouts, as `veritysetup` and systemd know them:
//! - **appended**: the hash area follows the data in the same image or
//!   partition (`veritysetup --hash-offset`);
//! - **partition**: a data partition of a DPS type (`linux-root`,
//!   `linux-usr`) pairs with an empty partition of its verity type
//!   (`root-verity`, `usr-verity`), which holds the hash area. The pair's
//!   partition UUIDs are the root hash's two halves, as the Discoverable
//!   Partitions Specification and systemd-repart have it; they are known
//!   only once the data is written, so the plan shows them as nil.
//!
//! Only sizes and offsets are decided here; the tree itself is hashed from
//! the written data by [`crate::verity::write_tree`].

use crate::build::{invalid, BuildError};
use crate::part::types::{self, PartType};
use crate::spec::{FsSpec, KeyPath, PartitionSpec, PartitionTable, VeritySpec};
use crate::verity::{self, VerityOptions, VerityPlan};
use serde::Serialize;

/// Data and hash blocks are 4 KiB, as `veritysetup format` defaults.
pub const BLOCK: u64 = 4096;

/// Where the hash area goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Appended,
    Partition,
}

/// What the spec asks of one filesystem.
#[derive(Debug, Clone)]
pub struct Request {
    pub layout: Layout,
    pub opts: VerityOptions,
}

/// Where the filesystem sits, for the default layout.
#[derive(Debug, Clone, Copy)]
pub enum Site {
    Bare,
    /// Inside a partition; `pairable` when its type has a DPS verity
    /// counterpart on a GPT disk.
    Partition {
        pairable: bool,
    },
}

fn parse_layout(s: &str, key: &KeyPath) -> Result<Layout, BuildError> {
    match s {
        "appended" => Ok(Layout::Appended),
        "partition" => Ok(Layout::Partition),
        other => Err(invalid(
            key,
            format!("{other:?} is not a verity layout; use \"appended\" or \"partition\""),
        )),
    }
}

fn parse_hex(s: &str, key: &KeyPath) -> Result<Vec<u8>, BuildError> {
    let bad = || {
        invalid(
            key,
            format!(
                "{s:?} is not a salt: give an even number of hex digits, at most {} bytes",
                verity::superblock::MAX_SALT
            ),
        )
    };
    if s.len() % 2 != 0 || s.len() / 2 > verity::superblock::MAX_SALT {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// Parses the filesystem's `verity` key. Salt and UUID derive from the seed
/// and the volume's identity unless pinned.
pub fn request(
    fs: &FsSpec,
    at: &KeyPath,
    (seed, identity, index): (&str, &str, u64),
    site: Site,
) -> Result<Option<Request>, BuildError> {
    let key = at.key("verity");
    let (layout, table) = match &fs.verity {
        None | Some(VeritySpec::On(false)) => return Ok(None),
        Some(VeritySpec::On(true)) => (None, None),
        Some(VeritySpec::Layout(s)) => (Some(parse_layout(s, &key)?), None),
        Some(VeritySpec::Table(t)) => {
            let l = match &t.layout {
                Some(s) => Some(parse_layout(s, &key.key("layout"))?),
                None => None,
            };
            (l, Some(t))
        }
    };
    let layout =
        match (layout, site) {
            (Some(Layout::Partition), Site::Bare) => {
                return Err(invalid(
                    key,
                    "a bare filesystem has no partition for its hash tree; use \"appended\"",
                ))
            }
            (Some(Layout::Partition), Site::Partition { pairable: false }) => return Err(invalid(
                key,
                "a hash partition pairs only with a linux-root or linux-usr partition of a GPT \
                 disk (root-verity or usr-verity); use \"appended\" for this one",
            )),
            (Some(l), _) => l,
            (None, Site::Partition { pairable: true }) => Layout::Partition,
            (None, _) => Layout::Appended,
        };
    let role = |what: &str| format!("{what}|{identity}");
    let salt = match table.and_then(|t| t.salt.as_deref()) {
        Some(s) => parse_hex(s, &key.key("salt"))?,
        None => crate::plan::ids::derive(seed, &role("verity-salt"), index).to_vec(),
    };
    let uuid = match table.and_then(|t| t.uuid.as_deref()) {
        Some(u) => *uuid::Uuid::parse_str(u)
            .map_err(|_| invalid(key.key("uuid"), format!("{u:?} is not a UUID")))?
            .as_bytes(),
        None => *crate::plan::ids::uuid(seed, &role("verity-uuid"), index).as_bytes(),
    };
    Ok(Some(Request {
        layout,
        opts: VerityOptions::new(salt, uuid),
    }))
}

/// `n` rounded up to whole verity blocks.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

/// `n` rounded down to whole verity blocks.
pub fn align_down(n: u64) -> u64 {
    n / BLOCK * BLOCK
}

/// Bytes of the hash area for `data` bytes of data.
pub fn hash_size(data: u64, key: &KeyPath) -> Result<u64, BuildError> {
    verity::hash_size_for(data).map_err(|e| invalid(key, e.to_string()))
}

/// The largest data size (whole blocks) whose appended hash area still fits
/// in `total` bytes, and that area's size.
pub fn appended_fit(total: u64, key: &KeyPath) -> Result<(u64, u64), BuildError> {
    // data + hash(data) grows with data: binary search on whole blocks for
    // the largest data that fits.
    let fits = |blocks: u64| -> Result<Option<u64>, BuildError> {
        let data = blocks * BLOCK;
        let hash = hash_size(data, key)?;
        Ok((data.checked_add(hash).is_some_and(|t| t <= total)).then_some(hash))
    };
    let (mut lo, mut hi) = (0u64, total / BLOCK);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid)?.is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    match (lo > 0).then(|| fits(lo)).transpose()?.flatten() {
        Some(hash) => Ok((lo * BLOCK, hash)),
        None => Err(invalid(
            key,
            format!("{total} bytes cannot hold data and its verity hash tree"),
        )),
    }
}

/// A planned tree: its data and hash area, in image offsets.
#[derive(Debug, Clone)]
pub struct Target {
    pub plan: VerityPlan,
    pub layout: Layout,
    /// Image offset of the data (the filesystem's first byte).
    pub data_offset: u64,
    /// Image offset of the hash area.
    pub hash_offset: u64,
    /// Partition layout: the 0-based indices of the data and hash
    /// partitions, whose UUIDs follow from the root hash.
    pub pair: Option<(usize, usize)>,
}

impl Target {
    /// Plans a tree over `data_len` bytes at `data_offset`, its hash area
    /// at `hash_offset`.
    pub fn new(
        req: &Request,
        data_len: u64,
        (data_offset, hash_offset): (u64, u64),
        pair: Option<(usize, usize)>,
        key: &KeyPath,
    ) -> Result<Target, BuildError> {
        let plan = verity::plan(data_len, &req.opts).map_err(|e| invalid(key, e.to_string()))?;
        Ok(Target {
            plan,
            layout: req.layout,
            data_offset,
            hash_offset,
            pair,
        })
    }

    /// The image offset just past the hash area.
    pub fn end(&self) -> u64 {
        self.hash_offset + self.plan.hash_size
    }

    /// What the plan (and, with the root hash, the report) says.
    pub fn describe(&self, hash_partition: Option<usize>) -> VerityDescription {
        VerityDescription {
            layout: self.layout,
            algorithm: "sha256",
            data_block_size: self.plan.data_block_size,
            hash_block_size: self.plan.hash_block_size,
            data_blocks: self.plan.data_blocks,
            hash_size: self.plan.hash_size,
            hash_offset: (self.layout == Layout::Appended)
                .then(|| self.hash_offset - self.data_offset),
            hash_partition,
            salt: crate::bytes::hex(&self.plan.opts.salt),
            uuid: uuid::Uuid::from_bytes(self.plan.opts.uuid).to_string(),
            roothash: None,
        }
    }
}

/// A tree as `fstool plan` and the build report show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerityDescription {
    pub layout: Layout,
    pub algorithm: &'static str,
    pub data_block_size: u32,
    pub hash_block_size: u32,
    pub data_blocks: u64,
    /// Bytes of the hash area (superblock block and tree).
    pub hash_size: u64,
    /// Appended layout: bytes from the filesystem's first byte to the hash
    /// area, `veritysetup --hash-offset` when the filesystem (or its
    /// partition) is the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_offset: Option<u64>,
    /// Partition layout: the number of the partition holding the tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_partition: Option<usize>,
    pub salt: String,
    pub uuid: String,
    /// Hex; known once the data is written (absent from `fstool plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roothash: Option<String>,
}

/// Which partition holds which tree, by 0-based partition index.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    /// Per partition: the hash partition its tree goes to.
    pub hash_of: Vec<Option<usize>>,
    /// Per partition: the data partition whose tree it holds.
    pub data_of: Vec<Option<usize>>,
}

/// Pairs every data partition of the partition layout with its hash
/// partition: the first empty partition of its verity type not yet taken,
/// in spec order (so an A/B disk pairs A with A and leaves B empty).
pub fn pair(
    parts: &[PartitionSpec],
    types: &[Option<PartType>],
    requests: &[Option<Request>],
) -> Result<Pairs, BuildError> {
    let n = parts.len();
    let mut hash_of = vec![None; n];
    let mut data_of = vec![None; n];
    for i in 0..n {
        let Some(req) = &requests[i] else { continue };
        if req.layout != Layout::Partition {
            continue;
        }
        let at = KeyPath::default().key("partitions").index(i);
        let want = types[i].and_then(types::verity_counterpart);
        let j = (0..n).find(|&j| {
            want.is_some()
                && types[j] == want
                && data_of[j].is_none()
                && parts[j].filesystem.is_none()
                && parts[j].image.is_none()
        });
        let Some(j) = j else {
            return Err(invalid(
                at.key("filesystem").key("verity"),
                format!(
                    "no empty partition of type {} is left to hold this hash tree; add one, or \
                     use verity = \"appended\"",
                    if parts[i].part_type.trim() == "linux-usr" {
                        "usr-verity"
                    } else {
                        "root-verity"
                    }
                ),
            ));
        };
        for k in [i, j] {
            if parts[k].uuid.is_some() {
                return Err(invalid(
                    KeyPath::default().key("partitions").index(k).key("uuid"),
                    "a verity pair's partition UUIDs are its root hash's halves (as \
                     systemd-repart makes them); remove the pin",
                ));
            }
        }
        hash_of[i] = Some(j);
        data_of[j] = Some(i);
    }
    Ok(Pairs { hash_of, data_of })
}

/// For every partition that holds a root hash signature, the data
/// partition whose hash it signs: the first verity pair (in spec order)
/// whose data type has this signature type as its DPS counterpart and is
/// not signed yet. A signature partition needs `signature` (a key and a
/// certificate) and nothing else; `signature` anywhere else is an error.
pub fn signature_pairs(
    parts: &[PartitionSpec],
    types: &[Option<PartType>],
    hash_of: &[Option<usize>],
) -> Result<Vec<Option<usize>>, BuildError> {
    let mut signed_by: Vec<Option<usize>> = vec![None; parts.len()];
    let mut out = vec![None; parts.len()];
    for (j, p) in parts.iter().enumerate() {
        let at = KeyPath::default().key("partitions").index(j);
        let is_sig = types::is_signature_type(&p.part_type);
        match (&p.signature, is_sig) {
            (None, false) => continue,
            (Some(_), false) => {
                return Err(invalid(
                    at.key("signature"),
                    "only a root-verity-sig or usr-verity-sig partition holds a signature",
                ))
            }
            (None, true) => {
                return Err(invalid(
                    at.key("signature"),
                    "a verity signature partition needs signature = { key = \"KEY.pem\",                      certificate = \"CERT.pem\" } to sign the root hash with; leave the                      partition out for an unsigned image",
                ))
            }
            (Some(_), true) => {}
        }
        if p.filesystem.is_some() || p.image.is_some() {
            return Err(invalid(
                at.to_string(),
                "a verity signature partition holds only the signature; remove `filesystem`/`image`",
            ));
        }
        let data = (0..parts.len()).find(|&i| {
            hash_of[i].is_some()
                && signed_by[i].is_none()
                && types[i].and_then(types::signature_counterpart) == types[j]
        });
        let Some(i) = data else {
            return Err(invalid(
                at.key("type"),
                format!(
                    "no linux-{} partition with a verity hash partition is left for this                      signature to sign",
                    if p.part_type.trim() == "usr-verity-sig" {
                        "usr"
                    } else {
                        "root"
                    }
                ),
            ));
        };
        signed_by[i] = Some(j);
        out[j] = Some(i);
    }
    Ok(out)
}

/// Whether partition `i`'s type has a DPS verity counterpart on this table.
pub fn pairable(t: Option<PartType>, table: PartitionTable) -> bool {
    table == PartitionTable::Gpt && t.and_then(types::verity_counterpart).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_fit_is_the_largest_data_that_fits() {
        let k = KeyPath::default();
        for total in [3 * BLOCK, 102 * BLOCK, 130 * BLOCK + 17, 1 << 30] {
            let (d, h) = appended_fit(total, &k).unwrap();
            assert!(d + h <= total, "{total}");
            let more = d + BLOCK;
            assert!(more + hash_size(more, &k).unwrap() > total, "{total}");
        }
        assert!(appended_fit(BLOCK, &k).is_err());
    }
}
