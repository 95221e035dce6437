//! The shared cache of several instances: where Redis is, how long to wait
//! for it, and the key that makes their credential fingerprints agree.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use std::time::Duration;

/// A shorter key would make fingerprints guessable by brute force.
const MIN_SECRET_BYTES: usize = 16;

/// The fingerprint key and, when both it and a Redis are configured, the
/// shared cache.
#[derive(Clone, PartialEq)]
pub struct SharedCacheSettings {
    /// `None`: a random key drawn at start.
    pub key_secret: Option<Vec<u8>>,
    /// `None`: no shared cache (no Redis, or no secret to share).
    pub redis: Option<RedisSettings>,
}

impl std::fmt::Debug for SharedCacheSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCacheSettings")
            .field("key_secret", &self.key_secret.as_ref().map(|_| "<set>"))
            .field("redis", &self.redis)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    pub url: String,
    pub timeout: Duration,
    pub lease: Duration,
}

impl Config {
    pub(super) fn shared_cache_settings(&self) -> Result<SharedCacheSettings, ConfigError> {
        let key_secret = self.cache_key_secret()?;
        let redis = match &self.redis_url {
            None => None,
            Some(_) if key_secret.is_none() => {
                // The contract: without a shared key, instances could not
                // read each other's entries; run with the local cache only.
                tracing::warn!(
                    "redis_url is set but cache_key_secret is not: the shared cache is off"
                );
                None
            }
            Some(url) => Some(RedisSettings {
                url: check_redis_url(url)?,
                timeout: bounded("redis_timeout_ms", self.redis_timeout_ms)?,
                lease: bounded("redis_lease_ms", self.redis_lease_ms)?,
            }),
        };
        Ok(SharedCacheSettings { key_secret, redis })
    }

    /// The secret from the key or its file, trimmed.
    fn cache_key_secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let secret = match (&self.cache_key_secret, &self.cache_key_secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "cache_key_secret_file",
                    "set either cache_key_secret or cache_key_secret_file, not both",
                ))
            }
            (Some(secret), None) => secret.expose().trim().to_string(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .map_err(|e| invalid("cache_key_secret_file", format!("`{path}`: {e}")))?,
            (None, None) => return Ok(None),
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                "cache_key_secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        Ok(Some(secret.into_bytes()))
    }
}

fn check_redis_url(url: &str) -> Result<String, ConfigError> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "redis" => Ok(url.to_string()),
        Ok(u) => Err(invalid(
            "redis_url",
            format!("`{}` is not supported (redis:// only)", u.scheme()),
        )),
        Err(e) => Err(invalid("redis_url", format!("not a URL ({e})"))),
    }
}

/// Above 0 and at most a minute: a longer wait on a cache is a stall.
fn bounded(key: &'static str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 || ms > 60_000 {
        return Err(invalid(key, format!("{ms} ms is not within 1..=60000")));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            redis_url: Some("redis://127.0.0.1:6379/0".into()),
            ..Config::default()
        }
    }

    #[test]
    fn redis_needs_a_shared_secret() {
        let off = config().shared_cache_settings().expect("valid");
        assert!(off.redis.is_none() && off.key_secret.is_none());
        let on = Config {
            cache_key_secret: Some("0123456789abcdef-secret".to_string().into()),
            ..config()
        }
        .shared_cache_settings()
        .expect("valid");
        assert!(!format!("{on:?}").contains("0123456789abcdef"), "{on:?}");
        let redis = on.redis.expect("shared cache on");
        assert_eq!(redis.timeout, Duration::from_millis(50));
    }

    #[test]
    fn bad_values_name_their_key() {
        let key = |c: Config| match c.shared_cache_settings() {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        let secret = || Some("0123456789abcdef-secret".to_string().into());
        assert_eq!(
            key(Config {
                cache_key_secret: Some("short".to_string().into()),
                ..config()
            }),
            "cache_key_secret"
        );
        assert_eq!(
            key(Config {
                cache_key_secret: secret(),
                redis_url: Some("rediss://h".into()),
                ..config()
            }),
            "redis_url"
        );
        assert_eq!(
            key(Config {
                cache_key_secret: secret(),
                redis_timeout_ms: 0,
                ..config()
            }),
            "redis_timeout_ms"
        );
        assert_eq!(
            key(Config {
                cache_key_secret: secret(),
                cache_key_secret_file: Some("/nonexistent".into()),
                ..config()
            }),
            "cache_key_secret_file"
        );
    }
}
