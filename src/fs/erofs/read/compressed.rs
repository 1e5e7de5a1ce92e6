//! Reading compressed files (`EROFS_INODE_COMPRESSED_FULL`, see
//! [`super::super::zmap`]): the extent that holds a byte is found through
//! the lcluster indexes (back to its head, on to the next head for its
//! end), its block is read and decompressed, and the wanted bytes copied
//! out. Hostile maps give `Corrupt`: every walk is bounded, every length
//! capped.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::super::lz4;
use super::super::zmap::{self, Index};
use super::ReadError;
use super::{corrupt, Image, Node, Reader};

/// Most lclusters one walk visits, and the longest extent read (far more
/// than the writer's 16 blocks).
const MAX_STEPS: u32 = 1 << 12;
const MAX_EXTENT: u64 = 1 << 22;

impl<I: Image + ?Sized> Reader<I> {
    /// [`Reader::read_at`] for a compressed inode.
    pub(super) fn read_compressed(
        &self,
        n: &Node,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, ReadError> {
        let size = n.inode.size;
        let bs = self.block;
        let want = (buf.len() as u64).min(size.saturating_sub(offset));
        let map_at = n
            .after_xattrs
            .checked_next_multiple_of(8)
            .and_then(|a| a.checked_add(zmap::HEADER as u64))
            .ok_or(corrupt("compressed map", n.after_xattrs))?;
        let lclusters = size.div_ceil(bs);
        let index = |lcn: u64| -> Result<Index, ReadError> {
            if lcn >= lclusters {
                return Err(corrupt("lcluster past the end of the file", map_at));
            }
            let at = lcn
                .checked_mul(zmap::INDEX as u64)
                .and_then(|o| map_at.checked_add(o))
                .ok_or(corrupt("lcluster index", map_at))?;
            let raw: [u8; 8] = self
                .read(at, 8)?
                .try_into()
                .map_err(|_| corrupt("lcluster index", at))?;
            zmap::decode_index(&raw)
                .ok_or_else(|| ReadError::Incompatible("a second compression algorithm".into()))
        };
        let mut done = 0u64;
        while done < want {
            let pos = offset.saturating_add(done);
            let (start, plain, blk) = extent_start(&index, pos, bs)?;
            let end = extent_end(&index, start, size, bs, lclusters)?;
            let len = end.saturating_sub(start);
            if len == 0 || len > MAX_EXTENT || (plain && len > bs) || pos >= end {
                return Err(corrupt("compressed extent length", map_at));
            }
            let at = u64::from(blk)
                .checked_mul(bs)
                .ok_or(corrupt("pcluster address", map_at))?;
            let block = self.read(at, bs)?;
            let content = if plain {
                block.get(..len as usize).map(<[u8]>::to_vec)
            } else {
                // ZERO_PADDING: the LZ4 bytes start after the zeros.
                let z = block.iter().take_while(|&&b| b == 0).count();
                block
                    .get(z..)
                    .and_then(|lz| lz4::decompress(lz, len as usize))
            }
            .ok_or(corrupt("compressed block", at))?;
            let from = pos.saturating_sub(start);
            let k = end.min(offset.saturating_add(want)).saturating_sub(pos);
            let src = content
                .get(from as usize..from.saturating_add(k) as usize)
                .ok_or(corrupt("compressed extent", at))?;
            buf.get_mut(done as usize..done.saturating_add(k) as usize)
                .ok_or(corrupt("compressed extent", at))?
                .copy_from_slice(src);
            done = done.saturating_add(k);
        }
        Ok(want as usize)
    }
}

/// The start of the extent holding byte `pos`, whether it is stored
/// plain, and its block: back from `pos`'s lcluster to the head at or
/// before it.
fn extent_start(
    index: &dyn Fn(u64) -> Result<Index, ReadError>,
    pos: u64,
    bs: u64,
) -> Result<(u64, bool, u32), ReadError> {
    let mut lcn = pos.checked_div(bs).unwrap_or(0);
    // Within this lcluster, how far `pos` is (a whole lcluster once we
    // have stepped back).
    let mut ofs = pos.checked_rem(bs).unwrap_or(0);
    for _ in 0..MAX_STEPS {
        let back = match index(lcn)? {
            Index::Head {
                plain,
                clusterofs,
                blkaddr,
            } if u64::from(clusterofs) <= ofs => {
                let start = lcn
                    .checked_mul(bs)
                    .and_then(|s| s.checked_add(u64::from(clusterofs)))
                    .ok_or(corrupt("extent start", lcn))?;
                return Ok((start, plain, blkaddr));
            }
            Index::Head { .. } => 1,
            Index::NonHead { back, .. } => u64::from(back),
        };
        lcn = lcn
            .checked_sub(back)
            .filter(|_| back > 0)
            .ok_or(corrupt("lcluster index pointing back past the start", lcn))?;
        ofs = bs;
    }
    Err(corrupt("lcluster indexes that never reach a head", lcn))
}

/// Where the extent starting at `start` ends: the next head after it, or
/// the end of the file.
fn extent_end(
    index: &dyn Fn(u64) -> Result<Index, ReadError>,
    start: u64,
    size: u64,
    bs: u64,
    lclusters: u64,
) -> Result<u64, ReadError> {
    let mut lcn = start.checked_div(bs).unwrap_or(0).saturating_add(1);
    for _ in 0..MAX_STEPS {
        if lcn >= lclusters {
            return Ok(size);
        }
        match index(lcn)? {
            Index::Head { clusterofs, .. } => {
                return Ok(lcn
                    .saturating_mul(bs)
                    .saturating_add(u64::from(clusterofs))
                    .min(size));
            }
            Index::NonHead { ahead, .. } => {
                if ahead == 0 {
                    return Err(corrupt("lcluster index pointing nowhere ahead", lcn));
                }
                lcn = lcn.saturating_add(u64::from(ahead));
            }
        }
    }
    Err(corrupt(
        "lcluster indexes that never reach the next head",
        lcn,
    ))
}
