//! `permissions`: what becomes of the modes a source tree brings along.
//!
//! A Nix store path is 0444/0555 throughout and a Bazel checkout carries
//! whatever the checkout left; neither is what an image should hold. The
//! policy applies to the entries that come from `source` (a directory or a
//! tar archive), before `entries`, the device table and `rules`, which can
//! still set any mode.

use crate::spec::{parse_mode, PermissionsSpec};

/// A parsed `permissions` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permissions {
    /// Modes as the source has them.
    #[default]
    Source,
    /// Directories 0755; files 0755 when the source has any execute bit,
    /// else 0644; setuid, setgid and sticky bits cleared. Symlinks,
    /// devices, fifos and sockets keep their modes.
    Canonical,
    /// Every mode but a symlink's becomes `(mode & !clear) | set`.
    Masks { clear: u16, set: u16 },
}

/// What a mode belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Dir,
    File,
    Symlink,
    /// Devices, fifos and sockets.
    Special,
}

impl Permissions {
    /// Parses the spec value; the message names what is wrong.
    pub fn parse(p: Option<&PermissionsSpec>) -> Result<Permissions, String> {
        match p {
            None => Ok(Permissions::Source),
            Some(PermissionsSpec::Named(n)) => match n.as_str() {
                "source" => Ok(Permissions::Source),
                "canonical" => Ok(Permissions::Canonical),
                other => Err(format!(
                    "{other:?} is not a permissions policy; use \"source\", \"canonical\" or \
                     {{ clear = \"0022\", set = \"0444\" }}"
                )),
            },
            Some(PermissionsSpec::Masks(m)) => {
                let get = |v: &Option<crate::spec::ModeSpec>| v.as_ref().map_or(Ok(0), parse_mode);
                Ok(Permissions::Masks {
                    clear: get(&m.clear)?,
                    set: get(&m.set)?,
                })
            }
        }
    }

    /// The mode an entry of `target` with source mode `mode` gets.
    pub fn apply(self, mode: u16, target: Target) -> u16 {
        match (self, target) {
            (Permissions::Source, _) | (_, Target::Symlink) => mode,
            (Permissions::Canonical, Target::Dir) => 0o755,
            (Permissions::Canonical, Target::File) if mode & 0o111 != 0 => 0o755,
            (Permissions::Canonical, Target::File) => 0o644,
            (Permissions::Canonical, Target::Special) => mode,
            (Permissions::Masks { clear, set }, _) => ((mode & !clear) | set) & 0o7777,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ModeSpec, PermissionMasks};

    #[test]
    fn canonical_and_masks() {
        let c = Permissions::Canonical;
        assert_eq!(c.apply(0o555, Target::Dir), 0o755);
        assert_eq!(c.apply(0o444, Target::File), 0o644);
        assert_eq!(c.apply(0o4511, Target::File), 0o755);
        assert_eq!(c.apply(0o100, Target::File), 0o755);
        assert_eq!(c.apply(0o777, Target::Symlink), 0o777);
        let m = Permissions::parse(Some(&PermissionsSpec::Masks(PermissionMasks {
            clear: Some(ModeSpec::Octal("0022".into())),
            set: Some(ModeSpec::Octal("0200".into())),
        })))
        .unwrap();
        assert_eq!(m.apply(0o555, Target::Dir), 0o755);
        assert_eq!(m.apply(0o666, Target::File), 0o644);
        assert!(Permissions::parse(Some(&PermissionsSpec::Named("loose".into()))).is_err());
    }
}
