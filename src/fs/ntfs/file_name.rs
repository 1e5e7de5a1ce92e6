//! `$FILE_NAME` (type 0x30, Linux-NTFS "Attribute - $FILE_NAME"): parent
//! reference (0x00), the four times (0x08-0x27), allocated and data size
//! (0x28, 0x30), file attributes (0x38), EA size or reparse tag (0x3C),
//! name length in units (0x40), namespace (0x41) and the UTF-16 name
//! (0x42). The same value is the key of a directory's `$I30` entries.

use super::std_info::Times;

/// Name namespaces: case-sensitive POSIX, Win32 (case-insensitive, no
/// reserved characters), DOS 8.3, or one name valid as both Win32 and DOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Posix = 0,
    Win32 = 1,
    Dos = 2,
    Win32AndDos = 3,
}

/// The longest name, in UTF-16 units.
pub const MAX_NAME: usize = 255;

/// One `$FILE_NAME` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub parent: u64,
    pub times: Times,
    pub allocated: u64,
    pub data: u64,
    pub attributes: u32,
    pub reparse_tag: u32,
    pub namespace: Namespace,
    pub name: Vec<u16>,
}

impl FileName {
    pub fn len(&self) -> usize {
        0x42 + 2 * self.name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.len()];
        b[0..8].copy_from_slice(&self.parent.to_le_bytes());
        b[8..40].copy_from_slice(&self.times.encode());
        b[0x28..0x30].copy_from_slice(&self.allocated.to_le_bytes());
        b[0x30..0x38].copy_from_slice(&self.data.to_le_bytes());
        b[0x38..0x3c].copy_from_slice(&self.attributes.to_le_bytes());
        b[0x3c..0x40].copy_from_slice(&self.reparse_tag.to_le_bytes());
        b[0x40] = self.name.len() as u8;
        b[0x41] = self.namespace as u8;
        for (i, u) in self.name.iter().enumerate() {
            b[0x42 + 2 * i..0x44 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        b
    }
}

/// True when Win32 accepts the name: no control characters, none of
/// `" * / : < > ? \ |`, and no trailing space or dot.
pub fn win32_valid(name: &[u16]) -> bool {
    const BAD: &[u16] = &[0x22, 0x2a, 0x2f, 0x3a, 0x3c, 0x3e, 0x3f, 0x5c, 0x7c];
    !name.is_empty()
        && name.iter().all(|&u| u >= 0x20 && !BAD.contains(&u))
        && !matches!(name.last(), Some(0x20) | Some(0x2e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let f = FileName {
            parent: 5 | (5 << 48),
            times: Times::default(),
            allocated: 4096,
            data: 10,
            attributes: 0x20,
            reparse_tag: 0,
            namespace: Namespace::Win32,
            name: "ab".encode_utf16().collect(),
        };
        let b = f.encode();
        assert_eq!(b.len(), 0x46);
        assert_eq!(&b[0..8], &(5u64 | 5 << 48).to_le_bytes());
        assert_eq!(b[0x40], 2);
        assert_eq!(b[0x41], 1);
        assert_eq!(&b[0x42..0x46], &[b'a', 0, b'b', 0]);
    }

    #[test]
    fn win32_names() {
        let w = |s: &str| s.encode_utf16().collect::<Vec<_>>();
        assert!(win32_valid(&w("hello world.txt")));
        for bad in ["a:b", "a?", "x.", "x ", "a\\b", "\u{1}"] {
            assert!(!win32_valid(&w(bad)), "{bad}");
        }
    }
}
