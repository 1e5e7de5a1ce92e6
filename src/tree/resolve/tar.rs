//! A tar archive as a filesystem's `source` (`.tar`, `.tar.gz`, `.tgz`).
//!
//! The archive is read once, in archive order, like an extraction: later
//! members replace earlier ones of the same path, a directory member over an
//! existing directory only changes its metadata, parents without a member
//! are implied (0755, 0:0, the epoch). Unlike a host directory, members keep
//! the archive's owners (uid/gid) as well as its permission bits: a tar's
//! owners are content, not the state of whoever unpacked it. Times follow
//! the time policy like host mtimes. GNU long names and pax path/linkpath
//! records are honoured (the `tar` crate folds them into the member), as
//! are GNU sparse members ('S', read through the crate's sparse map). What
//! the crate cannot read right is refused, never guessed: GNU's pax sparse
//! formats and pax records whose values hold a newline.
//!
//! Contents are never held in memory: regular members are streamed into a
//! private temporary directory, one file per member named by its index in
//! the archive, and enter the tree as host files. The directory belongs to
//! the build's [`crate::tree::store::SourceStore`] and goes with it.
//! Children are sorted by name bytes like every other tree, so member order
//! only matters for replacement and hard links (whose target must come
//! first, as in any tar).

use super::{Builder, Explicit, Kind, Origin, TreeError, ROOT};
use crate::tree::{FileData, Meta, Timestamp};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Whether `path` names a tar archive, by its extension.
pub(super) fn is_tar(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

fn unreadable(path: &Path) -> impl Fn(std::io::Error) -> TreeError + '_ {
    move |source| TreeError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// An archive member's path as image-path components: leading `/` and `./`
/// dropped, `.` components skipped, `..` refused.
fn member_components<'a>(archive: &Path, raw: &'a [u8]) -> Result<Vec<&'a [u8]>, TreeError> {
    let mut comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(TreeError::BadName {
                    path: format!("{}:{}", archive.display(), String::from_utf8_lossy(raw)),
                    message: "member path contains `..`".into(),
                })
            }
            _ => {
                crate::spec::validate::check_name(c).map_err(|why| TreeError::BadName {
                    path: format!("{}:{}", archive.display(), String::from_utf8_lossy(raw)),
                    message: format!("name {why}"),
                })?;
                comps.push(c);
            }
        }
    }
    Ok(comps)
}

/// Where the archive's members go: under directory node `into`, whose
/// image path components are `prefix`.
struct Layer {
    prefix: Vec<Vec<u8>>,
    into: usize,
}

impl Layer {
    /// A member's components made absolute in the image.
    fn full<'a>(&'a self, member: &[&'a [u8]]) -> Vec<&'a [u8]> {
        self.prefix
            .iter()
            .map(Vec::as_slice)
            .chain(member.iter().copied())
            .collect()
    }
}

fn image_path(comps: &[&[u8]]) -> String {
    super::display(comps)
}

impl Builder {
    /// Reads the tar archive `archive` into directory node `into`.
    pub(super) fn walk_tar(&mut self, archive: &Path, into: usize) -> Result<(), TreeError> {
        let file = File::open(archive).map_err(unreadable(archive))?;
        let name = archive.to_string_lossy().to_ascii_lowercase();
        let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        } else {
            Box::new(std::io::BufReader::new(file))
        };
        let dir_path = self
            .sources
            .new_dir()
            .map_err(unreadable(Path::new("temporary directory")))?;
        let mut ar = tar::Archive::new(reader);
        let entries = ar.entries().map_err(unreadable(archive))?;
        let at = Layer {
            prefix: self.components_of(into),
            into,
        };
        let shown = archive.file_name().unwrap_or_default().to_string_lossy();
        self.phase.set(&format!("extracting {shown}"));
        for (index, entry) in entries.enumerate() {
            let mut entry = entry.map_err(unreadable(archive))?;
            self.add_member(archive, &dir_path, &at, index, &mut entry)?;
        }
        self.phase.set("resolving the tree");
        Ok(())
    }

    fn add_member<R: Read>(
        &mut self,
        archive: &Path,
        dir: &Path,
        at: &Layer,
        index: usize,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), TreeError> {
        use tar::EntryType as T;
        let raw = entry.path_bytes().into_owned();
        let member = member_components(archive, &raw)?;
        if let Some((last, parent)) = member.split_last() {
            if self.whiteouts && (last.starts_with(b".wh.")) {
                if let Some(d) = self.lookup(&at.full(parent)) {
                    self.whiteout(d, last);
                }
                return Ok(());
            }
        }
        let comps = at.full(&member);
        let path = image_path(&comps);
        let invalid = |key: &'static str, message: String| TreeError::Invalid {
            path: format!("{}:{path}", archive.display()),
            key,
            message,
        };
        // A pax record whose value holds a newline (a long path with a
        // newline in it) cannot be read by the tar crate: refuse the member
        // rather than store it under its truncated header name.
        let pax = pax_info(entry).map_err(|e| {
            invalid(
                "pax",
                format!("malformed pax extended header ({e}); a path or link with a newline in a pax record is not supported, `tar --format=gnu` stores it"),
            )
        })?;
        if pax.gnu_sparse {
            return Err(invalid(
                "type",
                "a GNU sparse file in pax format (GNU.sparse.* records) is not supported; \
                 create the archive with `tar --format=gnu -S`"
                    .into(),
            ));
        }
        let pax_time = pax.mtime;
        let header = entry.header();
        let etype = header.entry_type();
        // Headers that describe the next member, not a file of their own
        // (the crate already applied the ones it understands).
        if matches!(
            etype,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let mode = header.mode().map_err(unreadable(archive))? & 0o7777;
        let uid = u32::try_from(header.uid().map_err(unreadable(archive))?)
            .map_err(|_| invalid("uid", "does not fit in 32 bits".into()))?;
        let gid = u32::try_from(header.gid().map_err(unreadable(archive))?)
            .map_err(|_| invalid("gid", "does not fit in 32 bits".into()))?;
        let mtime = match pax_time {
            Some(t) => t,
            None => Timestamp::from_secs(
                header_mtime(header)
                    .ok_or_else(|| invalid("mtime", "not a valid tar time field".into()))?,
            ),
        };
        let time = self.host_time(mtime);
        let mode = u16::try_from(mode).unwrap_or(0o7777);
        let meta = Meta::new(mode, uid, gid, time);

        if member.is_empty() {
            // "./": the layer's root directory's own metadata.
            if etype == T::Directory {
                let ino = self.nodes.get(at.into).map_or(ROOT, |b| b.inode);
                if let Some(i) = self.inodes.get_mut(ino) {
                    i.meta = meta;
                }
                return Ok(());
            }
            return Err(invalid("type", "the root can only be a directory".into()));
        }
        let existing = self.lookup(&comps);

        let kind = match etype {
            T::Directory => {
                if let Some(n) = existing.filter(|&n| self.is_dir(n)) {
                    let ino = self.nodes.get(n).map_or(0, |b| b.inode);
                    if let Some(i) = self.inodes.get_mut(ino) {
                        i.meta = meta;
                    }
                    return Ok(());
                }
                Kind::Dir
            }
            // A GNU sparse member ('S'): the crate reads its sparse map and
            // yields the file's bytes, holes as zeros.
            T::Regular | T::Continuous | T::GNUSparse => {
                let host: PathBuf = dir.join(index.to_string());
                let mut out = File::create(&host).map_err(unreadable(&host))?;
                let len = std::io::copy(entry, &mut out).map_err(unreadable(archive))?;
                Kind::File {
                    data: FileData::Host {
                        path: host,
                        len,
                        sha256: None,
                    },
                    sparse: false,
                }
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(invalid("type", "symlink without a target".into()));
                }
                Kind::Symlink(target)
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tcomps = at.full(&member_components(archive, &target)?);
                let fail = |message: &str| TreeError::HardLink {
                    path: path.clone(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                    message: message.to_string(),
                };
                let tn = self
                    .lookup(&tcomps)
                    .ok_or_else(|| fail("no such member earlier in the archive"))?;
                if self.is_dir(tn) {
                    return Err(fail("it is a directory"));
                }
                if existing == Some(tn) {
                    // A link to itself: nothing to do.
                    return Ok(());
                }
                let ino = self.nodes.get(tn).map_or(0, |b| b.inode);
                let parent = self.ensure_parent(&path, &comps)?;
                let name = comps.last().copied().unwrap_or_default();
                self.link(parent, name, ino, false, Origin::Source);
                return Ok(());
            }
            T::Char | T::Block => {
                let major = header.device_major().map_err(unreadable(archive))?;
                let minor = header.device_minor().map_err(unreadable(archive))?;
                let (Some(ma), Some(mi)) = (major, minor) else {
                    return Err(invalid("type", "device without major/minor".into()));
                };
                if etype == T::Char {
                    Kind::Char(ma, mi)
                } else {
                    Kind::Block(ma, mi)
                }
            }
            T::Fifo => Kind::Fifo,
            other => {
                return Err(invalid(
                    "type",
                    format!("unsupported tar member type {other:?}"),
                ))
            }
        };
        let is_dir = matches!(kind, Kind::Dir);
        let ino = self.add_inode(meta, kind, Explicit::default());
        let parent = self.ensure_parent(&path, &comps)?;
        let name = comps.last().copied().unwrap_or_default();
        self.link(parent, name, ino, is_dir, Origin::Source);
        Ok(())
    }
}

/// A header's `mtime` field: octal, or GNU base-256 (first byte 0x80 for a
/// positive number, 0xFF for a negative one in two's complement), which GNU
/// tar writes for times before 1970 or past 2242. The `tar` crate reads
/// base-256 as unsigned, so a negative time would come out huge.
fn header_mtime(header: &tar::Header) -> Option<i64> {
    let raw = &header.as_old().mtime;
    let first = *raw.first()?;
    if first & 0x80 == 0 {
        return i64::try_from(header.mtime().ok()?).ok();
    }
    // 96-bit two's complement; the marker bit is part of a negative
    // number's sign extension.
    let mut v: i128 = if first == 0xFF { -1 } else { 0 };
    for (i, &b) in raw.iter().enumerate() {
        let b = if i == 0 && first != 0xFF { b & 0x7F } else { b };
        v = v.checked_mul(256)?.checked_add(i128::from(b))?;
    }
    i64::try_from(v).ok()
}

/// What a member's pax records say beyond what the `tar` crate applies.
struct PaxInfo {
    /// `mtime` (decimal seconds with an optional fraction, may be
    /// negative), which overrides the header's whole-second field.
    mtime: Option<Timestamp>,
    /// A `GNU.sparse.*` record: the member is in one of GNU tar's pax
    /// sparse formats (0.0, 0.1, 1.0), whose data is not the file's bytes.
    gnu_sparse: bool,
}

fn pax_info<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<PaxInfo> {
    let mut info = PaxInfo {
        mtime: None,
        gnu_sparse: false,
    };
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(info);
    };
    for ext in exts {
        let ext = ext?;
        match ext.key() {
            Ok("mtime") => info.mtime = ext.value().ok().and_then(parse_pax_time),
            Ok(k) if k.starts_with("GNU.sparse.") => info.gnu_sparse = true,
            _ => {}
        }
    }
    Ok(info)
}

/// `[-]SECONDS[.FRACTION]` as a timestamp (the fraction truncated to
/// nanoseconds; a negative time's fraction counts back from the second).
fn parse_pax_time(v: &str) -> Option<Timestamp> {
    let (neg, v) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos = 0u32;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if !neg {
        return Some(Timestamp { secs, nanos });
    }
    if nanos == 0 {
        return Some(Timestamp::from_secs(-secs));
    }
    Some(Timestamp {
        secs: (-secs).checked_sub(1)?,
        nanos: 1_000_000_000 - nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        let t = |secs, nanos| Some(Timestamp { secs, nanos });
        assert_eq!(
            parse_pax_time("1700000000.123456789"),
            t(1_700_000_000, 123_456_789)
        );
        assert_eq!(parse_pax_time("1.5"), t(1, 500_000_000));
        assert_eq!(parse_pax_time("-1.5"), t(-2, 500_000_000));
        assert_eq!(parse_pax_time("-315619200"), t(-315_619_200, 0));
        assert_eq!(parse_pax_time("9000000000"), t(9_000_000_000, 0));
        assert_eq!(parse_pax_time("1.1234567891"), t(1, 123_456_789));
        for bad in ["", "-", "x", "1.x", ".5", "99999999999999999999"] {
            assert_eq!(parse_pax_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn base256_header_times_keep_their_sign() {
        let mut h = tar::Header::new_gnu();
        let set = |h: &mut tar::Header, bytes: [u8; 12]| h.as_old_mut().mtime = bytes;
        let mut neg = [0xFFu8; 12];
        // -315619200 in 96-bit two's complement.
        neg[8..].copy_from_slice(&(-315_619_200i32).to_be_bytes());
        set(&mut h, neg);
        assert_eq!(header_mtime(&h), Some(-315_619_200));
        let mut pos = [0u8; 12];
        pos[0] = 0x80;
        pos[4..].copy_from_slice(&9_000_000_000u64.to_be_bytes());
        set(&mut h, pos);
        assert_eq!(header_mtime(&h), Some(9_000_000_000));
        h.set_mtime(1_700_000_000);
        assert_eq!(header_mtime(&h), Some(1_700_000_000));
    }
}
