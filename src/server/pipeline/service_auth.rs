//! Service mode: the client shows one of the gateway's API keys (kept in
//! config as SHA-256 hashes) and the gateway's own upstream token goes
//! upstream, so that the admin token never reaches a browser. The identity
//! stage (`pipeline/identity.rs`) uses it instead of pass-through.

use crate::config::ServiceMode;
use crate::error::GatewayError;
use crate::upstream::{Caller, Credential};
use axum::http::{header, HeaderMap};
use std::sync::Arc;

/// Service mode: the upstream token and the client keys.
pub struct ServiceAuth {
    upstream: Credential,
    keys: Vec<ApiKey>,
}

struct ApiKey {
    name: String,
    sha256: [u8; 32],
    collections: Option<Arc<[String]>>,
    trusted_documents_only: bool,
}

impl std::fmt::Debug for ServiceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        f.debug_struct("ServiceAuth")
            .field("upstream", &self.upstream)
            .field("keys", &names)
            .finish()
    }
}

impl ServiceAuth {
    /// Service mode from its checked settings.
    pub fn new(service: &ServiceMode) -> ServiceAuth {
        let keys = service
            .keys
            .iter()
            .map(|k| ApiKey {
                name: k.name.clone(),
                sha256: k.sha256,
                collections: k.collections.clone().map(Arc::from),
                trusted_documents_only: k.trusted_documents_only,
            })
            .collect();
        ServiceAuth {
            upstream: Credential::Bearer(service.upstream_token.expose().to_string()),
            keys,
        }
    }

    /// The caller for a known key: the service credential, limited to the
    /// key's collections. The client key comes from `Authorization: Bearer`,
    /// `x-api-key` or `?apikey=`; it is hashed and compared to every
    /// configured hash in constant time.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, GatewayError> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let presented = Credential::from_request(authorization, query)
            .map(|c| c.secret().to_string())
            .or_else(|| {
                headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
            });
        let Some(presented) = presented else {
            return Err(refused(
                "no API key: send `Authorization: Bearer <API key>` or `x-api-key: <API key>`",
            ));
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, presented.as_bytes());
        let mut found: Option<&ApiKey> = None;
        for key in &self.keys {
            if constant_time_eq(digest.as_ref(), &key.sha256) {
                found = Some(key);
            }
        }
        match found {
            Some(key) => {
                tracing::debug!(api_key = %key.name, "API key accepted");
                Ok(Caller {
                    collections: key.collections.clone(),
                    api_key: Some(key.name.as_str().into()),
                    ..Caller::new(self.upstream.clone())
                })
            }
            None => Err(refused("unknown API key")),
        }
    }
}

impl ServiceAuth {
    /// Whether the key named `name` runs only trusted documents; `None`
    /// when no key has that name (any more: a reload removed it).
    pub fn trusted_documents_only(&self, name: &str) -> Option<bool> {
        let key = self.keys.iter().find(|k| k.name == name)?;
        Some(key.trusted_documents_only)
    }
}

fn refused(message: &str) -> GatewayError {
    GatewayError::Unauthenticated(message.into())
}

/// Equal bytes, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKeyConfig, Config};
    use crate::error::ErrorCode;
    use crate::server::pipeline::persisted::sha256_hex;

    fn service() -> ServiceAuth {
        let config = Config {
            service_upstream_token: Some("upstream-admin".to_string().into()),
            api_keys: vec![
                ApiKeyConfig {
                    trusted_documents_only: false,
                    name: "dash".into(),
                    sha256: sha256_hex(b"client-key-1"),
                    collections: None,
                },
                ApiKeyConfig {
                    trusted_documents_only: false,
                    name: "labels-only".into(),
                    sha256: sha256_hex(b"client-key-2").to_uppercase(),
                    collections: Some(vec!["Label".into()]),
                },
            ],
            ..Config::default()
        };
        let settings = config.validate().expect("valid");
        ServiceAuth::new(settings.service.as_ref().expect("service mode"))
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().expect("header"));
        h
    }

    #[test]
    fn known_keys_map_to_the_service_credential() {
        let s = service();
        let caller = s
            .authenticate(&headers("authorization", "Bearer client-key-1"), None)
            .expect("known key");
        assert_eq!(
            caller.credential,
            Credential::Bearer("upstream-admin".into())
        );
        assert!(caller.collections.is_none());
        let caller = s
            .authenticate(&headers("x-api-key", "client-key-2"), None)
            .expect("known key");
        assert_eq!(
            caller.collections.as_deref(),
            Some(&["Label".to_string()][..])
        );
        let caller = s.authenticate(&HeaderMap::new(), Some("apikey=client-key-1"));
        assert_eq!(
            caller.map(|c| c.credential),
            Ok(Credential::Bearer("upstream-admin".into()))
        );
    }

    #[test]
    fn unknown_or_missing_keys_are_refused() {
        let s = service();
        for result in [
            s.authenticate(&headers("authorization", "Bearer upstream-admin"), None),
            s.authenticate(&HeaderMap::new(), None),
        ] {
            let refusal = result.map(|c| c.credential).expect_err("refused");
            assert_eq!(refusal.kind(), ErrorCode::Unauthenticated);
        }
        assert!(!format!("{s:?}").contains("upstream-admin"));
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
