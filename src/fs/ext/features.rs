//! Feature flags: the defaults per flavour and the `features` override list.

use super::{ExtError, ExtKind};

pub(super) const COMPAT_HAS_JOURNAL: u32 = 0x4;
pub(super) const COMPAT_EXT_ATTR: u32 = 0x8;
pub(super) const COMPAT_DIR_INDEX: u32 = 0x20;

pub(super) const INCOMPAT_FILETYPE: u32 = 0x2;
pub(super) const INCOMPAT_EXTENTS: u32 = 0x40;
pub(super) const INCOMPAT_64BIT: u32 = 0x80;
pub(super) const INCOMPAT_FLEX_BG: u32 = 0x200;

pub(super) const RO_SPARSE_SUPER: u32 = 0x1;
pub(super) const RO_LARGE_FILE: u32 = 0x2;
pub(super) const RO_HUGE_FILE: u32 = 0x8;
pub(super) const RO_DIR_NLINK: u32 = 0x20;
pub(super) const RO_EXTRA_ISIZE: u32 = 0x40;
pub(super) const RO_METADATA_CSUM: u32 = 0x400;

/// The flavour `blkid` reports for these feature words, so that `info`
/// agrees with it: ext4 when any feature ext3 does not know is on (in
/// e2fsprogs' terms, outside EXT3_FEATURE_{INCOMPAT,RO_COMPAT}_SUPP:
/// incompat filetype, recover and meta_bg; ro_compat sparse_super,
/// large_file and btree_dir), whether or not extents are; ext3 when a
/// journal is; else ext2.
pub(super) fn flavour(compat: u32, incompat: u32, ro_compat: u32) -> &'static str {
    const EXT3_INCOMPAT: u32 = INCOMPAT_FILETYPE | 0x4 | 0x10;
    const EXT3_RO_COMPAT: u32 = RO_SPARSE_SUPER | RO_LARGE_FILE | 0x4;
    if incompat & !EXT3_INCOMPAT != 0 || ro_compat & !EXT3_RO_COMPAT != 0 {
        "ext4"
    } else if compat & COMPAT_HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    }
}

/// (name, which word, bit). Only features this writer implements.
const KNOWN: &[(&str, u8, u32)] = &[
    ("has_journal", 0, COMPAT_HAS_JOURNAL),
    ("ext_attr", 0, COMPAT_EXT_ATTR),
    ("dir_index", 0, COMPAT_DIR_INDEX),
    ("filetype", 1, INCOMPAT_FILETYPE),
    ("extent", 1, INCOMPAT_EXTENTS),
    ("extents", 1, INCOMPAT_EXTENTS),
    ("64bit", 1, INCOMPAT_64BIT),
    ("flex_bg", 1, INCOMPAT_FLEX_BG),
    ("sparse_super", 2, RO_SPARSE_SUPER),
    ("large_file", 2, RO_LARGE_FILE),
    ("huge_file", 2, RO_HUGE_FILE),
    ("dir_nlink", 2, RO_DIR_NLINK),
    ("extra_isize", 2, RO_EXTRA_ISIZE),
    ("metadata_csum", 2, RO_METADATA_CSUM),
];

/// The three feature words of the superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
}

impl Features {
    /// What `mke2fs -t KIND` enables today (without resize_inode, which an
    /// image built to its final size does not need).
    pub fn defaults(kind: ExtKind) -> Self {
        let ext2 = Features {
            compat: COMPAT_EXT_ATTR | COMPAT_DIR_INDEX,
            incompat: INCOMPAT_FILETYPE,
            ro_compat: RO_SPARSE_SUPER | RO_LARGE_FILE,
        };
        match kind {
            ExtKind::Ext2 => ext2,
            ExtKind::Ext3 => Features {
                compat: ext2.compat | COMPAT_HAS_JOURNAL,
                ..ext2
            },
            ExtKind::Ext4 => Features {
                compat: ext2.compat | COMPAT_HAS_JOURNAL,
                incompat: ext2.incompat | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG,
                ro_compat: ext2.ro_compat
                    | RO_HUGE_FILE
                    | RO_DIR_NLINK
                    | RO_EXTRA_ISIZE
                    | RO_METADATA_CSUM,
            },
        }
    }

    /// Applies a `features` list: `"name"` adds, `"^name"` removes.
    pub fn apply(mut self, list: &[String]) -> Result<Self, ExtError> {
        for item in list {
            let (remove, name) = match item.strip_prefix('^') {
                Some(n) => (true, n),
                None => (false, item.as_str()),
            };
            let Some(&(_, word, bit)) = KNOWN.iter().find(|(n, _, _)| *n == name) else {
                let names: Vec<&str> = KNOWN.iter().map(|k| k.0).collect();
                return Err(ExtError::Option {
                    key: "features",
                    message: format!(
                        "unknown or unsupported feature {name:?}; supported: {}",
                        names.join(", ")
                    ),
                });
            };
            let w = match word {
                0 => &mut self.compat,
                1 => &mut self.incompat,
                _ => &mut self.ro_compat,
            };
            if remove {
                *w &= !bit;
            } else {
                *w |= bit;
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Rejects combinations the kernel or e2fsprogs refuse.
    pub fn validate(&self) -> Result<(), ExtError> {
        let bad = |m: &str| {
            Err(ExtError::Option {
                key: "features",
                message: m.to_string(),
            })
        };
        if self.has_incompat(INCOMPAT_64BIT) && !self.has_incompat(INCOMPAT_EXTENTS) {
            return bad("64bit requires extent");
        }
        if self.has_ro(RO_HUGE_FILE) && !self.has_ro(RO_LARGE_FILE) {
            return bad("huge_file requires large_file");
        }
        if !self.has_ro(RO_SPARSE_SUPER) {
            return bad("this writer always uses sparse_super; ^sparse_super is not supported");
        }
        if !self.has_incompat(INCOMPAT_FILETYPE) {
            return bad("this writer always uses filetype; ^filetype is not supported");
        }
        Ok(())
    }

    pub fn has_compat(&self, b: u32) -> bool {
        self.compat & b != 0
    }
    pub fn has_incompat(&self, b: u32) -> bool {
        self.incompat & b != 0
    }
    pub fn has_ro(&self, b: u32) -> bool {
        self.ro_compat & b != 0
    }
    pub fn journal(&self) -> bool {
        self.has_compat(COMPAT_HAS_JOURNAL)
    }
    pub fn extents(&self) -> bool {
        self.has_incompat(INCOMPAT_EXTENTS)
    }
    pub fn is_64bit(&self) -> bool {
        self.has_incompat(INCOMPAT_64BIT)
    }
    pub fn flex_bg(&self) -> bool {
        self.has_incompat(INCOMPAT_FLEX_BG)
    }
    pub fn csum(&self) -> bool {
        self.has_ro(RO_METADATA_CSUM)
    }
    pub fn dir_index(&self) -> bool {
        self.has_compat(COMPAT_DIR_INDEX)
    }
    pub fn dir_nlink(&self) -> bool {
        self.has_ro(RO_DIR_NLINK)
    }
    pub fn ext_attr(&self) -> bool {
        self.has_compat(COMPAT_EXT_ATTR)
    }

    /// Names of the enabled features, for reports.
    pub fn names(&self) -> Vec<&'static str> {
        KNOWN
            .iter()
            .filter(|(n, _, _)| *n != "extents")
            .filter(|(_, w, b)| match w {
                0 => self.compat & b != 0,
                1 => self.incompat & b != 0,
                _ => self.ro_compat & b != 0,
            })
            .map(|k| k.0)
            .collect()
    }
}
