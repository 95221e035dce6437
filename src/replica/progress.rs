//! How far the sync has come, stored in the replica itself (`la_meta`, key
//! `state`), and the decisions the sync takes from it: what is complete,
//! which collection is due for a comparison of ids, where the incremental
//! read starts, how the watermark moves. Pure: the sync does the I/O.

use super::state::Status;
use crate::sql::{Cell, Rollup, Table};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct State {
    pub account: Option<i64>,
    pub synced_at: Option<DateTime<Utc>>,
    /// Statistics were last gathered (after backfills, then every
    /// reconcile interval).
    pub analyzed_at: Option<DateTime<Utc>>,
    pub tables: BTreeMap<String, TableState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct TableState {
    pub backfilled: bool,
    /// Backfill cursor: the last id stored.
    pub after_id: i64,
    /// Rows read by the backfill so far.
    pub backfill_rows: u64,
    /// Incremental watermark (µs of `updated_at`).
    pub since_us: Option<i64>,
    pub reconciled_at: Option<DateTime<Utc>>,
}

impl State {
    /// What the replica may answer from, as of this state.
    pub fn status(&self, tables: &[Table]) -> Status {
        Status {
            complete: tables
                .iter()
                .all(|t| self.tables.get(t.entity.name).is_some_and(|s| s.backfilled)),
            account: self.account,
            synced_at: self.synced_at,
        }
    }

    /// The token now reads another account than the copy holds: the copy
    /// starts afresh.
    pub fn account_changed(&self, read: Option<i64>) -> bool {
        self.account.is_some() && read.is_some() && self.account != read
    }

    /// Statistics for the planner are due: never gathered, or `every` ago.
    pub fn statistics_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        self.analyzed_at.is_none_or(|at| elapsed(at, now) >= every)
    }
}

impl TableState {
    /// Whether the stored ids are compared with the upstream's this pass:
    /// conversations at every sync (their deletion takes messages and
    /// events along), the others `every` apart.
    pub fn reconcile_due(&self, table: &Table, now: DateTime<Utc>, every: Duration) -> bool {
        table.entity.name == "Conversation"
            || self
                .reconciled_at
                .is_none_or(|at| elapsed(at, now) >= every)
    }

    /// Where the incremental read starts: the watermark less the overlap
    /// (rows written while the last read ran are read again).
    pub fn changes_from(&self, overlap: Duration) -> DateTime<Utc> {
        let overlap = i64::try_from(overlap.as_micros()).unwrap_or(i64::MAX);
        let from = self.since_us.unwrap_or(0).saturating_sub(overlap);
        DateTime::from_timestamp_micros(from).unwrap_or_default()
    }

    /// Moves the watermark to the newest `updated_at` read (µs), never past
    /// `now`: a row stamped in the future (the upstream's clock ahead of
    /// the gateway's) must not move it past what is read next.
    pub fn advance(&mut self, newest_us: Option<i64>, now: DateTime<Utc>) {
        let newest = newest_us.map(|us| us.min(now.timestamp_micros()));
        self.since_us = self.since_us.max(newest);
    }
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

/// The tables' and rollups' columns, as the replica's layout: a change
/// rebuilds it.
pub(super) fn layout(tables: &[Table], rollups: &[Rollup]) -> String {
    let tables: Vec<String> = tables
        .iter()
        .map(|t| {
            let columns: Vec<&str> = t.columns.iter().map(|f| f.odata).collect();
            format!("{}({})", t.name, columns.join(","))
        })
        .collect();
    let rollups: Vec<String> = rollups
        .iter()
        .map(|r| {
            let only: Vec<String> = r
                .only
                .iter()
                .map(|(f, v)| format!("{}={v:?}", f.odata))
                .collect();
            let time = r.time.map_or("-", |t| t.odata);
            let distinct = r.distinct.map_or("-", |t| t.odata);
            let cells = r.cell_columns().join(",");
            format!("{}[{}|{time}|{distinct}]({cells})", r.table, only.join(","))
        })
        .collect();
    format!("2:{};{}", tables.join(";"), rollups.join(";"))
}

/// The newest value of column `at` among stored rows.
pub(super) fn newest(rows: &[Vec<Cell>], at: Option<usize>) -> Option<i64> {
    let at = at?;
    rows.iter()
        .filter_map(|r| match r.get(at) {
            Some(Cell::Int(us)) => Some(*us),
            _ => None,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiVersion;
    use crate::sql::tables;

    fn table(name: &str) -> Table {
        tables(ApiVersion::V1_1)
            .into_iter()
            .find(|t| t.entity.name == name)
            .expect("table")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn complete_once_every_table_is_backfilled() {
        let all = tables(ApiVersion::V1_1);
        let mut state = State::default();
        assert!(!state.status(&all).complete);
        for t in &all {
            let s = state.tables.entry(t.entity.name.to_string()).or_default();
            s.backfilled = t.entity.name != "Label";
        }
        assert!(!state.status(&all).complete);
        state.tables.entry("Label".into()).or_default().backfilled = true;
        assert!(state.status(&all).complete);
    }

    #[test]
    fn another_account_starts_afresh_an_unknown_one_does_not() {
        let state = State {
            account: Some(1),
            ..State::default()
        };
        assert!(state.account_changed(Some(2)));
        assert!(!state.account_changed(Some(1)));
        assert!(
            !state.account_changed(None),
            "a token that reads nothing keeps the copy"
        );
        assert!(!State::default().account_changed(Some(2)));
    }

    #[test]
    fn comparisons_and_statistics_come_due_by_the_interval() {
        let hour = Duration::from_secs(3600);
        let now = at("2026-05-01T12:00:00Z");
        let recent = TableState {
            reconciled_at: Some(at("2026-05-01T11:30:00Z")),
            ..TableState::default()
        };
        assert!(!recent.reconcile_due(&table("Message"), now, hour));
        assert!(recent.reconcile_due(&table("Conversation"), now, hour));
        assert!(TableState::default().reconcile_due(&table("Message"), now, hour));
        let later = at("2026-05-01T12:30:00Z");
        assert!(recent.reconcile_due(&table("Message"), later, hour));
        let state = State {
            analyzed_at: Some(at("2026-05-01T11:30:00Z")),
            ..State::default()
        };
        assert!(!state.statistics_due(now, hour) && state.statistics_due(later, hour));
        assert!(State::default().statistics_due(now, hour));
    }

    #[test]
    fn the_watermark_moves_forward_and_never_past_now() {
        let now = at("2026-05-01T12:00:00Z");
        let mut s = TableState::default();
        // Never read: from the start, less the overlap.
        assert_eq!(
            s.changes_from(Duration::from_secs(120)),
            at("1969-12-31T23:58:00Z")
        );
        s.advance(Some(at("2026-05-01T11:00:00Z").timestamp_micros()), now);
        assert_eq!(
            s.changes_from(Duration::from_secs(120)),
            at("2026-05-01T10:58:00Z")
        );
        s.advance(Some(at("2026-05-01T10:00:00Z").timestamp_micros()), now);
        s.advance(None, now);
        assert_eq!(
            s.since_us,
            Some(at("2026-05-01T11:00:00Z").timestamp_micros())
        );
        s.advance(Some(at("2026-05-02T00:00:00Z").timestamp_micros()), now);
        assert_eq!(s.since_us, Some(now.timestamp_micros()));
    }

    #[test]
    fn the_layout_names_every_column_and_the_state_round_trips() {
        let all = tables(ApiVersion::V1_1);
        let layout = layout(&all, &crate::sql::rollups(&all));
        assert!(layout.starts_with("2:la_conversation(id,"), "{layout}");
        assert!(
            layout.contains("la_r_message_agent[sender_type=String(\"User\")|created_at|-]"),
            "{layout}"
        );
        assert!(layout.contains("la_message(id,") && !layout.contains("content,"));
        let mut state = State {
            account: Some(7),
            ..State::default()
        };
        state.tables.insert(
            "Message".into(),
            TableState {
                after_id: 42,
                ..TableState::default()
            },
        );
        let text = serde_json::to_string(&state).unwrap_or_default();
        assert_eq!(serde_json::from_str::<State>(&text).ok(), Some(state));
        let rows = vec![
            vec![Cell::Int(1), Cell::Int(5)],
            vec![Cell::Int(2), Cell::Null],
        ];
        assert_eq!(newest(&rows, Some(1)), Some(5));
        assert_eq!(newest(&rows, None), None);
    }
}
