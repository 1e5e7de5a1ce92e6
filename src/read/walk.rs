//! Generic helpers over any [`VolumeReader`]: walking a whole tree,
//! looking a path up, copying a file out.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::BTreeSet;
use std::io::Write;

use super::{CorruptKind, Kind, NodeId, ReadError, VolumeReader};

/// Deepest directory nesting a walk or lookup follows. Linux paths stop at
/// 4096 bytes, so no real tree nests deeper than 2048 levels.
pub const MAX_DEPTH: usize = 2048;

/// Bytes read per call when copying a file.
const COPY_CHUNK: usize = 1 << 20;

/// One entry found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    /// Path from the root, `/`-separated, with a leading `/`.
    pub path: Vec<u8>,
    pub node: NodeId,
    pub kind: Kind,
    /// 1 for the root's children.
    pub depth: usize,
}

impl WalkEntry {
    /// The path as text (names that are not UTF-8 are shown lossily).
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Every entry below `dir`, in pre-order (a directory before its
/// contents), each directory's entries sorted by name bytes so the order
/// does not depend on on-disk hashing. `prefix` is prepended to every
/// path (empty for the root).
///
/// A directory reached twice (a loop, or a hard-linked directory) is
/// `Corrupt`, and so is nesting deeper than [`MAX_DEPTH`]; the walk
/// itself uses an explicit stack, never recursion.
pub fn walk_from(
    r: &dyn VolumeReader,
    dir: NodeId,
    prefix: &[u8],
) -> Result<Vec<WalkEntry>, ReadError> {
    let mut out = Vec::new();
    let mut visited = BTreeSet::from([dir]);
    let mut stack = vec![(prefix.to_vec(), sorted(r.read_dir(dir)?).into_iter())];
    while let Some((path, iter)) = stack.last_mut() {
        let Some(e) = iter.next() else {
            stack.pop();
            continue;
        };
        let mut p = Vec::with_capacity(path.len().saturating_add(e.name.len()).saturating_add(1));
        p.extend_from_slice(path);
        p.push(b'/');
        p.extend_from_slice(&e.name);
        let depth = stack.len();
        if e.kind == Kind::Dir {
            if depth >= MAX_DEPTH {
                return Err(CorruptKind::TooDeep {
                    what: "directory tree",
                    limit: MAX_DEPTH as u32,
                }
                .into());
            }
            if !visited.insert(e.node) {
                return Err(CorruptKind::Loop {
                    what: "directory tree",
                    node: e.node.0,
                }
                .into());
            }
            let sub = sorted(r.read_dir(e.node)?);
            out.push(WalkEntry {
                path: p.clone(),
                node: e.node,
                kind: e.kind,
                depth,
            });
            stack.push((p, sub.into_iter()));
        } else {
            out.push(WalkEntry {
                path: p,
                node: e.node,
                kind: e.kind,
                depth,
            });
        }
    }
    Ok(out)
}

/// Every entry of the volume; see [`walk_from`].
pub fn walk(r: &dyn VolumeReader) -> Result<Vec<WalkEntry>, ReadError> {
    walk_from(r, r.root(), b"")
}

fn sorted(mut v: Vec<super::DirEntry>) -> Vec<super::DirEntry> {
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The node at `path` (`/`-separated; empty components and `.` are
/// skipped, `..` goes up). Symlinks are not followed: a symlink in the
/// middle of a path is "not a directory". Name comparison is exact, except
/// that `fold` (FAT) compares case-insensitively.
pub fn lookup(r: &dyn VolumeReader, path: &[u8], fold: bool) -> Result<NodeId, ReadError> {
    let mut chain = vec![r.root()];
    let mut walked = String::new();
    for part in path.split(|&c| c == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => {
                if chain.len() > 1 {
                    chain.pop();
                }
                continue;
            }
            _ => {}
        }
        walked.push('/');
        walked.push_str(&String::from_utf8_lossy(part));
        if chain.len() > MAX_DEPTH {
            return Err(ReadError::NotFound { path: walked });
        }
        let Some(&cur) = chain.last() else {
            return Err(ReadError::NotFound { path: walked });
        };
        if r.metadata(cur)?.kind != Kind::Dir {
            return Err(ReadError::NotADirectory { path: walked });
        }
        let entries = r.read_dir(cur)?;
        let hit = entries.iter().find(|e| {
            if fold {
                e.name.eq_ignore_ascii_case(part)
                    || String::from_utf8_lossy(&e.name).to_lowercase()
                        == String::from_utf8_lossy(part).to_lowercase()
            } else {
                e.name == part
            }
        });
        match hit {
            Some(e) => chain.push(e.node),
            None => return Err(ReadError::NotFound { path: walked }),
        }
    }
    chain.last().copied().ok_or(ReadError::NotFound {
        path: String::from("/"),
    })
}

/// Copies the whole content of file `node` to `out`; returns the bytes
/// copied. A file that ends before its size is `Corrupt`.
pub fn copy_file(
    r: &dyn VolumeReader,
    node: NodeId,
    out: &mut dyn Write,
) -> Result<u64, ReadError> {
    let size = r.metadata(node)?.size;
    copy_range(r, node, size, out)
}

/// Copies the first `len` bytes of file `node` to `out`.
pub fn copy_range(
    r: &dyn VolumeReader,
    node: NodeId,
    len: u64,
    out: &mut dyn Write,
) -> Result<u64, ReadError> {
    let mut buf = vec![
        0u8;
        usize::try_from(len)
            .unwrap_or(COPY_CHUNK)
            .clamp(1, COPY_CHUNK)
    ];
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len.saturating_sub(done))
            .unwrap_or(COPY_CHUNK)
            .min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = r.read_at(node, done, chunk)?;
        if n == 0 {
            return Err(CorruptKind::Short {
                what: "file",
                want: len,
                got: done,
            }
            .into());
        }
        out.write_all(chunk.get(..n).unwrap_or_default())
            .map_err(ReadError::Output)?;
        done = done.saturating_add(n as u64);
    }
    Ok(done)
}

/// The whole content of file `node`, refusing files over `cap` bytes.
pub fn read_file(r: &dyn VolumeReader, node: NodeId, cap: u64) -> Result<Vec<u8>, ReadError> {
    let size = r.metadata(node)?.size;
    if size > cap {
        return Err(CorruptKind::TooLarge {
            what: "file",
            value: size,
            limit: cap,
        }
        .into());
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    copy_range(r, node, size, &mut out)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::super::{DirEntry, Metadata, Timestamp};
    use super::*;

    /// A volume in memory: node i has the children listed in `dirs[i]`
    /// and, when it is a file, the bytes `files[i]`.
    struct Mem {
        dirs: Vec<Vec<(&'static str, u64)>>,
        files: Vec<Vec<u8>>,
    }

    impl VolumeReader for Mem {
        fn format(&self) -> &'static str {
            "mem"
        }
        fn root(&self) -> NodeId {
            NodeId(0)
        }
        fn read_dir(&self, dir: NodeId) -> Result<Vec<DirEntry>, ReadError> {
            Ok(self.dirs[dir.0 as usize]
                .iter()
                .map(|&(n, id)| DirEntry {
                    name: n.as_bytes().to_vec(),
                    node: NodeId(id),
                    kind: self.kind(id),
                })
                .collect())
        }
        fn metadata(&self, node: NodeId) -> Result<Metadata, ReadError> {
            let t = Timestamp::default();
            Ok(Metadata {
                kind: self.kind(node.0),
                mode: 0o644,
                uid: 0,
                gid: 0,
                atime: t,
                mtime: t,
                ctime: t,
                crtime: None,
                xattrs: Vec::new(),
                nlink: 1,
                rdev: (0, 0),
                target: None,
                size: self.files[node.0 as usize].len() as u64,
            })
        }
        fn read_at(&self, node: NodeId, off: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
            let f = &self.files[node.0 as usize];
            let off = (off as usize).min(f.len());
            let n = buf.len().min(f.len() - off);
            buf[..n].copy_from_slice(&f[off..off + n]);
            Ok(n)
        }
    }

    impl Mem {
        fn kind(&self, id: u64) -> Kind {
            if self.files[id as usize].is_empty() {
                Kind::Dir
            } else {
                Kind::File
            }
        }
    }

    fn paths(v: &[WalkEntry]) -> Vec<String> {
        v.iter().map(WalkEntry::path_lossy).collect()
    }

    #[test]
    fn walks_sorted_preorder_and_looks_up() {
        let m = Mem {
            dirs: vec![vec![("z", 1), ("a", 2)], vec![("f", 3)], vec![], vec![]],
            files: vec![vec![], vec![], vec![], b"hello".to_vec()],
        };
        assert_eq!(paths(&walk(&m).unwrap()), ["/a", "/z", "/z/f"]);
        assert_eq!(lookup(&m, b"/z/./f", false).unwrap(), NodeId(3));
        assert_eq!(lookup(&m, b"z/../z/f", false).unwrap(), NodeId(3));
        assert_eq!(lookup(&m, b"/Z/F", true).unwrap(), NodeId(3));
        assert!(matches!(
            lookup(&m, b"/z/f/g", false),
            Err(ReadError::NotADirectory { .. })
        ));
        assert!(matches!(
            lookup(&m, b"/nope", false),
            Err(ReadError::NotFound { .. })
        ));
        assert_eq!(read_file(&m, NodeId(3), 100).unwrap(), b"hello");
        assert!(read_file(&m, NodeId(3), 4).is_err());
    }

    #[test]
    fn loops_and_deep_trees_are_corrupt() {
        let looped = Mem {
            dirs: vec![vec![("a", 1)], vec![("back", 0)]],
            files: vec![vec![], vec![]],
        };
        assert!(matches!(walk(&looped), Err(ReadError::Corrupt(_))));
        // A chain of MAX_DEPTH + 1 distinct directories.
        let n = MAX_DEPTH + 1;
        let mut dirs: Vec<Vec<(&str, u64)>> = (1..=n).map(|i| vec![("d", i as u64)]).collect();
        dirs.push(vec![]);
        let deep = Mem {
            dirs,
            files: vec![vec![]; n + 1],
        };
        assert!(matches!(walk(&deep), Err(ReadError::Corrupt(_))));
    }
}
