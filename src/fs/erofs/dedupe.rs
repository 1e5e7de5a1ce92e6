//! Whole-file dedupe: regular files with the same content share their
//! blocks. Candidates are grouped by length first, so only files whose
//! length repeats are hashed (SHA-256, streamed); the first file of a group
//! in sorted pre-order owns the blocks and the others point at them.

use super::ErofsError;
use crate::io::host_err;
use crate::tree::{FileData, NodeId, NodeKind, Tree};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The groups found: for each node, the node whose blocks it reuses, and
/// whether it stores its data in shared blocks (plain layout, no inline
/// tail).
#[derive(Debug, Default)]
pub struct Dups {
    first: BTreeMap<NodeId, NodeId>,
    sharing: BTreeMap<NodeId, ()>,
}

impl Dups {
    /// The owner of the blocks `id` reuses, when `id` is a later copy.
    pub fn first_of(&self, id: NodeId) -> Option<NodeId> {
        self.first.get(&id).copied()
    }
    /// True when `id` keeps all its data in (possibly shared) blocks.
    pub fn shares_blocks(&self, id: NodeId) -> bool {
        self.sharing.contains_key(&id)
    }
}

fn content_hash(data: &FileData, path: &dyn Fn() -> String) -> Result<[u8; 32], ErofsError> {
    match data {
        FileData::Inline(b) => Ok(Sha256::digest(b).into()),
        FileData::Host {
            path: host,
            sha256,
            len,
        } => {
            let f = std::fs::File::open(host).map_err(host_err(host))?;
            let (got, total) = crate::io::sha256_read(f).map_err(host_err(host))?;
            if total != *len {
                return Err(ErofsError::Io(crate::io::IoError::SourceChanged {
                    path: host.clone(),
                    expected: *len,
                    found: total,
                }));
            }
            if let Some(want) = sha256 {
                if want != &got {
                    return Err(ErofsError::Sha256Mismatch {
                        path: format!("{} (from {})", path(), host.display()),
                        expected: crate::bytes::hex(want),
                        found: crate::bytes::hex(&got),
                    });
                }
            }
            Ok(got)
        }
    }
}

/// Finds duplicate files among `order` (inode owners in pre-order).
/// Sharing blocks pays when the group's copies would take at least a
/// block; smaller groups stay inline.
pub fn find(tree: &Tree, order: &[NodeId], block: u64) -> Result<Dups, ErofsError> {
    let mut by_len: BTreeMap<u64, Vec<NodeId>> = BTreeMap::new();
    for &id in order {
        if let NodeKind::File { data, sparse } = &tree.node(id).kind {
            let is_sparse_host = *sparse && matches!(data, FileData::Host { .. });
            if !data.is_empty() && !is_sparse_host {
                by_len.entry(data.len()).or_default().push(id);
            }
        }
    }
    let mut dups = Dups::default();
    for (len, ids) in by_len {
        if ids.len() < 2 {
            continue;
        }
        let mut by_hash: BTreeMap<[u8; 32], Vec<NodeId>> = BTreeMap::new();
        for id in ids {
            let NodeKind::File { data, .. } = &tree.node(id).kind else {
                continue;
            };
            let h = content_hash(data, &|| tree.path_of(id))?;
            by_hash.entry(h).or_default().push(id);
        }
        // Each group lists its files in pre-order, so the owner is the
        // first of them in the image.
        for (_, group) in by_hash {
            if group.len() < 2 || (len < block && len * (group.len() as u64) < block) {
                continue;
            }
            for &id in &group {
                dups.sharing.insert(id, ());
            }
            for &id in &group[1..] {
                dups.first.insert(id, group[0]);
            }
        }
    }
    Ok(dups)
}
