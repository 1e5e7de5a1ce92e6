//! Inode numbering and what each inode needs, independent of geometry.

use super::{InodeSource, Need, FIRST_INO, JOURNAL_INO, LOST_FOUND_INO, ROOT_INO};
use crate::fs::ext::{dir, map, xattr};
use crate::fs::ext::{ExtError, ExtOptions};
use crate::tree::{FileData, NodeId, NodeKind, Tree};

/// Numbers the inodes (root 2, journal 8, lost+found 11, the rest from 12
/// in sorted pre-order) and works out what each one needs.
pub(super) fn inode_needs(
    tree: &Tree,
    opts: &ExtOptions,
) -> Result<(Vec<Need>, Vec<u32>, u32), ExtError> {
    let bs = opts.block_size as u64;
    let features = &opts.features;
    let order = tree.preorder();
    let mut ino_of = vec![0u32; tree.nodes.len()];
    let lost_found = tree
        .children(NodeId::ROOT)
        .iter()
        .copied()
        .find(|&c| tree.node(c).name == b"lost+found");
    match lost_found {
        Some(id) if tree.node(id).is_dir() => {}
        Some(_) => {
            return Err(ExtError::Entry {
                path: "/lost+found".into(),
                message: "must be a directory on ext filesystems".into(),
            })
        }
        None => {
            return Err(ExtError::Entry {
                path: "/lost+found".into(),
                message: "missing (call fs::ext::prepare_tree first)".into(),
            })
        }
    }
    let lost_found = lost_found.unwrap_or(NodeId::ROOT);
    ino_of[0] = ROOT_INO;
    ino_of[lost_found.index()] = LOST_FOUND_INO;
    let mut next = FIRST_INO + 1;
    for &id in &order {
        if id == NodeId::ROOT || id == lost_found {
            continue;
        }
        if let NodeKind::HardLink { .. } = tree.node(id).kind {
            continue;
        }
        ino_of[id.index()] = next;
        next = next.checked_add(1).ok_or(ExtError::Option {
            key: "inodes",
            message: "more than 2^32 inodes".into(),
        })?;
    }
    for &id in &order {
        if let NodeKind::HardLink { target } = tree.node(id).kind {
            ino_of[id.index()] = ino_of[target.index()];
        }
    }
    let links = tree.link_counts();
    let mut needs: Vec<Need> = Vec::with_capacity(tree.nodes.len() + 1);
    // Build in inode order: root, journal, lost+found, then pre-order.
    let push_node = |id: NodeId, needs: &mut Vec<Need>| -> Result<(), ExtError> {
        let node = tree.node(id);
        let path = || tree.path_of(id);
        let ino = ino_of[id.index()];
        let xattr_block = if node.meta.xattrs.is_empty() {
            false
        } else {
            if !features.ext_attr() {
                return Err(ExtError::Entry {
                    path: path(),
                    message: "has xattrs but the ext_attr feature is off".into(),
                });
            }
            xattr::placement(&node.meta.xattrs, opts.inode_size, opts.block_size).map_err(
                |message| ExtError::Entry {
                    path: path(),
                    message,
                },
            )? == xattr::Placement::Block
        };
        let mut links_n = links[id.index()];
        // ext4's EXT4_LINK_MAX: i_links_count is 16 bits, and the kernel
        // refuses a 65,001st name; a wrapped count reads as a deleted inode.
        if links_n > 65_000 && !node.is_dir() {
            return Err(ExtError::Entry {
                path: path(),
                message: format!("has {links_n} names; ext allows at most 65000 per file"),
            });
        }
        let (data, data_blocks, dir) = match &node.kind {
            NodeKind::Dir { .. } => {
                let layout = dir::layout(tree, id, opts, id == lost_found);
                let nb = layout.blocks;
                if links_n >= 65000 && features.dir_nlink() {
                    links_n = 1;
                } else if links_n >= 65000 {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: "more than 64998 subdirectories needs the dir_nlink feature"
                            .into(),
                    });
                }
                (vec![(0, nb)], nb, Some(Box::new(layout)))
            }
            NodeKind::File { data, sparse } => {
                let n = data.len().div_ceil(bs);
                if !features.has_ro(crate::fs::ext::features::RO_LARGE_FILE)
                    && data.len() >= 1 << 31
                {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: "files of 2 GiB or more need the large_file feature".into(),
                    });
                }
                let max_blocks = if features.extents() {
                    1u64 << 32
                } else {
                    map::blockmap_max_blocks(opts.block_size)
                };
                if n > max_blocks {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: format!(
                            "{} bytes is larger than the largest file this filesystem can map",
                            data.len()
                        ),
                    });
                }
                match data {
                    FileData::Host {
                        path: host, len, ..
                    } if *sparse && n > 0 => {
                        // All-zero blocks become holes, decided by the
                        // bytes, not by the source's own holes.
                        let segs = crate::io::nonzero_segments(host, *len, bs)?;
                        let mut blocks: Vec<(u64, u64)> = Vec::new();
                        for (s, e) in segs {
                            let (b0, b1) = (s / bs, e.div_ceil(bs));
                            match blocks.last_mut() {
                                Some(last) if b0 <= last.0 + last.1 => {
                                    last.1 = last.1.max(b1 - last.0)
                                }
                                _ => blocks.push((b0, b1 - b0)),
                            }
                        }
                        let total = blocks.iter().map(|b| b.1).sum();
                        (blocks, total, None)
                    }
                    _ => (if n > 0 { vec![(0, n)] } else { vec![] }, n, None),
                }
            }
            NodeKind::Symlink { target } => {
                if target.is_empty() || target.len() as u64 >= bs.min(4096) {
                    return Err(ExtError::Entry {
                        path: path(),
                        message: format!(
                            "symlink target of {} bytes (must be 1..{})",
                            target.len(),
                            bs.min(4096) - 1
                        ),
                    });
                }
                if target.len() < 60 {
                    (vec![], 0, None)
                } else {
                    (vec![(0, 1)], 1, None)
                }
            }
            NodeKind::HardLink { .. } => return Ok(()),
            _ => (vec![], 0, None),
        };
        needs.push(Need {
            ino,
            source: InodeSource::Node(id),
            data,
            data_blocks,
            xattr_block,
            dir,
            links: links_n,
        });
        Ok(())
    };
    push_node(NodeId::ROOT, &mut needs)?;
    if features.journal() {
        needs.push(Need {
            ino: JOURNAL_INO,
            source: InodeSource::Journal,
            data: vec![],
            data_blocks: 0,
            xattr_block: false,
            dir: None,
            links: 1,
        });
    }
    push_node(lost_found, &mut needs)?;
    for &id in &order {
        if id != NodeId::ROOT && id != lost_found {
            push_node(id, &mut needs)?;
        }
    }
    let max_ino = next - 1;
    Ok((needs, ino_of, max_ino))
}
