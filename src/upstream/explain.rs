//! One upstream answer as the request's explain record shows it: started
//! when the answer is asked for, finished with how the front door served
//! it. Inert, and free, for a request that did not ask to see its plan.

use crate::error::GatewayError;
use crate::report::{Explain, Report, Served};
use std::time::Instant;

use super::answer::Answer;
use super::credential::Credential;

/// An explain entry in the making.
pub(super) struct ExplainEntry<'a> {
    pending: Option<Pending<'a>>,
}

struct Pending<'a> {
    explain: &'a Explain,
    url: String,
    collection: &'static str,
    started: Instant,
}

impl<'a> ExplainEntry<'a> {
    /// Starts timing the answer at `url` (a full URL under `base`).
    pub(super) fn start(
        report: &'a Report,
        credential: &Credential,
        base: &str,
        url: &str,
        collection: &'static str,
    ) -> ExplainEntry<'a> {
        let pending = report.explain().map(|explain| Pending {
            explain,
            url: relative_url(credential, base, url),
            collection,
            started: Instant::now(),
        });
        ExplainEntry { pending }
    }

    /// Records how the answer came and hands the result on unchanged.
    pub(super) fn finish(
        self,
        served: Served,
        result: Result<Answer, GatewayError>,
    ) -> Result<Answer, GatewayError> {
        if let Some(pending) = self.pending {
            let outcome = match &result {
                Ok(answer) => Ok((served, answer.rows())),
                Err(error) => Err(error.code()),
            };
            let ms = pending.started.elapsed().as_secs_f64() * 1000.0;
            pending
                .explain
                .request(pending.url, pending.collection, outcome, ms);
        }
        result
    }
}

/// The URL relative to the service root. An `apikey` is only added when
/// the request is sent, so none is here; the redaction is a second guard.
fn relative_url(credential: &Credential, base: &str, url: &str) -> String {
    let relative = url
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(url);
    credential.redact(relative)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{CollectionPage, Row};
    use std::sync::Arc;

    const BASE: &str = "http://127.0.0.1:1/v1.1/odata";

    fn page(rows: usize) -> Answer {
        Answer::Page(Arc::new(CollectionPage {
            rows: (0..rows).map(|_| Arc::new(Row::default())).collect(),
            count: None,
            next_link: None,
        }))
    }

    #[test]
    fn entries_are_listed_in_completion_order_with_their_outcome() {
        let report = Report::new(true);
        let cred = Credential::ApiKey("tok".into());
        let start = |url: &str, c| ExplainEntry::start(&report, &cred, BASE, url, c);
        let first = start(&format!("{BASE}/Label?$top=3"), "Label");
        let second = start(&format!("{BASE}/Inbox(7)"), "Inbox");
        let third = start(&format!("{BASE}/Message?$top=1"), "Message");
        assert!(second.finish(Served::Hit, Ok(Answer::Entity(None))).is_ok());
        assert!(first.finish(Served::Shared, Ok(page(3))).is_ok());
        let failed = third.finish(
            Served::Miss,
            Err(GatewayError::UpstreamUnavailable("down".into())),
        );
        assert!(failed.is_err());
        let out = report.explain().map(Explain::to_json).unwrap_or_default();
        let summary: Vec<(&str, &str, Option<u64>)> = out["requests"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| {
                        (
                            r["url"].as_str().unwrap_or(""),
                            r["cache"].as_str().unwrap_or(""),
                            r["rows"].as_u64(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            summary,
            [
                ("Inbox(7)", "hit", Some(0)),
                ("Label?$top=3", "shared", Some(3)),
                ("Message?$top=1", "error", None),
            ]
        );
        assert_eq!(out["requests"][2]["error"], "UPSTREAM_UNAVAILABLE");
    }

    #[test]
    fn requests_that_did_not_ask_record_nothing() {
        let report = Report::default();
        let cred = Credential::Bearer("tok".into());
        let entry = ExplainEntry::start(&report, &cred, BASE, &format!("{BASE}/Label"), "Label");
        assert!(entry.pending.is_none());
        assert!(entry.finish(Served::Miss, Ok(page(1))).is_ok());
    }

    #[test]
    fn urls_are_relative_and_never_hold_the_secret() {
        let report = Report::new(true);
        let cred = Credential::ApiKey("s3cr+t".into());
        let url = format!("{BASE}/Label?$filter=title%20eq%20'{}'", "s3cr%2Bt");
        let entry = ExplainEntry::start(&report, &cred, BASE, &url, "Label");
        assert!(entry.finish(Served::Miss, Ok(page(0))).is_ok());
        let out = report
            .explain()
            .map(|e| e.to_json().to_string())
            .unwrap_or_default();
        assert!(!out.contains("s3cr"), "{out}");
        assert!(
            out.contains("\"url\":\"Label?$filter=title%20eq%20'[redacted]'\""),
            "{out}"
        );
    }
}
