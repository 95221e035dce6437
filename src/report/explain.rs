//! What a request may ask to see of its own execution (`X-Explain: 1`):
//! each upstream answer it got — the URL, how a cache tier served it, how
//! long it waited, how many rows — each predicate the gateway evaluated
//! itself, and the upstream page cap in force. Asking for it changes
//! nothing that is sent or kept.

use serde_json::{json, Value};
use std::sync::{Mutex, MutexGuard};

/// The explain record of one client request, filled as answers complete.
#[derive(Debug, Default)]
pub struct Explain {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    requests: Vec<Request>,
    residuals: Vec<Residual>,
    /// The largest `$top` of one upstream request, as last in force.
    page_cap: Option<u64>,
}

/// How the upstream front door produced an answer for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A fresh cached answer; nothing went upstream.
    Hit,
    /// This request went upstream.
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
    /// One upstream answer: `url` relative to the service root, without
    /// credentials; `outcome` the rows returned or the error code.
    pub fn request(
        &self,
        url: String,
        collection: &'static str,
        outcome: Result<(Served, usize), &'static str>,
        ms: f64,
    ) {
        self.lock().requests.push(Request {
            url,
            collection,
            outcome,
            // Microseconds are plenty for a plan.
            ms: (ms * 1000.0).round() / 1000.0,
        });
    }

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

    /// The upstream page cap in force when the request read upstream.
    pub fn page_cap(&self, cap: u64) {
        self.lock().page_cap = Some(cap);
    }

    /// `{ "requests": [...], "residuals": [...], "pageCap": n }`, each list
    /// in completion order; `pageCap` once the request read upstream.
    pub fn to_json(&self) -> Value {
        let entries = self.lock();
        let requests: Vec<Value> = entries.requests.iter().map(Request::to_json).collect();
        let residuals: Vec<Value> = entries.residuals.iter().map(Residual::to_json).collect();
        let mut out = json!({ "requests": requests, "residuals": residuals });
        if let Some(cap) = entries.page_cap {
            out["pageCap"] = cap.into();
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_rendered_with_their_outcome() {
        let explain = Explain::default();
        explain.request("Inbox(7)".into(), "Inbox", Ok((Served::Hit, 0)), 0.0123456);
        explain.request("Label?$top=3".into(), "Label", Ok((Served::Shared, 3)), 1.0);
        explain.request(
            "Message?$top=1".into(),
            "Message",
            Err("UPSTREAM_UNAVAILABLE"),
            2.0,
        );
        let out = explain.to_json();
        assert_eq!(
            out["requests"],
            json!([
                {"url": "Inbox(7)", "collection": "Inbox", "ms": 0.012, "cache": "hit", "rows": 0},
                {"url": "Label?$top=3", "collection": "Label", "ms": 1.0, "cache": "shared", "rows": 3},
                {"url": "Message?$top=1", "collection": "Message", "ms": 2.0, "cache": "error", "error": "UPSTREAM_UNAVAILABLE"},
            ])
        );
        assert_eq!(out["residuals"], json!([]));
        assert!(out.get("pageCap").is_none());
        explain.page_cap(1000);
        assert_eq!(explain.to_json()["pageCap"], json!(1000));
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
}
