//! Live queries (subscriptions): the interval bounds and the limits on
//! open subscriptions.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use std::time::Duration;

/// No interval longer than a day: a poller that never polls is a leak.
const DAY_S: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, PartialEq)]
pub struct LiveSettings {
    pub default_interval: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub max_subscriptions: usize,
    pub max_per_credential: usize,
}

impl LiveSettings {
    /// The interval of a subscription that asked for `every_seconds`
    /// (`None`: the default), within the bounds.
    pub fn interval(&self, every_seconds: Option<i64>) -> Duration {
        match every_seconds {
            None => self.default_interval,
            Some(s) => Duration::from_secs(u64::try_from(s).unwrap_or(0))
                .clamp(self.min_interval, self.max_interval),
        }
    }
}

impl Config {
    pub(super) fn live_settings(&self) -> Result<LiveSettings, ConfigError> {
        let (min, max, default) = (
            self.live_min_interval_s,
            self.live_max_interval_s,
            self.live_default_interval_s,
        );
        if min == 0 {
            return Err(invalid("live_min_interval_s", "must be at least 1"));
        }
        if max < min || max > DAY_S {
            return Err(invalid(
                "live_max_interval_s",
                "must be at least live_min_interval_s and at most a day (86400)",
            ));
        }
        if !(min..=max).contains(&default) {
            return Err(invalid(
                "live_default_interval_s",
                "must be within live_min_interval_s..live_max_interval_s",
            ));
        }
        if self.max_subscriptions == 0 {
            return Err(invalid("max_subscriptions", "must be at least 1"));
        }
        if self.max_subscriptions_per_credential == 0 {
            return Err(invalid(
                "max_subscriptions_per_credential",
                "must be at least 1",
            ));
        }
        Ok(LiveSettings {
            default_interval: Duration::from_secs(default),
            min_interval: Duration::from_secs(min),
            max_interval: Duration::from_secs(max),
            max_subscriptions: self.max_subscriptions,
            max_per_credential: self.max_subscriptions_per_credential,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_clamped_and_defaulted() {
        let live = Config::default().live_settings().expect("defaults");
        assert_eq!(live.interval(None), Duration::from_secs(30));
        assert_eq!(live.interval(Some(1)), Duration::from_secs(5));
        assert_eq!(live.interval(Some(-3)), Duration::from_secs(5));
        assert_eq!(live.interval(Some(60)), Duration::from_secs(60));
        assert_eq!(live.interval(Some(1_000_000)), Duration::from_secs(3600));
    }

    #[test]
    fn bounds_and_limits_are_checked_by_name() {
        let bad = [
            (
                Config {
                    live_min_interval_s: 0,
                    ..Config::default()
                },
                "live_min_interval_s",
            ),
            (
                Config {
                    live_max_interval_s: 2,
                    ..Config::default()
                },
                "live_max_interval_s",
            ),
            (
                Config {
                    live_default_interval_s: 4,
                    ..Config::default()
                },
                "live_default_interval_s",
            ),
            (
                Config {
                    max_subscriptions: 0,
                    ..Config::default()
                },
                "max_subscriptions",
            ),
            (
                Config {
                    max_subscriptions_per_credential: 0,
                    ..Config::default()
                },
                "max_subscriptions_per_credential",
            ),
        ];
        for (config, key) in bad {
            let error = config.live_settings().expect_err(key);
            assert!(error.to_string().contains(key), "{error}");
        }
    }
}
