//! An aggregate answered from a rollup's cells instead of its rows, where
//! that gives exactly the same groups: the spec filters only on the
//! rollup's dims (and asks every condition the rollup keeps), bounds its
//! time on quarter hours, groups by dims, buckets the rollup's time column
//! and asks count, sums, averages, minima, maxima and distinct counts. Each
//! bucket (and the range) is made of whole cells: days where no bucket
//! boundary falls inside the day, else its hours, else its quarters.

use super::buckets::{bucket_sql, bucket_start, Bounds};
use super::filter::where_sql;
use crate::aggregate::group::{Group, KeyPart};
use crate::aggregate::spec::{NumOp, Spec};
use crate::model::Field;
use crate::odata::{CompareOp, Filter, Literal};
use crate::sql::{
    kind, Builder, Cell, Kind, Level, Rollup, SqlDialect, Statement, Table, DAY_US, HOUR_US,
    QUARTER_US,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// Bucket boundaries past this make the rows the cheaper read.
const MOST_BOUNDARIES: usize = 20_000;
/// Hours or quarters past this are read as a range of their level.
const MOST_LISTED: usize = 10_000;

/// The statements of an aggregate over a rollup, and how to read them.
pub struct FromRollup<'s> {
    spec: &'s Spec,
    rollup: &'s Rollup,
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
    limit: u64,
) -> Option<FromRollup<'s>> {
    if spec.entity.name != rollup.entity {
        return None;
    }
    let fit = Fit::of(rollup, spec)?;
    let window = match rollup.time {
        Some(_) => Some(window(&fit, spec, bounds)?),
        None => None,
    };
    let cells = table_of(rollup, &rollup.table, rollup.dims.clone())?;
    let mut b = Builder::default();
    let (keys, mut kinds) = keys(d, spec, "slot", window.as_ref());
    let mut select = keys.clone();
    // Sums of integers are numeric in PostgreSQL: read back as integers.
    select.extend([
        "CAST(SUM(n) AS BIGINT)".to_string(),
        "CAST(SUM(n_d) AS BIGINT)".to_string(),
    ]);
    kinds.extend([Kind::Int, Kind::Int]);
    for f in &spec.distinct {
        select.push(match rollup.has_dim(f.odata) {
            true => format!("COUNT(DISTINCT {})", f.odata),
            false => "CAST(0 AS BIGINT)".to_string(),
        });
        kinds.push(Kind::Int);
    }
    for (_, f) in &spec.numbers {
        let c = f.odata;
        select.extend([
            format!("CAST(SUM(n_{c}) AS BIGINT)"),
            format!("CAST(SUM(s_{c}) AS DOUBLE PRECISION)"),
            format!("CAST(MIN(lo_{c}) AS DOUBLE PRECISION)"),
            format!("CAST(MAX(hi_{c}) AS DOUBLE PRECISION)"),
        ]);
        kinds.extend([Kind::Int, Kind::Real, Kind::Real, Kind::Real]);
    }
    let mut conditions = fit
        .rest
        .iter()
        .map(|f| where_sql(d, &cells, f, &mut b))
        .collect::<Option<Vec<_>>>()?;
    conditions.push(match &window {
        Some(w) => w.cells_sql(),
        None => format!("level = {}", Level::All.code()),
    });
    b.push(&format!(
        "SELECT {} FROM {} WHERE {}",
        select.join(", "),
        rollup.table,
        conditions.join(" AND ")
    ));
    if !keys.is_empty() {
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        b.push(&format!(" GROUP BY {}", positions.join(", ")));
    }
    let cap = limit.saturating_add(1).min(i64::MAX as u64);
    b.push(&format!(" HAVING SUM(n) > 0 LIMIT {cap}"));
    let repeats = match (&window, rollup.distinct) {
        (Some(w), Some(c)) if spec.distinct.iter().any(|f| f.odata == c.odata) => {
            Some(repeats(d, rollup, spec, &fit, w)?)
        }
        _ => None,
    };
    Some(FromRollup {
        spec,
        rollup,
        cells: b.finish(),
        cell_kinds: kinds,
        repeats,
    })
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

/// The time a bucketed or bounded spec reads, and the cells making it.
struct Window {
    from: i64,
    to: i64,
    /// Days, and hours, a bucket boundary (or an end) falls inside.
    split_days: BTreeSet<i64>,
    split_hours: BTreeSet<i64>,
    bucketing: Option<crate::aggregate::bucket::Bucketing>,
    bounds: Bounds,
}

fn window(fit: &Fit, spec: &Spec, bounds: Bounds) -> Option<Window> {
    let floor = |t: i64| t - t.rem_euclid(QUARTER_US);
    let (lo, hi) = bounds.unwrap_or((0, 0));
    let from = fit.from.unwrap_or(floor(lo));
    let to = fit.to.unwrap_or(floor(hi) + QUARTER_US);
    let mut points = vec![from, to];
    let bucketing = spec.bucket.map(|(_, b)| b);
    if let (Some(b), true) = (bucketing, from < to) {
        let at = |us: i64| DateTime::<Utc>::from_timestamp_micros(us);
        let mut start = b.start(at(from)?);
        while start.timestamp_micros() < to {
            points.push(start.timestamp_micros());
            if points.len() > MOST_BOUNDARIES {
                return None;
            }
            start = b.next(start);
        }
    }
    // A zone whose boundary is not on a quarter hour is read from rows.
    points
        .iter()
        .all(|p| p.rem_euclid(QUARTER_US) == 0)
        .then_some(())?;
    let inside = |p: &i64, len: i64| (p.rem_euclid(len) != 0).then(|| p - p.rem_euclid(len));
    Some(Window {
        from,
        to,
        split_days: points.iter().filter_map(|p| inside(p, DAY_US)).collect(),
        split_hours: points.iter().filter_map(|p| inside(p, HOUR_US)).collect(),
        bucketing,
        bounds: Some((from, to)),
    })
}

impl Window {
    /// The cells making the window: whole days no boundary falls inside,
    /// whole hours of the other days, quarters of the split hours. The
    /// hours and quarters are listed where few, so that only they are
    /// read, not every cell of their level in the window.
    fn cells_sql(&self) -> String {
        let (from, to) = (self.from, self.to);
        let list = |set: &BTreeSet<i64>| {
            let items: Vec<String> = set.iter().map(i64::to_string).collect();
            items.join(", ")
        };
        let start_of = |len: i64| format!("(slot - (((slot % {len}) + {len}) % {len}))");
        let days = list(&self.split_days);
        let hours = list(&self.split_hours);
        let mut parts = Vec::new();
        let day = format!(
            "(level = {} AND slot >= {from} AND slot <= {})",
            Level::Day.code(),
            to - DAY_US
        );
        parts.push(match days.is_empty() {
            true => day,
            false => format!("({day} AND slot NOT IN ({days}))"),
        });
        let hour_cells = self.within(&self.split_days, DAY_US, HOUR_US);
        let hour_cells: BTreeSet<i64> = hour_cells.difference(&self.split_hours).copied().collect();
        if hour_cells.len() <= MOST_LISTED {
            parts.extend(listed(Level::Hour, &hour_cells));
        } else {
            let hour = format!(
                "(level = {} AND slot >= {from} AND slot <= {} AND {} IN ({days}))",
                Level::Hour.code(),
                to - HOUR_US,
                start_of(DAY_US)
            );
            parts.push(match hours.is_empty() {
                true => hour,
                false => format!("({hour} AND slot NOT IN ({hours}))"),
            });
        }
        let quarter_cells = self.within(&self.split_hours, HOUR_US, QUARTER_US);
        if quarter_cells.len() <= MOST_LISTED {
            parts.extend(listed(Level::Quarter, &quarter_cells));
        } else {
            parts.push(format!(
                "(level = {} AND slot >= {from} AND slot < {to} AND {} IN ({hours}))",
                Level::Quarter.code(),
                start_of(HOUR_US)
            ));
        }
        format!("({})", parts.join(" OR "))
    }

    /// The cells of length `len` inside the `outer` slots (of length
    /// `outer_len`) that lie wholly in the window.
    fn within(&self, outer: &BTreeSet<i64>, outer_len: i64, len: i64) -> BTreeSet<i64> {
        outer
            .iter()
            .flat_map(|start| (0..outer_len / len).map(move |i| start + i * len))
            .filter(|slot| *slot >= self.from && slot + len <= self.to)
            .collect()
    }
}

/// `level`'s cells at `slots`, none when there are none.
fn listed(level: Level, slots: &BTreeSet<i64>) -> Option<String> {
    let items: Vec<String> = slots.iter().map(i64::to_string).collect();
    (!items.is_empty()).then(|| {
        format!(
            "(level = {} AND slot IN ({}))",
            level.code(),
            items.join(", ")
        )
    })
}

/// The grouped expressions over `time` (the cells' `slot`, or a row's
/// time): the spec's dims, then its bucket.
fn keys(
    d: &dyn SqlDialect,
    spec: &Spec,
    time: &str,
    window: Option<&Window>,
) -> (Vec<String>, Vec<Kind>) {
    let mut keys: Vec<String> = spec.group_by.iter().map(|f| f.odata.to_string()).collect();
    let mut kinds: Vec<Kind> = spec.group_by.iter().filter_map(|f| kind(f)).collect();
    if let Some(w) = window {
        if let Some(b) = &w.bucketing {
            keys.push(bucket_sql(d, time, b, w.bounds));
            kinds.push(Kind::Int);
        }
    }
    (keys, kinds)
}

/// Per group, bucket and value of the distinct column, the rows of a value
/// seen more than once in that bucket.
fn repeats(
    d: &dyn SqlDialect,
    rollup: &Rollup,
    spec: &Spec,
    fit: &Fit,
    w: &Window,
) -> Option<(Statement, Vec<Kind>)> {
    let (x, distinct, time) = (rollup.repeats_table()?, rollup.distinct?, rollup.time?);
    let mut columns = rollup.dims.clone();
    columns.extend([distinct, time]);
    let table = table_of(rollup, &x, columns)?;
    let mut b = Builder::default();
    let (mut keys, mut kinds) = keys(d, spec, time.odata, Some(w));
    let mut conditions = fit
        .rest
        .iter()
        .map(|f| where_sql(d, &table, f, &mut b))
        .collect::<Option<Vec<_>>>()?;
    conditions.push(format!(
        "{t} >= {} AND {t} < {}",
        w.from,
        w.to,
        t = time.odata
    ));
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

impl FromRollup<'_> {
    fn key(&self, cells: &mut std::vec::IntoIter<Cell>) -> Key {
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
        (key, bucket)
    }

    /// The groups from the cells' rows and the repeats' rows.
    pub fn read(&self, rows: Vec<Vec<Cell>>, repeats: Vec<Vec<Cell>>) -> Vec<Group> {
        let mut excess: HashMap<Key, u64> = HashMap::new();
        for row in repeats {
            let mut cells = row.into_iter();
            let key = self.key(&mut cells);
            let k = match cells.nth(1) {
                Some(Cell::Int(k)) => u64::try_from(k).unwrap_or(0),
                _ => 0,
            };
            *excess.entry(key).or_default() += k.saturating_sub(1);
        }
        rows.into_iter()
            .map(|row| self.group(row, &excess))
            .collect()
    }

    fn group(&self, row: Vec<Cell>, excess: &HashMap<Key, u64>) -> Group {
        let int = |c: Option<Cell>| match c {
            Some(Cell::Int(i)) => u64::try_from(i).unwrap_or(0),
            Some(Cell::Real(f)) => f as u64,
            _ => 0,
        };
        let real = |c: Option<Cell>| match c {
            Some(Cell::Real(f)) => Some(f),
            Some(Cell::Int(i)) => Some(i as f64),
            _ => None,
        };
        let mut cells = row.into_iter();
        let key = self.key(&mut cells);
        let count = int(cells.next());
        let non_null = int(cells.next());
        let distinct = self
            .spec
            .distinct
            .iter()
            .map(|f| {
                let counted = int(cells.next());
                match self.rollup.has_dim(f.odata) {
                    true => counted,
                    false => non_null.saturating_sub(excess.get(&key).copied().unwrap_or(0)),
                }
            })
            .collect();
        let numbers = self
            .spec
            .numbers
            .iter()
            .map(|(op, _)| {
                let (n, sum, lo, hi) = (
                    int(cells.next()),
                    real(cells.next()),
                    real(cells.next()),
                    real(cells.next()),
                );
                if n == 0 {
                    return None;
                }
                match op {
                    NumOp::Sum => sum,
                    NumOp::Avg => sum.map(|s| s / n as f64),
                    NumOp::Min => lo,
                    NumOp::Max => hi,
                    NumOp::Median => None,
                }
            })
            .collect();
        Group {
            key: key.0,
            bucket: key.1,
            count,
            distinct,
            numbers,
        }
    }
}
