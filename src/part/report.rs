//! Rendering a [`PartitionTableInfo`] for `fstool info`: JSON for tools,
//! an aligned text table for people. Both list every field the plan sets.

use super::types::{attribute_names, table_name, PartType};
use super::PartitionTableInfo;
use serde_json::{json, Value};
use std::fmt;

fn type_json(t: PartType) -> Value {
    match t {
        PartType::Gpt(g) => json!(g.hyphenated().to_string()),
        PartType::Mbr(b) => json!(format!("0x{b:02x}")),
    }
}

impl PartitionTableInfo {
    /// `{"table", "sector_size", "disk_guid"|"disk_signature", "partitions":
    /// [{"index", "name", "type", "type_name", "start_lba", "sectors",
    /// "offset", "size", "uuid", "attributes", "attribute_names",
    /// "bootable"}], "warnings"}`. GUIDs in lower case.
    pub fn to_json(&self) -> Value {
        let parts: Vec<Value> = self
            .partitions
            .iter()
            .map(|p| {
                json!({
                    "index": p.index,
                    "name": p.name,
                    "type": type_json(p.part_type),
                    "type_name": p.type_name,
                    "start_lba": p.start_lba,
                    "sectors": p.sectors,
                    "offset": p.offset_bytes,
                    "size": p.size_bytes,
                    "uuid": p.uuid.map(|u| u.hyphenated().to_string()),
                    "attributes": p.attributes,
                    "attribute_names": attribute_names(p.attributes),
                    "bootable": p.bootable,
                })
            })
            .collect();
        let mut v = json!({
            "table": table_name(self.table),
            "sector_size": self.sector_size,
            "partitions": parts,
            "warnings": self.warnings,
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(g) = self.disk_guid {
                obj.insert("disk_guid".into(), json!(g.hyphenated().to_string()));
            }
            if let Some(s) = self.disk_signature {
                obj.insert("disk_signature".into(), json!(format!("0x{s:08x}")));
            }
            if let (Some(f), Some(l)) = (self.first_usable_lba, self.last_usable_lba) {
                obj.insert("first_usable_lba".into(), json!(f));
                obj.insert("last_usable_lba".into(), json!(l));
            }
        }
        v
    }
}

impl fmt::Display for PartitionTableInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition table: {} ({}-byte sectors)",
            table_name(self.table),
            self.sector_size
        )?;
        if let Some(g) = self.disk_guid {
            write!(f, ", disk GUID {g}")?;
        }
        if let Some(s) = self.disk_signature {
            write!(f, ", disk signature 0x{s:08x}")?;
        }
        writeln!(f)?;
        for p in &self.partitions {
            let name = p
                .name
                .as_deref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            let tname = p
                .type_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            write!(
                f,
                "  {:>3}{name}: start {} ({} bytes), {} sectors ({}), type {}{tname}",
                p.index,
                p.start_lba,
                p.offset_bytes,
                p.sectors,
                crate::plan::size::human(p.size_bytes),
                p.part_type,
            )?;
            if let Some(u) = p.uuid {
                write!(f, ", GUID {u}")?;
            }
            if p.attributes != 0 {
                write!(
                    f,
                    ", attributes {}",
                    attribute_names(p.attributes).join(",")
                )?;
            }
            if p.bootable {
                write!(f, ", bootable")?;
            }
            writeln!(f)?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::io::MemDevice;
    use crate::part::*;

    #[test]
    fn json_and_text_show_every_field() {
        let mut req = DiskRequest::new(PartitionTable::Gpt, "r");
        req.disk_guid = Some(Uuid::parse_str("01234567-89ab-cdef-0123-456789abcdef").unwrap());
        let mut p = PartitionRequest::new("esp", PartSize::Bytes(1 << 20));
        p.name = Some("EFI".into());
        p.attributes = 1 | 1 << 63;
        let plan = plan(&req, &[p]).unwrap();
        let mut dev = MemDevice::new(plan.size as usize);
        write_tables(&plan, &mut dev).unwrap();
        let info = probe(&dev).unwrap().unwrap();
        let j = info.to_json();
        assert_eq!(j["table"], "gpt");
        assert_eq!(j["disk_guid"], "01234567-89ab-cdef-0123-456789abcdef");
        let p0 = &j["partitions"][0];
        assert_eq!(p0["name"], "EFI");
        assert_eq!(p0["type"], "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(p0["type_name"], "esp");
        assert_eq!(p0["start_lba"], 2048);
        assert_eq!(p0["size"], 1 << 20);
        assert_eq!(
            p0["attribute_names"],
            serde_json::json!(["required", "no-auto"])
        );
        let text = info.to_string();
        assert!(
            text.contains("1 \"EFI\": start 2048 (1048576 bytes), 2048 sectors"),
            "{text}"
        );
        assert!(
            text.contains("type C12A7328-F81F-11D2-BA4B-00A0C93EC93B (esp)"),
            "{text}"
        );
    }
}
