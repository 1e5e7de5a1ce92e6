//! Volume geometry: sector and cluster counts, FAT size, region offsets
//! (Microsoft FAT specification, "FAT Type Determination" and "FAT Data
//! Structure"). The FAT width follows from the cluster count alone, as the
//! specification requires: fewer than 4085 clusters is FAT12, fewer than
//! 65525 is FAT16, anything else FAT32.
//!
//! Default cluster sizes follow mkfs.fat's choices: the classic floppy
//! formats for floppy sizes; for FAT12/16, 2 KiB clusters, doubled until
//! the count fits FAT16; for FAT32 (and for "fat" from 512 MiB on), the
//! table Microsoft's format uses (512 B up to 260 MiB, 4 KiB up to 8 GiB,
//! 8 KiB up to 16 GiB, 16 KiB up to 32 GiB, 32 KiB above).

use serde::Serialize;

/// Bytes per sector. fstool writes 512-byte sectors only.
pub const SECTOR: u32 = 512;
/// Largest cluster the specification allows for compatibility.
pub const MAX_CLUSTER_BYTES: u32 = 32 * 1024;
/// FAT12 has fewer clusters than this.
pub const FAT12_LIMIT: u32 = 4085;
/// FAT16 has fewer clusters than this.
pub const FAT16_LIMIT: u32 = 65525;
/// Cluster numbers above this are reserved in FAT32 (28-bit entries).
pub const FAT32_MAX_CLUSTERS: u32 = 0x0FFF_FFF5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

impl FatType {
    pub fn name(self) -> &'static str {
        match self {
            FatType::Fat12 => "fat12",
            FatType::Fat16 => "fat16",
            FatType::Fat32 => "fat32",
        }
    }
    /// Bits per FAT entry.
    pub fn bits(self) -> u64 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }
    /// The type a volume of `clusters` data clusters is, by the spec's rule.
    pub fn from_cluster_count(clusters: u32) -> FatType {
        if clusters < FAT12_LIMIT {
            FatType::Fat12
        } else if clusters < FAT16_LIMIT {
            FatType::Fat16
        } else {
            FatType::Fat32
        }
    }
    /// Default reserved sectors: the boot sector (FAT12/16); boot record,
    /// FSInfo and their backups (FAT32, Microsoft's 32).
    fn default_reserved(self) -> u32 {
        match self {
            FatType::Fat32 => 32,
            _ => 1,
        }
    }
}

/// Everything about the layout of one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Geometry {
    pub fat_type: FatType,
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    pub reserved_sectors: u32,
    pub fats: u32,
    /// Root directory entries (FAT12/16); 0 on FAT32.
    pub root_entries: u32,
    /// Sectors of the volume (may be less than the device).
    pub total_sectors: u32,
    /// Sectors per FAT.
    pub fat_sectors: u32,
    /// Data clusters, numbered 2..cluster_count+2.
    pub cluster_count: u32,
    pub media: u8,
    pub sectors_per_track: u16,
    pub heads: u16,
    pub hidden_sectors: u32,
}

impl Geometry {
    pub fn cluster_bytes(&self) -> u32 {
        self.sectors_per_cluster * self.bytes_per_sector
    }
    pub fn root_dir_sectors(&self) -> u32 {
        (self.root_entries * 32).div_ceil(self.bytes_per_sector)
    }
    /// Byte offset of FAT number `i`.
    pub fn fat_offset(&self, i: u32) -> u64 {
        (u64::from(self.reserved_sectors) + u64::from(i) * u64::from(self.fat_sectors))
            * u64::from(self.bytes_per_sector)
    }
    /// Byte offset of the fixed root directory (FAT12/16).
    pub fn root_dir_offset(&self) -> u64 {
        self.fat_offset(self.fats)
    }
    pub fn data_offset(&self) -> u64 {
        self.root_dir_offset()
            + u64::from(self.root_dir_sectors()) * u64::from(self.bytes_per_sector)
    }
    /// Byte offset of cluster `c` (c >= 2).
    pub fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset() + u64::from(c - 2) * u64::from(self.cluster_bytes())
    }
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.total_sectors) * u64::from(self.bytes_per_sector)
    }
}

/// Geometry choices the caller made; `None` means default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choices {
    pub fat_type: Option<FatType>,
    pub cluster_bytes: Option<u32>,
    pub reserved_sectors: Option<u32>,
    pub fats: u32,
    pub root_entries: Option<u32>,
    /// Root entries the tree needs (FAT12/16); the default grows to fit.
    pub root_needed: u32,
    pub hidden_sectors: u32,
}

/// Why no geometry exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// The volume is too small or too large for the requested type.
    NoFit(String),
}

/// A classic floppy format: total sectors, sectors per cluster, root
/// entries, media byte, sectors per track, heads.
const FLOPPIES: [(u32, u32, u32, u8, u16, u16); 5] = [
    (720, 2, 112, 0xfd, 9, 2),
    (1440, 2, 112, 0xf9, 9, 2),
    (2400, 1, 224, 0xf9, 15, 2),
    (2880, 1, 224, 0xf0, 18, 2),
    (5760, 2, 240, 0xf0, 36, 2),
];

fn floppy(total: u32) -> Option<(u32, u32, u32, u8, u16, u16)> {
    FLOPPIES.iter().copied().find(|f| f.0 == total)
}

/// Microsoft's FAT32 cluster size for a volume of `total` sectors.
fn fat32_default_spc(total: u32) -> u32 {
    let mib = (u64::from(total) * u64::from(SECTOR)) >> 20;
    match mib {
        0..=260 => 1,
        261..=8192 => 8,
        8193..=16384 => 16,
        16385..=32768 => 32,
        _ => 64,
    }
}

/// Lays out a volume of `total` sectors with the given type and cluster
/// size. Returns `None` when the regions alone do not fit.
fn layout(
    total: u32,
    t: FatType,
    spc: u32,
    c: &Choices,
    floppy_root: Option<u32>,
) -> Option<Geometry> {
    let root_entries = match t {
        FatType::Fat32 => 0,
        _ => match c.root_entries {
            Some(n) => n,
            None => floppy_root
                .unwrap_or(512)
                .max(c.root_needed.div_ceil(16) * 16)
                .min(0xfff0),
        },
    };
    let root_sectors = (root_entries * 32).div_ceil(SECTOR);
    let mut reserved = c.reserved_sectors.unwrap_or(t.default_reserved());
    // FAT32 keeps FSInfo at 1 and the backup boot record at 6 and 7.
    if t == FatType::Fat32 && reserved < 8 {
        return None;
    }
    let avail = total.checked_sub(reserved)?.checked_sub(root_sectors)?;
    // FAT size: enough entries for every cluster the space could hold if
    // the FATs took no room (an upper bound), plus the two reserved ones.
    let upper = u64::from(avail / spc) + 2;
    let fat_sectors =
        u32::try_from((upper * t.bits()).div_ceil(8).div_ceil(u64::from(SECTOR))).ok()?;
    let fat_total = c.fats.checked_mul(fat_sectors)?;
    // Align the data region to the cluster (at most 4 KiB) unless the
    // caller pinned the reserved area or this is a tiny volume, as mkfs.fat
    // does; padding goes into the reserved area.
    if c.reserved_sectors.is_none() && floppy_root.is_none() {
        let align = spc.min(8);
        let data_start = reserved + fat_total + root_sectors;
        reserved += (align - data_start % align) % align;
    }
    let data = total
        .checked_sub(reserved)?
        .checked_sub(fat_total)?
        .checked_sub(root_sectors)?;
    let clusters = data / spc;
    if clusters == 0 {
        return None;
    }
    let (media, spt, heads) = match floppy(total) {
        Some(f) if floppy_root.is_some() => (f.3, f.4, f.5),
        _ => (0xf8, 63, 255),
    };
    Some(Geometry {
        fat_type: t,
        bytes_per_sector: SECTOR,
        sectors_per_cluster: spc,
        reserved_sectors: reserved,
        fats: c.fats,
        root_entries,
        total_sectors: total,
        fat_sectors,
        cluster_count: clusters,
        media,
        sectors_per_track: spt,
        heads,
        hidden_sectors: c.hidden_sectors,
    })
}

fn fits_type(g: &Geometry) -> bool {
    FatType::from_cluster_count(g.cluster_count) == g.fat_type
        && g.cluster_count <= FAT32_MAX_CLUSTERS
}

/// Chooses the geometry of a volume of `total` sectors.
pub fn choose(total: u32, c: &Choices) -> Result<Geometry, GeometryError> {
    let types: Vec<FatType> = match c.fat_type {
        Some(t) => vec![t],
        None if u64::from(total) * u64::from(SECTOR) >= 512 << 20 => {
            vec![FatType::Fat32, FatType::Fat16, FatType::Fat12]
        }
        None => vec![FatType::Fat12, FatType::Fat16, FatType::Fat32],
    };
    if let Some(bytes) = c.cluster_bytes {
        let spc = bytes / SECTOR;
        for &t in &types {
            if let Some(g) = layout(total, t, spc, c, None) {
                if fits_type(&g) {
                    return Ok(g);
                }
            }
        }
        return Err(GeometryError::NoFit(format!(
            "{} sectors with {bytes}-byte clusters give no cluster count valid for {}",
            total,
            types
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    // Floppy formats first, when the size is one and FAT12 is allowed.
    if let Some(f) = floppy(total) {
        if types.contains(&FatType::Fat12) && c.reserved_sectors.is_none() {
            let fc = Choices {
                root_entries: c
                    .root_entries
                    .or(Some(f.2.max(c.root_needed.div_ceil(16) * 16).min(0xfff0))),
                ..*c
            };
            if let Some(g) = layout(total, FatType::Fat12, f.1, &fc, Some(f.2)) {
                if fits_type(&g) {
                    return Ok(g);
                }
            }
        }
    }
    let start = match types[0] {
        FatType::Fat32 => fat32_default_spc(total),
        _ => 4,
    };
    // Grow the cluster from the default, then shrink it, and take the first
    // (size, type) whose cluster count is valid for the type.
    let mut order = Vec::new();
    let mut spc = start;
    while spc * SECTOR <= MAX_CLUSTER_BYTES {
        order.push(spc);
        spc *= 2;
    }
    let mut spc = start / 2;
    while spc >= 1 {
        order.push(spc);
        spc /= 2;
    }
    // FAT12/16 are tried together (the smaller width wins at each size)
    // before FAT32, so "fat" below 512 MiB stays FAT16 like mkfs.fat does.
    let groups: Vec<Vec<FatType>> = if types.len() == 1 {
        vec![types.clone()]
    } else if types[0] == FatType::Fat32 {
        vec![vec![FatType::Fat32], vec![FatType::Fat12, FatType::Fat16]]
    } else {
        vec![vec![FatType::Fat12, FatType::Fat16], vec![FatType::Fat32]]
    };
    for group in &groups {
        for &spc in &order {
            for &t in group {
                if let Some(g) = layout(total, t, spc, c, None) {
                    if fits_type(&g) {
                        return Ok(g);
                    }
                }
            }
        }
    }
    Err(GeometryError::NoFit(format!(
        "{} bytes hold no valid {} volume",
        u64::from(total) * u64::from(SECTOR),
        types
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(t: Option<FatType>) -> Choices {
        Choices {
            fat_type: t,
            fats: 2,
            ..Choices::default()
        }
    }

    #[test]
    fn floppy_1440k_is_classic() {
        let g = choose(2880, &ch(None)).unwrap();
        assert_eq!(g.fat_type, FatType::Fat12);
        assert_eq!(g.sectors_per_cluster, 1);
        assert_eq!(g.root_entries, 224);
        assert_eq!(g.fat_sectors, 9);
        assert_eq!(g.media, 0xf0);
        assert_eq!(g.reserved_sectors, 1);
    }

    #[test]
    fn sizes_pick_types_like_mkfs() {
        let g = choose(64 << 11, &ch(None)).unwrap();
        assert_eq!((g.fat_type, g.sectors_per_cluster), (FatType::Fat16, 4));
        let g = choose(256 << 11, &ch(None)).unwrap();
        assert_eq!((g.fat_type, g.sectors_per_cluster), (FatType::Fat16, 8));
        let g = choose(1024 << 11, &ch(None)).unwrap();
        assert_eq!((g.fat_type, g.sectors_per_cluster), (FatType::Fat32, 8));
        let g = choose(260 << 11, &ch(Some(FatType::Fat32))).unwrap();
        assert_eq!((g.fat_type, g.sectors_per_cluster), (FatType::Fat32, 1));
        assert_eq!(g.data_offset() % 512, 0);
        assert!(choose(16 << 11, &ch(Some(FatType::Fat32))).is_err());
    }

    #[test]
    fn every_choice_respects_the_count_rule() {
        for mib in [1u32, 2, 3, 5, 8, 9, 16, 33, 100, 511, 600, 3000] {
            for t in [
                None,
                Some(FatType::Fat12),
                Some(FatType::Fat16),
                Some(FatType::Fat32),
            ] {
                if let Ok(g) = choose(mib << 11, &ch(t)) {
                    assert_eq!(FatType::from_cluster_count(g.cluster_count), g.fat_type);
                    let entries = u64::from(g.fat_sectors) * 512 * 8 / g.fat_type.bits();
                    assert!(entries >= u64::from(g.cluster_count) + 2);
                    assert!(
                        g.data_offset() + u64::from(g.cluster_count) * u64::from(g.cluster_bytes())
                            <= g.volume_bytes()
                    );
                }
            }
        }
    }
}
