//! The spec layer and tree resolution: parsing (TOML = JSON), errors that
//! name the key path and line, the JSON Schema, and resolving host trees,
//! entries, device tables and rules into a sorted tree.

use crate::common::write_file;
use fstool::spec::{self, SpecError};
use fstool::tree::resolve::{resolve, ResolveCtx, TreeError};
use fstool::tree::{FileData, NodeId, NodeKind, Timestamp, Tree};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- parsing

const TOML_MANIFEST: &str = r#"
version = 1
seed = "demo"
source_date_epoch = 1700000000
time_policy = "clamp"

[filesystem]
type = "ext4"
source = "rootfs"
size = "64MiB"
label = "root"
features = ["^has_journal"]
reserved_percent = 0.0

[[filesystem.entries]]
path = "/etc/hostname"
type = "file"
contents = "box\n"
mode = "0644"

[[filesystem.entries]]
path = "/bin/sh"
type = "symlink"
target = "busybox"

[[filesystem.entries]]
path = "/dev/null"
type = "char"
major = 1
minor = 3
mode = 0o666
xattrs = { "user.a" = "x", "user.b" = { base64 = "AAE=" } }

[[filesystem.rules]]
glob = "/usr/bin/*"
mode = 0o755
uid = 0

[image]
size = 1073741824
partition_table = "gpt"

[[partitions]]
name = "root"
type = "linux"
size = "remaining"
"#;

const JSON_MANIFEST: &str = r#"{
  "version": 1,
  "seed": "demo",
  "source_date_epoch": 1700000000,
  "time_policy": "clamp",
  "filesystem": {
    "type": "ext4",
    "source": "rootfs",
    "size": "64MiB",
    "label": "root",
    "features": ["^has_journal"],
    "reserved_percent": 0.0,
    "entries": [
      { "path": "/etc/hostname", "type": "file", "contents": "box\n", "mode": "0644" },
      { "path": "/bin/sh", "type": "symlink", "target": "busybox" },
      { "path": "/dev/null", "type": "char", "major": 1, "minor": 3, "mode": 438,
        "xattrs": { "user.a": "x", "user.b": { "base64": "AAE=" } } }
    ],
    "rules": [ { "glob": "/usr/bin/*", "mode": 493, "uid": 0 } ]
  },
  "image": { "size": 1073741824, "partition_table": "gpt" },
  "partitions": [ { "name": "root", "type": "linux", "size": "remaining" } ]
}"#;

#[test]
fn toml_and_json_give_the_same_spec() {
    let t = spec::parse_str(TOML_MANIFEST, "m.toml").unwrap();
    let j = spec::parse_str(JSON_MANIFEST, "m.json").unwrap();
    assert_eq!(t, j);
    let fs = t.filesystem.as_ref().unwrap();
    assert_eq!(fs.entries.len(), 3);
    assert_eq!(
        spec::parse_mode(fs.entries[2].mode.as_ref().unwrap()),
        Ok(0o666)
    );
    assert_eq!(
        spec::parse_mode(fs.rules[0].mode.as_ref().unwrap()),
        Ok(0o755)
    );
    assert_eq!(
        spec::size_bytes(fs.size.as_ref().unwrap()),
        Ok(Some(64 << 20))
    );
    // JSON re-serialization parses back to the same model.
    let again = serde_json::to_string(&t).unwrap();
    assert_eq!(spec::parse_str(&again, "x.json").unwrap(), t);
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.json");
    std::fs::write(&p, JSON_MANIFEST).unwrap();
    let j = spec::load(&p).unwrap();
    assert_eq!(j.seed.as_deref(), Some("demo"));
    let missing = dir.path().join("nope.toml");
    match spec::load(&missing) {
        Err(e @ SpecError::Read { .. }) => assert!(e.to_string().contains("nope.toml"), "{e}"),
        other => panic!("expected a read error, got {other:?}"),
    }
}

/// Parses and returns (line, key, message) of the expected error.
fn invalid(text: &str, name: &str) -> (Option<usize>, String, String) {
    match spec::parse_str(text, name) {
        Err(SpecError::Invalid {
            file,
            line,
            key,
            message,
        }) => {
            assert_eq!(file, name);
            (line, key, message)
        }
        other => panic!("expected an Invalid error for\n{text}\ngot {other:?}"),
    }
}

const HEAD: &str = "version = 1\n[filesystem]\ntype = \"ext4\"\n"; // lines 1-3

#[test]
fn unknown_key_names_key_path_and_line() {
    let text = format!(
        "{HEAD}[[filesystem.entries]]\npath = \"/a\"\ntype = \"dir\"\n\n[[filesystem.entries]]\npath = \"/b\"\ntype = \"dir\"\nowner = \"root\"\n"
    );
    let (line, key, msg) = invalid(&text, "rootfs.toml");
    assert_eq!(key, "filesystem.entries[1].owner");
    assert_eq!(line, Some(11));
    assert!(msg.contains("unknown key `owner`"), "{msg}");
    // At the top level and in JSON too.
    let (line, key, _) = invalid("version = 1\n\nfilesystems = 3\n", "m.toml");
    assert_eq!((line, key.as_str()), (Some(3), "filesystems"));
    let (line, key, _) = invalid(
        "{\"version\": 1,\n \"image\": {\"size\": 5,\n \"colour\": 1}}",
        "m.json",
    );
    assert_eq!((line, key.as_str()), (Some(3), "image.colour"));
    // Inside the `{ base64 = ... }` form of an xattr value too.
    let text = format!(
        "{HEAD}[[filesystem.entries]]\npath = \"/a\"\ntype = \"dir\"\nxattrs = {{ \"user.x\" = {{ base64 = \"AA==\", hex = \"00\" }} }}\n"
    );
    let (line, key, _) = invalid(&text, "m.toml");
    assert_eq!(
        (line, key.as_str()),
        (Some(7), "filesystem.entries[0].xattrs.\"user.x\"")
    );
}

#[test]
fn wrong_type_names_key_path_and_line() {
    let text = format!("{HEAD}block_size = \"big\"\n");
    let (line, key, msg) = invalid(&text, "m.toml");
    assert_eq!((line, key.as_str()), (Some(4), "filesystem.block_size"));
    assert!(msg.contains("u32") || msg.contains("integer"), "{msg}");

    let text = format!("{HEAD}[[filesystem.entries]]\npath = \"/a\"\ntype = \"file\"\ncontents = \"\"\nmode = true\n");
    let (line, key, msg) = invalid(&text, "m.toml");
    assert_eq!(
        (line, key.as_str()),
        (Some(8), "filesystem.entries[0].mode")
    );
    assert!(msg.contains("mode"), "{msg}");

    let (line, key, _) = invalid("{\"version\": 1, \"seed\": 7}", "m.json");
    assert_eq!((line, key.as_str()), (Some(1), "seed"));

    let (_, key, msg) = invalid("version = 1\ntime_policy = \"sometimes\"\n", "m.toml");
    assert_eq!(key, "time_policy");
    assert!(
        msg.contains("sometimes") || msg.contains("variant"),
        "{msg}"
    );
}

#[test]
fn error_display_is_file_line_key_message() {
    let text = format!(
        "{HEAD}[[filesystem.entries]]\npath = \"/a\"\ntype = \"dir\"\n[[filesystem.entries]]\npath = \"/b\"\ntype = \"dir\"\n[[filesystem.entries]]\npath = \"/c\"\ntype = \"dir\"\nmode = \"999\"\n"
    );
    let err = spec::parse_str(&text, "rootfs.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("rootfs.toml:13: filesystem.entries[2].mode: \"999\" is not an octal mode"),
        "{err}"
    );
}

#[test]
fn semantic_errors_name_key_and_line() {
    let long = "x".repeat(256);
    let e = |body: &str| format!("{HEAD}[[filesystem.entries]]\n{body}\n"); // entry at line 4
                                                                            // (manifest, key, line, message fragment)
    let cases: Vec<(String, &str, usize, &str)> = vec![
        ("version = 2\n".into(), "version", 1, "version 2"),
        (format!("{HEAD}size = \"64XB\"\n"), "filesystem.size", 4, "unknown size unit"),
        (format!("{HEAD}journal_size = \"lots\"\n"), "filesystem.journal_size", 4, "size"),
        (format!("{HEAD}headroom = \"ten%\"\n"), "filesystem.headroom", 4, "percentage"),
        (format!("{HEAD}inodes = \"many\"\n"), "filesystem.inodes", 4, "auto"),
        (format!("{HEAD}uuid = \"not-a-uuid\"\n"), "filesystem.uuid", 4, "UUID"),
        (e("path = \"/a\"\ntype = \"file\"\ncontents = \"\"\nmode = \"999\""), "filesystem.entries[0].mode", 8, "not an octal mode"),
        (e("path = \"/a\"\ntype = \"file\"\ncontents = \"\"\nmode = 0o17777"), "filesystem.entries[0].mode", 8, "0o7777"),
        (e("path = \"/a\"\ntype = \"file\""), "filesystem.entries[0].source", 4, "`source`"),
        (e("path = \"/a\"\ntype = \"file\"\nsource = \"x\"\ncontents = \"y\""), "filesystem.entries[0].contents", 8, "not both"),
        (e("path = \"/a\"\ntype = \"symlink\""), "filesystem.entries[0].target", 4, "needs `target`"),
        (e("path = \"/a\"\ntype = \"hardlink\""), "filesystem.entries[0].target", 4, "needs `target`"),
        (e("path = \"/a\"\ntype = \"hardlink\"\ntarget = \"b\""), "filesystem.entries[0].target", 7, "absolute"),
        (e("path = \"/a\"\ntype = \"hardlink\"\ntarget = \"/b\"\nmode = \"0600\""), "filesystem.entries[0].mode", 8, "target"),
        (e("path = \"/a\"\ntype = \"char\"\nminor = 3"), "filesystem.entries[0].major", 4, "major"),
        (e("path = \"/a\"\ntype = \"block\"\nmajor = 8"), "filesystem.entries[0].minor", 4, "minor"),
        (e("path = \"/a\"\ntype = \"dir\"\nmajor = 8"), "filesystem.entries[0].major", 7, "char and block"),
        (e("path = \"/a\"\ntype = \"file\"\ncontents = \"\"\nsha256 = \"abc\""), "filesystem.entries[0].sha256", 8, "64 hex"),
        (e(&format!("path = \"/a\"\ntype = \"file\"\ncontents = \"\"\nsha256 = \"{}\"", "g".repeat(64))), "filesystem.entries[0].sha256", 8, "hex"),
        (e("path = \"a/b\"\ntype = \"dir\""), "filesystem.entries[0].path", 5, "absolute"),
        (e("path = \"/a/../b\"\ntype = \"dir\""), "filesystem.entries[0].path", 5, "\"..\""),
        (e("path = \"/a/./b\"\ntype = \"dir\""), "filesystem.entries[0].path", 5, "\".\""),
        (e("path = \"/a\\u0000b\"\ntype = \"dir\""), "filesystem.entries[0].path", 5, "NUL"),
        (e(&format!("path = \"/{long}\"\ntype = \"dir\"")), "filesystem.entries[0].path", 5, "255"),
        (e("path = \"/a\"\ntype = \"dir\"\nxattrs = { plain = \"x\" }"), "filesystem.entries[0].xattrs.plain", 7, "namespace"),
        (e("path = \"/a\"\ntype = \"dir\"\nxattrs = { \"user.x\" = { base64 = \"!!\" } }"), "filesystem.entries[0].xattrs.\"user.x\"", 7, "base64"),
        (format!("{HEAD}[[filesystem.rules]]\nglob = \"/x/[ab\"\n"), "filesystem.rules[0].glob", 5, "unclosed"),
        (format!("{HEAD}[[filesystem.rules]]\nglob = \"/x\"\nmode = \"8\"\n"), "filesystem.rules[0].mode", 6, "octal"),
        (e("path = \"/a\"\ntype = \"dir\"\nmode = 755"), "filesystem.entries[0].mode", 7, "write 0o755"),
        (format!("{HEAD}[[filesystem.rules]]\nglob = \"/x\"\nmode = 0x1ed\n"), "filesystem.rules[0].mode", 6, "decimal"),
        ("version = 1\n[[partitions]]\ntype = \"esp\"\n[[partitions]]\ntype = \"linux\"\n[partitions.filesystem]\ntype = \"ext4\"\n[[partitions.filesystem.entries]]\npath = \"/x\"\ntype = \"fifo\"\nmode = \"0999\"\n".into(), "partitions[1].filesystem.entries[0].mode", 11, "octal"),
        ("version = 1\n[image]\nsector_size = 1000\n".into(), "image.sector_size", 3, "sector size"),
        ("version = 1\n[image]\ndisk_signature = \"xyz\"\n".into(), "image.disk_signature", 3, "hex"),
        ("version = 1\n[[partitions]]\ntype = \"linux\"\nsize = \"remaining\"\n[[partitions]]\ntype = \"linux\"\n".into(), "partitions[0].size", 4, "last"),
    ];
    for (text, key, line, frag) in cases {
        let (l, k, m) = invalid(&text, "m.toml");
        assert_eq!(k, key, "key for\n{text}\nmessage: {m}");
        assert_eq!(l, Some(line), "line for\n{text}\nmessage: {m}");
        assert!(m.contains(frag), "message {m:?} lacks {frag:?} for\n{text}");
    }
}

#[test]
fn semantic_errors_in_json_name_the_key() {
    let text = r#"{"version": 1, "filesystem": {"type": "fat32", "entries": [
        {"path": "/a", "type": "dir"}, {"path": "/b", "type": "file", "contents": "", "mode": "999"}]}}"#;
    let (_, key, msg) = invalid(text, "m.json");
    assert_eq!(key, "filesystem.entries[1].mode");
    assert!(msg.contains("999"), "{msg}");
    let (_, key, _) = invalid(
        r#"{"version": 1, "filesystem": {"type": "fat", "uuid": "12345"}}"#,
        "m.json",
    );
    assert_eq!(key, "filesystem.uuid");
}

#[test]
fn epoch_comes_from_spec_then_env_then_zero() {
    let s = spec::parse_str("version = 1\n", "m.toml").unwrap();
    assert_eq!(spec::epoch_from(&s, None).unwrap(), 0);
    assert_eq!(spec::epoch_from(&s, Some("1234")).unwrap(), 1234);
    let err = spec::epoch_from(&s, Some("12ab")).unwrap_err().to_string();
    assert!(
        err.contains("SOURCE_DATE_EPOCH") && err.contains("12ab"),
        "{err}"
    );
    let s = spec::parse_str("version = 1\nsource_date_epoch = 99\n", "m.toml").unwrap();
    assert_eq!(spec::epoch_from(&s, Some("1234")).unwrap(), 99);
}

// ---------------------------------------------------------------- schema

/// A small JSON Schema checker for the keywords our schema uses: type,
/// properties, additionalProperties, required, items, $ref, anyOf, enum,
/// const, minimum, maximum, pattern (only `^/`, `^...$` checked loosely).
fn check(schema: &Value, root: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").ok_or(format!("bad ref {r}"))?;
        return check(&root["$defs"][name], root, v, at);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| check(s, root, v, at).is_ok()) {
            return Err(format!("{at}: no anyOf branch matches {v}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in enum"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            return Err(format!("{at}: {v} != const {c}"));
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let o = v.as_object().ok_or(format!("{at}: not an object"))?;
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let k = req.as_str().unwrap();
                if !o.contains_key(k) {
                    return Err(format!("{at}: missing {k}"));
                }
            }
            for (k, val) in o {
                let sub = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(s, root, val, &sub)?,
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{sub}: additional property"))
                        }
                        Some(s @ Value::Object(_)) => check(s, root, val, &sub)?,
                        _ => {}
                    },
                }
            }
        }
        Some("array") => {
            let a = v.as_array().ok_or(format!("{at}: not an array"))?;
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    check(items, root, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        Some("string") => {
            let s = v.as_str().ok_or(format!("{at}: not a string"))?;
            if schema.get("pattern").and_then(Value::as_str) == Some("^/") && !s.starts_with('/') {
                return Err(format!("{at}: pattern"));
            }
        }
        Some("integer") => {
            let n = v.as_i64().map(i128::from).or(v.as_u64().map(i128::from));
            let n = n.ok_or(format!("{at}: not an integer"))?;
            if let Some(min) = schema.get("minimum").and_then(Value::as_i64) {
                if n < i128::from(min) {
                    return Err(format!("{at}: below minimum"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_u64) {
                if n > i128::from(max) {
                    return Err(format!("{at}: above maximum"));
                }
            }
        }
        Some("number") => {
            v.as_f64().ok_or(format!("{at}: not a number"))?;
        }
        Some("boolean") => {
            v.as_bool().ok_or(format!("{at}: not a boolean"))?;
        }
        Some(t) => return Err(format!("unknown type {t}")),
        None => {}
    }
    Ok(())
}

/// A manifest that sets every key of the model (each object kind once).
const EVERY_KEY: &str = r#"
version = 1
seed = "s"
source_date_epoch = 1
time_policy = "preserve"
time_range = "clamp"

[filesystem]
type = "ext4"
source = "root"
size = "auto"
headroom = "10%"
label = "L"
uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
sparse = true
preserve_xattrs = true
block_size = 4096
inode_size = 256
inodes = "auto"
inode_ratio = 16384
journal_size = "4MiB"
features = ["extent"]
reserved_percent = 1.5
device_table = "devs.txt"
compression = "none"
dedupe = true
verity = { layout = "appended", salt = "00ff", uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4" }
permissions = { clear = "0022", set = "0200" }
selinux = { file_contexts = ["fc", "fc.homedirs"], substitutions = ["fc.subs"] }

[[filesystem.entries]]
path = "/f"
type = "file"
source = "f.bin"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
mode = "0644"
uid = 1
gid = 2
mtime = 3
xattrs = { "user.t" = "text", "user.b" = { base64 = "AA==" } }
sparse = true
capabilities = "cap_net_raw+ep"
override = true

[[filesystem.entries]]
path = "/s"
type = "symlink"
target = "f"

[[filesystem.entries]]
path = "/d"
type = "char"
major = 1
minor = 2

[[filesystem.entries]]
path = "/i"
type = "file"
contents = "x"

[[filesystem.rules]]
glob = "/**"
type = "file"
mode = 0o644
uid = 0
gid = 0
capabilities = "cap_chown+p"

[image]
size = "1GiB"
partition_table = "mbr"
alignment = "1MiB"
sector_size = 512
format = "qcow2"
cluster_size = 65536
compress = true
disk_guid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
disk_signature = "0x12345678"
bootcode = "boot.bin"
gpt_entries = 128

[[partitions]]
name = "p"
type = "linux"
size = "100MiB"
uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
attributes = ["required"]
bootable = true
image = "blob.img"

# FAT's own keys: on an ext filesystem they are errors.
[[partitions]]
type = "esp"
[partitions.filesystem]
type = "fat32"
cluster_size = 4096
sectors_per_cluster = 8
reserved_sectors = 32
fats = 2
root_entries = 512
unsupported = "skip"
case_conflicts = "rename"

[[partitions]]
type = "esp"
attributes = 4
filesystem = { type = "fat32", whiteouts = true, sources = [{ path = "/", source = "base.tar" }] }

[[partitions]]
type = "msdata"
[partitions.filesystem]
type = "ntfs"
mft_record_size = 4096
short_names = false

[[partitions]]
type = "root-verity-sig"
signature = { key = "key.pem", certificate = "cert.pem" }
"#;

/// Every object's keys in `v`, keyed by the `$defs` name that describes it.
fn keys_by_def(
    v: &Value,
    def: &str,
    out: &mut std::collections::BTreeMap<String, BTreeSet<String>>,
) {
    let Some(o) = v.as_object() else { return };
    let set = out.entry(def.to_string()).or_default();
    set.extend(o.keys().cloned());
    for (k, val) in o {
        let child = match (def, k.as_str()) {
            ("root", "filesystem") | ("partition", "filesystem") => Some("filesystem"),
            ("root", "image") => Some("image"),
            ("root", "partitions") => Some("partition"),
            ("filesystem", "entries") => Some("entry"),
            ("filesystem", "rules") => Some("rule"),
            _ => None,
        };
        if let Some(c) = child {
            match val {
                Value::Array(a) => a.iter().for_each(|x| keys_by_def(x, c, out)),
                x => keys_by_def(x, c, out),
            }
        }
    }
}

#[test]
fn schema_matches_the_model() {
    let schema = spec::schema();
    // It is JSON and says which draft it is.
    let text = serde_json::to_string_pretty(&schema).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );

    // Every object in the schema closes its key set.
    fn closed(v: &Value, at: &str) {
        if let Some(o) = v.as_object() {
            if o.get("type") == Some(&json!("object")) {
                assert!(o.contains_key("additionalProperties"), "{at} is open");
            }
            for (k, x) in o {
                closed(x, &format!("{at}/{k}"));
            }
        } else if let Some(a) = v.as_array() {
            a.iter().for_each(|x| closed(x, at));
        }
    }
    closed(&schema, "#");

    // A manifest setting every key validates, and the schema's key sets are
    // exactly the model's.
    let every = spec::parse_str(EVERY_KEY, "every.toml").unwrap();
    let v = serde_json::to_value(&every).unwrap();
    check(&schema, &schema, &v, "$").unwrap();
    let mut used = std::collections::BTreeMap::new();
    keys_by_def(&v, "root", &mut used);
    for (def, keys) in &used {
        let props = if def == "root" {
            &schema["properties"]
        } else {
            &schema["$defs"][def]["properties"]
        };
        let declared: BTreeSet<String> = props.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            &declared, keys,
            "schema keys of {def} differ from the model's"
        );
    }

    // The JSON example validates; unknown keys and bad values do not.
    let ok: Value = serde_json::from_str(JSON_MANIFEST).unwrap();
    check(&schema, &schema, &ok, "$").unwrap();
    for bad in [
        json!({"version": 1, "colour": "red"}),
        json!({"version": 2}),
        json!({"version": 1, "filesystem": {"type": "ext4", "entries": [{"path": "/a", "type": "dir", "owner": 1}]}}),
        json!({"version": 1, "filesystem": {"type": "btrfs"}}),
        json!({"version": 1, "filesystem": {"type": "ext4", "entries": [{"path": "a", "type": "dir"}]}}),
        json!({"version": 1, "image": {"size": -1}}),
    ] {
        assert!(
            check(&schema, &schema, &bad, "$").is_err(),
            "schema accepted {bad}"
        );
        // The parser agrees.
        assert!(
            spec::parse_str(&bad.to_string(), "b.json").is_err(),
            "parser accepted {bad}"
        );
    }
}
// ---------------------------------------------------------------- resolution

const EPOCH: i64 = 1_500_000_000;

fn ctx(base: &Path, policy: spec::TimePolicy) -> ResolveCtx {
    ResolveCtx {
        base_dir: base.to_path_buf(),
        epoch: EPOCH,
        policy,
        sources: Default::default(),
        time_range: Default::default(),
        resolved_ahead: Default::default(),
        phase: Default::default(),
    }
}

/// The filesystem section of a TOML manifest body (after `[filesystem]`).
fn fs_spec(body: &str) -> spec::FsSpec {
    let text = format!("version = 1\n[filesystem]\ntype = \"ext4\"\n{body}");
    spec::parse_str(&text, "t.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .filesystem
        .unwrap()
}

fn resolve_ok(body: &str, base: &Path, policy: spec::TimePolicy) -> Tree {
    let t = resolve(&fs_spec(body), &ctx(base, policy)).unwrap_or_else(|e| panic!("{e}"));
    check_invariants(&t);
    t
}

fn resolve_err(body: &str, base: &Path) -> TreeError {
    match resolve(&fs_spec(body), &ctx(base, spec::TimePolicy::Fixed)) {
        Ok(t) => panic!("expected an error, got {} nodes", t.nodes.len()),
        Err(e) => e,
    }
}

/// The invariants documented in `src/tree/mod.rs`, plus node ids in
/// sorted pre-order.
fn check_invariants(t: &Tree) {
    assert!(t.root().is_dir());
    assert!(t.root().name.is_empty());
    let order = t.preorder();
    assert_eq!(
        order,
        (0..t.nodes.len() as u32).map(NodeId).collect::<Vec<_>>()
    );
    for (i, n) in t.nodes.iter().enumerate() {
        if let NodeKind::Dir { children } = &n.kind {
            for w in children.windows(2) {
                assert!(
                    t.node(w[0]).name < t.node(w[1]).name,
                    "unsorted children of {}",
                    t.path_of(NodeId(i as u32))
                );
            }
            for c in children {
                assert_eq!(t.node(*c).parent, NodeId(i as u32));
            }
        }
        if let NodeKind::HardLink { target } = n.kind {
            let tk = &t.node(target).kind;
            assert!(!matches!(
                tk,
                NodeKind::Dir { .. } | NodeKind::HardLink { .. }
            ));
            assert!(
                target.0 < i as u32,
                "link owner must come first in pre-order"
            );
        }
        if i > 0 {
            assert!(!n.name.is_empty() && n.name.len() <= 255);
            assert!(!n.name.contains(&b'/') && !n.name.contains(&0));
        }
    }
}

fn find(t: &Tree, path: &str) -> NodeId {
    (0..t.nodes.len() as u32)
        .map(NodeId)
        .find(|&id| t.path_of(id) == path)
        .unwrap_or_else(|| panic!("{path} not in tree: {:?}", paths(t)))
}

fn paths(t: &Tree) -> Vec<String> {
    t.preorder().into_iter().map(|id| t.path_of(id)).collect()
}

/// The tree with host paths made relative to `root`, for comparing trees
/// built from different directories.
fn strip_host(t: &Tree, root: &Path) -> Tree {
    let mut t = t.clone();
    for n in &mut t.nodes {
        if let NodeKind::File {
            data: FileData::Host { path, .. },
            ..
        } = &mut n.kind
        {
            *path = path.strip_prefix(root).unwrap().to_path_buf();
        }
    }
    t
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn set_mtime(p: &Path, secs: i64, nanos: u32) {
    filetime::set_symlink_file_times(
        p,
        filetime::FileTime::from_unix_time(secs, nanos),
        filetime::FileTime::from_unix_time(secs, nanos),
    )
    .unwrap();
}

/// Names chosen so that byte order differs from creation order, locale
/// order and case-insensitive order.
const NAMES: [&str; 8] = ["b", "B", "a", "Z10", "Z9", "_x", "é", "a.b"];

fn build_tree(root: &Path, reverse: bool) {
    let mut names: Vec<&str> = NAMES.to_vec();
    if reverse {
        names.reverse();
    }
    for n in &names {
        let k = NAMES.iter().position(|x| x == n).unwrap();
        if k % 3 == 0 {
            std::fs::create_dir(root.join(n)).unwrap();
            // The same three names in each directory, in creation order.
            for m in names.iter().filter(|m| NAMES[..3].contains(m)) {
                write_file(&root.join(n), m, m.as_bytes());
            }
        } else {
            write_file(root, n, &vec![b'x'; k * 10]);
        }
    }
    std::os::unix::fs::symlink("a.b", root.join("link")).unwrap();
}

#[test]
fn resolution_order_is_sorted_and_independent_of_creation_order() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    build_tree(&a, false);
    build_tree(&b, true);
    // Directory mtimes differ; fixed policy makes them irrelevant.
    let ta = resolve_ok("source = \"a\"\n", d.path(), spec::TimePolicy::Fixed);
    let tb = resolve_ok("source = \"b\"\n", d.path(), spec::TimePolicy::Fixed);
    assert_eq!(strip_host(&ta, &a), strip_host(&tb, &b));
    let top: Vec<Vec<u8>> = ta
        .children(NodeId::ROOT)
        .iter()
        .map(|&c| ta.node(c).name.clone())
        .collect();
    let want: Vec<Vec<u8>> = ["B", "Z10", "Z9", "_x", "a", "a.b", "b", "link", "é"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(top, want);
    // Lengths recorded, contents not loaded.
    match &ta.node(find(&ta, "/Z9")).kind {
        NodeKind::File {
            data: FileData::Host { path, len, sha256 },
            sparse,
        } => {
            assert_eq!(*len, 40);
            assert_eq!(path, &a.join("Z9"));
            assert_eq!((*sha256, *sparse), (None, false));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        ta.node(find(&ta, "/link")).kind,
        NodeKind::Symlink {
            target: b"a.b".to_vec()
        }
    );
}

#[test]
fn hard_links_in_the_source_are_kept_and_owned_by_the_first_path() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("src");
    write_file(&s, "z/first", b"shared");
    std::fs::hard_link(s.join("z/first"), s.join("b")).unwrap();
    std::fs::hard_link(s.join("z/first"), s.join("a/x")).unwrap_or_else(|_| {
        std::fs::create_dir(s.join("a")).unwrap();
        std::fs::hard_link(s.join("z/first"), s.join("a/x")).unwrap();
    });
    write_file(&s, "c", b"single");
    let t = resolve_ok("source = \"src\"\n", d.path(), spec::TimePolicy::Fixed);
    let (ax, b, zf) = (find(&t, "/a/x"), find(&t, "/b"), find(&t, "/z/first"));
    // Sorted pre-order: /a, /a/x, /b, /c, /z, /z/first: /a/x owns.
    assert!(matches!(t.node(ax).kind, NodeKind::File { .. }));
    assert_eq!(t.node(b).kind, NodeKind::HardLink { target: ax });
    assert_eq!(t.node(zf).kind, NodeKind::HardLink { target: ax });
    assert_eq!(t.link_counts()[ax.index()], 3);
    assert_eq!(t.inode_count(), t.nodes.len() - 2);
    assert_eq!(t.data_bytes(), 6 + 6);
}

#[test]
fn symlink_loops_are_copied_not_followed() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("src");
    std::fs::create_dir_all(s.join("dir")).unwrap();
    std::os::unix::fs::symlink("l2", s.join("l1")).unwrap();
    std::os::unix::fs::symlink("l1", s.join("l2")).unwrap();
    std::os::unix::fs::symlink("..", s.join("dir/up")).unwrap();
    std::os::unix::fs::symlink(".", s.join("dir/self")).unwrap();
    let t = resolve_ok("source = \"src\"\n", d.path(), spec::TimePolicy::Fixed);
    assert_eq!(
        paths(&t),
        ["/", "/dir", "/dir/self", "/dir/up", "/l1", "/l2"]
    );
    assert_eq!(
        t.node(find(&t, "/dir/up")).kind,
        NodeKind::Symlink {
            target: b"..".to_vec()
        }
    );
    assert_eq!(
        t.node(find(&t, "/l1")).kind,
        NodeKind::Symlink {
            target: b"l2".to_vec()
        }
    );
}

#[test]
fn permissions_come_from_the_source_bits_and_owner_is_root() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("src");
    write_file(&s, "suid", b"");
    write_file(&s, "secret", b"");
    std::fs::create_dir(s.join("tmp")).unwrap();
    set_mode(&s.join("suid"), 0o4755);
    set_mode(&s.join("secret"), 0o600);
    set_mode(&s.join("tmp"), 0o1777);
    set_mode(&s, 0o700);
    let t = resolve_ok("source = \"src\"\n", d.path(), spec::TimePolicy::Fixed);
    set_mode(&s, 0o755);
    let m = |p: &str| t.node(find(&t, p)).meta.mode;
    assert_eq!(
        (m("/suid"), m("/secret"), m("/tmp")),
        (0o4755, 0o600, 0o1777)
    );
    // The root is 0755 whatever the source directory's bits.
    assert_eq!(t.root().meta.mode, 0o755);
    assert!(t.nodes.iter().all(|n| n.meta.uid == 0 && n.meta.gid == 0));
    assert!(t.nodes.iter().all(|n| n.meta.xattrs.is_empty()));
}

#[test]
fn special_files_in_the_source() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("src");
    std::fs::create_dir(&s).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(s.join("sock")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(s.join("fifo"))
        .status();
    let fifo_ok = fifo.is_ok_and(|st| st.success());
    let dev = std::process::Command::new("mknod")
        .arg(s.join("null"))
        .args(["c", "1", "3"])
        .status();
    let dev_ok = dev.is_ok_and(|st| st.success());
    let t = resolve_ok("source = \"src\"\n", d.path(), spec::TimePolicy::Fixed);
    assert_eq!(t.node(find(&t, "/sock")).kind, NodeKind::Socket);
    if fifo_ok {
        assert_eq!(t.node(find(&t, "/fifo")).kind, NodeKind::Fifo);
    } else {
        eprintln!("SKIPPED: mkfifo failed; fifo not checked");
    }
    if dev_ok {
        assert_eq!(
            t.node(find(&t, "/null")).kind,
            NodeKind::CharDev { major: 1, minor: 3 }
        );
    } else {
        eprintln!("SKIPPED: mknod failed (not root?); char device not checked");
    }
}

#[test]
fn time_policies() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("src");
    write_file(&s, "old", b"o");
    write_file(&s, "new", b"n");
    set_mtime(&s.join("old"), 1000, 250);
    set_mtime(&s.join("new"), 2_000_000_000, 5);
    let entry = "[[filesystem.entries]]\npath = \"/e\"\ntype = \"dir\"\nmtime = 1999999999\n\
                 [[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"\"\nmtime = 7\n\
                 [[filesystem.entries]]\npath = \"/g\"\ntype = \"fifo\"\n";
    let body = format!("source = \"src\"\n{entry}");
    let ep = Timestamp::from_secs(EPOCH);
    let times = |t: &Tree, p: &str| {
        let m = &t.node(find(t, p)).meta;
        assert!(
            m.atime == m.mtime && m.ctime == m.mtime && m.crtime == m.mtime,
            "{p}: {m:?}"
        );
        m.mtime
    };
    let fixed = resolve_ok(&body, d.path(), spec::TimePolicy::Fixed);
    assert_eq!(times(&fixed, "/old"), ep);
    assert_eq!(times(&fixed, "/new"), ep);
    assert_eq!(times(&fixed, "/"), ep);
    assert_eq!(times(&fixed, "/g"), ep);
    // An explicit manifest mtime is the user's choice: kept.
    assert_eq!(times(&fixed, "/e"), Timestamp::from_secs(1_999_999_999));
    assert_eq!(times(&fixed, "/f"), Timestamp::from_secs(7));

    let clamp = resolve_ok(&body, d.path(), spec::TimePolicy::Clamp);
    assert_eq!(
        times(&clamp, "/old"),
        Timestamp {
            secs: 1000,
            nanos: 250
        }
    );
    assert_eq!(times(&clamp, "/new"), ep);
    assert_eq!(times(&clamp, "/e"), ep);
    assert_eq!(times(&clamp, "/f"), Timestamp::from_secs(7));

    let keep = resolve_ok(&body, d.path(), spec::TimePolicy::Preserve);
    assert_eq!(
        times(&keep, "/old"),
        Timestamp {
            secs: 1000,
            nanos: 250
        }
    );
    assert_eq!(
        times(&keep, "/new"),
        Timestamp {
            secs: 2_000_000_000,
            nanos: 5
        }
    );
    assert_eq!(times(&keep, "/e"), Timestamp::from_secs(1_999_999_999));
    assert_eq!(times(&keep, "/"), ep);
}

#[test]
fn entries_build_files_links_devices_and_implied_parents() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "host/busybox", b"#!/bin/sh\n");
    set_mode(&d.path().join("host/busybox"), 0o750);
    let body = r#"
[[filesystem.entries]]
path = "/usr/local/bin/busybox"
type = "file"
source = "host/busybox"
sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
[[filesystem.entries]]
path = "/etc/motd"
type = "file"
contents = "hi\n"
sha256 = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4"
uid = 1000
gid = 100
xattrs = { "user.t" = "v", "user.b" = { base64 = "AP8=" } }
[[filesystem.entries]]
path = "/bin/sh"
type = "symlink"
target = "../usr/local/bin/busybox"
[[filesystem.entries]]
path = "/aa/motd-link"
type = "hardlink"
target = "/etc/motd"
[[filesystem.entries]]
path = "/dev/sda"
type = "block"
major = 8
minor = 0
mode = "0660"
[[filesystem.entries]]
path = "/run/ctl"
type = "socket"
[[filesystem.entries]]
path = "/big"
type = "file"
source = "host/busybox"
sparse = true
"#;
    let t = resolve_ok(body, d.path(), spec::TimePolicy::Fixed);
    assert_eq!(
        paths(&t),
        [
            "/",
            "/aa",
            "/aa/motd-link",
            "/big",
            "/bin",
            "/bin/sh",
            "/dev",
            "/dev/sda",
            "/etc",
            "/etc/motd",
            "/run",
            "/run/ctl",
            "/usr",
            "/usr/local",
            "/usr/local/bin",
            "/usr/local/bin/busybox"
        ]
    );
    // Implied parents: 0755, 0:0, epoch.
    for p in ["/usr", "/usr/local", "/dev", "/aa"] {
        let m = &t.node(find(&t, p)).meta;
        assert_eq!(
            (m.mode, m.uid, m.gid, m.mtime),
            (0o755, 0, 0, Timestamp::from_secs(EPOCH)),
            "{p}"
        );
    }
    let bb = t.node(find(&t, "/usr/local/bin/busybox"));
    assert_eq!(
        bb.meta.mode, 0o750,
        "a host file's bits are the default mode"
    );
    let mut want = [0u8; 32];
    want[31] = 1;
    assert_eq!(
        bb.kind,
        NodeKind::File {
            data: FileData::Host {
                path: d.path().join("host/busybox"),
                len: 10,
                sha256: Some(want)
            },
            sparse: false
        }
    );
    assert!(matches!(
        t.node(find(&t, "/big")).kind,
        NodeKind::File { sparse: true, .. }
    ));
    // The hard link sorts first, so it owns the inode and /etc/motd links to it.
    let (al, motd) = (find(&t, "/aa/motd-link"), find(&t, "/etc/motd"));
    assert_eq!(
        t.node(al).kind,
        NodeKind::File {
            data: FileData::Inline(b"hi\n".to_vec()),
            sparse: false
        }
    );
    assert_eq!(t.node(motd).kind, NodeKind::HardLink { target: al });
    let m = &t.node(al).meta;
    assert_eq!((m.mode, m.uid, m.gid), (0o644, 1000, 100));
    assert_eq!(
        m.xattrs,
        vec![
            ("user.b".to_string(), vec![0, 0xff]),
            ("user.t".to_string(), b"v".to_vec())
        ]
    );
    let sda = t.node(find(&t, "/dev/sda"));
    assert_eq!(
        (sda.kind.clone(), sda.meta.mode),
        (NodeKind::BlockDev { major: 8, minor: 0 }, 0o660)
    );
    assert_eq!(t.node(find(&t, "/bin/sh")).meta.mode, 0o777);
    assert_eq!(t.node(find(&t, "/run/ctl")).kind, NodeKind::Socket);
}

#[test]
fn duplicates_need_override() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/etc/passwd", b"root:x:0:0\n");
    write_file(d.path(), "src/etc/sub/x", b"");
    let dup = "source = \"src\"\n[[filesystem.entries]]\npath = \"/etc/passwd\"\ntype = \"file\"\ncontents = \"new\"\n";
    match resolve_err(dup, d.path()) {
        TreeError::Duplicate { path, existing } => {
            assert_eq!(
                (path.as_str(), existing.as_str()),
                ("/etc/passwd", "the source tree")
            );
        }
        e => panic!("{e}"),
    }
    let t = resolve_ok(
        &format!("{dup}override = true\n"),
        d.path(),
        spec::TimePolicy::Fixed,
    );
    assert_eq!(
        t.node(find(&t, "/etc/passwd")).kind,
        NodeKind::File {
            data: FileData::Inline(b"new".to_vec()),
            sparse: false
        }
    );

    // Two entries for one path.
    let two = "[[filesystem.entries]]\npath = \"/a\"\ntype = \"fifo\"\n[[filesystem.entries]]\npath = \"/a\"\ntype = \"socket\"\n";
    let e = resolve_err(two, d.path()).to_string();
    assert!(
        e.contains("/a") && e.contains("entries[0]") && e.contains("override"),
        "{e}"
    );

    // A dir entry for an implied dir needs no override and keeps children;
    // for a source dir it needs one, and then changes only what it sets.
    let t = resolve_ok(
        "[[filesystem.entries]]\npath = \"/x/y\"\ntype = \"fifo\"\n[[filesystem.entries]]\npath = \"/x\"\ntype = \"dir\"\nmode = \"0700\"\n",
        d.path(),
        spec::TimePolicy::Fixed,
    );
    assert_eq!(t.node(find(&t, "/x")).meta.mode, 0o700);
    find(&t, "/x/y");
    let src_dir =
        "source = \"src\"\n[[filesystem.entries]]\npath = \"/etc\"\ntype = \"dir\"\nuid = 5\n";
    assert!(matches!(
        resolve_err(src_dir, d.path()),
        TreeError::Duplicate { .. }
    ));
    let t = resolve_ok(
        &format!("{src_dir}override = true\n"),
        d.path(),
        spec::TimePolicy::Fixed,
    );
    let etc = t.node(find(&t, "/etc"));
    assert_eq!((etc.meta.uid, etc.meta.mode), (5, 0o755));
    find(&t, "/etc/sub/x");
    // Replacing a directory by a file drops its subtree.
    let t = resolve_ok(
        "source = \"src\"\n[[filesystem.entries]]\npath = \"/etc\"\ntype = \"file\"\ncontents = \"\"\noverride = true\n",
        d.path(),
        spec::TimePolicy::Fixed,
    );
    assert_eq!(paths(&t), ["/", "/etc"]);
}

#[test]
fn an_entry_for_the_root_sets_its_metadata() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/a", b"");
    let t = resolve_ok(
        "source = \"src\"\n[[filesystem.entries]]\npath = \"/\"\ntype = \"dir\"\nmode = \"0700\"\nuid = 3\nmtime = 5\n",
        d.path(),
        spec::TimePolicy::Fixed,
    );
    let m = &t.root().meta;
    assert_eq!(
        (m.mode, m.uid, m.gid, m.mtime),
        (0o700, 3, 0, Timestamp::from_secs(5))
    );
    assert_eq!(paths(&t), ["/", "/a"]);
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/\"\ntype = \"fifo\"\noverride = true\n",
        d.path(),
    );
    assert!(
        matches!(&e, TreeError::Invalid { path, .. } if path == "/"),
        "{e}"
    );
}

#[test]
fn entry_errors_name_the_path() {
    let d = tempfile::tempdir().unwrap();
    // A file where a parent directory should be.
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/a\"\ntype = \"fifo\"\n[[filesystem.entries]]\npath = \"/a/b\"\ntype = \"fifo\"\n",
        d.path(),
    );
    assert!(
        matches!(&e, TreeError::ParentNotDir { path, parent } if path == "/a/b" && parent == "/a"),
        "{e}"
    );
    // Hard link to nothing, and to a directory.
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/l\"\ntype = \"hardlink\"\ntarget = \"/nope\"\n",
        d.path(),
    );
    assert!(
        matches!(&e, TreeError::HardLink { path, target, .. } if path == "/l" && target == "/nope"),
        "{e}"
    );
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/d\"\ntype = \"dir\"\n[[filesystem.entries]]\npath = \"/l\"\ntype = \"hardlink\"\ntarget = \"/d\"\n",
        d.path(),
    );
    assert!(e.to_string().contains("directory"), "{e}");
    // Inline contents are checked at once.
    let e = resolve_err(
        &format!("[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\ncontents = \"x\"\nsha256 = \"{}\"\n", "ab".repeat(32)),
        d.path(),
    );
    assert!(
        matches!(&e, TreeError::Sha256Mismatch { path, .. } if path == "/f"),
        "{e}"
    );
    // Missing host files and directories name the host path.
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\nsource = \"gone.bin\"\n",
        d.path(),
    );
    assert!(
        matches!(&e, TreeError::SourceMissing { path } if path == &d.path().join("gone.bin")),
        "{e}"
    );
    assert!(e.to_string().contains("gone.bin"));
    let e = resolve_err("source = \"no-such-dir\"\n", d.path());
    assert!(
        matches!(&e, TreeError::SourceMissing { path } if path == &d.path().join("no-such-dir")),
        "{e}"
    );
    write_file(d.path(), "plain", b"");
    let e = resolve_err("source = \"plain\"\n", d.path());
    assert!(matches!(e, TreeError::NotADirectory { .. }), "{e}");
    let e = resolve_err(
        "[[filesystem.entries]]\npath = \"/f\"\ntype = \"file\"\nsource = \".\"\n",
        d.path(),
    );
    assert!(matches!(e, TreeError::NotAFile { .. }), "{e}");
}

#[test]
fn rules_apply_in_order_but_explicit_entries_win() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/usr/bin/ls", b"");
    write_file(d.path(), "src/usr/bin/sub/deep", b"");
    write_file(d.path(), "src/usr/lib/x.so", b"");
    write_file(d.path(), "src/etc/shadow", b"");
    for p in [
        "usr/bin/ls",
        "usr/bin/sub/deep",
        "usr/lib/x.so",
        "etc/shadow",
    ] {
        set_mode(&d.path().join("src").join(p), 0o644);
    }
    let body = r#"source = "src"
[[filesystem.entries]]
path = "/usr/bin/mine"
type = "file"
contents = ""
mode = "0700"
[[filesystem.entries]]
path = "/usr/bin/plain"
type = "file"
contents = ""
[[filesystem.rules]]
glob = "/usr/bin/*"
mode = 0o755
[[filesystem.rules]]
glob = "/usr/**"
uid = 2
[[filesystem.rules]]
glob = "/etc/shad?w"
mode = "0640"
gid = 42
[[filesystem.rules]]
glob = "/etc/[s]hadow"
mode = "0600"
"#;
    let t = resolve_ok(body, d.path(), spec::TimePolicy::Fixed);
    let m = |p: &str| {
        let n = &t.node(find(&t, p)).meta;
        (n.mode, n.uid, n.gid)
    };
    assert_eq!(m("/usr/bin/ls"), (0o755, 2, 0));
    assert_eq!(m("/usr/bin/sub"), (0o755, 2, 0));
    assert_eq!(
        m("/usr/bin/sub/deep"),
        (0o644, 2, 0),
        "* stays in one component"
    );
    assert_eq!(m("/usr/lib/x.so"), (0o644, 2, 0));
    assert_eq!(m("/usr"), (0o755, 2, 0), "** matches zero components");
    assert_eq!(
        m("/usr/bin/mine"),
        (0o700, 2, 0),
        "the entry's explicit mode beats the rule"
    );
    assert_eq!(m("/usr/bin/plain"), (0o755, 2, 0));
    assert_eq!(m("/etc/shadow"), (0o600, 0, 42), "later rules win");
    assert_eq!(m("/etc"), (0o755, 0, 0));
}

#[test]
fn rules_can_select_by_entry_type() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/etc/a/b.conf", b"x");
    set_mode(&d.path().join("src/etc/a/b.conf"), 0o600);
    set_mode(&d.path().join("src/etc/a"), 0o700);
    let body = r#"source = "src"
[[filesystem.entries]]
path = "/etc/link"
type = "symlink"
target = "a"
[[filesystem.rules]]
glob = "/**"
type = "dir"
mode = "0751"
[[filesystem.rules]]
glob = "/**"
type = "file"
mode = "0640"
"#;
    let t = resolve_ok(body, d.path(), spec::TimePolicy::Fixed);
    let mode = |p: &str| t.node(find(&t, p)).meta.mode;
    assert_eq!(mode("/etc"), 0o751);
    assert_eq!(mode("/etc/a"), 0o751);
    assert_eq!(mode("/etc/a/b.conf"), 0o640);
    assert_eq!(mode("/etc/link"), 0o777, "symlinks match neither rule");
}

#[test]
fn device_table_creates_nodes_and_series() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/etc/inittab", b"");
    write_file(
        d.path(),
        "devs.txt",
        b"# name type mode uid gid major minor start inc count\n\
          /dev        d  755  0 0 -  -  -  -  -\n\
          /dev/console c 600  0 5 5  1  -  -  -\n\
          /dev/hda    b  640  0 6 3  1  1  1  3\n\
          /dev/initctl p 600  0 0\n\
          /etc/inittab f 600  0 0 -  -  -  -  -\n\
          /etc        d  711  0 0\n",
    );
    let body = "source = \"src\"\ndevice_table = \"devs.txt\"\n[[filesystem.rules]]\nglob = \"/dev/**\"\nmode = \"0666\"\nuid = 9\n";
    let t = resolve_ok(body, d.path(), spec::TimePolicy::Fixed);
    let get = |p: &str| {
        let n = t.node(find(&t, p));
        (n.kind.clone(), n.meta.mode, n.meta.uid, n.meta.gid)
    };
    assert_eq!(
        get("/dev/console"),
        (NodeKind::CharDev { major: 5, minor: 1 }, 0o600, 0, 5)
    );
    for (i, name) in ["/dev/hda1", "/dev/hda2", "/dev/hda3"].iter().enumerate() {
        assert_eq!(
            get(name),
            (
                NodeKind::BlockDev {
                    major: 3,
                    minor: 1 + i as u32
                },
                0o640,
                0,
                6
            )
        );
    }
    assert_eq!(get("/dev/initctl"), (NodeKind::Fifo, 0o600, 0, 0));
    assert_eq!(get("/etc/inittab").1, 0o600);
    assert_eq!(get("/etc").1, 0o711);
    assert!(find(&t, "/dev") != NodeId::ROOT);
    assert!(!paths(&t).contains(&"/dev/hda4".to_string()));

    // Errors name the table file and line.
    write_file(d.path(), "bad.txt", b"/dev d 755 0 0\n\n/dev/x q 600 0 0\n");
    let e = resolve_err("device_table = \"bad.txt\"\n", d.path());
    assert!(
        matches!(&e, TreeError::DeviceTable { line: Some(3), .. }),
        "{e}"
    );
    let s = e.to_string();
    assert!(s.contains("bad.txt:3") && s.contains("\"q\""), "{s}");
    write_file(d.path(), "dup.txt", b"/etc/inittab c 600 0 0 1 1\n");
    let e = resolve_err("source = \"src\"\ndevice_table = \"dup.txt\"\n", d.path()).to_string();
    assert!(e.contains("dup.txt:1") && e.contains("source tree"), "{e}");
    let e = resolve_err("device_table = \"missing.txt\"\n", d.path()).to_string();
    assert!(e.contains("missing.txt"), "{e}");
}

#[test]
fn sparse_flag_reaches_every_source_file() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/a", b"1");
    write_file(d.path(), "src/d/b", b"2");
    let t = resolve_ok(
        "source = \"src\"\nsparse = true\n",
        d.path(),
        spec::TimePolicy::Fixed,
    );
    let files: Vec<bool> = t
        .nodes
        .iter()
        .filter_map(|n| match n.kind {
            NodeKind::File { sparse, .. } => Some(sparse),
            _ => None,
        })
        .collect();
    assert_eq!(files, [true, true]);
}

#[test]
fn host_xattrs_only_when_asked() {
    let d = tempfile::tempdir().unwrap();
    write_file(d.path(), "src/f", b"");
    let f: PathBuf = d.path().join("src/f");
    if let Err(e) = xattr::set(&f, "user.fstool", b"v1") {
        eprintln!("SKIPPED: cannot set user xattrs here ({e}); xattr preservation not checked");
        return;
    }
    let off = resolve_ok("source = \"src\"\n", d.path(), spec::TimePolicy::Fixed);
    assert!(off.node(find(&off, "/f")).meta.xattrs.is_empty());
    let on = resolve_ok(
        "source = \"src\"\npreserve_xattrs = true\n",
        d.path(),
        spec::TimePolicy::Fixed,
    );
    let x = &on.node(find(&on, "/f")).meta.xattrs;
    assert!(
        x.contains(&("user.fstool".to_string(), b"v1".to_vec())),
        "{x:?}"
    );
}

#[test]
fn resolution_is_repeatable() {
    let d = tempfile::tempdir().unwrap();
    build_tree(&d.path().join("src").tap_create(), false);
    let body = "source = \"src\"\n[[filesystem.rules]]\nglob = \"/**\"\nuid = 1\n";
    let a = resolve_ok(body, d.path(), spec::TimePolicy::Clamp);
    let b = resolve_ok(body, d.path(), spec::TimePolicy::Clamp);
    assert_eq!(a, b);
}

trait TapCreate {
    fn tap_create(self) -> Self;
}

impl TapCreate for PathBuf {
    fn tap_create(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn overlays_merge_tables_append_arrays_and_name_bad_keys() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base.json");
    std::fs::write(
        &base,
        r#"{"version": 1, "filesystem": {"type": "ext2", "size": "4MiB", "label": "base",
            "entries": [{"path": "/a", "type": "file", "contents": "a"}]}}"#,
    )
    .unwrap();
    let over = d.path().join("over.toml");
    std::fs::write(
        &over,
        "[filesystem]\nlabel = \"over\"\n[[filesystem.entries]]\npath = \"/b\"\ntype = \"dir\"\n",
    )
    .unwrap();
    let s = spec::load_with_overlays(&base, std::slice::from_ref(&over)).unwrap();
    let fs = s.filesystem.unwrap();
    assert_eq!(
        fs.label.as_deref(),
        Some("over"),
        "the overlay's value wins"
    );
    let paths: Vec<&str> = fs.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b"], "arrays are appended");
    // Through the CLI: the image holds both entries.
    let img = d.path().join("o.img");
    crate::common::run_ok(
        crate::common::fstool()
            .arg("build")
            .arg(&base)
            .arg("--overlay")
            .arg(&over)
            .arg("-o")
            .arg(&img)
            .arg("-q"),
    );
    let plain = d.path().join("p.img");
    crate::common::run_ok(
        crate::common::fstool()
            .arg("build")
            .arg(&base)
            .arg("-o")
            .arg(&plain)
            .arg("-q"),
    );
    assert_ne!(
        crate::common::sha256_file(&img),
        crate::common::sha256_file(&plain)
    );
    // A bad key in the overlay is named by its path.
    std::fs::write(&over, "[filesystem]\nlable = \"x\"\n").unwrap();
    let err = spec::load_with_overlays(&base, &[over])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("filesystem.lable") && err.contains("unknown key"),
        "{err}"
    );
}

#[test]
fn arguments_can_come_from_a_param_file() {
    let d = tempfile::tempdir().unwrap();
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/minimal-ext2.json");
    let direct = d.path().join("direct.img");
    crate::common::run_ok(
        crate::common::fstool()
            .arg("build")
            .arg(&spec_path)
            .arg("-o")
            .arg(&direct)
            .arg("-q"),
    );
    let via = d.path().join("via.img");
    let params = d.path().join("params");
    std::fs::write(
        &params,
        format!(
            "build\n{}\n-o\n{}\n-q\n",
            spec_path.display(),
            via.display()
        ),
    )
    .unwrap();
    crate::common::run_ok(crate::common::fstool().arg(format!("@{}", params.display())));
    assert_eq!(
        crate::common::sha256_file(&via),
        crate::common::sha256_file(&direct)
    );
    let out = crate::common::run(crate::common::fstool().arg("@/nonexistent/params"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("param file"));
}
