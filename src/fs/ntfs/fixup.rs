//! Update-sequence fixups ("multi-sector protection"), as the Linux-NTFS
//! documentation describes them for `FILE` and `INDX` records.
//!
//! A multi-sector record carries an update sequence array at `usa_ofs`
//! (record offset 0x04) with `usa_count` (0x06) 16-bit words: the update
//! sequence number, then the original last two bytes of every 512-byte
//! stride. On disk those last two bytes hold the number instead, so a torn
//! write shows as a mismatch. The stride is always 512 bytes, whatever the
//! device's sector size.

/// The fixup stride: NTFS protects every 512 bytes, independent of the
/// volume's sector size.
pub const STRIDE: usize = 512;

/// Why a record's fixups do not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixupError {
    #[error("update sequence array at {usa_ofs} with {usa_count} words does not fit a {len}-byte record")]
    BadArray {
        usa_ofs: usize,
        usa_count: usize,
        len: usize,
    },
    #[error("stride {stride} ends in {found:#06x}, not the update sequence number {usn:#06x}")]
    Mismatch { stride: usize, usn: u16, found: u16 },
}

fn check_array(len: usize, usa_ofs: usize, usa_count: usize) -> Result<(), FixupError> {
    let bad = FixupError::BadArray {
        usa_ofs,
        usa_count,
        len,
    };
    if len % STRIDE != 0 || usa_count != len / STRIDE + 1 {
        return Err(bad);
    }
    match usa_ofs.checked_add(usa_count * 2) {
        Some(end) if end <= STRIDE - 2 && usa_ofs % 2 == 0 => Ok(()),
        _ => Err(bad),
    }
}

/// Protects `rec` in place: records the array header (`usa_ofs`,
/// `usa_count` at 0x04/0x06), saves each stride's last word into the array
/// and replaces it with `usn`.
pub fn protect(rec: &mut [u8], usa_ofs: usize, usn: u16) -> Result<(), FixupError> {
    let usa_count = rec.len() / STRIDE + 1;
    check_array(rec.len(), usa_ofs, usa_count)?;
    rec[4..6].copy_from_slice(&(usa_ofs as u16).to_le_bytes());
    rec[6..8].copy_from_slice(&(usa_count as u16).to_le_bytes());
    rec[usa_ofs..usa_ofs + 2].copy_from_slice(&usn.to_le_bytes());
    for i in 0..rec.len() / STRIDE {
        let end = (i + 1) * STRIDE;
        let slot = usa_ofs + 2 + 2 * i;
        let (a, b) = (rec[end - 2], rec[end - 1]);
        rec[slot] = a;
        rec[slot + 1] = b;
        rec[end - 2..end].copy_from_slice(&usn.to_le_bytes());
    }
    Ok(())
}

/// Undoes [`protect`]: checks that every stride ends in the update
/// sequence number and puts the saved words back.
pub fn unprotect(rec: &mut [u8]) -> Result<(), FixupError> {
    let word = |b: &[u8], at: usize| -> u16 {
        b.get(at..at + 2)
            .map_or(0, |w| u16::from_le_bytes([w[0], w[1]]))
    };
    let usa_ofs = usize::from(word(rec, 4));
    let usa_count = usize::from(word(rec, 6));
    check_array(rec.len(), usa_ofs, usa_count)?;
    let usn = word(rec, usa_ofs);
    for i in 0..rec.len() / STRIDE {
        let end = (i + 1) * STRIDE;
        let found = word(rec, end - 2);
        if found != usn {
            return Err(FixupError::Mismatch {
                stride: i,
                usn,
                found,
            });
        }
        let slot = usa_ofs + 2 + 2 * i;
        let saved = [rec[slot], rec[slot + 1]];
        rec[end - 2..end].copy_from_slice(&saved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protect_then_unprotect_restores_the_record() {
        let mut rec: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
        rec[0x30..0x36].fill(0);
        let orig = rec.clone();
        protect(&mut rec, 0x30, 1).unwrap();
        assert_eq!(&rec[510..512], &[1, 0]);
        assert_eq!(&rec[1022..1024], &[1, 0]);
        assert_eq!(&rec[0x32..0x34], &orig[510..512]);
        assert_eq!(&rec[4..8], &[0x30, 0, 3, 0]);
        unprotect(&mut rec).unwrap();
        assert_eq!(&rec[0x36..], &orig[0x36..]);
    }

    #[test]
    fn torn_stride_is_reported() {
        let mut rec = vec![0u8; 1024];
        protect(&mut rec, 0x30, 5).unwrap();
        rec[1023] = 9;
        assert!(matches!(
            unprotect(&mut rec),
            Err(FixupError::Mismatch { stride: 1, .. })
        ));
    }

    #[test]
    fn array_must_fit() {
        let mut rec = vec![0u8; 1000];
        assert!(protect(&mut rec, 0x30, 1).is_err());
        let mut rec = vec![0u8; 4096];
        assert!(protect(&mut rec, 0x1f0, 1).is_err());
    }
}
