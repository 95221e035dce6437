//! The pure functions every request runs through: building an upstream URL,
//! rendering and percent-encoding a `$filter`, decoding a page, and folding
//! scanned rows into aggregate groups. No network, no runtime.
//! `bench/regress.py` compares a run with `bench/baseline.json`.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};
use liveagent_graphql::aggregate::{Accumulator, Bucketing, NumOp, Spec, TimeUnit};
use liveagent_graphql::model::entity;
use liveagent_graphql::odata::query::encode;
use liveagent_graphql::odata::{
    decode_collection, CollectionQuery, CompareOp, Dialect, Expand, Filter, Literal, OrderBy, Row,
    StringFn,
};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

/// Messages of two inboxes in a time range, with an awkward text match:
/// the nested `and`/`or`/`not` shape dashboards send.
fn dashboard_filter() -> Filter {
    let at = |s: &str| {
        Literal::DateTime(
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("date")
                .with_timezone(&chrono::Utc),
        )
    };
    Filter::And(vec![
        Filter::In {
            property: "inbox_id",
            values: vec![Literal::Int(1), Literal::Int(2)],
        },
        Filter::Or(vec![
            Filter::Compare {
                property: "message_type",
                op: CompareOp::Eq,
                value: Literal::Int(0),
            },
            Filter::And(vec![
                Filter::IsNull {
                    property: "sender_id",
                    null: true,
                },
                Filter::Not(Box::new(Filter::In {
                    property: "message_type",
                    values: vec![Literal::Int(1), Literal::Int(3)],
                })),
            ]),
        ]),
        Filter::Compare {
            property: "created_at",
            op: CompareOp::Ge,
            value: at("2026-03-01T00:00:00+01:00"),
        },
        Filter::Compare {
            property: "created_at",
            op: CompareOp::Lt,
            value: at("2026-04-01T00:00:00+02:00"),
        },
        Filter::Call {
            func: StringFn::Contains,
            property: "content",
            value: "it's 100% \"ok\" & + # 😀".into(),
        },
    ])
}

/// The one place a `CollectionQuery` is built, so that a change to its
/// construction touches only this function.
fn dashboard_query() -> CollectionQuery {
    let inbox = Expand {
        navigation: "inbox",
        select: vec!["id", "name"],
        filter: None,
        order_by: Vec::new(),
        top: None,
        expand: Vec::new(),
    };
    CollectionQuery::new("Message")
        .select(vec!["id", "content", "inbox_id", "sender_id", "created_at"])
        .expand(vec![Expand {
            navigation: "conversation",
            select: vec!["id", "status", "assignee_id"],
            filter: None,
            order_by: Vec::new(),
            top: None,
            expand: vec![inbox],
        }])
        .filter(dashboard_filter())
        .order_by(vec![
            OrderBy {
                property: "created_at",
                descending: true,
            },
            OrderBy {
                property: "id",
                descending: false,
            },
        ])
        .top(51)
        .skip(100)
        .count(true)
}

/// A page of `n` Message rows as the upstream sends it.
fn message_page(n: usize) -> Vec<u8> {
    let rows: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "id": i,
                "conversation_id": i / 7,
                "inbox_id": i % 5,
                "sender_id": i % 13,
                "sender_type": "User",
                "message_type": i % 4,
                "private": i % 9 == 0,
                "content": format!("Hello, this is message {i} with an \"escaped\" quote"),
                "content_attributes": "{\"items\":[]}",
                "created_at": "2026-03-29 12:41:26.745",
            })
        })
        .collect();
    serde_json::to_vec(&json!({"@odata.context": "$metadata#Message", "value": rows}))
        .expect("page")
}

/// `n` ReportingEvent rows as a scan reads them: one agent of 40, a
/// conversation, a value (sometimes text, sometimes null), a time.
fn scanned_rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let value = match i % 10 {
                0 => json!(null),
                1 => json!(format!("{}.5", i % 600)),
                _ => json!(i % 600),
            };
            let row = json!({
                "user_id": i % 40,
                "conversation_id": i / 3,
                "value": value,
                "created_at": format!("2026-03-{:02}T{:02}:15:00.000Z", 1 + i % 28, i % 24),
            });
            row.as_object().cloned().expect("object")
        })
        .collect()
}

fn odata(c: &mut Criterion<CpuTime>) {
    let mut group = c.benchmark_group("odata");
    let query = dashboard_query();
    group.bench_function("collection_query_url", |b| {
        b.iter(|| black_box(&query).to_relative_url(Dialect::odata4()))
    });
    let filter = dashboard_filter();
    group.bench_function("nested_filter_render_encode", |b| {
        b.iter(|| encode(&black_box(&filter).render(Dialect::odata4())))
    });
    // A relation batch: 500 parent ids as one `or` chain.
    let batch = Filter::In {
        property: "conversation_id",
        values: (1_000..1_500).map(Literal::Int).collect(),
    };
    group.bench_function("relation_batch_500_ids", |b| {
        b.iter(|| encode(&black_box(&batch).render(Dialect::odata4())))
    });
    let page = message_page(1_000);
    group.bench_function("decode_page_1000_rows", |b| {
        b.iter(|| decode_collection(black_box(&page)).expect("page"))
    });
    group.finish();
}

fn aggregate(c: &mut Criterion<CpuTime>) {
    let events = entity("ReportingEvent").expect("entity");
    let field = |name| events.field(name).expect("field");
    // Average and maximum first reply per agent per day, with distinct
    // conversations: a bucket parse, a key, a set and two running totals
    // per row.
    let spec = Spec {
        entity: events,
        filter: Filter::True,
        group_by: vec![field("user_id")],
        bucket: Some((
            field("created_at"),
            Bucketing::new(TimeUnit::Day, "Europe/Berlin").expect("zone"),
        )),
        distinct: vec![field("conversation_id")],
        numbers: vec![(NumOp::Avg, field("value")), (NumOp::Max, field("value"))],
        order: Vec::new(),
        first: None,
    };
    let rows = scanned_rows(5_000);
    let mut group = c.benchmark_group("aggregate");
    group.bench_function("scan_fold_5000_rows", |b| {
        b.iter(|| {
            let mut acc = Accumulator::new(&spec, 100_000);
            for row in &rows {
                acc.add(row).expect("row");
            }
            acc.finish()
        })
    });
    group.finish();
}

/// The bench thread's CPU time rather than wall time: on a small shared
/// machine the thread often waits for a core, and that wait is not the
/// code's cost (wall-time medians varied by half between runs).
struct CpuTime;

/// Durations are shown as criterion shows wall time.
static DURATIONS: WallTime = WallTime;

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is handed.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_time().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        DURATIONS.formatter()
    }
}

/// Short runs, since the machine is small and shared.
fn config() -> Criterion<CpuTime> {
    Criterion::default()
        .with_measurement(CpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = odata, aggregate
}
criterion_main!(hot_paths);
