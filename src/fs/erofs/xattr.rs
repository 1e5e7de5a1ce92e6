//! Extended attributes: the per-inode body (`struct erofs_xattr_ibody_header`
//! followed by shared-xattr ids and inline `struct erofs_xattr_entry`s) and
//! the shared-xattr table that entries repeated across inodes live in once.
//!
//! An entry stores a name index for a well-known prefix (`user.`,
//! `trusted.`, `security.`, the two POSIX ACL names) plus the rest of the
//! name, then the value, padded to 4 bytes. A shared entry is referenced by
//! its offset from `xattr_blkaddr` in 4-byte units.

use super::bytes::{get_u16, put_u16, put_u32};
use std::collections::BTreeMap;

/// `sizeof(struct erofs_xattr_ibody_header)`.
pub const HEADER_SIZE: usize = 12;
/// `EROFS_MAX_SHARED_XATTRS`: references one inode may hold.
pub const MAX_SHARED_PER_INODE: usize = 128;

/// Name prefixes by index (`EROFS_XATTR_INDEX_*`). The ACL names are whole
/// names stored with an empty suffix.
const PREFIXES: [(u8, &str); 6] = [
    (2, "system.posix_acl_access"),
    (3, "system.posix_acl_default"),
    (1, "user."),
    (4, "trusted."),
    (5, "lustre."),
    (6, "security."),
];

/// Splits a full name into its prefix index and suffix; `None` for names
/// EROFS has no index for.
pub fn split_name(name: &str) -> Option<(u8, &[u8])> {
    for (idx, p) in PREFIXES {
        if let Some(rest) = name.strip_prefix(p) {
            let acl = idx == 2 || idx == 3;
            if acl && !rest.is_empty() {
                continue;
            }
            if !acl && rest.is_empty() {
                return None;
            }
            return Some((idx, rest.as_bytes()));
        }
    }
    None
}

/// The full name of an index and suffix; `None` for an unknown index.
pub fn join_name(index: u8, suffix: &[u8]) -> Option<String> {
    let (_, p) = PREFIXES.iter().find(|(i, _)| *i == index)?;
    Some(format!("{p}{}", String::from_utf8_lossy(suffix)))
}

/// Encoded size of one entry with this suffix and value (4-byte aligned).
pub fn entry_size(suffix_len: usize, value_len: usize) -> usize {
    (4 + suffix_len + value_len).next_multiple_of(4)
}

/// Appends one entry (name index, suffix, value, padding) to `out`.
pub fn encode_entry(out: &mut Vec<u8>, index: u8, suffix: &[u8], value: &[u8]) {
    let start = out.len();
    out.resize(start + 4, 0);
    out[start] = suffix.len() as u8;
    out[start + 1] = index;
    put_u16(&mut out[start..], 2, value.len() as u16);
    out.extend_from_slice(suffix);
    out.extend_from_slice(value);
    out.resize(start + entry_size(suffix.len(), value.len()), 0);
}

/// One decoded entry and the bytes it took.
pub struct Entry<'a> {
    pub index: u8,
    pub suffix: &'a [u8],
    pub value: &'a [u8],
    pub size: usize,
}

/// Decodes the entry at the start of `b`.
pub fn decode_entry(b: &[u8]) -> Option<Entry<'_>> {
    let name_len = usize::from(*b.first()?);
    let index = *b.get(1)?;
    let value_len = usize::from(get_u16(b, 2)?);
    let suffix = b.get(4..4 + name_len)?;
    let value = b.get(4 + name_len..4 + name_len + value_len)?;
    Some(Entry {
        index,
        suffix,
        value,
        size: entry_size(name_len, value_len),
    })
}

/// Size of an xattr body given `i_xattr_icount` (`erofs_xattr_ibody_size`).
pub fn body_size(icount: u16) -> usize {
    if icount == 0 {
        0
    } else {
        HEADER_SIZE + 4 * (usize::from(icount) - 1)
    }
}

/// `i_xattr_icount` for a body of `size` bytes (a multiple of 4, at least
/// the header), or 0 for no body.
pub fn icount_for(size: usize) -> Option<u16> {
    if size == 0 {
        return Some(0);
    }
    u16::try_from((size - HEADER_SIZE) / 4 + 1).ok()
}

/// The shared-xattr table: every (name, value) pair that more than one
/// inode carries, in name-then-value order, with its id.
#[derive(Debug, Default, Clone)]
pub struct SharedTable {
    /// (full name, value) → offset of the entry from the start of the
    /// table, in bytes.
    ids: BTreeMap<(String, Vec<u8>), u32>,
    /// Encoded entries, back to back.
    pub bytes: Vec<u8>,
}

impl SharedTable {
    /// Builds the table from every inode's xattrs: a pair goes in when at
    /// least two inodes carry it and a 4-byte reference is smaller than
    /// repeating the entry.
    pub fn build<'a>(lists: impl Iterator<Item = &'a [(String, Vec<u8>)]>) -> SharedTable {
        let mut count: BTreeMap<(&str, &[u8]), u32> = BTreeMap::new();
        for l in lists {
            for (n, v) in l {
                *count.entry((n.as_str(), v.as_slice())).or_default() += 1;
            }
        }
        let mut t = SharedTable::default();
        for ((n, v), c) in count {
            let Some((idx, suffix)) = split_name(n) else {
                continue;
            };
            if c < 2 || entry_size(suffix.len(), v.len()) <= 4 {
                continue;
            }
            t.ids
                .insert((n.to_string(), v.to_vec()), t.bytes.len() as u32);
            encode_entry(&mut t.bytes, idx, suffix, v);
        }
        t
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Byte offset of a shared pair inside the table.
    pub fn offset_of(&self, name: &str, value: &[u8]) -> Option<u32> {
        self.ids.get(&(name.to_string(), value.to_vec())).copied()
    }
}

/// How one inode's xattrs are stored: shared references (byte offsets in
/// the table) and inline entries, and the body's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub shared: Vec<u32>,
    /// Indexes into the inode's xattr list of the entries kept inline.
    pub inline: Vec<usize>,
    pub size: usize,
}

impl Body {
    /// Decides the body of an inode with these (already validated) xattrs.
    pub fn plan(xattrs: &[(String, Vec<u8>)], table: &SharedTable) -> Body {
        if xattrs.is_empty() {
            return Body::default();
        }
        let mut b = Body {
            size: HEADER_SIZE,
            ..Body::default()
        };
        for (i, (n, v)) in xattrs.iter().enumerate() {
            match table.offset_of(n, v) {
                Some(off) if b.shared.len() < MAX_SHARED_PER_INODE => {
                    b.shared.push(off);
                    b.size += 4;
                }
                _ => {
                    let (_, suffix) = split_name(n).unwrap_or((0, n.as_bytes()));
                    b.inline.push(i);
                    b.size += entry_size(suffix.len(), v.len());
                }
            }
        }
        b
    }

    /// Appends the body to `out`. `table_base` is the table's offset from
    /// `xattr_blkaddr`, in bytes (a multiple of 4).
    pub fn encode_into(&self, out: &mut Vec<u8>, xattrs: &[(String, Vec<u8>)], table_base: u32) {
        if self.size == 0 {
            return;
        }
        let start = out.len();
        out.resize(start + HEADER_SIZE, 0);
        out[start + 4] = self.shared.len() as u8;
        for off in &self.shared {
            let at = out.len();
            out.resize(at + 4, 0);
            put_u32(&mut out[at..], 0, (table_base + off) / 4);
        }
        for &i in &self.inline {
            let (n, v) = &xattrs[i];
            let (idx, suffix) = split_name(n).unwrap_or((0, n.as_bytes()));
            encode_entry(out, idx, suffix, v);
        }
        debug_assert_eq!(out.len() - start, self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_by_prefix() {
        assert_eq!(split_name("user.x"), Some((1, &b"x"[..])));
        assert_eq!(split_name("security.selinux"), Some((6, &b"selinux"[..])));
        assert_eq!(split_name("system.posix_acl_access"), Some((2, &b""[..])));
        assert_eq!(split_name("system.posix_acl_default"), Some((3, &b""[..])));
        assert_eq!(split_name("system.other"), None);
        assert_eq!(split_name("user."), None);
        assert_eq!(
            join_name(6, b"selinux").as_deref(),
            Some("security.selinux")
        );
    }

    #[test]
    fn entry_layout() {
        let mut v = Vec::new();
        encode_entry(&mut v, 1, b"x", b"1");
        assert_eq!(v, [1, 1, 1, 0, b'x', b'1', 0, 0]);
        let e = decode_entry(&v).unwrap();
        assert_eq!(
            (e.index, e.suffix, e.value, e.size),
            (1, &b"x"[..], &b"1"[..], 8)
        );
        assert!(decode_entry(&v[..5]).is_none());
        assert_eq!(body_size(3), 20);
        assert_eq!(icount_for(20), Some(3));
    }

    #[test]
    fn repeated_pairs_are_shared() {
        let a = vec![(
            "security.selinux".to_string(),
            b"system_u:object_r:x".to_vec(),
        )];
        let b = vec![
            (
                "security.selinux".to_string(),
                b"system_u:object_r:x".to_vec(),
            ),
            ("user.once".to_string(), b"v".to_vec()),
        ];
        let t = SharedTable::build([a.as_slice(), b.as_slice()].into_iter());
        assert_eq!(
            t.offset_of("security.selinux", b"system_u:object_r:x"),
            Some(0)
        );
        assert_eq!(t.offset_of("user.once", b"v"), None);
        let body = Body::plan(&b, &t);
        assert_eq!(body.shared, vec![0]);
        assert_eq!(body.inline, vec![1]);
        let mut out = Vec::new();
        body.encode_into(&mut out, &b, 1152);
        assert_eq!(out.len(), body.size);
        assert_eq!(out[4], 1);
        assert_eq!(&out[12..16], &(1152u32 / 4).to_le_bytes());
    }
}
