//! Whole disks: GPT and MBR tables judged by sgdisk, sfdisk and fdisk;
//! qcow2 output judged by qemu-img against the raw build.

use crate::common::{pattern, run, run_ok, sha256_file, tool};
use fstool::container::qcow2::{Qcow2Options, Qcow2Writer};
use fstool::io::{BlockDevice, ReadAt, SparseFile};
use fstool::part::{self, DiskPlan, DiskRequest, PartSize, PartType, PartitionRequest};
use fstool::spec::model::PartitionTable;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use uuid::Uuid;

const MIB: u64 = 1 << 20;

/// Output container of a test build.
#[derive(Clone, Copy)]
enum Format {
    Raw,
    Qcow2,
    Qcow2Compressed,
}

/// A new file open for reading and writing (devices read back).
fn rw_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap()
}

/// Plans the disk, writes tables and blobs (`blobs[i]` fills partition i)
/// to `out`, the way `fstool build` does.
fn build(
    req: &DiskRequest,
    parts: &[PartitionRequest],
    blobs: &[Option<PathBuf>],
    out: &Path,
    format: Format,
) -> DiskPlan {
    let plan = part::plan(req, parts).unwrap();
    let file = rw_file(out);
    let mut dev: Box<dyn BlockDevice> = match format {
        Format::Raw => Box::new(SparseFile::new(file, out, plan.size).unwrap()),
        Format::Qcow2 => {
            Box::new(Qcow2Writer::new(file, out, plan.size, Qcow2Options::default()).unwrap())
        }
        Format::Qcow2Compressed => {
            let opts = Qcow2Options {
                compress: true,
                ..Qcow2Options::default()
            };
            Box::new(Qcow2Writer::new(file, out, plan.size, opts).unwrap())
        }
    };
    part::write_tables(&plan, dev.as_mut()).unwrap();
    for (p, blob) in plan.partitions().iter().zip(blobs) {
        if let Some(b) = blob {
            part::write_blob(dev.as_mut(), p, b).unwrap();
        }
    }
    dev.finish().unwrap();
    plan
}

/// A GPT disk with every field worth checking set on some partition.
fn gpt_layout(dir: &Path) -> (DiskRequest, Vec<PartitionRequest>, Vec<Option<PathBuf>>) {
    let mut req = DiskRequest::new(PartitionTable::Gpt, "disk-test");
    req.size = Some(64 * MIB);
    let mut esp = PartitionRequest::new("esp", PartSize::Bytes(8 * MIB));
    esp.name = Some("EFI System".into());
    esp.attributes = 1 | 1 << 2; // required, legacy-bios-bootable
    let mut root = PartitionRequest::new("linux-root", PartSize::Bytes(20 * MIB));
    root.name = Some("root-x86-64 ü".into());
    root.attributes = 1 << 59 | 1 << 63; // grow-fs, no-auto
    root.uuid = Some(Uuid::parse_str("11111111-2222-3333-4444-555555555555").unwrap());
    let mut swap = PartitionRequest::new("swap", PartSize::Bytes(4 * MIB));
    swap.name = Some("swap".into());
    let home = PartitionRequest::new("home", PartSize::Remaining);
    let esp_blob = dir.join("esp.bin");
    std::fs::write(&esp_blob, pattern(3 * MIB as usize + 17, 1)).unwrap();
    let root_blob = dir.join("root.bin");
    std::fs::write(&root_blob, pattern(20 * MIB as usize, 2)).unwrap();
    (
        req,
        vec![esp, root, swap, home],
        vec![Some(esp_blob), Some(root_blob), None, None],
    )
}

fn mbr_layout(dir: &Path) -> (DiskRequest, Vec<PartitionRequest>, Vec<Option<PathBuf>>) {
    let mut req = DiskRequest::new(PartitionTable::Mbr, "disk-test");
    req.bootcode = Some(pattern(440, 9));
    let mut boot = PartitionRequest::new("0x0c", PartSize::Bytes(6 * MIB));
    boot.bootable = true;
    let root = PartitionRequest::new("linux", PartSize::Bytes(10 * MIB + 4096));
    let swap = PartitionRequest::new("swap", PartSize::Bytes(2 * MIB));
    let blob = dir.join("boot.bin");
    std::fs::write(&blob, pattern(5 * MIB as usize, 3)).unwrap();
    (req, vec![boot, root, swap], vec![Some(blob), None, None])
}

fn sfdisk_json(img: &Path) -> Option<serde_json::Value> {
    let sfdisk = tool("sfdisk")?;
    let out = run_ok(Command::new(sfdisk).arg("--json").arg(img));
    Some(serde_json::from_str(&out).unwrap())
}

/// sfdisk's names for the GPT attribute bits it knows; others as GUID:N.
fn sfdisk_attrs(v: u64) -> String {
    let mut words = Vec::new();
    let named = [
        (0, "RequiredPartition"),
        (1, "NoBlockIOProtocol"),
        (2, "LegacyBIOSBootable"),
    ];
    for (bit, name) in named {
        if v & (1 << bit) != 0 {
            words.push(name.to_string());
        }
    }
    let guid_bits: Vec<String> = (48..64)
        .filter(|b| v & (1u64 << b) != 0)
        .map(|b| b.to_string())
        .collect();
    if !guid_bits.is_empty() {
        words.push(format!("GUID:{}", guid_bits.join(",")));
    }
    words.join(" ")
}

/// Reads `len` bytes at `offset` of a file.
fn read_range(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut b = vec![0u8; len];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut b, offset)
        .unwrap();
    b
}

#[test]
fn gpt_disk_matches_plan_in_sgdisk_sfdisk_fdisk() {
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = gpt_layout(dir.path());
    let img = dir.path().join("disk.img");
    let plan = build(&req, &parts, &blobs, &img, Format::Raw);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 * MIB);

    // Contents: blob bytes at the partition offset, zeros after them.
    let p0 = &plan.partitions()[0];
    let want = std::fs::read(blobs[0].as_ref().unwrap()).unwrap();
    assert_eq!(read_range(&img, p0.offset_bytes(), want.len()), want);
    assert!(
        read_range(&img, p0.offset_bytes() + want.len() as u64, 4096)
            .iter()
            .all(|b| *b == 0)
    );
    let p1 = &plan.partitions()[1];
    let want = std::fs::read(blobs[1].as_ref().unwrap()).unwrap();
    assert_eq!(read_range(&img, p1.offset_bytes(), want.len()), want);

    if let Some(sgdisk) = tool("sgdisk") {
        let out = run_ok(Command::new(sgdisk).arg("-v").arg(&img));
        assert!(out.contains("No problems found"), "sgdisk -v:\n{out}");
    }

    if let Some(j) = sfdisk_json(&img) {
        let t = &j["partitiontable"];
        assert_eq!(t["label"], "gpt");
        assert_eq!(t["id"], plan.disk_guid.unwrap().to_string().to_uppercase());
        assert_eq!(t["firstlba"], plan.first_usable_lba);
        assert_eq!(t["lastlba"], plan.last_usable_lba);
        let got = t["partitions"].as_array().unwrap();
        assert_eq!(got.len(), plan.partitions().len());
        for (g, p) in got.iter().zip(plan.partitions()) {
            assert_eq!(g["start"], p.start_lba, "{g}");
            assert_eq!(g["size"], p.sectors, "{g}");
            assert_eq!(g["type"], p.part_type.to_string(), "{g}");
            assert_eq!(g["uuid"], p.uuid.unwrap().to_string().to_uppercase(), "{g}");
            match &p.name {
                Some(n) => assert_eq!(g["name"], n.as_str(), "{g}"),
                None => assert!(g.get("name").is_none(), "{g}"),
            }
            match p.attributes {
                0 => assert!(g.get("attrs").is_none(), "{g}"),
                a => assert_eq!(g["attrs"], sfdisk_attrs(a), "{g}"),
            }
        }
    }

    if let Some(fdisk) = tool("fdisk") {
        let out = run_ok(Command::new(fdisk).arg("-l").arg(&img));
        for want in [
            "Disklabel type: gpt",
            "EFI System",
            "Linux root (x86-64)",
            "Linux swap",
            "Linux home",
        ] {
            assert!(out.contains(want), "fdisk -l lacks {want:?}:\n{out}");
        }
        assert!(!out.to_lowercase().contains("corrupt"), "{out}");
    }

    // Our own reader agrees too.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    let dev = SparseFile::new(file, &img, 64 * MIB).unwrap();
    let info = part::probe(&dev).unwrap().unwrap();
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    let starts: Vec<u64> = info.partitions.iter().map(|p| p.start_lba).collect();
    let planned: Vec<u64> = plan.partitions().iter().map(|p| p.start_lba).collect();
    assert_eq!(starts, planned);
}

#[test]
fn gpt_with_4k_sectors_lists_in_fdisk() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = DiskRequest::new(PartitionTable::Gpt, "4k");
    req.sector_size = 4096;
    let parts = [
        PartitionRequest::new("esp", PartSize::Bytes(4 * MIB)),
        PartitionRequest::new("linux", PartSize::Bytes(4 * MIB)),
    ];
    let img = dir.path().join("4k.img");
    let plan = build(&req, &parts, &[], &img, Format::Raw);
    assert_eq!(plan.first_usable_lba, 6);
    let Some(fdisk) = tool("fdisk") else { return };
    let out = run_ok(Command::new(fdisk).args(["-b", "4096", "-l"]).arg(&img));
    assert!(out.contains("Disklabel type: gpt"), "{out}");
    for p in plan.partitions() {
        let line = format!("{} {}", p.start_lba, p.end_lba());
        let found = out.lines().any(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&line)
        });
        assert!(found, "fdisk -b 4096 lacks start/end {line}:\n{out}");
    }
}

#[test]
fn mbr_disk_matches_plan_in_sfdisk_fdisk() {
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = mbr_layout(dir.path());
    let img = dir.path().join("mbr.img");
    let plan = build(&req, &parts, &blobs, &img, Format::Raw);
    assert_eq!(read_range(&img, 0, 440), pattern(440, 9));
    let want = std::fs::read(blobs[0].as_ref().unwrap()).unwrap();
    let p0 = &plan.partitions()[0];
    assert_eq!(read_range(&img, p0.offset_bytes(), want.len()), want);

    if let Some(sfdisk) = tool("sfdisk") {
        let out = run(Command::new(sfdisk).arg("--verify").arg(&img));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("No errors detected"),
            "sfdisk --verify:\n{text}"
        );
    }
    if let Some(j) = sfdisk_json(&img) {
        let t = &j["partitiontable"];
        assert_eq!(t["label"], "dos");
        assert_eq!(t["id"], format!("0x{:08x}", plan.disk_signature.unwrap()));
        let got = t["partitions"].as_array().unwrap();
        assert_eq!(got.len(), 3);
        for (g, p) in got.iter().zip(plan.partitions()) {
            assert_eq!(g["start"], p.start_lba, "{g}");
            assert_eq!(g["size"], p.sectors, "{g}");
            let PartType::Mbr(b) = p.part_type else {
                panic!()
            };
            assert_eq!(g["type"], format!("{b:x}"), "{g}");
            assert_eq!(
                g.get("bootable").and_then(|v| v.as_bool()).unwrap_or(false),
                p.bootable
            );
        }
    }
    if let Some(fdisk) = tool("fdisk") {
        let out = run_ok(Command::new(fdisk).arg("-l").arg(&img));
        let id = format!("Disk identifier: 0x{:08x}", plan.disk_signature.unwrap());
        for want in [
            "Disklabel type: dos",
            id.as_str(),
            "W95 FAT32 (LBA)",
            "Linux swap",
        ] {
            assert!(out.contains(want), "fdisk -l lacks {want:?}:\n{out}");
        }
    }
}

#[test]
fn qcow2_matches_raw_build() {
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = gpt_layout(dir.path());
    let raw = dir.path().join("disk.img");
    let q1 = dir.path().join("disk.qcow2");
    let q2 = dir.path().join("again.qcow2");
    build(&req, &parts, &blobs, &raw, Format::Raw);
    build(&req, &parts, &blobs, &q1, Format::Qcow2);
    build(&req, &parts, &blobs, &q2, Format::Qcow2);
    assert_eq!(
        sha256_file(&q1),
        sha256_file(&q2),
        "qcow2 output is not deterministic"
    );
    // 23 MiB of data in a 64 MiB disk: the file holds little more.
    let len = std::fs::metadata(&q1).unwrap().len();
    assert!(len < 25 * MIB, "qcow2 is {len} bytes");

    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    let out = run_ok(
        Command::new(&qemu_img)
            .args(["check", "--output=json"])
            .arg(&q1),
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["check-errors"], 0, "{out}");
    assert!(j.get("corruptions").is_none_or(|v| v == 0), "{out}");
    assert!(j.get("leaks").is_none_or(|v| v == 0), "{out}");
    run_ok(
        Command::new(&qemu_img)
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&raw)
            .arg(&q1),
    );
    let out = run_ok(
        Command::new(&qemu_img)
            .args(["info", "--output=json"])
            .arg(&q1),
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["format"], "qcow2");
    assert_eq!(j["virtual-size"], 64 * MIB);
    assert_eq!(j["cluster-size"], 65536);
}

#[test]
fn qcow2_small_clusters_and_scattered_writes() {
    // Writes out of order and across cluster edges, like filesystem writers.
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("s.qcow2");
    let r = dir.path().join("s.img");
    let size = 48 * MIB + 512;
    let opts = Qcow2Options {
        cluster_size: 4096,
        compress: false,
    };
    let mut qdev = Qcow2Writer::new(rw_file(&q), &q, size, opts).unwrap();
    let mut rdev = SparseFile::new(rw_file(&r), &r, size).unwrap();
    let writes: [(u64, usize, u64); 6] = [
        (40 * MIB + 100, 10_000, 1),
        (4095, 2, 2),
        (size - 300, 300, 3),
        (3 * MIB, 3 * MIB as usize, 4),
        (3 * MIB + 5000, 777, 5),
        (0, 512, 6),
    ];
    for (off, len, seed) in writes {
        let data = pattern(len, seed);
        qdev.write_at(off, &data).unwrap();
        rdev.write_at(off, &data).unwrap();
        let mut back = vec![0u8; len];
        qdev.read_at(off, &mut back).unwrap();
        assert_eq!(back, data);
    }
    qdev.finish().unwrap();
    rdev.finish().unwrap();
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    run_ok(Command::new(&qemu_img).arg("check").arg(&q));
    run_ok(
        Command::new(&qemu_img)
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&r)
            .arg(&q),
    );
}

#[test]
fn big_sparse_disk_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = DiskRequest::new(PartitionTable::Gpt, "big");
    req.size = Some(64 << 30);
    let parts = [
        PartitionRequest::new("esp", PartSize::Bytes(100 * MIB)),
        PartitionRequest::new("linux-root", PartSize::Remaining),
    ];
    let blob = dir.path().join("content.bin");
    let chunk = pattern(MIB as usize, 7);
    let mut content = Vec::with_capacity(100 * MIB as usize);
    for i in 0..100u8 {
        content.extend(chunk.iter().map(|b| b ^ i));
    }
    std::fs::write(&blob, &content).unwrap();
    drop(content);
    let blobs = [Some(blob), None];
    let raw = dir.path().join("big.img");
    let qcow = dir.path().join("big.qcow2");
    build(&req, &parts, &blobs, &raw, Format::Raw);
    build(&req, &parts, &blobs, &qcow, Format::Qcow2);
    let md = std::fs::metadata(&raw).unwrap();
    assert_eq!(md.len(), 64 << 30);
    let du = md.blocks() * 512;
    assert!(du < 200 * MIB, "64 GiB raw disk uses {du} bytes");
    let qlen = std::fs::metadata(&qcow).unwrap().len();
    assert!(qlen < 102 * MIB, "64 GiB qcow2 is {qlen} bytes");
    eprintln!("64 GiB disk, 100 MiB content: raw du {du} bytes, qcow2 {qlen} bytes");

    if let Some(sgdisk) = tool("sgdisk") {
        let out = run_ok(Command::new(sgdisk).arg("-v").arg(&raw));
        assert!(out.contains("No problems found"), "sgdisk -v:\n{out}");
    }
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    run_ok(Command::new(&qemu_img).arg("check").arg(&qcow));
    run_ok(
        Command::new(&qemu_img)
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&raw)
            .arg(&qcow),
    );
}

#[test]
fn disk_hashes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = gpt_layout(dir.path());
    let gpt = dir.path().join("gpt.img");
    build(&req, &parts, &blobs, &gpt, Format::Raw);
    let gpt2 = dir.path().join("gpt2.img");
    build(&req, &parts, &blobs, &gpt2, Format::Raw);
    assert_eq!(sha256_file(&gpt), sha256_file(&gpt2));
    insta::assert_snapshot!("gpt_disk_sha256", sha256_file(&gpt));

    let (req, parts, blobs) = mbr_layout(dir.path());
    let mbr = dir.path().join("mbr.img");
    build(&req, &parts, &blobs, &mbr, Format::Raw);
    insta::assert_snapshot!("mbr_disk_sha256", sha256_file(&mbr));

    let (req, parts, blobs) = gpt_layout(dir.path());
    let q = dir.path().join("gpt.qcow2");
    build(&req, &parts, &blobs, &q, Format::Qcow2);
    insta::assert_snapshot!("gpt_disk_qcow2_sha256", sha256_file(&q));
}

#[test]
fn qcow2_reader_reads_qemu_output() {
    use fstool::container::qcow2_read::Qcow2Reader;
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = gpt_layout(dir.path());
    let raw = dir.path().join("disk.img");
    let plan = build(&req, &parts, &blobs, &raw, Format::Raw);
    let q = dir.path().join("qemu.qcow2");
    run_ok(
        Command::new(&qemu_img)
            .args([
                "convert",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "-o",
                "cluster_size=16384",
            ])
            .arg(&raw)
            .arg(&q),
    );
    let r = Qcow2Reader::open(std::fs::File::open(&q).unwrap(), &q).unwrap();
    assert_eq!(r.size(), plan.size);
    let want = std::fs::read(&raw).unwrap();
    let mut got = vec![0u8; want.len()];
    r.read_at(0, &mut got).unwrap();
    assert!(got == want, "qcow2 reader disagrees with qemu-img convert");
    let info = part::probe(&r).unwrap().unwrap();
    assert_eq!(info.disk_guid, plan.disk_guid);
    assert_eq!(info.partitions.len(), 4);
}

#[test]
fn mbr_records_match_sfdisk_bytes() {
    // sfdisk writing the same layout must give the same 72 bytes: disk
    // signature, the four records (CHS fields included, with the
    // 1023/254/63 form past 8 GiB) and the boot mark.
    let Some(sfdisk) = tool("sfdisk") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut req = DiskRequest::new(PartitionTable::Mbr, "chs");
    req.size = Some(9 << 30);
    let mut boot = PartitionRequest::new("0x0c", PartSize::Bytes(6 * MIB));
    boot.bootable = true;
    let parts = [
        boot,
        // Ends in cylinder 13: exercises head and cylinder fields.
        PartitionRequest::new("linux", PartSize::Bytes(100 * MIB)),
        PartitionRequest::new("0x83", PartSize::Bytes(8 << 30)),
        PartitionRequest::new("swap", PartSize::Remaining),
    ];
    let ours = dir.path().join("ours.img");
    let plan = build(&req, &parts, &[], &ours, Format::Raw);
    let theirs = dir.path().join("theirs.img");
    std::fs::File::create(&theirs)
        .unwrap()
        .set_len(plan.size)
        .unwrap();
    let mut script = format!(
        "label: dos\nlabel-id: 0x{:08x}\n",
        plan.disk_signature.unwrap()
    );
    for p in plan.partitions() {
        let PartType::Mbr(t) = p.part_type else {
            panic!()
        };
        let boot = if p.bootable { ",bootable" } else { "" };
        script += &format!(
            "start={},size={},type={t:x}{boot}\n",
            p.start_lba, p.sectors
        );
    }
    let mut child = Command::new(sfdisk)
        .arg("-q")
        .arg(&theirs)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "sfdisk rejected:\n{script}"
    );
    assert_eq!(
        read_range(&ours, 440, 72),
        read_range(&theirs, 440, 72),
        "MBR records differ from sfdisk's for:\n{script}"
    );
}

/// Runs every validator that applies to a whole-disk image (raw or qcow2):
/// `qemu-img check` for qcow2 (then the checks below on a raw conversion),
/// `sgdisk -v` for GPT, `sfdisk --verify` for MBR. For other test modules
/// (the examples) to call on their disk outputs.
pub fn validators_clean(img: &Path) {
    use fstool::container::qcow2_read::is_qcow2;
    let head = read_range(img, 0, 4);
    let tmp = tempfile::tempdir().unwrap();
    let raw = if is_qcow2(&head) {
        let Some(qemu_img) = tool("qemu-img") else {
            return;
        };
        run_ok(Command::new(&qemu_img).arg("check").arg(img));
        let raw = tmp.path().join("raw.img");
        run_ok(
            Command::new(&qemu_img)
                .args(["convert", "-O", "raw"])
                .arg(img)
                .arg(&raw),
        );
        raw
    } else {
        img.to_path_buf()
    };
    let len = std::fs::metadata(&raw).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&raw)
        .unwrap();
    let dev = SparseFile::new(file, &raw, len).unwrap();
    let info = part::probe(&dev)
        .unwrap()
        .expect("no partition table found");
    assert!(info.warnings.is_empty(), "{img:?}: {:?}", info.warnings);
    match info.table {
        PartitionTable::Gpt => {
            if let Some(sgdisk) = tool("sgdisk") {
                let out = run_ok(Command::new(sgdisk).arg("-v").arg(&raw));
                assert!(
                    out.contains("No problems found"),
                    "sgdisk -v {img:?}:\n{out}"
                );
            }
        }
        _ => {
            if let Some(sfdisk) = tool("sfdisk") {
                let out = run_ok(Command::new(sfdisk).arg("--verify").arg(&raw));
                assert!(
                    out.contains("No errors detected"),
                    "sfdisk --verify {img:?}:\n{out}"
                );
            }
        }
    }
}

#[test]
fn validators_clean_accepts_raw_and_qcow2_disks() {
    let dir = tempfile::tempdir().unwrap();
    let (req, parts, blobs) = mbr_layout(dir.path());
    let mbr = dir.path().join("m.img");
    build(&req, &parts, &blobs, &mbr, Format::Raw);
    validators_clean(&mbr);
    let (req, parts, blobs) = gpt_layout(dir.path());
    let q = dir.path().join("g.qcow2");
    build(&req, &parts, &blobs, &q, Format::Qcow2);
    validators_clean(&q);
}

#[test]
fn gpt_beyond_2tib_caps_the_protective_mbr() {
    // MBR fields are 32-bit: past 2 TiB the protective record covers
    // 0xFFFFFFFF sectors (UEFI 5.2.3) while GPT addresses the whole disk.
    let dir = tempfile::tempdir().unwrap();
    let mut req = DiskRequest::new(PartitionTable::Gpt, "huge");
    req.size = Some(3 << 40);
    let parts = [
        PartitionRequest::new("esp", PartSize::Bytes(64 * MIB)),
        PartitionRequest::new("linux", PartSize::Remaining),
    ];
    let img = dir.path().join("huge.img");
    let plan = build(&req, &parts, &[], &img, Format::Raw);
    let rec = read_range(&img, 446, 16);
    assert_eq!(rec[4], 0xee);
    assert_eq!(&rec[8..16], &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert!(plan.partitions()[1].end_lba() > u64::from(u32::MAX));
    if let Some(sgdisk) = tool("sgdisk") {
        let out = run_ok(Command::new(sgdisk).arg("-v").arg(&img));
        assert!(out.contains("No problems found"), "sgdisk -v:\n{out}");
    }
    if let Some(j) = sfdisk_json(&img) {
        let last = &j["partitiontable"]["partitions"][1];
        assert_eq!(last["start"], plan.partitions()[1].start_lba);
        assert_eq!(last["size"], plan.partitions()[1].sectors);
    }
}

#[test]
fn compressed_qcow2_matches_raw_build() {
    let dir = tempfile::tempdir().unwrap();
    let (req, mut parts, mut blobs) = gpt_layout(dir.path());
    // Compressible content in the swap partition (text-like bytes).
    let text: Vec<u8> = (0..3 * MIB as usize)
        .map(|i| b"fstool builds images. "[i % 22])
        .collect();
    let swap_blob = dir.path().join("text.bin");
    std::fs::write(&swap_blob, &text).unwrap();
    blobs[2] = Some(swap_blob);
    parts[2].size = PartSize::Bytes(4 * MIB);
    let raw = dir.path().join("disk.img");
    let plain = dir.path().join("plain.qcow2");
    let q1 = dir.path().join("c1.qcow2");
    let q2 = dir.path().join("c2.qcow2");
    build(&req, &parts, &blobs, &raw, Format::Raw);
    build(&req, &parts, &blobs, &plain, Format::Qcow2);
    build(&req, &parts, &blobs, &q1, Format::Qcow2Compressed);
    build(&req, &parts, &blobs, &q2, Format::Qcow2Compressed);
    assert_eq!(
        sha256_file(&q1),
        sha256_file(&q2),
        "compressed qcow2 is not deterministic"
    );
    let (plain_len, comp_len) = (
        std::fs::metadata(&plain).unwrap().len(),
        std::fs::metadata(&q1).unwrap().len(),
    );
    // The 3 MiB of text shrinks to almost nothing; the random blobs stay.
    assert!(
        comp_len + 2 * MIB < plain_len,
        "compressed {comp_len}, plain {plain_len}"
    );
    insta::assert_snapshot!("gpt_disk_qcow2_compressed_sha256", sha256_file(&q1));

    // Our reader inflates it back.
    use fstool::container::qcow2_read::Qcow2Reader;
    let r = Qcow2Reader::open(std::fs::File::open(&q1).unwrap(), &q1).unwrap();
    let want = std::fs::read(&raw).unwrap();
    let mut got = vec![0u8; want.len()];
    r.read_at(0, &mut got).unwrap();
    assert!(got == want, "reader disagrees with the raw build");

    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    let out = run_ok(
        Command::new(&qemu_img)
            .args(["check", "--output=json"])
            .arg(&q1),
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["check-errors"], 0, "{out}");
    assert!(j["compressed-clusters"].as_u64().unwrap_or(0) > 40, "{out}");
    run_ok(
        Command::new(&qemu_img)
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&raw)
            .arg(&q1),
    );
}

#[test]
fn qcow2_reader_inflates_qemu_compressed_output() {
    use fstool::container::qcow2_read::Qcow2Reader;
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("r.img");
    let mut data: Vec<u8> = (0..8 * MIB as usize)
        .map(|i| (i / 1000 % 7) as u8)
        .collect();
    data[5 * MIB as usize..6 * MIB as usize].copy_from_slice(&pattern(MIB as usize, 4));
    std::fs::write(&raw, &data).unwrap();
    let q = dir.path().join("c.qcow2");
    run_ok(
        Command::new(&qemu_img)
            .args(["convert", "-c", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(&q),
    );
    let r = Qcow2Reader::open(std::fs::File::open(&q).unwrap(), &q).unwrap();
    let mut got = vec![0u8; data.len()];
    r.read_at(0, &mut got).unwrap();
    assert!(got == data, "reader disagrees with qemu-img convert -c");
}
