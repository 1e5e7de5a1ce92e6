//! Reparse points (`$REPARSE_POINT`, type 0xC0) for symbolic links, and
//! their entries in `$Extend/$Reparse:$R`.
//!
//! A symlink's value: tag `IO_REPARSE_TAG_SYMLINK` (0x00), data length
//! (0x04), then substitute-name offset and length, print-name offset and
//! length (0x08-0x0F, relative to the path buffer), flags (0x10: 1 =
//! relative) and the UTF-16 path buffer (0x14). Targets are stored with
//! `\` separators, as Windows writes them; readers turn them back into `/`.

use super::index::Entry;

/// `IO_REPARSE_TAG_SYMLINK`.
pub const TAG_SYMLINK: u32 = 0xa000_000c;
/// `IO_REPARSE_TAG_LX_SYMLINK`: a WSL symlink, the target kept verbatim
/// as UTF-8 after a 4-byte version (2).
pub const TAG_LX_SYMLINK: u32 = 0xa000_001d;
/// Symlink flag: the target is relative to the link's directory.
const RELATIVE: u32 = 1;

/// The UTF-16 form of a Unix target with `\` separators.
pub fn target_units(target: &str) -> Vec<u16> {
    target
        .encode_utf16()
        .map(|u| {
            if u == u16::from(b'/') {
                u16::from(b'\\')
            } else {
                u
            }
        })
        .collect()
}

/// The reparse point value of a symlink to `target`, and its tag.
///
/// A relative target that names an existing entry of the tree
/// (`native`) is an `IO_REPARSE_TAG_SYMLINK` link, which Windows follows
/// natively. Any other target is stored as a WSL symlink, whose target
/// WSL, ntfs-3g and ntfs3 read back unchanged: an absolute Unix target has
/// no faithful Windows form (`\\??\\C:\\...` names a drive letter the
/// image cannot know, and ntfs-3g rewrites such links against its mount
/// point), and ntfs-3g refuses native links whose target it cannot find.
pub fn symlink(target: &str, native: bool) -> (u32, Vec<u8>) {
    if !native {
        let mut v = Vec::with_capacity(12 + target.len());
        v.extend_from_slice(&TAG_LX_SYMLINK.to_le_bytes());
        v.extend_from_slice(&((4 + target.len()) as u16).to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend_from_slice(target.as_bytes());
        return (TAG_LX_SYMLINK, v);
    }
    (TAG_SYMLINK, native_symlink(target))
}

fn native_symlink(target: &str) -> Vec<u8> {
    let units = target_units(target);
    let bytes = 2 * units.len();
    let mut v = Vec::with_capacity(20 + 2 * bytes);
    v.extend_from_slice(&TAG_SYMLINK.to_le_bytes());
    v.extend_from_slice(&((12 + 2 * bytes) as u16).to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    // Substitute name first, print name after it; both the same path.
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(bytes as u16).to_le_bytes());
    v.extend_from_slice(&(bytes as u16).to_le_bytes());
    v.extend_from_slice(&(bytes as u16).to_le_bytes());
    v.extend_from_slice(&RELATIVE.to_le_bytes());
    for _ in 0..2 {
        for u in &units {
            v.extend_from_slice(&u.to_le_bytes());
        }
    }
    v
}

/// The `$R` index entry of a reparse point in record `mref`: key (tag,
/// file reference), no data.
pub fn index_entry(tag: u32, mref: u64) -> Entry {
    let mut key = tag.to_le_bytes().to_vec();
    key.extend_from_slice(&mref.to_le_bytes());
    Entry::view(key, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_symlink_layout() {
        let (tag, v) = symlink("../a/b", true);
        assert_eq!(tag, TAG_SYMLINK);
        assert_eq!(&v[0..4], &TAG_SYMLINK.to_le_bytes());
        assert_eq!(&v[4..6], &(12u16 + 24).to_le_bytes());
        assert_eq!(&v[0x10..0x14], &1u32.to_le_bytes());
        assert_eq!(&v[0x14..0x1a], &[b'.', 0, b'.', 0, b'\\', 0]);
        assert_eq!(v.len(), 20 + 24);
        let (tag, abs) = symlink("/x/y", false);
        assert_eq!(tag, TAG_LX_SYMLINK);
        assert_eq!(
            abs,
            [0x1d, 0, 0, 0xa0, 8, 0, 0, 0, 2, 0, 0, 0, b'/', b'x', b'/', b'y']
        );
        assert_eq!(index_entry(TAG_SYMLINK, 27).size(false), 0x20);
    }
}
