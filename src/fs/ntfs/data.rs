//! A non-resident file's data: which clusters hold bytes (with
//! `sparse = true`, the all-zero ones become holes) and the run list that
//! maps them.

use super::layout::Extent;
use super::runlist::Run;
use super::NtfsError;
use crate::tree::{FileData, NodeId, Tree};

/// The run list of a non-resident file of `len` bytes whose data clusters
/// start at `lcn`, holes where `segments` leave gaps.
pub fn file_runs(len: u64, cluster: u64, lcn: u64, segments: &Option<Vec<(u64, u64)>>) -> Vec<Run> {
    let Some(segs) = segments else {
        return Extent {
            lcn,
            clusters: len.div_ceil(cluster),
        }
        .runs();
    };
    let mut runs = Vec::with_capacity(2 * segs.len() + 1);
    let (mut vcn, mut at) = (0u64, lcn);
    for &(start, n) in segs {
        if start > vcn {
            runs.push(Run {
                lcn: None,
                len: start - vcn,
            });
        }
        runs.push(Run {
            lcn: Some(at),
            len: n,
        });
        at += n;
        vcn = start + n;
    }
    let total = len.div_ceil(cluster);
    if total > vcn {
        runs.push(Run {
            lcn: None,
            len: total - vcn,
        });
    }
    runs
}

/// The clusters of a file of `len` bytes that hold non-zero bytes, as
/// (VCN, clusters) ranges; `None` when that is every cluster.
pub fn segments(
    tree: &Tree,
    node: NodeId,
    len: u64,
    cluster: u64,
) -> Result<Option<Vec<(u64, u64)>>, NtfsError> {
    let bytes = match &tree.node(node).kind {
        crate::tree::NodeKind::File {
            data: FileData::Host { path, .. },
            ..
        } => crate::io::nonzero_segments(path, len, cluster)?,
        crate::tree::NodeKind::File {
            data: FileData::Inline(v),
            ..
        } => crate::io::nonzero_segments_in(v, cluster),
        _ => return Ok(None),
    };
    let segs: Vec<(u64, u64)> = bytes
        .iter()
        .map(|&(s, e)| (s / cluster, e.div_ceil(cluster) - s / cluster))
        .collect();
    if segs.len() == 1 && segs[0] == (0, len.div_ceil(cluster)) {
        return Ok(None);
    }
    Ok(Some(segs))
}
