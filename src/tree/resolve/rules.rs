//! Applying `rules` to every matching path.

use super::{Builder, Kind, TreeError};
use crate::spec::{EntryType, FsSpec};

impl Builder {
    pub(super) fn apply_rules(&mut self, fs: &FsSpec) -> Result<(), TreeError> {
        if fs.rules.is_empty() {
            return Ok(());
        }
        let order = self.preorder();
        for r in &fs.rules {
            let invalid = |key: &'static str, message: String| TreeError::Invalid {
                path: r.glob.clone(),
                key,
                message,
            };
            let glob = crate::tree::glob::Glob::new(&r.glob).map_err(|m| invalid("glob", m))?;
            let mode = r
                .mode
                .as_ref()
                .map(crate::spec::parse_mode)
                .transpose()
                .map_err(|m| invalid("mode", m))?;
            let caps = r
                .capabilities
                .as_deref()
                .map(crate::tree::caps::FileCaps::parse)
                .transpose()
                .map_err(|m| invalid("capabilities", m))?;
            for (n, path) in &order {
                if !glob.matches(path) {
                    continue;
                }
                let ino = self.nodes.get(*n).map_or(0, |b| b.inode);
                let Some(i) = self.inodes.get_mut(ino) else {
                    continue;
                };
                if let Some(t) = r.entry_type {
                    let kind_matches = matches!(
                        (t, &i.kind),
                        (EntryType::File, Kind::File { .. })
                            | (EntryType::Dir, Kind::Dir)
                            | (EntryType::Symlink, Kind::Symlink(_))
                            | (EntryType::Char, Kind::Char(..))
                            | (EntryType::Block, Kind::Block(..))
                            | (EntryType::Fifo, Kind::Fifo)
                            | (EntryType::Socket, Kind::Socket)
                    );
                    if !kind_matches {
                        continue;
                    }
                }
                if let (Some(m), false) = (mode, i.explicit.mode) {
                    i.meta.mode = m;
                }
                if let (Some(u), false) = (r.uid, i.explicit.uid) {
                    i.meta.uid = u;
                }
                if let (Some(g), false) = (r.gid, i.explicit.gid) {
                    i.meta.gid = g;
                }
                // File capabilities mean something on regular files only.
                if let (Some(c), Kind::File { .. }) = (caps, &i.kind) {
                    i.meta
                        .set_xattr(crate::tree::caps::XATTR, Some(c.encode().to_vec()));
                }
            }
        }
        Ok(())
    }
}
