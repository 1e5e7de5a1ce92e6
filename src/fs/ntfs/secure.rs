//! `$Secure` (record 9): the shared security descriptors of NTFS 3.x
//! (Linux-NTFS "Files - $Secure").
//!
//! `$SDS` holds each descriptor behind a 20-byte header (hash 0x00,
//! security ID 0x04, offset in `$SDS` 0x08, length 0x10), 16-byte aligned,
//! and the whole 256 KiB block is mirrored right after itself. `$SII`
//! indexes the headers by security ID, `$SDH` by (hash, ID).
//!
//! Every file of an fstool volume shares one descriptor: owner and group
//! Administrators, and a DACL granting Everyone full control, inherited by
//! files and directories. Windows therefore lets any user read and write
//! the volume, as with a FAT stick, and Linux drivers map it to the
//! mount's owner and mask.

use super::index::Entry;

/// The one security ID in use; IDs start at 0x100.
pub const SECURITY_ID: u32 = 0x100;

/// Size of each `$SDS` block; its mirror follows it.
pub const SDS_BLOCK: u64 = 0x40000;

const HEADER: usize = 20;

/// Adds a SID with the given authority and sub-authorities.
fn sid(out: &mut Vec<u8>, authority: u8, subs: &[u32]) {
    out.push(1); // revision
    out.push(subs.len() as u8);
    out.extend_from_slice(&[0, 0, 0, 0, 0, authority]);
    for s in subs {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// The self-relative descriptor: header (revision 0x00, control 0x02,
/// owner 0x04, group 0x08, SACL 0x0C, DACL 0x10), then the DACL, owner and
/// group.
pub fn descriptor() -> Vec<u8> {
    // DACL: one ACCESS_ALLOWED ACE, object + container inherit, mask
    // FILE_ALL_ACCESS, for S-1-1-0 (Everyone).
    let mut ace = vec![0u8, 0x03, 20, 0];
    ace.extend_from_slice(&0x001f_01ffu32.to_le_bytes());
    sid(&mut ace, 1, &[0]);
    let mut acl = vec![2u8, 0];
    acl.extend_from_slice(&((8 + ace.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&1u16.to_le_bytes());
    acl.extend_from_slice(&0u16.to_le_bytes());
    acl.extend_from_slice(&ace);
    let mut admins = Vec::new();
    sid(&mut admins, 5, &[32, 544]);
    let dacl_off = 20u32;
    let owner_off = dacl_off + acl.len() as u32;
    let group_off = owner_off + admins.len() as u32;
    let mut sd = vec![1u8, 0];
    // SE_SELF_RELATIVE | SE_DACL_PRESENT
    sd.extend_from_slice(&0x8004u16.to_le_bytes());
    sd.extend_from_slice(&owner_off.to_le_bytes());
    sd.extend_from_slice(&group_off.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes());
    sd.extend_from_slice(&dacl_off.to_le_bytes());
    sd.extend_from_slice(&acl);
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&admins);
    sd
}

/// The `$SDH` hash: over the descriptor's little-endian 32-bit words,
/// `hash = word + rotate_left(hash, 3)`.
pub fn hash(sd: &[u8]) -> u32 {
    sd.chunks_exact(4).fold(0u32, |h, w| {
        u32::from_le_bytes([w[0], w[1], w[2], w[3]]).wrapping_add(h.rotate_left(3))
    })
}

fn header(sd: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(&hash(sd).to_le_bytes());
    h.extend_from_slice(&SECURITY_ID.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    h.extend_from_slice(&((HEADER + sd.len()) as u32).to_le_bytes());
    h
}

/// The `$SDS` stream's bytes: the entry, then its mirror at 256 KiB.
pub fn sds() -> Vec<u8> {
    let sd = descriptor();
    let mut entry = header(&sd);
    entry.extend_from_slice(&sd);
    let mut out = vec![0u8; SDS_BLOCK as usize + entry.len()];
    out[..entry.len()].copy_from_slice(&entry);
    out[SDS_BLOCK as usize..].copy_from_slice(&entry);
    out
}

/// The `$SII` entry (key: the security ID).
pub fn sii_entry() -> Entry {
    let sd = descriptor();
    Entry::view(SECURITY_ID.to_le_bytes().to_vec(), header(&sd))
}

/// The `$SDH` entry (key: hash, security ID), padded with "II" as Windows
/// pads it.
pub fn sdh_entry() -> Entry {
    let sd = descriptor();
    let mut key = hash(&sd).to_le_bytes().to_vec();
    key.extend_from_slice(&SECURITY_ID.to_le_bytes());
    let mut e = Entry::view(key, header(&sd));
    e.tail = vec![b'I', 0, b'I', 0];
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_layout() {
        let sd = descriptor();
        assert_eq!(sd.len(), 0x50);
        assert_eq!(&sd[0x10..0x14], &20u32.to_le_bytes());
        // The DACL: revision 2, size 28, one ACE.
        assert_eq!(&sd[20..24], &[2, 0, 28, 0]);
        // Owner S-1-5-32-544.
        assert_eq!(&sd[0x30..0x38], &[1, 2, 0, 0, 0, 0, 0, 5]);
        assert_eq!(sds().len(), 0x40000 + 100);
    }

    #[test]
    fn hash_rotates() {
        assert_eq!(hash(&[1, 0, 0, 0, 1, 0, 0, 0]), 9);
        assert_eq!(hash(&[0, 0, 0, 0x80, 0, 0, 0, 0]), 4);
        assert_eq!(sdh_entry().size(false), 0x30);
        assert_eq!(sii_entry().size(false), 0x28);
    }
}
