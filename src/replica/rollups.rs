//! Keeping the rollups (`sql::Rollup`) in step with their rows: built whole
//! after a table's backfill, then every write that changes rows recomputes
//! the cells of the time it touched, in the same transaction. A quarter's
//! cells are counted from the rows, an hour's from its quarters, a day's
//! from its hours; the repeats of a distinct column are re-read for the
//! values the write touched.

use super::store::{Store, StoreResult};
use crate::sql::{
    kind, Builder, Cell, Kind, Level, Rollup, SqlDialect, Statement, Table, QUARTER_US,
};
use std::collections::BTreeSet;

/// The tables of the rollups, and their indexes.
pub fn create(d: &dyn SqlDialect, rollups: &[Rollup]) -> Vec<Statement> {
    let mut out = Vec::new();
    for r in rollups {
        let mut columns = vec![
            format!("level {}", d.column_type(Kind::Int)),
            format!("slot {}", d.column_type(Kind::Int)),
        ];
        columns.extend(
            r.dims
                .iter()
                .map(|f| format!("{} {}", f.odata, type_of(d, f))),
        );
        columns.push(format!("n {}", d.column_type(Kind::Int)));
        columns.push(format!("n_d {}", d.column_type(Kind::Int)));
        for m in &r.measures {
            columns.push(format!("n_{} {}", m.odata, d.column_type(Kind::Int)));
            for prefix in ["s_", "lo_", "hi_"] {
                columns.push(format!("{prefix}{} {}", m.odata, d.column_type(Kind::Real)));
            }
        }
        out.push(Statement::plain(format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            r.table,
            columns.join(", ")
        )));
        out.push(Statement::plain(format!(
            "CREATE INDEX IF NOT EXISTS {t}_slot ON {t} (level, slot)",
            t = r.table
        )));
        if let (Some(x), Some(distinct), Some(time)) = (r.repeats_table(), r.distinct, r.time) {
            let mut columns: Vec<String> = r
                .dims
                .iter()
                .chain([&distinct, &time])
                .map(|f| format!("{} {}", f.odata, type_of(d, f)))
                .collect();
            columns.dedup();
            out.push(Statement::plain(format!(
                "CREATE TABLE IF NOT EXISTS {x} ({})",
                columns.join(", ")
            )));
            out.push(Statement::plain(format!(
                "CREATE INDEX IF NOT EXISTS {x}_{c} ON {x} ({c})",
                c = distinct.odata
            )));
        }
    }
    out
}

fn type_of(d: &dyn SqlDialect, f: &crate::model::Field) -> &'static str {
    d.column_type(kind(f).unwrap_or(Kind::Text))
}

/// Every rollup table and repeats table, dropped.
pub fn drop(rollups: &[Rollup]) -> Vec<Statement> {
    rollups
        .iter()
        .flat_map(|r| std::iter::once(r.table.clone()).chain(r.repeats_table()))
        .map(|t| Statement::plain(format!("DROP TABLE IF EXISTS {t}")))
        .collect()
}

/// The rollups of `base` built anew from all its rows.
pub fn rebuild(d: &dyn SqlDialect, rollups: &[Rollup], base: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    for r in rollups.iter().filter(|r| r.base == base) {
        out.push(Statement::plain(format!("DELETE FROM {}", r.table)));
        out.extend(count(d, r, None));
        if r.time.is_some() {
            for level in [Level::Hour, Level::Day] {
                out.push(merge(r, level, None));
            }
        }
        out.extend(repeats(d, r, None));
    }
    out
}

/// What a write changed in one table: the instants of its rows before and
/// after (µs of the time columns), and the values of distinct columns.
#[derive(Debug, Default)]
pub struct Touched {
    pub instants: BTreeSet<i64>,
    pub distinct: BTreeSet<i64>,
    /// Any row at all: cells without time are recomputed then.
    pub any: bool,
}

/// The cells of the rollups of `base` that `touched` changed, recomputed.
pub fn refresh(
    d: &dyn SqlDialect,
    rollups: &[Rollup],
    base: &str,
    touched: &Touched,
) -> Vec<Statement> {
    if !touched.any {
        return Vec::new();
    }
    let ranges = quarter_ranges(&touched.instants);
    let mut out = Vec::new();
    for r in rollups.iter().filter(|r| r.base == base) {
        if r.time.is_none() {
            out.push(Statement::plain(format!("DELETE FROM {}", r.table)));
            out.extend(count(d, r, None));
            continue;
        }
        for range in &ranges {
            out.extend(count(d, r, Some(*range)));
            for level in [Level::Hour, Level::Day] {
                let widened = widen(*range, level);
                out.push(delete_cells(d, r, level, widened));
                out.push(merge(r, level, Some(widened)));
            }
        }
        if !touched.distinct.is_empty() {
            let values: Vec<i64> = touched.distinct.iter().copied().collect();
            out.extend(repeats(d, r, Some(&values)));
        }
    }
    out
}

/// What a write to `table` touches: the rows whose `column` is one of
/// `values` as stored now (before the write), and `new_rows` as they will
/// be stored.
pub async fn touched(
    store: &dyn Store,
    rollups: &[Rollup],
    table: &Table,
    column: &str,
    values: &[i64],
    new_rows: Option<&[Vec<Cell>]>,
) -> StoreResult<Touched> {
    let ours: Vec<&Rollup> = rollups.iter().filter(|r| r.base == table.name).collect();
    let mut touched = Touched {
        any: !ours.is_empty()
            && (!values.is_empty() || new_rows.is_some_and(|rows| !rows.is_empty())),
        ..Touched::default()
    };
    if !touched.any {
        return Ok(touched);
    }
    let times: BTreeSet<&str> = ours
        .iter()
        .filter_map(|r| r.time)
        .map(|f| f.odata)
        .collect();
    let distinct: BTreeSet<&str> = ours
        .iter()
        .filter_map(|r| r.distinct)
        .map(|f| f.odata)
        .collect();
    let columns: Vec<&str> = times.iter().chain(&distinct).copied().collect();
    if columns.is_empty() {
        return Ok(touched);
    }
    let mut add = |row: &[Cell], names: &[&str]| {
        for (cell, name) in row.iter().zip(names) {
            if let Cell::Int(v) = cell {
                if times.contains(name) {
                    touched.instants.insert(*v);
                }
                if distinct.contains(name) {
                    touched.distinct.insert(*v);
                }
            }
        }
    };
    for chunk in values.chunks(10_000) {
        let mut b = Builder::default();
        let params: Vec<String> = chunk
            .iter()
            .map(|v| b.bind(store.dialect(), Cell::Int(*v), Kind::Int))
            .collect();
        b.push(&format!(
            "SELECT {} FROM {} WHERE {column} IN ({})",
            columns.join(", "),
            table.name,
            params.join(", ")
        ));
        let kinds = vec![Kind::Int; columns.len()];
        for row in store.read(b.finish(), kinds).await? {
            add(&row, &columns);
        }
    }
    let names: Vec<&str> = table.columns.iter().map(|f| f.odata).collect();
    for row in new_rows.into_iter().flatten() {
        add(row, &names);
    }
    Ok(touched)
}

/// Consecutive quarters holding `instants`, merged into ranges `[a, b)`.
fn quarter_ranges(instants: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in instants {
        let a = t - t.rem_euclid(QUARTER_US);
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(a + QUARTER_US),
            _ => out.push((a, a + QUARTER_US)),
        }
    }
    out
}

/// A range of quarters grown to whole cells of `level`.
fn widen((a, b): (i64, i64), level: Level) -> (i64, i64) {
    let len = level.length_us().unwrap_or(QUARTER_US);
    let start = a - a.rem_euclid(len);
    let end = b + (len - b.rem_euclid(len)) % len;
    (start, end)
}

fn delete_cells(d: &dyn SqlDialect, r: &Rollup, level: Level, (a, b): (i64, i64)) -> Statement {
    let mut s = Builder::default();
    let lo = s.bind(d, Cell::Int(a), Kind::Int);
    let hi = s.bind(d, Cell::Int(b), Kind::Int);
    s.push(&format!(
        "DELETE FROM {} WHERE level = {} AND slot >= {lo} AND slot < {hi}",
        r.table,
        level.code()
    ));
    s.finish()
}

/// The cells counted from the rows (quarters, or `All` for a rollup
/// without time), within `range` when given, after deleting them.
fn count(d: &dyn SqlDialect, r: &Rollup, range: Option<(i64, i64)>) -> Vec<Statement> {
    let dims: Vec<&str> = r.dims.iter().map(|f| f.odata).collect();
    let (level, slot) = match r.time {
        Some(t) => (Level::Quarter, floor(t.odata, QUARTER_US)),
        None => (Level::All, "0".to_string()),
    };
    let mut select = vec![level.code().to_string(), slot];
    select.extend(dims.iter().map(|c| c.to_string()));
    select.push("COUNT(*)".into());
    select.push(match r.distinct {
        Some(c) => format!("COUNT({})", c.odata),
        None => "0".into(),
    });
    for m in &r.measures {
        let c = m.odata;
        select.extend([
            format!("COUNT({c})"),
            format!("SUM({c})"),
            format!("MIN({c})"),
            format!("MAX({c})"),
        ]);
    }
    let mut b = Builder::default();
    let mut conditions = only(d, r, &mut b);
    if let Some(t) = r.time {
        conditions.push(format!("{} IS NOT NULL", t.odata));
        if let Some((lo, hi)) = range {
            let lo = b.bind(d, Cell::Int(lo), Kind::Int);
            let hi = b.bind(d, Cell::Int(hi), Kind::Int);
            conditions.push(format!("{t} >= {lo} AND {t} < {hi}", t = t.odata));
        }
    }
    if conditions.is_empty() {
        conditions.push("1 = 1".into());
    }
    let groups: Vec<String> = (2..=dims.len() + 2).map(|i| i.to_string()).collect();
    b.push(&format!(
        "INSERT INTO {} (level, slot, {}) SELECT {} FROM {} WHERE {} GROUP BY {}",
        r.table,
        r.cell_columns().join(", "),
        select.join(", "),
        r.base,
        conditions.join(" AND "),
        groups.join(", ")
    ));
    let mut out = Vec::new();
    if let Some(range) = range {
        out.push(delete_cells(d, r, Level::Quarter, range));
    }
    out.push(b.finish());
    out
}

/// `level`'s cells merged from the cells one level down, within `range`.
fn merge(r: &Rollup, level: Level, range: Option<(i64, i64)>) -> Statement {
    let len = level.length_us().unwrap_or(QUARTER_US);
    let below = if level == Level::Day {
        Level::Hour
    } else {
        Level::Quarter
    };
    let dims: Vec<&str> = r.dims.iter().map(|f| f.odata).collect();
    let mut select = vec![level.code().to_string(), floor("slot", len)];
    select.extend(dims.iter().map(|c| c.to_string()));
    select.push("SUM(n)".into());
    select.push("SUM(n_d)".into());
    for m in &r.measures {
        let c = m.odata;
        select.extend([
            format!("SUM(n_{c})"),
            format!("SUM(s_{c})"),
            format!("MIN(lo_{c})"),
            format!("MAX(hi_{c})"),
        ]);
    }
    let within = match range {
        // Cell bounds are fixed numbers of the gateway's, never input.
        Some((a, b)) => format!(" AND slot >= {a} AND slot < {b}"),
        None => String::new(),
    };
    let groups: Vec<String> = (2..=dims.len() + 2).map(|i| i.to_string()).collect();
    Statement::plain(format!(
        "INSERT INTO {t} (level, slot, {}) SELECT {} FROM {t} WHERE level = {}{within} GROUP BY {}",
        r.cell_columns().join(", "),
        select.join(", "),
        below.code(),
        groups.join(", "),
        t = r.table,
    ))
}

/// The repeats of the distinct column: every row whose (dims, value) has
/// more than one row, re-read for `values` (all when `None`).
fn repeats(d: &dyn SqlDialect, r: &Rollup, values: Option<&[i64]>) -> Vec<Statement> {
    let (Some(x), Some(distinct), Some(time)) = (r.repeats_table(), r.distinct, r.time) else {
        return Vec::new();
    };
    let mut delete = Builder::default();
    let mut insert = Builder::default();
    let mut conditions = only(d, r, &mut insert);
    conditions.push(format!("{} IS NOT NULL", distinct.odata));
    delete.push(&format!("DELETE FROM {x}"));
    if let Some(values) = values {
        let list = |b: &mut Builder| -> String {
            let params: Vec<String> = values
                .iter()
                .map(|v| b.bind(d, Cell::Int(*v), Kind::Int))
                .collect();
            params.join(", ")
        };
        let deleted = list(&mut delete);
        delete.push(&format!(" WHERE {} IN ({deleted})", distinct.odata));
        let inserted = list(&mut insert);
        conditions.push(format!("{} IN ({inserted})", distinct.odata));
    }
    let mut columns: Vec<&str> = r.dims.iter().map(|f| f.odata).collect();
    columns.push(distinct.odata);
    let partition = columns.join(", ");
    columns.push(time.odata);
    columns.dedup();
    let list = columns.join(", ");
    insert.push(&format!(
        "INSERT INTO {x} ({list}) SELECT {list} FROM (SELECT {list}, COUNT(*) OVER (PARTITION BY {partition}) AS k FROM {} WHERE {}) grouped WHERE k > 1",
        r.base,
        conditions.join(" AND ")
    ));
    vec![delete.finish(), insert.finish()]
}

/// The rollup's fixed conjuncts, as bound conditions.
fn only(d: &dyn SqlDialect, r: &Rollup, b: &mut Builder) -> Vec<String> {
    r.only
        .iter()
        .map(|(f, v)| {
            let p = match v {
                crate::odata::Literal::String(s) => b.bind(d, Cell::Text(s.clone()), Kind::Text),
                crate::odata::Literal::Int(i) => b.bind(d, Cell::Int(*i), Kind::Int),
                crate::odata::Literal::Bool(v) => b.bind(d, Cell::Int(i64::from(*v)), Kind::Int),
                _ => "NULL".to_string(),
            };
            format!("{} = {p}", f.odata)
        })
        .collect()
}

/// The start of the `len`-long cell holding `column` (µs; floor for any
/// sign).
fn floor(column: &str, len: i64) -> String {
    format!("({column} - ((({column} % {len}) + {len}) % {len}))")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiVersion;
    use crate::sql::{rollups, tables, Plain, DAY_US, HOUR_US};

    #[test]
    fn touched_instants_become_merged_quarter_ranges() {
        let q = QUARTER_US;
        let instants: BTreeSet<i64> = [1, q - 1, q + 5, 3 * q + 2].into();
        assert_eq!(quarter_ranges(&instants), vec![(0, 2 * q), (3 * q, 4 * q)]);
        assert_eq!(widen((q, 2 * q), Level::Hour), (0, HOUR_US));
        assert_eq!(widen((HOUR_US, HOUR_US + q), Level::Day), (0, DAY_US));
    }

    #[test]
    fn a_refresh_recomputes_the_touched_cells_at_every_level() {
        let all = tables(ApiVersion::V1_1);
        let rollups = rollups(&all);
        let touched = Touched {
            instants: [5 * QUARTER_US + 1].into(),
            distinct: [7].into(),
            any: true,
        };
        let statements = refresh(&Plain, &rollups, "la_reportingevent", &touched);
        let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
        assert!(
            sql[0].starts_with("DELETE FROM la_r_event_agent WHERE level = 0"),
            "{sql:?}"
        );
        assert!(
            sql[1].starts_with("INSERT INTO la_r_event_agent"),
            "{sql:?}"
        );
        assert!(sql.iter().any(|s| s.contains("WHERE level = 1")));
        assert!(sql
            .iter()
            .any(|s| s.starts_with("DELETE FROM la_x_event_agent WHERE conversation_id IN (?")));
        assert!(
            sql.last().is_some_and(
                |s| s.contains("PARTITION BY name, user_id, account_id, conversation_id")
            )
        );
        let untouched = refresh(&Plain, &rollups, "la_reportingevent", &Touched::default());
        assert!(untouched.is_empty());
        // A rollup without time is counted anew whole.
        let state = refresh(&Plain, &rollups, "la_conversation", &touched);
        assert!(state
            .iter()
            .any(|s| s.sql == "DELETE FROM la_r_conversation_state"));
    }
}
