//! `$AttrDef`: the attribute definition table (Linux-NTFS "Files -
//! $AttrDef"). 160-byte entries: the name (0x00, 64 UTF-16 units), type
//! (0x80), display rule (0x84), collation rule (0x88), flags (0x8C),
//! minimum and maximum size (0x90, 0x98); a zero entry ends the table.

use super::attr::kind;

/// Flag: the attribute may be indexed (`$FILE_NAME`).
const INDEXABLE: u32 = 0x02;
/// Flag: the attribute must be resident.
const RESIDENT: u32 = 0x40;
/// Flag: changes are always logged (may be non-resident).
const LOG_NONRESIDENT: u32 = 0x80;

const ENTRY: usize = 160;

/// (name, type, flags, min size, max size; -1 = unbounded), the NTFS 3.1
/// set.
const TABLE: &[(&str, u32, u32, i64, i64)] = &[
    (
        "$STANDARD_INFORMATION",
        kind::STANDARD_INFORMATION,
        RESIDENT,
        0x30,
        0x48,
    ),
    (
        "$ATTRIBUTE_LIST",
        kind::ATTRIBUTE_LIST,
        LOG_NONRESIDENT,
        0,
        -1,
    ),
    (
        "$FILE_NAME",
        kind::FILE_NAME,
        RESIDENT | INDEXABLE,
        0x44,
        0x242,
    ),
    ("$OBJECT_ID", kind::OBJECT_ID, RESIDENT, 0, 0x100),
    (
        "$SECURITY_DESCRIPTOR",
        kind::SECURITY_DESCRIPTOR,
        LOG_NONRESIDENT,
        0,
        -1,
    ),
    ("$VOLUME_NAME", kind::VOLUME_NAME, RESIDENT, 2, 0x100),
    (
        "$VOLUME_INFORMATION",
        kind::VOLUME_INFORMATION,
        RESIDENT,
        0xc,
        0xc,
    ),
    ("$DATA", kind::DATA, 0, 0, -1),
    ("$INDEX_ROOT", kind::INDEX_ROOT, RESIDENT, 0, -1),
    (
        "$INDEX_ALLOCATION",
        kind::INDEX_ALLOCATION,
        LOG_NONRESIDENT,
        0,
        -1,
    ),
    ("$BITMAP", kind::BITMAP, LOG_NONRESIDENT, 0, -1),
    (
        "$REPARSE_POINT",
        kind::REPARSE_POINT,
        LOG_NONRESIDENT,
        0,
        0x4000,
    ),
    ("$EA_INFORMATION", kind::EA_INFORMATION, RESIDENT, 8, 8),
    ("$EA", kind::EA, 0, 0, 0x10000),
    (
        "$LOGGED_UTILITY_STREAM",
        kind::LOGGED_UTILITY_STREAM,
        LOG_NONRESIDENT,
        0,
        0x10000,
    ),
];

/// The table's bytes (16 entries, the last one zero: 2560 bytes).
pub fn encode() -> Vec<u8> {
    let mut out = vec![0u8; (TABLE.len() + 1) * ENTRY];
    for (i, (name, typ, flags, min, max)) in TABLE.iter().enumerate() {
        let e = &mut out[i * ENTRY..(i + 1) * ENTRY];
        for (j, u) in name.encode_utf16().enumerate() {
            e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
        }
        e[0x80..0x84].copy_from_slice(&typ.to_le_bytes());
        e[0x8c..0x90].copy_from_slice(&flags.to_le_bytes());
        e[0x90..0x98].copy_from_slice(&min.to_le_bytes());
        e[0x98..0xa0].copy_from_slice(&max.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_size_and_an_entry() {
        let t = super::encode();
        assert_eq!(t.len(), 2560);
        let fname = &t[2 * 160..3 * 160];
        assert_eq!(&fname[0..4], &[b'$', 0, b'F', 0]);
        assert_eq!(&fname[0x80..0x84], &0x30u32.to_le_bytes());
        assert_eq!(&fname[0x8c..0x90], &0x42u32.to_le_bytes());
        assert_eq!(&fname[0x98..0xa0], &0x242i64.to_le_bytes());
        assert!(t[15 * 160..].iter().all(|&b| b == 0));
    }
}
