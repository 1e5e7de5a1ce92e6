//! `$STANDARD_INFORMATION` (type 0x10), the NTFS 3.x 72-byte form
//! (Linux-NTFS "Attribute - $STANDARD_INFORMATION"): creation, data change,
//! MFT change and access times (0x00-0x1F), DOS file attributes (0x20),
//! maximum versions, version and class ID (0x24-0x2F), owner ID (0x30),
//! security ID (0x34), quota charged (0x38) and USN (0x40).

/// NT times of one file, FILETIME units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    pub created: u64,
    pub modified: u64,
    pub mft_changed: u64,
    pub accessed: u64,
}

impl Times {
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.created.to_le_bytes());
        b[8..16].copy_from_slice(&self.modified.to_le_bytes());
        b[16..24].copy_from_slice(&self.mft_changed.to_le_bytes());
        b[24..32].copy_from_slice(&self.accessed.to_le_bytes());
        b
    }
}

/// File attribute bits (`FILE_ATTR_*`).
pub mod fa {
    pub const READONLY: u32 = 0x0001;
    pub const HIDDEN: u32 = 0x0002;
    pub const SYSTEM: u32 = 0x0004;
    pub const ARCHIVE: u32 = 0x0020;
    pub const SPARSE_FILE: u32 = 0x0200;
    pub const REPARSE_POINT: u32 = 0x0400;
    /// In `$FILE_NAME` and directory entries: the file has a `$I30` index.
    pub const DUP_FILE_NAME_INDEX_PRESENT: u32 = 0x1000_0000;
    /// The file has a view index (`$Secure`, `$Quota`, ...).
    pub const DUP_VIEW_INDEX_PRESENT: u32 = 0x2000_0000;
}

/// Length of the NTFS 3.x form.
pub const LEN: usize = 72;

/// The attribute value.
pub fn encode(times: &Times, attributes: u32, security_id: u32) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0..32].copy_from_slice(&times.encode());
    b[0x20..0x24].copy_from_slice(&attributes.to_le_bytes());
    b[0x34..0x38].copy_from_slice(&security_id.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let t = Times {
            created: 1,
            modified: 2,
            mft_changed: 3,
            accessed: 4,
        };
        let b = encode(&t, fa::ARCHIVE, 0x100);
        assert_eq!(&b[8..16], &2u64.to_le_bytes());
        assert_eq!(&b[24..32], &4u64.to_le_bytes());
        assert_eq!(&b[0x20..0x24], &0x20u32.to_le_bytes());
        assert_eq!(&b[0x34..0x38], &0x100u32.to_le_bytes());
    }
}
