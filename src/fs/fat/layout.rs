//! The plan: names, geometry and cluster allocation, decided before any
//! byte is written. Pure: reads only the tree and the options.
//!
//! Allocation walks the tree in sorted pre-order and gives every directory
//! and file one contiguous chain, starting at cluster 2, so the image
//! depends only on the sorted tree.

use std::collections::{BTreeMap, BTreeSet};

use super::geometry::{self, Choices, FatType, Geometry, GeometryError, SECTOR};
use super::names::{self, ShortName};
use super::{CopiedHardLink, FatError, FatOptions, RenamedEntry, SkippedEntry};
use crate::spec::model::{CaseConflicts, Unsupported};
use crate::tree::{NodeId, NodeKind, Tree};
use std::borrow::Cow;

/// Most entries (32-byte slots) in one directory.
const MAX_DIR_ENTRIES: usize = 65536;
/// Smallest automatically sized volume (64 KiB).
const MIN_AUTO_SECTORS: u32 = 128;

/// One name in a directory: its short entry and, when needed, long name.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub node: NodeId,
    pub short: ShortName,
    /// NT case flags (`DIR_NTRes`).
    pub case: u8,
    /// UTF-16 long name, when the name is not a plain 8.3 name.
    pub long: Option<Vec<u16>>,
}

impl Entry {
    fn slots(&self) -> usize {
        1 + self.long.as_ref().map_or(0, |l| names::slot_count(l.len()))
    }
}

#[derive(Debug, Clone)]
pub(super) struct DirPlan {
    pub node: NodeId,
    pub entries: Vec<Entry>,
}

/// A contiguous chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct Alloc {
    /// First cluster; 0 for an empty file.
    pub first: u32,
    pub clusters: u32,
    /// Bytes of content (file data or directory entries).
    pub bytes: u64,
}

/// Everything the writer needs; see [`plan`].
#[derive(Debug, Clone)]
pub struct FatPlan {
    pub(super) geometry: Geometry,
    pub(super) size_bytes: u64,
    pub(super) volume_id: u32,
    pub(super) label: Option<[u8; 11]>,
    /// Directories in pre-order, root first.
    pub(super) dirs: Vec<DirPlan>,
    /// Regular files and hard-link copies in pre-order.
    pub(super) files: Vec<NodeId>,
    /// Chain of each node, by node index.
    pub(super) alloc: Vec<Option<Alloc>>,
    pub(super) used_clusters: u32,
    pub(super) skipped: Vec<SkippedEntry>,
    pub(super) renamed: Vec<RenamedEntry>,
    pub(super) hardlinks: Vec<CopiedHardLink>,
}

impl FatPlan {
    /// The exact size of the image (the device to write into).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
}

fn opt_err(field: &'static str, value: impl ToString, reason: &str) -> FatError {
    FatError::Option {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Marks `id` and everything below it as left out.
fn exclude_subtree(tree: &Tree, id: NodeId, excluded: &mut [bool]) {
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        excluded[n.index()] = true;
        stack.extend_from_slice(tree.children(n));
    }
}

/// `name` with `~N` before its extension (`index~1.html`), for the
/// smallest N whose case-folded name `taken` does not hold.
fn free_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    (1u32..)
        .map(|n| format!("{stem}~{n}{ext}"))
        .find(|c| !taken(&names::fold_key(c)))
        .unwrap_or_else(|| name.to_string())
}

/// Validates a volume label; returns it padded and upper-cased.
fn parse_label(s: &str) -> Result<[u8; 11], FatError> {
    let err = |r: &str| opt_err("label", format!("{s:?}"), r);
    if s.is_empty() || s.len() > 11 {
        return Err(err("a FAT label has 1 to 11 characters"));
    }
    if s.starts_with(' ') {
        return Err(err("a FAT label cannot start with a space"));
    }
    let mut out = [b' '; 11];
    for (d, c) in out.iter_mut().zip(s.bytes()) {
        let u = c.to_ascii_uppercase();
        let ok = u.is_ascii_uppercase() || u.is_ascii_digit() || b" !#$%&'()-@^_`{}~".contains(&u);
        if !ok {
            return Err(err(
                "use A-Z, 0-9, space and ! # $ % & ' ( ) - @ ^ _ ` { } ~",
            ));
        }
        *d = u;
    }
    Ok(out)
}

fn unsupported_kind(kind: &NodeKind) -> Option<&'static str> {
    match kind {
        NodeKind::Symlink { .. } => Some("symlink"),
        NodeKind::CharDev { .. } => Some("char-device"),
        NodeKind::BlockDev { .. } => Some("block-device"),
        NodeKind::Fifo => Some("fifo"),
        NodeKind::Socket => Some("socket"),
        _ => None,
    }
}

/// The kind that holds the data: a hard link's target's.
fn effective_kind(tree: &Tree, id: NodeId) -> &NodeKind {
    match &tree.node(id).kind {
        NodeKind::HardLink { target } => &tree.node(*target).kind,
        k => k,
    }
}

fn validate_options(opts: &FatOptions) -> Result<Option<[u8; 11]>, FatError> {
    if !(1..=2).contains(&opts.fats) {
        return Err(opt_err("fats", opts.fats, "must be 1 or 2"));
    }
    if let Some(spc) = opts.sectors_per_cluster {
        if !spc.is_power_of_two() || spc > geometry::MAX_CLUSTER_BYTES / SECTOR {
            return Err(opt_err(
                "sectors_per_cluster",
                spc,
                "must be a power of two from 1 to 64",
            ));
        }
        if opts.cluster_size.is_some_and(|cs| cs != spc * SECTOR) {
            return Err(opt_err(
                "sectors_per_cluster",
                spc,
                "disagrees with `cluster_size`; set one of them",
            ));
        }
    }
    if let Some(cs) = opts.cluster_size {
        if !cs.is_power_of_two() || !(SECTOR..=geometry::MAX_CLUSTER_BYTES).contains(&cs) {
            return Err(opt_err(
                "cluster_size",
                cs,
                "must be a power of two from 512 to 32768 bytes",
            ));
        }
    }
    if let Some(r) = opts.reserved_sectors {
        let min = if opts.fat_type == Some(FatType::Fat32) {
            8
        } else {
            1
        };
        if r < min || r > 0xffff {
            return Err(opt_err(
                "reserved_sectors",
                r,
                "must be 1 to 65535 (at least 8 on FAT32, for the backup boot sector at 6)",
            ));
        }
    }
    if let Some(n) = opts.root_entries {
        if opts.fat_type == Some(FatType::Fat32) {
            return Err(opt_err(
                "root_entries",
                n,
                "FAT32 keeps its root directory in clusters; leave it unset",
            ));
        }
        if n == 0 || n % 16 != 0 || n > 0xfff0 {
            return Err(opt_err(
                "root_entries",
                n,
                "must be a multiple of 16 (whole sectors) from 16 to 65520",
            ));
        }
    }
    opts.label.as_deref().map(parse_label).transpose()
}

/// What the tree needs, independent of the geometry.
struct Needs {
    /// Pre-order (node, bytes, is_dir) of every chain, root included.
    items: Vec<(NodeId, u64, bool)>,
    /// Entries of the root directory.
    root_entries: u32,
}

impl Needs {
    /// Clusters of `cluster` bytes the tree needs.
    fn clusters(&self, cluster: u32, fat32: bool) -> u64 {
        self.items
            .iter()
            .filter(|(id, _, _)| fat32 || *id != NodeId::ROOT)
            .map(|&(_, bytes, dir)| {
                let c = bytes.div_ceil(u64::from(cluster));
                if dir {
                    c.max(1)
                } else {
                    c
                }
            })
            .sum()
    }
}

/// Checks that the tree fits `g`; returns the clusters missing (0 = fits).
fn shortfall(g: &Geometry, needs: &Needs, headroom: u64) -> Result<u64, FatError> {
    let fat32 = g.fat_type == FatType::Fat32;
    if !fat32 && needs.root_entries > g.root_entries {
        return Err(FatError::RootFull {
            needed: needs.root_entries,
            root_entries: g.root_entries,
        });
    }
    let cb = u64::from(g.cluster_bytes());
    let need = needs.clusters(g.cluster_bytes(), fat32) + headroom.div_ceil(cb);
    Ok(need.saturating_sub(u64::from(g.cluster_count)))
}

/// The smallest volume (in sectors, a multiple of 8) that holds the tree
/// plus `headroom` bytes free.
fn auto_size(choices: &Choices, needs: &Needs, headroom: u64) -> Result<Geometry, FatError> {
    // Start at the smallest size the forced type can have at all.
    let mut total = match choices.fat_type {
        Some(FatType::Fat32) => 66_560,
        Some(FatType::Fat16) => 4_160,
        _ => MIN_AUTO_SECTORS,
    };
    let mut last_err = String::new();
    for _ in 0..100_000 {
        match geometry::choose(total, choices) {
            Ok(g) => {
                let missing = shortfall(&g, needs, headroom)?;
                if missing == 0 {
                    return Ok(g);
                }
                let add = missing
                    .checked_mul(u64::from(g.sectors_per_cluster))
                    .and_then(|s| u32::try_from(s.div_ceil(8) * 8).ok())
                    .ok_or_else(|| FatError::Geometry {
                        reason: "the tree is larger than a FAT volume can be".into(),
                    })?;
                total = total.checked_add(add).ok_or_else(|| FatError::Geometry {
                    reason: "the tree is larger than a FAT volume can be".into(),
                })?;
            }
            Err(GeometryError::NoFit(r)) => {
                last_err = r;
                let add = (total / 64).div_ceil(8) * 8;
                total = total
                    .checked_add(add.max(8))
                    .ok_or_else(|| FatError::Geometry {
                        reason: last_err.clone(),
                    })?;
            }
        }
    }
    Err(FatError::Geometry { reason: last_err })
}

/// Plans a FAT volume for `tree`. Pure: no I/O.
pub fn plan(tree: &Tree, opts: &FatOptions) -> Result<FatPlan, FatError> {
    let label = validate_options(opts)?;
    // FAT stores mtime, crtime and the access date. The build's epoch (1970
    // by default) is FAT's earliest date, as every FAT tool stores it.
    let fields = crate::tree::time::Fields {
        atime: true,
        ctime: false,
        crtime: true,
    };
    crate::tree::time::FAT.check_tree(tree, tree.time_range, fields, Some(tree.epoch))?;
    let order = tree.preorder();

    // Unsupported entries, in sorted pre-order so the error names the first.
    let mut skipped = Vec::new();
    let mut excluded = vec![false; tree.nodes.len()];
    for &id in &order {
        if let Some(kind) = unsupported_kind(effective_kind(tree, id)) {
            let path = tree.path_of(id);
            match opts.unsupported {
                Unsupported::Error => return Err(FatError::Unsupported { path, kind }),
                Unsupported::Skip => {
                    skipped.push(SkippedEntry {
                        path,
                        kind,
                        conflicts_with: None,
                    });
                    excluded[id.index()] = true;
                }
            }
        }
    }

    // Names, directory by directory.
    let mut dirs = Vec::new();
    let mut hardlinks = Vec::new();
    let mut files = Vec::new();
    let mut items = Vec::new();
    let mut root_entries = 0u32;
    let mut renamed = Vec::new();
    for &id in &order {
        if excluded[id.index()] {
            continue;
        }
        let node = tree.node(id);
        match &node.kind {
            NodeKind::Dir { children } => {
                let mut kids: Vec<(NodeId, Cow<str>)> = Vec::new();
                let mut keys: BTreeMap<String, NodeId> = BTreeMap::new();
                let mut valid = Vec::new();
                for &c in children {
                    if excluded[c.index()] {
                        continue;
                    }
                    let name = names::validate(&tree.node(c).name).map_err(|reason| {
                        FatError::InvalidName {
                            path: tree.path_of(c),
                            reason,
                        }
                    })?;
                    valid.push((c, name));
                }
                // Every original name is taken before any rename picks one.
                let originals: BTreeSet<String> =
                    valid.iter().map(|(_, n)| names::fold_key(n)).collect();
                for (c, name) in valid {
                    let key = names::fold_key(name);
                    let Some(&prev) = keys.get(&key) else {
                        keys.insert(key, c);
                        kids.push((c, Cow::Borrowed(name)));
                        continue;
                    };
                    let (first, second) = (tree.path_of(prev), tree.path_of(c));
                    match opts.case_conflicts {
                        CaseConflicts::Error => {
                            return Err(FatError::CaseDuplicate { first, second })
                        }
                        CaseConflicts::Skip => {
                            exclude_subtree(tree, c, &mut excluded);
                            skipped.push(SkippedEntry {
                                path: second,
                                kind: "case-conflict",
                                conflicts_with: Some(first),
                            });
                        }
                        CaseConflicts::Rename => {
                            let new =
                                free_name(name, |k| originals.contains(k) || keys.contains_key(k));
                            keys.insert(names::fold_key(&new), c);
                            renamed.push(RenamedEntry {
                                path: second,
                                name: new.clone(),
                                conflicts_with: first,
                            });
                            kids.push((c, Cow::Owned(new)));
                        }
                    }
                }
                // Plain 8.3 names claim their short names before any alias
                // is made, so aliases never depend on anything but the
                // sorted directory.
                let exact: Vec<_> = kids.iter().map(|(_, n)| names::exact_short(n)).collect();
                let mut used: BTreeSet<ShortName> = exact.iter().flatten().map(|e| e.0).collect();
                let entries: Vec<Entry> = kids
                    .iter()
                    .zip(exact)
                    .map(|((c, n), ex)| match ex {
                        Some((short, case)) => Entry {
                            node: *c,
                            short,
                            case,
                            long: None,
                        },
                        None => Entry {
                            node: *c,
                            short: names::alias(n, &mut used),
                            case: 0,
                            long: Some(n.encode_utf16().collect()),
                        },
                    })
                    .collect();
                let is_root = id == NodeId::ROOT;
                let count = entries.iter().map(Entry::slots).sum::<usize>()
                    + if is_root {
                        usize::from(label.is_some())
                    } else {
                        2
                    };
                if count > MAX_DIR_ENTRIES {
                    return Err(FatError::DirectoryTooLarge {
                        path: tree.path_of(id),
                        entries: count,
                    });
                }
                if is_root {
                    root_entries = count as u32;
                }
                items.push((id, count as u64 * 32, true));
                dirs.push(DirPlan { node: id, entries });
            }
            NodeKind::File { .. } | NodeKind::HardLink { .. } => {
                let len = match effective_kind(tree, id) {
                    NodeKind::File { data, .. } => data.len(),
                    _ => 0,
                };
                if len > u64::from(u32::MAX) {
                    return Err(FatError::FileTooLarge {
                        path: tree.path_of(id),
                        size: len,
                    });
                }
                if let NodeKind::HardLink { target } = node.kind {
                    hardlinks.push(CopiedHardLink {
                        path: tree.path_of(id),
                        target: tree.path_of(target),
                    });
                }
                files.push(id);
                items.push((id, len, false));
            }
            _ => {}
        }
    }
    let needs = Needs {
        items,
        root_entries,
    };

    let choices = Choices {
        fat_type: opts.fat_type,
        cluster_bytes: opts
            .cluster_size
            .or(opts.sectors_per_cluster.map(|s| s * SECTOR)),
        reserved_sectors: opts.reserved_sectors,
        fats: u32::from(opts.fats),
        root_entries: opts.root_entries,
        root_needed: root_entries,
        hidden_sectors: opts.hidden_sectors,
    };
    let (geometry, size_bytes) = match opts.size {
        Some(size) => {
            let total = u32::try_from(size / u64::from(SECTOR)).map_err(|_| {
                opt_err(
                    "size",
                    size,
                    "a FAT volume has at most 2^32 - 1 sectors (2 TiB)",
                )
            })?;
            let g = match geometry::choose(total, &choices) {
                Ok(g) => g,
                Err(GeometryError::NoFit(reason)) => {
                    // Too small for the type at all: say what size would do.
                    return Err(match auto_size(&choices, &needs, 0) {
                        Ok(a) if a.volume_bytes() > size => FatError::TooSmall {
                            needed: a.volume_bytes(),
                            size,
                        },
                        _ => FatError::Geometry { reason },
                    });
                }
            };
            if shortfall(&g, &needs, 0)? > 0 {
                let needed = auto_size(&choices, &needs, 0)?.volume_bytes();
                return Err(FatError::TooSmall { needed, size });
            }
            (g, size)
        }
        None => {
            let g = auto_size(&choices, &needs, opts.headroom_bytes)?;
            let size = g.volume_bytes();
            (g, size)
        }
    };

    // Allocation: one contiguous chain per directory and file, pre-order.
    let fat32 = geometry.fat_type == FatType::Fat32;
    let cb = u64::from(geometry.cluster_bytes());
    let mut alloc = vec![None; tree.nodes.len()];
    let mut next: u32 = 2;
    for &(id, bytes, dir) in &needs.items {
        if id == NodeId::ROOT && !fat32 {
            continue;
        }
        let mut clusters = bytes.div_ceil(cb);
        if dir {
            clusters = clusters.max(1);
        }
        // Fits: the shortfall check above counted exactly these clusters.
        let clusters = u32::try_from(clusters).unwrap_or(u32::MAX);
        let first = if clusters == 0 { 0 } else { next };
        alloc[id.index()] = Some(Alloc {
            first,
            clusters,
            bytes,
        });
        next += clusters;
    }

    Ok(FatPlan {
        geometry,
        size_bytes,
        volume_id: opts.volume_id,
        label,
        dirs,
        files,
        alloc,
        used_clusters: next - 2,
        skipped,
        renamed,
        hardlinks,
    })
}
