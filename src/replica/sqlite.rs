//! The embedded engine: one SQLite file in WAL mode, one writer and a few
//! readers, each on a blocking thread so the async workers never wait on
//! the disk.

use super::store::{Store, StoreError, StoreResult};
use crate::sql::{Cell, Kind, SqlDialect, Statement};
use async_trait::async_trait;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub struct Sqlite {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    free_readers: Semaphore,
}

fn fail(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl Sqlite {
    /// A read's statement, run (`read` traces it).
    async fn read_rows(
        &self,
        statement: Statement,
        kinds: Vec<Kind>,
    ) -> StoreResult<Vec<Vec<Cell>>> {
        let _permit = self.free_readers.acquire().await.map_err(fail)?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            // The permit guarantees one of them is free.
            let connection = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .ok_or_else(|| fail("no free reader"))?;
            query(&connection, statement, &kinds).map_err(fail)
        })
        .await
        .map_err(fail)?
    }

    pub fn open(path: &Path, readers: usize) -> StoreResult<Sqlite> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        }
        let writer =
            Connection::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
            )
            .map_err(fail)?;
        let readers = (0..readers.max(1))
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(fail)?;
                c.execute_batch("PRAGMA busy_timeout = 5000;")
                    .map_err(fail)?;
                Ok(Mutex::new(c))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Sqlite {
            writer: Arc::new(Mutex::new(writer)),
            free_readers: Semaphore::new(readers.len()),
            readers: Arc::new(readers),
        })
    }
}

struct Dialect;

impl SqlDialect for Dialect {
    fn param(&self, n: usize, _kind: Kind) -> String {
        format!("?{n}")
    }

    fn column_type(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "INTEGER",
            Kind::Real => "REAL",
            Kind::Text => "TEXT",
        }
    }

    fn month_of_day(&self, day: &str) -> String {
        format!(
            "(CAST(strftime('%Y', ({day}) * 86400, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', ({day}) * 86400, 'unixepoch') AS INTEGER) - 1)"
        )
    }

    fn greatest(&self, a: &str, b: &str) -> String {
        format!("max({a}, {b})")
    }

    fn contains(&self, column: &str, p: &str) -> String {
        format!("instr({column}, {p}) > 0")
    }

    fn starts_with(&self, column: &str, p: &str) -> String {
        format!("substr({column}, 1, length({p})) = {p}")
    }

    fn ends_with(&self, column: &str, p: &str) -> String {
        // `substr(x, -0)` is all of x: an empty suffix is tested apart, and
        // `x = x` keeps a null column unknown there as everywhere.
        format!(
            "(substr({column}, -length({p})) = {p} OR (length({p}) = 0 AND {column} = {column}))"
        )
    }
}

fn value(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) => Value::Integer(i),
        Cell::Real(f) => Value::Real(f),
        Cell::Text(s) => Value::Text(s),
    }
}

fn read_cell(v: ValueRef<'_>, kind: Kind) -> Cell {
    match (v, kind) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(i), Kind::Real) => Cell::Real(i as f64),
        (ValueRef::Integer(i), _) => Cell::Int(i),
        (ValueRef::Real(f), Kind::Int) => Cell::Int(f as i64),
        (ValueRef::Real(f), _) => Cell::Real(f),
        (ValueRef::Text(t), _) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(_), _) => Cell::Null,
    }
}

/// The statement's parameters as SQLite values, in order.
fn params(statement: Statement) -> rusqlite::ParamsFromIter<Vec<Value>> {
    rusqlite::params_from_iter(
        statement
            .params
            .into_iter()
            .map(|(c, _)| value(c))
            .collect(),
    )
}

fn run(connection: &Connection, statement: Statement) -> rusqlite::Result<()> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    prepared.execute(params(statement))?;
    Ok(())
}

fn query(
    connection: &Connection,
    statement: Statement,
    kinds: &[Kind],
) -> rusqlite::Result<Vec<Vec<Cell>>> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    let mut rows = prepared.query(params(statement))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            cells.push(read_cell(row.get_ref(i)?, *kind));
        }
        out.push(cells);
    }
    Ok(out)
}

#[async_trait]
impl Store for Sqlite {
    fn dialect(&self) -> &dyn SqlDialect {
        &Dialect
    }

    async fn write(&self, statements: Vec<Statement>) -> StoreResult<()> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = writer.lock().unwrap_or_else(|e| e.into_inner());
            let tx = connection.transaction()?;
            for s in statements {
                run(&tx, s)?;
            }
            tx.commit()
        })
        .await
        .map_err(fail)?
        .map_err(fail)
    }

    async fn read(&self, statement: Statement, kinds: Vec<Kind>) -> StoreResult<Vec<Vec<Cell>>> {
        let span = crate::telemetry::db_span("sqlite", &statement.sql);
        let rows = self.read_rows(statement, kinds).await;
        if let Some(span) = span {
            span.finish(rows.as_ref().ok().map(Vec::len), rows.is_err());
        }
        rows
    }

    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }
}
