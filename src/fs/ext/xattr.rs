//! Extended attributes: in the inode's spare space when they all fit, else
//! in one external block (kernel docs, "Extended Attributes").

use super::csum;

const MAGIC: u32 = 0xEA02_0000;
/// Bytes of the in-inode region taken by its 4-byte magic header.
const IBODY_HEADER: usize = 4;
/// Bytes of the external block header.
const BLOCK_HEADER: usize = 32;
/// Bytes of the fixed part of an entry (before the name).
const ENTRY: usize = 16;
/// `i_extra_isize` this writer uses.
pub const EXTRA_ISIZE: usize = 32;

/// Name prefixes and their index numbers; longest prefixes first so that
/// `system.posix_acl_access` wins over `system.`.
const PREFIXES: &[(&str, u8)] = &[
    ("system.posix_acl_access", 2),
    ("system.posix_acl_default", 3),
    ("user.", 1),
    ("trusted.", 4),
    ("security.", 6),
    ("system.", 7),
];

fn split_name(name: &str) -> Option<(u8, &[u8])> {
    for (p, idx) in PREFIXES {
        if let Some(rest) = name.strip_prefix(p) {
            return Some((*idx, rest.as_bytes()));
        }
    }
    None
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Inode,
    Block,
}

struct Item<'a> {
    index: u8,
    suffix: &'a [u8],
    /// The value as stored: POSIX ACLs converted to the on-disk format.
    value: std::borrow::Cow<'a, [u8]>,
}

fn items(xattrs: &[(String, Vec<u8>)]) -> Result<Vec<Item<'_>>, String> {
    let mut v = Vec::with_capacity(xattrs.len());
    for (name, value) in xattrs {
        let (index, suffix) = split_name(name).ok_or_else(|| {
            format!("xattr {name:?} has no known namespace (user., trusted., security., system.)")
        })?;
        if suffix.len() > 255 {
            return Err(format!("xattr name {name:?} is longer than 255 bytes"));
        }
        let value = if super::acl::is_acl(name) {
            std::borrow::Cow::Owned(
                super::acl::to_disk(value).map_err(|m| format!("xattr {name:?}: {m}"))?,
            )
        } else {
            std::borrow::Cow::Borrowed(value.as_slice())
        };
        v.push(Item {
            index,
            suffix,
            value,
        });
    }
    // The kernel searches block entries in (index, name length, name) order.
    v.sort_by(|a, b| (a.index, a.suffix.len(), a.suffix).cmp(&(b.index, b.suffix.len(), b.suffix)));
    Ok(v)
}

fn space(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| pad4(ENTRY + i.suffix.len()) + pad4(i.value.len()))
        .sum::<usize>()
        + 4 // the terminating zero word
}

/// Decides where a node's xattrs go, or says why they cannot be stored.
pub fn placement(
    xattrs: &[(String, Vec<u8>)],
    inode_size: u16,
    block_size: u32,
) -> Result<Placement, String> {
    let it = items(xattrs)?;
    let need = space(&it);
    let ibody = (inode_size as usize).saturating_sub(128 + EXTRA_ISIZE + IBODY_HEADER);
    if need <= ibody {
        Ok(Placement::Inode)
    } else if need <= block_size as usize - BLOCK_HEADER {
        Ok(Placement::Block)
    } else {
        Err(format!(
            "xattrs need {need} bytes; at most {} fit in one block",
            block_size as usize - BLOCK_HEADER
        ))
    }
}

/// The entry hash: name bytes then value words, as the kernel computes it.
fn entry_hash(suffix: &[u8], value: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in suffix {
        // The kernel hashes names as signed chars.
        h = (h << 5) ^ (h >> 27) ^ (c as i8 as i32 as u32);
    }
    let mut words = value.chunks(4);
    for w in &mut words {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(b);
    }
    h
}

/// Lays entries from `entries_at` and values from the end of `region`
/// (value offsets relative to `value_base`). Returns the entry hashes.
fn pack(region: &mut [u8], entries_at: usize, value_base: usize, it: &[Item]) -> Vec<u32> {
    let mut e = entries_at;
    let mut v_end = region.len();
    let mut hashes = Vec::new();
    for i in it {
        let vlen = pad4(i.value.len());
        v_end -= vlen;
        region[v_end..v_end + i.value.len()].copy_from_slice(&i.value);
        let h = entry_hash(i.suffix, &i.value);
        hashes.push(h);
        region[e] = i.suffix.len() as u8;
        region[e + 1] = i.index;
        region[e + 2..e + 4].copy_from_slice(&((v_end - value_base) as u16).to_le_bytes());
        region[e + 4..e + 8].fill(0); // e_value_inum
        region[e + 8..e + 12].copy_from_slice(&(i.value.len() as u32).to_le_bytes());
        region[e + 12..e + 16].copy_from_slice(&h.to_le_bytes());
        region[e + 16..e + 16 + i.suffix.len()].copy_from_slice(i.suffix);
        e += pad4(ENTRY + i.suffix.len());
    }
    hashes
}

/// Writes in-inode xattrs into `inode` (a full on-disk inode of
/// `inode_size` bytes, `i_extra_isize` = 32).
pub fn write_ibody(inode: &mut [u8], xattrs: &[(String, Vec<u8>)]) -> Result<(), String> {
    let it = items(xattrs)?;
    let start = 128 + EXTRA_ISIZE;
    let region = &mut inode[start..];
    region[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    // In-inode value offsets count from the first entry.
    let body = &mut region[IBODY_HEADER..];
    pack(body, 0, 0, &it);
    Ok(())
}

/// Builds an external xattr block stored at block number `block`.
pub fn build_block(
    xattrs: &[(String, Vec<u8>)],
    block_size: u32,
    block: u64,
    fs_seed: Option<u32>,
) -> Result<Vec<u8>, String> {
    let it = items(xattrs)?;
    let mut buf = vec![0u8; block_size as usize];
    buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[4..8].copy_from_slice(&1u32.to_le_bytes()); // h_refcount
    buf[8..12].copy_from_slice(&1u32.to_le_bytes()); // h_blocks
    let hashes = pack(&mut buf, BLOCK_HEADER, 0, &it);
    // Block hash over the entry hashes.
    let mut h: u32 = 0;
    for eh in hashes {
        h = (h << 16) ^ (h >> 16) ^ eh;
    }
    buf[12..16].copy_from_slice(&h.to_le_bytes());
    if let Some(seed) = fs_seed {
        let c = csum::xattr_block(seed, block, &buf);
        buf[16..20].copy_from_slice(&c.to_le_bytes());
    }
    Ok(buf)
}
