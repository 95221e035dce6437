//! Aggregates over HTTP against the test upstream, checked against SQL run
//! directly on the CAP upstream's SQLite file (account 1's rows:
//! admin-token-1; the liveagent upstream serves the same data). Every query
//! runs through a pushdown gateway and a scan gateway, which must agree.

mod common;

use common::*;
use liveagent_graphql::config::{Config, Pushdown};
use rusqlite::types::Value as Sql;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The SQLite file of the shared upstream; reused across runs (same data).
fn db_file() -> String {
    format!("{}/aggregates-600.sqlite", env!("CARGO_TARGET_TMPDIR"))
}

fn up() -> &'static TestUpstream {
    upstream_with(&[("DB_FILE", &db_file())])
}

async fn gateway_for(up: &TestUpstream, pushdown: Pushdown, extra: Config) -> Gateway {
    gateway_with(Config {
        upstream: Some(up.url("1.1")),
        aggregate_pushdown: pushdown,
        ..extra
    })
    .await
}

/// Runs a query through every path — pushdown, the scan with small
/// concurrent pages, and the analytics replica in SQLite and in PostgreSQL —
/// and returns the data once all agree. The replica answers must say so.
async fn both(query: &str) -> Value {
    let up = up();
    let pushed = gateway_for(up, pushdown(), base_config()).await;
    let scan = gateway_for(
        up,
        Pushdown::Off,
        Config {
            scan_page_size: 200,
            ..base_config()
        },
    )
    .await;
    let a = pushed.data(ADMIN_1, query, json!({})).await;
    let b = scan.data(ADMIN_1, query, json!({})).await;
    assert!(same(&a, &b), "pushdown and scan differ:\n{a}\n{b}");
    for engine in [ReplicaEngine::Sqlite, ReplicaEngine::Postgres] {
        let replica = replica_gateway(engine).await;
        let body = replica.query(Some(ADMIN_1), query, json!({})).await;
        assert!(body.get("errors").is_none(), "{engine:?} replica: {body}");
        assert!(
            replica_synced_at(&body).is_some(),
            "not from the {engine:?} replica: {body}"
        );
        let c = &body["data"];
        assert!(
            same(&a, c),
            "pushdown and the {engine:?} replica differ:\n{a}\n{c}"
        );
    }
    a
}

/// The gateway of this binary whose aggregates come from a replica in
/// `engine`, once it is in sync.
async fn replica_gateway(engine: ReplicaEngine) -> &'static Gateway {
    static SQLITE: OnceLock<Gateway> = OnceLock::new();
    static POSTGRES: OnceLock<Gateway> = OnceLock::new();
    let slot = match engine {
        ReplicaEngine::Sqlite => &SQLITE,
        ReplicaEngine::Postgres => &POSTGRES,
    };
    let gw = slot.get_or_init(|| {
        lasting_gateway(Config {
            upstream: Some(up().url("1.1")),
            ..replica_config(engine, 5)
        })
    });
    wait_replica_in_sync(gw).await;
    gw
}

/// Equal JSON, numbers within a relative 1e-9 (sums and averages add up in
/// another order upstream).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn assert_same(got: &Value, expected: &Value) {
    assert!(same(got, expected), "got:\n{got}\nexpected:\n{expected}");
}

/// Rows of a query on the CAP upstream's SQLite file, as JSON arrays.
fn sql(query: &str) -> Vec<Vec<Value>> {
    cap_upstream_with(&[("DB_FILE", &db_file())]);
    let db = rusqlite::Connection::open_with_flags(
        db_file(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the upstream's SQLite file");
    let mut statement = db.prepare(query).expect("SQL");
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get::<_, Sql>(i)? {
                        Sql::Null => Value::Null,
                        Sql::Integer(n) => json!(n),
                        Sql::Real(f) => json!(f),
                        Sql::Text(s) => json!(s),
                        Sql::Blob(_) => Value::Null,
                    })
                })
                .collect()
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

/// SQL for the UTC start of a row's bucket, independent of chrono-tz: the
/// Berlin offset is written out (CEST from 2026-03-29 01:00Z to 2026-10-25
/// 01:00Z; the data starts in November 2025).
fn bucket_sql(unit: &str, zone: &str, column: &str) -> String {
    let (to_local, to_utc) = match zone {
        "UTC" => ("'+0 hours'".to_string(), "'-0 hours'".to_string()),
        _ => (
            format!("CASE WHEN {column} >= '2026-03-29T01:00:00.000Z' AND {column} < '2026-10-25T01:00:00.000Z' THEN '+2 hours' ELSE '+1 hours' END"),
            // Local midnights from 03-30 to 10-25 are summer time.
            "CASE WHEN {l} > '2026-03-29 03:00:00' AND {l} < '2026-10-25 02:00:00' THEN '-2 hours' ELSE '-1 hours' END".to_string(),
        ),
    };
    let local = format!("datetime({column}, {to_local})");
    let start = match unit {
        // Berlin's offsets are whole hours: a UTC hour is a local hour.
        "HOUR" => return format!("strftime('%Y-%m-%dT%H:00:00.000Z', {column})"),
        "DAY" => format!("date({local}) || ' 00:00:00'"),
        "WEEK" => format!("date({local}, 'weekday 0', '-6 days') || ' 00:00:00'"),
        _ => format!("strftime('%Y-%m-01 00:00:00', {local})"),
    };
    let to_utc = to_utc.replace("{l}", &start);
    format!("strftime('%Y-%m-%dT%H:%M:%S.000Z', {start}, {to_utc})")
}

/// The `bucket` keys of an aggregate's groups, in order.
fn bucket_keys(groups: &Value) -> Vec<&str> {
    groups
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["key"]["bucket"].as_str())
        .collect()
}

#[tokio::test]
async fn conversations_per_inbox_per_day_match_sql() {
    let data = both(
        r#"{ conversationsAggregate(where: {status: {in: [OPEN, RESOLVED]}}, groupBy: [INBOX_ID],
             bucket: {field: CREATED_AT, unit: DAY}) {
           key { inboxId bucket status } count countDistinct { assigneeId } } }"#,
    )
    .await;
    let expected: Vec<Value> = sql(
        "SELECT inbox_id, substr(created_at, 1, 10) || 'T00:00:00.000Z', count(*), count(DISTINCT assignee_id)
         FROM liveagent_Conversation WHERE account_id = 1 AND status IN (0, 1)
         GROUP BY 2, 1 ORDER BY 2, 1",
    )
    .into_iter()
    .map(|r| json!({"key": {"inboxId": r[0], "bucket": r[1], "status": null}, "count": r[2], "countDistinct": {"assigneeId": r[3]}}))
    .collect();
    assert!(expected.len() > 100);
    assert_same(&data["conversationsAggregate"], &Value::Array(expected));
}

#[tokio::test]
async fn every_unit_in_utc_and_berlin_across_dst_matches_sql() {
    // Windows around both 2026 changes keep pushed-down bucket requests few.
    let cases = [
        ("HOUR", "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),
        ("HOUR", "2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
        ("DAY", "2026-03-20T00:00:00Z", "2026-04-10T00:00:00Z"),
        ("DAY", "2026-10-15T00:00:00Z", "2026-11-05T00:00:00Z"),
        ("WEEK", "2026-02-01T00:00:00Z", "2026-11-05T00:00:00Z"),
        ("MONTH", "2025-10-01T00:00:00Z", "2026-12-01T00:00:00Z"),
    ];
    for zone in ["UTC", "Europe/Berlin"] {
        for (unit, from, to) in cases {
            let data = both(&format!(
                r#"{{ messagesAggregate(where: {{createdAt: {{gte: "{from}", lt: "{to}"}}}},
                     bucket: {{field: CREATED_AT, unit: {unit}, timeZone: "{zone}"}}) {{
                   key {{ bucket }} count countDistinct {{ conversationId }} }} }}"#
            ))
            .await;
            let bucket = bucket_sql(unit, zone, "created_at");
            let expected: Vec<Value> = sql(&format!(
                "SELECT {bucket} AS b, count(*), count(DISTINCT conversation_id) FROM liveagent_Message
                 WHERE account_id = 1 AND created_at >= '{}' AND created_at < '{}'
                 GROUP BY b ORDER BY b",
                from.replace('Z', ".000Z"),
                to.replace('Z', ".000Z")
            ))
            .into_iter()
            .map(|r| json!({"key": {"bucket": r[0]}, "count": r[1], "countDistinct": {"conversationId": r[2]}}))
            .collect();
            assert!(!expected.is_empty(), "{unit} {zone}");
            assert_same(&data["messagesAggregate"], &Value::Array(expected));
        }
    }
    // Conversations created on the DST instants land where Berlin's clock says.
    let data = both(
        r#"{ conversationsAggregate(where: {createdAt: {gte: "2026-10-25T00:00:00Z", lt: "2026-10-25T02:00:00Z"}},
             bucket: {field: CREATED_AT, unit: HOUR, timeZone: "Europe/Berlin"}) { key { bucket } count } }"#,
    )
    .await;
    let buckets = bucket_keys(&data["conversationsAggregate"]);
    // 02:30 CEST and 02:30 CET: the repeated hour is two buckets.
    assert_eq!(
        buckets,
        ["2026-10-25T00:00:00.000Z", "2026-10-25T01:00:00.000Z"]
    );
    let data = both(
        r#"{ conversationsAggregate(where: {createdAt: {gte: "2026-03-28T00:00:00Z", lt: "2026-03-30T00:00:00Z"}},
             bucket: {field: CREATED_AT, unit: DAY, timeZone: "Europe/Berlin"}) { key { bucket } count } }"#,
    )
    .await;
    let day = data["conversationsAggregate"]
        .as_array()
        .and_then(|groups| {
            groups
                .iter()
                .find(|g| g["key"]["bucket"] == "2026-03-28T23:00:00.000Z")
        })
        .cloned()
        .unwrap_or_default();
    // 00:59:59.999Z (01:59 CET) and 01:00Z (03:00 CEST) are both on the 23-hour 29th.
    assert!(day["count"].as_u64().unwrap_or(0) >= 2, "{data}");
}

/// Lord Howe falls back from +11:00 to +10:30 at 15:00Z on 2026-04-04 and
/// springs forward at 15:30Z on 2026-10-03: an hour holding such a change
/// is split there, in every engine (docs/aggregates.md).
#[tokio::test]
async fn half_hour_changes_split_their_hour_in_every_engine() {
    let cases = [
        (
            "2026-04-04T14:00:00Z",
            "2026-04-04T16:00:00Z",
            [
                "2026-04-04T14:00:00.000Z",
                "2026-04-04T15:00:00.000Z",
                "2026-04-04T15:30:00.000Z",
            ],
        ),
        (
            "2026-10-03T14:30:00Z",
            "2026-10-03T17:00:00Z",
            [
                "2026-10-03T14:30:00.000Z",
                "2026-10-03T15:30:00.000Z",
                "2026-10-03T16:00:00.000Z",
            ],
        ),
    ];
    for (from, to, starts) in cases {
        let data = both(&format!(
            r#"{{ conversationsAggregate(where: {{createdAt: {{gte: "{from}", lt: "{to}"}}}},
                 bucket: {{field: CREATED_AT, unit: HOUR, timeZone: "Australia/Lord_Howe"}}) {{
               key {{ bucket }} count }} }}"#
        ))
        .await;
        assert_eq!(
            bucket_keys(&data["conversationsAggregate"]),
            starts,
            "{data}"
        );
    }
    // Offsets of +05:30 and +05:45, and Lord Howe's days: the engines agree.
    for zone in ["Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"] {
        for (unit, from, to) in [
            ("HOUR", "2026-04-04T00:00:00Z", "2026-04-05T12:00:00Z"),
            ("DAY", "2026-03-25T00:00:00Z", "2026-04-15T00:00:00Z"),
            ("WEEK", "2026-09-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ] {
            let data = both(&format!(
                r#"{{ messagesAggregate(where: {{createdAt: {{gte: "{from}", lt: "{to}"}}}},
                     bucket: {{field: CREATED_AT, unit: {unit}, timeZone: "{zone}"}}) {{
                   key {{ bucket }} count }} }}"#
            ))
            .await;
            let groups = data["messagesAggregate"].as_array().map_or(0, Vec::len);
            assert!(groups > 0, "{unit} {zone}: {data}");
        }
    }
}

/// The year's dashboard (docs/replica.md) in zones of every kind of
/// offset: every path gives the same groups, and a replica answers each
/// aggregate from its rollups' cells, not from its rows.
#[tokio::test]
async fn the_year_dashboard_comes_from_the_rollups_in_every_zone() {
    let year = r#"{gte: "2025-11-01T00:00:00Z", lt: "2026-11-01T00:00:00Z"}"#;
    let zones = [
        "UTC",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Lord_Howe",
    ];
    let mut queries = vec![
        "{ conversationCounts { all open resolved pending snoozed assigned unassigned } }"
            .to_string(),
    ];
    for zone in zones {
        queries.push(format!(
            r#"{{ conversationsAggregate(where: {{createdAt: {year}}}, groupBy: [INBOX_ID],
                 bucket: {{field: CREATED_AT, unit: DAY, timeZone: "{zone}"}}) {{ key {{ inboxId bucket }} count }} }}"#
        ));
        queries.push(format!(
            r#"{{ reportingEventsAggregate(where: {{name: {{eq: "first_reply_created"}}, createdAt: {year}}},
                 groupBy: [USER_ID], bucket: {{field: CREATED_AT, unit: WEEK, timeZone: "{zone}"}}) {{
               key {{ userId bucket }} count avg {{ value }} }} }}"#
        ));
        queries.push(format!(
            r#"{{ messagesAggregate(where: {{createdAt: {year}}}, groupBy: [MESSAGE_TYPE],
                 bucket: {{field: CREATED_AT, unit: MONTH, timeZone: "{zone}"}}) {{ key {{ messageType bucket }} count }} }}"#
        ));
        queries.push(format!(
            r#"{{ agentActivity(from: "2025-11-01T00:00:00Z", to: "2026-11-01T00:00:00Z", bucket: WEEK,
                 timeZone: "{zone}") {{ userId bucket conversationsAssigned conversationsResolved
                 firstReplies avgFirstReplySeconds messagesSent }} }}"#
        ));
    }
    let mut expected = Vec::new();
    for query in &queries {
        expected.push(both(query).await);
    }
    for engine in [ReplicaEngine::Sqlite, ReplicaEngine::Postgres] {
        // Its own gateway, so that its counters count this test only.
        let gw = gateway_with(Config {
            upstream: Some(up().url("1.1")),
            response_cache_bytes: 0,
            ..replica_config(engine, 5)
        })
        .await;
        wait_replica_in_sync(&gw).await;
        for (query, expected) in queries.iter().zip(&expected) {
            let body = gw.query(Some(ADMIN_1), query, json!({})).await;
            assert!(replica_synced_at(&body).is_some(), "{engine:?}: {body}");
            assert!(
                same(&body["data"], expected),
                "{engine:?}: {body}\n{expected}"
            );
        }
        let answers = metric_of(&gw, "gateway_replica_answers_total").await;
        let from_rollups = metric_of(&gw, "gateway_replica_rollup_answers_total").await;
        // agentActivity is three aggregates.
        let aggregates = 1 + zones.len() * 6;
        assert_eq!(answers, Some(aggregates as f64), "{engine:?}");
        assert_eq!(from_rollups, answers, "{engine:?}");
    }
}

#[tokio::test]
async fn events_by_name_and_user_with_every_metric_match_sql() {
    let data = both(
        r#"{ reportingEventsAggregate(where: {inboxId: {in: [1, 2, 3]}}, groupBy: [NAME, USER_ID]) {
           key { name userId } count countDistinct { conversationId }
           sum { value } avg { value } min { value } max { value } } }"#,
    )
    .await;
    let expected: Vec<Value> = sql(
        "SELECT name, user_id, count(*), count(DISTINCT conversation_id), sum(value), avg(value), min(value), max(value)
         FROM liveagent_ReportingEvent WHERE account_id = 1 AND inbox_id IN (1, 2, 3)
         GROUP BY name, user_id ORDER BY name, user_id",
    )
    .into_iter()
    .map(|r| json!({"key": {"name": r[0], "userId": r[1]}, "count": r[2], "countDistinct": {"conversationId": r[3]},
                    "sum": {"value": r[4]}, "avg": {"value": r[5]}, "min": {"value": r[6]}, "max": {"value": r[7]}}))
    .collect();
    assert!(expected.len() > 20);
    assert_same(&data["reportingEventsAggregate"], &Value::Array(expected));
}

#[tokio::test]
async fn no_groups_metric_order_and_first_match_sql() {
    let data = both(
        r#"{ messagesAggregate(where: {messageType: {eq: OUTGOING}}) { key { bucket } count countDistinct { conversationId senderId } }
             usersAggregate(groupBy: [AVAILABILITY]) { key { availability } count sum { signInCount } max { signInCount } }
             conversationsAggregate(groupBy: [ASSIGNEE_ID], first: 3,
               orderBy: [{metric: COUNT, direction: DESC}, {key: "assigneeId", direction: DESC}]) { key { assigneeId } count } }"#,
    )
    .await;
    let r = &sql("SELECT count(*), count(DISTINCT conversation_id), count(DISTINCT sender_id) FROM liveagent_Message WHERE account_id = 1 AND message_type = 1")[0];
    assert_same(
        &data["messagesAggregate"],
        &json!([{"key": {"bucket": null}, "count": r[0], "countDistinct": {"conversationId": r[1], "senderId": r[2]}}]),
    );
    let users: Vec<Value> = sql("SELECT availability, count(*), sum(sign_in_count), max(sign_in_count) FROM liveagent_User WHERE account_id = 1 GROUP BY 1 ORDER BY 1")
        .into_iter()
        .map(|r| json!({"key": {"availability": r[0]}, "count": r[1], "sum": {"signInCount": r[2]}, "max": {"signInCount": r[3]}}))
        .collect();
    assert_same(&data["usersAggregate"], &Value::Array(users));
    let top: Vec<Value> = sql("SELECT assignee_id, count(*) FROM liveagent_Conversation WHERE account_id = 1 GROUP BY 1 ORDER BY 2 DESC, 1 DESC LIMIT 3")
        .into_iter()
        .map(|r| json!({"key": {"assigneeId": r[0]}, "count": r[1]}))
        .collect();
    assert_same(&data["conversationsAggregate"], &Value::Array(top));
}

#[tokio::test]
async fn conversation_counts_match_sql() {
    let data = both(
        r#"{ all: conversationCounts { all open resolved pending snoozed assigned unassigned }
             some: conversationCounts(where: {inboxId: {in: [1, 2]}}) { all open resolved pending snoozed assigned unassigned } }"#,
    )
    .await;
    for (name, filter) in [("all", ""), ("some", " AND inbox_id IN (1, 2)")] {
        let r = &sql(&format!(
            "SELECT count(*), sum(status = 0), sum(status = 1), sum(status = 2), sum(status = 3),
                    sum(assignee_id IS NOT NULL), sum(assignee_id IS NULL)
             FROM liveagent_Conversation WHERE account_id = 1{filter}"
        ))[0];
        let expected = json!({"all": r[0], "open": r[1], "resolved": r[2], "pending": r[3], "snoozed": r[4], "assigned": r[5], "unassigned": r[6]});
        assert_same(&data[name], &expected);
    }
}

#[tokio::test]
async fn agent_activity_matches_sql() {
    let (from, to, inboxes) = (
        "2026-01-01T00:00:00.000Z",
        "2026-04-01T00:00:00.000Z",
        "1, 2, 3, 4",
    );
    let data = both(&format!(
        r#"{{ agentActivity(from: "{from}", to: "{to}", bucket: WEEK, inboxIds: [{inboxes}]) {{
             userId bucket user {{ name }} conversationsAssigned conversationsResolved firstReplies
             avgFirstReplySeconds medianFirstReplySeconds avgResolutionSeconds messagesSent }} }}"#
    ))
    .await;
    let week = bucket_sql("WEEK", "UTC", "created_at");
    let scope = format!("account_id = 1 AND created_at >= '{from}' AND created_at < '{to}' AND inbox_id IN ({inboxes})");
    let mut expected: std::collections::BTreeMap<(String, i64), Value> = Default::default();
    let mut set = |r: &[Value], field: &str, value: Value| {
        let key = (
            r[0].as_str().unwrap_or_default().to_string(),
            r[1].as_i64().unwrap_or_default(),
        );
        let row = expected.entry(key.clone()).or_insert_with(|| {
            json!({"userId": key.1, "bucket": key.0, "conversationsAssigned": 0, "conversationsResolved": 0,
                   "firstReplies": 0, "avgFirstReplySeconds": null, "medianFirstReplySeconds": null,
                   "avgResolutionSeconds": null, "messagesSent": 0})
        });
        row[field] = value;
    };
    let events = |name: &str, metrics: &str| {
        sql(&format!("SELECT {week} AS w, user_id, {metrics} FROM liveagent_ReportingEvent
                      WHERE {scope} AND name = '{name}' AND user_id IS NOT NULL GROUP BY w, user_id"))
    };
    for r in events("assignee_changed", "count(DISTINCT conversation_id)") {
        set(&r, "conversationsAssigned", r[2].clone());
    }
    for r in events(
        "conversation_resolved",
        "count(DISTINCT conversation_id), avg(value)",
    ) {
        set(&r, "conversationsResolved", r[2].clone());
        set(&r, "avgResolutionSeconds", r[3].clone());
    }
    for r in events(
        "first_reply_created",
        "count(*), avg(value), group_concat(value)",
    ) {
        set(&r, "firstReplies", r[2].clone());
        set(&r, "avgFirstReplySeconds", r[3].clone());
        let mut values: Vec<f64> = r[4]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
        set(&r, "medianFirstReplySeconds", json!(median));
    }
    for r in sql(&format!("SELECT {week} AS w, sender_id, count(*) FROM liveagent_Message
                           WHERE {scope} AND message_type = 1 AND sender_type = 'User' AND private = 0
                           GROUP BY w, sender_id")) {
        set(&r, "messagesSent", r[2].clone());
    }
    let names: std::collections::HashMap<i64, Value> =
        sql("SELECT id, name FROM liveagent_User WHERE account_id = 1")
            .into_iter()
            .map(|r| (r[0].as_i64().unwrap_or_default(), r[1].clone()))
            .collect();
    let expected: Vec<Value> = expected
        .into_values()
        .map(|mut row| {
            let id = row["userId"].as_i64().unwrap_or_default();
            row["user"] = json!({"name": names.get(&id).cloned().unwrap_or_default()});
            row
        })
        .collect();
    assert!(expected.len() > 30);
    assert_same(&data["agentActivity"], &Value::Array(expected.clone()));
    // Without a figure selected, the rows still list the active agents.
    let keys = both(&format!(
        r#"{{ agentActivity(from: "{from}", to: "{to}", bucket: WEEK, inboxIds: [{inboxes}]) {{ userId bucket }} }}"#
    ))
    .await;
    let expected_keys: Vec<Value> = expected
        .iter()
        .map(|r| json!({"userId": r["userId"], "bucket": r["bucket"]}))
        .collect();
    assert_same(&keys["agentActivity"], &Value::Array(expected_keys));
}

#[tokio::test]
async fn pushdown_sends_apply_where_the_dialect_has_it_and_the_scan_selects_only_needed_columns() {
    let up = private_upstream("aggregates-requests");
    let query = "{ conversationsAggregate(groupBy: [INBOX_ID]) { count } }";
    let auto = gateway_for(up, Pushdown::Auto, base_config()).await;
    let since = up.last_seq().await;
    let pushed = auto.data(ADMIN_1, query, json!({})).await;
    auto.data(ADMIN_1, query, json!({})).await;
    let urls = up.data_requests_since(since).await;
    if on_cap() {
        assert_pushed_down_once(&urls);
    } else {
        // No `$apply` on the minimal dialect: a scan.
        assert!(
            !urls.is_empty()
                && urls
                    .iter()
                    .all(|u| u.contains("/Conversation?") && !u.contains("$apply")),
            "{urls:?}"
        );
    }
    let scan = gateway_for(
        up,
        Pushdown::Off,
        Config {
            scan_page_size: 250,
            ..base_config()
        },
    )
    .await;
    let since = up.last_seq().await;
    assert_eq!(scan.data(ADMIN_1, query, json!({})).await, pushed);
    let urls = up.data_requests_since(since).await;
    // 600 conversations in pages of 250 (the first with the count where
    // the upstream has `$count`).
    assert_eq!(urls.len(), 3, "{urls:?}");
    for url in &urls {
        assert!(
            url.contains("$select=inbox_id&$orderby=id%20asc&$top=250&$skip="),
            "{url}"
        );
        assert!(!url.contains("$apply"), "{url}");
    }
}

/// One grouping (the capability probes, `$apply` among them, are not in
/// the log read): the repeat is answered by the per-credential response
/// cache, like any upstream request.
fn assert_pushed_down_once(urls: &[String]) {
    assert_eq!(urls.len(), 1, "{urls:?}");
    for url in urls {
        assert!(
            url.contains("$apply=groupby((inbox_id),aggregate($count%20as%20n))"),
            "{url}"
        );
        assert!(url.contains("$top=") && url.contains("$skip=0"), "{url}");
    }
}

#[tokio::test]
async fn the_scan_limit_trips_with_its_code_and_advice() {
    let scan = gateway_for(
        up(),
        Pushdown::Off,
        Config {
            max_scan_rows: 100,
            ..base_config()
        },
    )
    .await;
    let body = scan
        .query(
            Some(ADMIN_1),
            "{ messagesAggregate(groupBy: [MESSAGE_TYPE]) { count } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("SCAN_LIMIT_EXCEEDED"), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("max_scan_rows") && message.contains("narrow `where`"),
        "{message}"
    );
}

#[tokio::test]
async fn empty_results_are_empty_lists() {
    let data = both(
        r#"{ later: conversationsAggregate(where: {createdAt: {gte: "2030-01-01T00:00:00Z"}}, groupBy: [STATUS]) { count }
             bucketed: messagesAggregate(where: {createdAt: {gte: "2030-01-01T00:00:00Z"}}, bucket: {field: CREATED_AT, unit: DAY}) { count }
             total: reportingEventsAggregate(where: {createdAt: {gte: "2030-01-01T00:00:00Z"}}) { count sum { value } }
             none: inboxesAggregate(where: {id: {in: []}}) { count }
             counts: conversationCounts(where: {id: {in: []}}) { all open assigned }
             agents: agentActivity(from: "2030-01-01T00:00:00Z", to: "2030-02-01T00:00:00Z", bucket: DAY) { userId } }"#,
    )
    .await;
    for field in ["later", "bucketed", "total", "none", "agents"] {
        assert_eq!(data[field], json!([]), "{field}: {data}");
    }
    assert_eq!(data["counts"], json!({"all": 0, "open": 0, "assigned": 0}));
}

#[tokio::test]
async fn bad_arguments_are_user_errors() {
    let gateway = gateway_for(up(), Pushdown::Auto, base_config()).await;
    for query in [
        r#"{ messagesAggregate(bucket: {field: CREATED_AT, unit: DAY, timeZone: "Mars/Olympus"}) { count } }"#,
        r#"{ messagesAggregate(groupBy: [INBOX_ID], orderBy: [{key: "senderId"}]) { count } }"#,
        r#"{ messagesAggregate(orderBy: [{metric: SUM}]) { count } }"#,
        r#"{ messagesAggregate(first: -1) { count } }"#,
        r#"{ agentActivity(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { userId } }"#,
    ] {
        let body = gateway.query(Some(ADMIN_1), query, json!({})).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{query}: {body}");
    }
}

#[tokio::test]
async fn scan_pages_stay_out_of_the_response_cache() {
    let up = private_upstream("aggregates-scan-cache");
    // The upstream cache alone: whole responses are reused otherwise.
    let upstream_cache_only = Config {
        response_cache_bytes: 0,
        ..base_config()
    };
    let scan = gateway_for(up, Pushdown::Off, upstream_cache_only).await;
    let query = "{ messagesAggregate(groupBy: [MESSAGE_TYPE]) { key { messageType } count } }";
    let first = scan.data(ADMIN_1, query, json!({})).await;
    let since = up.last_seq().await;
    let again = scan.data(ADMIN_1, query, json!({})).await;
    assert_eq!(first, again);
    // Read again from the upstream: scanned pages are never cached, so a
    // scan's memory stays with its groups.
    let urls = up.data_requests_since(since).await;
    assert!(
        !urls.is_empty() && urls.iter().all(|u| u.contains("/Message?")),
        "{urls:?}"
    );
    // The whole response, a few groups, is reused: no upstream request.
    let reusing = gateway_for(up, Pushdown::Off, base_config()).await;
    let first = reusing.data(ADMIN_1, query, json!({})).await;
    let since = up.last_seq().await;
    assert_eq!(reusing.data(ADMIN_1, query, json!({})).await, first);
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
}
