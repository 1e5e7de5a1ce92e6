//! Which tree nodes become MFT records, their record numbers (sorted
//! pre-order from [`FIRST_USER`], the root as record 5), and their names:
//! one per directory entry, hard links adding names to their target's
//! record, each in the Win32 namespace unless Win32 cannot hold it or a
//! sibling differs from it only in case (then POSIX, case-sensitive).

use super::file_name::{self, Namespace};
use super::index;
use super::layout::{Content, Extent, Inode, Name, FIRST_USER, ROOT, SYSTEM_NAMES};
use super::reparse;
use super::std_info::fa;
use super::upcase;
use super::{NtfsError, NtfsOptions, SkippedEntry};
use crate::spec::model::Unsupported;
use crate::tree::{NodeId, NodeKind, Tree};

/// The numbered inodes.
pub struct Inodes {
    /// In record order; the root first.
    pub inodes: Vec<Inode>,
    /// Tree node → index in `inodes`.
    pub inode_of: Vec<Option<usize>>,
    pub skipped: Vec<SkippedEntry>,
}

fn kind_name(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::CharDev { .. } => "char-device",
        NodeKind::BlockDev { .. } => "block-device",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
        _ => "file",
    }
}

/// True when a relative symlink target names an existing entry, walking
/// from `dir` through directories by exact names and `..` only.
fn resolves(tree: &Tree, dir: NodeId, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.ends_with('/') {
        return false;
    }
    let mut cur = dir;
    for part in target.split('/') {
        if !tree.node(cur).is_dir() {
            return false;
        }
        cur = match part {
            "" | "." => return false,
            ".." => tree.node(cur).parent,
            name => match tree
                .children(cur)
                .iter()
                .find(|c| tree.node(**c).name == name.as_bytes())
            {
                Some(c) => *c,
                None => return false,
            },
        };
        if let NodeKind::Symlink { .. } = tree.node(cur).kind {
            return false;
        }
    }
    true
}

fn units_of(tree: &Tree, id: NodeId) -> Result<Vec<u16>, NtfsError> {
    let n = tree.node(id);
    let bad = |reason: &str| NtfsError::InvalidName {
        path: tree.path_of(id),
        reason: reason.to_string(),
    };
    let s = std::str::from_utf8(&n.name).map_err(|_| bad("is not valid UTF-8"))?;
    let units: Vec<u16> = s.encode_utf16().collect();
    if units.is_empty() || units.len() > file_name::MAX_NAME {
        return Err(bad("must be 1 to 255 UTF-16 units long"));
    }
    if units.iter().any(|&u| u == 0 || u == u16::from(b'/')) {
        return Err(bad("contains NUL or '/'"));
    }
    Ok(units)
}

/// Plans the volume for `tree`.
/// Numbers the inodes and gives them their names.
pub fn number(tree: &Tree, opts: &NtfsOptions, up: &[u16]) -> Result<Inodes, NtfsError> {
    // Inodes and record numbers, in sorted pre-order.
    let mut inode_of: Vec<Option<usize>> = vec![None; tree.nodes.len()];
    let mut inodes: Vec<Inode> = Vec::new();
    let mut skipped = Vec::new();
    let mut next_record = FIRST_USER;
    let mut included = vec![false; tree.nodes.len()];
    for id in tree.preorder() {
        let n = tree.node(id);
        if id != NodeId::ROOT && !included[n.parent.index()] {
            continue;
        }
        let content = match &n.kind {
            NodeKind::Dir { .. } => Some(Content::Dir {
                index: index::Tree {
                    root: index::Node {
                        entries: Vec::new(),
                        end_child: None,
                    },
                    blocks: Vec::new(),
                },
                alloc: Extent::default(),
                bitmap: None,
            }),
            NodeKind::File { data, .. } => Some(Content::File {
                len: data.len(),
                resident: false,
                alloc: Extent::default(),
                segments: None,
            }),
            NodeKind::Symlink { target } => {
                let t = std::str::from_utf8(target).map_err(|_| NtfsError::InvalidName {
                    path: tree.path_of(id),
                    reason: "has a symlink target that is not valid UTF-8".into(),
                })?;
                let (tag, reparse) = reparse::symlink(t, resolves(tree, n.parent, t));
                Some(Content::Symlink { tag, reparse })
            }
            NodeKind::HardLink { .. } => None,
            k => {
                if opts.unsupported == Unsupported::Error {
                    return Err(NtfsError::Unsupported {
                        path: tree.path_of(id),
                        kind: kind_name(k),
                    });
                }
                skipped.push(SkippedEntry {
                    path: tree.path_of(id),
                    kind: kind_name(k),
                });
                continue;
            }
        };
        included[id.index()] = true;
        let Some(content) = content else { continue };
        let record = if id == NodeId::ROOT {
            ROOT
        } else {
            next_record += 1;
            next_record - 1
        };
        let attributes = match &content {
            Content::Dir { .. } => 0,
            Content::Symlink { .. } => fa::ARCHIVE | fa::REPARSE_POINT,
            Content::File { .. } if n.meta.mode & 0o222 == 0 => fa::ARCHIVE | fa::READONLY,
            Content::File { .. } => fa::ARCHIVE,
        };
        inode_of[id.index()] = Some(inodes.len());
        inodes.push(Inode {
            node: id,
            record,
            names: Vec::new(),
            content,
            attributes,
            spill: None,
        });
    }

    // Names: every included non-root node gives its owner one name.
    // Namespaces per directory: Win32 unless Win32 cannot hold the name or
    // a sibling differs from it only in case.
    for (di, dir) in tree.nodes.iter().enumerate() {
        let NodeKind::Dir { children } = &dir.kind else {
            continue;
        };
        if !included[di] {
            continue;
        }
        let mut names: Vec<(Vec<u16>, NodeId)> = Vec::new();
        for &c in children {
            if !included[c.index()] {
                continue;
            }
            names.push((units_of(tree, c)?, c));
        }
        names.sort_by(|a, b| upcase::collate(up, &a.0, &b.0));
        let mut posix = vec![false; names.len()];
        for i in 1..names.len() {
            if upcase::eq_ignore_case(up, &names[i - 1].0, &names[i].0) {
                posix[i - 1] = true;
                posix[i] = true;
            }
        }
        let is_root = di == 0;
        for (i, (units, c)) in names.into_iter().enumerate() {
            if is_root
                && SYSTEM_NAMES
                    .iter()
                    .any(|(s, _)| upcase::eq_ignore_case(up, &units, &super::attr::utf16(s)))
            {
                return Err(NtfsError::InvalidName {
                    path: tree.path_of(c),
                    reason: "is reserved for an NTFS system file in the root directory".into(),
                });
            }
            let owner = match tree.node(c).kind {
                NodeKind::HardLink { target } => target,
                _ => c,
            };
            let Some(ix) = inode_of[owner.index()] else {
                continue;
            };
            let namespace = if posix[i] || !file_name::win32_valid(&units) {
                Namespace::Posix
            } else {
                Namespace::Win32
            };
            inodes[ix].names.push(Name {
                dir: NodeId(di as u32),
                units,
                namespace,
            });
        }
    }
    Ok(Inodes {
        inodes,
        inode_of,
        skipped,
    })
}
