//! The storage trait both engines implement, and the statements that keep
//! the copy: its tables, upserts, deletions and its own state.

use crate::aggregate::sql::Bounds;
use crate::sql::{Builder, Cell, Kind, SqlDialect, Statement, Table};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("replica store: {0}")]
    Engine(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync {
    fn dialect(&self) -> &dyn SqlDialect;
    /// Runs the statements in one transaction.
    async fn write(&self, statements: Vec<Statement>) -> StoreResult<()>;
    /// Rows of a query, each column read as `kinds` says.
    async fn read(&self, statement: Statement, kinds: Vec<Kind>) -> StoreResult<Vec<Vec<Cell>>>;
    /// Whether this process may sync: always for SQLite; for PostgreSQL,
    /// whether it holds the session lock the gateway replicas share.
    async fn lead(&self) -> StoreResult<bool>;
}

/// The replica's own state: one row per key (JSON values).
pub const META: &str = "la_meta";

pub fn create_tables(dialect: &dyn SqlDialect, tables: &[Table]) -> Vec<Statement> {
    let plain = |sql: String| Statement {
        sql,
        params: Vec::new(),
    };
    let mut out = vec![plain(format!(
        "CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    ))];
    for t in tables {
        let columns: Vec<String> = t
            .columns
            .iter()
            .zip(t.kinds())
            .map(|(f, k)| {
                let key = if f.odata == "id" { " PRIMARY KEY" } else { "" };
                format!("{} {}{key}", f.odata, dialect.column_type(k))
            })
            .collect();
        out.push(plain(format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            t.name,
            columns.join(", ")
        )));
        // The grouped queries filter on time and inbox; conversation counts
        // group by status and assignee (read in index order, unsorted);
        // reconciliation deletes by conversation.
        for index in [
            &["created_at"][..],
            &["inbox_id", "created_at"],
            &["conversation_id"],
            &["name", "created_at"],
            &["status", "assignee_id", "account_id"],
        ] {
            if index.iter().all(|c| t.has(c)) {
                out.push(plain(format!(
                    "CREATE INDEX IF NOT EXISTS {}_{} ON {} ({})",
                    t.name,
                    index.join("_"),
                    t.name,
                    index.join(", ")
                )));
            }
        }
    }
    out
}

/// Table statistics for the engine's planner, so that a range over most of
/// a table is read in one pass rather than row by row through an index.
pub fn analyze() -> Statement {
    Statement {
        sql: "ANALYZE".into(),
        params: Vec::new(),
    }
}

pub fn drop_tables(tables: &[Table]) -> Vec<Statement> {
    std::iter::once(META.to_string())
        .chain(tables.iter().map(|t| t.name.clone()))
        .map(|name| Statement {
            sql: format!("DROP TABLE IF EXISTS {name}"),
            params: Vec::new(),
        })
        .collect()
}

/// Inserts or replaces rows (in `table.columns` order), in statements of
/// at most ~30 000 parameters (both engines' limits are above).
pub fn upsert(dialect: &dyn SqlDialect, table: &Table, rows: Vec<Vec<Cell>>) -> Vec<Statement> {
    let kinds = table.kinds();
    let names: Vec<&str> = table.columns.iter().map(|f| f.odata).collect();
    let per_statement = (30_000 / names.len().max(1)).max(1);
    let updates: Vec<String> = names
        .iter()
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut b = Builder::default();
        b.push(&format!(
            "INSERT INTO {} ({}) VALUES ",
            table.name,
            names.join(", ")
        ));
        for (i, row) in rows.by_ref().take(per_statement).enumerate() {
            let values: Vec<String> = row
                .into_iter()
                .zip(&kinds)
                .map(|(cell, kind)| b.bind(dialect, cell, *kind))
                .collect();
            b.push(if i == 0 { "(" } else { ", (" })
                .push(&values.join(", "))
                .push(")");
        }
        b.push(&format!(
            " ON CONFLICT (id) DO UPDATE SET {}",
            updates.join(", ")
        ));
        out.push(b.finish());
    }
    out
}

/// Deletes the rows whose `column` is one of `ids`.
pub fn delete(dialect: &dyn SqlDialect, table: &str, column: &str, ids: &[i64]) -> Vec<Statement> {
    ids.chunks(10_000)
        .map(|chunk| {
            let mut b = Builder::default();
            let params: Vec<String> = chunk
                .iter()
                .map(|id| b.bind(dialect, Cell::Int(*id), Kind::Int))
                .collect();
            b.push(&format!(
                "DELETE FROM {table} WHERE {column} IN ({})",
                params.join(", ")
            ));
            b.finish()
        })
        .collect()
}

pub fn set_meta(dialect: &dyn SqlDialect, key: &str, value: &str) -> Statement {
    let mut b = Builder::default();
    let k = b.bind(dialect, Cell::Text(key.into()), Kind::Text);
    let v = b.bind(dialect, Cell::Text(value.into()), Kind::Text);
    b.push(&format!(
        "INSERT INTO {META} (key, value) VALUES ({k}, {v}) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ));
    b.finish()
}

/// The first and last value of an integer column (`None`: no rows); each
/// a subquery of its own, which both engines answer from the column's
/// index.
pub async fn bounds(store: &dyn Store, table: &str, column: &str) -> StoreResult<Bounds> {
    let sql =
        format!("SELECT (SELECT MIN({column}) FROM {table}), (SELECT MAX({column}) FROM {table})");
    let rows = store
        .read(Statement::plain(sql), vec![Kind::Int, Kind::Int])
        .await?;
    Ok(match rows.first().map(|r| (r.first(), r.get(1))) {
        Some((Some(Cell::Int(lo)), Some(Cell::Int(hi)))) => Some((*lo, *hi)),
        _ => None,
    })
}

pub async fn get_meta(store: &dyn Store, key: &str) -> StoreResult<Option<String>> {
    let mut b = Builder::default();
    let k = b.bind(store.dialect(), Cell::Text(key.into()), Kind::Text);
    b.push(&format!("SELECT value FROM {META} WHERE key = {k}"));
    let rows = store.read(b.finish(), vec![Kind::Text]).await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| match r.into_iter().next() {
            Some(Cell::Text(s)) => Some(s),
            _ => None,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiVersion;
    use crate::sql::{tables, Plain};

    #[test]
    fn upserts_are_cut_below_the_parameter_limits() {
        let all = tables(ApiVersion::V1_1);
        let t = all
            .iter()
            .find(|t| t.entity.name == "Message")
            .expect("Message");
        let width = t.columns.len();
        let rows: Vec<Vec<Cell>> = (0..10_000)
            .map(|i| (0..width).map(|_| Cell::Int(i)).collect())
            .collect();
        let statements = upsert(&Plain, t, rows);
        assert!(statements.len() > 1);
        assert!(statements.iter().all(|s| s.params.len() <= 30_000));
        let total: usize = statements.iter().map(|s| s.params.len()).sum();
        assert_eq!(total, 10_000 * width);
        assert!(statements[0]
            .sql
            .starts_with("INSERT INTO la_message (id, "));
        assert!(statements[0].sql.ends_with(&format!(
            "{} = excluded.{}",
            t.columns[width - 1].odata,
            t.columns[width - 1].odata
        )));
    }
}
