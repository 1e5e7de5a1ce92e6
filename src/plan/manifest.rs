//! The resolved manifest's digest, which a build without a `seed` derives
//! every ID from. Equal inputs give equal bytes; different images get
//! different IDs, so two of them attached to one machine do not collide in
//! `/dev/disk/by-uuid` or as GPT disk GUIDs.
//!
//! What goes in, each field length-prefixed:
//! - the spec as canonical JSON (keys sorted), without the keys that name
//!   host paths (`source`, `device_table`, `bootcode`, partition `image`,
//!   SELinux `file_contexts` and `substitutions`, whose bytes are hashed):
//!   where a checkout or sandbox lives must not change the image;
//! - every filesystem's resolved tree in pre-order: image path, type,
//!   permission bits, owner, the four times, xattrs, file length (inline
//!   bytes in full), link target, device numbers, hard-link target path;
//! - the SHA-256 of every partition blob and MBR boot code file.
//!
//! File contents are not read: paths and metadata tell images apart well
//! enough for IDs, and hashing every input would cost a second read.

use crate::spec::Spec;
use crate::tree::{FileData, NodeKind, Tree};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The keys whose values are host paths.
const HOST_PATH_KEYS: [&str; 6] = [
    "source",
    "device_table",
    "bootcode",
    "image",
    "file_contexts",
    "substitutions",
];

/// The seed of a spec that gives none: `manifest-` and 32 hex digits.
/// `trees` are the spec's filesystems in spec order, `blobs` the host files
/// whose bytes go into the image as they are.
pub fn derived_seed(spec: &Spec, trees: &[&Tree], blobs: &[&Path]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut v = serde_json::to_value(spec).map_err(std::io::Error::other)?;
    strip_host_paths(&mut v);
    field(&mut h, v.to_string().as_bytes());
    for t in trees {
        tree_digest(&mut h, t);
    }
    for b in blobs {
        let mut f = std::fs::File::open(b)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", b.display())))?;
        let mut bh = Sha256::new();
        std::io::copy(&mut f, &mut bh)?;
        field(&mut h, &bh.finalize());
    }
    let d = h.finalize();
    Ok(format!(
        "manifest-{}",
        d[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn field(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_le_bytes());
    h.update(b);
}

fn strip_host_paths(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in HOST_PATH_KEYS {
                if m.get(k).is_some_and(|x| x.is_string() || x.is_array()) {
                    m.remove(k);
                }
            }
            m.values_mut().for_each(strip_host_paths);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_host_paths),
        _ => {}
    }
}

fn tree_digest(h: &mut Sha256, t: &Tree) {
    for id in t.preorder() {
        let n = t.node(id);
        field(h, t.path_of(id).as_bytes());
        let m = &n.meta;
        let mut fixed = Vec::with_capacity(96);
        fixed.extend(m.mode.to_le_bytes());
        fixed.extend(m.uid.to_le_bytes());
        fixed.extend(m.gid.to_le_bytes());
        for ts in [m.atime, m.mtime, m.ctime, m.crtime] {
            fixed.extend(ts.secs.to_le_bytes());
            fixed.extend(ts.nanos.to_le_bytes());
        }
        field(h, &fixed);
        for (k, val) in &m.xattrs {
            field(h, k.as_bytes());
            field(h, val);
        }
        match &n.kind {
            NodeKind::Dir { .. } => field(h, b"d"),
            NodeKind::File { data, sparse } => {
                field(h, if *sparse { b"fs" } else { b"f" });
                match data {
                    FileData::Host { len, .. } => field(h, &len.to_le_bytes()),
                    FileData::Inline(b) => field(h, b),
                }
            }
            NodeKind::Symlink { target } => {
                field(h, b"l");
                field(h, target);
            }
            NodeKind::HardLink { target } => {
                field(h, b"h");
                field(h, t.path_of(*target).as_bytes());
            }
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                field(
                    h,
                    if matches!(n.kind, NodeKind::CharDev { .. }) {
                        b"c"
                    } else {
                        b"b"
                    },
                );
                field(h, &[major.to_le_bytes(), minor.to_le_bytes()].concat());
            }
            NodeKind::Fifo => field(h, b"p"),
            NodeKind::Socket => field(h, b"s"),
        }
    }
}
