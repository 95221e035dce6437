//! Service mode, checked: the gateway's upstream token (read from its file
//! here, once) and the decoded client key hashes. A half-configured service
//! mode stops the start naming the missing key.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use super::values::Secret;

/// Service mode: the upstream token and the client keys.
#[derive(Debug, Clone)]
pub struct ServiceMode {
    pub upstream_token: Secret,
    pub keys: Vec<ServiceKey>,
}

#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub name: String,
    pub sha256: [u8; 32],
    /// Collections the key may read; `None`: all.
    pub collections: Option<Vec<String>>,
    /// Runs only the trusted documents.
    pub trusted_documents_only: bool,
}

impl Config {
    /// Service mode when any of its keys is set; `None`: pass-through.
    pub(super) fn service_mode(&self) -> Result<Option<ServiceMode>, ConfigError> {
        let Some(token) = self.service_token()? else {
            if self.api_keys.is_empty() {
                return Ok(None);
            }
            return Err(invalid(
                "service_upstream_token",
                "api_keys are set, so service mode needs the gateway's upstream token (service_upstream_token, SERVICE_UPSTREAM_TOKEN or service_upstream_token_file)",
            ));
        };
        if token.is_empty() {
            return Err(invalid("service_upstream_token", "is empty"));
        }
        if self.api_keys.is_empty() {
            // The token alone is the analytics replica's; clients pass through.
            if self.replica_url.is_some() {
                return Ok(None);
            }
            return Err(invalid(
                "api_keys",
                "service mode needs at least one client key ({ name, sha256 }; `liveagent-graphql hash-key <key>` prints the hash)",
            ));
        }
        let mut keys: Vec<ServiceKey> = Vec::new();
        for key in &self.api_keys {
            let bad = |m: String| invalid("api_keys", format!("key `{}`: {m}", key.name));
            if key.name.trim().is_empty() {
                return Err(invalid("api_keys", "every key needs a `name`"));
            }
            if keys.iter().any(|k| k.name == key.name) {
                return Err(bad("the name is used twice".into()));
            }
            let sha256 = decode_sha256(&key.sha256)
                .ok_or_else(|| bad("`sha256` must be 64 hexadecimal digits".into()))?;
            if keys.iter().any(|k| k.sha256 == sha256) {
                return Err(bad("the same hash is listed twice".into()));
            }
            if let Some(collections) = &key.collections {
                if collections.is_empty() {
                    return Err(bad(
                        "`collections` is empty (leave it out to allow all)".into()
                    ));
                }
                for c in collections {
                    if !crate::model::ENTITIES.iter().any(|e| e.name == c) {
                        return Err(bad(format!(
                            "`{c}` is not a collection (Conversation, Message, Inbox, Label, User, ReportingEvent)"
                        )));
                    }
                }
            }
            if key.trusted_documents_only && self.trusted_documents_file.is_none() {
                return Err(bad(
                    "`trusted_documents_only` needs `trusted_documents_file`".into(),
                ));
            }
            keys.push(ServiceKey {
                name: key.name.clone(),
                sha256,
                collections: key.collections.clone(),
                trusted_documents_only: key.trusted_documents_only,
            });
        }
        Ok(Some(ServiceMode {
            upstream_token: Secret::from(token),
            keys,
        }))
    }

    /// The upstream token, from the key or its file, trimmed.
    pub(super) fn service_token(&self) -> Result<Option<String>, ConfigError> {
        match (
            &self.service_upstream_token,
            &self.service_upstream_token_file,
        ) {
            (Some(_), Some(_)) => Err(invalid(
                "service_upstream_token_file",
                "set either service_upstream_token or service_upstream_token_file, not both",
            )),
            (Some(token), None) => Ok(Some(token.expose().trim().to_string())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Some(text.trim().to_string()))
                .map_err(|e| invalid("service_upstream_token_file", format!("`{path}`: {e}"))),
            (None, None) => Ok(None),
        }
    }
}

/// 32 bytes from 64 hex digits.
fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKeyConfig;

    fn key(collections: Option<Vec<String>>) -> ApiKeyConfig {
        ApiKeyConfig {
            trusted_documents_only: false,
            name: "dash".into(),
            sha256: "ab".repeat(32),
            collections,
        }
    }

    #[test]
    fn half_configured_service_mode_names_the_missing_key() {
        let cases = [
            (
                Config {
                    api_keys: vec![key(None)],
                    ..Config::default()
                },
                "service_upstream_token",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    ..Config::default()
                },
                "api_keys",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    api_keys: vec![key(Some(vec!["Conversations".into()]))],
                    ..Config::default()
                },
                "Conversations",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    api_keys: vec![ApiKeyConfig {
                        sha256: "xyz".into(),
                        ..key(None)
                    }],
                    ..Config::default()
                },
                "sha256",
            ),
            (
                Config {
                    service_upstream_token_file: Some("/nonexistent/token".into()),
                    api_keys: vec![key(None)],
                    ..Config::default()
                },
                "service_upstream_token_file",
            ),
        ];
        for (config, needle) in cases {
            let err = config.validate().expect_err(needle);
            assert!(err.to_string().contains(needle), "{err}");
        }
        let ok = Config {
            service_upstream_token: Some("t".to_string().into()),
            api_keys: vec![key(Some(vec!["Label".into()]))],
            ..Config::default()
        };
        let settings = ok.validate().expect("valid");
        let mode = settings.service.as_ref().expect("service mode");
        assert_eq!(mode.keys[0].sha256, [0xab; 32]);
        assert!(!format!("{ok:?}").contains("\"t\""));
        assert!(!format!("{settings:?}").contains("\"t\""));
        assert!(Config::default()
            .validate()
            .expect("valid")
            .service
            .is_none());
    }

    #[test]
    fn the_token_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("lag-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("token");
        std::fs::write(&file, "  upstream-admin\n").expect("write");
        let config = Config {
            service_upstream_token_file: Some(file.display().to_string()),
            api_keys: vec![key(None)],
            ..Config::default()
        };
        let settings = config.validate().expect("valid");
        let mode = settings.service.expect("service mode");
        assert_eq!(mode.upstream_token.expose(), "upstream-admin");
        let both = Config {
            service_upstream_token: Some("t".to_string().into()),
            ..config
        };
        let err = both.validate().expect_err("both");
        assert!(err.to_string().contains("not both"), "{err}");
    }
}
