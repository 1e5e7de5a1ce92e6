//! Reading images back: `fstool info`. Opens raw or qcow2 images, finds the
//! partition table, and identifies the filesystem in each partition (or in
//! the whole image). Hostile images give errors or "unknown", never panics.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod diff;
pub mod extract;
mod headers;
pub mod ls;
pub mod verify;
pub mod volume;

use crate::container::qcow2_read::{is_qcow2, Qcow2Reader};
use crate::io::{host_err, IoError, ReadAt, ReadSlice};
use crate::part;
use serde_json::{json, Value};
use std::fs::File;
use std::path::Path;

/// A raw image opened read-only.
pub struct RawFile {
    file: File,
    path: std::path::PathBuf,
    size: u64,
}

impl ReadAt for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::io::Result<()> {
        use std::os::unix::fs::FileExt;
        crate::io::check_bounds(self.size, offset, buf.len())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(host_err(&self.path))
    }

    fn next_data(&self, offset: u64) -> Option<u64> {
        crate::io::next_data(&self.file, offset).filter(|d| *d < self.size)
    }
}

/// Opens an image file (raw or qcow2) for reading.
pub fn open(path: &Path) -> Result<(Box<dyn ReadAt>, &'static str), IoError> {
    use std::os::unix::fs::{FileExt, FileTypeExt};
    // Opening a FIFO blocks until someone writes to it, and a character
    // device or socket has no bytes to read at offsets: refuse them before
    // opening, so that `info` never hangs.
    let ft = std::fs::metadata(path).map_err(host_err(path))?.file_type();
    if !(ft.is_file() || ft.is_block_device()) {
        return Err(IoError::Host {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file or block device",
            ),
        });
    }
    let mut file = File::open(path).map_err(host_err(path))?;
    // A block device's metadata says 0 bytes; its size is where it ends.
    let size = if ft.is_block_device() {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .map_err(host_err(path))?
    } else {
        file.metadata().map_err(host_err(path))?.len()
    };
    let mut head = [0u8; 8];
    let n = file.read_at(&mut head, 0).map_err(host_err(path))?;
    if is_qcow2(head.get(..n).unwrap_or_default()) {
        Ok((Box::new(Qcow2Reader::open(file, path)?), "qcow2"))
    } else {
        Ok((
            Box::new(RawFile {
                file,
                path: path.to_path_buf(),
                size,
            }),
            "raw",
        ))
    }
}

/// Identifies the filesystem on `dev`, as JSON (`null` when unknown), with
/// the verity hash area appended after it, if any.
pub fn probe_fs(dev: &dyn ReadAt) -> Value {
    let mut fs = probe_one(dev);
    let end = fs
        .get("bytes")
        .and_then(Value::as_u64)
        .map(crate::plan::verity::align_up);
    let rest = end.and_then(|e| Some((e, dev.size().checked_sub(e)?)));
    if let Some((end, len)) = rest.filter(|&(e, len)| e > 0 && len > 0) {
        let tail = ReadSlice::new(dev, end, len);
        let found = tail.ok().as_ref().and_then(|t| probe_verity(t));
        if let (Some(mut v), Some(obj)) = (found, fs.as_object_mut()) {
            if let Some(m) = v.as_object_mut() {
                m.insert("hash_offset".into(), json!(end));
            }
            obj.insert("verity".into(), v);
        }
    }
    fs
}

/// The first registered format that recognises `dev`, or a bare dm-verity
/// hash area.
fn probe_one(dev: &dyn ReadAt) -> Value {
    crate::fs::FORMATS
        .iter()
        .find_map(|f| f.probe(dev))
        .or_else(|| probe_verity(dev))
        .unwrap_or(Value::Null)
}

/// Whether a registered format recognises `dev` (a filesystem at offset 0
/// wins over a partition table: FAT boot sectors carry the MBR signature).
pub fn is_filesystem(dev: &dyn ReadAt) -> bool {
    crate::fs::FORMATS.iter().any(|f| f.probe(dev).is_some())
}

/// A dm-verity hash area (its superblock), as a hash partition holds it.
fn probe_verity(dev: &dyn ReadAt) -> Option<Value> {
    let mut b = vec![0u8; crate::verity::superblock::SIZE];
    dev.read_at(0, &mut b).ok()?;
    let sb = crate::verity::superblock::Superblock::decode(&b)?;
    Some(json!({
        "fs_type": "dm-verity",
        "label": "",
        "uuid": uuid::Uuid::from_bytes(sb.uuid).to_string(),
        "algorithm": sb.algorithm,
        "data_blocks": sb.data_blocks,
        "data_block_size": sb.data_block_size,
        "hash_block_size": sb.hash_block_size,
        "salt": crate::bytes::hex(&sb.salt),
        "bytes": dev.size(),
    }))
}

/// Everything `fstool info` reports about an image.
pub fn info(path: &Path) -> Result<Value, crate::BuildError> {
    let (dev, format) = open(path)?;
    let size = dev.size();
    // A filesystem at offset 0 (a bare image) wins over a table: FAT boot
    // sectors carry the same 0x55AA signature as an MBR.
    let whole = probe_fs(dev.as_ref());
    if !whole.is_null() {
        return Ok(
            json!({ "format": format, "size": size, "partition_table": null, "filesystem": whole }),
        );
    }
    let table = part::probe(dev.as_ref())?;
    let Some(table) = table else {
        return Ok(
            json!({ "format": format, "size": size, "partition_table": null, "filesystem": null }),
        );
    };
    let mut t = table.to_json();
    if let Some(parts) = t.get_mut("partitions").and_then(|p| p.as_array_mut()) {
        for (p, info) in parts.iter_mut().zip(&table.partitions) {
            let fs = match ReadSlice::new(dev.as_ref(), info.offset_bytes, info.size_bytes) {
                Ok(s) => probe_fs(&s),
                Err(_) => Value::Null,
            };
            p["filesystem"] = fs;
        }
    }
    Ok(json!({ "format": format, "size": size, "partition_table": t, "filesystem": null }))
}

/// Renders [`info`] for people.
pub fn render_text(v: &Value) -> String {
    let mut out = String::new();
    let fs_line = |fs: &Value| -> String {
        if fs.is_null() {
            return "unknown".to_string();
        }
        let mut line = format!(
            "{} label={:?} uuid={} size={}",
            fs["fs_type"].as_str().unwrap_or("?"),
            fs["label"].as_str().unwrap_or(""),
            fs["uuid"].as_str().unwrap_or("-"),
            crate::plan::size::human(fs["bytes"].as_u64().unwrap_or(0))
        );
        if let Some(v) = fs.get("verity") {
            line.push_str(&format!(
                " + dm-verity at {} ({} data blocks)",
                v["hash_offset"].as_u64().unwrap_or(0),
                v["data_blocks"].as_u64().unwrap_or(0)
            ));
        }
        line
    };
    out.push_str(&format!(
        "image: {} {}\n",
        v["format"].as_str().unwrap_or("?"),
        crate::plan::size::human(v["size"].as_u64().unwrap_or(0))
    ));
    let t = &v["partition_table"];
    if t.is_null() {
        out.push_str(&format!("filesystem: {}\n", fs_line(&v["filesystem"])));
        return out;
    }
    out.push_str(&format!(
        "partition table: {}",
        t["table"].as_str().unwrap_or("?")
    ));
    if let Some(g) = t["disk_guid"].as_str() {
        out.push_str(&format!(" disk GUID {g}"));
    }
    if let Some(s) = t["disk_signature"].as_str() {
        out.push_str(&format!(" signature {s}"));
    }
    out.push('\n');
    out.push_str(&format!(
        "{:>3}  {:<12} {:<22} {:>12} {:>10}  {:<36}  filesystem\n",
        "#", "name", "type", "start", "size", "GUID"
    ));
    for p in t["partitions"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        out.push_str(&format!(
            "{:>3}  {:<12} {:<22} {:>12} {:>10}  {:<36}  {}\n",
            p["index"].as_u64().unwrap_or(0),
            p["name"].as_str().unwrap_or("-"),
            p["type_name"]
                .as_str()
                .or(p["type"].as_str())
                .unwrap_or("?"),
            p["start_lba"].as_u64().unwrap_or(0),
            crate::plan::size::human(p["size"].as_u64().unwrap_or(0)),
            p["uuid"].as_str().unwrap_or("-"),
            fs_line(&p["filesystem"])
        ));
    }
    out
}
