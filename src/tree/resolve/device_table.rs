//! Applying a device table's lines.

use super::{components, Builder, Explicit, Kind, Meta, Origin, TreeError};
use std::path::Path;

impl Builder {
    pub(super) fn apply_devtable(
        &mut self,
        file: &Path,
        entries: &[crate::tree::devtable::DevEntry],
    ) -> Result<(), TreeError> {
        use crate::tree::devtable::DevType;
        for d in entries {
            let fail = |message: String| TreeError::DeviceTable {
                file: file.to_path_buf(),
                line: Some(d.line),
                message,
            };
            let comps = components(&d.path)?;
            let existing = self.lookup(&comps);
            let explicit = Explicit {
                mode: true,
                uid: true,
                gid: true,
            };
            match (d.kind, existing) {
                (DevType::Dir, Some(n)) | (DevType::File, Some(n)) => {
                    let want_dir = d.kind == DevType::Dir;
                    let ino = self.nodes.get(n).map_or(0, |b| b.inode);
                    let ok = match self.inodes.get(ino).map(|i| &i.kind) {
                        Some(Kind::Dir) => want_dir,
                        Some(Kind::File { .. }) => !want_dir,
                        _ => false,
                    };
                    if !ok {
                        let what = if want_dir {
                            "a directory"
                        } else {
                            "a regular file"
                        };
                        return Err(fail(format!("{} exists and is not {what}", d.path)));
                    }
                    if let Some(i) = self.inodes.get_mut(ino) {
                        i.meta.mode = d.mode;
                        i.meta.uid = d.uid;
                        i.meta.gid = d.gid;
                        i.explicit = explicit;
                    }
                }
                (DevType::File, None) => {
                    return Err(fail(format!(
                        "{}: an `f` line sets metadata of an existing file, and there is none",
                        d.path
                    )))
                }
                (_, Some(n)) => {
                    let origin = self
                        .nodes
                        .get(n)
                        .map(|b| b.origin.describe())
                        .unwrap_or_default();
                    return Err(fail(format!("{} is already defined by {origin}", d.path)));
                }
                (kind, None) => {
                    if comps.is_empty() {
                        return Err(fail("the root cannot be a device".into()));
                    }
                    let k = match kind {
                        DevType::Dir => Kind::Dir,
                        DevType::Char => Kind::Char(d.major, d.minor),
                        DevType::Block => Kind::Block(d.major, d.minor),
                        DevType::Fifo | DevType::File => Kind::Fifo,
                    };
                    let is_dir = matches!(k, Kind::Dir);
                    let ino =
                        self.add_inode(Meta::new(d.mode, d.uid, d.gid, self.epoch), k, explicit);
                    let parent = self.ensure_parent(&d.path, &comps)?;
                    let name = comps.last().copied().unwrap_or_default();
                    self.link(parent, name, ino, is_dir, Origin::DevTable(d.line));
                }
            }
        }
        Ok(())
    }
}
