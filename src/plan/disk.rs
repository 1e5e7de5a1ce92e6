//! The disk half of the image plan: every partition sized (from its
//! filesystem's auto size, its blob, or the spec), placed, and its
//! filesystem planned to fill it; verity pairs sized and their UUIDs left
//! nil until the root hash is known (see [`super::verity`]).

use super::image::{identity, pending, Content};
use crate::build::{invalid, BuildError};
use crate::fs::{Fit, Format, Placement, VolumePlan};
use crate::part::{self, from_spec::SizeChoice, DiskPlan, PartSize};
use crate::plan::size;
use crate::plan::verity::{self as pv, Layout, Site, Target};
use crate::spec::{ImageSpec, KeyPath, PartitionTable, Spec};
use crate::tree::resolve::ResolveCtx;
use std::path::PathBuf;

/// What the spec puts into one partition, before the layout.
enum Slot {
    Fs {
        pending: Box<super::image::Pending>,
        /// Planned already, at its auto size (the partition follows it).
        planned: Option<Box<dyn VolumePlan>>,
    },
    Blob(PathBuf),
    /// The hash partition of a verity pair: written with the data
    /// partition's tree.
    Hash,
    /// A signature partition: the root hash of partition `data`, signed.
    Signature {
        data: usize,
        signer: Box<crate::verity::sig::Signer>,
    },
    Empty,
}

/// A signature partition of size "auto": room for any RSA key up to 8192
/// bits, as the DPS asks (a multiple of 4 KiB).
const SIGNATURE_SIZE: u64 = 16 * 1024;

pub(super) fn plan_disk(
    spec: &Spec,
    image: &ImageSpec,
    cx: (&str, i64, &ResolveCtx),
    formats: &[&dyn Format],
) -> Result<(DiskPlan, Vec<Content>), BuildError> {
    let (seed, _, ctx) = cx;
    let req = part::from_spec::disk_request(image, seed, &ctx.base_dir)?;
    if spec.partitions.is_empty() && image.partition_table != PartitionTable::None {
        return Err(invalid(
            "partitions",
            "a disk image needs at least one [[partitions]] entry",
        ));
    }
    let sector = u64::from(req.sector_size);
    // 0. Which filesystems carry a verity tree, and which partition holds
    // each tree of the partition layout.
    let types: Vec<_> = spec
        .partitions
        .iter()
        .map(|p| part::types::resolve_type(&p.part_type, req.table, req.arch).ok())
        .collect();
    let mut vreqs = Vec::new();
    for (i, p) in spec.partitions.iter().enumerate() {
        let at = KeyPath::default().key("partitions").index(i);
        vreqs.push(match &p.filesystem {
            Some(fs) => {
                let id = identity(fs, Some((&p.part_type, p.name.as_deref())));
                let site = Site::Partition {
                    pairable: pv::pairable(types[i], req.table),
                };
                pv::request(fs, &at.key("filesystem"), (seed, &id, i as u64 + 1), site)?
            }
            None => None,
        });
    }
    let pv::Pairs { hash_of, data_of } = pv::pair(&spec.partitions, &types, &vreqs)?;
    let signs = pv::signature_pairs(&spec.partitions, &types, &hash_of)?;
    // 1. Size every partition whose size comes from its content.
    let mut slots = Vec::new();
    let mut requests = Vec::new();
    for (i, p) in spec.partitions.iter().enumerate() {
        let at = KeyPath::default().key("partitions").index(i);
        let vkey = at.key("filesystem").key("verity");
        let mut slot = match (&p.filesystem, &p.image) {
            _ if data_of[i].is_some() => Slot::Hash,
            _ if signs[i].is_some() => {
                let sig = p.signature.as_ref().ok_or_else(|| {
                    invalid(
                        at.key("signature"),
                        "internal: a signature slot without keys",
                    )
                })?;
                let load = crate::verity::sig::Signer::load(
                    &ctx.base_dir.join(&sig.key),
                    &ctx.base_dir.join(&sig.certificate),
                )
                .map_err(|e| invalid(at.key("signature"), e.to_string()))?;
                Slot::Signature {
                    data: signs[i].unwrap_or_default(),
                    signer: Box::new(load),
                }
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    at.to_string(),
                    "has both `filesystem` and `image`; give one",
                ))
            }
            (Some(fs), None)
                if req.sector_size != 512 && fs.fs_type.as_str().starts_with("fat") =>
            {
                // This FAT writer lays out 512-byte sectors, and Linux
                // refuses a FAT whose sectors are smaller than the device's
                // ("logical sector size too small for device"): refuse the
                // image instead of building one that only firmware reads.
                return Err(invalid(
                    at.key("filesystem").key("type").to_string(),
                    format!(
                        "FAT inside a disk with {}-byte sectors is not supported (FAT is written \
                         with 512-byte sectors, which Linux will not mount on such a disk); \
                         use image.sector_size = 512",
                        req.sector_size
                    ),
                ));
            }
            (Some(fs), None) => Slot::Fs {
                pending: Box::new(pending(
                    fs,
                    &at.key("filesystem"),
                    i as u64 + 1,
                    &identity(fs, Some((&p.part_type, p.name.as_deref()))),
                    cx,
                    formats,
                )?),
                planned: None,
            },
            (None, Some(path)) => Slot::Blob(ctx.base_dir.join(path)),
            (None, None) => Slot::Empty,
        };
        let size = match (part::from_spec::partition_size(i, p)?, &mut slot) {
            (SizeChoice::Bytes(n), _) => PartSize::Bytes(n),
            (SizeChoice::Remaining, _) => PartSize::Remaining,
            (SizeChoice::Auto, Slot::Fs { pending, planned }) => {
                let plan = pending.plan(Fit::Auto, Placement::default())?;
                // A verity data device is whole 4 KiB blocks; an appended
                // tree follows them.
                let bytes = match &vreqs[i] {
                    None => plan.size(),
                    Some(r) if r.layout == Layout::Partition => pv::align_up(plan.size()),
                    Some(_) => {
                        let data = pv::align_up(plan.size());
                        data + pv::hash_size(data, &vkey)?
                    }
                };
                let bytes = bytes.div_ceil(sector) * sector;
                *planned = Some(plan);
                PartSize::Bytes(bytes)
            }
            (SizeChoice::Auto, Slot::Blob(path)) => {
                let len = std::fs::metadata(&*path)
                    .map_err(crate::io::host_err(path))?
                    .len();
                PartSize::Bytes(len.max(1).div_ceil(sector) * sector)
            }
            // Sized below, once its data partition's size is known.
            (SizeChoice::Auto, Slot::Hash) => PartSize::Bytes(0),
            (SizeChoice::Auto, Slot::Signature { .. }) => {
                PartSize::Bytes(SIGNATURE_SIZE.div_ceil(sector) * sector)
            }
            (SizeChoice::Auto, Slot::Empty) => {
                return Err(invalid(
                    at.key("size").to_string(),
                    "an empty partition needs an explicit size (or \"remaining\")",
                ))
            }
        };
        requests.push(part::from_spec::partition_request(i, p, size)?);
        slots.push(slot);
    }
    // A hash partition of size "auto" is as large as its tree.
    for (j, data) in data_of.iter().enumerate() {
        let Some(i) = *data else { continue };
        let p = &spec.partitions[j];
        if !matches!(part::from_spec::partition_size(j, p)?, SizeChoice::Auto) {
            continue;
        }
        let key = KeyPath::default().key("partitions").index(j).key("size");
        let data = match requests[i].size {
            PartSize::Bytes(n) => pv::align_down(n.div_ceil(sector) * sector),
            PartSize::Remaining => {
                return Err(invalid(
                    key,
                    format!(
                        "the hash partition of partitions[{i}] (size \"remaining\") needs an \
                         explicit size"
                    ),
                ))
            }
        };
        requests[j].size = PartSize::Bytes(pv::hash_size(data, &key)?.div_ceil(sector) * sector);
    }
    // 2. Place the partitions. A verity pair's UUIDs come from its root
    // hash, known once the data is written: nil until then.
    let mut dplan = part::plan(&req, &requests)?;
    for (i, j) in hash_of.iter().enumerate() {
        if let Some(j) = *j {
            dplan.set_partition_uuid(i, uuid::Uuid::nil());
            dplan.set_partition_uuid(j, uuid::Uuid::nil());
        }
    }
    // 3. Put every filesystem in its place; plan the ones of given size.
    let mut contents = Vec::new();
    for (i, slot) in slots.into_iter().enumerate() {
        let pp = &dplan.partitions()[i];
        let placement = Placement {
            offset: pp.offset_bytes(),
            start_lba: pp.start_lba,
        };
        match slot {
            Slot::Fs { pending, planned } => {
                let target = match &vreqs[i] {
                    Some(r) => Some(Box::new(verity_target(r, i, hash_of[i], &dplan)?)),
                    None => None,
                };
                // The filesystem's room: the partition, or the verity data
                // blocks of it.
                let room = target
                    .as_ref()
                    .map_or(pp.size_bytes(), |t| t.plan.data_blocks * pv::BLOCK);
                let plan = match planned {
                    Some(mut plan) => {
                        plan.place(placement);
                        plan
                    }
                    None => pending.plan(Fit::Exact(room), placement)?,
                };
                if plan.size() > room {
                    return Err(invalid(
                        format!("partitions[{i}].size"),
                        format!(
                            "the filesystem needs {} bytes ({}) but the partition has {}{}",
                            plan.size(),
                            size::human(plan.size()),
                            room,
                            if target.is_some() {
                                " besides its verity hash tree"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                contents.push(Content::Volume {
                    tree: pending.tree,
                    plan,
                    placement,
                    window: Some((pp.offset_bytes(), pp.size_bytes())),
                    verity: target,
                });
            }
            Slot::Blob(path) => contents.push(Content::Blob { path, partition: i }),
            Slot::Signature { data, signer } => {
                if hash_of[data].is_none() {
                    return Err(invalid(
                        at_size(i),
                        "internal: signed partition has no pair",
                    ));
                }
                contents.push(Content::Signature {
                    partition: i,
                    data,
                    signer,
                });
            }
            Slot::Hash | Slot::Empty => {}
        }
    }
    Ok((dplan, contents))
}

/// The tree over partition `i`: appended inside it, or in its hash
/// partition `hash`, which must be large enough.
fn verity_target(
    r: &pv::Request,
    i: usize,
    hash: Option<usize>,
    dplan: &DiskPlan,
) -> Result<Target, BuildError> {
    let at = KeyPath::default().key("partitions");
    let vkey = at.index(i).key("filesystem").key("verity");
    let pp = &dplan.partitions()[i];
    match (r.layout, hash) {
        (Layout::Appended, _) => {
            let (data, _) = pv::appended_fit(pp.size_bytes(), &vkey)?;
            let at = (pp.offset_bytes(), pp.offset_bytes() + data);
            Target::new(r, data, at, None, &vkey)
        }
        (Layout::Partition, Some(j)) => {
            let hp = &dplan.partitions()[j];
            let data = pv::align_down(pp.size_bytes());
            let at = (pp.offset_bytes(), hp.offset_bytes());
            let t = Target::new(r, data, at, Some((i, j)), &vkey)?;
            if t.plan.hash_size > hp.size_bytes() {
                return Err(invalid(
                    at_size(j),
                    format!(
                        "holds the verity hash tree of partitions[{i}], which needs {} bytes \
                         ({}); the partition has {}",
                        t.plan.hash_size,
                        size::human(t.plan.hash_size),
                        hp.size_bytes()
                    ),
                ));
            }
            Ok(t)
        }
        (Layout::Partition, None) => Err(invalid(vkey, "no partition holds this hash tree")),
    }
}

fn at_size(j: usize) -> KeyPath {
    KeyPath::default().key("partitions").index(j).key("size")
}
