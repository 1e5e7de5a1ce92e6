//! Globs over image paths, for `[[filesystem.rules]]`.
//!
//! A pattern is an absolute path whose components may use `*` (any run of
//! characters inside one component, including a leading dot), `?` (one
//! character), `[abc]`, `[a-z]`, `[!abc]`/`[^abc]` (one character of / not
//! of a class), and a whole component `**` (zero or more components, so
//! `/usr/**` matches `/usr` itself and everything below it). `\` escapes
//! the next character. Names that are not UTF-8 are matched through their
//! lossy decoding.

/// One element of a compiled component pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Comp {
    /// `**`: zero or more whole components.
    Deep,
    Toks(Vec<Tok>),
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    comps: Vec<Comp>,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if !pattern.starts_with('/') {
            return Err(format!(
                "glob {pattern:?} must be an absolute image path starting with \"/\""
            ));
        }
        let mut comps = Vec::new();
        for c in pattern.split('/').filter(|c| !c.is_empty()) {
            if c == "**" {
                // `**/**` means the same as `**`; one keeps matching cheap.
                if comps.last() != Some(&Comp::Deep) {
                    comps.push(Comp::Deep);
                }
            } else {
                comps.push(Comp::Toks(
                    compile(c).map_err(|m| format!("glob {pattern:?}: {m}"))?,
                ));
            }
        }
        Ok(Glob { comps })
    }

    /// Whether an image path (`/usr/bin/ls`, `/` for the root) matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        match_comps(&self.comps, &parts)
    }
}

fn compile(c: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = c.chars().peekable();
    while let Some(ch) = it.next() {
        match ch {
            '*' => {
                if out.last() != Some(&Tok::Star) {
                    out.push(Tok::Star);
                }
            }
            '?' => out.push(Tok::Any),
            '\\' => out.push(Tok::Lit(it.next().ok_or("trailing \"\\\"")?)),
            '[' => {
                let negated = matches!(it.peek(), Some('!' | '^'));
                if negated {
                    it.next();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let lo = match it.next() {
                        None => return Err("unclosed \"[\"".into()),
                        Some(']') if !first => break,
                        Some('\\') => it.next().ok_or("unclosed \"[\"")?,
                        Some(x) => x,
                    };
                    first = false;
                    let mut hi = lo;
                    if it.peek() == Some(&'-') {
                        let mut look = it.clone();
                        look.next();
                        match look.peek() {
                            Some(']') | None => {}
                            Some(_) => {
                                it.next();
                                hi = it.next().ok_or("unclosed \"[\"")?;
                                if hi == '\\' {
                                    hi = it.next().ok_or("unclosed \"[\"")?;
                                }
                                if hi < lo {
                                    return Err(format!("empty range {lo}-{hi}"));
                                }
                            }
                        }
                    }
                    ranges.push((lo, hi));
                }
                out.push(Tok::Class { negated, ranges });
            }
            x => out.push(Tok::Lit(x)),
        }
    }
    Ok(out)
}

fn match_comps(pat: &[Comp], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((Comp::Deep, rest)) => {
            (0..=parts.len()).any(|skip| match_comps(rest, parts.get(skip..).unwrap_or(&[])))
        }
        Some((Comp::Toks(toks), rest)) => match parts.split_first() {
            Some((first, more)) => {
                let chars: Vec<char> = first.chars().collect();
                match_toks(toks, &chars) && match_comps(rest, more)
            }
            None => false,
        },
    }
}

/// Matches one component. Iterative with one backtrack point for the last
/// `*`, so the cost stays linear-ish even for hostile patterns.
fn match_toks(toks: &[Tok], s: &[char]) -> bool {
    let (mut t, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        match (toks.get(t), s.get(i)) {
            (Some(Tok::Star), _) => {
                star = Some((t, i));
                t += 1;
                continue;
            }
            (Some(tok), Some(&c)) if one(tok, c) => {
                t += 1;
                i += 1;
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        match star {
            Some((st, si)) if si < s.len() => {
                star = Some((st, si + 1));
                t = st + 1;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::Any => true,
        Tok::Star => false,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::new(p).unwrap().matches(path)
    }

    #[test]
    fn star_stays_in_component() {
        assert!(m("/usr/bin/*", "/usr/bin/ls"));
        assert!(m("/usr/bin/*", "/usr/bin/.hidden"));
        assert!(!m("/usr/bin/*", "/usr/bin"));
        assert!(!m("/usr/bin/*", "/usr/bin/x/y"));
        assert!(m("/etc/*.conf", "/etc/a.conf"));
        assert!(!m("/etc/*.conf", "/etc/a.conf.bak"));
        assert!(m("/a*b*c", "/aXXbYYbc"));
    }

    #[test]
    fn double_star_crosses() {
        assert!(m("/usr/**", "/usr"));
        assert!(m("/usr/**", "/usr/lib/x/y.so"));
        assert!(m("/**/*.sh", "/a/b/c.sh"));
        assert!(m("/**/*.sh", "/c.sh"));
        assert!(!m("/**/*.sh", "/c.shx"));
        assert!(m("/**", "/"));
        assert!(m("/a/**/z", "/a/z"));
        assert!(m("/a/**/z", "/a/b/c/z"));
    }

    #[test]
    fn question_and_classes() {
        assert!(m("/dev/tty?", "/dev/tty1"));
        assert!(!m("/dev/tty?", "/dev/tty10"));
        assert!(m("/dev/sd[a-c]", "/dev/sdb"));
        assert!(!m("/dev/sd[a-c]", "/dev/sdd"));
        assert!(m("/dev/sd[!a-c]", "/dev/sdd"));
        assert!(m("/x/[]]", "/x/]"));
        assert!(m("/x/[a-]", "/x/-"));
        assert!(m("/x/\\*", "/x/*"));
        assert!(!m("/x/\\*", "/x/y"));
        assert!(m("/é?", "/éü"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Glob::new("usr/*").is_err());
        assert!(Glob::new("/x/[ab").is_err());
        assert!(Glob::new("/x/[z-a]").is_err());
        assert!(Glob::new("/x\\").is_err());
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let p = format!("/{}b", "*a".repeat(30));
        let s = format!("/{}", "a".repeat(200));
        assert!(!m(&p, &s));
    }
}
