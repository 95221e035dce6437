//! The shared engine: a PostgreSQL database several gateway replicas use.
//! One connection writes (and holds the sync lock), one reads; text
//! columns use the "C" collation so that comparisons are byte-wise, as
//! the gateway's own filter evaluation is.

use super::store::{Store, StoreError, StoreResult};
use crate::sql::{Cell, Kind, SqlDialect, Statement};
use async_trait::async_trait;
use tokio::sync::{Mutex, RwLock};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

pub struct Postgres {
    url: String,
    writer: Mutex<Client>,
    /// Shared by concurrent reads (one connection pipelines them); replaced
    /// when the server closed it.
    reader: RwLock<Client>,
}

/// The session lock the replica's leader holds (any fixed number).
const SYNC_LOCK: i64 = 0x6c61_6771_6c72;

fn fail(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

async fn connect(url: &str) -> StoreResult<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "replica database connection closed");
        }
    });
    Ok(client)
}

impl Postgres {
    /// A read's statement, run (`read` traces it).
    async fn read_rows(
        &self,
        statement: Statement,
        kinds: Vec<Kind>,
    ) -> StoreResult<Vec<Vec<Cell>>> {
        let owned = params(&statement);
        let rows = self
            .reader()
            .await?
            .query(statement.sql.as_str(), &refs(&owned))
            .await
            .map_err(fail)?;
        rows.iter().map(|r| read_row(r, &kinds)).collect()
    }

    pub async fn open(url: &str) -> StoreResult<Postgres> {
        Ok(Postgres {
            url: url.to_string(),
            writer: Mutex::new(connect(url).await?),
            reader: RwLock::new(connect(url).await?),
        })
    }

    /// The writer, connected again if the server closed it (a restart):
    /// the sync lock went with the old session, `lead` takes it again.
    async fn writer(&self) -> StoreResult<tokio::sync::MutexGuard<'_, Client>> {
        let mut writer = self.writer.lock().await;
        if writer.is_closed() {
            *writer = connect(&self.url).await?;
        }
        Ok(writer)
    }

    async fn reader(&self) -> StoreResult<tokio::sync::RwLockReadGuard<'_, Client>> {
        if self.reader.read().await.is_closed() {
            let mut reader = self.reader.write().await;
            if reader.is_closed() {
                *reader = connect(&self.url).await?;
            }
        }
        Ok(self.reader.read().await)
    }
}

struct Dialect;

impl SqlDialect for Dialect {
    fn param(&self, n: usize, kind: Kind) -> String {
        format!(
            "${n}::{}",
            self.column_type(kind).trim_end_matches(" COLLATE \"C\"")
        )
    }

    fn column_type(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Int => "BIGINT",
            Kind::Real => "DOUBLE PRECISION",
            Kind::Text => "TEXT COLLATE \"C\"",
        }
    }

    fn month_of_day(&self, day: &str) -> String {
        let date = format!("(DATE '1970-01-01' + CAST({day} AS INTEGER))");
        format!(
            "(CAST(EXTRACT(YEAR FROM {date}) AS BIGINT) * 12 + CAST(EXTRACT(MONTH FROM {date}) AS BIGINT) - 1)"
        )
    }

    fn greatest(&self, a: &str, b: &str) -> String {
        format!("GREATEST({a}, {b})")
    }

    fn contains(&self, column: &str, p: &str) -> String {
        format!("strpos({column}, {p}) > 0")
    }

    fn starts_with(&self, column: &str, p: &str) -> String {
        format!("starts_with({column}, {p})")
    }

    fn ends_with(&self, column: &str, p: &str) -> String {
        format!("right({column}, length({p})) = {p}")
    }
}

/// Parameters as the types their placeholders are cast to.
fn params(statement: &Statement) -> Vec<Box<dyn ToSql + Sync + Send>> {
    statement
        .params
        .iter()
        .map(|(cell, kind)| -> Box<dyn ToSql + Sync + Send> {
            match (cell, kind) {
                (Cell::Int(i), Kind::Real) => Box::new(*i as f64),
                (Cell::Int(i), _) => Box::new(*i),
                (Cell::Real(f), _) => Box::new(*f),
                (Cell::Text(s), _) => Box::new(s.clone()),
                (Cell::Null, Kind::Int) => Box::new(None::<i64>),
                (Cell::Null, Kind::Real) => Box::new(None::<f64>),
                (Cell::Null, Kind::Text) => Box::new(None::<String>),
            }
        })
        .collect()
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn read_row(row: &Row, kinds: &[Kind]) -> StoreResult<Vec<Cell>> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let cell = match kind {
                Kind::Int => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
                Kind::Real => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::Real)),
                Kind::Text => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(Cell::Text)),
            };
            cell.map(|c| c.unwrap_or(Cell::Null)).map_err(fail)
        })
        .collect()
}

#[async_trait]
impl Store for Postgres {
    fn dialect(&self) -> &dyn SqlDialect {
        &Dialect
    }

    async fn write(&self, statements: Vec<Statement>) -> StoreResult<()> {
        let mut writer = self.writer().await?;
        let tx = writer.transaction().await.map_err(fail)?;
        for s in &statements {
            let owned = params(s);
            tx.execute(s.sql.as_str(), &refs(&owned))
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)
    }

    async fn read(&self, statement: Statement, kinds: Vec<Kind>) -> StoreResult<Vec<Vec<Cell>>> {
        let span = crate::telemetry::db_span("postgresql", &statement.sql);
        let rows = self.read_rows(statement, kinds).await;
        if let Some(span) = span {
            span.finish(rows.as_ref().ok().map(Vec::len), rows.is_err());
        }
        rows
    }

    async fn lead(&self) -> StoreResult<bool> {
        let writer = self.writer().await?;
        let row = writer
            .query_one("SELECT pg_try_advisory_lock($1)", &[&SYNC_LOCK])
            .await
            .map_err(fail)?;
        row.try_get::<_, bool>(0).map_err(fail)
    }
}
