//! Names: what FAT can hold, VFAT long-name (LFN) slots and their checksum,
//! and 8.3 aliases (Microsoft FAT specification, "FAT Long Directory
//! Entries" and "Short name generation").
//!
//! Aliases depend only on the sorted directory: names that already are valid
//! 8.3 names claim their short names first, then the other names get
//! aliases in sorted order, each taking the first free candidate.

use std::collections::BTreeSet;

/// NT "lowercase base" flag in `DIR_NTRes`.
pub const CASE_LOWER_BASE: u8 = 0x08;
/// NT "lowercase extension" flag in `DIR_NTRes`.
pub const CASE_LOWER_EXT: u8 = 0x10;

/// Characters a name may never contain (besides controls).
const FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];
/// Punctuation allowed in short names besides A-Z and 0-9.
const SHORT_SPECIAL: &[u8] = b"!#$%&'()-@^_`{}~";

/// Most UTF-16 units in a long name.
pub const MAX_LONG_NAME: usize = 255;
/// UTF-16 units per LFN slot.
const UNITS_PER_SLOT: usize = 13;

fn is_short_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || SHORT_SPECIAL.contains(&c)
}

/// Checks that FAT can hold `name`; returns the reason when it cannot.
pub fn validate(name: &[u8]) -> Result<&str, String> {
    let s = std::str::from_utf8(name).map_err(|_| "is not valid UTF-8".to_string())?;
    if s.is_empty() || s == "." || s == ".." {
        return Err("is empty or a reserved name".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| FORBIDDEN.contains(c) || (*c as u32) < 0x20)
    {
        return Err(format!("contains {c:?}, which FAT cannot store"));
    }
    if s.ends_with('.') || s.ends_with(' ') {
        return Err("ends with a dot or a space, which FAT drops".into());
    }
    if s.encode_utf16().count() > MAX_LONG_NAME {
        return Err(format!("is longer than {MAX_LONG_NAME} UTF-16 units"));
    }
    Ok(s)
}

/// The key under which FAT compares names: case-insensitive, one
/// character to one (like Windows' upcase table, characters without a
/// single-character capital, such as `ß`, stay as they are).
pub fn fold_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// A short (8.3) directory name as stored: base padded to 8, extension to 3.
pub type ShortName = [u8; 11];

/// When `name` is itself a valid 8.3 name in one case per part, its short
/// name and NT case flags. Such names need no long-name slots.
pub fn exact_short(name: &str) -> Option<(ShortName, u8)> {
    let b = name.as_bytes();
    let (base, ext) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 || ext.contains(&b'.') {
        return None;
    }
    if b.contains(&b'.') && ext.is_empty() {
        return None;
    }
    let mut out = [b' '; 11];
    let mut flags = 0;
    let (out_base, out_ext) = out.split_at_mut(8);
    for (part, dst, flag) in [
        (base, out_base, CASE_LOWER_BASE),
        (ext, out_ext, CASE_LOWER_EXT),
    ] {
        let lower = part.iter().any(u8::is_ascii_lowercase);
        let upper = part.iter().any(u8::is_ascii_uppercase);
        if lower && upper {
            return None;
        }
        for (d, &c) in dst.iter_mut().zip(part) {
            let u = c.to_ascii_uppercase();
            if !is_short_char(u) {
                return None;
            }
            *d = u;
        }
        if lower {
            flags |= flag;
        }
    }
    // 0xE5 marks a deleted entry; cannot occur here (ASCII only).
    Some((out, flags))
}

/// The basis name of the alias algorithm: upper-cased, invalid characters
/// replaced by `_`, spaces and extra dots dropped. Returns base, extension
/// and whether anything was lost or cut.
fn basis(name: &str) -> (Vec<u8>, Vec<u8>, bool) {
    let mut lossy = false;
    let trimmed = name.trim_start_matches('.');
    if trimmed.len() != name.len() {
        lossy = true;
    }
    let (base_s, ext_s) = match trimmed.rfind('.') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (trimmed, ""),
    };
    let mut conv = |s: &str, max: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for c in s.chars() {
            if c == ' ' || c == '.' {
                lossy = true;
                continue;
            }
            let u = if c.is_ascii() {
                c.to_ascii_uppercase() as u8
            } else {
                0
            };
            let u = if is_short_char(u) {
                u
            } else {
                lossy = true;
                b'_'
            };
            if out.len() == max {
                lossy = true;
                break;
            }
            out.push(u);
        }
        out
    };
    let mut base = conv(base_s, 8);
    let ext = conv(ext_s, 3);
    if base.is_empty() {
        base.push(b'_');
        lossy = true;
    }
    (base, ext, lossy)
}

fn pack(base: &[u8], ext: &[u8]) -> ShortName {
    let mut out = [b' '; 11];
    out[..base.len().min(8)].copy_from_slice(&base[..base.len().min(8)]);
    out[8..8 + ext.len().min(3)].copy_from_slice(&ext[..ext.len().min(3)]);
    out
}

/// A 16-bit hash of the long name for the hashed alias form (`AB12CD~1`),
/// FNV-1a over the UTF-16 units folded to 16 bits. Windows' own hash is
/// undocumented; only the shape matches.
fn name_hash(name: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for u in name.encode_utf16() {
        for b in u.to_le_bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    ((h >> 16) ^ (h & 0xffff)) as u16
}

/// Picks the alias for a name that needs long-name slots, avoiding `used`
/// (and inserting the result there). `~1`..`~4` keep up to six basis
/// characters; from the fifth collision on, the form is two basis
/// characters, four hex digits of the name's hash and `~n`.
pub fn alias(name: &str, used: &mut BTreeSet<ShortName>) -> ShortName {
    let (base, ext, lossy) = basis(name);
    let plain = pack(&base, &ext);
    if !lossy && !used.contains(&plain) {
        used.insert(plain);
        return plain;
    }
    for n in 1..=4u32 {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        let mut b = base[..keep].to_vec();
        b.extend_from_slice(tail.as_bytes());
        let cand = pack(&b, &ext);
        if used.insert(cand) {
            return cand;
        }
    }
    let hash = format!("{:04X}", name_hash(name));
    let mut stem = base[..base.len().min(2)].to_vec();
    stem.extend_from_slice(hash.as_bytes());
    // A directory holds at most 65536 entries, so a free candidate exists
    // well before the tail grows past 6 digits.
    for n in 1u32.. {
        let tail = format!("~{n}");
        let keep = stem.len().min(8 - tail.len().min(7));
        let mut b = stem[..keep].to_vec();
        b.extend_from_slice(tail.as_bytes());
        let cand = pack(&b, &ext);
        if used.insert(cand) {
            return cand;
        }
    }
    unreachable!("the alias space is larger than any directory")
}

/// The checksum of a short name stored in every LFN slot of its long name.
pub fn lfn_checksum(short: &ShortName) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Number of LFN slots for a long name of `units` UTF-16 units.
pub fn slot_count(units: usize) -> usize {
    units.div_ceil(UNITS_PER_SLOT)
}

/// The LFN slots of `name`, in on-disk order (highest ordinal first, marked
/// with 0x40), each 32 bytes.
pub fn lfn_slots(name: &[u16], checksum: u8) -> Vec<[u8; 32]> {
    let n = slot_count(name.len());
    let mut out = Vec::with_capacity(n);
    for ord in (1..=n).rev() {
        let mut e = [0u8; 32];
        // LDIR_Ord (0): sequence number, 0x40 on the last slot.
        e[0] = ord as u8 | if ord == n { 0x40 } else { 0 };
        // LDIR_Attr (11): ATTR_LONG_NAME; LDIR_Type (12) = 0;
        // LDIR_Chksum (13); LDIR_FstClusLO (26) = 0.
        e[11] = 0x0f;
        e[13] = checksum;
        let start = (ord - 1) * UNITS_PER_SLOT;
        // Characters 1-5 at 1, 6-11 at 14, 12-13 at 28.
        const POS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (k, &pos) in POS.iter().enumerate() {
            let i = start + k;
            // After the name: one NUL terminator, then 0xFFFF padding.
            let unit = match i.cmp(&name.len()) {
                std::cmp::Ordering::Less => name[i],
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 0xffff,
            };
            e[pos..pos + 2].copy_from_slice(&unit.to_le_bytes());
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> ShortName {
        let mut out = [b' '; 11];
        out.copy_from_slice(x.as_bytes());
        out
    }

    #[test]
    fn exact_short_names_and_case_bits() {
        assert_eq!(exact_short("README.TXT"), Some((s("README  TXT"), 0)));
        assert_eq!(
            exact_short("readme.txt"),
            Some((s("README  TXT"), CASE_LOWER_BASE | CASE_LOWER_EXT))
        );
        assert_eq!(
            exact_short("README.txt"),
            Some((s("README  TXT"), CASE_LOWER_EXT))
        );
        assert_eq!(exact_short("ReadMe.txt"), None);
        assert_eq!(exact_short("a.b.c"), None);
        assert_eq!(exact_short(".hidden"), None);
        assert_eq!(exact_short("longname9"), None);
        assert_eq!(exact_short("a+b"), None);
        assert_eq!(exact_short("x y"), None);
    }

    #[test]
    fn aliases_follow_windows_shape() {
        let mut used = BTreeSet::new();
        assert_eq!(alias("ReadMe.txt", &mut used), s("README  TXT"));
        assert_eq!(alias("readme.TXT", &mut used), s("README~1TXT"));
        assert_eq!(alias("longname.text", &mut used), s("LONGNA~1TEX"));
        assert_eq!(alias("longname.texts", &mut used), s("LONGNA~2TEX"));
        assert_eq!(alias("longnameX.texts", &mut used), s("LONGNA~3TEX"));
        assert_eq!(alias("longnameY.texts", &mut used), s("LONGNA~4TEX"));
        let h = alias("longnameZ.texts", &mut used);
        assert_eq!(&h[..2], b"LO");
        assert!(h[2..6].iter().all(u8::is_ascii_hexdigit));
        assert_eq!(&h[6..], b"~1TEX");
        assert_eq!(alias("über große.txt", &mut used), s("_BERGR~1TXT"));
        assert_eq!(alias(".bashrc", &mut used), s("BASHRC~1   "));
    }

    #[test]
    fn checksum_matches_spec_algorithm() {
        // Reference value computed by hand from the spec's loop.
        let mut sum = 0u8;
        for &b in b"LONGNA~1TEX" {
            sum = (if sum & 1 != 0 { 0x80u8 } else { 0 })
                .wrapping_add(sum >> 1)
                .wrapping_add(b);
        }
        assert_eq!(lfn_checksum(&s("LONGNA~1TEX")), sum);
    }

    #[test]
    fn slots_pad_after_terminator() {
        let name: Vec<u16> = "abcdefghijklmn".encode_utf16().collect();
        let slots = lfn_slots(&name, 7);
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0][0], 0x42);
        assert_eq!(slots[1][0], 0x01);
        // Slot 2 holds "n", NUL, then 0xFFFF.
        assert_eq!(&slots[0][1..7], &[b'n', 0, 0, 0, 0xff, 0xff]);
        assert_eq!(slots[1][13], 7);
        assert_eq!(slots[1][11], 0x0f);
    }

    #[test]
    fn names_beyond_the_bmp_are_surrogate_pairs() {
        let name: Vec<u16> = "🦀".encode_utf16().collect();
        let slots = lfn_slots(&name, 0);
        assert_eq!(&slots[0][1..7], &[0x3e, 0xd8, 0x80, 0xdd, 0, 0]);
    }

    #[test]
    fn forbidden_names() {
        for bad in ["a:b", "x?", "dot.", "sp ", "a\\b", "", "..", "c\u{1}"] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(validate(&[0xff, 0x41]).is_err());
        assert!(validate("ünï cødé.txt".as_bytes()).is_ok());
    }
}
