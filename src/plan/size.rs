//! Size arithmetic and the size syntax shared by every spec key that takes a
//! size: a byte count, or a string such as `"64MiB"`, `"1.5GiB"`, `"512K"`.

/// Free space added to an `"auto"` size.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Headroom {
    #[default]
    None,
    /// Percent of what the tree needs (ext: of its blocks; FAT: of its
    /// file data).
    Percent(f64),
    Bytes(u64),
}

impl Headroom {
    /// The headroom in bytes for a volume whose percentage is taken of
    /// `base` bytes (FAT and NTFS: the tree's file data).
    pub fn bytes_of(self, base: u64) -> u64 {
        match self {
            Headroom::None => 0,
            Headroom::Bytes(b) => b,
            Headroom::Percent(p) => (base as f64 * p / 100.0).ceil() as u64,
        }
    }
}

/// Parses `"64MiB"`, `"4096"`, `"2G"`, `"10kB"` into bytes. Binary suffixes
/// (`K`, `KiB`, `M`, `MiB`, ...) are powers of 1024; `kB`, `MB`, `GB`, `TB`
/// are powers of 1000. Fractions are allowed when the result is whole.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit {
        "" | "B" => 1,
        "K" | "KiB" | "k" | "Ki" => 1 << 10,
        "M" | "MiB" | "Mi" => 1 << 20,
        "G" | "GiB" | "Gi" => 1 << 30,
        "T" | "TiB" | "Ti" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} in {s:?} (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
            ))
        }
    };
    if num.is_empty() {
        return Err(format!(
            "{s:?} is not a size (expected e.g. \"64MiB\" or 4096)"
        ));
    }
    let value = if let Some((int, frac)) = num.split_once('.') {
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| format!("{s:?} is not a size"))?
        };
        let digits = frac.len() as u32;
        let frac_v: u64 = frac.parse().map_err(|_| format!("{s:?} is not a size"))?;
        let scale = 10u64
            .checked_pow(digits)
            .ok_or_else(|| format!("{s:?}: too many digits"))?;
        let whole = int
            .checked_mul(mult)
            .ok_or_else(|| format!("{s:?} is too large"))?;
        let part = (frac_v as u128 * mult as u128) / scale as u128;
        if (frac_v as u128 * mult as u128) % scale as u128 != 0 {
            return Err(format!("{s:?} is not a whole number of bytes"));
        }
        whole
            .checked_add(u64::try_from(part).map_err(|_| format!("{s:?} is too large"))?)
            .ok_or_else(|| format!("{s:?} is too large"))?
    } else {
        let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
        n.checked_mul(mult)
            .ok_or_else(|| format!("{s:?} is too large"))?
    };
    Ok(value)
}

/// Formats a byte count for people: `64 MiB`, `1.5 GiB`, `4097 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{} {}", v.round(), UNITS[u])
    } else {
        format!("{:.1} {}", v, UNITS[u])
    }
}

/// `ceil(a / b)` for `b > 0`.
pub const fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Rounds `a` up to a multiple of `b` (`b > 0`).
pub fn round_up(a: u64, b: u64) -> Option<u64> {
    a.div_ceil(b).checked_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("10kB").unwrap(), 10_000);
        assert_eq!(parse_size("2 G").unwrap(), 2 << 30);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("0.3B").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(4097), "4.0 KiB");
        assert_eq!(human(12), "12 B");
    }
}
