//! Layered sources: each layer's root placed at an image path, later
//! layers over earlier ones as tar extraction does (a directory merges into
//! a directory, anything else replaces what was there), and OCI whiteouts
//! (`.wh.NAME`, `.wh..wh..opq`) removing what the layers below brought.

use super::{components, Builder, Meta, TreeError, ROOT};

/// The opaque-directory marker of OCI layers.
const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of a whiteout name.
const WHITEOUT: &[u8] = b".wh.";

impl Builder {
    /// The directory a layer rooted at image path `at` goes into, made
    /// (with implied parents) when missing.
    pub(super) fn layer_dir(&mut self, at: &str) -> Result<usize, TreeError> {
        let comps = components(at)?;
        self.ensure_dirs(at, &comps)
    }

    /// Starts a layer: what exists now is "below" it.
    pub(super) fn begin_layer(&mut self, whiteouts: bool) {
        self.layer_start = self.nodes.len();
        self.whiteouts = whiteouts;
    }

    /// The image path components of node `n`.
    pub(super) fn components_of(&self, mut n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while n != ROOT {
            let Some(b) = self.nodes.get(n) else { break };
            out.push(b.name.clone());
            n = b.parent;
        }
        out.reverse();
        out
    }

    /// Applies `name` in directory `dir` as a whiteout if it is one (and
    /// whiteouts are on); returns whether it was.
    pub(super) fn whiteout(&mut self, dir: usize, name: &[u8]) -> bool {
        if !self.whiteouts {
            return false;
        }
        let below = self.layer_start;
        let Some(children) = self.nodes.get_mut(dir).and_then(|d| d.children.as_mut()) else {
            return false;
        };
        if name == OPAQUE {
            children.retain(|_, n| *n >= below);
            return true;
        }
        match name.strip_prefix(WHITEOUT) {
            Some(target) => {
                if children.get(target).is_some_and(|&n| n < below) {
                    children.remove(target);
                }
                true
            }
            None => false,
        }
    }

    /// A directory of this layer at `name` in `dir`: the existing
    /// directory takes the layer's metadata and is returned to merge into;
    /// `None` when a new node is needed.
    pub(super) fn merge_dir(&mut self, dir: usize, name: &[u8], meta: &Meta) -> Option<usize> {
        let n = self.child(dir, name).filter(|&n| self.is_dir(n))?;
        let ino = self.nodes.get(n).map(|b| b.inode)?;
        if let Some(i) = self.inodes.get_mut(ino) {
            i.meta = meta.clone();
        }
        Some(n)
    }
}
