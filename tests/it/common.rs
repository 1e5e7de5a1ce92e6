//! Shared test helpers: finding validators, running them, temp trees.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when `FSTOOL_REQUIRE_TOOLS=1`: a missing validator fails the test.
pub fn tools_required() -> bool {
    std::env::var("FSTOOL_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Finds `tool` on PATH (or in /sbin, /usr/sbin). Returns `None` after
/// printing a skip notice, or panics when tools are required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    if tools_required() {
        panic!("required tool `{name}` is missing (FSTOOL_REQUIRE_TOOLS=1)");
    }
    eprintln!("SKIPPED: `{name}` is not installed; this check did not run");
    None
}

/// Runs a command and returns its output; panics with the output when it
/// cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns stdout as text.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The fstool binary built for this test run.
pub fn fstool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fstool"))
}

/// True when running as root and loop devices exist: read-only loop mounts
/// are possible. Prints a skip notice otherwise (never fails: mounting is an
/// extra check on top of the validators).
pub fn can_loop_mount() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc_geteuid() } == 0;
    let ok = root && Path::new("/dev/loop-control").exists();
    if !ok {
        eprintln!("SKIPPED: loop mount needs root and /dev/loop-control");
    }
    ok
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    hex(&h.finalize())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `contents` to `root/rel`, creating parents.
pub fn write_file(root: &Path, rel: &str, contents: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, contents).unwrap();
}

/// Deterministic pseudo-random bytes (xorshift), for file contents.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Quotes a host path as a TOML literal string (paths in tests never hold
/// a single quote or a newline).
pub fn toml_path(p: &Path) -> String {
    let s = p.to_str().expect("test paths are UTF-8");
    assert!(
        !s.contains('\'') && !s.contains('\n'),
        "unquotable path {s:?}"
    );
    format!("'{s}'")
}

/// `fstool build SPEC -o OUT -q ARGS...` with `SOURCE_DATE_EPOCH` removed
/// from the environment (a developer's shell must not change results).
pub fn fstool_build(spec: &Path, out: &Path, args: &[&str]) -> Command {
    let mut c = fstool();
    c.arg("build")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs [`fstool_build`], asserts success, returns the image's SHA-256.
pub fn build_ok(spec: &Path, out: &Path, args: &[&str]) -> String {
    run_ok(&mut fstool_build(spec, out, args));
    sha256_file(out)
}

/// Major and minor of a Linux `dev_t` as glibc encodes it: major bits 8..20
/// and 32+12..64, minor bits 0..8 and 20..44.
pub fn split_rdev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// A read-only loop mount, unmounted on drop (also when a test panics).
pub struct LoopMount {
    pub dir: tempfile::TempDir,
}

impl LoopMount {
    /// Mounts `img` read-only with `-t fstype`. `None` (after a SKIPPED
    /// notice) when this machine cannot loop-mount or the mount fails.
    pub fn new(img: &Path, fstype: &str) -> Option<LoopMount> {
        if !can_loop_mount() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = match Command::new("mount")
            .args(["-t", fstype, "-o", "ro,loop"])
            .arg(img)
            .arg(dir.path())
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                return None;
            }
        };
        if !out.status.success() {
            eprintln!(
                "SKIPPED: mount -t {fstype} -o ro,loop {} failed: {}",
                img.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(LoopMount { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let out = Command::new("umount").arg(self.dir.path()).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            // Lazy unmount so the temp dir can go; report, don't panic in drop.
            eprintln!("umount {} failed: {out:?}", self.dir.path().display());
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .output();
        }
    }
}

/// splitmix64: deterministic, no dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes whose data alternates with zero runs, one `cluster` each: a file
/// of `fragments` data runs once holes are left out.
pub fn fragmented(fragments: usize, cluster: usize) -> Vec<u8> {
    let mut v = vec![0u8; 2 * fragments * cluster];
    for k in 0..fragments {
        v[2 * k * cluster..2 * k * cluster + cluster].fill((k % 251 + 1) as u8);
    }
    v
}
