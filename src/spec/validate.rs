//! Checks that serde's types cannot express: sizes, modes, image paths,
//! the keys each entry type requires, hashes, xattr names and values.
//! [`validate`] returns the first problem in document order with its key
//! path; the parser adds the file name and line.

use super::keypath::KeyPath;
use super::model::*;
use base64::Engine as _;

/// Longest name component the filesystems we write can store (ext4 and
/// FAT's long names both stop at 255).
pub(crate) const NAME_MAX: usize = 255;

/// Permission bits of a mode: a number, or an octal string (`"0755"`,
/// `"755"`, `"4755"`, `"0o755"`). File-type bits are not accepted: the type
/// comes from the entry's `type`.
pub fn parse_mode(m: &ModeSpec) -> Result<u16, String> {
    let v: u32 = match m {
        ModeSpec::Number(n) => *n,
        ModeSpec::Octal(s) => {
            let digits = s.strip_prefix("0o").unwrap_or(s);
            if digits.is_empty()
                || digits.len() > 6
                || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                return Err(format!(
                    "{s:?} is not an octal mode (expected e.g. \"0755\")"
                ));
            }
            u32::from_str_radix(digits, 8).map_err(|_| format!("{s:?} is not an octal mode"))?
        }
    };
    if v > 0o7777 {
        return Err(match m {
            ModeSpec::Number(n) => format!(
                "{n} (octal {n:o}) is not a mode: permission bits stop at 0o7777 (in TOML write 0o755; in JSON 493 or \"0755\")"
            ),
            ModeSpec::Octal(s) => format!("{s:?} is not a mode: permission bits stop at 07777"),
        });
    }
    u16::try_from(v).map_err(|_| format!("{v} is not a mode"))
}

/// Bytes of a size, or `None` for `"auto"`. `"remaining"` is only meaningful
/// for a partition and is rejected here; callers that allow it check first.
pub fn size_bytes(s: &SizeSpec) -> Result<Option<u64>, String> {
    super::values::size(&Some(s.clone()))
}

/// Checks an image path (`/etc/hostname`): absolute, and every component a
/// storable name (not `.` or `..`, no NUL, at most 255 bytes). Repeated and
/// trailing slashes are allowed and ignored.
pub fn check_image_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} must be an absolute image path starting with \"/\""
        ));
    }
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        check_name(comp.as_bytes()).map_err(|why| format!("{path:?}: component {comp:?} {why}"))?;
    }
    Ok(())
}

/// Checks one name component; the error completes "component X ...".
pub(crate) fn check_name(name: &[u8]) -> Result<(), String> {
    if name == b"." || name == b".." {
        return Err("is not allowed (no \".\" or \"..\" in image paths)".into());
    }
    if name.contains(&0) {
        return Err("contains a NUL byte".into());
    }
    if name.contains(&b'/') {
        return Err("contains \"/\"".into());
    }
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "is {} bytes long; names stop at {NAME_MAX} bytes",
            name.len()
        ));
    }
    Ok(())
}

/// Parses a SHA-256 given as 64 hex digits.
pub(crate) fn parse_sha256(s: &str) -> Result<[u8; 32], String> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return Err(format!(
            "{s:?} is not a SHA-256: expected 64 hex digits, found {}",
            b.len()
        ));
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hex = |c: u8| (c as char).to_digit(16);
        let (hi, lo) = match pair {
            [a, b] => (hex(*a), hex(*b)),
            _ => (None, None),
        };
        match (hi, lo, out.get_mut(i)) {
            (Some(h), Some(l), Some(o)) => *o = (h * 16 + l) as u8,
            _ => return Err(format!("{s:?} is not a SHA-256: expected hex digits")),
        }
    }
    Ok(out)
}

/// Bytes of an xattr value.
pub(crate) fn xattr_bytes(v: &XattrValue) -> Result<Vec<u8>, String> {
    match v {
        XattrValue::Text(t) => Ok(t.as_bytes().to_vec()),
        XattrValue::Bytes { base64 } => base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map_err(|e| format!("invalid base64: {e}")),
    }
}

/// Namespaces every target filesystem with xattrs understands.
const XATTR_PREFIXES: [&str; 4] = ["user.", "trusted.", "security.", "system."];

pub(crate) fn check_xattr_name(name: &str) -> Result<(), String> {
    let ok = XATTR_PREFIXES
        .iter()
        .any(|p| name.len() > p.len() && name.starts_with(p));
    if !ok {
        return Err(format!(
            "xattr name {name:?} needs a namespace: user., trusted., security. or system."
        ));
    }
    if name.len() > 255 || name.contains('\0') {
        return Err(format!("xattr name {name:?} is too long or contains NUL"));
    }
    Ok(())
}

type Problem = (KeyPath, String);

/// Every mode given as a number, with its key path (for the TOML check that
/// numeric modes are written in octal).
pub(crate) fn numeric_modes(spec: &Spec) -> Vec<(KeyPath, u32)> {
    let mut out = Vec::new();
    let mut fs_modes = |fs: &FsSpec, at: KeyPath| {
        for (i, e) in fs.entries.iter().enumerate() {
            if let Some(ModeSpec::Number(n)) = e.mode {
                out.push((at.key("entries").index(i).key("mode"), n));
            }
        }
        for (i, r) in fs.rules.iter().enumerate() {
            if let Some(ModeSpec::Number(n)) = r.mode {
                out.push((at.key("rules").index(i).key("mode"), n));
            }
        }
    };
    let root = KeyPath::default();
    if let Some(fs) = &spec.filesystem {
        fs_modes(fs, root.key("filesystem"));
    }
    for (i, p) in spec.partitions.iter().enumerate() {
        if let Some(fs) = &p.filesystem {
            fs_modes(fs, root.key("partitions").index(i).key("filesystem"));
        }
    }
    out
}

/// Validates a parsed manifest; returns the first problem found.
pub fn validate(spec: &Spec) -> Result<(), Problem> {
    let root = KeyPath::default();
    if spec.version != 1 {
        return Err((
            root.key("version"),
            format!(
                "unsupported version {} (this fstool reads version 1)",
                spec.version
            ),
        ));
    }
    if let Some(fs) = &spec.filesystem {
        check_fs(fs, &root.key("filesystem"))?;
    }
    if let Some(img) = &spec.image {
        check_image(img, &root.key("image"))?;
    }
    let n = spec.partitions.len();
    for (i, p) in spec.partitions.iter().enumerate() {
        let at = root.key("partitions").index(i);
        if let Some(s) = &p.size {
            let remaining = matches!(s, SizeSpec::Text(t) if t == "remaining");
            if remaining && i + 1 != n {
                return Err((
                    at.key("size"),
                    "\"remaining\" is only allowed for the last partition".into(),
                ));
            }
            if !remaining {
                size_bytes(s).map_err(|m| (at.key("size"), m))?;
            }
        }
        if let Some(u) = &p.uuid {
            check_uuid(u).map_err(|m| (at.key("uuid"), m))?;
        }
        if p.filesystem.is_some() && p.image.is_some() {
            return Err((
                at.key("image"),
                "a partition holds either a `filesystem` or a prebuilt `image`, not both".into(),
            ));
        }
        if let Some(fs) = &p.filesystem {
            check_fs(fs, &at.key("filesystem"))?;
        }
    }
    Ok(())
}

fn check_uuid(u: &str) -> Result<(), String> {
    super::values::uuid(u).map(|_| ())
}

/// The format that builds `fs.type`, among `formats`.
pub(crate) fn format_of<'a>(
    fs: &FsSpec,
    at: &KeyPath,
    formats: &[&'a dyn crate::fs::Format],
) -> Result<&'a dyn crate::fs::Format, Problem> {
    crate::fs::find(formats, fs.fs_type.as_str()).ok_or_else(|| {
        (
            at.key("type"),
            format!(
                "unknown filesystem type {:?} (expected one of {})",
                fs.fs_type.as_str(),
                crate::fs::type_names(formats).join(", ")
            ),
        )
    })
}

fn check_image(img: &ImageSpec, at: &KeyPath) -> Result<(), Problem> {
    for (key, s) in [
        ("size", &img.size),
        ("alignment", &img.alignment),
        ("cluster_size", &img.cluster_size),
    ] {
        if let Some(s) = s {
            let v = size_bytes(s).map_err(|m| (at.key(key), m))?;
            if key != "size" && v == Some(0) {
                return Err((at.key(key), "must not be 0".into()));
            }
        }
    }
    if let Some(ss) = img.sector_size {
        if ss != 512 && ss != 4096 {
            return Err((
                at.key("sector_size"),
                format!("{ss} is not a supported sector size (512 or 4096)"),
            ));
        }
    }
    if let Some(g) = &img.disk_guid {
        check_uuid(g).map_err(|m| (at.key("disk_guid"), m))?;
    }
    if let Some(sig) = &img.disk_signature {
        let ok = match sig {
            CountSpec::Count(n) => u32::try_from(*n).is_ok(),
            CountSpec::Text(t) => t
                .strip_prefix("0x")
                .or_else(|| t.strip_prefix("0X"))
                .is_some_and(|h| {
                    !h.is_empty() && h.len() <= 8 && u32::from_str_radix(h, 16).is_ok()
                }),
        };
        if !ok {
            return Err((
                at.key("disk_signature"),
                "expected a 32-bit number or a hex string such as \"0x12345678\"".into(),
            ));
        }
    }
    Ok(())
}

fn check_fs(fs: &FsSpec, at: &KeyPath) -> Result<(), Problem> {
    // The format parses its own keys; the seed and index only pick
    // default IDs, which cannot fail.
    let cx = crate::fs::VolumeContext {
        seed: "",
        index: 0,
        epoch: 0,
        identity: "",
    };
    format_of(fs, at, crate::fs::FORMATS)?.options(fs, at, &cx)?;
    if fs.source.is_some() && !fs.sources.is_empty() {
        return Err((
            at.key("sources"),
            "give either `source` (one tree at /) or `sources` (layers), not both".into(),
        ));
    }
    for (i, l) in fs.sources.iter().enumerate() {
        check_image_path(&l.path).map_err(|m| (at.key("sources").index(i).key("path"), m))?;
    }
    if fs.whiteouts && fs.sources.is_empty() && fs.source.is_none() {
        return Err((
            at.key("whiteouts"),
            "applies to `sources` layers; there are none".into(),
        ));
    }
    for (i, e) in fs.entries.iter().enumerate() {
        check_entry(e, &at.key("entries").index(i))?;
    }
    for (i, r) in fs.rules.iter().enumerate() {
        let at = at.key("rules").index(i);
        crate::tree::glob::Glob::new(&r.glob).map_err(|m| (at.key("glob"), m))?;
        if let Some(m) = &r.mode {
            parse_mode(m).map_err(|m| (at.key("mode"), m))?;
        }
        if let Some(c) = &r.capabilities {
            crate::tree::caps::FileCaps::parse(c).map_err(|m| (at.key("capabilities"), m))?;
        }
    }
    crate::tree::perms::Permissions::parse(fs.permissions.as_ref())
        .map_err(|m| (at.key("permissions"), m))?;
    Ok(())
}

fn check_entry(e: &EntrySpec, at: &KeyPath) -> Result<(), Problem> {
    use EntryType as T;
    check_image_path(&e.path).map_err(|m| (at.key("path"), m))?;
    let t = e.entry_type;
    let name = format!("{t:?}").to_lowercase();
    // Keys that only make sense for some types: a stray one is almost
    // always a mistake in the type, so say which types take it.
    let only = |key: &str, present: bool, allowed: &[T], which: &str| -> Result<(), Problem> {
        if present && !allowed.contains(&t) {
            return Err((
                at.key(key),
                format!("`{key}` is only valid for {which}, not for a {name} entry"),
            ));
        }
        Ok(())
    };
    only("source", e.source.is_some(), &[T::File], "file entries")?;
    only("contents", e.contents.is_some(), &[T::File], "file entries")?;
    only("sha256", e.sha256.is_some(), &[T::File], "file entries")?;
    only("sparse", e.sparse.is_some(), &[T::File], "file entries")?;
    only(
        "capabilities",
        e.capabilities.is_some(),
        &[T::File],
        "file entries",
    )?;
    if let Some(c) = &e.capabilities {
        crate::tree::caps::FileCaps::parse(c).map_err(|m| (at.key("capabilities"), m))?;
    }
    only(
        "target",
        e.target.is_some(),
        &[T::Symlink, T::Hardlink],
        "symlink and hardlink entries",
    )?;
    only(
        "major",
        e.major.is_some(),
        &[T::Char, T::Block],
        "char and block entries",
    )?;
    only(
        "minor",
        e.minor.is_some(),
        &[T::Char, T::Block],
        "char and block entries",
    )?;
    if t == T::Hardlink {
        let set = [
            ("mode", e.mode.is_some()),
            ("uid", e.uid.is_some()),
            ("gid", e.gid.is_some()),
            ("mtime", e.mtime.is_some()),
            ("xattrs", !e.xattrs.is_empty()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, s)| *s) {
            return Err((
                at.key(key),
                "a hardlink shares its target's inode; set metadata on the target entry".into(),
            ));
        }
    }
    match t {
        T::File => match (&e.source, &e.contents) {
            (None, None) => {
                return Err((
                    at.key("source"),
                    "a file entry needs `source` (a host path) or `contents`".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err((
                    at.key("contents"),
                    "give either `source` or `contents`, not both".into(),
                ))
            }
            _ => {}
        },
        T::Symlink => match &e.target {
            None => return Err((at.key("target"), "a symlink entry needs `target`".into())),
            Some(tg) if tg.is_empty() || tg.contains('\0') || tg.len() > 4095 => {
                return Err((
                    at.key("target"),
                    "a symlink target must be 1 to 4095 bytes without NUL".into(),
                ))
            }
            _ => {}
        },
        T::Hardlink => match &e.target {
            None => {
                return Err((
                    at.key("target"),
                    "a hardlink entry needs `target` (an image path)".into(),
                ))
            }
            Some(tg) => check_image_path(tg).map_err(|m| (at.key("target"), m))?,
        },
        T::Char | T::Block => {
            if e.major.is_none() {
                return Err((
                    at.key("major"),
                    format!("a {name} device entry needs `major` and `minor`"),
                ));
            }
            if e.minor.is_none() {
                return Err((
                    at.key("minor"),
                    format!("a {name} device entry needs `major` and `minor`"),
                ));
            }
        }
        T::Dir | T::Fifo | T::Socket => {}
    }
    if let Some(h) = &e.sha256 {
        parse_sha256(h).map_err(|m| (at.key("sha256"), m))?;
    }
    if let Some(m) = &e.mode {
        parse_mode(m).map_err(|m| (at.key("mode"), m))?;
    }
    for (k, v) in &e.xattrs {
        let kp = at.key("xattrs").key(k);
        check_xattr_name(k).map_err(|m| (kp.clone(), m))?;
        xattr_bytes(v).map_err(|m| (kp, m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let o = |s: &str| parse_mode(&ModeSpec::Octal(s.into()));
        assert_eq!(o("0755"), Ok(0o755));
        assert_eq!(o("755"), Ok(0o755));
        assert_eq!(o("4755"), Ok(0o4755));
        assert_eq!(o("0o644"), Ok(0o644));
        assert_eq!(o("07777"), Ok(0o7777));
        assert!(o("999").is_err());
        assert!(o("").is_err());
        assert!(o("17777").is_err());
        assert!(o("rwx").is_err());
        assert_eq!(parse_mode(&ModeSpec::Number(493)), Ok(0o755));
        assert!(parse_mode(&ModeSpec::Number(0o10000)).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size_bytes(&SizeSpec::Bytes(7)), Ok(Some(7)));
        assert_eq!(size_bytes(&SizeSpec::Text("auto".into())), Ok(None));
        assert_eq!(
            size_bytes(&SizeSpec::Text("2MiB".into())),
            Ok(Some(2 << 20))
        );
        assert!(size_bytes(&SizeSpec::Text("64XB".into())).is_err());
        assert!(size_bytes(&SizeSpec::Text("remaining".into())).is_err());
    }

    #[test]
    fn image_paths() {
        assert!(check_image_path("/etc/hostname").is_ok());
        assert!(check_image_path("/").is_ok());
        assert!(check_image_path("etc").is_err());
        assert!(check_image_path("/a/../b").is_err());
        assert!(check_image_path("/a/./b").is_err());
        assert!(check_image_path("/a\0b").is_err());
        assert!(check_image_path(&format!("/{}", "x".repeat(255))).is_ok());
        assert!(check_image_path(&format!("/{}", "x".repeat(256))).is_err());
    }

    #[test]
    fn sha256_hex() {
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b = parse_sha256(h).unwrap();
        assert_eq!(b[0], 0xe3);
        assert_eq!(b[31], 0x55);
        assert!(parse_sha256(&h[..62]).is_err());
        assert!(parse_sha256(&h.replace('e', "g")).is_err());
    }
}
