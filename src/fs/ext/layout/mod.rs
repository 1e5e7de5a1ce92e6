//! The plan: geometry, where every group's metadata sits, every inode
//! number and every block of every inode. A pure function of the tree and
//! the options; [`super::write`] only carries it out.
//!
//! Placement policy (deterministic, no rescanning allocator):
//! - Group metadata (bitmaps, inode tables) is packed per flex group at the
//!   start of the flex group's first group, like mke2fs.
//! - Data is handed out by one bump cursor over the free blocks, in the
//!   order: journal, then every inode in sorted pre-order (directory blocks,
//!   xattr blocks, file data, slow symlinks). Files are contiguous except
//!   where reserved metadata interrupts them.
//! - Extent-tree and indirect blocks come after all data, in inode order.

use super::dir;
use super::features::Features;
use super::{ExtError, ExtOptions, Headroom, InodePolicy};
use crate::plan::size::human;
use crate::tree::{time, NodeId, Tree};
use serde::Serialize;

mod alloc;
mod needs;
mod size;

use alloc::try_layout;
use needs::inode_needs;
use size::{geometry, min_blocks};

pub const ROOT_INO: u32 = 2;
pub const JOURNAL_INO: u32 = 8;
pub const FIRST_INO: u32 = 11;
pub const LOST_FOUND_INO: u32 = 11;

/// Filesystem geometry, reported in `--report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    pub block_size: u32,
    pub blocks: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u32,
    pub groups: u32,
    pub inodes: u64,
    pub inodes_per_group: u32,
    pub inode_size: u16,
    pub inode_table_blocks: u32,
    pub desc_size: u16,
    pub gdt_blocks: u32,
    pub groups_per_flex: u32,
    pub reserved_blocks: u64,
    pub journal_blocks: u32,
    pub free_blocks: u64,
    pub free_inodes: u64,
    pub features: Vec<&'static str>,
}

impl Geometry {
    pub fn group_start(&self, g: u32) -> u64 {
        self.first_data_block + g as u64 * self.blocks_per_group as u64
    }
    /// Number of blocks in group `g` (the last one may be short).
    pub fn group_len(&self, g: u32) -> u64 {
        let start = self.group_start(g);
        (self.blocks - start).min(self.blocks_per_group as u64)
    }
    pub fn has_super(&self, g: u32) -> bool {
        g <= 1 || [3u32, 5, 7].iter().any(|&b| is_power_of(g, b))
    }
    pub fn bytes(&self) -> u64 {
        self.blocks * self.block_size as u64
    }
    pub fn group_of_ino(&self, ino: u32) -> u32 {
        (ino - 1) / self.inodes_per_group
    }
}

fn is_power_of(mut n: u32, b: u32) -> bool {
    if n == 0 {
        return false;
    }
    while n % b == 0 {
        n /= b;
    }
    n == 1
}

/// Where one group's metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMeta {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
}

/// A run of blocks: `len` blocks from logical block `logical` stored at
/// physical block `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
}

/// What an inode holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeSource {
    Node(NodeId),
    Journal,
}

/// The plan of one inode.
#[derive(Debug, Clone)]
pub struct InodePlan {
    pub ino: u32,
    pub source: InodeSource,
    /// Data blocks (file data, directory blocks, slow symlink target).
    pub runs: Vec<Run>,
    /// Mapping metadata blocks (extent tree or indirect blocks), in the
    /// order the mapping builder consumes them.
    pub map_blocks: Vec<u64>,
    pub xattr_block: Option<u64>,
    /// Directory layout, for directories.
    pub dir: Option<Box<dir::DirLayout>>,
    pub links: u32,
    /// Logical size in blocks of the data (for i_size of directories).
    pub data_blocks: u64,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct ExtPlan {
    pub geo: Geometry,
    pub features: Features,
    pub groups: Vec<GroupMeta>,
    /// Inode plans in inode-number order (2, 8, 11, 12, ...).
    pub inodes: Vec<InodePlan>,
    /// Inode number of every tree node (hard links: their target's).
    pub ino_of: Vec<u32>,
    /// Used-block ranges `[start, end)`, sorted, for the bitmaps.
    pub used: Vec<(u64, u64)>,
    pub opts: ExtOptions,
}

impl ExtPlan {
    /// The bytes of the device the filesystem is built for. An explicit
    /// size may be larger than the filesystem when a too-short last group
    /// was left out (see [`fit_layout`]).
    pub fn device_bytes(&self) -> u64 {
        let bs = self.geo.block_size as u64;
        self.opts
            .size
            .map_or(self.geo.bytes(), |s| (s / bs * bs).max(self.geo.bytes()))
    }
    /// Directory blocks with an htree index, for reports and tests.
    pub fn indexed_dirs(&self) -> usize {
        self.inodes
            .iter()
            .filter(|i| i.dir.as_ref().is_some_and(|d| d.htree.is_some()))
            .count()
    }
}

/// Per-inode needs that do not depend on the geometry.
struct Need {
    ino: u32,
    source: InodeSource,
    /// Data blocks, with holes for sparse files: (logical, len) extents.
    data: Vec<(u64, u64)>,
    data_blocks: u64,
    xattr_block: bool,
    dir: Option<Box<dir::DirLayout>>,
    links: u32,
}

/// Plans the image.
pub fn plan(tree: &Tree, opts: &ExtOptions) -> Result<ExtPlan, ExtError> {
    validate_options(opts)?;
    check_times(tree, opts)?;
    let features = opts.features;
    let (needs, ino_of, max_ino) = inode_needs(tree, opts)?;
    let data_total: u64 = needs
        .iter()
        .map(|n| n.data_blocks + n.xattr_block as u64)
        .sum();
    let bs = opts.block_size as u64;

    if let InodePolicy::Fixed(n) = opts.inodes {
        if n < max_ino as u64 {
            return Err(ExtError::TooFewInodes {
                needed: max_ino as u64,
                available: n,
            });
        }
    }
    match opts.size {
        Some(size) => {
            let blocks = size / bs;
            check_addressable(opts, &features, size)?;
            // The policies to try, in order: an explicit size first gets
            // mke2fs's ratio, then the tree's own count.
            let policies: &[InodePolicy] = match opts.inodes {
                InodePolicy::SizedDefault => &[InodePolicy::Ratio(16384), InodePolicy::Auto],
                ref p => std::slice::from_ref(p),
            };
            let fit_any = |b: u64| -> Result<Laid, LayoutFail> {
                let mut last_fail = LayoutFail::Geometry;
                for &policy in policies {
                    let inodes_at = |b: u64| inodes_for(policy, b, bs, max_ino);
                    match fit_layout(opts, &features, b, &inodes_at, &needs) {
                        Ok(p) => return Ok(p),
                        Err(e) => last_fail = e,
                    }
                }
                Err(last_fail)
            };
            match fit_any(blocks) {
                Ok(p) => return Ok(finish(p, needs, ino_of, opts)),
                Err(LayoutFail::Inodes { available }) => {
                    return Err(ExtError::TooFewInodes {
                        needed: max_ino as u64,
                        available,
                    })
                }
                Err(_) => {}
            }
            // The last policy is the tree's own count, so the size it needs
            // fits; the true minimum lies between that and the asked size.
            let policy = *policies.last().unwrap_or(&opts.inodes);
            let inodes_at = |b: u64| inodes_for(policy, b, bs, max_ino);
            let upper = min_blocks(opts, &features, &needs, &inodes_at, data_total)?;
            let needed = true_min_blocks(blocks, upper, |b| fit_any(b).is_ok()) * bs;
            Err(ExtError::TooSmall {
                size,
                needed,
                needed_h: human(needed),
            })
        }
        None => {
            let inodes_at = |b: u64| inodes_for(opts.inodes, b, bs, max_ino);
            let mut blocks = min_blocks(opts, &features, &needs, &inodes_at, data_total)?;
            blocks = match opts.headroom {
                Headroom::None => blocks,
                Headroom::Percent(p) => blocks + (blocks as f64 * p / 100.0).ceil() as u64,
                Headroom::Bytes(b) => blocks + b.div_ceil(bs),
            };
            // Headroom may shift group boundaries; grow until it lays out.
            loop {
                match try_layout(opts, &features, blocks, inodes_at(blocks), &needs) {
                    Ok(p) => return Ok(finish(p, needs, ino_of, opts)),
                    Err(_) => blocks += 16,
                }
            }
        }
    }
}

/// A size beyond what the format can address is refused by name, rather
/// than reported as a tree that does not fit. Without `64bit` block
/// numbers are 32-bit; with it the group count is (descriptors number
/// groups with 32 bits).
fn check_addressable(opts: &ExtOptions, features: &Features, size: u64) -> Result<(), ExtError> {
    let bs = opts.block_size as u64;
    let (max_blocks, why) = if features.is_64bit() {
        let bpg = u64::from(size::blocks_per_group(opts.block_size));
        (
            (u32::MAX as u64).saturating_mul(bpg),
            format!("with {bs}-byte blocks (2^32 block groups)"),
        )
    } else {
        (
            u32::MAX as u64,
            format!("with {bs}-byte blocks and without the 64bit feature (32-bit block numbers)"),
        )
    };
    let max = max_blocks.saturating_mul(bs);
    if size / bs > max_blocks {
        return Err(ExtError::TooLarge {
            size,
            size_h: human(size),
            kind: opts.kind.name(),
            max,
            max_h: human(max),
            why,
        });
    }
    Ok(())
}

/// The inode count a filesystem of `blocks` blocks gets under `policy`.
fn inodes_for(policy: InodePolicy, blocks: u64, bs: u64, max_ino: u32) -> u64 {
    match policy {
        InodePolicy::Fixed(n) => n,
        InodePolicy::Ratio(r) => (blocks * bs / r.max(1)).max(max_ino as u64),
        InodePolicy::Auto | InodePolicy::SizedDefault => auto_inodes(max_ino),
    }
}

/// Lays the tree out on a device of `blocks` blocks. When the last block
/// group is too short to hold its own metadata, the filesystem leaves it
/// out and ends at the previous group's end, as mke2fs does; the device
/// keeps its size and the tail stays unused.
fn fit_layout(
    opts: &ExtOptions,
    features: &Features,
    blocks: u64,
    inodes_at: &dyn Fn(u64) -> u64,
    needs: &[Need],
) -> Result<Laid, LayoutFail> {
    let first = try_layout(opts, features, blocks, inodes_at(blocks), needs);
    let Err(fail) = first else { return first };
    let bpg = u64::from(size::blocks_per_group(opts.block_size));
    let first_data_block = u64::from(opts.block_size == 1024);
    let rem = blocks.saturating_sub(first_data_block) % bpg;
    let trimmed = blocks - rem;
    if rem == 0 || trimmed <= first_data_block {
        return Err(fail);
    }
    try_layout(opts, features, trimmed, inodes_at(trimmed), needs).map_err(|_| fail)
}

/// The smallest block count from which every size up to `upper` (known to
/// fit) lays out, found by bisection between a size known not to fit
/// (`fails`) and `upper`. [`fit_layout`] absorbs the group-boundary steps
/// that would otherwise make fitting non-monotonic.
fn true_min_blocks(fails: u64, upper: u64, fits: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (fails.min(upper), upper);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

fn validate_options(opts: &ExtOptions) -> Result<(), ExtError> {
    let bad = |key, message: String| Err(ExtError::Option { key, message });
    if ![1024, 2048, 4096, 65536 / 2, 65536].contains(&opts.block_size)
        && opts.block_size != 8192
        && opts.block_size != 16384
    {
        return bad(
            "block_size",
            format!(
                "{} is not one of 1024, 2048, 4096, 8192, 16384, 32768, 65536",
                opts.block_size
            ),
        );
    }
    if !opts.inode_size.is_power_of_two()
        || opts.inode_size < 128
        || opts.inode_size as u32 > opts.block_size
    {
        return bad(
            "inode_size",
            format!(
                "{} must be a power of two from 128 to the block size",
                opts.inode_size
            ),
        );
    }
    if opts.features.has_ro(super::features::RO_EXTRA_ISIZE) && opts.inode_size < 256 {
        return bad("inode_size", "extra_isize (and nanosecond times) needs inode_size 256 or more; add \"^extra_isize\" to features for 128".into());
    }
    if !(0.0..=50.0).contains(&opts.reserved_percent) {
        return bad(
            "reserved_percent",
            format!("{} is outside 0..50", opts.reserved_percent),
        );
    }
    if opts.label.len() > 16 {
        return bad("label", format!("{:?} is longer than 16 bytes", opts.label));
    }
    opts.features.validate()
}

/// The superblock's epoch and every inode time must fit the format unless
/// the spec asked to clamp; the writer clamps with the same ranges. The
/// epoch goes first: the root carries it too, and the key is the better
/// name for the problem.
fn check_times(tree: &Tree, opts: &ExtOptions) -> Result<(), ExtError> {
    let fields = time::Fields {
        atime: true,
        ctime: true,
        crtime: opts.inode_size > 128,
    };
    time::EXT_SUPERBLOCK.check(
        crate::tree::Timestamp::from_secs(opts.epoch),
        tree.time_range,
        &|| "source_date_epoch".to_string(),
        "time",
    )?;
    super::ondisk::inode_time_range(opts.inode_size).check_tree(
        tree,
        tree.time_range,
        fields,
        None,
    )?;
    Ok(())
}

fn auto_inodes(max_ino: u32) -> u64 {
    // Room for the tree plus a little: 1/32 more, at least 32.
    let n = max_ino as u64;
    n + (n / 32).max(32)
}

enum LayoutFail {
    /// Needs at least this many blocks with the current geometry.
    Needs(u64),
    Geometry,
    Inodes {
        available: u64,
    },
}

struct Laid {
    geo: Geometry,
    groups: Vec<GroupMeta>,
    runs: Vec<Vec<Run>>,
    map_blocks: Vec<Vec<u64>>,
    xattr_blocks: Vec<Option<u64>>,
    used: Vec<(u64, u64)>,
}

fn finish(laid: Laid, needs: Vec<Need>, ino_of: Vec<u32>, opts: &ExtOptions) -> ExtPlan {
    let mut geo = laid.geo;
    geo.free_inodes = geo.inodes
        - (FIRST_INO as u64 - 1)
        - needs.iter().filter(|n| n.ino >= FIRST_INO).count() as u64;
    let mut inodes = Vec::with_capacity(needs.len());
    for (((n, runs), map_blocks), xattr_block) in needs
        .into_iter()
        .zip(laid.runs)
        .zip(laid.map_blocks)
        .zip(laid.xattr_blocks)
    {
        inodes.push(InodePlan {
            ino: n.ino,
            source: n.source,
            runs,
            map_blocks,
            xattr_block,
            dir: n.dir,
            links: n.links,
            data_blocks: n.data_blocks,
        });
    }
    ExtPlan {
        geo,
        features: opts.features,
        groups: laid.groups,
        inodes,
        ino_of,
        used: laid.used,
        opts: opts.clone(),
    }
}
