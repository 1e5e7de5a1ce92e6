//! LZ4 block format (the raw block, no frame), as EROFS stores compressed
//! pclusters: a compressor with a fixed output size ("destSize": as much
//! input as fits in one block) and a bounds-checked decompressor.
//!
//! Written here rather than taken from a crate because EROFS needs the
//! fixed-output mode, which the pure-Rust LZ4 crates do not offer, and
//! because an image's bytes must never depend on a dependency's version:
//! this compressor is part of fstool's output format.
//!
//! A block is a series of sequences. Each starts with a token: the high
//! nibble is the literal count, the low nibble the match length minus 4
//! (15 in either means more length bytes follow, each adding up to 255).
//! Then come the literals, then a 2-byte little-endian match offset (1 to
//! 65535 bytes back), then the match's extra length bytes. The last
//! sequence has literals only. The format's end rules, which decoders may
//! rely on: the last 5 bytes are literals, and the last match starts at
//! least 12 bytes before the end.

/// Shortest match.
const MIN_MATCH: usize = 4;
/// The last match starts at least this many bytes before the end.
const MF_LIMIT: usize = 12;
/// The last bytes are always literals.
const LAST_LITERALS: usize = 5;
/// Farthest match offset.
const MAX_OFFSET: usize = 65_535;
const HASH_LOG: u32 = 12;

/// Bytes a length of `n` takes beyond its token nibble.
fn extra_len_bytes(n: usize) -> usize {
    if n < 15 {
        0
    } else {
        (n - 15) / 255 + 1
    }
}

fn push_len(out: &mut Vec<u8>, mut n: usize) {
    // The nibble already says 15; the rest follows in 255s.
    n -= 15;
    while n >= 255 {
        out.push(255);
        n -= 255;
    }
    out.push(n as u8);
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// How many bytes from `a` and `b` on are equal, up to `limit` (`b > a`,
/// `b + len <= limit`): eight at a time, then byte by byte.
fn common_len(src: &[u8], a: usize, b: usize, limit: usize) -> usize {
    let mut n = 0;
    while b + n + 8 <= limit {
        let x = read_u64(src, a + n) ^ read_u64(src, b + n);
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while b + n < limit && src[a + n] == src[b + n] {
        n += 1;
    }
    n
}

fn hash(v: u32) -> usize {
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_LOG)) as usize
}

/// Emits one sequence: `lits` literals, then (unless `None`) a match of
/// `len` bytes at `offset` back.
fn emit(out: &mut Vec<u8>, lits: &[u8], m: Option<(usize, usize)>) {
    let ml = m.map_or(0, |(_, len)| len - MIN_MATCH);
    let token = ((lits.len().min(15) as u8) << 4) | ml.min(15) as u8;
    out.push(token);
    if lits.len() >= 15 {
        push_len(out, lits.len());
    }
    out.extend_from_slice(lits);
    if let Some((offset, _)) = m {
        out.extend_from_slice(&(offset as u16).to_le_bytes());
        if ml >= 15 {
            push_len(out, ml);
        }
    }
}

/// Output bytes of a literals-only sequence of `n` literals.
fn final_cost(n: usize) -> usize {
    1 + extra_len_bytes(n) + n
}

/// Compresses a prefix of `src` into at most `cap` bytes (`cap` >= 13):
/// returns how many input bytes the block holds and the block. Greedy
/// single-probe hashing: deterministic, and fast enough to run at the
/// speed of reading the files.
pub fn compress_dest_size(src: &[u8], cap: usize) -> (usize, Vec<u8>) {
    let mut out = Vec::with_capacity(cap);
    let len = src.len();
    // Positions + 1 (0: empty); inputs are at most 64 KiB.
    let mut table = [0u16; 1 << HASH_LOG];
    debug_assert!(src.len() <= 1 << 16);
    let mut anchor = 0usize;
    let mut ip = 0usize;
    let mut misses = 0usize;
    // Room kept for the last sequence: a token and 12 literals, which
    // keeps the end rules whatever the last match was.
    let reserve = final_cost(MF_LIMIT);
    if len > MF_LIMIT {
        let match_start_limit = len - MF_LIMIT;
        let match_end_limit = len - LAST_LITERALS;
        while ip < match_start_limit {
            let v = read_u32(src, ip);
            let h = hash(v);
            let cand = table[h];
            table[h] = (ip + 1) as u16;
            let hit = cand != 0
                && ip - (cand as usize - 1) <= MAX_OFFSET
                && read_u32(src, cand as usize - 1) == v;
            if !hit {
                // Skip faster through data that does not repeat.
                misses += 1;
                ip += 1 + (misses >> 6);
                continue;
            }
            misses = 0;
            let cand = cand as usize - 1;
            let mlen =
                MIN_MATCH + common_len(src, cand + MIN_MATCH, ip + MIN_MATCH, match_end_limit);
            let lits = ip - anchor;
            let cost = 1 + extra_len_bytes(lits) + lits + 2 + extra_len_bytes(mlen - MIN_MATCH);
            if out.len() + cost + reserve > cap {
                break;
            }
            emit(&mut out, &src[anchor..ip], Some((ip - cand, mlen)));
            ip += mlen;
            anchor = ip;
            if ip >= 2 && ip - 2 < match_start_limit {
                table[hash(read_u32(src, ip - 2))] = (ip - 1) as u16;
            }
        }
    }
    // The last literals: all that is left, or as many as fit.
    let room = cap - out.len();
    let rest = len - anchor;
    let mut n = rest;
    if final_cost(n) > room {
        // Cutting d literals saves at least d bytes: this fits, and the
        // loop takes back what the length bytes gave.
        n = n.saturating_sub(final_cost(n) - room);
        while n < rest && final_cost(n + 1) <= room {
            n += 1;
        }
    }
    emit(&mut out, &src[anchor..anchor + n], None);
    (anchor + n, out)
}

/// Decompresses one block that must yield exactly `out_len` bytes;
/// `None` for anything malformed.
pub fn decompress(src: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    let read_len = |ip: &mut usize, mut n: usize| -> Option<usize> {
        if n == 15 {
            loop {
                let b = *src.get(*ip)?;
                *ip += 1;
                n = n.checked_add(usize::from(b))?;
                if b != 255 {
                    break;
                }
            }
        }
        Some(n)
    };
    loop {
        let token = *src.get(ip)?;
        ip += 1;
        let lits = read_len(&mut ip, usize::from(token >> 4))?;
        let lit_end = ip.checked_add(lits)?;
        out.extend_from_slice(src.get(ip..lit_end)?);
        ip = lit_end;
        if out.len() > out_len {
            return None;
        }
        if ip == src.len() {
            return (out.len() == out_len).then_some(out);
        }
        let offset = usize::from(u16::from_le_bytes([*src.get(ip)?, *src.get(ip + 1)?]));
        ip += 2;
        let mlen = read_len(&mut ip, usize::from(token & 15))?.checked_add(MIN_MATCH)?;
        if offset == 0 || offset > out.len() || out.len() + mlen > out_len {
            return None;
        }
        let start = out.len() - offset;
        // Byte by byte: a match may overlap what it produces.
        for k in 0..mlen {
            let b = out[start + k];
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, seed: u64) -> Vec<u8> {
        // Text-like: words from a small vocabulary, so it compresses.
        let words: [&[u8]; 8] = [
            b"erofs ", b"block ", b"the ", b"image ", b"fstool ", b"lz4\n", b"data ", b"of ",
        ];
        let mut s = seed;
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            v.extend_from_slice(words[(s >> 61) as usize]);
        }
        v.truncate(n);
        v
    }

    fn random(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn round_trip(src: &[u8], cap: usize) -> usize {
        let (n, block) = compress_dest_size(src, cap);
        assert!(block.len() <= cap, "{} > {cap}", block.len());
        assert!(n <= src.len());
        assert_eq!(decompress(&block, n).as_deref(), Some(&src[..n]));
        // The end rules: a final literal run of at least 5 bytes unless
        // the whole block is shorter.
        n
    }

    #[test]
    fn text_compresses_and_round_trips() {
        for seed in 0..20 {
            let src = sample(65_536, seed);
            let n = round_trip(&src, 4096);
            assert!(n > 8192, "only {n} bytes of text fit in 4 KiB");
        }
    }

    #[test]
    fn zeros_and_random_bytes_round_trip() {
        let n = round_trip(&vec![0u8; 65_536], 4096);
        assert_eq!(n, 65_536);
        for seed in 1..20 {
            let src = random(20_000, seed);
            let n = round_trip(&src, 4096);
            assert!(n < 4096, "random bytes cannot grow past the cap: {n}");
        }
    }

    #[test]
    fn short_and_odd_inputs_round_trip() {
        for len in 0..64 {
            let src = sample(len, len as u64);
            assert_eq!(round_trip(&src, 4096), len);
        }
        for cap in [13, 14, 20, 100, 300] {
            round_trip(&sample(5000, 7), cap);
            round_trip(&random(5000, 7), cap);
        }
    }

    #[test]
    fn malformed_blocks_are_refused() {
        assert_eq!(decompress(&[], 0), None);
        // A match before any output.
        assert_eq!(decompress(&[0x00, 0x01, 0x00], 4), None);
        // Literals past the end of the input.
        assert_eq!(decompress(&[0x50, b'a'], 5), None);
        // More output than asked for.
        assert_eq!(decompress(&[0x30, b'a', b'b', b'c'], 2), None);
        assert_eq!(decompress(&[0x30, b'a', b'b', b'c'], 3).unwrap(), b"abc");
    }
}
