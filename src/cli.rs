//! The command line's shape: every subcommand, argument and help text.
//! `main.rs` carries them out.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Said after the top-level help.
const AFTER_HELP: &str = "\
Any argument of the form @FILE is replaced by the lines of FILE, one
argument per line (a build system's param file); @@x stands for a literal
@x. Exit status: 0 success, 1 failure (verify and diff: 1 = different,
2 = error).";

#[derive(Parser)]
#[command(
    name = "fstool",
    version,
    about = "Deterministic, hermetic filesystem and disk image builder",
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// The spec and the overrides that `plan` and `verify` take.
#[derive(clap::Args)]
pub(crate) struct SpecArgs {
    /// The TOML spec or JSON manifest (`-` reads stdin).
    pub(crate) spec: PathBuf,
    /// A spec fragment merged over SPEC (repeatable, in order).
    #[arg(long = "overlay", value_name = "FILE")]
    pub(crate) overlays: Vec<PathBuf>,
    /// Seed every identifier derives from (overrides the spec).
    #[arg(long)]
    pub(crate) seed: Option<String>,
    /// Timestamp for every time field (overrides the spec and $SOURCE_DATE_EPOCH).
    #[arg(long)]
    pub(crate) source_date_epoch: Option<i64>,
}

/// Flags shared by `build` and `create`.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// Output image path (written to a temp file, renamed on success). A
    /// `.qcow2` name (any case) picks the qcow2 container. Images are
    /// written with random access, so `-` (stdout) is refused.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Write a JSON report (sha256, size, geometry, counts) to this file.
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Write the image's SHA-256 to this file as `sha256sum` does
    /// (`<hex>  <image file name>`), for build rules.
    #[arg(long, value_name = "FILE")]
    pub(crate) sha256_file: Option<PathBuf>,
    /// Seed every identifier derives from (overrides the spec).
    #[arg(long)]
    pub(crate) seed: Option<String>,
    /// Timestamp for every time field (overrides the spec and $SOURCE_DATE_EPOCH).
    #[arg(long)]
    pub(crate) source_date_epoch: Option<i64>,
    /// Print nothing but errors and warnings; no progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Do not compute the image's SHA-256 (it reads every byte, holes
    /// included: for a huge, mostly empty disk it takes far longer than
    /// the build). The report's "sha256" is then null.
    #[arg(long)]
    pub(crate) no_hash: bool,
    /// Put the input digest in the report: SHA-256 over the spec (host
    /// paths replaced by their contents' hashes), the plan, every file's
    /// metadata and content, and the fstool version. Reads every input once
    /// more. `fstool digest SPEC` prints it without building.
    #[arg(long)]
    pub(crate) input_digest: bool,
    /// Keep images in DIR by input digest, and copy the image from there
    /// (a reflink where the filesystem has one) when the inputs match a
    /// build kept before, instead of writing it. The report says
    /// "cache": "hit" or "stored". DIR is created if absent.
    #[arg(long, value_name = "DIR")]
    pub(crate) cache: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Build the image a TOML spec or JSON manifest describes (`-` reads stdin).
    Build {
        /// The TOML spec or JSON manifest (`-` reads stdin).
        spec: PathBuf,
        /// A TOML or JSON spec merged over SPEC (tables merge, arrays are
        /// appended, other values replaced); may be given several times.
        #[arg(long = "overlay", value_name = "FILE")]
        overlays: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Build a filesystem image from a directory.
    Create {
        /// Filesystem type: ext2, ext3, ext4, fat (FAT12/16/32 by size),
        /// fat12, fat16, fat32, ntfs or erofs. Every other setting takes
        /// its default; use `build` with a spec for more.
        #[arg(short = 't', long = "type")]
        fs_type: String,
        /// Source directory.
        source: PathBuf,
        /// Image size ("64MiB", bytes) or "auto" (default).
        #[arg(long)]
        size: Option<String>,
        /// Volume label.
        #[arg(long)]
        label: Option<String>,
        /// Time policy: fixed (default), clamp, preserve.
        #[arg(long)]
        time_policy: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the plan of the image a spec describes (every partition's
    /// offset and size, every filesystem's geometry, every ID) without
    /// writing anything.
    Plan {
        #[command(flatten)]
        args: SpecArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the input digest of a spec without building: the cache key of
    /// `build --cache` and the report's "input_digest" (SHA-256 over the
    /// spec, the plan, every file's metadata and content, and the fstool
    /// version; see docs/ARCHITECTURE.md).
    Digest {
        #[command(flatten)]
        args: SpecArgs,
        /// The output name the build will be given: a `.qcow2` name picks
        /// the container, which the digest covers.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print JSON ({"input_digest": ...}) instead of the bare hex.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the manifest.
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell), e.g. `fstool completions bash >
    /// /etc/bash_completion.d/fstool`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `fstool man > fstool.1`.
    Man,
    /// Show an image's partition table and filesystems (raw or qcow2).
    Info {
        /// A raw or qcow2 image: a bare filesystem or a whole disk.
        image: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List files of an image's filesystem (IMAGE, or IMAGE:N for
    /// partition N of a GPT/MBR disk; raw or qcow2).
    Ls {
        /// The image, or IMAGE:N for partition N of a disk.
        #[arg(value_name = "IMAGE[:PART]")]
        image: String,
        /// Directory or file to list (default: the root).
        #[arg(default_value = "/")]
        path: String,
        /// List everything below PATH.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Long format: mode, links, owner, size, mtime, link target.
        #[arg(short = 'l', long)]
        long: bool,
        /// Print JSON (every metadata field) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a file of an image's filesystem to stdout.
    Cat {
        /// The image, or IMAGE:N for partition N of a disk.
        #[arg(value_name = "IMAGE[:PART]")]
        image: String,
        /// Path of the file inside the filesystem.
        path: String,
    },
    /// Restore an image's filesystem into a directory (absent or empty),
    /// or write it as a deterministic tar.
    Extract {
        /// The image, or IMAGE:N for partition N of a disk.
        #[arg(value_name = "IMAGE[:PART]")]
        image: String,
        /// Destination directory (not needed with --tar).
        #[arg(value_name = "DEST_DIR", required_unless_present = "tar")]
        dest: Option<PathBuf>,
        /// Write a tar archive to this path instead.
        #[arg(long, value_name = "OUT.tar")]
        tar: Option<PathBuf>,
    },
    /// Check that IMAGE is exactly what SPEC builds: the spec is rebuilt
    /// into a private temp dir and the images compared; a difference is
    /// explained like `diff` (IDs and fields by name, files by path).
    /// Exit 0 = verified, 1 = different, 2 = error.
    Verify {
        #[command(flatten)]
        args: SpecArgs,
        /// The image to check (raw or qcow2).
        image: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show at most this many findings (text output).
        #[arg(long, default_value_t = 200)]
        max: usize,
    },
    /// Compare two images layer by layer: container, partition table,
    /// filesystem headers by field name, file tree. Exit 0 = same bytes,
    /// 1 = different, 2 = error.
    Diff {
        /// The first image ("left" in the findings).
        a: PathBuf,
        /// The second image ("right").
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show at most this many findings (text output).
        #[arg(long, default_value_t = 200)]
        max: usize,
    },
}
