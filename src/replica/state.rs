//! The replica as the gateway holds it: its settings, its store, and the
//! state the last sync (this process's, or the leader's) left it in.

use super::account::Accounts;
use super::postgres;
use super::sqlite;
use super::store::{self, Store};
use crate::aggregate::sql::Bounds;
use crate::config::{ReplicaSettings, ReplicaStore};
use crate::metrics::Metrics;
use crate::sql::{rollups, Rollup, Table};
use crate::upstream::{Caller, Credential, Upstream};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// What the replica holds, as the last sync (this process's or the
/// leader's) left it.
#[derive(Debug, Clone, Default)]
pub(super) struct Status {
    /// Every collection backfilled.
    pub complete: bool,
    /// The account of every replicated row.
    pub account: Option<i64>,
    /// When the last complete sync started: every change before it is in.
    pub synced_at: Option<DateTime<Utc>>,
}

pub struct Replica {
    pub(super) settings: ReplicaSettings,
    pub(super) upstream: Arc<Upstream>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) tables: Vec<Table>,
    /// The rollups kept beside the tables.
    pub(super) rollups: Vec<Rollup>,
    /// Opened by the sync task (PostgreSQL connects asynchronously).
    pub(super) store: OnceCell<Arc<dyn Store>>,
    status: Mutex<Status>,
    pub(super) accounts: Accounts,
    /// First and last value of bucket columns, until the next sync.
    bounds: Mutex<HashMap<(usize, &'static str), Bounds>>,
}

impl Replica {
    /// The replica of `tables`, not synced yet.
    pub(super) fn new(
        settings: &ReplicaSettings,
        upstream: Arc<Upstream>,
        metrics: Arc<Metrics>,
        tables: Vec<Table>,
    ) -> Replica {
        Replica {
            accounts: Accounts::new(settings.account_check),
            settings: settings.clone(),
            upstream,
            metrics,
            rollups: rollups(&tables),
            tables,
            store: OnceCell::new(),
            status: Mutex::new(Status::default()),
            bounds: Mutex::default(),
        }
    }

    pub(super) async fn open_store(&self) -> Result<Arc<dyn Store>, store::StoreError> {
        self.store
            .get_or_try_init(|| async {
                let store: Arc<dyn Store> = match &self.settings.store {
                    ReplicaStore::Sqlite(path) => Arc::new(sqlite::Sqlite::open(path, readers())?),
                    ReplicaStore::Postgres(url) => Arc::new(postgres::Postgres::open(url).await?),
                };
                Ok(store)
            })
            .await
            .cloned()
    }

    pub(super) fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        self.bounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The sync time of an answer given now, when the replica may give one:
    /// backfilled and synced within two intervals (plus a margin for a
    /// slow sync).
    pub(super) fn in_sync(&self) -> Option<(DateTime<Utc>, Status)> {
        let status = self.status();
        let synced_at = status.synced_at.filter(|_| status.complete)?;
        let allowed = self.settings.sync_interval * 2 + Duration::from_secs(30);
        let age = (Utc::now() - synced_at).to_std().unwrap_or_default();
        (age <= allowed).then_some((synced_at, status))
    }

    /// The replica's own caller: its token, never a cached answer.
    pub(super) fn caller(&self) -> Caller {
        Caller {
            no_cache: true,
            request_id: Some(Arc::from("replica-sync")),
            ..Caller::new(Credential::Bearer(self.settings.token.expose().to_string())).uncached()
        }
    }

    /// The first and last value of a bucket column, kept until the next sync.
    pub(super) async fn bounds(
        &self,
        store: &dyn Store,
        table: usize,
        column: &'static str,
    ) -> Result<Bounds, store::StoreError> {
        let cached = self
            .bounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(table, column))
            .copied();
        if let Some(bounds) = cached {
            return Ok(bounds);
        }
        let bounds = store::bounds(store, &self.tables[table].name, column).await?;
        self.bounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((table, column), bounds);
        Ok(bounds)
    }
}

/// Readers of the SQLite file: one per core, at least two.
fn readers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}
