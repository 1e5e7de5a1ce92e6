//! The genext2fs / makedevs device table format.
//!
//! One entry per line:
//!
//! ```text
//! <path> <type> <mode> <uid> <gid> <major> <minor> <start> <inc> <count>
//! /dev/console  c 600 0 0 5 1 - - -
//! /dev/hda      b 640 0 0 3 1 1 1 4     # hda1..hda4, minors 1..4
//! ```
//!
//! `type` is `d` (directory), `f` (existing regular file: set its metadata),
//! `c`/`b` (character/block device) or `p` (fifo). `mode` is octal. `-`
//! means 0 for any numeric field, and trailing fields may be left out. `#`
//! starts a comment. A `count` above 0 makes a series (genext2fs's
//! documented behaviour): for `i` in `0..count`, the name is `<path>`
//! followed by the decimal number `start + i`, and the minor number is
//! `minor + i * inc` — `hda1..hda4` with minors 1..4 above. Series are only
//! for `c`, `b` and `p` lines.

use std::path::Path;

/// Kinds of device table lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevType {
    Dir,
    File,
    Char,
    Block,
    Fifo,
}

/// One node the table asks for (series already expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevEntry {
    /// Image path, absolute.
    pub path: String,
    pub kind: DevType,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub major: u32,
    pub minor: u32,
    /// 1-based line of the table this came from.
    pub line: usize,
}

/// A line that cannot be understood: `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevTableError {
    pub line: usize,
    pub message: String,
}

/// Series longer than this are almost surely a typo (and would blow up the
/// tree).
const MAX_SERIES: u64 = 65_536;

fn num(field: &str, name: &str, radix: u32) -> Result<u64, String> {
    if field == "-" {
        return Ok(0);
    }
    u64::from_str_radix(field, radix).map_err(|_| {
        let kind = if radix == 8 {
            "an octal number"
        } else {
            "a number"
        };
        format!("{name} {field:?} is not {kind} (or \"-\")")
    })
}

fn num32(field: &str, name: &str) -> Result<u32, String> {
    u32::try_from(num(field, name, 10)?).map_err(|_| format!("{name} {field:?} is too large"))
}

/// Parses a whole table.
pub fn parse(text: &str) -> Result<Vec<DevEntry>, DevTableError> {
    let mut out = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        parse_line(&fields, line, &mut out).map_err(|message| DevTableError { line, message })?;
    }
    Ok(out)
}

fn parse_line(fields: &[&str], line: usize, out: &mut Vec<DevEntry>) -> Result<(), String> {
    if fields.len() < 5 {
        return Err(
            "expected <path> <type> <mode> <uid> <gid> [<major> <minor> <start> <inc> <count>]"
                .into(),
        );
    }
    if fields.len() > 10 {
        return Err(format!("{} fields; a line has at most 10", fields.len()));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("-");
    let path = field(0);
    crate::spec::check_image_path(path)?;
    let kind = match field(1) {
        "d" => DevType::Dir,
        "f" => DevType::File,
        "c" => DevType::Char,
        "b" => DevType::Block,
        "p" => DevType::Fifo,
        t => return Err(format!("type {t:?} is not one of d, f, c, b, p")),
    };
    let mode = num(field(2), "mode", 8)?;
    if mode > 0o7777 {
        return Err(format!("mode {} is above 07777", field(2)));
    }
    let mode = mode as u16;
    let uid = num32(field(3), "uid")?;
    let gid = num32(field(4), "gid")?;
    let major = num32(field(5), "major")?;
    let minor = num32(field(6), "minor")?;
    let start = num(field(7), "start", 10)?;
    let inc = num(field(8), "inc", 10)?;
    let count = num(field(9), "count", 10)?;
    let base = DevEntry {
        path: path.to_string(),
        kind,
        mode,
        uid,
        gid,
        major,
        minor,
        line,
    };
    if count == 0 {
        out.push(base);
        return Ok(());
    }
    if matches!(kind, DevType::Dir | DevType::File) {
        return Err("a series (count > 0) is only for c, b and p lines".into());
    }
    if count > MAX_SERIES {
        return Err(format!("count {count} is above {MAX_SERIES}"));
    }
    let stem = path.trim_end_matches('/');
    for i in 0..count {
        let n = start
            .checked_add(i)
            .ok_or_else(|| "series numbers overflow".to_string())?;
        let m = i
            .checked_mul(inc)
            .and_then(|d| d.checked_add(u64::from(minor)))
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| "series minor numbers overflow".to_string())?;
        let name = format!("{stem}{n}");
        crate::spec::check_image_path(&name)?;
        out.push(DevEntry {
            path: name,
            minor: m,
            ..base.clone()
        });
    }
    Ok(())
}

/// Reads and parses a table file.
pub fn load(path: &Path) -> Result<Vec<DevEntry>, (Option<usize>, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| (None, format!("cannot read: {e}")))?;
    parse(&text).map_err(|e| (Some(e.line), e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_dash_fields() {
        let t = "# comment\n\n/dev d 755 0 0 - - - - -\n/dev/console c 600 0 5 5 1 - - - # tty\n/dev/fifo p 644 1 2\n";
        let e = parse(t).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].path.as_str(), e[0].kind, e[0].mode, e[0].line),
            ("/dev", DevType::Dir, 0o755, 3)
        );
        assert_eq!(
            (e[1].kind, e[1].mode, e[1].gid, e[1].major, e[1].minor),
            (DevType::Char, 0o600, 5, 5, 1)
        );
        assert_eq!((e[2].kind, e[2].uid, e[2].gid), (DevType::Fifo, 1, 2));
    }

    #[test]
    fn series() {
        let e = parse("/dev/hda b 640 0 0 3 1 1 1 4\n/dev/tty c 600 0 0 4 0 0 2 3\n").unwrap();
        let got: Vec<(&str, u32)> = e.iter().map(|d| (d.path.as_str(), d.minor)).collect();
        assert_eq!(
            got,
            [
                ("/dev/hda1", 1),
                ("/dev/hda2", 2),
                ("/dev/hda3", 3),
                ("/dev/hda4", 4),
                ("/dev/tty0", 0),
                ("/dev/tty1", 2),
                ("/dev/tty2", 4)
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("/dev d 755 0\n", "expected"),
            ("/dev x 755 0 0\n", "type"),
            ("/dev d 789 0 0\n", "mode"),
            ("/dev d 17777 0 0\n", "mode"),
            ("dev d 755 0 0\n", "absolute"),
            ("/dev c 600 0 0 1 2 0 1 99999999\n", "count"),
            ("/dev/x d 755 0 0 0 0 0 1 3\n", "series"),
            ("/dev c 600 0 0 1 4294967295 0 1 2\n", "overflow"),
            ("/dev c 600 zero 0\n", "uid"),
        ];
        for (t, want) in cases {
            let text = format!("# header\n{t}");
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, 2, "{t}");
            assert!(err.message.contains(want), "{t}: {}", err.message);
        }
    }
}
