//! The final, sorted tree with hard links resolved.

use super::{Builder, Kind, Node, NodeId, NodeKind, Tree, TreeError, ROOT};

impl Builder {
    /// Reachable nodes in sorted pre-order, each with a value derived from
    /// its parent's: `at(parent_value, name)`, `root` for the root.
    fn preorder_with<T>(&self, root: T, at: impl Fn(&T, &[u8]) -> T) -> Vec<(usize, T)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![(ROOT, root)];
        while let Some((n, v)) = stack.pop() {
            if let Some(ch) = self.nodes.get(n).and_then(|b| b.children.as_ref()) {
                for (name, &c) in ch.iter().rev() {
                    stack.push((c, at(&v, name)));
                }
            }
            out.push((n, v));
        }
        out
    }

    /// Reachable nodes in sorted pre-order, with their image paths.
    pub(super) fn preorder(&self) -> Vec<(usize, String)> {
        self.preorder_with("/".to_string(), |path, name| {
            let name = String::from_utf8_lossy(name);
            if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            }
        })
    }

    /// The final tree: node ids in sorted pre-order; the first name of each
    /// inode in that order owns it, later names become hard links. Names,
    /// contents and targets move from the builder into the tree (and
    /// each directory's name map is freed as it is passed), so memory
    /// does not hold the tree twice.
    pub(super) fn finish(mut self) -> Result<Tree, TreeError> {
        // No paths: a million-entry tree would pay for them twice.
        let order = self.preorder_with((), |_, _| ());
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
        for (n, ()) in order {
            let Some(b) = self.nodes.get_mut(n) else {
                continue;
            };
            let (name, children, parent, ino) = (
                std::mem::take(&mut b.name),
                b.children.take(),
                b.parent,
                b.inode,
            );
            let Some(inode) = self.inodes.get_mut(ino) else {
                continue;
            };
            let me = id(n);
            let kind = match owner.get(ino).copied().flatten() {
                Some(target) => NodeKind::HardLink { target },
                None => {
                    if let Some(o) = owner.get_mut(ino) {
                        *o = Some(me);
                    }
                    // The owner comes first; later names need no kind.
                    match std::mem::replace(&mut inode.kind, Kind::Fifo) {
                        Kind::Dir => NodeKind::Dir {
                            children: children
                                .map(|c| c.into_values().map(id).collect())
                                .unwrap_or_default(),
                        },
                        Kind::File { data, sparse } => NodeKind::File { data, sparse },
                        Kind::Symlink(target) => NodeKind::Symlink { target },
                        Kind::Char(major, minor) => NodeKind::CharDev { major, minor },
                        Kind::Block(major, minor) => NodeKind::BlockDev { major, minor },
                        Kind::Fifo => NodeKind::Fifo,
                        Kind::Socket => NodeKind::Socket,
                    }
                }
            };
            nodes.push(Node {
                name,
                parent: id(parent),
                meta: inode.meta.clone(),
                kind,
            });
        }
        Ok(Tree {
            nodes,
            time_range: Default::default(),
            epoch: self.epoch.secs,
        })
    }
}
