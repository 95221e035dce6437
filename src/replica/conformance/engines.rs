//! The engines under test: a SQLite file and a private PostgreSQL cluster,
//! with the replica's tables and rollups, loaded and edited as the sync
//! does (rollups rebuilt after the first load, then refreshed in the same
//! write as each edit), and asked through the replica's own answer path.

use super::super::answer::{select_groups, time_columns};
use super::super::postgres::Postgres;
use super::super::rollups::{self, Touched};
use super::super::sqlite::Sqlite;
use super::super::store::{self, Store};
use super::generate::Edits;
use crate::aggregate::{Group, Spec};
use crate::model::{ApiVersion, KEY};
use crate::odata::Row;
use crate::sql::{cell, rollups as rollups_of, tables, Cell, Rollup, Statement, Table};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

/// The stores, their tables made once, and a runtime they live on.
pub(super) struct Engines {
    pub runtime: tokio::runtime::Runtime,
    pub stores: Vec<(&'static str, Arc<dyn Store>)>,
    pub tables: Vec<Table>,
    pub rollups: Vec<Rollup>,
}

pub(super) fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let tables = tables(ApiVersion::V1_1);
        let rollups = rollups_of(&tables);
        let file = std::env::temp_dir().join(format!("conformance-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let stores = runtime.block_on(async {
            let sqlite: Arc<dyn Store> = Arc::new(Sqlite::open(&file, 2).expect("SQLite"));
            let postgres: Arc<dyn Store> =
                Arc::new(Postgres::open(&postgres_url()).await.expect("PostgreSQL"));
            for s in [&sqlite, &postgres] {
                let mut statements = store::drop_tables(&tables);
                statements.extend(rollups::drop(&rollups));
                statements.extend(store::create_tables(s.dialect(), &tables));
                statements.extend(rollups::create(s.dialect(), &rollups));
                s.write(statements).await.expect("tables");
            }
            vec![("SQLite", sqlite), ("PostgreSQL", postgres)]
        });
        Engines {
            runtime,
            stores,
            tables,
            rollups,
        }
    })
}

/// A private PostgreSQL cluster (tests/upstream-pg/replica-db.js), gone
/// with the test process.
fn postgres_url() -> String {
    let dir = format!("{}/tests/upstream-pg", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("node")
        .arg("replica-db.js")
        .current_dir(&dir)
        .env("PARENT_PID", std::process::id().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start PostgreSQL (node, and Debian's postgresql)");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("READY line");
    let socket = line
        .strip_prefix("READY ")
        .map(str::trim)
        .unwrap_or_else(|| panic!("PostgreSQL did not start: {line:?}"));
    // Lives as long as the test process (it exits with PARENT_PID).
    std::mem::forget(child);
    let host: String = url::form_urlencoded::byte_serialize(socket.as_bytes()).collect();
    format!("postgres://postgres@{host}/postgres")
}

fn stored(table: &Table, rows: &[Row]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|r| {
            table
                .columns
                .iter()
                .map(|f| cell(f, r.get(f.odata)))
                .collect()
        })
        .collect()
}

async fn write(store: &dyn Store, table: &Table, statements: Vec<Statement>) {
    if let Err(e) = store.write(statements).await {
        panic!("rows not stored in {}: {e}", table.name);
    }
}

/// `rows` loaded into `table` afresh, its rollups rebuilt; then `edits`
/// written as the sync writes them: changed and new rows with the cells
/// they touch, then deletions with theirs.
pub(super) async fn load(
    store: &dyn Store,
    table: &Table,
    all: &[Rollup],
    rows: &[Row],
    edits: &Edits,
) {
    let d = store.dialect();
    let mut statements = vec![Statement::plain(format!("DELETE FROM {}", table.name))];
    statements.extend(store::upsert(d, table, stored(table, rows)));
    statements.extend(rollups::rebuild(d, all, &table.name));
    write(store, table, statements).await;
    let upserts = stored(table, &edits.upserts);
    let ids: Vec<i64> = upserts
        .iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Int(id)) => Some(*id),
            _ => None,
        })
        .collect();
    let touched = touched(store, all, table, &ids, Some(&upserts)).await;
    let mut statements = store::upsert(d, table, upserts);
    statements.extend(rollups::refresh(d, all, &table.name, &touched));
    write(store, table, statements).await;
    let touched = touched_by_ids(store, all, table, &edits.deleted).await;
    let mut statements = store::delete(d, &table.name, KEY, &edits.deleted);
    statements.extend(rollups::refresh(d, all, &table.name, &touched));
    write(store, table, statements).await;
}

async fn touched(
    store: &dyn Store,
    all: &[Rollup],
    table: &Table,
    ids: &[i64],
    new: Option<&[Vec<Cell>]>,
) -> Touched {
    match rollups::touched(store, all, table, KEY, ids, new).await {
        Ok(t) => t,
        Err(e) => panic!("cannot read the rows an edit touches: {e}"),
    }
}

async fn touched_by_ids(store: &dyn Store, all: &[Rollup], table: &Table, ids: &[i64]) -> Touched {
    touched(store, all, table, ids, None).await
}

/// The groups the replica's answer path gives on `store`, and whether a
/// rollup held them.
pub(super) async fn answered(
    store: &dyn Store,
    table: &Table,
    all: &[Rollup],
    spec: &Spec,
) -> (Option<Vec<Group>>, bool) {
    let mut bounds = HashMap::new();
    for column in time_columns(table, all, spec) {
        let b = store::bounds(store, &table.name, column)
            .await
            .expect("bounds");
        bounds.insert(column, b);
    }
    match select_groups(store, table, all, spec, &bounds, u64::MAX - 1).await {
        Ok(Some(selection)) => (Some(selection.groups), selection.rollup.is_some()),
        Ok(None) => (None, false),
        Err(e) => panic!("the SQL engine failed: {e:?}"),
    }
}
