//! An aggregate answered from a rollup's cells instead of its rows, where
//! that gives exactly the same groups: the spec filters only on the
//! rollup's dims (and asks every condition the rollup keeps), bounds its
//! time on quarter hours, groups by dims, buckets the rollup's time column
//! and asks count, sums, averages, minima, maxima and distinct counts. The
//! cells a window needs, and what each adds to which bucket, come from
//! `cells`; they are read as they are stored (summed over the dims the
//! spec neither groups nor fixes) and merged into groups here, with the
//! same bucket rule as every other path.

use super::buckets::{bucket_sql, bucket_start, Bounds};
use super::cells::{Layout, Part};
use super::filter::where_sql;
use crate::aggregate::group::{Group, KeyPart};
use crate::aggregate::spec::{NumOp, Spec};
use crate::model::Field;
use crate::odata::{CompareOp, Filter, Literal};
use crate::sql::{
    kind, Builder, Cell, Kind, Level, Rollup, SqlDialect, Statement, Table, QUARTER_US,
};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Listed slots past this are read as a range of their level (reading
/// more cells than listed is harmless: only the listed ones add).
const MOST_LISTED: usize = 10_000;

/// The statements of an aggregate over a rollup, and how to read them.
pub struct FromRollup<'s> {
    spec: &'s Spec,
    rollup: &'s Rollup,
    layout: Layout,
    pub cells: Statement,
    pub cell_kinds: Vec<Kind>,
    /// The repeats of the distinct column, when the spec counts it.
    pub repeats: Option<(Statement, Vec<Kind>)>,
}

/// The spec over `rollup`, when its cells give exactly the spec's groups;
/// `bounds`: the first and last value of the rollup's time column.
pub fn plan_rollup<'s>(
    d: &dyn SqlDialect,
    rollup: &'s Rollup,
    spec: &'s Spec,
    bounds: Bounds,
) -> Option<FromRollup<'s>> {
    if spec.entity.name != rollup.entity {
        return None;
    }
    let fit = Fit::of(rollup, spec)?;
    let span = rollup.time.map(|_| fit.span(bounds));
    // Minima, maxima and distinct dims do not subtract: no day prefixes.
    let prefixes = spec
        .numbers
        .iter()
        .all(|(op, _)| matches!(op, NumOp::Sum | NumOp::Avg))
        && spec.distinct.iter().all(|f| !rollup.has_dim(f.odata));
    let bucketing = spec.bucket.as_ref().map(|(_, b)| b);
    let layout = match span {
        Some((from, to)) => Layout::window(from, to.max(from), bucketing, prefixes)?,
        None => Layout::whole(),
    };
    let cells = table_of(rollup, &rollup.table, rollup.dims.clone())?;
    let mut b = Builder::default();
    let read = read_columns(rollup, spec, &fit);
    let mut conditions = fit
        .rest
        .iter()
        .map(|f| where_sql(d, &cells, f, &mut b))
        .collect::<Option<Vec<_>>>()?;
    conditions.push(reads_sql(&layout));
    b.push(&format!(
        "SELECT {} FROM {} WHERE {}",
        read.select.join(", "),
        rollup.table,
        conditions.join(" AND ")
    ));
    if read.summed {
        let positions: Vec<String> = (1..=read.grouped).map(|i| i.to_string()).collect();
        b.push(&format!(" GROUP BY {}", positions.join(", ")));
    }
    let repeats = match (span, rollup.distinct) {
        (Some(span), Some(c)) if spec.distinct.iter().any(|f| f.odata == c.odata) => {
            Some(repeats(d, rollup, spec, &fit, span)?)
        }
        _ => None,
    };
    Some(FromRollup {
        spec,
        rollup,
        layout,
        cells: b.finish(),
        cell_kinds: read.kinds,
        repeats,
    })
}

/// The columns a spec reads of the cells: level, slot, its grouped and
/// distinct dims, then the counts and its measures. `summed`: other dims
/// vary, so cells of one slot are summed over them.
struct ReadColumns {
    select: Vec<String>,
    kinds: Vec<Kind>,
    grouped: usize,
    summed: bool,
}

fn read_columns(rollup: &Rollup, spec: &Spec, fit: &Fit) -> ReadColumns {
    let mut dims: Vec<&'static Field> = spec.group_by.clone();
    dims.extend(spec.distinct.iter().filter(|f| rollup.has_dim(f.odata)));
    let fixed = fit.fixed();
    let summed = rollup.dims.iter().any(|d| {
        d.odata != "account_id"
            && !fixed.contains(&d.odata)
            && !dims.iter().any(|f| f.odata == d.odata)
    });
    let sum = |c: String, how: &str| match summed {
        true => format!("{how}({c})"),
        false => c,
    };
    let mut select = vec!["level".to_string(), "slot".to_string()];
    let mut kinds = vec![Kind::Int, Kind::Int];
    select.extend(dims.iter().map(|f| f.odata.to_string()));
    kinds.extend(dims.iter().map(|f| kind(f).unwrap_or(Kind::Text)));
    let grouped = select.len();
    // Sums of integers are numeric in PostgreSQL: read back as integers.
    select.push(format!("CAST({} AS BIGINT)", sum("n".into(), "SUM")));
    select.push(format!("CAST({} AS BIGINT)", sum("n_d".into(), "SUM")));
    kinds.extend([Kind::Int, Kind::Int]);
    for (_, f) in &spec.numbers {
        let c = f.odata;
        select.extend([
            format!("CAST({} AS BIGINT)", sum(format!("n_{c}"), "SUM")),
            format!("CAST({} AS DOUBLE PRECISION)", sum(format!("s_{c}"), "SUM")),
            format!(
                "CAST({} AS DOUBLE PRECISION)",
                sum(format!("lo_{c}"), "MIN")
            ),
            format!(
                "CAST({} AS DOUBLE PRECISION)",
                sum(format!("hi_{c}"), "MAX")
            ),
        ]);
        kinds.extend([Kind::Int, Kind::Real, Kind::Real, Kind::Real]);
    }
    ReadColumns {
        select,
        kinds,
        grouped,
        summed,
    }
}

/// The cells `layout` reads: each level's slots listed, or as a range
/// when many.
fn reads_sql(layout: &Layout) -> String {
    let mut parts = Vec::new();
    for level in [
        Level::All,
        Level::Day,
        Level::DayPrefix,
        Level::Hour,
        Level::Quarter,
    ] {
        let slots = layout.slots(level);
        let (Some(first), Some(last)) = (slots.first(), slots.last()) else {
            continue;
        };
        let code = level.code();
        // Slots are the gateway's own numbers, never input.
        parts.push(match slots.len() > MOST_LISTED || level == Level::Day {
            true => format!("(level = {code} AND slot >= {first} AND slot <= {last})"),
            false => {
                let items: Vec<String> = slots.iter().map(i64::to_string).collect();
                format!("(level = {code} AND slot IN ({}))", items.join(", "))
            }
        });
    }
    match parts.is_empty() {
        true => "1 = 0".to_string(),
        false => format!("({})", parts.join(" OR ")),
    }
}

/// How a spec's filter sits on a rollup: its time bounds, and the
/// conditions on dims left to apply to the cells.
struct Fit {
    from: Option<i64>,
    to: Option<i64>,
    rest: Vec<Filter>,
}

impl Fit {
    fn of(rollup: &Rollup, spec: &Spec) -> Option<Fit> {
        let parts = match &spec.filter {
            Filter::True => Vec::new(),
            Filter::And(parts) => parts.clone(),
            other => vec![other.clone()],
        };
        let time = rollup.time.map(|t| t.odata);
        let mut fit = Fit {
            from: None,
            to: None,
            rest: Vec::new(),
        };
        let mut asked = 0;
        for part in parts {
            if let Some(bound) = time.and_then(|t| aligned_bound(&part, t)) {
                match bound {
                    (CompareOp::Ge, t) => fit.from = Some(fit.from.map_or(t, |f: i64| f.max(t))),
                    (_, t) => fit.to = Some(fit.to.map_or(t, |f: i64| f.min(t))),
                }
            } else if matches!(&part, Filter::IsNull { property, null: false } if Some(*property) == time)
            {
                // Implied: the cells hold rows with a time only.
            } else if rollup.only.iter().any(|(f, v)| part == only(f, v)) {
                asked += 1;
            } else if columns(&part).iter().all(|c| rollup.has_dim(c)) {
                fit.rest.push(part);
            } else {
                return None;
            }
        }
        (asked == rollup.only.len()).then_some(())?;
        fit.answers(rollup, spec).then_some(fit)
    }

    /// Dims a conjunct holds to one value (`eq`, `isNull: true`).
    fn fixed(&self) -> Vec<&'static str> {
        self.rest
            .iter()
            .filter_map(|part| match part {
                Filter::Compare {
                    property,
                    op: CompareOp::Eq,
                    ..
                }
                | Filter::IsNull {
                    property,
                    null: true,
                } => Some(*property),
                _ => None,
            })
            .collect()
    }

    /// The time the spec reads: its bounds, else the stored values'.
    fn span(&self, bounds: Bounds) -> (i64, i64) {
        let floor = |t: i64| t - t.rem_euclid(QUARTER_US);
        let (lo, hi) = bounds.unwrap_or((0, 0));
        let from = self.from.unwrap_or(floor(lo));
        (from, self.to.unwrap_or(floor(hi) + QUARTER_US))
    }

    /// Groups, buckets and metrics the cells hold. The repeats of the
    /// distinct column are kept per value of every dim: a spec counting it
    /// must group by, or hold to one value, each dim.
    fn answers(&self, rollup: &Rollup, spec: &Spec) -> bool {
        let fixed = self.fixed();
        let per_cell = rollup
            .dims
            .iter()
            .all(|d| fixed.contains(&d.odata) || spec.group_by.iter().any(|g| g.odata == d.odata));
        let timed = self.from.is_some() || self.to.is_some() || spec.bucket.is_some();
        let time_fits = match (rollup.time, &spec.bucket) {
            // Rows without a time are in no cell but `All`: a spec must
            // leave them out itself (a bound or a bucket does).
            (Some(t), bucket) => timed && bucket.is_none_or(|(f, _)| f.odata == t.odata),
            (None, bucket) => bucket.is_none() && !timed,
        };
        time_fits
            && spec.group_by.iter().all(|f| rollup.has_dim(f.odata))
            && spec.distinct.iter().all(|f| {
                rollup.has_dim(f.odata)
                    || (per_cell && rollup.distinct.is_some_and(|c| c.odata == f.odata))
            })
            && spec.numbers.iter().all(|(op, f)| {
                !op.needs_values() && rollup.measures.iter().any(|m| m.odata == f.odata)
            })
    }
}

/// `time ge t` or `time lt t` with `t` on a quarter hour.
fn aligned_bound(part: &Filter, time: &str) -> Option<(CompareOp, i64)> {
    let Filter::Compare {
        property,
        op: op @ (CompareOp::Ge | CompareOp::Lt),
        value: Literal::DateTime(t),
    } = part
    else {
        return None;
    };
    let us = t.timestamp_micros();
    (*property == time && us.rem_euclid(QUARTER_US) == 0 && t.timestamp_subsec_nanos() % 1000 == 0)
        .then_some((*op, us))
}

fn only(f: &Field, v: &Literal) -> Filter {
    Filter::Compare {
        property: f.odata,
        op: CompareOp::Eq,
        value: v.clone(),
    }
}

fn columns(filter: &Filter) -> Vec<&'static str> {
    match filter {
        Filter::True | Filter::False => Vec::new(),
        Filter::And(parts) | Filter::Or(parts) => parts.iter().flat_map(columns).collect(),
        Filter::Not(inner) => columns(inner),
        Filter::Compare { property, .. }
        | Filter::IsNull { property, .. }
        | Filter::Call { property, .. }
        | Filter::In { property, .. } => vec![property],
    }
}

/// Per group, bucket and value of the distinct column, the rows of a value
/// seen more than once in that bucket.
fn repeats(
    d: &dyn SqlDialect,
    rollup: &Rollup,
    spec: &Spec,
    fit: &Fit,
    (from, to): (i64, i64),
) -> Option<(Statement, Vec<Kind>)> {
    let (x, distinct, time) = (rollup.repeats_table()?, rollup.distinct?, rollup.time?);
    let mut columns = rollup.dims.clone();
    columns.extend([distinct, time]);
    let table = table_of(rollup, &x, columns)?;
    let mut b = Builder::default();
    let mut keys: Vec<String> = spec.group_by.iter().map(|f| f.odata.to_string()).collect();
    let mut kinds: Vec<Kind> = spec.group_by.iter().filter_map(|f| kind(f)).collect();
    if let Some((_, bucketing)) = &spec.bucket {
        keys.push(bucket_sql(d, time.odata, bucketing, Some((from, to))));
        kinds.push(Kind::Int);
    }
    let mut conditions = fit
        .rest
        .iter()
        .map(|f| where_sql(d, &table, f, &mut b))
        .collect::<Option<Vec<_>>>()?;
    conditions.push(format!("{t} >= {from} AND {t} < {to}", t = time.odata));
    keys.push(distinct.odata.to_string());
    kinds.extend([Kind::Int, Kind::Int]);
    let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
    b.push(&format!(
        "SELECT {}, COUNT(*) FROM {x} WHERE {} GROUP BY {} HAVING COUNT(*) > 1",
        keys.join(", "),
        conditions.join(" AND "),
        positions.join(", ")
    ));
    Some((b.finish(), kinds))
}

/// The rollup's cells (or repeats) seen as a table of `columns`, for
/// binding filters on them.
fn table_of(rollup: &Rollup, name: &str, columns: Vec<&'static Field>) -> Option<Table> {
    Some(Table {
        entity: crate::model::entity(rollup.entity)?,
        name: name.to_string(),
        columns,
        incremental: false,
    })
}

type Key = (Vec<KeyPart>, Option<DateTime<Utc>>);

/// A group's totals as its cells add up.
#[derive(Debug, Default)]
struct Sums {
    count: i64,
    non_null: i64,
    /// Per measure: values, sum, minimum, maximum.
    numbers: Vec<(i64, f64, Option<f64>, Option<f64>)>,
    /// Per distinct dim, the values seen.
    distinct: Vec<HashSet<KeyPart>>,
}

impl Sums {
    fn add(&mut self, cell: &CellRow, sign: i64) {
        self.count += sign * cell.count;
        self.non_null += sign * cell.non_null;
        self.numbers
            .resize(cell.numbers.len(), (0, 0.0, None, None));
        for (total, (n, sum, lo, hi)) in self.numbers.iter_mut().zip(&cell.numbers) {
            total.0 += sign * n;
            total.1 += sign as f64 * sum;
            total.2 = extreme(total.2, *lo, f64::min);
            total.3 = extreme(total.3, *hi, f64::max);
        }
        self.distinct.resize_with(cell.distinct.len(), HashSet::new);
        for (seen, value) in self.distinct.iter_mut().zip(&cell.distinct) {
            if *value != KeyPart::Null {
                seen.insert(value.clone());
            }
        }
    }
}

fn extreme(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// One row of the cells statement, decoded.
struct CellRow {
    level: i64,
    slot: i64,
    key: Vec<KeyPart>,
    distinct: Vec<KeyPart>,
    count: i64,
    non_null: i64,
    numbers: Vec<(i64, f64, Option<f64>, Option<f64>)>,
}

fn int(c: Option<Cell>) -> i64 {
    match c {
        Some(Cell::Int(i)) => i,
        Some(Cell::Real(f)) => f as i64,
        _ => 0,
    }
}

fn real(c: Option<Cell>) -> Option<f64> {
    match c {
        Some(Cell::Real(f)) => Some(f),
        Some(Cell::Int(i)) => Some(i as f64),
        _ => None,
    }
}

impl FromRollup<'_> {
    fn cell_row(&self, row: Vec<Cell>) -> CellRow {
        let mut cells = row.into_iter();
        let (level, slot) = (int(cells.next()), int(cells.next()));
        let mut part = |f: &Field| KeyPart::from_cell(f, cells.next().unwrap_or(Cell::Null));
        let key = self.spec.group_by.iter().map(|f| part(f)).collect();
        let distinct = self
            .spec
            .distinct
            .iter()
            .filter(|f| self.rollup.has_dim(f.odata))
            .map(|f| part(f))
            .collect();
        let (count, non_null) = (int(cells.next()), int(cells.next()));
        let numbers = self
            .spec
            .numbers
            .iter()
            .map(|_| {
                let n = int(cells.next());
                let sum = real(cells.next()).unwrap_or(0.0);
                (n, sum, real(cells.next()), real(cells.next()))
            })
            .collect();
        CellRow {
            level,
            slot,
            key,
            distinct,
            count,
            non_null,
            numbers,
        }
    }

    /// Per group and bucket, the distinct column's rows beyond the first
    /// of each value.
    fn excess(&self, repeats: Vec<Vec<Cell>>) -> HashMap<Key, u64> {
        let mut excess: HashMap<Key, u64> = HashMap::new();
        for row in repeats {
            let mut cells = row.into_iter();
            let key = self
                .spec
                .group_by
                .iter()
                .map(|f| KeyPart::from_cell(f, cells.next().unwrap_or(Cell::Null)))
                .collect();
            let bucket = self
                .spec
                .bucket
                .as_ref()
                .and_then(|(_, b)| match cells.next() {
                    Some(Cell::Int(code)) => bucket_start(b, code),
                    _ => None,
                });
            let k = u64::try_from(int(cells.nth(1))).unwrap_or(0);
            *excess.entry((key, bucket)).or_default() += k.saturating_sub(1);
        }
        excess
    }

    /// The groups from the cells' rows and the repeats' rows.
    pub fn read(&self, rows: Vec<Vec<Cell>>, repeats: Vec<Vec<Cell>>) -> Vec<Group> {
        let excess = self.excess(repeats);
        let mut sums: HashMap<Key, Sums> = HashMap::new();
        for row in rows {
            let cell = self.cell_row(row);
            for &Part { bucket, sign } in self.layout.parts(cell.level, cell.slot) {
                let bucket = bucket.and_then(DateTime::from_timestamp_micros);
                sums.entry((cell.key.clone(), bucket))
                    .or_default()
                    .add(&cell, sign);
            }
        }
        sums.into_iter()
            .filter(|(_, s)| s.count > 0)
            .map(|(key, s)| self.group(key, s, &excess))
            .collect()
    }

    fn group(&self, key: Key, sums: Sums, excess: &HashMap<Key, u64>) -> Group {
        let mut seen = sums.distinct.iter();
        let non_null = u64::try_from(sums.non_null).unwrap_or(0);
        let distinct = self
            .spec
            .distinct
            .iter()
            .map(|f| match self.rollup.has_dim(f.odata) {
                true => seen.next().map_or(0, |s| s.len() as u64),
                false => non_null.saturating_sub(excess.get(&key).copied().unwrap_or(0)),
            })
            .collect();
        let numbers = self
            .spec
            .numbers
            .iter()
            .zip(
                sums.numbers
                    .iter()
                    .copied()
                    .chain(std::iter::repeat((0, 0.0, None, None))),
            )
            .map(|((op, _), (n, sum, lo, hi))| {
                if n <= 0 {
                    return None;
                }
                match op {
                    NumOp::Sum => Some(sum),
                    NumOp::Avg => Some(sum / n as f64),
                    NumOp::Min => lo,
                    NumOp::Max => hi,
                    NumOp::Median => None,
                }
            })
            .collect();
        Group {
            key: key.0,
            bucket: key.1,
            count: u64::try_from(sums.count).unwrap_or(0),
            distinct,
            numbers,
        }
    }
}
