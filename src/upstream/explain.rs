//! What a request may ask to see of its own execution (`X-Explain: 1`):
//! each upstream answer its caller got — the URL, how the cache served it,
//! how long the caller waited, how many rows — and each predicate the
//! gateway evaluated itself. It rides on the `Caller`, never in a cache or
//! sharing key, so asking for it changes nothing that is sent or kept.

use super::{Answer, Caller};
use crate::error::GatewayError;
use serde_json::{json, Value};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The explain record of one client request, filled as answers complete.
#[derive(Debug, Default)]
pub struct Explain {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    requests: Vec<Request>,
    residuals: Vec<Residual>,
}

/// How the cache layer produced an answer for this caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// A fresh cached answer; nothing went upstream.
    Hit,
    /// This caller's request went upstream.
    Miss,
    /// Joined an identical request already in flight for someone else.
    Shared,
    /// An expired cached answer, served because the upstream failed.
    Stale,
}

impl Served {
    fn as_str(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::Miss => "miss",
            Served::Shared => "shared",
            Served::Stale => "stale",
        }
    }
}

#[derive(Debug)]
struct Request {
    url: String,
    collection: &'static str,
    /// The rows returned, or the error code of a failure.
    outcome: Result<(Served, usize), &'static str>,
    ms: f64,
}

#[derive(Debug)]
struct Residual {
    collection: String,
    predicate: String,
    rows_read: u64,
    rows_matched: u64,
}

impl Explain {
    /// A predicate the gateway evaluated on rows it read (one the upstream
    /// could not be asked to apply).
    pub fn residual(&self, collection: &str, predicate: String, rows_read: u64, rows_matched: u64) {
        self.lock().residuals.push(Residual {
            collection: collection.to_string(),
            predicate,
            rows_read,
            rows_matched,
        });
    }

    /// `{ "requests": [...], "residuals": [...] }`, each in completion order.
    pub fn to_json(&self) -> Value {
        let entries = self.lock();
        let requests: Vec<Value> = entries.requests.iter().map(Request::to_json).collect();
        let residuals: Vec<Value> = entries.residuals.iter().map(Residual::to_json).collect();
        json!({ "requests": requests, "residuals": residuals })
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves whole entries
        // behind: the list is still worth showing.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Request {
    fn to_json(&self) -> Value {
        let mut entry = json!({
            "url": self.url,
            "collection": self.collection,
            "ms": self.ms,
        });
        match self.outcome {
            Ok((served, rows)) => {
                entry["cache"] = served.as_str().into();
                entry["rows"] = rows.into();
            }
            Err(code) => {
                entry["cache"] = "error".into();
                entry["error"] = code.into();
            }
        }
        entry
    }
}

impl Residual {
    fn to_json(&self) -> Value {
        json!({
            "collection": self.collection,
            "predicate": self.predicate,
            "rowsRead": self.rows_read,
            "rowsMatched": self.rows_matched,
        })
    }
}

/// One answer being produced for a caller that asked for explain; inert
/// (and free) for every other caller.
pub(super) struct Trace<'a> {
    pending: Option<Pending<'a>>,
}

struct Pending<'a> {
    explain: &'a Explain,
    url: String,
    collection: &'static str,
    started: Instant,
}

impl<'a> Trace<'a> {
    /// Starts timing the answer at `url` (a full URL under `base`).
    pub(super) fn start(
        caller: &'a Caller,
        base: &str,
        url: &str,
        collection: &'static str,
    ) -> Trace<'a> {
        let pending = caller.explain.as_deref().map(|explain| Pending {
            explain,
            url: relative_url(caller, base, url),
            collection,
            started: Instant::now(),
        });
        Trace { pending }
    }

    /// Records how the answer came and hands the result on unchanged.
    pub(super) fn finish(
        self,
        served: Served,
        result: Result<Answer, GatewayError>,
    ) -> Result<Answer, GatewayError> {
        if let Some(pending) = self.pending {
            let outcome = match &result {
                Ok(answer) => Ok((served, rows(answer))),
                Err(error) => Err(error.code()),
            };
            let ms = pending.started.elapsed().as_secs_f64() * 1000.0;
            pending.explain.lock().requests.push(Request {
                url: pending.url,
                collection: pending.collection,
                outcome,
                // Microseconds are plenty for a plan.
                ms: (ms * 1000.0).round() / 1000.0,
            });
        }
        result
    }
}

/// The URL relative to the service root. An `apikey` is only added when
/// the request is sent, so none is here; the redaction is a second guard.
fn relative_url(caller: &Caller, base: &str, url: &str) -> String {
    let relative = url
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(url);
    caller.credential.redact(relative)
}

fn rows(answer: &Answer) -> usize {
    match answer {
        Answer::Page(page) => page.rows.len(),
        Answer::Entity(row) => usize::from(row.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{CollectionPage, Row};
    use crate::upstream::Credential;
    use std::sync::Arc;

    const BASE: &str = "http://127.0.0.1:1/v1.1/odata";

    fn explaining(secret: &str) -> (Caller, Arc<Explain>) {
        let explain = Arc::new(Explain::default());
        let caller = Caller {
            explain: Some(explain.clone()),
            ..Caller::new(Credential::ApiKey(secret.into()))
        };
        (caller, explain)
    }

    fn page(rows: usize) -> Answer {
        Answer::Page(Arc::new(CollectionPage {
            rows: (0..rows).map(|_| Arc::new(Row::default())).collect(),
            count: None,
            next_link: None,
        }))
    }

    #[test]
    fn requests_are_listed_in_completion_order_with_their_outcome() {
        let (caller, explain) = explaining("tok");
        let first = Trace::start(&caller, BASE, &format!("{BASE}/Label?$top=3"), "Label");
        let second = Trace::start(&caller, BASE, &format!("{BASE}/Inbox(7)"), "Inbox");
        let third = Trace::start(&caller, BASE, &format!("{BASE}/Inbox(8)"), "Inbox");
        let fourth = Trace::start(&caller, BASE, &format!("{BASE}/Message?$top=1"), "Message");
        assert!(second.finish(Served::Hit, Ok(Answer::Entity(None))).is_ok());
        assert!(first.finish(Served::Shared, Ok(page(3))).is_ok());
        let row = Answer::Entity(Some(Arc::new(Row::default())));
        assert!(third.finish(Served::Stale, Ok(row)).is_ok());
        let failed = fourth.finish(
            Served::Miss,
            Err(GatewayError::UpstreamUnavailable("down".into())),
        );
        assert!(failed.is_err());

        let out = explain.to_json();
        let requests = out["requests"].as_array().expect("requests");
        let summary: Vec<(&str, &str, &str, Option<u64>)> = requests
            .iter()
            .map(|r| {
                (
                    r["url"].as_str().unwrap_or(""),
                    r["collection"].as_str().unwrap_or(""),
                    r["cache"].as_str().unwrap_or(""),
                    r["rows"].as_u64(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Inbox(7)", "Inbox", "hit", Some(0)),
                ("Label?$top=3", "Label", "shared", Some(3)),
                ("Inbox(8)", "Inbox", "stale", Some(1)),
                ("Message?$top=1", "Message", "error", None),
            ]
        );
        assert_eq!(requests[3]["error"], "UPSTREAM_UNAVAILABLE");
        assert!(requests
            .iter()
            .all(|r| r["ms"].as_f64().is_some_and(|ms| ms >= 0.0)));
        assert_eq!(out["residuals"], json!([]));
    }

    #[test]
    fn residuals_are_rendered_as_given() {
        let explain = Explain::default();
        explain.residual("Conversation", "subject contains 'a'".into(), 50, 7);
        explain.residual("Message", "body eq null".into(), 3, 0);
        assert_eq!(
            explain.to_json(),
            json!({
                "requests": [],
                "residuals": [
                    {"collection": "Conversation", "predicate": "subject contains 'a'", "rowsRead": 50, "rowsMatched": 7},
                    {"collection": "Message", "predicate": "body eq null", "rowsRead": 3, "rowsMatched": 0},
                ],
            })
        );
    }

    #[test]
    fn callers_that_did_not_ask_record_nothing() {
        let caller = Caller::new(Credential::Bearer("tok".into()));
        let trace = Trace::start(&caller, BASE, &format!("{BASE}/Label?$top=1"), "Label");
        assert!(trace.pending.is_none());
        assert!(trace.finish(Served::Miss, Ok(page(1))).is_ok());
    }

    #[test]
    fn urls_are_relative_and_never_hold_the_secret() {
        let (caller, explain) = explaining("s3cr+t");
        let url = format!("{BASE}/Label?$filter=title%20eq%20'{}'", "s3cr%2Bt");
        let trace = Trace::start(&caller, BASE, &url, "Label");
        assert!(trace.finish(Served::Miss, Ok(page(0))).is_ok());
        let out = explain.to_json().to_string();
        assert!(!out.contains("s3cr"), "{out}");
        assert!(
            out.contains("\"url\":\"Label?$filter=title%20eq%20'[redacted]'\""),
            "{out}"
        );
    }
}
