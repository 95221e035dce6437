//! The analytics replica: an incremental copy of the account the gateway's
//! own token reads (`sync`), in SQLite or PostgreSQL behind one `Store`,
//! answering grouped aggregates with SQL (`query`) when it is in sync and
//! the caller reads the same account (`account`).

mod account;
mod postgres;
mod query;
mod sqlite;
mod store;
mod sync;
mod tables;

use crate::aggregate::{too_many_groups, Group, Local, Spec};
use crate::config::{ReplicaSettings, ReplicaStore};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::model::ApiVersion;
use crate::odata::{CompareOp, Filter, Literal};
use crate::report::Report;
use crate::upstream::{Caller, Credential, Upstream};
use account::Accounts;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::Store;
use tables::{Kind, Table};
use tokio::sync::OnceCell;

/// What the replica holds, as the last sync (this process's or the
/// leader's) left it.
#[derive(Debug, Clone, Default)]
struct Status {
    /// Every collection backfilled.
    complete: bool,
    /// The account of every replicated row.
    account: Option<i64>,
    /// When the last complete sync started: every change before it is in.
    synced_at: Option<DateTime<Utc>>,
}

pub struct Replica {
    settings: ReplicaSettings,
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    tables: Vec<Table>,
    /// Opened by the sync task (PostgreSQL connects asynchronously).
    store: OnceCell<Arc<dyn Store>>,
    status: Mutex<Status>,
    accounts: Accounts,
    /// First and last value of bucket columns, until the next sync.
    bounds: Mutex<HashMap<(usize, &'static str), query::Bounds>>,
}

impl Replica {
    /// The replica, with its sync running in the background.
    pub fn start(
        settings: &ReplicaSettings,
        upstream: Arc<Upstream>,
        metrics: Arc<Metrics>,
        version: ApiVersion,
    ) -> Arc<Replica> {
        let replica = Arc::new(Replica {
            accounts: Accounts::new(settings.account_check),
            settings: settings.clone(),
            upstream,
            metrics,
            tables: tables::tables(version),
            store: OnceCell::new(),
            status: Mutex::new(Status::default()),
            bounds: Mutex::default(),
        });
        tokio::spawn(sync::run(replica.clone()));
        replica
    }

    async fn open_store(&self) -> Result<Arc<dyn Store>, store::StoreError> {
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

    fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        self.bounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The sync time of an answer given now, when the replica may give one:
    /// backfilled and synced within two intervals (plus a margin for a
    /// slow sync).
    fn in_sync(&self) -> Option<(DateTime<Utc>, Status)> {
        let status = self.status();
        let synced_at = status.synced_at.filter(|_| status.complete)?;
        let allowed = self.settings.sync_interval * 2 + Duration::from_secs(30);
        let age = (Utc::now() - synced_at).to_std().unwrap_or_default();
        (age <= allowed).then_some((synced_at, status))
    }

    fn caller(&self) -> Caller {
        Caller {
            no_cache: true,
            bypass_cache: true,
            request_id: Some(Arc::from("replica-sync")),
            ..Caller::new(Credential::Bearer(self.settings.token.expose().to_string()))
        }
    }

    async fn bounds(
        &self,
        store: &dyn Store,
        table: usize,
        column: &'static str,
    ) -> Result<query::Bounds, store::StoreError> {
        let cached = self
            .bounds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(table, column))
            .copied();
        if let Some(bounds) = cached {
            return Ok(bounds);
        }
        let name = &self.tables[table].name;
        let rows = store
            .read(
                store::Statement {
                    sql: format!("SELECT MIN({column}), MAX({column}) FROM {name}"),
                    params: Vec::new(),
                },
                vec![Kind::Int, Kind::Int],
            )
            .await?;
        let bounds = match rows.first().map(|r| (r.first(), r.get(1))) {
            Some((Some(tables::Cell::Int(lo)), Some(tables::Cell::Int(hi)))) => Some((*lo, *hi)),
            _ => None,
        };
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

#[async_trait::async_trait]
impl Local for Replica {
    async fn groups(
        &self,
        caller: &Caller,
        report: &Report,
        spec: &Spec,
        max_groups: u64,
    ) -> Result<Option<Vec<Group>>, GatewayError> {
        let Some((synced_at, status)) = self.in_sync() else {
            return Ok(None);
        };
        // A key limited to other collections is refused upstream, as before.
        if !caller.may_read(spec.entity.name) {
            return Ok(None);
        }
        let Some(table) = self
            .tables
            .iter()
            .position(|t| t.entity.name == spec.entity.name)
        else {
            return Ok(None);
        };
        let Some(store) = self.store.get() else {
            return Ok(None);
        };
        if !self.accounts.confirm(self, caller, status.account).await? {
            return Ok(None);
        }
        let started = Instant::now();
        let bounds = match &spec.bucket {
            Some((field, _)) => match self.bounds(store.as_ref(), table, field.odata).await {
                Ok(b) => b,
                Err(e) => return Ok(declined(e)),
            },
            None => None,
        };
        let t = &self.tables[table];
        // Only the confirmed account's rows, whatever the tables hold while
        // a sync replaces them.
        let spec = &match status.account.filter(|_| t.has("account_id")) {
            Some(account) => Spec {
                filter: Filter::And(vec![
                    spec.filter.clone(),
                    Filter::Compare {
                        property: "account_id",
                        op: CompareOp::Eq,
                        value: Literal::Int(account),
                    },
                ])
                .simplify(),
                ..spec.clone()
            },
            None => spec.clone(),
        };
        let Some(plan) = query::plan(store.dialect(), t, spec, bounds, max_groups) else {
            return Ok(None);
        };
        let rows = match store
            .read(plan.groups.clone(), plan.group_kinds.clone())
            .await
        {
            Ok(rows) => rows,
            Err(e) => return Ok(declined(e)),
        };
        if rows.len() as u64 > max_groups {
            return Err(too_many_groups(spec.entity, max_groups));
        }
        let mut medians = Vec::new();
        for (_, statement, kinds) in &plan.medians {
            match store.read(statement.clone(), kinds.clone()).await {
                Ok(values) => medians.push(values),
                Err(e) => return Ok(declined(e)),
            }
        }
        let groups = plan.read(rows, medians);
        report.replica_synced(synced_at);
        // Reusable until the next sync may have changed it.
        let next_sync = synced_at + self.settings.sync_interval;
        let fresh_for = (next_sync - Utc::now()).to_std().unwrap_or_default();
        report.fresh_until(Instant::now() + fresh_for.max(Duration::from_secs(1)));
        self.metrics.replica_answers.inc();
        tracing::debug!(
            entity = spec.entity.name,
            groups = groups.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "aggregate from the replica"
        );
        Ok(Some(groups))
    }
}

/// A failing replica query falls back to the upstream paths.
fn declined(e: store::StoreError) -> Option<Vec<Group>> {
    tracing::warn!(error = %e, "replica query failed; asking the upstream");
    None
}
