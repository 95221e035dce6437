//! Which of a rollup's cells make a window of buckets, and what each adds
//! to which bucket. A day no bucket boundary (nor an end of the window)
//! falls in is its day cell. A day cut at hours is, with day prefixes, one
//! prefix per cut: the prefix counts for the part before the cut, and
//! against the part after it, which the day cell (or the next cut's
//! prefix) counts for. Without prefixes (minima, maxima and distinct dims
//! do not subtract) the day is its hours instead. An hour cut inside, at a
//! half or quarter hour, is its quarters either way.

use crate::aggregate::bucket::Bucketing;
use crate::sql::{Level, DAY_US, HOUR_US, QUARTER_US};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// Bucket boundaries past this make the rows the cheaper read.
const MOST_BOUNDARIES: usize = 20_000;

/// What one cell adds to the groups: `sign` times its counts and sums, to
/// the bucket starting at `bucket` (µs; none when not bucketed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub bucket: Option<i64>,
    pub sign: i64,
}

/// The cells a window reads, with what each adds.
#[derive(Debug, Default)]
pub struct Layout {
    parts: HashMap<(i64, i64), Vec<Part>>,
}

impl Layout {
    /// The one cell of a rollup without time.
    pub fn whole() -> Layout {
        let mut layout = Layout::default();
        layout.add(Level::All, 0, None, 1);
        layout
    }

    /// `[from, to)` (on quarter hours) in `bucketing`'s buckets, or in one
    /// when `None`; `prefixes`: whether cut days may use their prefixes.
    /// `None` when a boundary is off the quarter hours, or there are too
    /// many.
    pub fn window(
        from: i64,
        to: i64,
        bucketing: Option<&Bucketing>,
        prefixes: bool,
    ) -> Option<Layout> {
        let starts = Starts::new(from, to, bucketing)?;
        let mut cuts: BTreeSet<i64> = starts.within(from, to);
        cuts.extend([from, to]);
        let mut layout = Layout::default();
        let mut day = from - from.rem_euclid(DAY_US);
        while day < to {
            let end = day + DAY_US;
            let inside: Vec<i64> = cuts.range(day + 1..end).copied().collect();
            let cut = Cut {
                day,
                inside: &inside,
                window: (from, to),
                starts: &starts,
            };
            match (inside.is_empty(), prefixes) {
                (true, _) => layout.add(Level::Day, day, starts.of(day), 1),
                (false, true) => cut.by_prefixes(&mut layout),
                (false, false) => cut.by_hours(&mut layout),
            }
            day = end;
        }
        Some(layout)
    }

    fn add(&mut self, level: Level, slot: i64, bucket: Option<i64>, sign: i64) {
        self.parts
            .entry((level.code(), slot))
            .or_default()
            .push(Part { bucket, sign });
    }

    /// What the cell of `level` (code) at `slot` adds, if it is read.
    pub fn parts(&self, level: i64, slot: i64) -> &[Part] {
        self.parts.get(&(level, slot)).map_or(&[], Vec::as_slice)
    }

    /// The slots of `level` the window reads, in order.
    pub fn slots(&self, level: Level) -> BTreeSet<i64> {
        self.parts
            .keys()
            .filter(|(l, _)| *l == level.code())
            .map(|(_, slot)| *slot)
            .collect()
    }
}

/// One day with cuts inside: bucket boundaries or ends of the window.
struct Cut<'a> {
    day: i64,
    inside: &'a [i64],
    window: (i64, i64),
    starts: &'a Starts,
}

impl Cut<'_> {
    /// Hours a cut falls inside: read as quarters.
    fn quartered(&self) -> BTreeSet<i64> {
        self.inside
            .iter()
            .filter(|p| p.rem_euclid(HOUR_US) != 0)
            .map(|p| p - p.rem_euclid(HOUR_US))
            .collect()
    }

    fn counted(&self, (a, b): (i64, i64)) -> bool {
        a >= self.window.0 && b <= self.window.1
    }

    fn quarters(&self, hour: i64, layout: &mut Layout) {
        for q in (hour..hour + HOUR_US).step_by(QUARTER_US as usize) {
            if self.counted((q, q + QUARTER_US)) {
                layout.add(Level::Quarter, q, self.starts.of(q), 1);
            }
        }
    }

    /// The day's hours, each to its bucket.
    fn by_hours(&self, layout: &mut Layout) {
        let quartered = self.quartered();
        for hour in (self.day..self.day + DAY_US).step_by(HOUR_US as usize) {
            if quartered.contains(&hour) {
                self.quarters(hour, layout);
            } else if self.counted((hour, hour + HOUR_US)) {
                layout.add(Level::Hour, hour, self.starts.of(hour), 1);
            }
        }
    }

    /// The day as segments between hour cuts: a cut's prefix (the day
    /// cell at the day's end) counts for the segment it ends and against
    /// the one it starts. Quartered hours and segments outside the window
    /// take nothing from the cuts.
    fn by_prefixes(&self, layout: &mut Layout) {
        let end = self.day + DAY_US;
        let quartered = self.quartered();
        let mut hour_cuts: BTreeSet<i64> = self
            .inside
            .iter()
            .copied()
            .filter(|p| p.rem_euclid(HOUR_US) == 0)
            .collect();
        hour_cuts.extend(quartered.iter().flat_map(|h| [*h, h + HOUR_US]));
        hour_cuts.insert(end);
        hour_cuts.remove(&self.day);
        let mut start = self.day;
        let segments: Vec<(i64, i64, bool)> = hour_cuts
            .iter()
            .map(|&cut| {
                let segment = (start, cut);
                start = cut;
                let whole_quartered = quartered.contains(&segment.0) && cut == segment.0 + HOUR_US;
                (segment.0, cut, !whole_quartered && self.counted(segment))
            })
            .collect();
        for (i, &(from, cut, counted)) in segments.iter().enumerate() {
            let (level, slot) = match cut == end {
                true => (Level::Day, self.day),
                false => (Level::DayPrefix, cut),
            };
            if counted {
                layout.add(level, slot, self.starts.of(from), 1);
            }
            if let Some(&(next, _, true)) = segments.get(i + 1) {
                layout.add(level, slot, self.starts.of(next), -1);
            }
        }
        for hour in quartered {
            self.quarters(hour, layout);
        }
    }
}

/// The bucket starts of a window, in order (none when not bucketed).
struct Starts(Option<Vec<i64>>);

impl Starts {
    fn new(from: i64, to: i64, bucketing: Option<&Bucketing>) -> Option<Starts> {
        let Some(b) = bucketing else {
            return Some(Starts(None));
        };
        let at = |us: i64| DateTime::<Utc>::from_timestamp_micros(us);
        let mut start = b.start(at(from)?);
        let mut starts = Vec::new();
        while start.timestamp_micros() < to {
            let us = start.timestamp_micros();
            // A boundary inside the window off the quarter hours: no cells
            // end there.
            if us > from && us.rem_euclid(QUARTER_US) != 0 {
                return None;
            }
            starts.push(us);
            if starts.len() > MOST_BOUNDARIES {
                return None;
            }
            start = b.next(start);
        }
        Some(Starts(Some(starts)))
    }

    /// The starts strictly inside `(from, to)`.
    fn within(&self, from: i64, to: i64) -> BTreeSet<i64> {
        self.0
            .iter()
            .flatten()
            .copied()
            .filter(|s| *s > from && *s < to)
            .collect()
    }

    /// The start of the bucket holding `t`.
    fn of(&self, t: i64) -> Option<i64> {
        let starts = self.0.as_ref()?;
        let after = starts.partition_point(|s| *s <= t);
        starts.get(after.saturating_sub(1)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::bucket::TimeUnit;

    const H: i64 = HOUR_US;
    const Q: i64 = QUARTER_US;

    /// What each read cell adds, as (level, slot, bucket, sign), sorted.
    fn read(layout: &Layout) -> Vec<(i64, i64, Option<i64>, i64)> {
        let mut out: Vec<_> = layout
            .parts
            .iter()
            .flat_map(|(&(l, s), parts)| parts.iter().map(move |p| (l, s, p.bucket, p.sign)))
            .collect();
        out.sort();
        out
    }

    /// Every instant's bucket, summed over the cells as the parts say,
    /// equals one row per quarter counted straight: the layout neither
    /// loses nor counts twice any quarter of the window.
    fn check(from: i64, to: i64, b: Option<&Bucketing>, prefixes: bool) {
        let layout = Layout::window(from, to, b, prefixes).expect("layout");
        let starts = Starts::new(from, to, b).expect("starts");
        // One row per quarter of three days around the window.
        let first = from - from.rem_euclid(DAY_US) - DAY_US;
        let mut expected: HashMap<Option<i64>, i64> = HashMap::new();
        let mut got: HashMap<Option<i64>, i64> = HashMap::new();
        let day_of = |t: i64| t - t.rem_euclid(DAY_US);
        for q in (first..to + 2 * DAY_US).step_by(Q as usize) {
            if q >= from && q < to {
                *expected.entry(starts.of(q)).or_default() += 1;
            }
            let hour = q - q.rem_euclid(H);
            let mut cells = vec![
                (Level::Quarter, q),
                (Level::Hour, hour),
                (Level::Day, day_of(q)),
            ];
            // In every prefix of its day after its hour.
            let mut p = hour + H;
            while p < day_of(q) + DAY_US {
                cells.push((Level::DayPrefix, p));
                p += H;
            }
            for (level, slot) in cells {
                for part in layout.parts(level.code(), slot) {
                    *got.entry(part.bucket).or_default() += part.sign;
                }
            }
        }
        got.retain(|_, n| *n != 0);
        assert_eq!(got, expected, "{from}..{to} prefixes={prefixes}");
    }

    #[test]
    fn every_quarter_counts_once_in_its_bucket_in_any_zone() {
        let day = 20_000 * DAY_US;
        let zones = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"];
        for zone in zones {
            for unit in [TimeUnit::Hour, TimeUnit::Day, TimeUnit::Week] {
                let b = Bucketing::new(unit, zone).expect("zone");
                for (from, to) in [
                    (day, day + 9 * DAY_US),
                    (day + 5 * Q, day + 3 * DAY_US + 7 * Q),
                    (day + 13 * H, day + 13 * H + 2 * Q),
                ] {
                    check(from, to, Some(&b), true);
                    check(from, to, Some(&b), false);
                }
            }
        }
        check(day + 3 * Q, day + 2 * DAY_US, None, true);
        check(day, day + 2 * DAY_US, None, false);
    }

    #[test]
    fn lord_howe_half_hour_changes_cut_their_hour_in_quarters() {
        // Back from +11:00 to +10:30 at 15:00Z on 2026-04-04.
        let b = Bucketing::new(TimeUnit::Hour, "Australia/Lord_Howe").expect("zone");
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .timestamp_micros()
        };
        let (from, to) = (at("2026-04-04T14:00:00Z"), at("2026-04-04T16:00:00Z"));
        check(from, to, Some(&b), true);
        let layout = Layout::window(from, to, Some(&b), true).expect("layout");
        let split = at("2026-04-04T15:30:00Z");
        assert!(read(&layout).contains(&(Level::Quarter.code(), split, Some(split), 1)));
    }

    #[test]
    fn a_day_cut_at_one_hour_reads_its_prefix_and_the_day() {
        // 2025-01-12, New York on standard time: local midnight at 05:00Z.
        let day = 20_100 * DAY_US;
        let b = Bucketing::new(TimeUnit::Day, "America/New_York").expect("zone");
        let local = day + 5 * H;
        let layout = Layout::window(local, local + DAY_US, Some(&b), true).expect("layout");
        // The first UTC day less its first five hours, and the second's
        // first five hours.
        assert_eq!(
            read(&layout),
            vec![
                (Level::Day.code(), day, Some(local), 1),
                (Level::DayPrefix.code(), local, Some(local), -1),
                (Level::DayPrefix.code(), local + DAY_US, Some(local), 1),
            ]
        );
    }
}
