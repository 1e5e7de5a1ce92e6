//! fstool's volume readers against hostile images: images built by fstool
//! (ext2 with block maps, ext4 with extents, htree directories and xattrs
//! in and out of the inode, FAT12/16/32 with long names, EROFS with
//! inline, plain and shared-xattr inodes, NTFS with resident and
//! non-resident data and INDX blocks), then damaged
//! byte by byte with a seeded PRNG. Each variant is opened, walked and
//! every file read back through the `VolumeReader` trait. Errors are
//! fine; a panic fails the test, and so does a variant that takes too
//! long (a hang or an unbounded loop).

use crate::common::*;
use fstool::io::MemDevice;
use fstool::read::{self, Kind, ReadError, VolumeReader};
use std::path::Path;
use std::time::{Duration, Instant};

/// Variants per image.
const VARIANTS: u64 = 200;
/// Slowest a damaged image may be walked and read.
const MAX_VARIANT_TIME: Duration = Duration::from_secs(5);
/// Largest file content a variant reads (a damaged size may claim far
/// more than the image holds; reading it is then bounded here).
const READ_CAP: u64 = 4 << 20;

fn source(dir: &Path) {
    write_file(dir, "empty", b"");
    write_file(dir, "one", b"1");
    write_file(dir, "sizes/4097", &pattern(4097, 1));
    write_file(dir, "sizes/70000", &pattern(70_000, 2));
    write_file(dir, "deep/a/b/c/d/leaf.txt", b"leaf\n");
    write_file(dir, "Long File Name With Spaces.text", &pattern(9000, 3));
    for i in 0..300 {
        write_file(
            dir,
            &format!("many/entry-{i:04}-with-a-longer-name"),
            &[i as u8],
        );
    }
}

const ENTRIES: &str = r#"
[[filesystem.entries]]
path = "/link-short"
type = "symlink"
target = "sizes/4097"

[[filesystem.entries]]
path = "/link-long"
type = "symlink"
target = "deep/a/b/c/d/../../../../../deep/a/b/c/d/../../../../../deep/a/b/c/d/leaf.txt"

[[filesystem.entries]]
path = "/dev-null"
type = "char"
major = 1
minor = 3

[[filesystem.entries]]
path = "/hard"
type = "hardlink"
target = "/sizes/4097"

[[filesystem.entries]]
path = "/xattr-small"
type = "file"
contents = "x"
xattrs = { "user.a" = "1", "security.selinux" = "system_u:object_r:bin_t:s0" }

[[filesystem.entries]]
path = "/xattr-big"
type = "file"
contents = "y"
xattrs = { "user.big" = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" }
"#;

/// Builds the test image of `fs` (a `[filesystem]` body) and returns its
/// bytes.
fn image(fs: &str, with_entries: bool, dir: &Path, src: &Path) -> Vec<u8> {
    let spec = dir.join("spec.toml");
    let body = format!(
        "version = 1\nseed = \"hostile\"\nsource_date_epoch = 1700000000\n\n[filesystem]\n{fs}\nsource = {}\n{}",
        toml_path(src),
        if with_entries { ENTRIES } else { "" }
    );
    std::fs::write(&spec, body).unwrap();
    let img = dir.join("img");
    build_ok(&spec, &img, &[]);
    std::fs::read(&img).unwrap()
}

/// Opens, walks and reads everything; returns the entries seen.
fn exercise(r: &dyn VolumeReader) -> Result<usize, ReadError> {
    let entries = read::walk(r)?;
    for e in &entries {
        let md = r.metadata(e.node)?;
        if md.kind == Kind::File {
            if md.size <= READ_CAP {
                read::read_file(r, e.node, READ_CAP)?;
            } else {
                read::copy_range(r, e.node, READ_CAP, &mut std::io::sink())?;
            }
        }
        if md.kind == Kind::Dir {
            r.read_dir(e.node)?;
        }
    }
    Ok(entries.len())
}

fn open<'a>(name: &str, dev: &'a MemDevice) -> Result<Box<dyn VolumeReader + 'a>, ReadError> {
    Ok(if name.starts_with("fat") {
        Box::new(fstool::fs::fat::FatVolume::open(dev)?)
    } else if name == "erofs" {
        Box::new(fstool::fs::erofs::volume::ErofsVolume::open(dev)?)
    } else if name.starts_with("ntfs") {
        Box::new(fstool::fs::ntfs::read::NtfsVolume::open(dev)?)
    } else {
        Box::new(fstool::fs::ext::read::ExtVolume::open(dev)?)
    })
}

#[test]
fn readers_survive_damaged_images() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    source(&src);
    // NTFS with attribute lists: the same tree plus a file of 80 long
    // names and a sparse file of 600 runs (512-byte clusters).
    let spill_src = dir.path().join("spill-src");
    source(&spill_src);
    for i in 0..80 {
        std::fs::hard_link(
            spill_src.join("sizes/70000"),
            spill_src.join(format!("many/a hard link with a rather long name {i:03}")),
        )
        .unwrap();
    }
    let frag = fragmented(300, 512);
    write_file(&spill_src, "fragmented", &frag);
    let cases: &[(&str, &str, bool)] = &[
        ("ext2", "type = \"ext2\"\nblock_size = 1024", false),
        ("ext4", "type = \"ext4\"\nblock_size = 1024", false),
        ("ext4-4k", "type = \"ext4\"", false),
        ("fat12", "type = \"fat12\"", true),
        ("fat16", "type = \"fat16\"", true),
        ("fat32", "type = \"fat32\"", true),
        ("erofs", "type = \"erofs\"", false),
        ("ntfs", "type = \"ntfs\"", true),
        (
            "ntfs-spill",
            "type = \"ntfs\"\nsparse = true\ncluster_size = 512",
            true,
        ),
    ];
    let mut total = 0u64;
    let mut failed = 0u64;
    let mut cli = 0u64;
    for &(name, fs, fat) in cases {
        let from = if name == "ntfs-spill" {
            &spill_src
        } else {
            &src
        };
        let clean = image(fs, !fat, dir.path(), from);
        let dev = MemDevice {
            data: clean.clone(),
        };
        let n = exercise(open(name, &dev).unwrap().as_ref()).unwrap();
        assert!(n > 300, "{name}: only {n} entries in the clean image");
        // Damage lands on bytes that hold something: metadata and data
        // alike. Zero runs are mostly free space.
        let live: Vec<usize> = (0..clean.len()).filter(|&i| clean[i] != 0).collect();
        let mut rng = Rng(0x5eed ^ name.len() as u64);
        let mut dev = dev;
        for v in 0..VARIANTS {
            dev.data.copy_from_slice(&clean);
            let hits = 1 + rng.below(16);
            for _ in 0..hits {
                let at = if rng.below(4) == 0 {
                    rng.below(clean.len().min(64 << 10))
                } else {
                    live[rng.below(live.len())]
                };
                dev.data[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => dev.data[at] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            let t = Instant::now();
            let result = open(name, &dev).and_then(|r| exercise(r.as_ref()));
            let took = t.elapsed();
            assert!(
                took < MAX_VARIANT_TIME,
                "{name} variant {v}: {took:?} (result {result:?})"
            );
            if let Err(e) = result {
                let _ = e.to_string();
                failed += 1;
            }
            total += 1;
            // Every tenth variant also goes through `diff` against the
            // clean image and a tar extraction: the CLI's paths.
            if v % 10 == 0 {
                let (ca, da) = (dir.path().join("clean.img"), dir.path().join("damaged.img"));
                std::fs::write(&ca, &clean).unwrap();
                std::fs::write(&da, &dev.data).unwrap();
                let t = Instant::now();
                let _ = fstool::inspect::diff::diff(&ca, &da);
                if let Ok(r) = open(name, &dev) {
                    let _ = fstool::inspect::extract::to_tar(
                        r.as_ref(),
                        "damaged",
                        &dir.path().join("out.tar"),
                    );
                }
                let took = t.elapsed();
                assert!(
                    took < MAX_VARIANT_TIME,
                    "{name} variant {v}: diff/tar {took:?}"
                );
                cli += 1;
            }
        }
    }
    eprintln!(
        "{total} damaged variants read ({cli} also diffed and tarred); \
         {failed} gave an error, none panicked or hung"
    );
    // Damage that no reader notices at all would mean the test damages
    // nothing that matters.
    assert!(
        failed > total / 20,
        "only {failed} of {total} variants noticed"
    );
}
