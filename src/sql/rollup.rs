//! Rollups: a table's rows counted and summed per group of a few columns
//! (the dims) and per slice of time, kept beside the rows so that a year
//! of a large account is answered from thousands of cells instead of
//! millions of rows. Time is sliced in UTC at three levels — quarter hours,
//! hours, days — so that any zone's buckets are made of whole cells: every
//! zone's offset, and every change of it, falls on a quarter hour. A
//! rollup's cell holds the row count, the non-null count of one column
//! counted distinct beyond the dims, and per measure its non-null count,
//! sum, minimum and maximum: every metric but the median merges exactly.

use super::table::Table;
use crate::model::Field;
use crate::odata::Literal;

/// Time slices, in microseconds.
pub const QUARTER_US: i64 = 15 * 60 * 1_000_000;
pub const HOUR_US: i64 = 4 * QUARTER_US;
pub const DAY_US: i64 = 24 * HOUR_US;

/// A cell's time level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Quarter = 0,
    Hour = 1,
    Day = 2,
    /// The whole table, rows without a time included (rollups without a
    /// time column).
    All = 3,
}

impl Level {
    pub const SLICED: [Level; 3] = [Level::Quarter, Level::Hour, Level::Day];

    pub fn code(self) -> i64 {
        self as i64
    }

    /// The length of a cell (`All`: none).
    pub fn length_us(self) -> Option<i64> {
        match self {
            Level::Quarter => Some(QUARTER_US),
            Level::Hour => Some(HOUR_US),
            Level::Day => Some(DAY_US),
            Level::All => None,
        }
    }
}

/// One rollup of a replicated table.
#[derive(Debug, Clone)]
pub struct Rollup {
    /// `la_r_<name>`: fixed words, never user input.
    pub table: String,
    /// The table the rows come from (`la_<collection>`).
    pub base: String,
    pub entity: &'static str,
    /// Conjuncts every counted row satisfies; a spec must ask each of them.
    pub only: Vec<(&'static Field, Literal)>,
    /// The grouped columns, `account_id` always among them.
    pub dims: Vec<&'static Field>,
    /// The sliced time column; `None`: one cell per group over every row.
    pub time: Option<&'static Field>,
    pub measures: Vec<&'static Field>,
    /// A column counted distinct beyond the dims: its rows whose value has
    /// more than one row in the same group are kept aside (`repeats`), so
    /// a bucket's distinct count is its non-null count less the repeats in
    /// it.
    pub distinct: Option<&'static Field>,
}

/// What a rollup is made of, as names (checked against the model).
struct Definition {
    name: &'static str,
    entity: &'static str,
    only: &'static [(&'static str, &'static str)],
    dims: &'static [&'static str],
    time: Option<&'static str>,
    measures: &'static [&'static str],
    distinct: Option<&'static str>,
}

/// The dashboards' aggregates: conversations per inbox over time and by
/// state; events per agent and name over time (first replies, their
/// seconds, the conversations assigned and resolved); messages per type
/// over time, and the agents' sent messages.
const DEFINITIONS: [Definition; 5] = [
    Definition {
        name: "conversation_inbox",
        entity: "Conversation",
        only: &[],
        dims: &["inbox_id"],
        time: Some("created_at"),
        measures: &[],
        distinct: None,
    },
    Definition {
        name: "conversation_state",
        entity: "Conversation",
        only: &[],
        dims: &["status", "assignee_id", "inbox_id"],
        time: None,
        measures: &[],
        distinct: None,
    },
    Definition {
        name: "event_agent",
        entity: "ReportingEvent",
        only: &[],
        dims: &["name", "user_id"],
        time: Some("created_at"),
        measures: &["value"],
        distinct: Some("conversation_id"),
    },
    Definition {
        name: "message_type",
        entity: "Message",
        only: &[],
        dims: &["message_type"],
        time: Some("created_at"),
        measures: &[],
        distinct: None,
    },
    Definition {
        name: "message_agent",
        entity: "Message",
        only: &[("sender_type", "User")],
        dims: &["message_type", "private", "sender_id"],
        time: Some("created_at"),
        measures: &[],
        distinct: None,
    },
];

/// The rollups of `tables` (one endpoint version's); a definition whose
/// columns the version lacks is left out.
pub fn rollups(tables: &[Table]) -> Vec<Rollup> {
    DEFINITIONS
        .iter()
        .filter_map(|d| {
            let base = tables.iter().find(|t| t.entity.name == d.entity)?;
            let column = |name: &str| base.column(name);
            let mut dims: Vec<&'static Field> =
                d.dims.iter().map(|c| column(c)).collect::<Option<_>>()?;
            if let Some(account) = column("account_id") {
                dims.push(account);
            }
            let only = d
                .only
                .iter()
                .map(|(c, v)| Some((column(c)?, Literal::String((*v).to_string()))))
                .collect::<Option<Vec<_>>>()?;
            Some(Rollup {
                table: format!("la_r_{}", d.name),
                base: base.name.clone(),
                entity: d.entity,
                only,
                dims,
                time: match d.time {
                    Some(t) => Some(column(t)?),
                    None => None,
                },
                measures: d
                    .measures
                    .iter()
                    .map(|c| column(c))
                    .collect::<Option<_>>()?,
                distinct: match d.distinct {
                    Some(c) => Some(column(c)?),
                    None => None,
                },
            })
        })
        .collect()
}

impl Rollup {
    /// `la_x_<name>`: the rows of values counted distinct that repeat in
    /// their group.
    pub fn repeats_table(&self) -> Option<String> {
        self.distinct
            .map(|_| self.table.replacen("la_r_", "la_x_", 1))
    }

    pub fn has_dim(&self, odata: &str) -> bool {
        self.dims.iter().any(|f| f.odata == odata)
    }

    /// The columns of a cell after `level` and `slot`, with their kinds:
    /// the dims, `n`, `n_d` (non-null distinct column), then per measure
    /// `n_`, `s_`, `lo_`, `hi_`.
    pub fn cell_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self.dims.iter().map(|f| f.odata.to_string()).collect();
        out.push("n".into());
        out.push("n_d".into());
        for m in &self.measures {
            for prefix in ["n_", "s_", "lo_", "hi_"] {
                out.push(format!("{prefix}{}", m.odata));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiVersion;
    use crate::sql::tables;

    #[test]
    fn every_definition_is_made_from_the_model() {
        let all = tables(ApiVersion::V1_1);
        let rollups = rollups(&all);
        assert_eq!(rollups.len(), DEFINITIONS.len());
        let events = rollups
            .iter()
            .find(|r| r.table == "la_r_event_agent")
            .expect("event_agent");
        assert!(events.has_dim("account_id") && events.has_dim("user_id"));
        assert_eq!(events.repeats_table().as_deref(), Some("la_x_event_agent"));
        assert_eq!(
            events.cell_columns().last().map(String::as_str),
            Some("hi_value")
        );
        let sent = rollups
            .iter()
            .find(|r| r.table == "la_r_message_agent")
            .expect("message_agent");
        assert_eq!(sent.only.len(), 1);
        assert_eq!(QUARTER_US * 96, DAY_US);
    }
}
