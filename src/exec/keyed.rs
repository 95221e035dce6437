//! Key lookups through a DataLoader keyed by (collection, id), one per
//! root field of a request and so per credential. Each level asks for all
//! its ids with one `load_many` (batches follow the query's shape, never a
//! timing window: `max_batch_size(1)` sends each call's keys at once), and
//! the loader's memo means an id loaded earlier in the request is never
//! asked again: a User that is both assignee and message sender is read
//! once.

use super::by_keys::{PieceTop, Reader};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionQuery, Dialect, Filter, Row};
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey {
    pub collection: &'static str,
    pub id: i64,
}

/// Columns read for each collection: the union of every place of the plan
/// that looks its rows up by key, so one row serves them all.
pub type KeyColumns = BTreeMap<&'static str, Vec<&'static str>>;

pub struct RowLoader {
    upstream: Arc<Upstream>,
    caller: Caller,
    report: Arc<Report>,
    dialect: Dialect,
    columns: KeyColumns,
}

impl Loader<RowKey> for RowLoader {
    type Value = Arc<Row>;
    type Error = GatewayError;

    async fn load(&self, keys: &[RowKey]) -> Result<HashMap<RowKey, Arc<Row>>, GatewayError> {
        let mut by_collection: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
        for key in keys {
            by_collection
                .entry(key.collection)
                .or_default()
                .push(key.id);
        }
        let reader = Reader {
            upstream: &self.upstream,
            caller: &self.caller,
            report: &self.report,
            dialect: self.dialect,
        };
        let fetches = by_collection.into_iter().map(|(collection, mut ids)| {
            // Sorted: equal id sets give equal URLs (cache keys, logs).
            ids.sort_unstable();
            ids.dedup();
            let select = self.columns.get(collection).cloned().unwrap_or_default();
            let base = CollectionQuery::new(collection).select(select);
            let reader = &reader;
            async move {
                let rows = reader
                    .rows_where_in(&base, &Filter::True, KEY, &ids, PieceTop::OneRowPerKey)
                    .await?;
                Ok::<_, GatewayError>((collection, rows))
            }
        });
        let mut found = HashMap::new();
        for result in futures::future::join_all(fetches).await {
            let (collection, rows) = result?;
            for row in rows {
                if let Some(id) = row.get(KEY).and_then(lenient_i64) {
                    found.insert(RowKey { collection, id }, row);
                }
            }
        }
        Ok(found)
    }
}

pub type KeyLoader = DataLoader<RowLoader, HashMapCache>;

pub fn key_loader(
    upstream: Arc<Upstream>,
    caller: Caller,
    report: Arc<Report>,
    dialect: Dialect,
    columns: KeyColumns,
) -> KeyLoader {
    let loader = RowLoader {
        upstream,
        caller,
        report,
        dialect,
        columns,
    };
    let tasks = ScopedTasks::default();
    let spawn = move |load| tasks.spawn(load);
    DataLoader::with_cache(loader, spawn, HashMapCache::default()).max_batch_size(1)
}

/// The loader's batch loads, aborted when the loader goes (its request
/// finished, timed out or lost its client): a load nobody waits for any
/// more must not keep its upstream requests running.
#[derive(Default)]
struct ScopedTasks {
    running: std::sync::Mutex<Vec<AbortHandle>>,
}

impl ScopedTasks {
    fn spawn(&self, load: BoxFuture<'static, ()>) {
        let task = tokio::spawn(crate::telemetry::carried(load)).abort_handle();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|t| !t.is_finished());
        running.push(task);
    }
}

impl Drop for ScopedTasks {
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(|e| e.into_inner());
        for task in running.drain(..) {
            task.abort();
        }
    }
}
