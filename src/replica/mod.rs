//! The analytics replica: an incremental copy of the account the gateway's
//! own token reads (`sync`), in SQLite or PostgreSQL behind one `Store`
//! (`store`, `sqlite`, `postgres`), answering grouped aggregates with the
//! SQL engine (`answer`) when it is in sync and the caller reads the same
//! account (`account`). `state` is the replica as the gateway holds it.

mod account;
mod answer;
mod postgres;
mod progress;
mod rollups;
mod sqlite;
mod state;
mod store;
mod sync;

pub use state::Replica;

use crate::config::ReplicaSettings;
use crate::metrics::Metrics;
use crate::model::ApiVersion;
use crate::upstream::Upstream;
use std::sync::Arc;

/// The replica, with its sync running in the background.
pub fn start(
    settings: &ReplicaSettings,
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    version: ApiVersion,
) -> Arc<Replica> {
    let tables = crate::sql::tables(version);
    let replica = Arc::new(Replica::new(settings, upstream, metrics, tables));
    tokio::spawn(sync::run(replica.clone()));
    replica
}

#[cfg(test)]
mod conformance;
