//! Checksums of ext4's metadata_csum feature. All are crc32c (Castagnoli) in
//! the kernel's raw form: `ext4_chksum(seed, data)` continues a register from
//! `seed` with no final inversion, so checksums can be chained.

const POLY: u32 = 0x82F6_3B78; // reflected Castagnoli polynomial

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The kernel's `crc32c(seed, data)`: no pre- or post-inversion.
pub(super) fn crc32c(seed: u32, data: &[u8]) -> u32 {
    let mut c = seed;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c
}

/// The filesystem's checksum seed: `crc32c(~0, uuid)`. (Without the
/// csum_seed feature it is derived from the UUID, never stored.)
pub(super) fn fs_seed(uuid: &[u8; 16]) -> u32 {
    crc32c(!0, uuid)
}

/// Per-inode seed used by extent blocks, directory blocks and the inode
/// itself: the fs seed continued over the inode number and generation.
pub(super) fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    crc32c(
        crc32c(fs_seed, &ino.to_le_bytes()),
        &generation.to_le_bytes(),
    )
}

/// Superblock checksum: over the first 1020 bytes, seeded with `~0`.
pub(super) fn superblock(sb: &[u8; 1024]) -> u32 {
    crc32c(!0, &sb[..1020])
}

/// Group descriptor checksum: low 16 bits of the fs seed continued over the
/// little-endian group number and the descriptor with its checksum field
/// (offset 0x1E) zeroed.
pub(super) fn group_desc(fs_seed: u32, group: u32, desc: &[u8]) -> u16 {
    let mut d = desc.to_vec();
    d[0x1E] = 0;
    d[0x1F] = 0;
    let c = crc32c(crc32c(fs_seed, &group.to_le_bytes()), &d);
    (c & 0xFFFF) as u16
}

/// Inode checksum: inode seed over the whole on-disk inode with both halves
/// of the checksum (0x7C and 0x82) zeroed. Returns the full 32 bits; the
/// caller splits them.
pub(super) fn inode(fs_seed: u32, ino: u32, generation: u32, raw: &[u8]) -> u32 {
    let mut d = raw.to_vec();
    d[0x7C] = 0;
    d[0x7D] = 0;
    if d.len() >= 0x84 {
        d[0x82] = 0;
        d[0x83] = 0;
    }
    crc32c(inode_seed(fs_seed, ino, generation), &d)
}

/// Bitmap checksum: the fs seed over the significant bytes of the bitmap.
pub(super) fn bitmap(fs_seed: u32, bits: &[u8]) -> u32 {
    crc32c(fs_seed, bits)
}

/// Extended-attribute block checksum: the fs seed over the little-endian
/// 64-bit block number, then the block with its checksum (0x10) zeroed.
pub(super) fn xattr_block(fs_seed: u32, block: u64, data: &[u8]) -> u32 {
    let mut d = data.to_vec();
    d[0x10..0x14].fill(0);
    crc32c(crc32c(fs_seed, &block.to_le_bytes()), &d)
}

/// htree node checksum: inode seed over the `count` used dx entries (from
/// the start of the block through them), then the tail's reserved word,
/// then four zero bytes standing in for the checksum itself.
pub(super) fn dx_node(
    inode_seed: u32,
    block: &[u8],
    count_offset: usize,
    count: usize,
    tail_reserved: u32,
) -> u32 {
    let size = count_offset + count * 8;
    let c = crc32c(inode_seed, &block[..size]);
    let c = crc32c(c, &tail_reserved.to_le_bytes());
    crc32c(c, &[0; 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The standard CRC-32C check: init ~0, final inversion.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn chaining_equals_one_pass() {
        let a = crc32c(crc32c(7, b"hello "), b"world");
        assert_eq!(a, crc32c(7, b"hello world"));
    }
}
