//! dm-verity hash trees in the format `veritysetup format` writes
//! (cryptsetup's verity on-disk format, hash type 1): a version-1
//! superblock, then the tree with its top level first, SHA-256 of
//! `salt ‖ block` for every data and hash block.
//!
//! The planner is pure ([`plan`]: level sizes and offsets from the data
//! size); [`build`] reads the data through a callback and returns the hash
//! area and the root hash; the caller writes the area where the layout
//! says (after the data in the same image, or in its own partition).
//! Salt and UUID come from the seed, so the root hash is a function of the
//! data and the seed alone.

pub mod sig;
mod stream;
pub mod superblock;

pub use stream::write_tree;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// SHA-256 digests, stored in 32-byte slots.
const DIGEST: usize = 32;

/// Options of one hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityOptions {
    pub data_block_size: u32,
    pub hash_block_size: u32,
    /// Salt, hashed before each block (veritysetup uses 32 bytes).
    pub salt: Vec<u8>,
    pub uuid: [u8; 16],
}

impl VerityOptions {
    /// Defaults of `veritysetup format`, with a 32-byte salt and the UUID
    /// derived from the seed (roles `verity-salt` and `verity-uuid`;
    /// `index` separates several trees of one build).
    pub fn from_seed(seed: &str, index: u64) -> Self {
        let salt = crate::plan::ids::derive(seed, "verity-salt", index).to_vec();
        let uuid = *crate::plan::ids::uuid(seed, "verity-uuid", index).as_bytes();
        VerityOptions::new(salt, uuid)
    }

    /// Defaults of `veritysetup format` with the salt and UUID given.
    pub fn new(salt: Vec<u8>, uuid: [u8; 16]) -> Self {
        VerityOptions {
            data_block_size: 4096,
            hash_block_size: 4096,
            salt,
            uuid,
        }
    }
}

/// Why a hash tree cannot be planned or built.
#[derive(Debug, thiserror::Error)]
pub enum VerityError {
    #[error(
        "verity: {field} = {value} is not supported (must be a power of two from 512 to 65536)"
    )]
    BlockSize { field: &'static str, value: u32 },
    #[error("verity: the data is {size} bytes, not a multiple of the {block}-byte data block")]
    Unaligned { size: u64, block: u32 },
    #[error("verity: the data is empty")]
    Empty,
    #[error("verity: salt of {0} bytes (at most 256)")]
    Salt(usize),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
}

/// Level sizes and where everything goes, decided before any hashing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerityPlan {
    pub data_blocks: u64,
    pub data_block_size: u32,
    pub hash_block_size: u32,
    /// Hash blocks per level, level 0 (hashes of data blocks) first.
    pub level_blocks: Vec<u64>,
    /// Bytes of the hash area: the superblock block and the tree.
    pub hash_size: u64,
    #[serde(skip)]
    pub opts: VerityOptions,
}

impl VerityPlan {
    /// Offset of level `i` inside the hash area: the superblock block,
    /// then the levels from the top down.
    fn level_offset(&self, i: usize) -> u64 {
        let above: u64 = self.level_blocks[i + 1..].iter().sum();
        (1 + above) * u64::from(self.hash_block_size)
    }

    /// The superblock this tree carries.
    pub fn superblock(&self) -> superblock::Superblock {
        superblock::Superblock {
            version: 1,
            hash_type: 1,
            uuid: self.opts.uuid,
            algorithm: "sha256".into(),
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            data_blocks: self.data_blocks,
            salt: self.opts.salt.clone(),
        }
    }
}

fn check_block(field: &'static str, value: u32) -> Result<(), VerityError> {
    if value.is_power_of_two() && (512..=65536).contains(&value) {
        Ok(())
    } else {
        Err(VerityError::BlockSize { field, value })
    }
}

/// The hash-area size for `data_size` bytes of data with 4 KiB blocks and
/// SHA-256, without the salt (which does not change sizes). Lets a disk
/// planner size a verity partition before the data exists.
pub fn hash_size_for(data_size: u64) -> Result<u64, VerityError> {
    Ok(plan(data_size, &VerityOptions::new(vec![0; 32], [0; 16]))?.hash_size)
}

/// Plans the tree for `data_size` bytes.
pub fn plan(data_size: u64, opts: &VerityOptions) -> Result<VerityPlan, VerityError> {
    check_block("data_block_size", opts.data_block_size)?;
    check_block("hash_block_size", opts.hash_block_size)?;
    if opts.salt.len() > superblock::MAX_SALT {
        return Err(VerityError::Salt(opts.salt.len()));
    }
    let dbs = u64::from(opts.data_block_size);
    if data_size % dbs != 0 {
        return Err(VerityError::Unaligned {
            size: data_size,
            block: opts.data_block_size,
        });
    }
    let data_blocks = data_size / dbs;
    if data_blocks == 0 {
        return Err(VerityError::Empty);
    }
    let per_block = u64::from(opts.hash_block_size) / DIGEST as u64;
    // As veritysetup counts: levels until one block covers everything; a
    // single data block has no tree and its own hash is the root.
    let mut level_blocks = Vec::new();
    let mut n = data_blocks;
    while n > 1 {
        n = n.div_ceil(per_block);
        level_blocks.push(n);
    }
    let total: u64 = level_blocks.iter().sum();
    Ok(VerityPlan {
        data_blocks,
        data_block_size: opts.data_block_size,
        hash_block_size: opts.hash_block_size,
        hash_size: (1 + total) * u64::from(opts.hash_block_size),
        level_blocks,
        opts: opts.clone(),
    })
}

/// The result of [`build`].
#[derive(Debug, Clone)]
pub struct Built {
    /// The whole hash area: superblock block, then the tree.
    pub area: Vec<u8>,
    pub root_hash: [u8; 32],
}

fn salted(salt: &[u8], block: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(block);
    h.finalize().into()
}

/// Hashes the data blocks of a chunk into `out` (32 bytes each), on up to
/// two threads: the blocks are independent, the order fixed.
fn hash_blocks(salt: &[u8], data: &[u8], bs: usize, out: &mut [u8]) {
    let n = data.len() / bs;
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(4);
    if threads < 2 || n < 64 {
        for (i, blk) in data.chunks_exact(bs).enumerate() {
            out[i * DIGEST..(i + 1) * DIGEST].copy_from_slice(&salted(salt, blk));
        }
        return;
    }
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        for (d, o) in data.chunks(per * bs).zip(out.chunks_mut(per * DIGEST)) {
            s.spawn(move || {
                for (i, blk) in d.chunks_exact(bs).enumerate() {
                    o[i * DIGEST..(i + 1) * DIGEST].copy_from_slice(&salted(salt, blk));
                }
            });
        }
    });
}

/// Reads `buf.len()` bytes of the data at an offset from its start.
pub type ReadData<'a> = &'a mut dyn FnMut(u64, &mut [u8]) -> Result<(), crate::io::IoError>;

/// Builds the tree over the data that `read(offset, buf)` returns.
pub fn build(plan: &VerityPlan, read: ReadData) -> Result<Built, VerityError> {
    let dbs = plan.data_block_size as usize;
    let hbs = plan.hash_block_size as usize;
    let salt = &plan.opts.salt;
    let area_len = usize::try_from(plan.hash_size).map_err(|_| VerityError::Empty)?;
    let mut area = vec![0u8; area_len];
    area[..superblock::SIZE].copy_from_slice(&plan.superblock().encode());

    // Level 0: the digest of every data block, streamed in large chunks.
    let per_chunk = (8 << 20) / dbs;
    let mut buf = vec![0u8; per_chunk.min(plan.data_blocks as usize) * dbs];
    let mut digests = vec![0u8; per_chunk * DIGEST];
    let per_hash_block = hbs / DIGEST;
    if plan.level_blocks.is_empty() {
        let mut one = vec![0u8; dbs];
        read(0, &mut one)?;
        return Ok(Built {
            area,
            root_hash: salted(salt, &one),
        });
    }
    let l0 = plan.level_offset(0) as usize;
    let mut done = 0u64;
    while done < plan.data_blocks {
        let n = (plan.data_blocks - done).min(per_chunk as u64) as usize;
        let chunk = &mut buf[..n * dbs];
        read(done * dbs as u64, chunk)?;
        hash_blocks(salt, chunk, dbs, &mut digests[..n * DIGEST]);
        for (i, d) in digests[..n * DIGEST].chunks_exact(DIGEST).enumerate() {
            let k = done as usize + i;
            let at = l0 + (k / per_hash_block) * hbs + (k % per_hash_block) * DIGEST;
            area[at..at + DIGEST].copy_from_slice(d);
        }
        done += n as u64;
    }
    // Upper levels hash the blocks of the level below.
    for lvl in 1..plan.level_blocks.len() {
        let below = plan.level_offset(lvl - 1) as usize;
        let here = plan.level_offset(lvl) as usize;
        for k in 0..plan.level_blocks[lvl - 1] as usize {
            let d = salted(salt, &area[below + k * hbs..below + (k + 1) * hbs]);
            let at = here + (k / per_hash_block) * hbs + (k % per_hash_block) * DIGEST;
            area[at..at + DIGEST].copy_from_slice(&d);
        }
    }
    let top = plan.level_offset(plan.level_blocks.len() - 1) as usize;
    let root_hash = salted(salt, &area[top..top + hbs]);
    Ok(Built { area, root_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sizes_follow_veritysetup() {
        let o = VerityOptions::new(vec![0; 32], [0; 16]);
        let p = plan(130 * 4096, &o).unwrap();
        assert_eq!(p.level_blocks, vec![2, 1]);
        assert_eq!(p.hash_size, 4 * 4096);
        assert_eq!(p.level_offset(1), 4096);
        assert_eq!(p.level_offset(0), 8192);
        assert_eq!(plan(128 * 4096, &o).unwrap().level_blocks, vec![1]);
        assert_eq!(plan(4096, &o).unwrap().level_blocks, Vec::<u64>::new());
        assert_eq!(
            plan((1 << 30) / 4096 * 4096, &o).unwrap().level_blocks,
            vec![2048, 16, 1]
        );
        assert!(matches!(plan(100, &o), Err(VerityError::Unaligned { .. })));
        assert!(matches!(plan(0, &o), Err(VerityError::Empty)));
    }
}
