//! Typed values of the spec's string-or-number keys. Every layer that needs
//! a size, a headroom or a UUID from the spec gets it through these
//! functions, so the accepted syntax and ranges are decided in one place.
//! Errors are messages; the caller adds the key path.

use super::model::{HeadroomSpec, SizeSpec};
use crate::plan::size::{parse_size, Headroom};

/// A size key: `None` for unset or `"auto"`.
pub fn size(s: &Option<SizeSpec>) -> Result<Option<u64>, String> {
    match s {
        None => Ok(None),
        Some(SizeSpec::Bytes(n)) => Ok(Some(*n)),
        Some(SizeSpec::Text(t)) if t == "auto" => Ok(None),
        Some(SizeSpec::Text(t)) if t == "remaining" => {
            Err("\"remaining\" is only allowed as the size of the last partition".to_string())
        }
        Some(SizeSpec::Text(t)) => parse_size(t).map(Some),
    }
}

/// Largest headroom percentage: beyond it a typo (`"500%"` for `"50%"`) is
/// likelier than intent.
pub const MAX_HEADROOM_PERCENT: f64 = 1000.0;

/// A headroom key: `"10%"` (0% to 1000%), a size, or a byte count.
pub fn headroom(h: &Option<HeadroomSpec>) -> Result<Headroom, String> {
    match h {
        None => Ok(Headroom::None),
        Some(HeadroomSpec::Bytes(b)) => Ok(Headroom::Bytes(*b)),
        Some(HeadroomSpec::Text(t)) => match t.trim().strip_suffix('%') {
            Some(p) => {
                let v: f64 = p
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("{t:?} is not a percentage (expected e.g. \"10%\")"))?;
                if !(0.0..=MAX_HEADROOM_PERCENT).contains(&v) {
                    return Err(format!("{t:?} is outside 0%..1000%"));
                }
                Ok(Headroom::Percent(v))
            }
            None => parse_size(t).map(Headroom::Bytes),
        },
    }
}

/// A UUID key (filesystem UUID, partition or disk GUID).
pub fn uuid(s: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::try_parse(s).map_err(|_| {
        format!("{s:?} is not a UUID (expected e.g. \"0fc63daf-8483-4772-8e79-3d69d8477de4\")")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_ranges() {
        let h = |t: &str| headroom(&Some(HeadroomSpec::Text(t.into())));
        assert_eq!(h("10%").unwrap(), Headroom::Percent(10.0));
        assert_eq!(h("1MiB").unwrap(), Headroom::Bytes(1 << 20));
        assert!(h("1001%").is_err());
        assert!(h("-1%").is_err());
        assert!(h("ten%").unwrap_err().contains("percentage"));
        assert!(h("NaN%").is_err());
    }
}
