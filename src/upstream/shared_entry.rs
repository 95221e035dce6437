//! How an answer is written to the shared cache: JSON with the wall-clock
//! time it was fetched (instances compute its age, hence its freshness,
//! from it), decoded back into the very rows the upstream body gave.

use super::answer::Answer;
use crate::odata::{CollectionPage, Row};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Externally tagged (`{"page":{...}}`): decoded in one pass, no buffering.
/// `at`: milliseconds since the Unix epoch.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Out<'a> {
    Page {
        at: u64,
        rows: Vec<&'a Row>,
        count: Option<i64>,
    },
    Entity {
        at: u64,
        row: Option<&'a Row>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum In {
    Page {
        at: u64,
        rows: Vec<Row>,
        count: Option<i64>,
    },
    Entity {
        at: u64,
        row: Option<Row>,
    },
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The answer as stored, fetched now.
pub fn encode(answer: &Answer) -> Option<Vec<u8>> {
    let at = now_millis();
    let out = match answer {
        Answer::Page(page) => Out::Page {
            at,
            rows: page.rows.iter().map(|r| &**r).collect(),
            count: page.count,
        },
        Answer::Entity(row) => Out::Entity {
            at,
            row: row.as_deref(),
        },
    };
    serde_json::to_vec(&out).ok()
}

/// The stored answer and its age; `None` for bytes this version did not
/// write (they are then a miss).
pub fn decode(bytes: &[u8]) -> Option<(Answer, Duration)> {
    let (at, answer) = match serde_json::from_slice(bytes).ok()? {
        In::Page { at, rows, count } => {
            let page = CollectionPage {
                rows: rows.into_iter().map(Arc::new).collect(),
                count,
                next_link: None,
            };
            (at, Answer::Page(Arc::new(page)))
        }
        In::Entity { at, row } => (at, Answer::Entity(row.map(Arc::new))),
    };
    // A clock behind the writer's: the answer is brand new, not from the future.
    let age = Duration::from_millis(now_millis().saturating_sub(at));
    Some((answer, age))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> Arc<Row> {
        Arc::new(serde_json::from_str(json).expect("row"))
    }

    #[test]
    fn answers_come_back_as_they_went() {
        let page = CollectionPage {
            rows: vec![
                row(r#"{"z":1,"a":"x","f":0.1,"big":12345678901234,"n":null}"#),
                row(r#"{"nested":{"b":[1,2.5,"3"]}}"#),
            ],
            count: Some(42),
            next_link: None,
        };
        let bytes = encode(&Answer::Page(Arc::new(page))).expect("encoded");
        let (back, age) = decode(&bytes).expect("decoded");
        assert!(age < Duration::from_secs(5));
        match back {
            Answer::Page(p) => {
                assert_eq!(p.count, Some(42));
                let keys: Vec<_> = p.rows[0].keys().cloned().collect();
                assert_eq!(keys, ["z", "a", "f", "big", "n"], "key order kept");
                assert_eq!(p.rows[0]["f"], serde_json::json!(0.1));
                assert_eq!(p.rows[1], row(r#"{"nested":{"b":[1,2.5,"3"]}}"#));
            }
            Answer::Entity(_) => panic!("a page"),
        }
        for entity in [None, Some(row(r#"{"id":"c1"}"#))] {
            let bytes = encode(&Answer::Entity(entity.clone())).expect("encoded");
            match decode(&bytes).expect("decoded").0 {
                Answer::Entity(back) => assert_eq!(back, entity),
                Answer::Page(_) => panic!("an entity"),
            }
        }
        assert!(decode(b"garbage").is_none());
    }
}
