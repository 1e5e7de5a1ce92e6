//! Run lists ("mapping pairs") of non-resident attributes, per the
//! Linux-NTFS documentation ("Data Runs").
//!
//! Each run is a header byte whose low nibble is the byte count of the
//! run length and high nibble the byte count of the LCN delta, then the
//! length (unsigned) and the delta from the previous run's LCN (signed,
//! both little-endian, minimal width). A delta width of zero marks a
//! sparse run. A zero header byte ends the list.

/// One run: `len` clusters at `lcn`, or a hole when `lcn` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub lcn: Option<u64>,
    pub len: u64,
}

/// Why mapping pairs do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunlistError {
    #[error("mapping pairs end without a terminator at byte {at}")]
    Truncated { at: usize },
    #[error("run at byte {at} has a length field of {len_bytes} bytes or an LCN field of {lcn_bytes} bytes")]
    BadHeader {
        at: usize,
        len_bytes: usize,
        lcn_bytes: usize,
    },
    #[error("run at byte {at} has a zero or negative length")]
    BadLength { at: usize },
    #[error("run at byte {at} moves the LCN below zero or past 2^63")]
    BadLcn { at: usize },
}

/// Bytes needed to hold `v` as a signed little-endian integer.
fn signed_width(v: i64) -> usize {
    let mut n = 1;
    while n < 8 {
        let lo = -(1i64 << (8 * n - 1));
        let hi = (1i64 << (8 * n - 1)) - 1;
        if v >= lo && v <= hi {
            break;
        }
        n += 1;
    }
    n
}

/// Bytes needed to hold `v` as a positive signed integer (lengths are
/// read as signed by some drivers, so the top bit stays clear).
fn length_width(v: u64) -> usize {
    signed_width(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Bytes one run takes in mapping pairs after a run at `prev` (the
/// previous data run's LCN, 0 for the first).
pub fn pair_len(r: &Run, prev: u64) -> usize {
    let lw = length_width(r.len);
    match r.lcn {
        Some(lcn) => {
            let delta =
                i64::try_from(lcn).unwrap_or(i64::MAX) - i64::try_from(prev).unwrap_or(i64::MAX);
            1 + lw + signed_width(delta)
        }
        None => 1 + lw,
    }
}

/// Encodes runs as mapping pairs, with the terminating zero byte.
pub fn encode(runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: i64 = 0;
    for r in runs {
        let lw = length_width(r.len);
        let len = r.len.to_le_bytes();
        match r.lcn {
            Some(lcn) => {
                let lcn = i64::try_from(lcn).unwrap_or(i64::MAX);
                let delta = lcn - prev;
                let dw = signed_width(delta);
                out.push(((dw as u8) << 4) | lw as u8);
                out.extend_from_slice(&len[..lw]);
                out.extend_from_slice(&delta.to_le_bytes()[..dw]);
                prev = lcn;
            }
            None => {
                out.push(lw as u8);
                out.extend_from_slice(&len[..lw]);
            }
        }
    }
    out.push(0);
    out
}

/// Decodes mapping pairs up to the terminator.
pub fn decode(bytes: &[u8]) -> Result<Vec<Run>, RunlistError> {
    let mut runs = Vec::new();
    let mut at = 0;
    let mut lcn: i64 = 0;
    loop {
        let &h = bytes.get(at).ok_or(RunlistError::Truncated { at })?;
        if h == 0 {
            return Ok(runs);
        }
        let lw = usize::from(h & 0x0f);
        let dw = usize::from(h >> 4);
        if lw == 0 || lw > 8 || dw > 8 {
            return Err(RunlistError::BadHeader {
                at,
                len_bytes: lw,
                lcn_bytes: dw,
            });
        }
        let field = |from: usize, w: usize| -> Result<i64, RunlistError> {
            let b = bytes
                .get(from..from + w)
                .ok_or(RunlistError::Truncated { at })?;
            let mut v = [0u8; 8];
            v[..w].copy_from_slice(b);
            if b[w - 1] & 0x80 != 0 {
                v[w..].fill(0xff);
            }
            Ok(i64::from_le_bytes(v))
        };
        let len = field(at + 1, lw)?;
        if len <= 0 {
            return Err(RunlistError::BadLength { at });
        }
        let run_lcn = if dw == 0 {
            None
        } else {
            let delta = field(at + 1 + lw, dw)?;
            lcn = lcn
                .checked_add(delta)
                .filter(|l| *l >= 0)
                .ok_or(RunlistError::BadLcn { at })?;
            Some(lcn as u64)
        };
        runs.push(Run {
            lcn: run_lcn,
            len: len as u64,
        });
        at += 1 + lw + dw;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lcn: u64, len: u64) -> Run {
        Run {
            lcn: Some(lcn),
            len,
        }
    }

    #[test]
    fn documented_example_encodes() {
        // The Linux-NTFS example: 0x18 clusters at LCN 0x5634.
        assert_eq!(encode(&[run(0x5634, 0x18)]), [0x21, 0x18, 0x34, 0x56, 0x00]);
    }

    #[test]
    fn deltas_are_signed_and_minimal() {
        let runs = [
            run(0x100, 0x80),
            run(0x10, 1),
            Run {
                lcn: None,
                len: 300,
            },
            run(0x1_0000_0000, 5),
        ];
        let enc = encode(&runs);
        // 0x80 clusters needs two bytes so that it does not read as negative.
        assert_eq!(&enc[..5], &[0x22, 0x80, 0x00, 0x00, 0x01]);
        // Back by 0xf0: one signed byte is not enough (-240).
        assert_eq!(&enc[5..9], &[0x21, 0x01, 0x10, 0xff]);
        // The hole carries no LCN and does not move the base.
        assert_eq!(&enc[9..12], &[0x02, 0x2c, 0x01]);
        assert_eq!(decode(&enc).unwrap(), runs);
    }

    #[test]
    fn round_trips_many_runs() {
        let mut runs = Vec::new();
        let mut lcn = 1_000_000u64;
        for i in 0..2000u64 {
            lcn = if i % 3 == 0 {
                lcn - 999 * (i % 7)
            } else {
                lcn + 3 * i + 17
            };
            if i % 11 == 0 {
                runs.push(Run {
                    lcn: None,
                    len: i + 1,
                });
            }
            runs.push(run(lcn, (i % 300) + 1));
        }
        assert_eq!(decode(&encode(&runs)).unwrap(), runs);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(matches!(
            decode(&[0x21, 0x18]),
            Err(RunlistError::Truncated { .. })
        ));
        assert!(matches!(decode(&[]), Err(RunlistError::Truncated { .. })));
        assert!(matches!(
            decode(&[0x90, 0]),
            Err(RunlistError::BadHeader { .. })
        ));
        assert!(matches!(
            decode(&[0x11, 0xff, 0x01, 0]),
            Err(RunlistError::BadLength { .. })
        ));
        assert!(matches!(
            decode(&[0x11, 0x01, 0xff, 0]),
            Err(RunlistError::BadLcn { .. })
        ));
    }
}
