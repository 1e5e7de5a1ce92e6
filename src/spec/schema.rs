//! JSON Schema (draft 2020-12) of manifest version 1, for editors and for
//! build rules that generate manifests. Hand-written so it says exactly what
//! the parser accepts: `additionalProperties: false` on every object (the
//! unknown-key rule), and the number-or-string forms of sizes and modes.
//! `tests/it/spec.rs` checks it against the model by validating manifests
//! that set every key.

use serde_json::{json, Value};

fn obj(required: &[&str], props: Value) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": props,
    })
}

fn string(desc: &str) -> Value {
    json!({ "type": "string", "description": desc })
}

fn uint(desc: &str, max: u64) -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": max, "description": desc })
}

/// The schema of a whole manifest.
pub fn schema() -> Value {
    let u32max = u64::from(u32::MAX);
    let fs = obj(
        &["type"],
        json!({
            "type": { "enum": crate::fs::type_names(crate::fs::FORMATS) },
            "source": string("Host directory or tar archive whose contents form the tree (relative to the spec's directory)."),
            "sources": {
                "description": "Layers, later over earlier: host directories or tar archives placed at image paths (instead of `source`).",
                "type": "array",
                "items": obj(&["path", "source"], json!({
                    "path": { "type": "string", "pattern": "^/", "description": "Where the layer's root goes." },
                    "source": string("Host directory or tar archive."),
                    "follow_symlinks": { "type": "boolean", "description": "Store symlinks to regular files as the files (directory layers)." },
                })),
            },
            "whiteouts": { "type": "boolean", "description": "OCI whiteouts (.wh.NAME, .wh..wh..opq) in `sources` delete from the layers below." },
            "size": { "$ref": "#/$defs/size" },
            "headroom": { "$ref": "#/$defs/headroom" },
            "label": string("Volume label."),
            "uuid": string("Pinned filesystem UUID (ext) or volume ID (FAT, \"1234-ABCD\")."),
            "sparse": { "type": "boolean" },
            "preserve_xattrs": { "type": "boolean" },
            "keep_host_setgid": { "type": "boolean" },
            "permissions": {
                "description": "Modes of what `source` brings: \"source\" (as is), \"canonical\" (dirs 0755, files 0644 or 0755), or { clear, set } masks.",
                "anyOf": [
                    { "enum": ["source", "canonical"] },
                    obj(&[], json!({
                        "clear": { "$ref": "#/$defs/mode" },
                        "set": { "$ref": "#/$defs/mode" },
                    })),
                ]
            },
            "selinux": obj(&["file_contexts"], json!({
                "file_contexts": {
                    "description": "file_contexts file(s), read as one list in order.",
                    "anyOf": [
                        { "type": "string" },
                        { "type": "array", "items": { "type": "string" } },
                    ]
                },
                "substitutions": { "type": "array", "items": { "type": "string" } },
            })),
            "verity": {
                "description": "A dm-verity hash tree: true, \"appended\" (after the data), \"partition\" (in the paired root-verity/usr-verity partition), or a table.",
                "anyOf": [
                    { "type": "boolean" },
                    { "enum": ["appended", "partition"] },
                    obj(&[], json!({
                        "layout": { "enum": ["appended", "partition"] },
                        "salt": { "type": "string", "pattern": "^([0-9a-fA-F]{2}){0,256}$" },
                        "uuid": string("The verity superblock's UUID."),
                    })),
                ]
            },
            "block_size": uint("Block size in bytes.", u32max),
            "inode_size": uint("Inode size in bytes.", u64::from(u16::MAX)),
            "inodes": { "$ref": "#/$defs/count" },
            "inode_ratio": uint("Bytes per inode.", u64::MAX),
            "journal_size": { "$ref": "#/$defs/size" },
            "features": { "type": "array", "items": { "type": "string" } },
            "reserved_percent": { "type": "number", "minimum": 0 },
            "cluster_size": uint("FAT or NTFS cluster size in bytes.", u32max),
            "sectors_per_cluster": uint("FAT sectors per cluster.", u32max),
            "reserved_sectors": uint("FAT reserved sectors.", u32max),
            "fats": uint("Number of FATs.", 255),
            "root_entries": uint("FAT12/16 root directory entries.", u32max),
            "unsupported": { "enum": ["error", "skip"] },
            "case_conflicts": { "enum": ["error", "skip", "rename"], "description": "FAT: names of one directory that differ only in case." },
            "compression": { "enum": ["none", "lz4"] },
            "dedupe": { "type": "boolean" },
            "mft_record_size": { "enum": [1024, 4096], "description": "NTFS bytes per MFT record." },
            "short_names": { "type": "boolean", "description": "NTFS DOS 8.3 names (only false is supported)." },
            "entries": { "type": "array", "items": { "$ref": "#/$defs/entry" } },
            "rules": { "type": "array", "items": { "$ref": "#/$defs/rule" } },
            "device_table": string("A genext2fs/makedevs device table file."),
        }),
    );
    let entry = obj(
        &["path", "type"],
        json!({
            "path": { "type": "string", "pattern": "^/", "description": "Path inside the image." },
            "type": { "enum": ["file", "dir", "symlink", "hardlink", "char", "block", "fifo", "socket"] },
            "source": string("file: host path of the contents."),
            "contents": string("file: inline UTF-8 contents."),
            "sha256": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" },
            "target": string("symlink: link target; hardlink: image path of an existing file."),
            "major": uint("Device major number.", u32max),
            "minor": uint("Device minor number.", u32max),
            "mode": { "$ref": "#/$defs/mode" },
            "uid": uint("Owner.", u32max),
            "gid": uint("Group.", u32max),
            "mtime": { "type": "integer", "description": "Seconds since the epoch." },
            "xattrs": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        { "type": "string" },
                        obj(&["base64"], json!({ "base64": { "type": "string" } })),
                    ]
                }
            },
            "sparse": { "type": "boolean" },
            "capabilities": string("File capabilities, setcap text form (\"cap_net_bind_service+ep\")."),
            "override": { "type": "boolean" },
        }),
    );
    let rule = obj(
        &["glob"],
        json!({
            "glob": { "type": "string", "pattern": "^/" },
            "type": { "enum": ["file", "dir", "symlink", "char", "block", "fifo", "socket"] },
            "mode": { "$ref": "#/$defs/mode" },
            "uid": uint("Owner.", u32max),
            "gid": uint("Group.", u32max),
            "capabilities": string("File capabilities for matching files, setcap text form."),
        }),
    );
    let image = obj(
        &[],
        json!({
            "size": { "$ref": "#/$defs/size" },
            "partition_table": { "enum": ["gpt", "mbr", "none"] },
            "alignment": { "$ref": "#/$defs/size" },
            "sector_size": { "enum": [512, 4096] },
            "format": { "enum": ["raw", "qcow2"] },
            "cluster_size": { "$ref": "#/$defs/size" },
            "compress": { "type": "boolean" },
            "disk_guid": string("GPT disk GUID."),
            "disk_signature": { "$ref": "#/$defs/count" },
            "bootcode": string("Host file whose first 440 bytes become the MBR boot code."),
            "gpt_entries": uint("GPT entry count.", u32max),
        }),
    );
    let partition = obj(
        &["type"],
        json!({
            "name": string("Partition name (GPT)."),
            "type": string("Alias (esp, linux, ...), MBR type byte (\"0x83\") or GPT type GUID."),
            "size": { "$ref": "#/$defs/size" },
            "uuid": string("Pinned partition GUID."),
            "attributes": {
                "anyOf": [
                    { "type": "array", "items": { "type": "string" } },
                    { "type": "integer", "minimum": 0 },
                ]
            },
            "bootable": { "type": "boolean" },
            "filesystem": { "$ref": "#/$defs/filesystem" },
            "image": string("Prebuilt blob copied in verbatim."),
            "signature": {
                "type": "object",
                "description": "root-verity-sig/usr-verity-sig partitions: PEM RSA key and X.509 certificate that sign the verity pair's root hash.",
                "required": ["key", "certificate"],
                "additionalProperties": false,
                "properties": {
                    "key": string("PEM RSA private key (PKCS#8 or PKCS#1)."),
                    "certificate": string("PEM X.509 certificate of the key."),
                },
            },
        }),
    );
    let mut root = obj(
        &["version"],
        json!({
            "version": { "const": 1 },
            "seed": string("Every identifier derives from it."),
            "source_date_epoch": { "type": "integer" },
            "time_policy": { "enum": ["fixed", "clamp", "preserve"] },
            "time_range": { "enum": ["error", "clamp"] },
            "filesystem": { "$ref": "#/$defs/filesystem" },
            "image": { "$ref": "#/$defs/image" },
            "partitions": { "type": "array", "items": { "$ref": "#/$defs/partition" } },
        }),
    );
    if let Some(m) = root.as_object_mut() {
        m.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        m.insert("title".into(), json!("fstool manifest, version 1"));
        m.insert(
            "$defs".into(),
            json!({
                "filesystem": fs,
                "entry": entry,
                "rule": rule,
                "image": image,
                "partition": partition,
                "size": {
                    "description": "Bytes, a string with a unit (\"64MiB\"), \"auto\", or (last partition) \"remaining\".",
                    "anyOf": [ { "type": "integer", "minimum": 0 }, { "type": "string" } ]
                },
                "headroom": {
                    "description": "A percentage (\"10%\"), a size string, or bytes.",
                    "anyOf": [ { "type": "integer", "minimum": 0 }, { "type": "string" } ]
                },
                "count": {
                    "anyOf": [ { "type": "integer", "minimum": 0 }, { "type": "string" } ]
                },
                "mode": {
                    "description": "Permission bits: a number (0o755 in TOML, 493 in JSON) or an octal string (\"0755\").",
                    "anyOf": [
                        { "type": "integer", "minimum": 0, "maximum": 4095 },
                        { "type": "string", "pattern": "^(0o)?[0-7]{1,6}$" }
                    ]
                },
            }),
        );
    }
    root
}
