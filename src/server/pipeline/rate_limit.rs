//! Stage 3b: per-client rate limits (`rate_limit_per_second`,
//! `rate_limit_burst`), checked once the client is known and before its
//! document is parsed. One token bucket per client: per credential
//! fingerprint in pass-through (never the token itself), per API key in
//! service mode, where every key shares one upstream credential. A request
//! without an identity is not counted: it cannot reach the upstream.

use super::error::RequestError;
use super::identity::ClientKey;
use crate::config::RateLimit;
use crate::error::GatewayError;
use crate::upstream::{Caller, Upstream};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Checks between two sweeps of buckets that are full again (clients
/// gone quiet), which keeps memory bounded by the active clients.
const SWEEP_EVERY: u64 = 4096;

pub struct RateLimits {
    limit: RateLimit,
    buckets: DefaultKeyedRateLimiter<ClientKey>,
    checks: AtomicU64,
    upstream: Arc<Upstream>,
}

impl RateLimits {
    pub fn new(limit: RateLimit, upstream: Arc<Upstream>) -> RateLimits {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        RateLimits {
            limit,
            buckets: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
            upstream,
        }
    }

    /// Takes a token from the caller's bucket, or says when to retry.
    pub fn check(&self, caller: &Result<Caller, GatewayError>) -> Result<(), RequestError> {
        let Ok(caller) = caller else {
            return Ok(());
        };
        let client = ClientKey::of(caller, &self.upstream);
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.buckets.clock().now());
            RequestError::RateLimited {
                limit: self.limit,
                retry_after: whole_seconds(wait),
            }
        })
    }
}

/// `Retry-After` counts whole seconds: rounded up, at least one.
fn whole_seconds(wait: Duration) -> Duration {
    let mut secs = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        secs += 1;
    }
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::upstream::Credential;
    use std::num::NonZeroU32;

    fn limits(per_second: u32, burst: u32) -> RateLimits {
        let config = Config {
            upstream: Some("http://127.0.0.1:9/odata".into()),
            ..Config::default()
        };
        let settings = config.validate().expect("settings");
        let upstream = Upstream::new(&settings.upstream).expect("upstream");
        let limit = RateLimit {
            per_second: NonZeroU32::new(per_second).expect("rate"),
            burst: NonZeroU32::new(burst).expect("burst"),
        };
        RateLimits::new(limit, Arc::new(upstream))
    }

    fn bearer(token: &str) -> Result<Caller, GatewayError> {
        Ok(Caller::new(Credential::Bearer(token.into())))
    }

    fn api_key(name: &str) -> Result<Caller, GatewayError> {
        Ok(Caller {
            api_key: Some(name.into()),
            ..Caller::new(Credential::Bearer("service".into()))
        })
    }

    #[test]
    fn each_credential_has_its_own_bucket() {
        let limits = limits(1, 3);
        for _ in 0..3 {
            assert!(limits.check(&bearer("a")).is_ok());
        }
        let refused = limits.check(&bearer("a")).expect_err("past the burst");
        match refused {
            RequestError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
        assert!(limits.check(&bearer("b")).is_ok(), "another token");
        // The same token as `apikey` is another credential form.
        let as_apikey = Ok(Caller::new(Credential::ApiKey("a".into())));
        assert!(limits.check(&as_apikey).is_ok());
    }

    #[test]
    fn service_keys_are_counted_by_key_not_by_the_shared_token() {
        let limits = limits(1, 1);
        assert!(limits.check(&api_key("wallboard")).is_ok());
        assert!(limits.check(&api_key("wallboard")).is_err());
        assert!(limits.check(&api_key("reports")).is_ok());
    }

    #[test]
    fn requests_without_identity_are_not_counted() {
        let limits = limits(1, 1);
        let none = Err(GatewayError::Unauthenticated("no credential".into()));
        for _ in 0..5 {
            assert!(limits.check(&none).is_ok());
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_millis(2001)),
            Duration::from_secs(3)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }
}
