//! Disk layout planning: every partition's start and size, the disk's
//! size, GUIDs and MBR signature, from a [`DiskRequest`] and the
//! [`PartitionRequest`]s, and the checks that the result is a valid table
//! (aligned, inside the usable area, no overlaps). Pure: no I/O.

use super::{
    gpt, types, DiskPlan, DiskRequest, PartError, PartSize, PartitionRequest, PlannedPartition,
    BOOTCODE_LEN,
};
use crate::plan::ids;
use crate::spec::model::PartitionTable;

pub(super) fn gpt_array_sectors(entries: u32, ss: u32) -> u64 {
    (u64::from(entries) * gpt::ENTRY_SIZE as u64).div_ceil(u64::from(ss))
}

fn overflow(what: &'static str) -> PartError {
    PartError::Overflow { what }
}

fn align_up(v: u64, a: u64) -> Result<u64, PartError> {
    v.div_ceil(a)
        .checked_mul(a)
        .ok_or(overflow("aligning a partition start"))
}

/// The role of a partition's GUID: its type and name go in, so that two
/// disks built with one seed (a product's root disk and its data disk) do
/// not share PARTUUIDs.
fn partition_role(p: &PartitionRequest) -> String {
    format!(
        "gpt-partition|{}|{}",
        p.type_spec,
        p.name.as_deref().unwrap_or("")
    )
}

/// The role of the disk GUID (and MBR signature): every partition's type
/// and name, in order.
fn disk_role(parts: &[PartitionRequest]) -> String {
    let mut r = String::from("gpt-disk");
    for p in parts {
        r.push('|');
        r.push_str(&partition_role(p));
    }
    r
}

/// Plans a disk: decides every partition's start and size, the GUIDs and
/// the signature, and checks the layout. Pure: no I/O.
///
/// Partitions go in spec order, each at the next aligned start after the
/// previous one. A `remaining` partition ends at the last aligned sector
/// boundary of the usable area. An auto disk size is the smallest multiple
/// of the alignment that holds the partitions and the backup GPT.
pub fn plan(req: &DiskRequest, parts: &[PartitionRequest]) -> Result<DiskPlan, PartError> {
    let table = req.table;
    let tname = types::table_name(table);
    let ss = req.sector_size;
    let ss64 = u64::from(ss);
    let sector_ok = match table {
        PartitionTable::Gpt => ss == 512 || ss == 4096,
        _ => ss == 512,
    };
    if !sector_ok {
        return Err(PartError::BadSectorSize {
            sector_size: ss,
            table: tname,
        });
    }
    if req.alignment == 0 || req.alignment % ss64 != 0 {
        return Err(PartError::BadAlignment {
            alignment: req.alignment,
            sector_size: ss,
        });
    }
    let align = req.alignment / ss64;
    if let Some(size) = req.size {
        if size % ss64 != 0 {
            return Err(PartError::UnalignedDiskSize {
                size,
                sector_size: ss,
            });
        }
    }
    let gpt = table == PartitionTable::Gpt;
    match table {
        PartitionTable::Mbr if parts.len() > 4 => {
            return Err(PartError::TooManyPrimary { count: parts.len() })
        }
        PartitionTable::None if parts.len() != 1 => {
            return Err(PartError::NoneNeedsOne { count: parts.len() })
        }
        PartitionTable::Gpt if !(128..=16384).contains(&req.gpt_entries) => {
            return Err(PartError::BadEntryCount {
                entries: req.gpt_entries,
            })
        }
        PartitionTable::Gpt if parts.len() > req.gpt_entries as usize => {
            return Err(PartError::TooManyPartitions {
                count: parts.len(),
                entries: req.gpt_entries,
            })
        }
        _ => {}
    }

    // Sectors before the first partition and after the last one.
    let array = if gpt {
        gpt_array_sectors(req.gpt_entries, ss)
    } else {
        0
    };
    let (head, tail) = match table {
        PartitionTable::Gpt => (2 + array, 1 + array),
        PartitionTable::Mbr => (1, 0),
        PartitionTable::None => (0, 0),
    };

    // Partition starts are aligned; with no table the one partition is the
    // whole disk.
    let align = if table == PartitionTable::None {
        1
    } else {
        align
    };
    let total_given = req.size.map(|s| s / ss64);
    let usable_end = total_given.map(|t| t.saturating_sub(tail)); // exclusive

    let mut planned = Vec::with_capacity(parts.len());
    let mut cursor = head;
    for (i, p) in parts.iter().enumerate() {
        let index = i + 1;
        let part_type = types::resolve_type(&p.type_spec, table, req.arch)?;
        if let Some(name) = &p.name {
            if !gpt {
                return Err(PartError::GptOnly {
                    index,
                    field: "name",
                    hint: " (MBR partitions have no names)",
                });
            }
            let units = name.encode_utf16().count();
            if units > gpt::NAME_UNITS {
                return Err(PartError::NameTooLong {
                    index,
                    name: name.clone(),
                    units,
                });
            }
        }
        if !gpt && p.uuid.is_some() {
            return Err(PartError::GptOnly {
                index,
                field: "uuid",
                hint: " (MBR partitions have no GUIDs)",
            });
        }
        if !gpt && p.attributes != 0 {
            return Err(PartError::GptOnly {
                index,
                field: "attributes",
                hint: "; on MBR use `bootable`",
            });
        }
        if gpt && p.bootable {
            return Err(PartError::BootableOnGpt { index });
        }
        let start = align_up(cursor, align)?;
        let sectors = match p.size {
            PartSize::Bytes(0) => return Err(PartError::ZeroSize { index }),
            PartSize::Bytes(b) => b.div_ceil(ss64),
            PartSize::Remaining => {
                if index != parts.len() {
                    return Err(PartError::RemainingNotLast { index });
                }
                let end = usable_end.ok_or(PartError::RemainingNeedsDiskSize { index })?;
                // End on an alignment boundary, as fdisk does, when that
                // leaves room; else use the whole usable area.
                let aligned_end = end / align * align;
                let end = if aligned_end > start {
                    aligned_end
                } else {
                    end
                };
                if end <= start {
                    return Err(PartError::NothingRemaining {
                        index,
                        start: start.saturating_mul(ss64),
                        end: end.saturating_mul(ss64),
                    });
                }
                end - start
            }
        };
        cursor = start
            .checked_add(sectors)
            .ok_or(overflow("partition end"))?;
        let uuid = if gpt {
            Some(
                p.uuid
                    .unwrap_or_else(|| ids::uuid(&req.seed, &partition_role(&parts[i]), i as u64)),
            )
        } else {
            None
        };
        planned.push(PlannedPartition {
            number: index,
            name: p.name.clone(),
            part_type,
            start_lba: start,
            sectors,
            uuid,
            attributes: p.attributes,
            bootable: p.bootable,
            sector_size: ss,
        });
    }

    // Smallest disk holding everything: the partitions' end plus the tail,
    // rounded up to the alignment (a tidy size for VMs and dd).
    let needed_sectors = cursor.checked_add(tail).ok_or(overflow("disk size"))?;
    let needed_sectors = if table == PartitionTable::None {
        needed_sectors
    } else {
        align_up(needed_sectors, align)?
    };
    let total = match total_given {
        Some(t) => {
            if t < cursor.checked_add(tail).ok_or(overflow("disk size"))? || t <= head + tail {
                let needed = needed_sectors.saturating_mul(ss64);
                return Err(PartError::DiskTooSmall {
                    size: t * ss64,
                    needed,
                    needed_human: crate::plan::size::human(needed),
                });
            }
            t
        }
        None => needed_sectors.max(align_up(head + tail + 1, align)?),
    };
    let size = total.checked_mul(ss64).ok_or(overflow("disk size"))?;
    let (first_usable_lba, last_usable_lba) = (head, total - tail - 1);

    if table == PartitionTable::Mbr {
        for p in &planned {
            if p.start_lba > u64::from(u32::MAX) || p.sectors > u64::from(u32::MAX) {
                return Err(PartError::BeyondMbrLimit {
                    index: p.number,
                    end: p.end_lba(),
                });
            }
        }
    }

    let plan = DiskPlan {
        table,
        sector_size: ss,
        size,
        disk_guid: gpt.then(|| {
            req.disk_guid
                .unwrap_or_else(|| ids::uuid(&req.seed, &disk_role(parts), 0))
        }),
        disk_signature: (table == PartitionTable::Mbr).then(|| {
            req.disk_signature.unwrap_or_else(|| {
                ids::u32_id(
                    &req.seed,
                    &disk_role(parts).replacen("gpt-disk", "mbr-signature", 1),
                    0,
                )
            })
        }),
        bootcode: req.bootcode.as_ref().map(|b| {
            let mut b = b.clone();
            b.truncate(BOOTCODE_LEN);
            b
        }),
        gpt_entries: if gpt { req.gpt_entries } else { 0 },
        first_usable_lba,
        last_usable_lba,
        partitions: planned,
    };
    check_layout(&plan)?;
    Ok(plan)
}

/// The plan's invariant, checked independently of how it was built:
/// partitions lie inside the usable area, sorted, and do not overlap.
fn check_layout(plan: &DiskPlan) -> Result<(), PartError> {
    let ss = u64::from(plan.sector_size);
    let byte_range = |p: &PlannedPartition| (p.start_lba * ss, (p.end_lba() + 1) * ss);
    for p in &plan.partitions {
        if p.sectors == 0 {
            return Err(PartError::ZeroSize { index: p.number });
        }
        if p.start_lba < plan.first_usable_lba || p.end_lba() > plan.last_usable_lba {
            let (start, end) = byte_range(p);
            return Err(PartError::OutsideDisk {
                index: p.number,
                start,
                end,
                first: plan.first_usable_lba * ss,
                last: (plan.last_usable_lba + 1) * ss,
            });
        }
    }
    for w in plan.partitions.windows(2) {
        if let [a, b] = w {
            if b.start_lba <= a.end_lba() {
                let (start, end) = byte_range(b);
                let (other_start, other_end) = byte_range(a);
                return Err(PartError::Overlap {
                    index: b.number,
                    start,
                    end,
                    other: a.number,
                    other_start,
                    other_end,
                });
            }
        }
    }
    Ok(())
}
