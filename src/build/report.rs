//! The build report (`--report`): the image plan plus what the writers
//! counted and the image's hash.

use crate::fs::VolumeStats;
use crate::plan::image::ImagePlan;
use crate::plan::size;
use serde::Serialize;

/// The JSON report of a build (`--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub output: String,
    /// `None` when the build was asked not to hash (`--no-hash`).
    pub sha256: Option<String>,
    pub size: u64,
    pub seed: String,
    pub source_date_epoch: i64,
    /// `raw` or `qcow2`.
    pub format: &'static str,
    /// The partition table, for whole disks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_table: Option<serde_json::Value>,
    pub filesystems: Vec<FsReport>,
    /// SHA-256 over every input of the build (see [`super::digest`]), when
    /// asked for (`--input-digest`, `--cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_digest: Option<String>,
    /// What `--cache` did: `hit` (the image was copied from the cache) or
    /// `stored` (built, and kept there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<super::cache::Outcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    /// Partition number (1-based) for filesystems inside a disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<usize>,
    #[serde(rename = "type")]
    pub fs_type: &'static str,
    pub label: String,
    pub uuid: String,
    pub offset: u64,
    pub size: u64,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub other: u64,
    pub data_bytes: u64,
    /// Entries the filesystem cannot store that were left out (FAT with
    /// `unsupported = "skip"`), and hard links stored as copies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<serde_json::Value>,
    /// Entries stored under another name (FAT `case_conflicts = "rename"`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardlinks_copied: Vec<serde_json::Value>,
    pub geometry: serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The dm-verity tree over the filesystem, with its root hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity: Option<crate::plan::verity::VerityDescription>,
}

impl Report {
    /// The report of a written plan: `stats` holds the writers' counts in
    /// the order of `plan.filesystems`.
    pub(super) fn new(
        output: String,
        sha256: Option<String>,
        plan: ImagePlan,
        stats: Vec<VolumeStats>,
    ) -> Report {
        let filesystems = plan
            .filesystems
            .into_iter()
            .zip(stats)
            .map(|(v, s)| FsReport {
                partition: v.partition,
                fs_type: v.volume.fs_type,
                label: v.volume.label,
                uuid: v.volume.uuid,
                offset: v.offset,
                size: v.volume.size,
                files: s.files,
                directories: s.directories,
                symlinks: s.symlinks,
                hard_links: s.hard_links,
                other: s.other,
                data_bytes: s.data_bytes,
                skipped: s.skipped,
                renamed: s.renamed,
                hardlinks_copied: s.hardlinks_copied,
                geometry: v.volume.geometry,
                warnings: v.volume.warnings,
                verity: v.verity,
            })
            .collect();
        Report {
            output,
            sha256,
            size: plan.size,
            seed: plan.seed,
            source_date_epoch: plan.source_date_epoch,
            format: plan.format,
            partition_table: plan.partition_table,
            filesystems,
            input_digest: None,
            cache: None,
        }
    }

    /// One-line human summary.
    pub fn summary(&self) -> String {
        let fs: Vec<String> = self
            .filesystems
            .iter()
            .map(|f| {
                let verity = match f.verity.as_ref().and_then(|v| v.roothash.as_deref()) {
                    Some(h) => format!(", verity root hash {h}"),
                    None => String::new(),
                };
                format!(
                    "{} {} ({} files, {} dirs, {} of data{verity})",
                    f.fs_type,
                    size::human(f.size),
                    f.files,
                    f.directories,
                    size::human(f.data_bytes)
                )
            })
            .collect();
        let cached = match self.cache {
            Some(super::cache::Outcome::Hit) => " (copied from the cache)",
            _ => "",
        };
        format!(
            "{}: {}, {}{cached}",
            self.output,
            size::human(self.size),
            fs.join("; ")
        )
    }
}
