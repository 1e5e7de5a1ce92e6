//! POSIX ACLs: the xattr format that `getxattr` returns and trees carry,
//! and the ext2/3/4 on-disk format the kernel expects in
//! `system.posix_acl_access` / `system.posix_acl_default` (e_name_index 2
//! and 3). Writing the first where the second belongs makes the kernel and
//! `debugfs ea_get` reject the value with EINVAL.
//!
//! xattr format (include/uapi/linux/posix_acl_xattr.h):
//!   0x0 `a_version` u32 = 2, then 8-byte entries:
//!   0x0 `e_tag` u16, 0x2 `e_perm` u16, 0x4 `e_id` u32 (-1 unless USER/GROUP)
//!
//! On-disk format (fs/ext4/acl.h):
//!   0x0 `a_version` u32 = 1, then entries in the same order:
//!   USER and GROUP: `e_tag` u16, `e_perm` u16, `e_id` u32 (8 bytes);
//!   USER_OBJ, GROUP_OBJ, MASK, OTHER: `e_tag` u16, `e_perm` u16 (4 bytes).
//!
//! All fields little-endian.

use crate::bytes::{le_u16, le_u32};

const XATTR_VERSION: u32 = 2;
const DISK_VERSION: u32 = 1;

const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// `e_id` of entries that name no user or group.
const UNDEFINED_ID: u32 = u32::MAX;

/// True for the xattr names whose values are POSIX ACLs.
pub(super) fn is_acl(name: &str) -> bool {
    name == "system.posix_acl_access" || name == "system.posix_acl_default"
}

/// One ACL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

fn has_id(tag: u16) -> Result<bool, String> {
    match tag {
        USER | GROUP => Ok(true),
        USER_OBJ | GROUP_OBJ | MASK | OTHER => Ok(false),
        t => Err(format!("unknown ACL entry tag {t:#x}")),
    }
}

/// Checks what the kernel's `posix_acl_valid` checks: each of USER_OBJ,
/// GROUP_OBJ and OTHER once, entries in tag order (USER and GROUP by
/// ascending id), at most one MASK, and a MASK when USER or GROUP entries
/// exist.
fn validate(entries: &[Entry]) -> Result<(), String> {
    let mut prev: Option<(u16, u32)> = None;
    let mut named = false;
    for e in entries {
        let key = (e.tag, if has_id(e.tag)? { e.id } else { 0 });
        if prev.is_some_and(|p| p >= key) {
            return Err("ACL entries are out of order or repeated".into());
        }
        if e.perm & !7 != 0 {
            return Err(format!("ACL permission {:#o} is more than rwx", e.perm));
        }
        named |= has_id(e.tag)?;
        prev = Some(key);
    }
    let count = |t: u16| entries.iter().filter(|e| e.tag == t).count();
    if count(USER_OBJ) != 1 || count(GROUP_OBJ) != 1 || count(OTHER) != 1 {
        return Err("an ACL needs exactly one owner, owning-group and other entry".into());
    }
    if named && count(MASK) != 1 {
        return Err("an ACL with named users or groups needs a mask entry".into());
    }
    Ok(())
}

/// Converts a value in the xattr format to the on-disk format.
pub(super) fn to_disk(xattr: &[u8]) -> Result<Vec<u8>, String> {
    let version = le_u32(xattr, 0).ok_or("a POSIX ACL value is at least 4 bytes")?;
    if version != XATTR_VERSION {
        return Err(format!(
            "POSIX ACL version {version}, expected {XATTR_VERSION} (the getxattr format)"
        ));
    }
    let body = &xattr[4..];
    if body.len() % 8 != 0 {
        return Err(format!(
            "POSIX ACL of {} bytes: entries are 8 bytes each after a 4-byte header",
            xattr.len()
        ));
    }
    let entries: Vec<Entry> = body
        .chunks_exact(8)
        .map(|c| Entry {
            tag: u16::from_le_bytes([c[0], c[1]]),
            perm: u16::from_le_bytes([c[2], c[3]]),
            id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    validate(&entries)?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend(DISK_VERSION.to_le_bytes());
    for e in &entries {
        out.extend(e.tag.to_le_bytes());
        out.extend(e.perm.to_le_bytes());
        if has_id(e.tag)? {
            out.extend(e.id.to_le_bytes());
        }
    }
    Ok(out)
}

/// Converts an on-disk value back to the xattr format.
pub(super) fn from_disk(disk: &[u8]) -> Result<Vec<u8>, String> {
    let version = le_u32(disk, 0).ok_or("ACL value shorter than its header")?;
    if version != DISK_VERSION {
        return Err(format!(
            "on-disk ACL version {version}, expected {DISK_VERSION}"
        ));
    }
    let mut out = Vec::with_capacity(disk.len() * 2);
    out.extend(XATTR_VERSION.to_le_bytes());
    let mut at = 4usize;
    while at < disk.len() {
        let tag = le_u16(disk, at).ok_or("truncated ACL entry")?;
        let perm = le_u16(disk, at + 2).ok_or("truncated ACL entry")?;
        let id = if has_id(tag)? {
            let id = le_u32(disk, at + 4).ok_or("truncated ACL entry")?;
            at += 8;
            id
        } else {
            at += 4;
            UNDEFINED_ID
        };
        out.extend(tag.to_le_bytes());
        out.extend(perm.to_le_bytes());
        out.extend(id.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xattr(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = XATTR_VERSION.to_le_bytes().to_vec();
        for (t, p, i) in entries {
            v.extend(t.to_le_bytes());
            v.extend(p.to_le_bytes());
            v.extend(i.to_le_bytes());
        }
        v
    }

    #[test]
    fn round_trip_with_short_and_long_entries() {
        // user::rw- user:1000:r-- group::r-- mask::r-- other::---
        let x = xattr(&[
            (USER_OBJ, 6, UNDEFINED_ID),
            (USER, 4, 1000),
            (GROUP_OBJ, 4, UNDEFINED_ID),
            (MASK, 4, UNDEFINED_ID),
            (OTHER, 0, UNDEFINED_ID),
        ]);
        let d = to_disk(&x).unwrap();
        assert_eq!(d.len(), 4 + 4 + 8 + 4 + 4 + 4);
        assert_eq!(&d[..4], &[1, 0, 0, 0]);
        assert_eq!(&d[8..16], &[2, 0, 4, 0, 0xE8, 3, 0, 0]);
        assert_eq!(from_disk(&d).unwrap(), x);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(to_disk(b"").is_err());
        assert!(to_disk(&1u32.to_le_bytes()).is_err());
        assert!(to_disk(&xattr(&[(0x40, 7, 0)])).is_err());
        // Missing OTHER; out of order; named user without a mask.
        assert!(to_disk(&xattr(&[(USER_OBJ, 6, 0), (GROUP_OBJ, 4, 0)])).is_err());
        assert!(to_disk(&xattr(&[
            (GROUP_OBJ, 4, 0),
            (USER_OBJ, 6, 0),
            (OTHER, 0, 0)
        ]))
        .is_err());
        assert!(to_disk(&xattr(&[
            (USER_OBJ, 6, 0),
            (USER, 4, 5),
            (GROUP_OBJ, 4, 0),
            (OTHER, 0, 0)
        ]))
        .is_err());
        let mut x = xattr(&[(USER_OBJ, 6, 0), (GROUP_OBJ, 4, 0), (OTHER, 0, 0)]);
        x.push(0);
        assert!(to_disk(&x).is_err());
        for n in 0..12 {
            let _ = from_disk(&[1, 0, 0, 0, 2, 0, 4, 0, 1, 2, 3, 4][..n]);
        }
        assert!(from_disk(&[1, 0, 0, 0, 2, 0, 4]).is_err());
    }
}
