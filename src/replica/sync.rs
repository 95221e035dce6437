//! Keeping the replica in step with the upstream, with the gateway's own
//! token: a backfill of each large collection in id order (its cursor
//! stored with every page, so a restart resumes it), then every interval
//! the rows whose `updated_at` is past the watermark less an overlap,
//! upserted by id. Deletions are found by comparing id sets: at every sync
//! for conversations (their messages and events go with them) and the
//! small collections, every `replica_reconcile_interval_s` for messages
//! and events. With PostgreSQL, the replica holding the session lock syncs
//! and the others read its progress.

use super::account::read_account;
use super::progress::{layout, newest, State, TableState};
use super::rollups;
use super::state::{Replica, Status};
use super::store::{self, get_meta, set_meta, Store, StoreError};
use crate::error::GatewayError;
use crate::metrics::{CollectionLabel, ReasonLabel};
use crate::model::KEY;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionPage, CollectionQuery, CompareOp, Dialect, Filter, Literal};
use crate::report::Report;
use crate::sql::{Builder, Cell, Kind, Statement, Table};
use crate::upstream::{Caller, PagePlan};
use chrono::Utc;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("upstream: {0}")]
    Upstream(#[from] GatewayError),
}

/// Syncs every interval until the process ends.
pub(super) async fn run(replica: Arc<Replica>) {
    loop {
        let started = Instant::now();
        let outcome = match pass(&replica).await {
            Ok(true) => "ok",
            Ok(false) => "follower",
            Err(e) => {
                tracing::warn!(error = %e, "replica sync failed; trying again next interval");
                "error"
            }
        };
        replica
            .metrics
            .replica_syncs
            .get_or_create(&ReasonLabel { reason: outcome })
            .inc();
        // The lag gauge follows time between syncs too.
        let next = started + replica.settings.sync_interval;
        loop {
            set_lag(&replica);
            let now = Instant::now();
            if now >= next {
                break;
            }
            tokio::time::sleep((next - now).min(Duration::from_secs(5))).await;
        }
    }
}

fn set_lag(replica: &Replica) {
    let in_sync = replica.in_sync().is_some();
    replica.metrics.replica_in_sync.set(i64::from(in_sync));
    if let Some(synced_at) = replica.status().synced_at {
        let lag = (Utc::now() - synced_at).num_seconds();
        replica.metrics.replica_lag_seconds.set(lag);
    }
}

/// One sync, or (not the leader) a read of the leader's progress. `true`
/// when this process synced.
async fn pass(replica: &Replica) -> Result<bool, SyncError> {
    let store = replica.open_store().await?;
    let store = store.as_ref();
    if !store.lead().await? {
        if let Some(state) = load(store).await? {
            replica.set_status(state.status(&replica.tables));
        }
        return Ok(false);
    }
    prepare(replica, store).await?;
    let caller = replica.caller();
    let metadata = replica.upstream.metadata(&caller).await;
    let dialect = replica
        .upstream
        .dialect_for(&caller, metadata.as_deref())
        .await;
    let mut state = load(store).await?.unwrap_or_default();
    let account = read_account(&replica.upstream, &caller).await?;
    if state.account_changed(account) {
        tracing::warn!("the replica's token reads another account now; syncing it afresh");
        // Nobody is answered from the tables while they fill again.
        replica.set_status(Status::default());
        reset(replica, store).await?;
        state = State::default();
    }
    state.account = account.or(state.account);
    let started = Utc::now();
    let sync = Sync {
        replica,
        store,
        caller,
        dialect,
        permits: Semaphore::new(replica.settings.concurrency),
        page: replica
            .settings
            .page_size
            .min(replica.upstream.page_cap())
            .max(1),
        id_page: replica.upstream.page_cap().clamp(1, 10_000),
        state: Mutex::new(state),
    };
    let outcomes = futures::future::join_all(replica.tables.iter().map(|t| sync.table(t))).await;
    let mut state = sync.state();
    let failed = outcomes.into_iter().find_map(Result::err);
    let complete = state.status(&replica.tables).complete;
    if failed.is_none() && complete {
        state.synced_at = Some(started);
    }
    let mut statements = vec![save(store, &state)];
    if complete && state.statistics_due(Utc::now(), replica.settings.reconcile_interval) {
        statements.push(store::analyze());
        state.analyzed_at = Some(Utc::now());
        statements[0] = save(store, &state);
    }
    store.write(statements).await?;
    replica.set_status(state.status(&replica.tables));
    count_rows(replica, store).await;
    match failed {
        Some(e) => Err(e),
        None => Ok(true),
    }
}

/// Creates the tables, or re-creates them when the model's columns changed.
async fn prepare(replica: &Replica, store: &dyn Store) -> Result<(), StoreError> {
    let d = store.dialect();
    let mut statements = store::create_tables(d, &replica.tables);
    statements.extend(rollups::create(d, &replica.rollups));
    store.write(statements).await?;
    let layout = layout(&replica.tables, &replica.rollups);
    match get_meta(store, "layout").await? {
        Some(stored) if stored == layout => Ok(()),
        Some(_) => reset(replica, store).await,
        None => store.write(vec![set_meta(d, "layout", &layout)]).await,
    }
}

async fn reset(replica: &Replica, store: &dyn Store) -> Result<(), StoreError> {
    let d = store.dialect();
    let mut statements = store::drop_tables(&replica.tables);
    statements.extend(rollups::drop(&replica.rollups));
    statements.extend(store::create_tables(d, &replica.tables));
    statements.extend(rollups::create(d, &replica.rollups));
    statements.push(set_meta(
        d,
        "layout",
        &layout(&replica.tables, &replica.rollups),
    ));
    // Followers see an empty replica at once, not the old account's state.
    statements.push(save(store, &State::default()));
    store.write(statements).await
}

async fn load(store: &dyn Store) -> Result<Option<State>, StoreError> {
    let Some(text) = get_meta(store, "state").await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&text).ok())
}

fn save(store: &dyn Store, state: &State) -> Statement {
    let text = serde_json::to_string(state).unwrap_or_default();
    set_meta(store.dialect(), "state", &text)
}

async fn count_rows(replica: &Replica, store: &dyn Store) {
    for t in &replica.tables {
        let statement = Statement::plain(format!("SELECT COUNT(*) FROM {}", t.name));
        if let Ok(rows) = store.read(statement, vec![Kind::Int]).await {
            if let Some(Some(Cell::Int(n))) = rows.first().map(|r| r.first()) {
                replica
                    .metrics
                    .replica_rows
                    .get_or_create(&CollectionLabel {
                        collection: t.entity.name,
                    })
                    .set(*n);
            }
        }
    }
}

fn compare(property: &'static str, op: CompareOp, value: Literal) -> Filter {
    Filter::Compare {
        property,
        op,
        value,
    }
}

struct Sync<'r> {
    replica: &'r Replica,
    store: &'r dyn Store,
    caller: Caller,
    dialect: Dialect,
    permits: Semaphore,
    /// Rows per request for whole rows, and for ids only (small rows:
    /// as many as the upstream gives).
    page: u64,
    id_page: u64,
    state: Mutex<State>,
}

impl Sync<'_> {
    fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update<T>(&self, table: &Table, f: impl FnOnce(&mut TableState) -> T) -> (T, State) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(state
            .tables
            .entry(table.entity.name.to_string())
            .or_default());
        (out, state.clone())
    }

    fn metric(&self, table: &Table) -> CollectionLabel {
        CollectionLabel {
            collection: table.entity.name,
        }
    }

    async fn table(&self, t: &Table) -> Result<(), SyncError> {
        if !t.incremental {
            return self.whole(t).await;
        }
        let (backfilled, _) = self.update(t, |s| s.backfilled);
        if backfilled {
            self.changes(t).await?;
        } else {
            self.backfill(t).await?;
        }
        let every = self.replica.settings.reconcile_interval;
        let (due, _) = self.update(t, |s| s.reconcile_due(t, Utc::now(), every));
        if due {
            self.reconcile(t).await?;
        }
        Ok(())
    }

    /// Every row of `t` matching `filter` with an id above `after`, with
    /// `columns`, page by page in id order (within the sync's bound on
    /// upstream requests); `each` takes a page before the next is asked.
    async fn pages<F, Fut>(
        &self,
        t: &Table,
        (filter, after): (Filter, Option<i64>),
        columns: Vec<&'static str>,
        page_size: u64,
        mut each: F,
    ) -> Result<(), SyncError>
    where
        F: FnMut(Arc<CollectionPage>) -> Fut,
        Fut: std::future::Future<Output = Result<(), SyncError>>,
    {
        let base = CollectionQuery::new(t.entity.name)
            .select(columns)
            .filter(filter);
        let plan = PagePlan::keyset(base, after, page_size);
        // Nobody reads a sync's report.
        let report = Report::default();
        let upstream = &self.replica.upstream;
        let mut pages = upstream.pages(&self.caller, &report, plan, self.dialect);
        loop {
            let permit =
                self.permits.acquire().await.map_err(|e| {
                    GatewayError::Internal(format!("replica sync permits closed: {e}"))
                })?;
            let Some(page) = pages.next().await else {
                return Ok(());
            };
            drop(permit);
            each(page?).await?;
        }
    }

    /// Every row of `t` matching `filter` after id `after`, as stored;
    /// `each` stores a page with the last id it holds.
    async fn stored_pages<F, Fut>(
        &self,
        t: &Table,
        filter: Filter,
        after: Option<i64>,
        mut each: F,
    ) -> Result<(), SyncError>
    where
        F: FnMut(Vec<Vec<Cell>>, i64) -> Fut,
        Fut: std::future::Future<Output = Result<(), SyncError>>,
    {
        let columns: Vec<&'static str> = t.columns.iter().map(|f| f.odata).collect();
        self.pages(t, (filter, after), columns, self.page, |page| {
            let rows = t.stored(&page.rows);
            let last = rows.last().and_then(|r| match r.first() {
                Some(Cell::Int(id)) => Some(*id),
                _ => None,
            });
            let stored = last.map(|last| each(rows, last));
            async move {
                match stored {
                    Some(stored) => stored.await,
                    None => Ok(()),
                }
            }
        })
        .await
    }

    async fn backfill(&self, t: &Table) -> Result<(), SyncError> {
        let overlap = self.replica.settings.overlap;
        let (after, _) = self.update(t, |s| {
            // Changes during the backfill are read again afterwards.
            s.since_us
                .get_or_insert((Utc::now() - overlap).timestamp_micros());
            s.after_id
        });
        let after = (after > 0).then_some(after);
        let started = Instant::now();
        let started_at = Utc::now();
        let label = self.metric(t);
        self.stored_pages(t, Filter::True, after, |rows, last| {
            let n = rows.len() as u64;
            let (total, state) = self.update(t, |s| {
                s.after_id = last;
                s.backfill_rows += n;
                s.backfill_rows
            });
            self.replica
                .metrics
                .replica_backfill_rows
                .get_or_create(&label)
                .set(i64::try_from(total).unwrap_or(i64::MAX));
            tracing::info!(collection = t.entity.name, rows = total, "replica backfill");
            let mut statements = store::upsert(self.store.dialect(), t, rows);
            statements.push(save(self.store, &state));
            async move { Ok(self.store.write(statements).await?) }
        })
        .await?;
        let (rows, state) = self.update(t, |s| {
            s.backfilled = true;
            // A fresh copy: its ids are compared again after the interval
            // (a deleted conversation's rows go at the next sync anyway).
            s.reconciled_at.get_or_insert(started_at);
            s.backfill_rows
        });
        // The rollups, counted once from the whole copy.
        let mut statements = rollups::rebuild(self.store.dialect(), &self.replica.rollups, &t.name);
        statements.push(save(self.store, &state));
        self.store.write(statements).await?;
        tracing::info!(
            collection = t.entity.name,
            rows,
            seconds = started.elapsed().as_secs_f64(),
            "replica backfill done"
        );
        Ok(())
    }

    /// Rows changed since the watermark less the overlap.
    async fn changes(&self, t: &Table) -> Result<(), SyncError> {
        let overlap = self.replica.settings.overlap;
        let (from, _) = self.update(t, |s| s.changes_from(overlap));
        let filter = compare("updated_at", CompareOp::Ge, Literal::DateTime(from));
        let updated_at = t.columns.iter().position(|f| f.odata == "updated_at");
        self.stored_pages(t, filter, None, |rows, _| {
            let newest = newest(&rows, updated_at);
            let (_, state) = self.update(t, |s| s.advance(newest, Utc::now()));
            async move {
                let ids = ids_of(&rows);
                let all = &self.replica.rollups;
                let touched = rollups::touched(self.store, all, t, KEY, &ids, Some(&rows)).await?;
                let d = self.store.dialect();
                let mut statements = store::upsert(d, t, rows);
                statements.extend(rollups::refresh(d, all, &t.name, &touched));
                statements.push(save(self.store, &state));
                Ok(self.store.write(statements).await?)
            }
        })
        .await?;
        Ok(())
    }

    /// A small collection, read whole: upserted, and what is gone deleted.
    async fn whole(&self, t: &Table) -> Result<(), SyncError> {
        let mut all = Vec::new();
        self.stored_pages(t, Filter::True, None, |rows, _| {
            all.extend(rows);
            async { Ok(()) }
        })
        .await?;
        let seen: HashSet<i64> = all
            .iter()
            .filter_map(|r| match r.first() {
                Some(Cell::Int(id)) => Some(*id),
                _ => None,
            })
            .collect();
        let gone = self.gone(t, &seen).await?;
        let d = self.store.dialect();
        let mut statements = store::upsert(d, t, all);
        statements.extend(store::delete(d, &t.name, KEY, &gone));
        let (_, state) = self.update(t, |s| {
            s.backfilled = true;
            s.reconciled_at = Some(Utc::now());
        });
        statements.push(save(self.store, &state));
        Ok(self.store.write(statements).await?)
    }

    /// Deletes the rows the upstream no longer has; a deleted
    /// conversation takes its messages and events along. The upstream's
    /// ids come page by page in id order, each page compared with the
    /// stored ids of its range: memory stays a page, not the collection.
    async fn reconcile(&self, t: &Table) -> Result<(), SyncError> {
        let gone = Mutex::new(Vec::new());
        let mut below = None;
        self.pages(t, (Filter::True, None), vec![KEY], self.id_page, |page| {
            let listed: HashSet<i64> = page
                .rows
                .iter()
                .filter_map(|r| r.get(KEY).and_then(lenient_i64))
                .collect();
            let range = listed.iter().max().map(|top| (below, Some(*top)));
            below = range.map_or(below, |(_, top)| top);
            let gone = &gone;
            async move {
                if let Some(range) = range {
                    let stored = self.stored_ids(t, range).await?;
                    let mut gone = gone.lock().unwrap_or_else(|e| e.into_inner());
                    gone.extend(stored.into_iter().filter(|id| !listed.contains(id)));
                }
                Ok(())
            }
        })
        .await?;
        // Stored ids past the upstream's last are gone too.
        let past = self.stored_ids(t, (below, None)).await?;
        let mut gone = gone.into_inner().unwrap_or_else(|e| e.into_inner());
        gone.extend(past);
        let d = self.store.dialect();
        let all = &self.replica.rollups;
        let mut touched = vec![(
            t,
            rollups::touched(self.store, all, t, KEY, &gone, None).await?,
        )];
        let mut statements = store::delete(d, &t.name, KEY, &gone);
        if t.entity.name == "Conversation" && !gone.is_empty() {
            for other in &self.replica.tables {
                if other.incremental && other.name != t.name && other.has("conversation_id") {
                    let by_conversation =
                        rollups::touched(self.store, all, other, "conversation_id", &gone, None);
                    touched.push((other, by_conversation.await?));
                    statements.extend(store::delete(d, &other.name, "conversation_id", &gone));
                }
            }
        }
        for (table, touched) in &touched {
            statements.extend(rollups::refresh(d, all, &table.name, touched));
        }
        if !gone.is_empty() {
            tracing::info!(
                collection = t.entity.name,
                deleted = gone.len(),
                "replica deletions"
            );
        }
        let (_, state) = self.update(t, |s| s.reconciled_at = Some(Utc::now()));
        statements.push(save(self.store, &state));
        Ok(self.store.write(statements).await?)
    }

    /// Stored ids of `t` in `(above, up_to]` (either end open when `None`).
    async fn stored_ids(
        &self,
        t: &Table,
        (above, up_to): (Option<i64>, Option<i64>),
    ) -> Result<Vec<i64>, StoreError> {
        let d = self.store.dialect();
        let mut b = Builder::default();
        let mut conditions = vec!["1 = 1".to_string()];
        if let Some(id) = above {
            conditions.push(format!("{KEY} > {}", b.bind(d, Cell::Int(id), Kind::Int)));
        }
        if let Some(id) = up_to {
            conditions.push(format!("{KEY} <= {}", b.bind(d, Cell::Int(id), Kind::Int)));
        }
        b.push(&format!(
            "SELECT {KEY} FROM {} WHERE {}",
            t.name,
            conditions.join(" AND ")
        ));
        let rows = self.store.read(b.finish(), vec![Kind::Int]).await?;
        Ok(ids_of(&rows))
    }

    /// Stored ids of `t` the upstream did not list.
    async fn gone(&self, t: &Table, seen: &HashSet<i64>) -> Result<Vec<i64>, StoreError> {
        let stored = self
            .store
            .read(
                Statement {
                    sql: format!("SELECT id FROM {}", t.name),
                    params: Vec::new(),
                },
                vec![Kind::Int],
            )
            .await?;
        Ok(stored
            .into_iter()
            .filter_map(|r| match r.first() {
                Some(Cell::Int(id)) if !seen.contains(id) => Some(*id),
                _ => None,
            })
            .collect())
    }
}

/// The ids of stored rows (their first cell).
fn ids_of(rows: &[Vec<Cell>]) -> Vec<i64> {
    rows.iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Int(id)) => Some(*id),
            _ => None,
        })
        .collect()
}
