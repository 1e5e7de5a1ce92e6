//! The final, sorted tree with hard links resolved.

use super::{Builder, Kind, Node, NodeId, NodeKind, Tree, TreeError, ROOT};

impl Builder {
    /// Reachable nodes in sorted pre-order, with their image paths.
    pub(super) fn preorder(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut stack = vec![(ROOT, "/".to_string())];
        while let Some((n, path)) = stack.pop() {
            if let Some(ch) = self.nodes.get(n).and_then(|b| b.children.as_ref()) {
                for (name, &c) in ch.iter().rev() {
                    let name = String::from_utf8_lossy(name);
                    let p = if path == "/" {
                        format!("/{name}")
                    } else {
                        format!("{path}/{name}")
                    };
                    stack.push((c, p));
                }
            }
            out.push((n, path));
        }
        out
    }

    /// The final tree: node ids in sorted pre-order; the first name of each
    /// inode in that order owns it, later names become hard links.
    pub(super) fn finish(self) -> Result<Tree, TreeError> {
        let order = self.preorder();
        let mut id_of = vec![None::<NodeId>; self.nodes.len()];
        for (i, (n, _)) in order.iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| TreeError::TooLarge)?;
            if let Some(slot) = id_of.get_mut(*n) {
                *slot = Some(NodeId(id));
            }
        }
        let id = |n: usize| id_of.get(n).copied().flatten().unwrap_or(NodeId::ROOT);
        let mut owner: Vec<Option<NodeId>> = vec![None; self.inodes.len()];
        let mut nodes = Vec::with_capacity(order.len());
        for (n, _) in &order {
            let Some(b) = self.nodes.get(*n) else {
                continue;
            };
            let Some(inode) = self.inodes.get(b.inode) else {
                continue;
            };
            let me = id(*n);
            let kind = match owner.get(b.inode).copied().flatten() {
                Some(target) => NodeKind::HardLink { target },
                None => {
                    if let Some(o) = owner.get_mut(b.inode) {
                        *o = Some(me);
                    }
                    match &inode.kind {
                        Kind::Dir => NodeKind::Dir {
                            children: b
                                .children
                                .as_ref()
                                .map(|c| c.values().map(|&c| id(c)).collect())
                                .unwrap_or_default(),
                        },
                        Kind::File { data, sparse } => NodeKind::File {
                            data: data.clone(),
                            sparse: *sparse,
                        },
                        Kind::Symlink(t) => NodeKind::Symlink { target: t.clone() },
                        Kind::Char(major, minor) => NodeKind::CharDev {
                            major: *major,
                            minor: *minor,
                        },
                        Kind::Block(major, minor) => NodeKind::BlockDev {
                            major: *major,
                            minor: *minor,
                        },
                        Kind::Fifo => NodeKind::Fifo,
                        Kind::Socket => NodeKind::Socket,
                    }
                }
            };
            nodes.push(Node {
                name: b.name.clone(),
                parent: id(b.parent),
                meta: inode.meta.clone(),
                kind,
            });
        }
        Ok(Tree { nodes })
    }
}
