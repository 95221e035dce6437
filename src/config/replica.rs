//! The analytics replica: where it is stored, how often it syncs, and the
//! gateway's own upstream token it syncs with.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use super::values::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// Where the replica lives.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaStore {
    /// An embedded SQLite file (`sqlite:///relative` or `sqlite:////absolute`).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by several gateway replicas.
    Postgres(String),
}

#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub store: ReplicaStore,
    /// The gateway's own upstream token (`service_upstream_token`).
    pub token: Secret,
    pub sync_interval: Duration,
    /// Between two full comparisons of the id sets of the large collections.
    pub reconcile_interval: Duration,
    /// How far back an incremental sync reads again (late writes, clocks).
    pub overlap: Duration,
    /// Most upstream requests the sync has in flight.
    pub concurrency: usize,
    /// Rows per upstream request of the sync.
    pub page_size: u64,
    /// How long a client credential stays confirmed as the replica's account.
    pub account_check: Duration,
}

impl Config {
    pub(super) fn replica_settings(&self) -> Result<Option<ReplicaSettings>, ConfigError> {
        let Some(url) = &self.replica_url else {
            return Ok(None);
        };
        let store = parse_store(url)?;
        let Some(token) = self.service_token()?.filter(|t| !t.is_empty()) else {
            return Err(invalid(
                "replica_url",
                "the replica syncs with the gateway's own upstream token: set service_upstream_token (or service_upstream_token_file)",
            ));
        };
        if self.replica_sync_interval_s == 0 {
            return Err(invalid("replica_sync_interval_s", "must be at least 1"));
        }
        if self.replica_reconcile_interval_s < self.replica_sync_interval_s {
            return Err(invalid(
                "replica_reconcile_interval_s",
                "must be at least replica_sync_interval_s",
            ));
        }
        if self.replica_sync_concurrency == 0 {
            return Err(invalid("replica_sync_concurrency", "must be at least 1"));
        }
        if self.replica_sync_page_size == 0 {
            return Err(invalid("replica_sync_page_size", "must be at least 1"));
        }
        Ok(Some(ReplicaSettings {
            store,
            token: Secret::from(token),
            sync_interval: Duration::from_secs(self.replica_sync_interval_s),
            reconcile_interval: Duration::from_secs(self.replica_reconcile_interval_s),
            overlap: Duration::from_secs(self.replica_overlap_s),
            concurrency: self.replica_sync_concurrency,
            page_size: self.replica_sync_page_size,
            account_check: Duration::from_secs(self.replica_account_check_s),
        }))
    }
}

fn parse_store(url: &str) -> Result<ReplicaStore, ConfigError> {
    if let Some(path) = url.strip_prefix("sqlite:///") {
        if path.is_empty() || path == "/" {
            return Err(invalid("replica_url", "names no SQLite file"));
        }
        return Ok(ReplicaStore::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(ReplicaStore::Postgres(url.to_string()));
    }
    Err(invalid(
        "replica_url",
        "must be sqlite:///relative/file.db, sqlite:////absolute/file.db or postgres://…",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_engine_and_the_place() {
        assert_eq!(
            parse_store("sqlite:///data/replica.db").ok(),
            Some(ReplicaStore::Sqlite("data/replica.db".into()))
        );
        assert_eq!(
            parse_store("sqlite:////var/lib/replica.db").ok(),
            Some(ReplicaStore::Sqlite("/var/lib/replica.db".into()))
        );
        assert!(matches!(
            parse_store("postgres://u@h/db"),
            Ok(ReplicaStore::Postgres(_))
        ));
        for bad in ["sqlite://x.db", "sqlite:///", "mysql://h/db", ""] {
            assert!(parse_store(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_replica_needs_the_gateways_token() {
        let config = Config {
            replica_url: Some("sqlite:///r.db".into()),
            ..Config::default()
        };
        let err = config.replica_settings().expect_err("no token");
        assert!(err.to_string().contains("service_upstream_token"), "{err}");
        let config = Config {
            service_upstream_token: Some(Secret::from("t".to_string())),
            ..config
        };
        let settings = config.replica_settings().expect("valid").expect("some");
        assert_eq!(settings.sync_interval, Duration::from_secs(60));
        // The token alone does not start service mode when it is the replica's.
        assert!(config.service_mode().expect("valid").is_none());
        assert_eq!(settings.page_size, 2000);
        let no_rows = Config {
            replica_sync_page_size: 0,
            ..config
        };
        let err = no_rows.replica_settings().expect_err("zero rows");
        assert!(err.to_string().contains("replica_sync_page_size"), "{err}");
    }
}
