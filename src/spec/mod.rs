//! Manifest parsing: TOML and JSON into one typed model ([`model::Spec`]).
//!
//! Parsing runs in two steps. Serde turns the text into a [`Spec`], rejecting
//! unknown keys and wrong types; [`validate`] then checks what types cannot
//! say (sizes, modes, paths, per-type required keys). Every error names the
//! key path (`filesystem.entries[2].mode`) and, for TOML, the line, so a
//! user can jump straight to the mistake.

mod keypath;
pub mod model;
mod schema;
pub(crate) mod validate;
pub mod values;

pub use keypath::{KeyPath, Seg};
pub use model::*;
pub use schema::schema;
pub use validate::{check_image_path, parse_mode, size_bytes, validate};

use std::path::Path;

/// A manifest that could not be read or is invalid. `key` is the key path
/// (`filesystem.entries[2].mode`); `line` is set for TOML (and for JSON
/// syntax errors).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}{}: {key}{}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), if key.is_empty() { "" } else { ": " })]
    Invalid {
        file: String,
        line: Option<usize>,
        key: String,
        message: String,
    },
    /// An environment variable the build reads (`SOURCE_DATE_EPOCH`) holds
    /// something unusable.
    #[error("environment variable {name}={value:?} is invalid: {message}")]
    Env {
        name: String,
        value: String,
        message: String,
    },
}

/// Parses a manifest given as text. `name` is used in messages; its
/// extension picks the syntax (`.json` is JSON, anything else TOML) unless
/// the text starts with `{`. The result is validated ([`validate`]).
pub fn parse_str(text: &str, name: &str) -> Result<Spec, SpecError> {
    let is_json = name.ends_with(".json") || text.trim_start().starts_with('{');
    if is_json {
        parse_json(text, name)
    } else {
        parse_toml(text, name)
    }
}

fn parse_json(text: &str, name: &str) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let raw = strip_json_position(&e.inner().to_string());
        let (key, message) = describe_serde_error(e.path(), &raw);
        SpecError::Invalid {
            file: name.to_string(),
            line: Some(e.inner().line()),
            key: key.to_string(),
            message,
        }
    })?;
    de.end().map_err(|e| SpecError::Invalid {
        file: name.to_string(),
        line: Some(e.line()),
        key: String::new(),
        message: strip_json_position(&e.to_string()),
    })?;
    validate(&spec).map_err(|(key, message)| SpecError::Invalid {
        file: name.to_string(),
        line: None,
        key: key.to_string(),
        message,
    })?;
    Ok(spec)
}

fn parse_toml(text: &str, name: &str) -> Result<Spec, SpecError> {
    let de = toml::Deserializer::new(text);
    let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
        let (key, message) = describe_serde_error(e.path(), e.inner().message());
        // The parser's span is exact for syntax errors and wrong values;
        // for unknown keys we prefer the key's own line.
        let line = keypath::toml_line(text, &key)
            .filter(|_| message.starts_with("unknown key"))
            .or_else(|| e.inner().span().map(|s| keypath::line_of(text, s.start)))
            .or_else(|| keypath::toml_line(text, &key));
        SpecError::Invalid {
            file: name.to_string(),
            line,
            key: key.to_string(),
            message,
        }
    })?;
    validate(&spec).map_err(|(key, message)| SpecError::Invalid {
        file: name.to_string(),
        line: keypath::toml_line(text, &key),
        key: key.to_string(),
        message,
    })?;
    check_toml_modes(&spec, text, name)?;
    Ok(spec)
}

/// `mode = 755` in TOML is the decimal number 755 (octal 1363: sticky,
/// write-only) — almost surely meant as octal. TOML can say `0o755`, so a
/// numeric mode above 7 must be written that way. (JSON has no octal
/// literals, so there a number is taken as it is.)
fn check_toml_modes(spec: &Spec, text: &str, name: &str) -> Result<(), SpecError> {
    for (key, n) in validate::numeric_modes(spec) {
        let Some(repr) = keypath::toml_integer_repr(text, &key) else {
            continue;
        };
        if n > 7 && !repr.starts_with("0o") {
            let hint = if repr.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                format!("write 0o{repr} or \"{repr}\" if you meant octal")
            } else {
                "write modes in octal, e.g. 0o755 or \"0755\"".to_string()
            };
            return Err(SpecError::Invalid {
                file: name.to_string(),
                line: keypath::toml_line(text, &key),
                key: key.to_string(),
                message: format!("mode {repr} is a decimal number (= octal {n:o}); {hint}"),
            });
        }
    }
    Ok(())
}

/// serde_json appends " at line L column C"; we report the line ourselves.
fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Turns serde's path and message into our key path and a message a user
/// can act on. An unknown key is appended to the path, so the path names the
/// offending key itself.
fn describe_serde_error(path: &serde_path_to_error::Path, message: &str) -> (KeyPath, String) {
    let mut key = KeyPath::from_serde(path);
    let message = message.trim_end().to_string();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            // serde_path_to_error usually has the key already (it saw it
            // as a map key); add it when it does not.
            if key.0.last() != Some(&Seg::Key(field.to_string())) {
                key.push_key(field);
            }
            let expected = expected.trim_start_matches(',').trim();
            return (key, format!("unknown key `{field}` ({expected})"));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((field, _)) = rest.split_once('`') {
            key.push_key(field);
            return (key, format!("required key `{field}` is missing"));
        }
    }
    if message.starts_with("data did not match any variant of untagged enum") {
        let what = match message.rsplit(' ').next().unwrap_or("") {
            "ModeSpec" => "a mode: a number (0o755 in TOML) or an octal string such as \"0755\"",
            "SizeSpec" => "a size: a byte count, a string such as \"64MiB\", or \"auto\"",
            "CountSpec" => "a non-negative number or a string",
            "HeadroomSpec" => {
                "a percentage such as \"10%\", a size such as \"16MiB\", or a byte count"
            }
            "XattrValue" => "a string, or a table { base64 = \"...\" }",
            "AttributesSpec" => "a list of attribute names or a 64-bit number",
            _ => "a value of another type",
        };
        return (key, format!("expected {what}"));
    }
    (key, message)
}

/// Reads a manifest and deep-merges overlay files (TOML or JSON) over it,
/// in order: tables merge key by key, an overlay's scalar values win, and
/// its arrays (`entries`, `rules`, `partitions`, ...) are appended. This is
/// how a checked-in spec file extends the manifest a build rule writes.
/// Errors in the merged result name the key path (without a line number).
pub fn load_with_overlays(path: &Path, overlays: &[std::path::PathBuf]) -> Result<Spec, SpecError> {
    if overlays.is_empty() {
        return load(path);
    }
    let base_spec = load(path)?;
    let mut merged = serde_json::to_value(&base_spec).map_err(|e| SpecError::Invalid {
        file: path.display().to_string(),
        line: None,
        key: String::new(),
        message: e.to_string(),
    })?;
    for o in overlays {
        let text = std::fs::read_to_string(o).map_err(|source| SpecError::Read {
            path: o.clone(),
            source,
        })?;
        let name = o.display().to_string();
        let syntax_error = |message: String, line: Option<usize>| SpecError::Invalid {
            file: name.clone(),
            line,
            key: String::new(),
            message,
        };
        let value: serde_json::Value = if name.ends_with(".json")
            || text.trim_start().starts_with('{')
        {
            serde_json::from_str(&text).map_err(|e| syntax_error(e.to_string(), Some(e.line())))?
        } else {
            toml::from_str(&text).map_err(|e| syntax_error(e.message().to_string(), None))?
        };
        if !value.is_object() {
            return Err(syntax_error(
                "an overlay must be a table of manifest keys".into(),
                None,
            ));
        }
        merge_json(&mut merged, value);
    }
    let names: Vec<String> = std::iter::once(path.display().to_string())
        .chain(overlays.iter().map(|o| o.display().to_string()))
        .collect();
    let text = serde_json::to_string_pretty(&merged).unwrap_or_default();
    // Line numbers would point into the merged text, which nobody sees.
    parse_str(&text, &format!("{} (merged)", names.join(" + "))).map_err(|e| match e {
        SpecError::Invalid {
            file, key, message, ..
        } => SpecError::Invalid {
            file,
            line: None,
            key,
            message,
        },
        other => other,
    })
}

/// Deep merge: objects key by key, arrays appended, anything else replaced.
fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    use serde_json::Value;
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => b.extend(o),
        (slot, v) => *slot = v,
    }
}

/// Reads and parses a manifest file (`-` for stdin, which is parsed as JSON
/// when it starts with `{` and as TOML otherwise).
/// The line of `key` (a displayed key path) in the TOML spec at `path`,
/// for errors that later layers raise about a key. `None` for JSON, stdin,
/// or a key the file does not hold.
pub fn line_of_key(path: &Path, key: &str) -> Option<usize> {
    if path.as_os_str() == "-" || path.extension().is_some_and(|e| e == "json") {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    keypath::toml_line(&text, &KeyPath::parse(key))
}

pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| {
            SpecError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?
    };
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    parse_str(&text, &name)
}

/// The `source_date_epoch` in effect: the spec's key, else the
/// `SOURCE_DATE_EPOCH` environment variable's value `env` (the caller reads
/// the environment), else 0. A malformed variable is an error rather than
/// silently 0, because a silently wrong time would change the image's bytes.
pub fn epoch_from_env(spec: &Spec, env: Option<&std::ffi::OsStr>) -> Result<i64, SpecError> {
    match env {
        None => epoch_from(spec, None),
        Some(v) => match v.to_str() {
            Some(s) => epoch_from(spec, Some(s)),
            None => {
                if spec.source_date_epoch.is_some() {
                    return epoch_from(spec, None);
                }
                Err(SpecError::Env {
                    name: "SOURCE_DATE_EPOCH".into(),
                    value: v.to_string_lossy().into_owned(),
                    message: "not valid UTF-8".into(),
                })
            }
        },
    }
}

/// [`epoch_from_env`] with a UTF-8 value.
pub fn epoch_from(spec: &Spec, env: Option<&str>) -> Result<i64, SpecError> {
    if let Some(e) = spec.source_date_epoch {
        return Ok(e);
    }
    let Some(v) = env else { return Ok(0) };
    let bad = |message: &str| SpecError::Env {
        name: "SOURCE_DATE_EPOCH".into(),
        value: v.to_string(),
        message: message.to_string(),
    };
    // reproducible-builds.org: a decimal integer of ASCII digits.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected seconds since 1970-01-01 as decimal digits"));
    }
    v.parse::<i64>().map_err(|_| bad("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_precedence() {
        let mut spec = parse_str("version = 1", "a.toml").unwrap();
        assert_eq!(epoch_from(&spec, None).unwrap(), 0);
        assert_eq!(
            epoch_from(&spec, Some("1700000000")).unwrap(),
            1_700_000_000
        );
        let err = epoch_from(&spec, Some("yesterday"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOURCE_DATE_EPOCH"), "{err}");
        assert!(epoch_from(&spec, Some("-5")).is_err());
        assert!(epoch_from(&spec, Some("99999999999999999999")).is_err());
        spec.source_date_epoch = Some(42);
        assert_eq!(epoch_from(&spec, Some("yesterday")).unwrap(), 42);
    }
}
