//! Building a hash tree straight onto the device, level by level, so that
//! memory stays at one 8 MiB chunk whatever the data size (the in-memory
//! [`super::build`] holds the whole area: 1/128 of the data). Level 0's
//! digests are contiguous in the area (a hash block holds a whole number
//! of them), so each chunk's digests go out as one write; each upper level
//! is hashed from the level below, read back from the device.

use super::{hash_blocks, salted, VerityError, VerityPlan, DIGEST};
use crate::io::BlockDevice;

/// Bytes read per step.
const CHUNK: usize = 8 << 20;

/// Hashes `blocks` blocks of `bs` bytes at `from` into contiguous digests
/// at `to`, then zero-fills the rest of the last hash block.
fn level(
    dev: &mut dyn BlockDevice,
    salt: &[u8],
    (from, blocks, bs): (u64, u64, usize),
    (to, hash_blocks_out, hbs): (u64, u64, usize),
) -> Result<(), VerityError> {
    let per = (CHUNK / bs).max(1);
    let mut buf = vec![0u8; per.min(blocks as usize) * bs];
    let mut digests = vec![0u8; per * DIGEST];
    let mut done = 0u64;
    while done < blocks {
        let n = (blocks - done).min(per as u64) as usize;
        let chunk = &mut buf[..n * bs];
        dev.read_at(from + done * bs as u64, chunk)?;
        hash_blocks(salt, chunk, bs, &mut digests[..n * DIGEST]);
        dev.write_at(to + done * DIGEST as u64, &digests[..n * DIGEST])?;
        done += n as u64;
    }
    let used = blocks * DIGEST as u64;
    let tail = hash_blocks_out * hbs as u64 - used;
    if tail > 0 {
        dev.write_at(to + used, &vec![0u8; tail as usize])?;
    }
    Ok(())
}

/// Hashes the data `plan` covers, read from `dev` at `data_offset`, and
/// writes the hash area at `hash_offset`. Returns the root hash.
pub fn write_tree(
    plan: &VerityPlan,
    dev: &mut dyn BlockDevice,
    data_offset: u64,
    hash_offset: u64,
) -> Result<[u8; 32], VerityError> {
    let dbs = plan.data_block_size as usize;
    let hbs = plan.hash_block_size as usize;
    let salt = plan.opts.salt.clone();
    let mut sb = vec![0u8; hbs];
    sb[..super::superblock::SIZE].copy_from_slice(&plan.superblock().encode());
    dev.write_at(hash_offset, &sb)?;
    let Some(&top_blocks) = plan.level_blocks.last() else {
        // One data block: its own hash is the root.
        let mut one = vec![0u8; dbs];
        dev.read_at(data_offset, &mut one)?;
        return Ok(salted(&salt, &one));
    };
    debug_assert_eq!(top_blocks, 1);
    let at = |i: usize| hash_offset + plan.level_offset(i);
    level(
        dev,
        &salt,
        (data_offset, plan.data_blocks, dbs),
        (at(0), plan.level_blocks[0], hbs),
    )?;
    for lvl in 1..plan.level_blocks.len() {
        level(
            dev,
            &salt,
            (at(lvl - 1), plan.level_blocks[lvl - 1], hbs),
            (at(lvl), plan.level_blocks[lvl], hbs),
        )?;
    }
    let mut top = vec![0u8; hbs];
    dev.read_at(at(plan.level_blocks.len() - 1), &mut top)?;
    Ok(salted(&salt, &top))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemDevice;
    use crate::verity::{build, plan, VerityOptions};

    #[test]
    fn streaming_equals_the_in_memory_tree() {
        let o = VerityOptions::from_seed("stream", 0);
        for blocks in [1usize, 2, 127, 128, 129, 300, 16_385] {
            let data: Vec<u8> = (0..blocks * 4096).map(|i| (i * 31 % 251) as u8).collect();
            let p = plan(data.len() as u64, &o).unwrap();
            let want = build(&p, &mut |off, buf| {
                buf.copy_from_slice(&data[off as usize..off as usize + buf.len()]);
                Ok(())
            })
            .unwrap();
            let mut dev = MemDevice::new(data.len() + p.hash_size as usize);
            dev.data[..data.len()].copy_from_slice(&data);
            // Old bytes where the area goes must not leak into it.
            dev.data[data.len()..].fill(0xee);
            let root = write_tree(&p, &mut dev, 0, data.len() as u64).unwrap();
            assert_eq!(root, want.root_hash, "{blocks} blocks");
            assert!(
                dev.data[data.len()..] == want.area[..],
                "{blocks} blocks: area"
            );
        }
    }
}
