//! Hash-indexed directories (kernel docs, "Hash Tree Directories").
//!
//! Entries are sorted by their half-MD4 hash and packed into full leaf
//! blocks; a root block (and, past one block of index entries, a level of
//! interior nodes) maps hash ranges to leaves. The superblock carries the
//! unsigned-hash flag, so names hash the same on every host.

/// Hash of a name: (major hash with bit 0 clear, minor hash).
pub(super) fn half_md4(name: &[u8], seed: &[u8; 16]) -> (u32, u32) {
    let mut buf = [0u32; 4];
    for (i, w) in buf.iter_mut().enumerate() {
        *w = u32::from_le_bytes([
            seed[4 * i],
            seed[4 * i + 1],
            seed[4 * i + 2],
            seed[4 * i + 3],
        ]);
    }
    if buf == [0; 4] {
        // An all-zero seed means "use the MD4 initial state".
        buf = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476];
    }
    let mut rest = name;
    loop {
        let words = pack_words(rest);
        transform(&mut buf, &words);
        if rest.len() <= 32 {
            break;
        }
        rest = &rest[32..];
    }
    let mut major = buf[1] & !1;
    // 0xFFFFFFFE is reserved as the end-of-directory marker of 32-bit
    // readdir cookies.
    if major == 0x7FFF_FFFF << 1 {
        major = (0x7FFF_FFFF - 1) << 1;
    }
    (major, buf[2])
}

/// Packs up to 32 bytes of the remaining name into eight words, first
/// byte most significant, padding with a word made of the remaining length
/// (the kernel's `str2hashbuf`, unsigned variant).
fn pack_words(rest: &[u8]) -> [u32; 8] {
    let l = rest.len() as u32;
    let pad = {
        let p = l | (l << 8);
        p | (p << 16)
    };
    let mut out = [pad; 8];
    let n = rest.len().min(32);
    let mut val = pad;
    let mut w = 0;
    for (i, &c) in rest[..n].iter().enumerate() {
        val = (c as u32).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[w] = val;
            w += 1;
            val = pad;
        }
    }
    if w < 8 {
        out[w] = val;
    }
    out
}

fn transform(buf: &mut [u32; 4], x: &[u32; 8]) {
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    let [mut a, mut b, mut c, mut d] = *buf;
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x);
            $a = $a.rotate_left($s);
        };
    }
    round!(f, a, b, c, d, x[0], 3);
    round!(f, d, a, b, c, x[1], 7);
    round!(f, c, d, a, b, x[2], 11);
    round!(f, b, c, d, a, x[3], 19);
    round!(f, a, b, c, d, x[4], 3);
    round!(f, d, a, b, c, x[5], 7);
    round!(f, c, d, a, b, x[6], 11);
    round!(f, b, c, d, a, x[7], 19);
    round!(g, a, b, c, d, x[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, x[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[6].wrapping_add(K2), 13);
    round!(h, a, b, c, d, x[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, x[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[4].wrapping_add(K3), 15);
    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// Index entries that fit in the root block.
pub(super) fn root_limit(block_size: usize, csum: bool) -> usize {
    (block_size - 32 - if csum { 8 } else { 0 }) / 8
}

/// Index entries that fit in an interior node.
pub(super) fn node_limit(block_size: usize, csum: bool) -> usize {
    (block_size - 8 - if csum { 8 } else { 0 }) / 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_and_pack() {
        // "a": pad = 0x01010101; val = 'a' + (pad << 8)
        let w = pack_words(b"a");
        assert_eq!(w[0], 0x61u32.wrapping_add(0x0101_0101 << 8));
        assert_eq!(w[1], 0x0101_0101);
    }

    #[test]
    fn hash_is_even_and_seed_dependent() {
        let s0 = [0u8; 16];
        let s1 = [1u8; 16];
        let (h, _) = half_md4(b"hello", &s0);
        assert_eq!(h & 1, 0);
        assert_ne!(half_md4(b"hello", &s0), half_md4(b"hello", &s1));
        assert_ne!(half_md4(b"hello", &s0), half_md4(b"hellp", &s0));
        // Long names run several rounds.
        let long = [b'x'; 100];
        assert_ne!(half_md4(&long, &s0), half_md4(&long[..99], &s0));
    }
}
