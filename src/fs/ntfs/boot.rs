//! The boot sector (Linux-NTFS "Files - $Boot"), written at sector 0 and,
//! as its backup, in the volume's last sector.
//!
//! Fields: jump (0x00), OEM ID "NTFS    " (0x03), bytes per sector (0x0B),
//! sectors per cluster (0x0D), media descriptor (0x15), sectors per track
//! and heads (0x18, 0x1A), hidden sectors (0x1C), total sectors (0x28, one
//! less than the volume: the backup lies past them), `$MFT` and
//! `$MFTMirr` LCNs (0x30, 0x38), clusters per MFT record and per index
//! block (0x40, 0x44: negative n means 2^-n bytes), serial (0x48),
//! checksum (0x50, unused), boot code (0x54) and the 0xAA55 signature.

/// What the boot sector records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    pub bytes_per_sector: u16,
    pub cluster_size: u32,
    pub hidden_sectors: u32,
    pub total_sectors: u64,
    pub mft_lcn: u64,
    pub mftmirr_lcn: u64,
    pub record_size: u32,
    pub index_block_size: u32,
    pub serial: u64,
}

/// The size field encoding of 0x40 and 0x44: clusters when a record is at
/// least a cluster, else `-log2(bytes)`.
fn size_field(bytes: u32, cluster: u32) -> u8 {
    if bytes >= cluster {
        (bytes / cluster) as u8
    } else {
        (-(bytes.trailing_zeros() as i8)) as u8
    }
}

/// Boot code for a data volume: print nothing, wait for a key, reboot is
/// left to the BIOS (`int 0x18`: no bootable disk).
const BOOT_CODE: [u8; 4] = [0xfa, 0xcd, 0x18, 0xf4];

impl BootSector {
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..3].copy_from_slice(&[0xeb, 0x52, 0x90]);
        b[3..11].copy_from_slice(b"NTFS    ");
        b[0x0b..0x0d].copy_from_slice(&self.bytes_per_sector.to_le_bytes());
        let spc = self.cluster_size / u32::from(self.bytes_per_sector);
        b[0x0d] = if spc <= 128 {
            spc as u8
        } else {
            (-(spc.trailing_zeros() as i8)) as u8
        };
        b[0x15] = 0xf8;
        b[0x18..0x1a].copy_from_slice(&63u16.to_le_bytes());
        b[0x1a..0x1c].copy_from_slice(&255u16.to_le_bytes());
        b[0x1c..0x20].copy_from_slice(&self.hidden_sectors.to_le_bytes());
        b[0x24] = 0x80;
        b[0x26] = 0x80;
        b[0x28..0x30].copy_from_slice(&self.total_sectors.to_le_bytes());
        b[0x30..0x38].copy_from_slice(&self.mft_lcn.to_le_bytes());
        b[0x38..0x40].copy_from_slice(&self.mftmirr_lcn.to_le_bytes());
        b[0x40] = size_field(self.record_size, self.cluster_size);
        b[0x44] = size_field(self.index_block_size, self.cluster_size);
        b[0x48..0x50].copy_from_slice(&self.serial.to_le_bytes());
        b[0x54..0x54 + BOOT_CODE.len()].copy_from_slice(&BOOT_CODE);
        b[0x1fe] = 0x55;
        b[0x1ff] = 0xaa;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let bs = BootSector {
            bytes_per_sector: 512,
            cluster_size: 4096,
            hidden_sectors: 2048,
            total_sectors: 131071,
            mft_lcn: 4,
            mftmirr_lcn: 8,
            record_size: 1024,
            index_block_size: 4096,
            serial: 0x1122_3344_5566_7788,
        }
        .encode();
        assert_eq!(&bs[3..11], b"NTFS    ");
        assert_eq!(bs[0x0d], 8);
        assert_eq!(bs[0x40], 0xf6); // 2^10 bytes
        assert_eq!(bs[0x44], 1);
        assert_eq!(&bs[0x28..0x30], &131071u64.to_le_bytes());
        assert_eq!(&bs[0x1fe..], &[0x55, 0xaa]);
        let big = BootSector {
            cluster_size: 65536,
            ..BootSector::decode_free_default()
        }
        .encode();
        assert_eq!(big[0x0d], 128);
        assert_eq!(big[0x44], 0xf4); // 4 KiB index blocks in 64 KiB clusters
    }

    impl BootSector {
        fn decode_free_default() -> Self {
            BootSector {
                bytes_per_sector: 512,
                cluster_size: 4096,
                hidden_sectors: 0,
                total_sectors: 1000,
                mft_lcn: 4,
                mftmirr_lcn: 8,
                record_size: 1024,
                index_block_size: 4096,
                serial: 1,
            }
        }
    }
}
