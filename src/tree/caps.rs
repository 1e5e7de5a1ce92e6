//! File capabilities: the `setcap`/`cap_from_text` text form and the
//! `security.capability` xattr value the kernel reads, encoded and decoded
//! side by side.
//!
//! The xattr is `struct vfs_cap_data` (linux/capability.h), revision 2,
//! 20 bytes, little-endian:
//! - 0x00 `magic_etc`: `VFS_CAP_REVISION_2` (0x0200_0000), plus
//!   `VFS_CAP_FLAGS_EFFECTIVE` (1) when the capabilities are effective;
//! - 0x04 `data[0].permitted`, 0x08 `data[0].inheritable`: capabilities
//!   0 to 31;
//! - 0x0C `data[1].permitted`, 0x10 `data[1].inheritable`: 32 to 63.
//!
//! A file has one effective bit, not a set: `e` must be given to every
//! capability of the clause or to none.

/// `VFS_CAP_REVISION_2`.
const REVISION_2: u32 = 0x0200_0000;
/// `VFS_CAP_FLAGS_EFFECTIVE`.
const FLAG_EFFECTIVE: u32 = 0x0000_0001;
/// Encoded size of revision 2.
pub const SIZE: usize = 20;
/// The xattr name.
pub const XATTR: &str = "security.capability";

/// Capability names by number (linux/capability.h, up to
/// `CAP_CHECKPOINT_RESTORE`), without the `cap_` prefix.
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A file's capability sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileCaps {
    pub permitted: u64,
    pub inheritable: u64,
    pub effective: bool,
}

fn bit(name: &str) -> Result<u64, String> {
    let n = name.trim().to_ascii_lowercase();
    let short = n.strip_prefix("cap_").unwrap_or(&n);
    if short == "all" {
        return Ok((1u64 << NAMES.len()) - 1);
    }
    NAMES
        .iter()
        .position(|c| *c == short)
        .map(|i| 1u64 << i)
        .ok_or_else(|| format!("unknown capability {name:?}"))
}

impl FileCaps {
    /// Parses the `setcap` text form: clauses separated by spaces, each
    /// `names` (comma-separated, or `all`) followed by operations `=`, `+`
    /// or `-` with flags from `eip`, e.g. `cap_net_raw,cap_net_admin=ep` or
    /// `cap_chown+ep cap_kill+i`.
    pub fn parse(text: &str) -> Result<FileCaps, String> {
        let mut sets = [0u64; 3]; // effective, inheritable, permitted
        if text.trim().is_empty() {
            return Err("empty capability text".into());
        }
        for clause in text.split_whitespace() {
            let op_at = clause
                .find(['=', '+', '-'])
                .ok_or_else(|| format!("{clause:?} has no operator (=, + or -)"))?;
            let (names, mut ops) = clause.split_at(op_at);
            // `=ep` alone means every capability, as in libcap.
            let mut caps = 0u64;
            if !names.is_empty() {
                for n in names.split(',') {
                    caps |= bit(n)?;
                }
            } else if ops.starts_with('=') {
                caps = bit("all")?;
            } else {
                return Err(format!("{clause:?} names no capability"));
            }
            while let Some(op) = ops.chars().next() {
                let rest = &ops[1..];
                let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
                let (flags, next) = rest.split_at(end);
                let mut mask = [false; 3];
                for f in flags.chars() {
                    match f {
                        'e' => mask[0] = true,
                        'i' => mask[1] = true,
                        'p' => mask[2] = true,
                        _ => return Err(format!("{clause:?}: unknown flag {f:?} (use e, i, p)")),
                    }
                }
                for (k, on) in mask.iter().enumerate() {
                    match op {
                        '=' => sets[k] = if *on { sets[k] | caps } else { sets[k] & !caps },
                        '+' if *on => sets[k] |= caps,
                        '-' if *on => sets[k] &= !caps,
                        _ => {}
                    }
                }
                ops = next;
            }
        }
        let [effective, inheritable, permitted] = sets;
        if effective != 0 && effective != permitted | inheritable {
            return Err(format!(
                "{text:?}: a file has one effective bit; give `e` to every capability or to none"
            ));
        }
        if permitted | inheritable == 0 {
            return Err(format!("{text:?} grants no capability"));
        }
        Ok(FileCaps {
            permitted,
            inheritable,
            effective: effective != 0,
        })
    }

    /// The `security.capability` value (revision 2).
    pub fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        let magic = REVISION_2 | if self.effective { FLAG_EFFECTIVE } else { 0 };
        b[0..4].copy_from_slice(&magic.to_le_bytes());
        let lo = |v: u64| (v as u32).to_le_bytes();
        let hi = |v: u64| ((v >> 32) as u32).to_le_bytes();
        b[4..8].copy_from_slice(&lo(self.permitted));
        b[8..12].copy_from_slice(&lo(self.inheritable));
        b[12..16].copy_from_slice(&hi(self.permitted));
        b[16..20].copy_from_slice(&hi(self.inheritable));
        b
    }

    /// Parses a revision-2 value; `None` for anything else.
    pub fn decode(b: &[u8]) -> Option<FileCaps> {
        let u = |o: usize| -> Option<u64> {
            Some(u64::from(u32::from_le_bytes(
                b.get(o..o + 4)?.try_into().ok()?,
            )))
        };
        let magic = u(0)? as u32;
        if b.len() != SIZE || magic & !FLAG_EFFECTIVE != REVISION_2 {
            return None;
        }
        Some(FileCaps {
            permitted: u(4)? | u(12)? << 32,
            inheritable: u(8)? | u(16)? << 32,
            effective: magic & FLAG_EFFECTIVE != 0,
        })
    }

    /// The text form `getcap` prints: `cap_a,cap_b=ep` (one clause per
    /// distinct flag set).
    pub fn to_text(&self) -> String {
        let e = if self.effective { "e" } else { "" };
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let (p, inh) = (self.permitted >> i & 1 == 1, self.inheritable >> i & 1 == 1);
            let flags = format!(
                "{e}{}{}",
                if inh { "i" } else { "" },
                if p { "p" } else { "" }
            );
            if !p && !inh {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == flags) {
                Some(g) => g.1.push(name),
                None => groups.push((flags, vec![name])),
            }
        }
        groups
            .iter()
            .map(|(f, names)| {
                let n: Vec<String> = names.iter().map(|n| format!("cap_{n}")).collect();
                format!("{}={f}", n.join(","))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_round_trip() {
        let c = FileCaps::parse("cap_net_bind_service+ep").unwrap();
        assert_eq!(c.permitted, 1 << 10);
        assert!(c.effective);
        let b = c.encode();
        assert_eq!(&b[..4], &[1, 0, 0, 2]);
        assert_eq!(&b[4..8], &[0, 4, 0, 0]);
        assert_eq!(FileCaps::decode(&b), Some(c));
        assert_eq!(c.to_text(), "cap_net_bind_service=ep");
        let two = FileCaps::parse("cap_net_raw,CAP_BPF=p cap_kill+i").unwrap();
        assert_eq!(two.permitted, 1 << 13 | 1 << 39);
        assert_eq!(two.inheritable, 1 << 5);
        assert_eq!(FileCaps::decode(&two.encode()), Some(two));
        assert_eq!(two.to_text(), "cap_kill=i cap_net_raw,cap_bpf=p");
        assert!(FileCaps::parse("cap_nonsense+ep").is_err());
        assert!(FileCaps::parse("cap_chown+x").is_err());
        assert!(FileCaps::parse("cap_chown+p cap_kill+ep").is_err());
        assert!(FileCaps::parse("cap_chown").is_err());
        assert!(FileCaps::decode(&[0; 12]).is_none());
    }
}
