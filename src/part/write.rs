//! Writing a planned disk: its tables, and prebuilt blobs into partitions.

use super::{gpt, mbr, DiskPlan, PartError, PlannedPartition};
use crate::io::BlockDevice;
use crate::spec::model::PartitionTable;
use std::path::Path;

/// Writes the partition table(s) of `plan` to `dev`, which must be exactly
/// the planned size. Only table sectors are written; the rest stays as it is
/// (zero on a fresh device).
pub fn write_tables(plan: &DiskPlan, dev: &mut dyn BlockDevice) -> Result<(), PartError> {
    if dev.size() != plan.size {
        return Err(PartError::DeviceSize {
            expected: plan.size,
            found: dev.size(),
        });
    }
    match plan.table {
        PartitionTable::Gpt => gpt::write(plan, dev),
        PartitionTable::Mbr => mbr::write(plan, dev),
        PartitionTable::None => Ok(()),
    }
}

/// Copies a prebuilt blob (`image = "path"`) into partition `part`. The rest
/// of the partition stays zero. Errors before writing when the blob is
/// larger than the partition.
pub fn write_blob(
    dev: &mut dyn BlockDevice,
    part: &PlannedPartition,
    path: &Path,
) -> Result<(), PartError> {
    let mut f = std::fs::File::open(path).map_err(crate::io::host_err(path))?;
    let len = f.metadata().map_err(crate::io::host_err(path))?.len();
    if len > part.size_bytes() {
        return Err(PartError::BlobTooLarge {
            index: part.number,
            path: path.to_path_buf(),
            blob: len,
            partition: part.size_bytes(),
        });
    }
    dev.copy_from(part.offset_bytes(), &mut f, path, 0, len)?;
    Ok(())
}
