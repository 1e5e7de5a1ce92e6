//! `$UpCase`: the 64 Ki-entry table mapping each UTF-16 unit to its
//! upper-case form, and the file-name collation built on it.
//!
//! The table is generated from Unicode's simple upper-case mapping (a
//! code point whose upper case is one BMP character maps to it; every other
//! unit, surrogates included, maps to itself), which is how Windows derives
//! its own table. Directory indexes are sorted with this same table, and
//! the volume carries it, so readers that search the B+ tree with the
//! volume's `$UpCase` (ntfs-3g, ntfs3, Windows) find every name.

use std::cmp::Ordering;

/// Entries in the table (one per UTF-16 unit).
pub const LEN: usize = 0x10000;

/// The upper-case table.
pub fn table() -> Vec<u16> {
    (0..LEN as u32)
        .map(|u| {
            let Some(c) = char::from_u32(u) else {
                return u as u16;
            };
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(x), None) if (x as u32) < 0x10000 => x as u32 as u16,
                _ => u as u16,
            }
        })
        .collect()
}

/// The table as stored in the `$UpCase` data stream (little-endian units).
pub fn encode(table: &[u16]) -> Vec<u8> {
    table.iter().flat_map(|u| u.to_le_bytes()).collect()
}

fn upper(table: &[u16], u: u16) -> u16 {
    table.get(usize::from(u)).copied().unwrap_or(u)
}

/// True when the two names are the same name to a case-insensitive reader.
pub fn eq_ignore_case(table: &[u16], a: &[u16], b: &[u16]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| upper(table, x) == upper(table, y))
}

/// `COLLATION_FILE_NAME` order: the upper-cased units compared in order (a
/// prefix first), then, for names equal but for case, the raw units. The
/// tie-break keeps POSIX-namespace names that differ only in case in one
/// well-defined order, the one ntfs-3g's lookup expects.
pub fn collate(table: &[u16], a: &[u16], b: &[u16]) -> Ordering {
    let ua = a.iter().map(|&x| upper(table, x));
    let ub = b.iter().map(|&x| upper(table, x));
    ua.cmp(ub).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn table_maps_ascii_latin_greek_and_keeps_the_rest() {
        let t = table();
        assert_eq!(t.len(), LEN);
        assert_eq!(t[usize::from(b'a')], u16::from(b'A'));
        assert_eq!(t[usize::from(b'A')], u16::from(b'A'));
        assert_eq!(t[0xe9], 0xc9); // é
        assert_eq!(t[0xff], 0x178); // ÿ
        assert_eq!(t[0x3b1], 0x391); // α
        assert_eq!(t[0xdf], 0xdf); // ß has no one-character upper case
        assert_eq!(t[0xd800], 0xd800);
        assert_eq!(encode(&t).len(), 2 * LEN);
    }

    #[test]
    fn collation_is_case_insensitive_first() {
        let t = table();
        let mut names = ["b", "A", "a", "_x", "B", "ab", "Z"].map(w).to_vec();
        names.sort_by(|a, b| collate(&t, a, b));
        let back: Vec<String> = names
            .iter()
            .map(|n| String::from_utf16(n).unwrap())
            .collect();
        // '_' (0x5f) sorts after the upper-case letters.
        assert_eq!(back, ["A", "a", "ab", "B", "b", "Z", "_x"]);
        assert!(eq_ignore_case(&t, &w("Straße"), &w("STRAßE")));
        assert!(!eq_ignore_case(&t, &w("a"), &w("ab")));
    }
}
