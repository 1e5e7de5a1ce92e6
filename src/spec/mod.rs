//! Manifest parsing: TOML and JSON into one typed model ([`model::Spec`]).

pub mod model;
pub use model::*;

use std::path::Path;

/// A manifest that could not be read or is invalid. `key` is the key path
/// (`filesystem.entries[2].mode`); `line` is set for TOML.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: String,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

/// Parses a manifest given as text. `name` is used in messages; its
/// extension picks the syntax (`.json` is JSON, anything else TOML) unless
/// the text starts with `{`.
pub fn parse_str(text: &str, name: &str) -> Result<Spec, SpecError> {
    let is_json = name.ends_with(".json") || text.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(text).map_err(|e| SpecError::Invalid {
            file: name.to_string(),
            line: Some(e.line()),
            key: String::new(),
            message: e.to_string(),
        })
    } else {
        toml::from_str(text).map_err(|e| SpecError::Invalid {
            file: name.to_string(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            key: String::new(),
            message: e.message().to_string(),
        })
    }
}

/// Reads and parses a manifest file (`-` for stdin).
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
    parse_str(&text, &path.display().to_string())
}

/// JSON Schema of the manifest (filled in by the schema module).
pub fn schema() -> serde_json::Value {
    serde_json::json!({})
}
