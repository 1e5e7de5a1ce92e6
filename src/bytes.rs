//! Checked little- and big-endian field access at byte offsets.
//!
//! Every on-disk format fstool reads or writes stores integers at fixed
//! offsets: little-endian for ext, FAT, GPT and MBR, big-endian for qcow2.
//! These helpers are the one place that turns such bytes into numbers and
//! back. The getters return `None` when the field does not lie wholly
//! inside the buffer, so parsers of hostile images can turn a short or
//! truncated structure into a `Corrupt` error instead of panicking; the
//! setters report the same with `None` and leave the buffer untouched.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

/// The `N` bytes at `at`, or `None` when they do not all lie in `b`.
pub fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The `len` bytes at `at`, or `None` when they do not all lie in `b`.
pub fn slice(b: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    b.get(at..at.checked_add(len)?)
}

/// The byte at `at`.
pub fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// Little-endian `u16` at `at`.
pub fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}

/// Little-endian `u32` at `at`.
pub fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}

/// Little-endian `u64` at `at`.
pub fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}

/// Big-endian `u16` at `at`.
pub fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_be_bytes)
}

/// Big-endian `u32` at `at`.
pub fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}

/// Big-endian `u64` at `at`.
pub fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_be_bytes)
}

/// Writes `v` at `at`; `None` (buffer untouched) when it does not fit.
pub fn set_bytes(b: &mut [u8], at: usize, v: &[u8]) -> Option<()> {
    b.get_mut(at..at.checked_add(v.len())?)?.copy_from_slice(v);
    Some(())
}

/// Writes a little-endian `u16` at `at`.
pub fn set_le_u16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    set_bytes(b, at, &v.to_le_bytes())
}

/// Writes a little-endian `u32` at `at`.
pub fn set_le_u32(b: &mut [u8], at: usize, v: u32) -> Option<()> {
    set_bytes(b, at, &v.to_le_bytes())
}

/// Writes a little-endian `u64` at `at`.
pub fn set_le_u64(b: &mut [u8], at: usize, v: u64) -> Option<()> {
    set_bytes(b, at, &v.to_le_bytes())
}

/// Writes a big-endian `u16` at `at`.
pub fn set_be_u16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    set_bytes(b, at, &v.to_be_bytes())
}

/// Writes a big-endian `u32` at `at`.
pub fn set_be_u32(b: &mut [u8], at: usize, v: u32) -> Option<()> {
    set_bytes(b, at, &v.to_be_bytes())
}

/// Writes a big-endian `u64` at `at`.
pub fn set_be_u64(b: &mut [u8], at: usize, v: u64) -> Option<()> {
    set_bytes(b, at, &v.to_be_bytes())
}

/// Appends a little-endian `u16` (for encoders that build a `Vec`).
pub fn put_le_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u32`.
pub fn put_le_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u64`.
pub fn put_le_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a big-endian `u32`.
pub fn put_be_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian `u64`.
pub fn put_be_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Lowercase hex of `b`, as `sha256sum` prints a digest.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len().saturating_mul(2));
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_orders_and_refuses_short_fields() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le_u16(&b, 0), Some(0x0201));
        assert_eq!(be_u16(&b, 0), Some(0x0102));
        assert_eq!(le_u32(&b, 1), Some(0x0504_0302));
        assert_eq!(be_u32(&b, 1), Some(0x0203_0405));
        assert_eq!(le_u64(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(be_u64(&b, 0), Some(0x0102_0304_0506_0708));
        assert_eq!(le_u64(&b, 2), None);
        assert_eq!(le_u16(&b, usize::MAX), None);
        assert_eq!(u8_at(&b, 9), None);
        assert_eq!(slice(&b, 8, 1), Some(&[9u8][..]));
        assert_eq!(slice(&b, 8, 2), None);
    }

    #[test]
    fn writes_round_trip_and_leave_short_buffers_untouched() {
        let mut b = [0u8; 8];
        set_le_u32(&mut b, 0, 0xdead_beef).unwrap();
        set_be_u16(&mut b, 4, 0x1234).unwrap();
        assert_eq!(le_u32(&b, 0), Some(0xdead_beef));
        assert_eq!(slice(&b, 4, 2), Some(&[0x12u8, 0x34][..]));
        assert_eq!(set_le_u64(&mut b, 1, 1), None);
        assert_eq!(b, [0xef, 0xbe, 0xad, 0xde, 0x12, 0x34, 0, 0]);
        set_le_u64(&mut b, 0, 7).unwrap();
        set_be_u64(&mut b, 0, 7).unwrap();
        assert_eq!(be_u64(&b, 0), Some(7));
        let mut v = Vec::new();
        put_le_u16(&mut v, 1);
        put_le_u32(&mut v, 2);
        put_le_u64(&mut v, 3);
        put_be_u32(&mut v, 4);
        put_be_u64(&mut v, 5);
        assert_eq!(v.len(), 2 + 4 + 8 + 4 + 8);
        assert_eq!(be_u64(&v, 18), Some(5));
    }
}
