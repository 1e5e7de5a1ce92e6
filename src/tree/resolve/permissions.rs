//! `permissions` on what the source layers brought.

use super::{Builder, Kind};
use crate::tree::perms::{Permissions, Target};
use crate::tree::selinux::FileKind;

fn file_kind(k: &Kind) -> FileKind {
    match k {
        Kind::Dir => FileKind::Dir,
        Kind::File { .. } => FileKind::File,
        Kind::Symlink(_) => FileKind::Symlink,
        Kind::Char(..) => FileKind::Char,
        Kind::Block(..) => FileKind::Block,
        Kind::Fifo => FileKind::Fifo,
        Kind::Socket => FileKind::Socket,
    }
}

impl Builder {
    /// `permissions` over every inode the source brought (called right
    /// after the layers, so nothing else exists yet but the root).
    pub(super) fn apply_permissions(&mut self) {
        let p = self.perms;
        if p == Permissions::Source {
            return;
        }
        for i in &mut self.inodes {
            let t: Target = file_kind(&i.kind).target();
            i.meta.mode = p.apply(i.meta.mode, t);
        }
    }
}
