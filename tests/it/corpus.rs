//! Property-based corpus: seeded random source trees (multibyte and
//! awkward names up to 255 bytes, sizes at block boundaries, holes, hard
//! links, long symlinks, fifos, xattrs) built in every format, judged by
//! the format's validator, and read back through fstool's reader: every
//! path the format can hold, with its type, contents and link target.
//!
//! `FSTOOL_CORPUS_TREES` sets how many trees per format (default 6, what
//! CI runs); `FSTOOL_CORPUS_SEED` the first seed.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What a reader should find at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Fifo,
}

const PIECES: [&str; 12] = [
    "a", "Zeta", "ünï", "日本", "😀", "x y", "dot.", "-dash", "ok_1", "é", "Ω", "long",
];

/// A name no format refuses: no `/`, NUL or FAT/NTFS-reserved characters,
/// unique case-insensitively in its directory (`taken`).
fn name(rng: &mut Rng, taken: &mut Vec<String>, max_bytes: usize) -> String {
    loop {
        let mut n = String::new();
        for _ in 0..1 + rng.below(4) {
            n.push_str(PIECES[rng.below(PIECES.len())]);
        }
        if rng.below(8) == 0 {
            // Long names, up to the 255-byte limit.
            while n.len() + 4 <= max_bytes {
                n.push_str("long");
            }
        }
        n.push_str(&format!("{}", rng.below(1000)));
        let n = n.trim_end_matches(['.', ' ']).to_string();
        let folded = n.to_lowercase();
        if n.len() <= max_bytes && !n.is_empty() && !taken.contains(&folded) {
            taken.push(folded);
            return n;
        }
    }
}

/// Fills `root` with a random tree; returns what each path holds.
fn make_tree(root: &Path, rng: &mut Rng) -> BTreeMap<String, Want> {
    let mut want = BTreeMap::new();
    let mut dirs = vec![(root.to_path_buf(), String::new(), Vec::new())];
    let mut files: Vec<String> = Vec::new();
    std::fs::create_dir_all(root).unwrap();
    for _ in 0..20 + rng.below(40) {
        let d = rng.below(dirs.len());
        let (host, img, _) = dirs[d].clone();
        let n = name(rng, &mut dirs[d].2, 200);
        let (h, p) = (host.join(&n), format!("{img}/{n}"));
        match rng.below(10) {
            0 | 1 => {
                std::fs::create_dir(&h).unwrap();
                want.insert(p.clone(), Want::Dir);
                dirs.push((h, p, Vec::new()));
            }
            2 => {
                let t = format!(
                    "{}/{}",
                    "../".repeat(rng.below(3)),
                    "t".repeat(1 + rng.below(300))
                );
                std::os::unix::fs::symlink(&t, &h).unwrap();
                want.insert(p, Want::Symlink(t.into_bytes()));
            }
            3 if !files.is_empty() => {
                let t = &files[rng.below(files.len())];
                std::fs::hard_link(root.join(&t[1..]), &h).unwrap();
                let w = want[t].clone();
                want.insert(p, w);
            }
            4 => {
                run_ok(Command::new("mkfifo").arg(&h));
                want.insert(p, Want::Fifo);
            }
            _ => {
                // Sizes at and around block boundaries, some with holes.
                let sizes = [0u64, 1, 511, 512, 4095, 4096, 4097, 8192, 65_537, 200_000];
                let len = sizes[rng.below(sizes.len())];
                let mut data = pattern(len as usize, rng.next());
                if rng.below(3) == 0 && len > 8192 {
                    data[4096..8192].fill(0);
                }
                // Some compress (for EROFS's LZ4): a short pattern repeated.
                if rng.below(3) == 0 {
                    let unit = rng.below(200) + 1;
                    for i in unit..data.len() {
                        data[i] = data[i - unit];
                    }
                }
                std::fs::write(&h, &data).unwrap();
                if rng.below(4) == 0 {
                    xattr::set(&h, "user.corpus", format!("v{}", rng.below(100)).as_bytes())
                        .unwrap();
                }
                want.insert(p.clone(), Want::File(data));
                files.push(p);
            }
        }
    }
    want
}

/// What the image at `img` holds, read with fstool's reader.
fn read_back(img: &Path) -> BTreeMap<String, Want> {
    let dev = fstool::io::MemDevice {
        data: std::fs::read(img).unwrap(),
    };
    let r = fstool::inspect::volume::open_fs(&dev).unwrap().unwrap();
    let mut out = BTreeMap::new();
    for e in fstool::read::walk(r.as_ref()).unwrap() {
        let md = r.metadata(e.node).unwrap();
        let w = match md.kind {
            fstool::read::Kind::Dir => Want::Dir,
            fstool::read::Kind::Symlink => Want::Symlink(md.target.unwrap()),
            fstool::read::Kind::Fifo => Want::Fifo,
            _ => Want::File(fstool::read::read_file(r.as_ref(), e.node, 1 << 30).unwrap()),
        };
        out.insert(String::from_utf8(e.path).unwrap(), w);
    }
    out
}

#[test]
fn random_trees_in_every_format_read_back() {
    let trees: u64 = std::env::var("FSTOOL_CORPUS_TREES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed0: u64 = std::env::var("FSTOOL_CORPUS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // `erofs-lz4` is EROFS with compression = "lz4".
    let formats = ["ext4", "ext2", "erofs", "erofs-lz4", "fat32", "ntfs"];
    let d = tempfile::tempdir().unwrap();
    for i in 0..trees {
        let seed = seed0 + i;
        let mut rng = Rng(seed);
        let src = d.path().join(format!("src-{seed}"));
        let want = make_tree(&src, &mut rng);
        for fs in formats {
            let limited = fs == "fat32" || fs == "ntfs";
            let spec = d.path().join("spec.toml");
            std::fs::write(
                &spec,
                format!(
                    "version = 1\nseed = \"corpus-{seed}\"\n[filesystem]\ntype = \"{}\"\nsource = {}\n{}{}",
                    fs.trim_end_matches("-lz4"),
                    toml_path(&src),
                    if limited { "unsupported = \"skip\"\nsize = \"64MiB\"\n" } else { "preserve_xattrs = true\n" },
                    match fs {
                        "ext2" => "block_size = 1024\n",
                        "erofs-lz4" => "compression = \"lz4\"\n",
                        _ => "",
                    },
                ),
            )
            .unwrap();
            let img = d.path().join(format!("{fs}.img"));
            let _ = std::fs::remove_file(&img);
            let out = run(&mut fstool_build(&spec, &img, &[]));
            assert!(
                out.status.success(),
                "seed {seed}, {fs}: build failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            match fs {
                "erofs" | "erofs-lz4" => crate::erofs::fsck_clean(&img),
                "fat32" => crate::fat::fsck_clean(&img),
                "ntfs" => crate::ntfs::ntfsfix_clean(&img),
                _ => crate::ext::fsck_clean(&img),
            }
            // FAT keeps files and directories; NTFS also symlinks.
            let expect: BTreeMap<String, Want> = want
                .iter()
                .filter(|(_, w)| {
                    !matches!(
                        (fs, w),
                        ("fat32", Want::Symlink(_) | Want::Fifo) | ("ntfs", Want::Fifo)
                    )
                })
                .map(|(p, w)| (p.clone(), w.clone()))
                .collect();
            let mut got = read_back(&img);
            got.remove("/lost+found");
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                expect.keys().collect::<Vec<_>>(),
                "seed {seed}, {fs}: paths differ"
            );
            for (p, w) in &expect {
                assert!(
                    got[p] == *w,
                    "seed {seed}, {fs}: {p} reads back differently"
                );
            }
        }
    }
    println!(
        "corpus: {trees} trees from seed {seed0} in {} formats, all built and read back",
        formats.len()
    );
}
