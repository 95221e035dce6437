//! Aggregates answered from the replica: when it is in sync and the caller
//! reads the same account, the SQL engine's statements run on the store,
//! over the confirmed account's rows only.

use super::state::Replica;
use super::store::{Store, StoreError};
use crate::aggregate::sql::{self, Bounds};
use crate::aggregate::{too_many_groups, Group, Local, Spec};
use crate::error::GatewayError;
use crate::model::Field;
use crate::odata::{CompareOp, Filter, Literal};
use crate::report::Report;
use crate::sql::Rollup;
use crate::sql::Table;
use crate::upstream::Caller;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What answering from the replica needs, once it may: the sync it
/// answers as of, the confirmed account, the table and the store.
struct Ready {
    synced_at: DateTime<Utc>,
    account: Option<i64>,
    table: usize,
    store: Arc<dyn Store>,
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
        let ready = self.ready_for(caller, spec).await.inspect_err(|e| {
            // The account check asked the upstream with the caller's own
            // credential, which it refused.
            if e.is_refusal() {
                report.credential_refused();
            }
        })?;
        let Some(ready) = ready else {
            return Ok(None);
        };
        let started = Instant::now();
        let spec = &self.own_rows(&ready, spec);
        let Some(selection) = self.select(&ready, spec, max_groups).await? else {
            return Ok(None);
        };
        let groups = selection.groups;
        report.replica_synced(ready.synced_at);
        // Reusable until the next sync may have changed it.
        report.fresh_until(self.next_sync(&ready));
        self.metrics.replica_answers.inc();
        if let Some(rollup) = selection.rollup {
            self.metrics.replica_rollup_answers.inc();
            tracing::debug!(%rollup, "from the rollup's cells");
        }
        tracing::debug!(
            entity = spec.entity.name,
            groups = groups.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "aggregate from the replica"
        );
        Ok(Some(groups))
    }

    async fn bypassed(
        &self,
        caller: &Caller,
        report: &Report,
        spec: &Spec,
    ) -> Result<(), GatewayError> {
        if let Some(ready) = self.ready_for(caller, spec).await? {
            report.fresh_until(self.next_sync(&ready));
        }
        Ok(())
    }
}

impl Replica {
    /// Whether the replica may answer `caller`'s `spec` now: in sync, a
    /// collection it keeps and the key may read, and the caller shown to
    /// read the replica's account.
    async fn ready_for(&self, caller: &Caller, spec: &Spec) -> Result<Option<Ready>, GatewayError> {
        let Some((synced_at, status)) = self.in_sync() else {
            return Ok(None);
        };
        // A key limited to other collections is refused upstream, as before.
        if !caller.may_read(spec.entity.name) {
            return Ok(None);
        }
        let table = self
            .tables
            .iter()
            .position(|t| t.entity.name == spec.entity.name);
        let (Some(table), Some(store)) = (table, self.store.get()) else {
            return Ok(None);
        };
        let token = self.settings.token.expose();
        let confirmed = self
            .accounts
            .confirm(&self.upstream, token, caller, status.account)
            .await?;
        Ok(confirmed.then(|| Ready {
            synced_at,
            account: status.account,
            table,
            store: store.clone(),
        }))
    }

    /// When the sync after the one `ready` answers as of is due (at least
    /// a second away, so that a burst of equal requests shares an answer).
    fn next_sync(&self, ready: &Ready) -> Instant {
        let next_sync = ready.synced_at + self.settings.sync_interval;
        let fresh_for = (next_sync - Utc::now()).to_std().unwrap_or_default();
        Instant::now() + fresh_for.max(Duration::from_secs(1))
    }

    /// Only the confirmed account's rows, whatever the tables hold while a
    /// sync replaces them.
    fn own_rows(&self, ready: &Ready, spec: &Spec) -> Spec {
        let t = &self.tables[ready.table];
        match ready.account.filter(|_| t.has("account_id")) {
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
        }
    }

    /// The groups from the SQL engine; `None` when it cannot plan them or
    /// the store fails (the upstream answers then).
    async fn select(
        &self,
        ready: &Ready,
        spec: &Spec,
        max_groups: u64,
    ) -> Result<Option<Selection>, GatewayError> {
        let store = ready.store.as_ref();
        let table = &self.tables[ready.table];
        let mut bounds = HashMap::new();
        for column in time_columns(table, &self.rollups, spec) {
            match self.bounds(store, ready.table, column).await {
                Ok(b) => bounds.insert(column, b),
                Err(e) => return Ok(declined(e)),
            };
        }
        match select_groups(store, table, &self.rollups, spec, &bounds, max_groups).await {
            Ok(groups) => Ok(groups),
            Err(Selected::TooMany) => Err(too_many_groups(spec.entity, max_groups)),
            Err(Selected::Store(e)) => Ok(declined(e)),
        }
    }
}

/// The groups the SQL engine gave, and the rollup whose cells held them.
pub(super) struct Selection {
    pub groups: Vec<Group>,
    pub rollup: Option<String>,
}

/// Why the SQL engine gave no groups.
#[derive(Debug)]
pub(super) enum Selected {
    TooMany,
    Store(StoreError),
}

impl From<StoreError> for Selected {
    fn from(e: StoreError) -> Selected {
        Selected::Store(e)
    }
}

/// The time columns whose first and last values an answer may need: the
/// spec's bucket column and the rollups' time columns.
pub(super) fn time_columns(table: &Table, rollups: &[Rollup], spec: &Spec) -> Vec<&'static str> {
    let mut columns: Vec<&'static str> = spec.bucket.iter().map(|(f, _)| f.odata).collect();
    columns.extend(
        rollups
            .iter()
            .filter(|r| r.base == table.name)
            .filter_map(|r| r.time)
            .map(|f| f.odata),
    );
    columns.sort_unstable();
    columns.dedup();
    columns
}

/// The groups of `spec` from `table` in `store` (`None`: the engine
/// cannot give exactly what the scan would), at most `max_groups`: from a
/// rollup's cells where one holds them, else from the rows. `bounds`: the
/// first and last value of each of `time_columns`.
pub(super) async fn select_groups(
    store: &dyn Store,
    table: &Table,
    rollups: &[Rollup],
    spec: &Spec,
    bounds: &HashMap<&'static str, Bounds>,
    max_groups: u64,
) -> Result<Option<Selection>, Selected> {
    let bounds_of = |f: Option<&Field>| f.and_then(|f| bounds.get(f.odata).copied().flatten());
    let d = store.dialect();
    for r in rollups.iter().filter(|r| r.base == table.name) {
        if let Some(plan) = sql::plan_rollup(d, r, spec, bounds_of(r.time), max_groups) {
            let rows = store
                .read(plan.cells.clone(), plan.cell_kinds.clone())
                .await?;
            if rows.len() as u64 > max_groups {
                return Err(Selected::TooMany);
            }
            let repeats = match &plan.repeats {
                Some((statement, kinds)) => store.read(statement.clone(), kinds.clone()).await?,
                None => Vec::new(),
            };
            return Ok(Some(Selection {
                groups: plan.read(rows, repeats),
                rollup: Some(r.table.clone()),
            }));
        }
    }
    let bucket_bounds = bounds_of(spec.bucket.map(|(f, _)| f));
    let Some(plan) = sql::plan(d, table, spec, bucket_bounds, max_groups) else {
        return Ok(None);
    };
    let rows = store
        .read(plan.groups.clone(), plan.group_kinds.clone())
        .await?;
    if rows.len() as u64 > max_groups {
        return Err(Selected::TooMany);
    }
    let mut medians = Vec::new();
    for (_, statement, kinds) in &plan.medians {
        medians.push(store.read(statement.clone(), kinds.clone()).await?);
    }
    Ok(Some(Selection {
        groups: plan.read(rows, medians),
        rollup: None,
    }))
}

/// A failing replica query falls back to the upstream paths.
fn declined(e: StoreError) -> Option<Selection> {
    tracing::warn!(error = %e, "replica query failed; asking the upstream");
    None
}
