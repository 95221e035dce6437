//! The aggregate engines held equal. Random aggregates (filters with nulls,
//! `not`, sets, patterns and date bounds; zero to two group fields, nullable
//! ones included; hour, day, week and month buckets in zones with 30- and
//! 45-minute offsets and 30-minute daylight-saving changes; every metric,
//! the median included) over random rows: the gateway's fold of the rows
//! the filter evaluator keeps (the scan engine's core) is the reference,
//! and the SQL engine must give the same groups on SQLite and on
//! PostgreSQL. `PROPTEST_CASES` sets the number of cases (`bench/fuzz.sh`
//! runs many); a failing seed is kept in `proptest-regressions/`.

use super::answer::select_groups;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::store::{self, Store};
use crate::aggregate::{Accumulator, Bucketing, Group, NumOp, Spec, TimeUnit};
use crate::model::{ApiVersion, Field, FieldType, KEY};
use crate::odata::eval::matches;
use crate::odata::random::Lcg;
use crate::odata::{CompareOp, Filter, Literal, Row, StringFn};
use crate::sql::{cell, tables, Cell, Statement, Table};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
];

/// Instants rows gather around: daylight-saving changes of those zones
/// (Berlin, New York, Lord Howe, Chatham, Sao Paulo's last) and a month end.
const AROUND: [&str; 8] = [
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-03-08T07:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-04-04T14:00:00Z",
    "2018-11-04T03:00:00Z",
    "2026-12-31T22:30:00Z",
];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A value of `field` as the upstream sends it; sometimes null.
fn value(rng: &mut Lcg, field: &Field) -> Json {
    if field.odata != KEY && rng.chance(15) {
        return Json::Null;
    }
    match field.ty {
        FieldType::Int => json!(rng.below(4)),
        FieldType::Enum(def) => json!(rng.pick(def.values).1),
        FieldType::Boolean => json!(rng.chance(50)),
        FieldType::Float => json!(*rng.pick(&[0.0, 1.5, 2.0, 72.25, 100.0, -3.75, 7.0])),
        FieldType::DateTime => {
            json!(instant(rng).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        _ => json!(*rng.pick(&["a", "b", "a%_b", "", "x'y", "ä\\"])),
    }
}

/// An instant within three hours of one of `AROUND`, at a whole minute or
/// with sub-millisecond digits.
fn instant(rng: &mut Lcg) -> DateTime<Utc> {
    let around = rng.pick::<&str>(&AROUND);
    let base = at(around);
    let minutes = rng.below(360) as i64 - 180;
    let micros = if rng.chance(20) {
        rng.below(3_000) as i64
    } else {
        0
    };
    base + Duration::minutes(minutes) + Duration::microseconds(micros)
}

fn rows(rng: &mut Lcg, table: &Table) -> Vec<Row> {
    (0..rng.below(60))
        .map(|i| {
            let mut row = Row::new();
            for field in &table.columns {
                let v = if field.odata == KEY {
                    json!(i + 1)
                } else {
                    value(rng, field)
                };
                row.insert(field.odata.to_string(), v);
            }
            row
        })
        .collect()
}

/// A literal of the column's kind; numbers sometimes of the other numeric
/// type than the column's.
fn literal(rng: &mut Lcg, field: &Field) -> Literal {
    match field.ty {
        FieldType::Int | FieldType::Enum(_) | FieldType::Float if rng.chance(25) => {
            Literal::Float(*rng.pick(&[0.5, 1.0, 2.25, 72.25, -1.5]))
        }
        FieldType::Int | FieldType::Enum(_) | FieldType::Float => Literal::Int(rng.below(4) as i64),
        FieldType::Boolean => Literal::Bool(rng.chance(50)),
        FieldType::DateTime => Literal::DateTime(instant(rng)),
        _ => Literal::String(rng.pick(&["a", "b", "", "a%_b", "x'y"]).to_string()),
    }
}

fn leaf(rng: &mut Lcg, table: &Table) -> Filter {
    let field = *rng.pick(&table.columns);
    let property = field.odata;
    let ops = CompareOp::ALL;
    match rng.below(5) {
        0 => Filter::IsNull {
            property,
            null: rng.chance(50),
        },
        1 if field.ty != FieldType::DateTime => Filter::In {
            property,
            values: (0..rng.below(3)).map(|_| literal(rng, field)).collect(),
        },
        2 if field.ty == FieldType::String => Filter::Call {
            func: *rng.pick(&[StringFn::Contains, StringFn::StartsWith, StringFn::EndsWith]),
            property,
            value: rng.pick(&["a", "%", "_b", "", "'"]).to_string(),
        },
        _ => Filter::Compare {
            property,
            op: *rng.pick(&ops),
            value: literal(rng, field),
        },
    }
}

fn filter(rng: &mut Lcg, table: &Table, depth: u32) -> Filter {
    if depth == 0 || rng.chance(40) {
        return leaf(rng, table);
    }
    let parts = |rng: &mut Lcg| {
        (0..2 + rng.below(2))
            .map(|_| filter(rng, table, depth - 1))
            .collect()
    };
    match rng.below(3) {
        0 => Filter::And(parts(rng)),
        1 => Filter::Or(parts(rng)),
        _ => Filter::Not(Box::new(filter(rng, table, depth - 1))),
    }
}

fn spec(rng: &mut Lcg, table: &Table) -> Spec {
    let groupable: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| f.groupable)
        .collect();
    let numeric: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| matches!(f.ty, FieldType::Int | FieldType::Float) && f.odata != KEY)
        .collect();
    let times: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| f.ty == FieldType::DateTime)
        .collect();
    let mut group_by: Vec<&'static Field> = Vec::new();
    for _ in 0..rng.below(3) {
        let f = *rng.pick(&groupable);
        if !group_by.iter().any(|g| g.odata == f.odata) {
            group_by.push(f);
        }
    }
    let mut spec = Spec::grouped(table.entity, filter(rng, table, 3), group_by);
    if !times.is_empty() && rng.chance(60) {
        let units = TimeUnit::ALL.map(|(u, _)| u);
        let zone = rng.pick::<&str>(&ZONES);
        let bucketing = Bucketing::new(*rng.pick(&units), zone);
        spec.bucket = bucketing.map(|b| (*rng.pick(&times), b));
    }
    if rng.chance(40) {
        spec.distinct.push(*rng.pick(&groupable));
    }
    let ops = [
        NumOp::Sum,
        NumOp::Avg,
        NumOp::Min,
        NumOp::Max,
        NumOp::Median,
    ];
    for _ in 0..rng.below(4) {
        if !numeric.is_empty() {
            spec.numbers.push((*rng.pick(&ops), *rng.pick(&numeric)));
        }
    }
    spec
}

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

/// The stores, their tables made once, and a runtime they live on.
struct Engines {
    runtime: tokio::runtime::Runtime,
    stores: Vec<(&'static str, Arc<dyn Store>)>,
    tables: Vec<Table>,
}

fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let tables = tables(ApiVersion::V1_1);
        let file = std::env::temp_dir().join(format!("conformance-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let stores = runtime.block_on(async {
            let sqlite: Arc<dyn Store> = Arc::new(Sqlite::open(&file, 2).expect("SQLite"));
            let postgres: Arc<dyn Store> =
                Arc::new(Postgres::open(&postgres_url()).await.expect("PostgreSQL"));
            for s in [&sqlite, &postgres] {
                let mut statements = store::drop_tables(&tables);
                statements.extend(store::create_tables(s.dialect(), &tables));
                s.write(statements).await.expect("tables");
            }
            vec![("SQLite", sqlite), ("PostgreSQL", postgres)]
        });
        Engines {
            runtime,
            stores,
            tables,
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

/// The groups the SQL engine gives on `store` after loading `rows`.
async fn from_sql(store: &dyn Store, table: &Table, rows: &[Row], spec: &Spec) -> Vec<Group> {
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            table
                .columns
                .iter()
                .map(|f| cell(f, r.get(f.odata)))
                .collect()
        })
        .collect();
    let mut statements = vec![Statement::plain(format!("DELETE FROM {}", table.name))];
    statements.extend(store::upsert(store.dialect(), table, cells));
    if let Err(e) = store.write(statements).await {
        panic!("rows not stored in {}: {e}", table.name);
    }
    let bounds = match &spec.bucket {
        Some((f, _)) => store::bounds(store, &table.name, f.odata)
            .await
            .expect("bounds"),
        None => None,
    };
    match select_groups(store, table, spec, bounds, u64::MAX - 1).await {
        Ok(Some(groups)) => sorted(groups),
        Ok(None) => panic!("the SQL engine declined a spec it keeps every column of"),
        Err(e) => panic!("the SQL engine failed: {e:?}"),
    }
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
    let spec = spec(&mut rng, table);
    let want = folded(&spec, &rows);
    for (engine, store) in &engines.stores {
        let got = engines
            .runtime
            .block_on(from_sql(store.as_ref(), table, &rows, &spec));
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
