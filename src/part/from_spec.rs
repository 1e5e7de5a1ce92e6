//! From the manifest model (`[image]`, `[[partitions]]`) to plan requests.
//! Relative paths (`bootcode`) are resolved against the spec's directory.

use super::{parse_attributes, DiskRequest, PartError, PartSize, PartitionRequest};
use crate::spec::model::{CountSpec, ImageSpec, PartitionSpec, SizeSpec};
use crate::spec::values;
use std::path::Path;

/// What a partition's `size` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChoice {
    /// `"auto"` or unset: the caller sizes the content, then passes
    /// `PartSize::Bytes`.
    Auto,
    Bytes(u64),
    Remaining,
}

fn bad(field: String, message: String) -> PartError {
    PartError::Spec { field, message }
}

/// Parses `partitions[index].size`.
pub fn partition_size(index: usize, p: &PartitionSpec) -> Result<SizeChoice, PartError> {
    match &p.size {
        Some(SizeSpec::Text(t)) if t == "remaining" => Ok(SizeChoice::Remaining),
        s => match values::size(s) {
            Ok(Some(n)) => Ok(SizeChoice::Bytes(n)),
            Ok(None) => Ok(SizeChoice::Auto),
            Err(m) => Err(bad(format!("partitions[{index}].size"), m)),
        },
    }
}

/// Builds the request for `partitions[index]` (0-based, as in key paths)
/// once its size is decided.
pub fn partition_request(
    index: usize,
    p: &PartitionSpec,
    size: PartSize,
) -> Result<PartitionRequest, PartError> {
    let uuid = p
        .uuid
        .as_deref()
        .map(|u| values::uuid(u).map_err(|m| bad(format!("partitions[{index}].uuid"), m)))
        .transpose()?;
    Ok(PartitionRequest {
        name: p.name.clone(),
        type_spec: p.part_type.clone(),
        size,
        uuid,
        attributes: p
            .attributes
            .as_ref()
            .map(parse_attributes)
            .transpose()?
            .unwrap_or(0),
        bootable: p.bootable,
    })
}

fn size_opt(field: &str, s: &Option<SizeSpec>) -> Result<Option<u64>, PartError> {
    values::size(s).map_err(|m| bad(format!("image.{field}"), m))
}

/// Builds the disk request of `[image]`; `seed` is the spec's seed (or the
/// build's default), `base_dir` the directory relative paths start from.
pub fn disk_request(
    image: &ImageSpec,
    seed: &str,
    base_dir: &Path,
) -> Result<DiskRequest, PartError> {
    let mut req = DiskRequest::new(image.partition_table, seed);
    req.size = size_opt("size", &image.size)?;
    if let Some(a) = size_opt("alignment", &image.alignment)? {
        req.alignment = a;
    }
    if let Some(ss) = image.sector_size {
        req.sector_size = ss;
    }
    if let Some(n) = image.gpt_entries {
        req.gpt_entries = n;
    }
    if let Some(g) = &image.disk_guid {
        req.disk_guid = Some(values::uuid(g).map_err(|m| bad("image.disk_guid".into(), m))?);
    }
    if let Some(sig) = &image.disk_signature {
        let v = match sig {
            CountSpec::Count(n) => u32::try_from(*n).ok(),
            CountSpec::Text(t) => t
                .strip_prefix("0x")
                .or_else(|| t.strip_prefix("0X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok()),
        };
        req.disk_signature = Some(v.ok_or_else(|| {
            bad(
                "image.disk_signature".into(),
                "expected a 32-bit number or a hex string such as \"0x12345678\"".into(),
            )
        })?);
    }
    if let Some(path) = &image.bootcode {
        req.bootcode = Some(super::read_bootcode(&base_dir.join(path))?);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{PartitionTable, Spec};
    use uuid::Uuid;

    #[test]
    fn spec_to_requests() {
        let spec: Spec = toml::from_str(
            r#"
            version = 1
            [image]
            size = "64MiB"
            partition_table = "gpt"
            alignment = "4KiB"
            disk_guid = "01234567-89ab-cdef-0123-456789abcdef"
            [[partitions]]
            type = "esp"
            name = "EFI"
            size = "8MiB"
            attributes = ["required", "no-auto"]
            [[partitions]]
            type = "linux"
            uuid = "11111111-2222-3333-4444-555555555555"
            size = "remaining"
            "#,
        )
        .unwrap();
        let image = spec.image.as_ref().unwrap();
        let req = disk_request(image, "s", Path::new(".")).unwrap();
        assert_eq!(req.table, PartitionTable::Gpt);
        assert_eq!(req.size, Some(64 << 20));
        assert_eq!(req.alignment, 4096);
        assert_eq!(
            partition_size(0, &spec.partitions[0]).unwrap(),
            SizeChoice::Bytes(8 << 20)
        );
        assert_eq!(
            partition_size(1, &spec.partitions[1]).unwrap(),
            SizeChoice::Remaining
        );
        let p0 = partition_request(0, &spec.partitions[0], PartSize::Bytes(8 << 20)).unwrap();
        assert_eq!(p0.attributes, 1 | 1 << 63);
        let p1 = partition_request(1, &spec.partitions[1], PartSize::Remaining).unwrap();
        let plan = super::super::plan(&req, &[p0, p1]).unwrap();
        assert_eq!(plan.partitions()[1].uuid, p1_uuid());
        // LBA 34 (the first usable sector) rounded up to 4 KiB.
        assert_eq!(plan.partitions()[0].offset_bytes(), 20480);
    }

    fn p1_uuid() -> Option<Uuid> {
        Uuid::try_parse("11111111-2222-3333-4444-555555555555").ok()
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut image: ImageSpec = toml::from_str("disk_signature = \"0xnothex\"").unwrap();
        let e = disk_request(&image, "s", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("image.disk_signature"), "{e}");
        image.disk_signature = Some(CountSpec::Text("0x12345678".into()));
        image.bootcode = Some("does-not-exist".into());
        let e = disk_request(&image, "s", Path::new("/nonexistent")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/does-not-exist"), "{e}");
    }
}
