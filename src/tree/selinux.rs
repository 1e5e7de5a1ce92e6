//! SELinux labels from file_contexts files, as `e2fsdroid -S`,
//! `mkfs.erofs --file-contexts` and `matchpathcon` compute them with
//! libselinux's file backend:
//!
//! - each line is `REGEX [TYPE] CONTEXT`; `#` starts a comment; TYPE is
//!   `--` (file), `-d`, `-l`, `-c`, `-b`, `-p` or `-s`; CONTEXT
//!   `<<none>>` means "no label";
//! - the regex must match the whole path (PCRE2 with DOTALL, here the
//!   `regex` crate with `(?s)`);
//! - lines of all files are taken in order, then those whose regex has no
//!   metacharacter (exact paths) move behind the others, keeping their
//!   order; the last matching line wins;
//! - substitution files (`file_contexts.subs_dist`, `.subs`) map a path
//!   prefix to another before matching (`/var/run /run`).
//!
//! Only the files the spec names are read: libselinux's implicit
//! `.homedirs`, `.local` and `.subs*` siblings are listed explicitly.

use crate::tree::perms::Target;
use crate::tree::{NodeId, NodeKind, Tree};
use std::collections::BTreeSet;

/// The xattr holding a label.
pub const XATTR: &str = "security.selinux";
use regex::bytes::Regex;
use std::path::{Path, PathBuf};

/// What a node is, for the TYPE column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

impl FileKind {
    fn from_column(s: &str) -> Option<FileKind> {
        Some(match s {
            "--" => FileKind::File,
            "-d" => FileKind::Dir,
            "-l" => FileKind::Symlink,
            "-c" => FileKind::Char,
            "-b" => FileKind::Block,
            "-p" => FileKind::Fifo,
            "-s" => FileKind::Socket,
            _ => return None,
        })
    }

    /// The coarse kind [`crate::tree::perms`] uses.
    pub fn target(self) -> Target {
        match self {
            FileKind::File => Target::File,
            FileKind::Dir => Target::Dir,
            FileKind::Symlink => Target::Symlink,
            _ => Target::Special,
        }
    }
}

/// One line.
#[derive(Debug)]
struct Spec {
    regex: Regex,
    /// The literal text every match starts with: a cheap filter.
    prefix: Vec<u8>,
    kind: Option<FileKind>,
    /// `None` for `<<none>>`.
    context: Option<String>,
}

/// A loaded set of file_contexts files.
#[derive(Debug, Default)]
pub struct FileContexts {
    /// In lookup order reversed: the last entry is tried first.
    specs: Vec<Spec>,
    /// (from, to) prefix substitutions, in the order they are tried.
    subs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a file_contexts file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextsError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// libselinux's `spec_hasMetaChars`: whether a regex is more than a path.
fn has_meta(re: &str) -> bool {
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' | '^' | '$' | '?' | '*' | '+' | '|' | '[' | '(' | '{' => return true,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    false
}

/// Whether a regex has an alternation outside any group or class, which
/// makes any literal prefix meaningless.
fn top_level_alternation(re: &str) -> bool {
    let (mut depth, mut class) = (0i32, false);
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !class => class = true,
            ']' if class => class = false,
            '(' if !class => depth += 1,
            ')' if !class => depth -= 1,
            '|' if !class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// The literal prefix of a regex: characters up to the first
/// metacharacter, less a last one that a quantifier makes optional.
fn literal_prefix(re: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    if top_level_alternation(re) {
        return out;
    }
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '?' | '*' | '{' => {
                out.pop();
                break;
            }
            '.' | '^' | '$' | '+' | '|' | '[' | '(' | ')' => break,
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(e.encode_utf8(&mut b).as_bytes());
                }
                _ => break,
            },
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    // A quantifier right after the prefix ('+' keeps one, so only '?',
    // '*' and '{' above drop the last character).
    out
}

impl FileContexts {
    /// Loads `files` (in order, as one list) and the substitution files.
    pub fn load(files: &[PathBuf], subs: &[PathBuf]) -> Result<FileContexts, ContextsError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| ContextsError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let mut exact = Vec::new();
        let mut meta = Vec::new();
        for f in files {
            let text = read(f)?;
            for (i, line) in text.lines().enumerate() {
                let bad = |message: String| ContextsError::Line {
                    path: f.clone(),
                    line: i + 1,
                    message,
                };
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let cols: Vec<&str> = line.split_whitespace().collect();
                let (re, kind, ctx) = match cols.as_slice() {
                    [re, ctx] => (*re, None, *ctx),
                    [re, t, ctx] => {
                        let k = FileKind::from_column(t)
                            .ok_or_else(|| bad(format!("{t:?} is not a file type")))?;
                        (*re, Some(k), *ctx)
                    }
                    _ => return Err(bad("expected REGEX [TYPE] CONTEXT".into())),
                };
                let regex = Regex::new(&format!("(?s-u)^(?:{re})$"))
                    .or_else(|_| Regex::new(&format!("(?s)^(?:{re})$")))
                    .map_err(|e| bad(format!("bad regex {re:?}: {e}")))?;
                let spec = Spec {
                    regex,
                    prefix: literal_prefix(re),
                    kind,
                    context: (ctx != "<<none>>").then(|| ctx.to_string()),
                };
                if has_meta(re) {
                    meta.push(spec);
                } else {
                    exact.push(spec);
                }
            }
        }
        let mut specs = meta;
        specs.extend(exact);
        let mut all_subs = Vec::new();
        for f in subs {
            let text = read(f)?;
            let mut these = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let cols: Vec<&str> = line.split_whitespace().collect();
                let [from, to] = cols.as_slice() else {
                    return Err(ContextsError::Line {
                        path: f.clone(),
                        line: i + 1,
                        message: "expected FROM TO".into(),
                    });
                };
                these.push((from.as_bytes().to_vec(), to.as_bytes().to_vec()));
            }
            // libselinux keeps them in a list built by prepending: the
            // last line is tried first. Later files come first too.
            these.reverse();
            these.extend(all_subs);
            all_subs = these;
        }
        Ok(FileContexts {
            specs,
            subs: all_subs,
        })
    }

    /// `path` after the first substitution whose prefix matches whole
    /// components.
    fn substitute(&self, path: &[u8]) -> Vec<u8> {
        for (from, to) in &self.subs {
            if path.starts_with(from) && matches!(path.get(from.len()), None | Some(b'/')) {
                let mut out = to.clone();
                out.extend_from_slice(&path[from.len()..]);
                return out;
            }
        }
        path.to_vec()
    }

    /// The label of `path` (an absolute image path) of kind `kind`, or
    /// `None` when no line matches or the matching line says `<<none>>`.
    pub fn lookup(&self, path: &[u8], kind: FileKind) -> Option<&str> {
        let p = self.substitute(path);
        self.specs
            .iter()
            .rev()
            .filter(|s| s.kind.is_none_or(|k| k == kind))
            .filter(|s| p.starts_with(&s.prefix))
            .find(|s| s.regex.is_match(&p))
            .and_then(|s| s.context.as_deref())
    }
}

fn path_bytes(tree: &Tree, id: NodeId) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut cur = id;
    while cur != NodeId::ROOT {
        let n = tree.node(cur);
        parts.push(n.name.as_slice());
        cur = n.parent;
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for p in parts.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// Labels every inode of a finished tree (the format's own additions, like
/// ext's `/lost+found`, included). A hard-linked inode takes the label of
/// the path that owns it (its first in sorted order). Paths in `keep` (set
/// `security.selinux` themselves) are left alone; `<<none>>` or no match
/// removes a label the source carried.
pub fn label_tree(tree: &mut Tree, fc: &FileContexts, keep: &BTreeSet<Vec<u8>>) {
    for id in tree.preorder() {
        let kind = match &tree.node(id).kind {
            NodeKind::HardLink { .. } => continue,
            NodeKind::Dir { .. } => FileKind::Dir,
            NodeKind::File { .. } => FileKind::File,
            NodeKind::Symlink { .. } => FileKind::Symlink,
            NodeKind::CharDev { .. } => FileKind::Char,
            NodeKind::BlockDev { .. } => FileKind::Block,
            NodeKind::Fifo => FileKind::Fifo,
            NodeKind::Socket => FileKind::Socket,
        };
        let path = path_bytes(tree, id);
        if keep.contains(&path) {
            continue;
        }
        // With the NUL, as the kernel and setfiles store it.
        let label = fc.lookup(&path, kind).map(|l| {
            let mut v = l.as_bytes().to_vec();
            v.push(0);
            v
        });
        tree.nodes[id.index()].meta.set_xattr(XATTR, label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_meta() {
        assert_eq!(literal_prefix("/usr/lib(64)?/x"), b"/usr/lib");
        assert_eq!(literal_prefix("/usr/lib64?/x"), b"/usr/lib6");
        assert_eq!(literal_prefix("/etc/ld\\.so\\.cache"), b"/etc/ld.so.cache");
        assert_eq!(literal_prefix("/bin/.*"), b"/bin/");
        assert_eq!(literal_prefix("/a|/b"), b"");
        assert_eq!(literal_prefix("/a(/b|/c)"), b"/a");
        assert!(!has_meta("/etc/ld\\.so\\.cache"));
        assert!(has_meta("/bin/.*"));
    }

    #[test]
    fn last_match_wins_and_exact_paths_come_last() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("fc");
        std::fs::write(
            &f,
            "/etc  system_u:object_r:exact_t:s0\n\
             /etc(/.*)?  system_u:object_r:etc_t:s0\n\
             /etc/shadow  --  system_u:object_r:shadow_t:s0\n\
             /etc/none(/.*)?  <<none>>\n",
        )
        .unwrap();
        let s = d.path().join("subs");
        std::fs::write(&s, "/alias /etc\n").unwrap();
        let fc = FileContexts::load(&[f], &[s]).unwrap();
        assert_eq!(
            fc.lookup(b"/etc", FileKind::Dir),
            Some("system_u:object_r:exact_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/etc/x", FileKind::File),
            Some("system_u:object_r:etc_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/etc/shadow", FileKind::File),
            Some("system_u:object_r:shadow_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/etc/shadow", FileKind::Dir),
            Some("system_u:object_r:etc_t:s0")
        );
        assert_eq!(fc.lookup(b"/etc/none/y", FileKind::File), None);
        assert_eq!(
            fc.lookup(b"/alias/x", FileKind::File),
            Some("system_u:object_r:etc_t:s0")
        );
        assert_eq!(fc.lookup(b"/aliasx", FileKind::File), None);
    }
}
