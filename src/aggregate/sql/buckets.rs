//! The bucket of a row as one integer the engine computes: for hours the
//! bucket's start (µs), for days and weeks the local day number of its
//! first day, for months `year * 12 + month - 1`. The wall-clock time is
//! the instant plus the zone's offset at that instant, from the same
//! offset table the other engines' buckets follow (`Bucketing::offsets`);
//! an hour split by an offset change starts at the change, as there.

use crate::aggregate::bucket::{Bucketing, Offsets, TimeUnit};
use crate::sql::SqlDialect;
use chrono::{DateTime, Duration, NaiveDate, Utc};

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;

/// The first and last instant (µs) of the bucket column, for the zone's
/// offset changes in between; `None` for an empty table.
pub type Bounds = Option<(i64, i64)>;

/// The bucket expression of `column`.
pub(super) fn bucket_sql(
    d: &dyn SqlDialect,
    column: &str,
    bucketing: &Bucketing,
    bounds: Bounds,
) -> String {
    // From a day before the first value: a change within the hour before
    // it still splits that hour.
    let (lo, hi) = bounds.unwrap_or((0, 0));
    let offsets = bucketing.offsets(lo.saturating_sub(DAY_US), hi);
    let offset = offset_sql(column, &offsets);
    let local = format!("({column} + {offset})");
    let floor_div = |x: &str, m: i64| format!("(({x}) - ((({x}) % {m}) + {m}) % {m}) / {m}");
    let day = floor_div(&local, DAY_US);
    match bucketing.unit {
        TimeUnit::Hour => {
            let floor = format!("({column} - ((({local} % {HOUR_US}) + {HOUR_US}) % {HOUR_US}))");
            if offsets.changes.is_empty() {
                floor
            } else {
                d.greatest(&floor, &last_change_sql(column, &offsets))
            }
        }
        TimeUnit::Day => day,
        // Day 0 (1970-01-01) was a Thursday: Monday is 3 days before.
        TimeUnit::Week => format!("({day} - ((({day} + 3) % 7) + 7) % 7)"),
        TimeUnit::Month => d.month_of_day(&day),
    }
}

/// The zone's offset (µs) at each row's instant.
fn offset_sql(column: &str, offsets: &Offsets) -> String {
    cases(column, offsets.first.to_string(), offsets, |(_, offset)| {
        offset.to_string()
    })
}

/// The last offset change at or before each row's instant; before the
/// first change, a bound no hour's start goes below.
fn last_change_sql(column: &str, offsets: &Offsets) -> String {
    let none = format!("({column} - {HOUR_US})");
    cases(column, none, offsets, |(at, _)| at.to_string())
}

/// `CASE WHEN column < change₁ THEN before WHEN column < change₂ THEN
/// value(change₁) … ELSE value(last change) END`.
fn cases(
    column: &str,
    before: String,
    offsets: &Offsets,
    value: impl Fn(&(i64, i64)) -> String,
) -> String {
    let Some((first, _)) = offsets.changes.first() else {
        return before;
    };
    let mut sql = format!("CASE WHEN {column} < {first} THEN {before}");
    for pair in offsets.changes.windows(2) {
        sql.push_str(&format!(
            " WHEN {column} < {} THEN {}",
            pair[1].0,
            value(&pair[0])
        ));
    }
    if let Some(last) = offsets.changes.last() {
        sql.push_str(&format!(" ELSE {} END", value(last)));
    }
    sql
}

/// The start of the bucket a grouped integer names.
pub(super) fn bucket_start(bucketing: &Bucketing, code: i64) -> Option<DateTime<Utc>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    match bucketing.unit {
        TimeUnit::Hour => DateTime::from_timestamp_micros(code),
        TimeUnit::Day | TimeUnit::Week => {
            Some(bucketing.start_of_day(epoch.checked_add_signed(Duration::days(code))?))
        }
        TimeUnit::Month => {
            let year = i32::try_from(code.div_euclid(12)).ok()?;
            let month = u32::try_from(code.rem_euclid(12)).ok()? + 1;
            Some(bucketing.start_of_day(NaiveDate::from_ymd_opt(year, month, 1)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Plain;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn bucket_codes_name_the_same_starts_as_the_scan() {
        let b = Bucketing::new(TimeUnit::Month, "America/New_York").expect("zone");
        let t = at("2026-03-15T12:00:00Z");
        assert_eq!(bucket_start(&b, 2026 * 12 + 2), Some(b.start(t)));
        let week = Bucketing::new(TimeUnit::Week, "UTC").expect("zone");
        // 1970-01-05 was the first Monday: day 4.
        assert_eq!(
            bucket_start(&week, 4).map(|d| d.to_rfc3339()),
            Some("1970-01-05T00:00:00+00:00".into())
        );
    }

    #[test]
    fn an_hour_split_by_a_change_starts_at_the_change() {
        let hour = Bucketing::new(TimeUnit::Hour, "Australia/Lord_Howe").expect("zone");
        let bounds = Some((
            at("2026-04-01T00:00:00Z").timestamp_micros(),
            at("2026-04-10T00:00:00Z").timestamp_micros(),
        ));
        let sql = bucket_sql(&Plain, "t", &hour, bounds);
        let change = at("2026-04-04T15:00:00Z").timestamp_micros();
        assert!(sql.starts_with("greatest("), "{sql}");
        assert!(sql.contains(&format!("ELSE {change} END")), "{sql}");
        let plain = Bucketing::new(TimeUnit::Hour, "Asia/Kolkata").expect("zone");
        assert!(!bucket_sql(&Plain, "t", &plain, bounds).contains("greatest"));
    }
}
