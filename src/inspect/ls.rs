//! `fstool ls` and `fstool cat`: listing and reading files of an image
//! through [`VolumeReader`].

use serde_json::{json, Value};

use super::volume::InspectError;
use crate::read::{self, Kind, Metadata, NodeId, ReadError, VolumeReader};

/// One listed entry: path (or name) and metadata.
pub struct Listed {
    pub path: Vec<u8>,
    pub node: NodeId,
    pub meta: Metadata,
}

fn rerr(image: &str) -> impl FnOnce(ReadError) -> InspectError + '_ {
    move |source| InspectError::Read {
        image: image.to_string(),
        source,
    }
}

/// Whether names compare case-insensitively (FAT).
fn folds(r: &dyn VolumeReader) -> bool {
    r.format().starts_with("fat")
}

/// Lists `path` of the volume: a directory's entries (all below it with
/// `recursive`), or the entry itself when it is not a directory. Sorted
/// by path bytes.
pub fn list(
    r: &dyn VolumeReader,
    image: &str,
    path: &str,
    recursive: bool,
) -> Result<Vec<Listed>, InspectError> {
    let node = read::lookup(r, path.as_bytes(), folds(r)).map_err(rerr(image))?;
    let meta = r.metadata(node).map_err(rerr(image))?;
    if meta.kind != Kind::Dir {
        return Ok(vec![Listed {
            path: path.as_bytes().to_vec(),
            node,
            meta,
        }]);
    }
    let mut out = Vec::new();
    if recursive {
        let prefix = path.trim_end_matches('/');
        for e in read::walk_from(r, node, prefix.as_bytes()).map_err(rerr(image))? {
            let meta = r.metadata(e.node).map_err(rerr(image))?;
            out.push(Listed {
                path: e.path,
                node: e.node,
                meta,
            });
        }
    } else {
        let mut entries = r.read_dir(node).map_err(rerr(image))?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            let meta = r.metadata(e.node).map_err(rerr(image))?;
            out.push(Listed {
                path: e.name,
                node: e.node,
                meta,
            });
        }
    }
    Ok(out)
}

/// `rwxr-xr-x` with the type letter and setuid/setgid/sticky.
pub fn mode_string(kind: Kind, mode: u16) -> String {
    let mut s = String::with_capacity(10);
    s.push(kind.letter());
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let set = mode & bit != 0;
        let special = match i {
            2 => (mode & 0o4000 != 0).then_some(if set { 's' } else { 'S' }),
            5 => (mode & 0o2000 != 0).then_some(if set { 's' } else { 'S' }),
            8 => (mode & 0o1000 != 0).then_some(if set { 't' } else { 'T' }),
            _ => None,
        };
        s.push(special.unwrap_or(if set { *c } else { '-' }));
    }
    s
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
// Days are at most i64::MAX / 86400 (about 1.1e14): no term below can
// overflow.
#[allow(clippy::arithmetic_side_effects)]
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One line per entry; `long` adds mode, links, owner, size and mtime
/// like `ls -l`.
pub fn render_text(items: &[Listed], long: bool) -> String {
    let mut out = String::new();
    for it in items {
        let name = String::from_utf8_lossy(&it.path);
        if long {
            let m = &it.meta;
            let size = match m.kind {
                Kind::CharDev | Kind::BlockDev => format!("{}, {}", m.rdev.0, m.rdev.1),
                _ => m.size.to_string(),
            };
            out.push_str(&format!(
                "{} {:>3} {:>5} {:>5} {:>10} {} {}",
                mode_string(m.kind, m.mode),
                m.nlink,
                m.uid,
                m.gid,
                size,
                utc(m.mtime.secs),
                name
            ));
            if let Some(t) = &m.target {
                out.push_str(&format!(" -> {}", String::from_utf8_lossy(t)));
            }
        } else {
            out.push_str(&name);
        }
        out.push('\n');
    }
    out
}

fn time_json(t: crate::read::Timestamp) -> Value {
    json!({ "secs": t.secs, "nanos": t.nanos })
}

/// The listing as JSON: an array of objects with every metadata field.
/// Byte strings that are not UTF-8 are shown lossily.
pub fn render_json(items: &[Listed]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|it| {
                let m = &it.meta;
                let xattrs: serde_json::Map<String, Value> = m
                    .xattrs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(String::from_utf8_lossy(v).into())))
                    .collect();
                json!({
                    "path": String::from_utf8_lossy(&it.path),
                    "node": it.node.0,
                    "kind": m.kind.name(),
                    "mode": format!("{:04o}", m.mode),
                    "uid": m.uid,
                    "gid": m.gid,
                    "size": m.size,
                    "nlink": m.nlink,
                    "atime": time_json(m.atime),
                    "mtime": time_json(m.mtime),
                    "ctime": time_json(m.ctime),
                    "crtime": m.crtime.map(time_json),
                    "rdev": [m.rdev.0, m.rdev.1],
                    "target": m.target.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
                    "xattrs": xattrs,
                })
            })
            .collect(),
    )
}

/// Writes the file at `path` to `out`.
pub fn cat(
    r: &dyn VolumeReader,
    image: &str,
    path: &str,
    out: &mut dyn std::io::Write,
) -> Result<u64, InspectError> {
    let node = read::lookup(r, path.as_bytes(), folds(r)).map_err(rerr(image))?;
    let meta = r.metadata(node).map_err(rerr(image))?;
    if meta.kind != Kind::File {
        return Err(InspectError::Refused {
            path: path.to_string(),
            what: format!("is a {}, not a regular file", meta.kind.name()),
        });
    }
    read::copy_file(r, node, out).map_err(rerr(image))
}
