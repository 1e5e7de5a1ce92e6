//! Bitmaps, group descriptors, superblock copies and the journal
//! superblock.

use crate::fs::ext::csum;
use crate::fs::ext::layout::{ExtPlan, FIRST_INO};
use crate::fs::ext::ondisk::{self, GroupCounts};
use crate::fs::ext::ExtError;
use crate::io::BlockDevice;

/// The jbd2 superblock (version 2) of a clean, empty journal. jbd2 is
/// big-endian.
pub(super) fn journal_superblock(plan: &ExtPlan) -> Vec<u8> {
    let mut b = vec![0u8; plan.geo.block_size as usize];
    let be = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    be(&mut b, 0x0, 0xC03B_3998); // h_magic
    be(&mut b, 0x4, 4); // h_blocktype: superblock v2
    be(&mut b, 0xC, plan.geo.block_size); // s_blocksize
    be(&mut b, 0x10, plan.geo.journal_blocks); // s_maxlen
    be(&mut b, 0x14, 1); // s_first
    be(&mut b, 0x18, 1); // s_sequence
    be(&mut b, 0x1C, 0); // s_start: 0 = clean
    b[0x30..0x40].copy_from_slice(&plan.opts.uuid); // s_uuid
    be(&mut b, 0x40, 1); // s_nr_users
    b
}

/// Bitmaps, group descriptors and every superblock copy.
pub(super) fn write_group_metadata(
    plan: &ExtPlan,
    dev: &mut dyn BlockDevice,
    fs_seed: u32,
    jnl: Option<[u32; 17]>,
) -> Result<(), ExtError> {
    let geo = &plan.geo;
    let bs = geo.block_size as u64;
    let ipg = geo.inodes_per_group;
    let mut counts = vec![GroupCounts::default(); geo.groups as usize];

    // Inode bitmaps: reserved inodes 1..10, then every planned inode.
    let mut used_inodes: Vec<u32> = (1..FIRST_INO).collect();
    used_inodes.extend(
        plan.inodes
            .iter()
            .map(|i| i.ino)
            .filter(|&i| i >= FIRST_INO),
    );
    used_inodes.sort_unstable();
    used_inodes.dedup();
    let mut dirs_per_group = vec![0u32; geo.groups as usize];
    for ip in &plan.inodes {
        if ip.dir.is_some() {
            dirs_per_group[geo.group_of_ino(ip.ino) as usize] += 1;
        }
    }
    let mut it = used_inodes.iter().peekable();
    for g in 0..geo.groups {
        let mut bm = vec![0xFFu8; bs as usize];
        bm[..(ipg / 8) as usize].fill(0);
        let lo = g * ipg + 1;
        let hi = lo + ipg;
        let mut used = 0u32;
        let mut last = 0u32;
        while let Some(&&i) = it.peek() {
            if i >= hi {
                break;
            }
            let k = i - lo;
            bm[(k / 8) as usize] |= 1 << (k % 8);
            used += 1;
            last = k + 1;
            it.next();
        }
        let c = &mut counts[g as usize];
        c.free_inodes = ipg - used;
        c.itable_unused = ipg - last;
        c.used_dirs = dirs_per_group[g as usize];
        c.inode_bitmap_csum = csum::bitmap(fs_seed, &bm[..(ipg / 8) as usize]);
        dev.write_at(plan.groups[g as usize].inode_bitmap * bs, &bm)?;
    }

    // Block bitmaps from the used ranges.
    let bpg = geo.blocks_per_group as u64;
    let mut ranges = plan.used.iter().copied().peekable();
    for g in 0..geo.groups {
        let start = geo.group_start(g);
        let len = geo.group_len(g);
        let end = start + len;
        let mut bm = vec![0u8; bs as usize];
        // Bits past the end of a short last group are set, and so is the
        // padding past blocks_per_group when it is capped below the bitmap
        // block's bit count (block sizes of 8 KiB and more).
        for k in len..8 * bs {
            bm[(k / 8) as usize] |= 1 << (k % 8);
        }
        let mut used = 0u64;
        while let Some(&(s, e)) = ranges.peek() {
            if s >= end {
                break;
            }
            let (a, b) = (s.max(start), e.min(end));
            for blk in a..b {
                let k = blk - start;
                bm[(k / 8) as usize] |= 1 << (k % 8);
            }
            used += b.saturating_sub(a);
            if e <= end {
                ranges.next();
            } else {
                break;
            }
        }
        let c = &mut counts[g as usize];
        c.free_blocks = (len - used) as u32;
        c.block_bitmap_csum = csum::bitmap(fs_seed, &bm[..(bpg / 8) as usize]);
        if !crate::io::is_zero(&bm) {
            dev.write_at(plan.groups[g as usize].block_bitmap * bs, &bm)?;
        }
    }

    // Descriptor table.
    let mut gdt = Vec::with_capacity(geo.gdt_blocks as usize * bs as usize);
    for g in 0..geo.groups {
        gdt.extend(ondisk::group_desc(
            plan,
            g,
            &plan.groups[g as usize],
            &counts[g as usize],
            fs_seed,
        ));
    }
    // Superblock and descriptor copies.
    for g in 0..geo.groups {
        if !geo.has_super(g) {
            continue;
        }
        let sb = ondisk::superblock(plan, g, jnl);
        let sb_off = if g == 0 {
            1024
        } else {
            geo.group_start(g) * bs
        };
        dev.write_at(sb_off, &sb)?;
        let gdt_off = (geo.group_start(g) + 1) * bs;
        dev.write_at(gdt_off, &gdt)?;
    }
    Ok(())
}
