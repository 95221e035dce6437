//! The aggregate engines held equal. Random aggregates (filters with nulls,
//! `not`, sets, patterns and date bounds; zero to two group fields, nullable
//! ones included; hour, day, week and month buckets in zones with 30- and
//! 45-minute offsets and 30-minute daylight-saving changes; every metric,
//! the median included) over random rows, then edited (rows changed,
//! deleted, added): the gateway's fold of the rows the filter evaluator
//! keeps (the scan engine's core) is the reference, and the SQL engine must
//! give the same groups on SQLite and on PostgreSQL, from the rows or, for
//! the specs made for them, from the rollups kept in step with the edits.
//! `PROPTEST_CASES` sets the number of cases (`bench/fuzz.sh` runs many);
//! a failing seed is kept in `proptest-regressions/`.

mod engines;
mod generate;

use crate::aggregate::{Accumulator, Group, Spec};
use crate::model::Field;
use crate::odata::eval::matches;
use crate::odata::random::Lcg;
use crate::odata::{Filter, Row};
use engines::{answered, engines, load};
use generate::{edits, rollup_spec, rows, spec};
use proptest::prelude::*;

/// The reference: the rows the filter keeps, folded in the gateway.
fn folded(spec: &Spec, rows: &[Row]) -> Vec<Group> {
    let mut acc = Accumulator::new(spec, u64::MAX);
    for row in rows.iter().filter(|r| matches(&spec.filter, r)) {
        if let Err(e) = acc.add(row) {
            panic!("the fold refused a row: {e}");
        }
    }
    sorted(acc.finish())
}

fn sorted(mut groups: Vec<Group>) -> Vec<Group> {
    groups.sort_by(|a, b| (&a.key, a.bucket).cmp(&(&b.key, b.bucket)));
    groups
}

fn same(a: &[Group], b: &[Group]) -> bool {
    let close = |x: &Option<f64>, y: &Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (x, y) => x == y,
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(g, h)| {
            g.key == h.key
                && g.bucket == h.bucket
                && g.count == h.count
                && g.distinct == h.distinct
                && g.numbers.len() == h.numbers.len()
                && g.numbers.iter().zip(&h.numbers).all(|(x, y)| close(x, y))
        })
}

/// A spec as a reader would write it.
fn summary(spec: &Spec) -> String {
    let names = |fields: &[&'static Field]| {
        fields
            .iter()
            .map(|f| f.odata)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let numbers: Vec<String> = spec
        .numbers
        .iter()
        .map(|(op, f)| format!("{}({})", op.name(), f.odata))
        .collect();
    format!(
        "{} where {} group by [{}] bucket {:?} distinct [{}] numbers [{}]",
        spec.entity.name,
        crate::plan::residual::describe(&spec.filter),
        names(&spec.group_by),
        spec.bucket.map(|(f, b)| (f.odata, b.unit, b.zone.name())),
        names(&spec.distinct),
        numbers.join(", ")
    )
}

fn check(seed: u64) -> Result<(), TestCaseError> {
    let engines = engines();
    let mut rng = Lcg(seed);
    let entities = ["ReportingEvent", "Conversation", "Message", "User"];
    let name = *rng.pick(&entities);
    let Some(table) = engines.tables.iter().find(|t| t.entity.name == name) else {
        return Err(TestCaseError::fail(format!("no table for {name}")));
    };
    let rows = rows(&mut rng, table);
    let edits = edits(&mut rng, table, &rows);
    let for_rollup = rng.chance(50);
    let spec = match for_rollup {
        true => rollup_spec(&mut rng, table, &engines.rollups),
        false => None,
    }
    .unwrap_or_else(|| spec(&mut rng, table));
    let want = folded(&spec, &edits.after);
    for (engine, store) in &engines.stores {
        let (got, from_rollup) = engines.runtime.block_on(async {
            load(store.as_ref(), table, &engines.rollups, &rows, &edits).await;
            answered(store.as_ref(), table, &engines.rollups, &spec).await
        });
        let has = engines.rollups.iter().any(|r| r.base == table.name);
        prop_assert!(
            from_rollup || !for_rollup || !has || spec.filter == Filter::False,
            "a spec made for a rollup is not answered from it\n{}",
            summary(&spec)
        );
        let Some(got) = got.map(sorted) else {
            return Err(TestCaseError::fail(format!(
                "the SQL engine declined a spec it keeps every column of\n{}",
                summary(&spec)
            )));
        };
        let rows = &edits.after;
        prop_assert!(
            same(&want, &got),
            "{engine} differs from the fold\n{}\nrows: {}\nfold: {want:?}\n{engine}: {got:?}",
            summary(&spec),
            serde_json::to_string(&rows).unwrap_or_default()
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_engine_gives_the_groups_of_the_fold(seed in any::<u64>()) {
        check(seed)?;
    }
}
