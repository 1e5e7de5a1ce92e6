//! Key paths (`filesystem.entries[2].mode`) and finding their line in TOML
//! text.

use std::fmt;
use toml_edit::{Item, TableLike, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root to a value, displayed as
/// `filesystem.entries[2].mode`. Empty for the document itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.push_key(k);
        p
    }

    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Parses the displayed form back (`partitions[1].filesystem.size`);
    /// quoted keys are taken as written. Used to find the line of a key
    /// that a later layer names in an error.
    pub fn parse(s: &str) -> KeyPath {
        let mut p = KeyPath::default();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
            if !name.is_empty() {
                p.push_key(name.trim_matches('"'));
            }
            while let Some((idx, tail)) = rest.split_once(']') {
                if let Ok(i) = idx.parse() {
                    p.0.push(Seg::Index(i));
                }
                rest = tail.strip_prefix('[').unwrap_or(tail);
            }
        }
        p
    }

    pub fn push_key(&mut self, k: &str) {
        self.0.push(Seg::Key(k.to_string()));
    }

    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> KeyPath {
        use serde_path_to_error::Segment;
        KeyPath(
            path.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line of byte offset `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

enum Cursor<'a> {
    Table(&'a dyn TableLike),
    Item(&'a Item),
    Value(&'a Value),
}

fn step_key<'a>(t: &'a dyn TableLike, k: &str, best: &mut Option<usize>) -> Option<Cursor<'a>> {
    let (key, item) = t.get_key_value(k)?;
    if let Some(s) = key.span().or_else(|| item.span()) {
        *best = Some(s.start);
    }
    Some(Cursor::Item(item))
}

/// Walks `path` in a parsed document: returns the byte offset of the
/// deepest key or element found, and the cursor at the end of the path when
/// the whole path exists.
fn walk<'a>(doc: &'a toml_edit::Table, path: &KeyPath) -> (Option<usize>, Option<Cursor<'a>>) {
    let mut best: Option<usize> = None;
    let mut cur = Cursor::Table(doc as &dyn TableLike);
    for seg in &path.0 {
        let next = match (cur, seg) {
            (Cursor::Table(t), Seg::Key(k)) => step_key(t, k, &mut best),
            (Cursor::Value(Value::InlineTable(t)), Seg::Key(k)) => step_key(t, k, &mut best),
            (Cursor::Item(item), Seg::Key(k)) => {
                item.as_table_like().and_then(|t| step_key(t, k, &mut best))
            }
            (Cursor::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(*i).map(|t| {
                if let Some(s) = t.span() {
                    best = Some(s.start);
                }
                Cursor::Table(t as &dyn TableLike)
            }),
            (
                Cursor::Item(Item::Value(Value::Array(a))) | Cursor::Value(Value::Array(a)),
                Seg::Index(i),
            ) => a.get(*i).map(|v| {
                if let Some(s) = v.span() {
                    best = Some(s.start);
                }
                Cursor::Value(v)
            }),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return (best, None),
        }
    }
    (best, Some(cur))
}

/// The line of `path` in TOML `text`: the line of the deepest key or array
/// element along the path that exists (the key itself when it exists, else
/// the table that should have held it). `None` when the text does not parse
/// or nothing along the path has a position.
pub(crate) fn toml_line(text: &str, path: &KeyPath) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    walk(doc.as_table(), path).0.map(|off| line_of(text, off))
}

/// The source text of the integer at `path` (`0o755`, `755`, `0x1ed`), when
/// the path names an integer.
pub(crate) fn toml_integer_repr(text: &str, path: &KeyPath) -> Option<String> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let v = match walk(doc.as_table(), path).1? {
        Cursor::Item(Item::Value(v)) | Cursor::Value(v) => v,
        _ => return None,
    };
    match v {
        // A parsed document keeps reprs as spans into the text.
        Value::Integer(_) => text.get(v.span()?).map(|r| r.trim().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segs: &[Seg]) -> KeyPath {
        KeyPath(segs.to_vec())
    }

    #[test]
    fn display() {
        let kp = p(&[
            Seg::Key("filesystem".into()),
            Seg::Key("entries".into()),
            Seg::Index(2),
            Seg::Key("mode".into()),
        ]);
        assert_eq!(kp.to_string(), "filesystem.entries[2].mode");
        assert_eq!(
            p(&[Seg::Key("user.a b".into())]).to_string(),
            "\"user.a b\""
        );
    }

    #[test]
    fn finds_lines() {
        let text = "version = 1\n\n[filesystem]\ntype = \"ext4\"\n\n[[filesystem.entries]]\npath = \"/a\"\n\n[[filesystem.entries]]\npath = \"/b\"\nmode = \"999\"\nxattrs = { \"user.x\" = \"1\", \"user.y\" = \"2\" }\nlist = [1,\n 2]\n";
        let fs = Seg::Key("filesystem".into());
        let en = Seg::Key("entries".into());
        assert_eq!(
            toml_line(text, &p(&[fs.clone(), Seg::Key("type".into())])),
            Some(4)
        );
        assert_eq!(
            toml_line(
                text,
                &p(&[
                    fs.clone(),
                    en.clone(),
                    Seg::Index(1),
                    Seg::Key("mode".into())
                ])
            ),
            Some(11)
        );
        // A missing key points at its table.
        assert_eq!(
            toml_line(
                text,
                &p(&[
                    fs.clone(),
                    en.clone(),
                    Seg::Index(0),
                    Seg::Key("type".into())
                ])
            ),
            Some(6)
        );
        assert_eq!(
            toml_line(
                text,
                &p(&[
                    fs,
                    en,
                    Seg::Index(1),
                    Seg::Key("xattrs".into()),
                    Seg::Key("user.y".into())
                ])
            ),
            Some(12)
        );
        let list = p(&[
            Seg::Key("filesystem".into()),
            Seg::Key("entries".into()),
            Seg::Index(1),
            Seg::Key("list".into()),
            Seg::Index(1),
        ]);
        assert_eq!(toml_line(text, &list), Some(14));
    }
}
