//! The input digest: one SHA-256 over everything a build reads, so that two
//! builds with the same digest write the same bytes. It is the cache key of
//! `build --cache` and a provenance record in the report (`input_digest`).
//!
//! What goes in, in this order, each as canonical JSON (sorted keys, no
//! whitespace) on its own line:
//! 1. a version line, `fstool input digest 1` and the fstool version (the
//!    writers' output is a function of the version too);
//! 2. the spec, with every host path replaced by what it stands for: a
//!    file's SHA-256 (`bootcode`, a prebuilt partition `image`, a tar
//!    `source`, a device table, `file_contexts`), or `"directory"` for a
//!    source directory, whose content is in 4. So the digest does not
//!    depend on where the inputs live (a sandbox, a store path, a checkout);
//! 3. the plan (`fstool plan --json`): every size, offset, ID and geometry;
//! 4. each filesystem's resolved tree in pre-order: path, type, mode,
//!    owner, the four times, xattrs, link target, device numbers, hard-link
//!    target, and a file's size, `sparse` flag and content SHA-256 (the
//!    manifest's `sha256` when it gives one: the build checks it anyway).
//!
//! Reading every input once is the cost: the files are hashed on every
//! core, which is why the build computes the digest only when asked
//! (`--input-digest`, `--cache`, `fstool digest`).

use crate::bytes::hex;
use crate::plan::image::{Content, Planned};
use crate::spec::Spec;
use crate::tree::{FileData, Meta, NodeKind, Timestamp, Tree};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Why the digest could not be computed: an input could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} for the input digest: {source}")]
pub struct DigestError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Spec keys whose string values are host paths.
const PATH_KEYS: &[&str] = &[
    "source",
    "device_table",
    "file_contexts",
    "substitutions",
    "bootcode",
    "image",
    "key",
    "certificate",
];

/// The input digest of a planned build, as lowercase hex.
pub fn input_digest(
    spec: &Spec,
    base_dir: &Path,
    planned: &Planned,
) -> Result<String, DigestError> {
    let mut h = Sha256::new();
    line(
        &mut h,
        &json!(["fstool input digest 1", env!("CARGO_PKG_VERSION")]),
    );
    let mut spec_json = serde_json::to_value(spec).unwrap_or(Value::Null);
    replace_paths(&mut spec_json, base_dir, false)?;
    line(&mut h, &spec_json);
    line(
        &mut h,
        &serde_json::to_value(&planned.image).unwrap_or(Value::Null),
    );
    for (i, c) in planned.contents.iter().enumerate() {
        if let Content::Volume { tree, .. } = c {
            line(&mut h, &json!(["volume", i]));
            let hashes = content_hashes(tree)?;
            for (id, digest) in tree.preorder().into_iter().zip(hashes) {
                line(&mut h, &entry(tree, id, digest));
            }
        }
    }
    Ok(hex(&h.finalize()))
}

fn line(h: &mut Sha256, v: &Value) {
    let mut out = Vec::new();
    canonical(v, &mut out);
    out.push(b'\n');
    h.update(&out);
}

/// JSON with object keys sorted, whatever map type serde_json was built
/// with.
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(&Value::String(k.clone()), out);
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// Replaces host paths under [`PATH_KEYS`] by a file's SHA-256 or
/// `"directory"`.
fn replace_paths(v: &mut Value, base: &Path, is_path: bool) -> Result<(), DigestError> {
    match v {
        Value::String(s) if is_path => {
            let p = base.join(&*s);
            *s = if p.is_dir() {
                "directory".to_string()
            } else {
                format!("sha256:{}", hex(&hash_file(&p)?))
            };
        }
        Value::Array(a) => {
            for x in a {
                replace_paths(x, base, is_path)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                replace_paths(x, base, PATH_KEYS.contains(&k.as_str()))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One tree entry as canonical JSON.
fn entry(tree: &Tree, id: crate::tree::NodeId, content: Option<[u8; 32]>) -> Value {
    let n = tree.node(id);
    let mut v = json!({
        "path": tree.path_of(id),
        "meta": meta(&n.meta),
    });
    let kind = match &n.kind {
        NodeKind::Dir { .. } => json!({"dir": null}),
        NodeKind::File { data, sparse } => json!({"file": {
            "size": data.len(),
            "sparse": sparse,
            "sha256": content.map(|c| hex(&c)),
        }}),
        NodeKind::Symlink { target } => json!({"symlink": hex(target)}),
        NodeKind::HardLink { target } => json!({"hardlink": tree.path_of(*target)}),
        NodeKind::CharDev { major, minor } => json!({"char": [major, minor]}),
        NodeKind::BlockDev { major, minor } => json!({"block": [major, minor]}),
        NodeKind::Fifo => json!({"fifo": null}),
        NodeKind::Socket => json!({"socket": null}),
    };
    v["kind"] = kind;
    v
}

fn meta(m: &Meta) -> Value {
    let t = |t: &Timestamp| json!([t.secs, t.nanos]);
    let xattrs: Vec<Value> = m.xattrs.iter().map(|(k, v)| json!([k, hex(v)])).collect();
    json!({
        "mode": m.mode, "uid": m.uid, "gid": m.gid,
        "atime": t(&m.atime), "mtime": t(&m.mtime), "ctime": t(&m.ctime), "crtime": t(&m.crtime),
        "xattrs": xattrs,
    })
}

/// The content SHA-256 of every regular file of `tree`, in pre-order
/// (`None` for other entries). Host files without a manifest `sha256` are
/// read on every core.
fn content_hashes(tree: &Tree) -> Result<Vec<Option<[u8; 32]>>, DigestError> {
    let order = tree.preorder();
    let mut out: Vec<Option<[u8; 32]>> = vec![None; order.len()];
    let mut to_read: Vec<(usize, &Path, u64)> = Vec::new();
    for (i, id) in order.iter().enumerate() {
        if let NodeKind::File { data, .. } = &tree.node(*id).kind {
            match data {
                FileData::Inline(b) => out[i] = Some(Sha256::digest(b).into()),
                FileData::Host {
                    sha256: Some(s), ..
                } => out[i] = Some(*s),
                FileData::Host { path, len, .. } => to_read.push((i, path, *len)),
            }
        }
    }
    let hashed = crate::par::try_map(&to_read, |&(_, path, len)| {
        let h = hash_file(path)?;
        check_len(path, len)?;
        Ok(h)
    })?;
    for (&(i, _, _), h) in to_read.iter().zip(hashed) {
        out[i] = Some(h);
    }
    Ok(out)
}

/// A file whose length changed since the tree was resolved would be
/// refused by the build; the digest refuses it too.
fn check_len(path: &Path, len: u64) -> Result<(), DigestError> {
    let now = std::fs::metadata(path)
        .map_err(|source| DigestError {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if now != len {
        return Err(DigestError {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "its size changed from {len} to {now} bytes while the build read its inputs"
            )),
        });
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<[u8; 32], DigestError> {
    let err = |source| DigestError {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    Ok(crate::io::sha256_read(f).map_err(err)?.0)
}
