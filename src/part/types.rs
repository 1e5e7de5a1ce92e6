//! Partition types: the aliases a spec may use, raw MBR type bytes and GPT
//! type GUIDs, and the GPT attribute bits.
//!
//! GPT type GUIDs follow UEFI chapter 5 (ESP), the Discoverable Partitions
//! Specification (Linux root/usr per architecture, swap, home, srv, var,
//! xbootldr, generic Linux data) and the de-facto BIOS boot and Microsoft
//! basic data GUIDs.

use super::PartError;
use crate::spec::model::{AttributesSpec, PartitionTable};
use uuid::Uuid;

/// A resolved partition type, in the form the table stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartType {
    /// A GPT partition type GUID.
    Gpt(Uuid),
    /// An MBR system ID byte.
    Mbr(u8),
}

/// Architectures with DPS root/usr type GUIDs, by the names the spec accepts.
pub const ARCHES: &[&str] = &[
    "x86-64",
    "x86",
    "arm64",
    "arm",
    "riscv64",
    "riscv32",
    "loongarch64",
];

/// One alias: its name, its GPT GUID and its MBR byte (None when the
/// concept has no MBR equivalent).
struct Alias {
    name: &'static str,
    gpt: &'static str,
    mbr: Option<u8>,
}

/// The architecture-independent aliases. `msdata` maps to 0x0c on MBR
/// (FAT32 with LBA addressing) because FAT is what fstool writes there.
const ALIASES: &[Alias] = &[
    Alias {
        name: "esp",
        gpt: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
        mbr: Some(0xef),
    },
    Alias {
        name: "linux",
        gpt: "0fc63daf-8483-4772-8e79-3d69d8477de4",
        mbr: Some(0x83),
    },
    Alias {
        name: "swap",
        gpt: "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",
        mbr: Some(0x82),
    },
    Alias {
        name: "home",
        gpt: "933ac7e1-2eb4-4f13-b844-0e14e2aef915",
        mbr: Some(0x83),
    },
    Alias {
        name: "srv",
        gpt: "3b8f8425-20e0-4f3b-907f-1a25a76f98e8",
        mbr: Some(0x83),
    },
    Alias {
        name: "var",
        gpt: "4d21b016-b534-45c2-a9fb-5c16e091fd2d",
        mbr: Some(0x83),
    },
    Alias {
        name: "xbootldr",
        gpt: "bc13c2ff-59e6-4262-a352-b275fd6f7172",
        mbr: Some(0xea),
    },
    Alias {
        name: "bios-boot",
        gpt: "21686148-6449-6e6f-744e-656564454649",
        mbr: None,
    },
    Alias {
        name: "msdata",
        gpt: "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
        mbr: Some(0x0c),
    },
];

/// DPS root partition GUIDs, in [`ARCHES`] order.
const ROOT: &[&str] = &[
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
    "44479540-f297-41b2-9af7-d131d5f0458a",
    "b921b045-1df0-41c3-af44-4c6f280d3fae",
    "69dad710-2ce4-4e3c-b16c-21a1d49abed3",
    "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
    "60d5a7fe-8e7d-435c-b714-3dd8162144e1",
    "77055800-792c-4f94-b39a-98c91b762bb6",
];

/// DPS /usr partition GUIDs, in [`ARCHES`] order.
const USR: &[&str] = &[
    "8484680c-9521-48c6-9c11-b0720656f69e",
    "75250d76-8cc6-458e-bd66-bd47cc81a812",
    "b0e01050-ee5f-4390-949a-9101b17104e9",
    "7d0359a3-02b3-4f0a-865c-654403e70625",
    "beaec34b-8442-439b-a40b-984381ed097d",
    "b933fb22-5c3f-4f91-af90-e2bb0fa50702",
    "e611c702-575c-4cbe-9a46-434fa0bf7e3f",
];

/// DPS root verity (hash tree) partition GUIDs, in [`ARCHES`] order.
const ROOT_VERITY: &[&str] = &[
    "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
    "d13c5d3b-b5d1-422a-b29f-9454fdc89d76",
    "df3300ce-d69f-4c92-978c-9bfb0f38d820",
    "7386cdf2-203c-47a9-a498-f2ecce45a2d6",
    "b6ed5582-440b-4209-b8da-5ff7c419ea3d",
    "ae0253be-1167-4007-ac68-43926c14c5de",
    "f3393b22-e9af-4613-a948-9d3bfbd0c535",
];

/// DPS /usr verity partition GUIDs, in [`ARCHES`] order.
const USR_VERITY: &[&str] = &[
    "77ff5f63-e7b6-4633-acf4-1565b864c0e6",
    "8f461b0d-14ee-4e81-9aa9-049b6fb97abd",
    "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e",
    "c215d751-7bcd-4649-be90-6627490a4c05",
    "8f1056be-9b05-47c4-81d6-be53128e5b54",
    "cb1ee4e3-8cd0-4136-a0a4-aa61a32e8730",
    "f46b2c26-59ae-48f0-9106-c50ed47f673d",
];

/// DPS root verity signature partition GUIDs, in [`ARCHES`] order.
const ROOT_VERITY_SIG: &[&str] = &[
    "41092b05-9fc8-4523-994f-2def0408b176",
    "5996fc05-109c-48de-808b-23fa0830b676",
    "6db69de6-29f4-4758-a7a5-962190f00ce3",
    "42b0455f-eb11-491d-98d3-56145ba9d037",
    "efe0f087-ea8d-4469-821a-4c2a96a8386a",
    "3a112a75-8729-4380-b4cf-764d79934448",
    "5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0",
];

/// DPS /usr verity signature partition GUIDs, in [`ARCHES`] order.
const USR_VERITY_SIG: &[&str] = &[
    "e7bb33fb-06cf-4e81-8273-e543b413e2e2",
    "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0",
    "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a",
    "d7ff812f-37d1-4902-a810-d76ba57b975a",
    "d2f9000a-7a18-453f-b5cd-4d32f77a7b32",
    "c3836a13-3137-45ba-b583-b16c50fe5eb4",
    "b024f315-d330-444c-8461-44bbde524e99",
];

/// The DPS signature type that holds the root hash signature of a data
/// partition of type `data` (root-verity-sig for root, usr-verity-sig for
/// /usr, same architecture).
pub fn signature_counterpart(data: PartType) -> Option<PartType> {
    let PartType::Gpt(g) = data else {
        return None;
    };
    let s = g.to_string();
    let pairs = [(ROOT, ROOT_VERITY_SIG), (USR, USR_VERITY_SIG)];
    pairs.iter().find_map(|(data, sig)| {
        let i = data.iter().position(|d| *d == s)?;
        Some(PartType::Gpt(guid(sig[i])))
    })
}

/// True for the DPS types that hold a root hash signature.
pub fn is_signature_type(s: &str) -> bool {
    matches!(s.trim(), "root-verity-sig" | "usr-verity-sig")
}

/// True for the DPS types that hold a dm-verity hash tree.
pub fn is_verity_type(s: &str) -> bool {
    matches!(s.trim(), "root-verity" | "usr-verity")
}

/// The DPS verity type that holds the hash tree of a partition of type
/// `data`: root-verity for a root partition, usr-verity for a /usr one, of
/// the same architecture; `None` for any other type.
pub fn verity_counterpart(data: PartType) -> Option<PartType> {
    let PartType::Gpt(g) = data else {
        return None;
    };
    let s = g.to_string();
    let pairs = [(ROOT, ROOT_VERITY), (USR, USR_VERITY)];
    pairs.iter().find_map(|(data, hash)| {
        let i = data.iter().position(|d| *d == s)?;
        Some(PartType::Gpt(guid(hash[i])))
    })
}

/// MBR bytes that have a GPT counterpart, so `"0x83"` works on GPT too.
const MBR_TO_GPT: &[(u8, &str)] = &[
    (0x83, "linux"),
    (0x82, "swap"),
    (0xef, "esp"),
    (0xea, "xbootldr"),
    (0x0c, "msdata"),
    (0x0b, "msdata"),
    (0x07, "msdata"),
    (0x0e, "msdata"),
    (0x06, "msdata"),
];

fn guid(s: &str) -> Uuid {
    // The tables above are constants checked by a unit test.
    Uuid::parse_str(s).unwrap_or(Uuid::nil())
}

/// Every alias name, for error messages.
pub fn known_aliases() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ALIASES.iter().map(|a| a.name).collect();
    v.extend([
        "linux-root",
        "linux-usr",
        "root-verity",
        "usr-verity",
        "root-verity-sig",
        "usr-verity-sig",
    ]);
    v.sort_unstable();
    v
}

fn arch_index(arch: &str) -> Result<usize, PartError> {
    ARCHES
        .iter()
        .position(|a| *a == arch)
        .ok_or_else(|| PartError::UnknownArch {
            arch: arch.to_string(),
            known: ARCHES.join(", "),
        })
}

/// Resolves a spec `type` string for `table`: an alias, `"0xNN"`, or a GUID.
pub fn resolve_type(s: &str, table: PartitionTable, arch: &str) -> Result<PartType, PartError> {
    let t = s.trim();
    let gpt = table == PartitionTable::Gpt;
    let wrong_table = |why: &str| PartError::TypeNotForTable {
        type_spec: s.to_string(),
        table: table_name(table),
        why: why.to_string(),
    };
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let byte = u8::from_str_radix(hex, 16).map_err(|_| PartError::BadType {
            type_spec: s.to_string(),
        })?;
        if !gpt {
            return Ok(PartType::Mbr(byte));
        }
        let alias = MBR_TO_GPT
            .iter()
            .find(|(b, _)| *b == byte)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                wrong_table("this MBR type byte has no GPT type GUID; give an alias or a GUID")
            })?;
        return resolve_type(alias, table, arch);
    }
    if t.len() == 36 && t.chars().filter(|c| *c == '-').count() == 4 {
        let g = Uuid::parse_str(t).map_err(|_| PartError::BadType {
            type_spec: s.to_string(),
        })?;
        if !gpt {
            return Err(wrong_table(
                "a GPT type GUID needs partition_table = \"gpt\"",
            ));
        }
        return Ok(PartType::Gpt(g));
    }
    let (gpt_guid, mbr) = match t {
        "linux-root" => (ROOT[arch_index(arch)?], Some(0x83)),
        "linux-usr" => (USR[arch_index(arch)?], Some(0x83)),
        "root-verity" => (ROOT_VERITY[arch_index(arch)?], None),
        "usr-verity" => (USR_VERITY[arch_index(arch)?], None),
        "root-verity-sig" => (ROOT_VERITY_SIG[arch_index(arch)?], None),
        "usr-verity-sig" => (USR_VERITY_SIG[arch_index(arch)?], None),
        _ => {
            let a = ALIASES
                .iter()
                .find(|a| a.name == t)
                .ok_or_else(|| PartError::UnknownType {
                    type_spec: s.to_string(),
                    known: known_aliases().join(", "),
                })?;
            (a.gpt, a.mbr)
        }
    };
    if gpt {
        Ok(PartType::Gpt(guid(gpt_guid)))
    } else {
        mbr.map(PartType::Mbr)
            .ok_or_else(|| wrong_table("this type exists only on GPT"))
    }
}

/// The alias name of a type, for `info` output (first alias that maps to
/// it; architecture-specific root/usr names carry the architecture).
pub fn type_name(t: PartType) -> Option<String> {
    match t {
        PartType::Gpt(g) => {
            let s = g.to_string();
            if let Some(a) = ALIASES.iter().find(|a| a.gpt == s) {
                return Some(a.name.to_string());
            }
            for (i, arch) in ARCHES.iter().enumerate() {
                if ROOT.get(i) == Some(&s.as_str()) {
                    return Some(format!("linux-root ({arch})"));
                }
                if USR.get(i) == Some(&s.as_str()) {
                    return Some(format!("linux-usr ({arch})"));
                }
                if ROOT_VERITY.get(i) == Some(&s.as_str()) {
                    return Some(format!("root-verity ({arch})"));
                }
                if USR_VERITY.get(i) == Some(&s.as_str()) {
                    return Some(format!("usr-verity ({arch})"));
                }
                if ROOT_VERITY_SIG.get(i) == Some(&s.as_str()) {
                    return Some(format!("root-verity-sig ({arch})"));
                }
                if USR_VERITY_SIG.get(i) == Some(&s.as_str()) {
                    return Some(format!("usr-verity-sig ({arch})"));
                }
            }
            None
        }
        PartType::Mbr(b) => match b {
            0x83 => Some("linux".into()),
            0x82 => Some("swap".into()),
            0xef => Some("esp".into()),
            0xea => Some("xbootldr".into()),
            0x0c => Some("msdata".into()),
            0xee => Some("gpt-protective".into()),
            _ => None,
        },
    }
}

pub(crate) fn table_name(t: PartitionTable) -> &'static str {
    match t {
        PartitionTable::Gpt => "gpt",
        PartitionTable::Mbr => "mbr",
        PartitionTable::None => "none",
    }
}

/// GPT attribute bits by name: UEFI bits 0-2, DPS bits 59, 60 and 63.
pub const ATTRIBUTES: &[(&str, u32)] = &[
    ("required", 0),
    ("no-block-io-protocol", 1),
    ("legacy-bios-bootable", 2),
    ("grow-fs", 59),
    ("read-only", 60),
    ("no-auto", 63),
];

/// Turns the spec's attribute names (or number) into the 64-bit field.
pub fn parse_attributes(spec: &AttributesSpec) -> Result<u64, PartError> {
    match spec {
        AttributesSpec::Number(n) => Ok(*n),
        AttributesSpec::Names(names) => {
            let mut v = 0u64;
            for n in names {
                let bit = ATTRIBUTES
                    .iter()
                    .find(|(name, _)| name == n)
                    .map(|(_, b)| *b)
                    .ok_or_else(|| PartError::UnknownAttribute {
                        name: n.clone(),
                        known: ATTRIBUTES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                v |= 1u64 << bit;
            }
            Ok(v)
        }
    }
}

/// Names of the set attribute bits; unnamed bits as `bit-N`.
pub fn attribute_names(v: u64) -> Vec<String> {
    (0..64)
        .filter(|b| v & (1u64 << b) != 0)
        .map(|b| {
            ATTRIBUTES
                .iter()
                .find(|(_, bit)| *bit == b)
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| format!("bit-{b}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse() {
        for a in ALIASES {
            Uuid::parse_str(a.gpt).unwrap();
        }
        let all = [
            ROOT,
            USR,
            ROOT_VERITY,
            USR_VERITY,
            ROOT_VERITY_SIG,
            USR_VERITY_SIG,
        ];
        for g in all.iter().flat_map(|t| t.iter()) {
            Uuid::parse_str(g).unwrap();
        }
        assert_eq!(ROOT_VERITY_SIG.len(), ARCHES.len());
        assert_eq!(USR_VERITY_SIG.len(), ARCHES.len());
        // Every GUID is distinct.
        let mut seen: Vec<&str> = all.iter().flat_map(|t| t.iter().copied()).collect();
        seen.sort_unstable();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n);
        assert_eq!(ROOT_VERITY.len(), ARCHES.len());
        assert_eq!(USR_VERITY.len(), ARCHES.len());
        assert_eq!(ROOT.len(), ARCHES.len());
        assert_eq!(USR.len(), ARCHES.len());
    }

    #[test]
    fn resolves_aliases_bytes_and_guids() {
        let g = PartitionTable::Gpt;
        let m = PartitionTable::Mbr;
        assert_eq!(
            resolve_type("linux-root", g, "x86-64").unwrap(),
            PartType::Gpt(guid("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"))
        );
        assert_eq!(
            resolve_type("linux-root", g, "arm64").unwrap(),
            PartType::Gpt(guid("b921b045-1df0-41c3-af44-4c6f280d3fae"))
        );
        assert_eq!(
            resolve_type("esp", m, "x86-64").unwrap(),
            PartType::Mbr(0xef)
        );
        assert_eq!(
            resolve_type("0x83", m, "x86-64").unwrap(),
            PartType::Mbr(0x83)
        );
        assert_eq!(
            resolve_type("0x83", g, "x86-64").unwrap(),
            resolve_type("linux", g, "x86-64").unwrap()
        );
        assert!(resolve_type("bios-boot", m, "x86-64").is_err());
        assert_eq!(
            resolve_type("root-verity", g, "x86-64").unwrap(),
            PartType::Gpt(guid("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"))
        );
        assert_eq!(
            resolve_type("usr-verity", g, "arm64").unwrap(),
            PartType::Gpt(guid("6e11a4e7-fbca-4ded-b9e9-e1a512bb664e"))
        );
        assert!(resolve_type("root-verity", m, "x86-64").is_err());
        assert!(resolve_type("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", m, "x86-64").is_err());
        let e = resolve_type("lunix", g, "x86-64").unwrap_err().to_string();
        assert!(e.contains("esp") && e.contains("linux-root"), "{e}");
        assert!(resolve_type("0xzz", m, "x86-64").is_err());
        assert!(resolve_type("linux-root", g, "pdp11").is_err());
    }

    #[test]
    fn attributes_by_name_and_number() {
        let a = parse_attributes(&AttributesSpec::Names(vec![
            "required".into(),
            "no-auto".into(),
            "grow-fs".into(),
        ]))
        .unwrap();
        assert_eq!(a, 1 | (1 << 63) | (1 << 59));
        assert_eq!(parse_attributes(&AttributesSpec::Number(5)).unwrap(), 5);
        assert!(parse_attributes(&AttributesSpec::Names(vec!["fast".into()])).is_err());
        assert_eq!(attribute_names(1 << 60 | 1 << 40), ["bit-40", "read-only"]);
    }
}
