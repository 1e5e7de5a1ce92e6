//! The plan: every MFT record number, name, index node and cluster,
//! decided before a byte is written. Pure: reads only the tree and the
//! options.
//!
//! Records: 0-15 are the system files, 16-23 stay free for `$MFT`
//! extension records, 24-26 are `$Quota`, `$ObjId` and `$Reparse` (as
//! mkntfs numbers them), and the tree's inodes follow from 27 in sorted
//! pre-order (the root directory is record 5), each file's extension
//! records right after its base record (see [`super::spill`]). Clusters are handed out
//! from 0 in one sweep: `$Boot`, `$MFT` and its bitmap, `$MFTMirr`,
//! `$LogFile`, `$AttrDef`, `$Bitmap`, `$UpCase`, `$Secure:$SDS`, then the
//! index blocks of every directory and the file data in pre-order, so
//! metadata comes first and the image depends only on the sorted tree.

use super::attr::align8;
use super::dir_plan::{dir_index, names_by_dir};
use super::file_name::{FileName, Namespace};
use super::index::{self, Entry};
use super::inodes::{self, Inodes};
use super::record::{self, mref};
use super::runlist::Run;
use super::spill::{self, ListForm, Spill};
use super::std_info::{self, Times};
use super::{node, reparse, secure, time, upcase};
use super::{NtfsError, NtfsOptions, SkippedEntry};
use crate::tree::{Meta, NodeId, Tree};

/// The first record of the tree's inodes (after `$Extend`'s children).
pub const FIRST_USER: u64 = 27;
/// `$Quota`, `$ObjId`, `$Reparse`.
pub const QUOTA: u64 = 24;
pub const OBJ_ID: u64 = 25;
pub const REPARSE: u64 = 26;
pub const ROOT: u64 = 5;
pub const EXTEND: u64 = 11;
/// Size of `$Boot`: the first 16 sectors.
const BOOT_BYTES: u64 = 8192;
/// Index blocks are 4 KiB, whatever the cluster size (as mkntfs).
pub const INDEX_BLOCK: usize = 4096;
const SECTOR: u64 = 512;

/// A contiguous run of clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extent {
    pub lcn: u64,
    pub clusters: u64,
}

impl Extent {
    pub fn runs(&self) -> Vec<Run> {
        if self.clusters == 0 {
            Vec::new()
        } else {
            vec![Run {
                lcn: Some(self.lcn),
                len: self.clusters,
            }]
        }
    }
}

/// Volume geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub cluster: u64,
    pub record: usize,
    pub total_clusters: u64,
    pub volume_bytes: u64,
}

impl Geometry {
    pub fn clusters_for(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.cluster)
    }
    /// Units of an index block's VCN: clusters, or 512-byte sectors when a
    /// cluster is larger than a block.
    pub fn index_vcn_unit(&self) -> u64 {
        if self.cluster <= INDEX_BLOCK as u64 {
            self.cluster
        } else {
            SECTOR
        }
    }
    pub fn vcn_per_block(&self) -> u64 {
        INDEX_BLOCK as u64 / self.index_vcn_unit()
    }
    /// Records of `$MFT` that `$MFTMirr` copies.
    pub fn mirror_records(&self) -> u64 {
        if self.cluster <= 4 * self.record as u64 {
            4
        } else {
            self.cluster / self.record as u64
        }
    }
}

/// One name of an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The directory's tree node.
    pub dir: NodeId,
    pub units: Vec<u16>,
    pub namespace: Namespace,
}

/// What an inode holds besides its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dir {
        index: index::Tree,
        alloc: Extent,
        /// The index's `$BITMAP` in its own clusters, for a directory too
        /// large for it to stay in the record; `None` when resident.
        bitmap: Option<Extent>,
    },
    File {
        len: u64,
        resident: bool,
        /// The data clusters (holes left out when sparse).
        alloc: Extent,
        /// With `sparse = true`: the (VCN, clusters) ranges that hold
        /// data, in order; the rest of the stream is holes. `None` when
        /// every cluster is allocated.
        segments: Option<Vec<(u64, u64)>>,
    },
    Symlink {
        tag: u32,
        reparse: Vec<u8>,
    },
}

/// One inode: a tree node that owns an MFT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub node: NodeId,
    pub record: u64,
    pub names: Vec<Name>,
    pub content: Content,
    pub attributes: u32,
    /// Extension records and the attribute list, when the attributes do
    /// not fit one record.
    pub spill: Option<Spill>,
}

/// The system files' clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SystemExtents {
    pub boot: Extent,
    pub mft: Extent,
    pub mft_bitmap: Extent,
    pub mirr: Extent,
    pub log: Extent,
    pub attrdef: Extent,
    pub bitmap: Extent,
    pub upcase: Extent,
    pub sds: Extent,
    pub reparse: Extent,
}

/// Everything the writer needs; see [`plan`].
#[derive(Debug, Clone)]
pub struct NtfsPlan {
    pub opts: NtfsOptions,
    pub geo: Geometry,
    pub upcase: Vec<u16>,
    pub sys: SystemExtents,
    pub mft_records: u64,
    /// Inodes in record order; the root first.
    pub inodes: Vec<Inode>,
    /// Tree node → index in `inodes`.
    pub inode_of: Vec<Option<usize>>,
    /// `$Reparse:$R`.
    pub reparse_index: index::Tree,
    pub used_clusters: u64,
    pub log_bytes: u64,
    pub bitmap_bytes: u64,
    pub skipped: Vec<SkippedEntry>,
}

impl NtfsPlan {
    pub fn size_bytes(&self) -> u64 {
        self.geo.volume_bytes
    }
    /// What the writer reports, decided by the plan alone.
    pub fn report(&self) -> super::NtfsReport {
        super::NtfsReport {
            serial: format!("{:016X}", self.opts.serial),
            label: self.opts.label.clone(),
            cluster_bytes: self.geo.cluster as u32,
            mft_record_bytes: self.geo.record as u32,
            total_clusters: self.geo.total_clusters,
            used_clusters: self.used_clusters,
            mft_records: self.mft_records,
            skipped: self.skipped.clone(),
        }
    }
    pub fn seq(record: u64) -> u16 {
        match record {
            0 => 1,
            r if r < 16 => r as u16,
            _ => 1,
        }
    }
    pub fn mref_of(&self, inode: usize) -> u64 {
        let r = self.inodes[inode].record;
        mref(r, Self::seq(r))
    }
    /// The record reference of a directory tree node.
    pub fn dir_mref(&self, dir: NodeId) -> u64 {
        self.inode_of[dir.index()].map_or(mref(ROOT, 5), |i| self.mref_of(i))
    }
    pub fn mft_bitmap_bytes(&self) -> u64 {
        align8(self.mft_records.div_ceil(8) as usize) as u64
    }
}

/// The times of a tree node.
pub fn times(m: &Meta) -> Times {
    Times {
        created: time::filetime(m.crtime),
        modified: time::filetime(m.mtime),
        mft_changed: time::filetime(m.ctime),
        accessed: time::filetime(m.atime),
    }
}

fn opt_err(field: &'static str, value: impl ToString, reason: &str) -> NtfsError {
    NtfsError::Option {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub fn check_options(o: &NtfsOptions) -> Result<(), NtfsError> {
    if !o.cluster_size.is_power_of_two() || !(512..=65536).contains(&o.cluster_size) {
        return Err(opt_err(
            "cluster_size",
            o.cluster_size,
            "must be a power of two from 512 to 65536",
        ));
    }
    if !matches!(o.mft_record_size, 1024 | 4096) {
        return Err(opt_err(
            "mft_record_size",
            o.mft_record_size,
            "must be 1024 or 4096",
        ));
    }
    if o.label.encode_utf16().count() > 128 {
        return Err(opt_err(
            "label",
            &o.label,
            "is longer than 128 UTF-16 units",
        ));
    }
    if let Some(s) = o.size {
        if s % SECTOR != 0 {
            return Err(opt_err("size", s, "must be a multiple of 512 bytes"));
        }
    }
    Ok(())
}

/// `$LogFile` size for a volume: about 1/128 of it, a power of two from
/// 256 KiB (ntfs-3g needs two restart pages and 48 log pages) to 64 MiB.
fn log_bytes(volume_bytes: u64, cluster: u64) -> u64 {
    let want = (volume_bytes / 128)
        .clamp(256 << 10, 64 << 20)
        .next_power_of_two()
        .min(64 << 20);
    want.div_ceil(cluster) * cluster
}

/// Names of the system files in the root index, with their records.
pub const SYSTEM_NAMES: &[(&str, u64)] = &[
    ("$MFT", 0),
    ("$MFTMirr", 1),
    ("$LogFile", 2),
    ("$Volume", 3),
    ("$AttrDef", 4),
    (".", 5),
    ("$Bitmap", 6),
    ("$Boot", 7),
    ("$BadClus", 8),
    ("$Secure", 9),
    ("$UpCase", 10),
    ("$Extend", 11),
];

pub fn plan(tree: &Tree, opts: &NtfsOptions) -> Result<NtfsPlan, NtfsError> {
    check_options(opts)?;
    let up = upcase::table();
    let record_size = opts.mft_record_size as usize;
    let cluster = u64::from(opts.cluster_size);

    let Inodes {
        mut inodes,
        inode_of,
        skipped,
    } = inodes::number(tree, opts, &up)?;

    // Residency: a file stays in its record when everything fits. With
    // `sparse = true`, a non-resident file keeps only its non-zero
    // clusters.
    let space = record::attr_space(record_size);
    for ino in inodes.iter_mut() {
        let fixed = node::fixed_attrs_len(ino);
        if let Content::File {
            len,
            resident,
            segments,
            ..
        } = &mut ino.content
        {
            let res = 0x18 + align8(usize::try_from(*len).unwrap_or(usize::MAX).min(1 << 20));
            if *len < 1 << 20 && fixed + res <= space {
                *resident = true;
            } else if opts.sparse && *len > 0 {
                *segments = super::data::segments(tree, ino.node, *len, cluster)?;
                if segments.is_some() {
                    ino.attributes |= std_info::fa::SPARSE_FILE;
                }
            }
        }
        if let Content::Symlink { reparse, .. } = &ino.content {
            if 0x18 + std_info::LEN + 0x18 + align8(reparse.len()) > space {
                return Err(NtfsError::RecordFull {
                    path: tree.path_of(ino.node),
                    what: "the symlink target".into(),
                    record_size: opts.mft_record_size,
                });
            }
        }
    }

    let mut p = NtfsPlan {
        opts: opts.clone(),
        geo: Geometry {
            cluster,
            record: record_size,
            total_clusters: 0,
            volume_bytes: 0,
        },
        upcase: up,
        sys: SystemExtents::default(),
        mft_records: 0,
        inodes,
        inode_of,
        reparse_index: index::build(Vec::new(), usize::MAX, usize::MAX, INDEX_BLOCK, 1),
        used_clusters: 0,
        log_bytes: 0,
        bitmap_bytes: 0,
        skipped,
    };

    // Attributes that overflow their record spill into extension records
    // (planned with the widest LCNs), which follow their base record: the
    // tree's records are numbered again with room for them.
    for i in 1..p.inodes.len() {
        if !spill::may_spill(&p, i) {
            continue;
        }
        let resident = match &p.inodes[i].content {
            Content::File {
                len,
                resident: true,
                ..
            } => vec![0u8; *len as usize],
            _ => Vec::new(),
        };
        let (items, _) = node::items(&p, tree, i, &resident, true);
        let s = spill::plan(&items, space).map_err(|what| NtfsError::RecordFull {
            path: tree.path_of(p.inodes[i].node),
            what: what.into(),
            record_size: opts.mft_record_size,
        })?;
        p.inodes[i].spill = s;
    }
    let mut next = FIRST_USER;
    for ino in p.inodes.iter_mut().skip(1) {
        ino.record = next;
        next += 1 + ino.spill.as_ref().map_or(0, |s| u64::from(s.extensions));
    }
    let per_cluster = (cluster / record_size as u64).max(1);
    p.mft_records = next.div_ceil(per_cluster) * per_cluster;

    // Directory indexes (their shape does not depend on the volume size).
    let vpb = p.geo.vcn_per_block();
    let by_dir = names_by_dir(&p, tree);
    for i in 0..p.inodes.len() {
        if matches!(p.inodes[i].content, Content::Dir { .. }) {
            let (t, outside) = dir_index(&p, tree, i, &by_dir, vpb)?;
            if let Content::Dir { index, bitmap, .. } = &mut p.inodes[i].content {
                *index = t;
                *bitmap = outside.then(Extent::default);
            }
        }
    }
    // `$R` keys collate as 32-bit words: the tag, then the reference.
    let mut tagged: Vec<(u32, u64)> = p
        .inodes
        .iter()
        .enumerate()
        .filter_map(|(i, ino)| match ino.content {
            Content::Symlink { tag, .. } => Some((tag, p.mref_of(i))),
            _ => None,
        })
        .collect();
    tagged.sort_by_key(|&(tag, r)| (tag, r as u32, (r >> 32) as u32));
    let reparse_entries: Vec<Entry> = tagged
        .into_iter()
        .map(|(tag, r)| reparse::index_entry(tag, r))
        .collect();
    let space_after_names = space - 0x60 - (0x18 + align8(0x42 + 2 * "$Reparse".len()));
    p.reparse_index = index::build(
        reparse_entries,
        space_after_names - 0x28 - index::ROOT_OVERHEAD,
        space_after_names - 0x28 - index::ROOT_OVERHEAD - 0x60 - 0x40,
        INDEX_BLOCK,
        vpb,
    );

    // Clusters and the volume size.
    let headroom = opts.headroom_bytes.div_ceil(cluster);
    match opts.size {
        Some(size) => {
            let total = (size / SECTOR - 1) * SECTOR / cluster;
            let used = allocate(&mut p, total);
            if used > total {
                let needed = (used + 1) * cluster;
                return Err(NtfsError::TooSmall { needed, size });
            }
            p.geo.total_clusters = total;
            p.geo.volume_bytes = size;
        }
        None => {
            let mut total = 0;
            loop {
                let want = allocate(&mut p, total).saturating_add(headroom);
                if want <= total {
                    break;
                }
                total = want;
            }
            allocate(&mut p, total);
            p.geo.total_clusters = total;
            p.geo.volume_bytes = (total + 1) * cluster;
        }
    }
    // The root's index also lists the system files, whose sizes are known
    // only now; the entries keep their lengths, so the shape is the same.
    let (t, _) = dir_index(&p, tree, 0, &by_dir, vpb)?;
    if let Content::Dir { index, .. } = &mut p.inodes[0].content {
        *index = t;
    }
    Ok(p)
}

/// Hands out clusters for a volume of `total` clusters; returns the
/// number used.
fn allocate(p: &mut NtfsPlan, total: u64) -> u64 {
    let g = p.geo;
    let mut next = 0u64;
    let mut take = |bytes: u64| {
        let e = Extent {
            lcn: next,
            clusters: g.clusters_for(bytes),
        };
        next += e.clusters;
        e
    };
    let volume_bytes = (total + 1) * g.cluster;
    p.log_bytes = log_bytes(volume_bytes, g.cluster);
    p.bitmap_bytes = align8(total.div_ceil(8) as usize) as u64;
    let mut s = SystemExtents {
        boot: take(BOOT_BYTES),
        ..Default::default()
    };
    s.mft = take(p.mft_records * g.record as u64);
    s.mft_bitmap = take(p.mft_bitmap_bytes());
    s.mirr = take(g.mirror_records() * g.record as u64);
    s.log = take(p.log_bytes);
    s.attrdef = take(super::attrdef::encode().len() as u64);
    s.bitmap = take(p.bitmap_bytes);
    s.upcase = take(2 * upcase::LEN as u64);
    s.sds = take(secure::SDS_BLOCK + secure::sds().len() as u64 - secure::SDS_BLOCK);
    s.reparse = take((p.reparse_index.blocks.len() * INDEX_BLOCK) as u64);
    for ino in p.inodes.iter_mut() {
        if let Content::Dir {
            index,
            alloc,
            bitmap,
        } = &mut ino.content
        {
            *alloc = take((index.blocks.len() * INDEX_BLOCK) as u64);
            if let Some(b) = bitmap {
                *b = take(index::bitmap(index.blocks.len()).len() as u64);
            }
        }
    }
    for ino in p.inodes.iter_mut() {
        if let Some(Spill {
            list: ListForm::NonResident(e),
            list_len,
            ..
        }) = &mut ino.spill
        {
            *e = take(*list_len);
        }
    }
    for ino in p.inodes.iter_mut() {
        if let Content::File {
            len,
            resident: false,
            alloc,
            segments,
        } = &mut ino.content
        {
            *alloc = match segments {
                Some(segs) => {
                    let n: u64 = segs.iter().map(|s| s.1).sum();
                    take(n * g.cluster)
                }
                None => take(*len),
            };
        }
    }
    p.sys = s;
    p.used_clusters = next;
    next
}

/// The `$STANDARD_INFORMATION` file attributes of an inode.
pub fn si_attributes(ino: &Inode) -> u32 {
    ino.attributes
}

/// Convenience for [`std_info::encode`] with the shared security ID.
pub fn si_value(times: &Times, attributes: u32) -> [u8; std_info::LEN] {
    std_info::encode(times, attributes, secure::SECURITY_ID)
}

/// The `$FILE_NAME` of a name (shared by the record and the index entry).
pub fn file_name_value(
    parent: u64,
    times: Times,
    sizes: (u64, u64),
    attributes: u32,
    reparse_tag: u32,
    name: &Name,
) -> FileName {
    FileName {
        parent,
        times,
        allocated: sizes.0,
        data: sizes.1,
        attributes,
        reparse_tag,
        namespace: name.namespace,
        name: name.units.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Timestamp;

    #[test]
    fn empty_tree_plans() {
        let tree = Tree::new(Meta::new(0o755, 0, 0, Timestamp::from_secs(0)));
        let p = plan(&tree, &NtfsOptions::default()).unwrap();
        assert_eq!(p.inodes.len(), 1);
        assert!(p.geo.total_clusters > p.used_clusters || p.opts.headroom_bytes == 0);
    }
}
