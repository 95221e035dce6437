//! Automatic persisted queries (Apollo's protocol): a client sends
//! `extensions.persistedQuery {version: 1, sha256Hash}` without the query;
//! an unknown hash answers PERSISTED_QUERY_NOT_FOUND and the client sends
//! the query with its hash once, which the gateway checks and keeps.
//! Query texts are kept in memory, weighed in bytes, least recently used
//! out first. A hash of a trusted document (`trusted_documents_file`) is
//! always known, even with the cache off.

use crate::config::TrustedDocuments;
use crate::error::GatewayError;
use moka::future::Cache;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct PersistedQueries {
    /// `None` when turned off (`apq_cache_bytes = 0`).
    cache: Option<Cache<String, Arc<str>>>,
}

impl PersistedQueries {
    pub fn new(max_bytes: u64) -> Self {
        let cache = (max_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|hash: &String, query: &Arc<str>| {
                    u32::try_from(hash.len() + query.len()).unwrap_or(u32::MAX)
                })
                .build()
        });
        PersistedQueries { cache }
    }

    /// The query text to run: the request's own, or the one its
    /// `persistedQuery` hash names, among the trusted documents first.
    /// `Ok(None)`: neither (the caller says `query` is required).
    pub async fn resolve(
        &self,
        query: Option<String>,
        extensions: Option<&Value>,
        trusted: &TrustedDocuments,
    ) -> Result<Option<String>, GatewayError> {
        let Some(persisted) = extensions.and_then(|e| e.get("persistedQuery")) else {
            return Ok(query);
        };
        let hash = parse(persisted)?;
        match query {
            Some(text) => {
                let actual = sha256_hex(text.as_bytes());
                if actual != hash {
                    return Err(GatewayError::bad_input(
                        "persistedQuery.sha256Hash does not match the SHA-256 of the query",
                    ));
                }
                if !trusted.contains(&hash) {
                    let cache = self.cache.as_ref();
                    let cache = cache.ok_or(GatewayError::PersistedQueryNotSupported)?;
                    cache.insert(hash, Arc::from(text.as_str())).await;
                }
                Ok(Some(text))
            }
            None => {
                if let Some(text) = trusted.get(&hash) {
                    return Ok(Some(text.to_string()));
                }
                let cache = self.cache.as_ref();
                let cache = cache.ok_or(GatewayError::PersistedQueryNotSupported)?;
                match cache.get(&hash).await {
                    Some(text) => Ok(Some(text.to_string())),
                    None => Err(GatewayError::PersistedQueryNotFound),
                }
            }
        }
    }
}

/// The lowercase hex hash of a `persistedQuery` extension of version 1.
fn parse(persisted: &Value) -> Result<String, GatewayError> {
    let bad = |m: &str| GatewayError::bad_input(format!("extensions.persistedQuery: {m}"));
    if persisted.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(bad("only version 1 is supported"));
    }
    let hash = persisted
        .get("sha256Hash")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("sha256Hash must be a string"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("sha256Hash must be 64 hexadecimal digits"));
    }
    Ok(hash.to_ascii_lowercase())
}

pub use crate::digest::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn none() -> TrustedDocuments {
        TrustedDocuments::default()
    }

    fn ext(hash: &str) -> Value {
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
    }

    #[tokio::test]
    async fn register_then_run_by_hash() {
        let apq = PersistedQueries::new(1024);
        let q = "{ labels { nodes { id } } }";
        let hash = sha256_hex(q.as_bytes());
        assert_eq!(
            apq.resolve(None, Some(&ext(&hash)), &none()).await,
            Err(GatewayError::PersistedQueryNotFound)
        );
        assert_eq!(
            apq.resolve(Some(q.into()), Some(&ext(&hash)), &none())
                .await,
            Ok(Some(q.to_string()))
        );
        assert_eq!(
            apq.resolve(None, Some(&ext(&hash.to_uppercase())), &none())
                .await,
            Ok(Some(q.to_string()))
        );
    }

    #[tokio::test]
    async fn mismatches_and_bad_extensions_are_bad_input() {
        let apq = PersistedQueries::new(1024);
        let wrong = sha256_hex(b"other");
        let err = apq
            .resolve(Some("{ a }".into()), Some(&ext(&wrong)), &none())
            .await
            .expect_err("mismatch");
        assert_eq!(err.kind(), ErrorCode::BadUserInput);
        let v2 = json!({"persistedQuery": {"version": 2, "sha256Hash": wrong}});
        assert_eq!(
            apq.resolve(None, Some(&v2), &none())
                .await
                .map_err(|e| e.kind()),
            Err(ErrorCode::BadUserInput)
        );
        assert_eq!(
            apq.resolve(None, Some(&ext("xyz")), &none())
                .await
                .map_err(|e| e.kind()),
            Err(ErrorCode::BadUserInput)
        );
    }

    #[tokio::test]
    async fn off_means_not_supported() {
        let apq = PersistedQueries::new(0);
        assert_eq!(
            apq.resolve(None, Some(&ext(&sha256_hex(b"x"))), &none())
                .await,
            Err(GatewayError::PersistedQueryNotSupported)
        );
        assert_eq!(
            apq.resolve(Some("{ a }".into()), None, &none()).await,
            Ok(Some("{ a }".to_string()))
        );
    }

    #[test]
    fn hash_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
