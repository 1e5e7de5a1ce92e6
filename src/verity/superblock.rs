//! The dm-verity superblock as `veritysetup format` writes it: 512 bytes
//! at the start of the hash area (cryptsetup's `struct verity_sb`, on-disk
//! version 1), padded to a whole hash block; the tree starts after it.

/// `signature` (0x00).
pub const SIGNATURE: &[u8; 8] = b"verity\0\0";
/// Encoded size.
pub const SIZE: usize = 512;
/// Longest salt the superblock holds.
pub const MAX_SALT: usize = 256;

/// The fields of `struct verity_sb`, in on-disk order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `version` (0x08): always 1.
    pub version: u32,
    /// `hash_type` (0x0C): 1 is the normal format (salt before the data),
    /// 0 the Chrome OS one.
    pub hash_type: u32,
    /// `uuid` (0x10).
    pub uuid: [u8; 16],
    /// `algorithm` (0x20): NUL-padded name, e.g. `sha256`.
    pub algorithm: String,
    /// `data_block_size` (0x40) and `hash_block_size` (0x44).
    pub data_block_size: u32,
    pub hash_block_size: u32,
    /// `data_blocks` (0x48).
    pub data_blocks: u64,
    /// `salt_size` (0x50) and `salt` (0x58, 256 bytes).
    pub salt: Vec<u8>,
}

impl Superblock {
    pub fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..8].copy_from_slice(SIGNATURE);
        b[0x08..0x0C].copy_from_slice(&self.version.to_le_bytes());
        b[0x0C..0x10].copy_from_slice(&self.hash_type.to_le_bytes());
        b[0x10..0x20].copy_from_slice(&self.uuid);
        let alg = self.algorithm.as_bytes();
        let n = alg.len().min(31);
        b[0x20..0x20 + n].copy_from_slice(&alg[..n]);
        b[0x40..0x44].copy_from_slice(&self.data_block_size.to_le_bytes());
        b[0x44..0x48].copy_from_slice(&self.hash_block_size.to_le_bytes());
        b[0x48..0x50].copy_from_slice(&self.data_blocks.to_le_bytes());
        let s = self.salt.len().min(MAX_SALT);
        b[0x50..0x52].copy_from_slice(&(s as u16).to_le_bytes());
        b[0x58..0x58 + s].copy_from_slice(&self.salt[..s]);
        b
    }

    /// Parses a superblock; `None` without the signature or with fields
    /// out of range.
    pub fn decode(b: &[u8]) -> Option<Superblock> {
        if b.get(0..8)? != SIGNATURE {
            return None;
        }
        let u32_at = |o: usize| -> Option<u32> {
            Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
        };
        let salt_len = usize::from(u16::from_le_bytes(b.get(0x50..0x52)?.try_into().ok()?));
        if salt_len > MAX_SALT {
            return None;
        }
        let alg = b.get(0x20..0x40)?;
        let end = alg.iter().position(|&c| c == 0).unwrap_or(alg.len());
        Some(Superblock {
            version: u32_at(0x08)?,
            hash_type: u32_at(0x0C)?,
            uuid: b.get(0x10..0x20)?.try_into().ok()?,
            algorithm: String::from_utf8_lossy(&alg[..end]).into_owned(),
            data_block_size: u32_at(0x40)?,
            hash_block_size: u32_at(0x44)?,
            data_blocks: u64::from_le_bytes(b.get(0x48..0x50)?.try_into().ok()?),
            salt: b.get(0x58..0x58 + salt_len)?.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_veritysetup() {
        let sb = Superblock {
            version: 1,
            hash_type: 1,
            uuid: [0x12; 16],
            algorithm: "sha256".into(),
            data_block_size: 4096,
            hash_block_size: 4096,
            data_blocks: 130,
            salt: vec![1; 32],
        };
        let b = sb.encode();
        assert_eq!(&b[..8], b"verity\0\0");
        assert_eq!(&b[0x20..0x27], b"sha256\0");
        assert_eq!(&b[0x48..0x4A], &[130, 0]);
        assert_eq!(&b[0x50..0x52], &[32, 0]);
        assert_eq!(b[0x58], 1);
        assert_eq!(Superblock::decode(&b), Some(sb));
        assert!(Superblock::decode(&b[..0x60]).is_none());
    }
}
