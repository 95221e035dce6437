//! Trusted documents (`trusted_documents_file`), read and checked: Apollo's
//! persisted query manifest (`apollo-persisted-query-manifest`, version 1)
//! or a flat JSON object `{"<sha256 hex>": "<document>"}`. Every id must be
//! the SHA-256 of its document's text, so a client's hash names exactly
//! the text the manifest holds; a mismatch refuses the whole file.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use crate::digest::sha256_hex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The documents clients may name by hash: lowercase hex SHA-256 → text.
#[derive(Clone, Default)]
pub struct TrustedDocuments {
    by_hash: Arc<HashMap<String, Arc<str>>>,
}

impl std::fmt::Debug for TrustedDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedDocuments({} documents)", self.by_hash.len())
    }
}

impl TrustedDocuments {
    /// The text of the document with this hex SHA-256 (either case).
    pub fn get(&self, hash: &str) -> Option<Arc<str>> {
        match self.by_hash.get(hash) {
            Some(text) => Some(text.clone()),
            None => self.by_hash.get(&hash.to_ascii_lowercase()).cloned(),
        }
    }

    /// Whether the manifest holds a document with this hex SHA-256.
    pub fn contains(&self, hash: &str) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

const KEY: &str = "trusted_documents_file";

impl Config {
    /// The manifest `trusted_documents_file` names (read here, at each
    /// load); none when unset.
    pub(super) fn trusted_documents(&self) -> Result<TrustedDocuments, ConfigError> {
        let Some(path) = &self.trusted_documents_file else {
            return Ok(TrustedDocuments::default());
        };
        let bad = |m: String| invalid(KEY, format!("`{path}`: {m}"));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let pairs = if json.get("format").is_some() {
            apollo_manifest(&json).map_err(bad)?
        } else {
            flat_object(&json).map_err(bad)?
        };
        let mut by_hash = HashMap::with_capacity(pairs.len());
        for (id, body) in pairs {
            let id = id.trim().to_ascii_lowercase();
            let actual = sha256_hex(body.as_bytes());
            if id != actual {
                return Err(bad(format!(
                    "document `{id}` does not match its text (its SHA-256 is {actual})"
                )));
            }
            by_hash.insert(id, Arc::from(body));
        }
        Ok(TrustedDocuments {
            by_hash: Arc::new(by_hash),
        })
    }
}

/// `(id, body)` of each operation of an Apollo manifest.
fn apollo_manifest(json: &Value) -> Result<Vec<(String, String)>, String> {
    if json["format"] != "apollo-persisted-query-manifest" {
        return Err("`format` must be \"apollo-persisted-query-manifest\"".into());
    }
    if json["version"] != 1 {
        return Err("only `version` 1 of the manifest is known".into());
    }
    let operations = json["operations"]
        .as_array()
        .ok_or("`operations` must be an array")?;
    operations
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let field = |name: &str| {
                op[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or(format!("operation {i}: `{name}` must be a string"))
            };
            Ok((field("id")?, field("body")?))
        })
        .collect()
}

/// `(hash, document)` of a flat `{"<sha256>": "<document>"}` object.
fn flat_object(json: &Value) -> Result<Vec<(String, String)>, String> {
    let object = json.as_object().ok_or(
        "must be an Apollo persisted query manifest or a JSON object of SHA-256 → document",
    )?;
    object
        .iter()
        .map(|(hash, doc)| match doc.as_str() {
            Some(text) => Ok((hash.clone(), text.to_owned())),
            None => Err(format!("the value of `{hash}` must be a document's text")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<TrustedDocuments, ConfigError> {
        let dir = std::env::temp_dir().join(format!("lag-trusted-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("manifest.json");
        std::fs::write(&file, text).expect("write");
        Config {
            trusted_documents_file: Some(file.display().to_string()),
            ..Config::default()
        }
        .trusted_documents()
    }

    #[test]
    fn both_formats_load_and_every_hash_is_checked() {
        let doc = "query Labels { labels(first: 1) { nodes { id } } }";
        let hash = sha256_hex(doc.as_bytes());
        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": hash, "name": "Labels", "type": "query", "body": doc}]
        });
        let docs = load("apollo", &apollo.to_string()).expect("apollo");
        assert_eq!(docs.get(&hash).as_deref(), Some(doc));
        assert_eq!(docs.get(&hash.to_uppercase()).as_deref(), Some(doc));
        let flat = serde_json::json!({ hash.to_uppercase(): doc });
        let docs = load("flat", &flat.to_string()).expect("flat");
        assert!(docs.contains(&hash) && docs.len() == 1);
        let wrong = serde_json::json!({ "ab".repeat(32): doc });
        let err = load("wrong", &wrong.to_string()).expect_err("mismatch");
        assert!(err.to_string().contains("does not match its text"), "{err}");
        assert!(err.to_string().contains(KEY), "{err}");
        for (name, text) in [
            ("json", "{not json"),
            (
                "format",
                r#"{"format": "other", "version": 1, "operations": []}"#,
            ),
            (
                "ops",
                r#"{"format": "apollo-persisted-query-manifest", "version": 1}"#,
            ),
            ("value", r#"{"ab": 1}"#),
        ] {
            assert!(load(name, text).is_err(), "{name}");
        }
    }
}
