//! One answer fetched from the upstream and decoded: a key lookup, or a
//! collection page followed along its next links. Statuses become errors
//! here, in one place, and nothing the upstream says is trusted to echo a
//! credential.

use super::answer::{Answer, Fetch};
use super::credential::Credential;
use super::refusals::is_refusal;
use super::transport::Transport;
use crate::error::GatewayError;
use crate::odata::{self, CollectionPage};
use crate::telemetry::{self, ClientSpan};
use bytes::Bytes;
use reqwest::StatusCode;
use std::sync::Arc;

const JSON: &str = "application/json";

/// Whose upstream request: the credential and the client request's id.
#[derive(Clone, Copy)]
pub(super) struct Who<'a> {
    pub cred: &'a Credential,
    pub request_id: Option<&'a str>,
}

/// Asks the upstream and decodes; the byte count weighs the cache entry.
pub(super) async fn fetch_answer(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
    fetch: Fetch,
) -> Result<(Answer, usize), GatewayError> {
    match fetch {
        Fetch::Entity => {
            let (got, traced) = traced_get(transport, who, url, collection, false).await;
            let outcome = got.and_then(|(status, body)| {
                if status == StatusCode::NOT_FOUND {
                    return Ok((Answer::Entity(None), body.len()));
                }
                note_refusal(transport, status);
                check_status(status, &body, who.cred)?;
                let row = decode(&body, odata::decode_entity)?;
                Ok((Answer::Entity(Some(Arc::new(row))), body.len()))
            });
            traced.end(&outcome, |(answer, _)| answer.rows());
            outcome
        }
        Fetch::Collection { want } => {
            let (page, bytes) = fetch_pages(transport, who, url, collection, want).await?;
            Ok((Answer::Page(Arc::new(page)), bytes))
        }
    }
}

/// One upstream GET in a client span of its own (when traces are on), so
/// that it carries the span's `traceparent`; [`Traced::end`] ends the span
/// with what the answer held.
async fn traced_get(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
    probe: bool,
) -> (Result<(StatusCode, Bytes), GatewayError>, Traced) {
    let span = telemetry::client_span(collection, || who.cred.redact(url));
    let get = transport.get_judged(who.cred, who.request_id, url, JSON, collection, probe);
    let got = telemetry::within(span.as_ref().map(ClientSpan::context), get).await;
    let status = got.as_ref().ok().map(|(status, _)| status.as_u16());
    (got, Traced { span, status })
}

/// A client span waiting for its answer to be decoded.
struct Traced {
    span: Option<ClientSpan>,
    status: Option<u16>,
}

impl Traced {
    fn end<T>(self, outcome: &Result<T, GatewayError>, rows: impl FnOnce(&T) -> usize) {
        if let Some(span) = self.span {
            match outcome {
                Ok(answer) => span.finish(self.status, Some(rows(answer)), None),
                Err(e) => span.finish(self.status, None, Some(e.code())),
            }
        }
    }
}

/// The upstream's answer to a probe: a page, or `None` when it refused the
/// construct (400, 404, 500, 501, or an answer that is not OData). The
/// probes judge the status itself, not the error it maps to; faults that
/// pass (timeouts, other 5xx, a refused credential) are errors.
pub(super) async fn fetch_probe(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
) -> Result<Option<CollectionPage>, GatewayError> {
    let (got, traced) = traced_get(transport, who, url, collection, true).await;
    let answer = got.and_then(|(status, body)| {
        if is_refusal(status.as_u16()) {
            return Ok(None);
        }
        check_status(status, &body, who.cred)?;
        Ok(odata::decode_collection(&body).ok())
    });
    traced.end(&answer, |page| page.as_ref().map_or(0, |p| p.rows.len()));
    match answer {
        Err(GatewayError::UpstreamInvalidResponse(_)) => Ok(None),
        other => other,
    }
}

/// A collection page, following `@odata.nextLink` until `want` rows are in
/// or the server has no more.
async fn fetch_pages(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
    want: usize,
) -> Result<(CollectionPage, usize), GatewayError> {
    let get_page = |url: String| async move {
        let (got, traced) = traced_get(transport, who, &url, collection, false).await;
        let outcome = got.and_then(|(status, body)| {
            note_refusal(transport, status);
            check_status(status, &body, who.cred)?;
            let page = decode(&body, odata::decode_collection)?;
            Ok((page, body.len()))
        });
        traced.end(&outcome, |(page, _)| page.rows.len());
        outcome
    };
    let (mut page, mut bytes) = get_page(url.to_string()).await?;
    let mut current = url.to_string();
    let mut followed = 0;
    while page.rows.len() < want {
        let Some(link) = page.next_link.take() else {
            break;
        };
        if followed >= transport.max_next_links {
            return Err(GatewayError::UpstreamInvalidResponse(format!(
                "more than {} @odata.nextLink pages (max_next_links)",
                transport.max_next_links
            )));
        }
        followed += 1;
        current = resolve_next_link(&transport.base, &current, &link)?;
        let (next, next_bytes) = get_page(current.clone()).await?;
        bytes += next_bytes;
        page.rows.extend(next.rows);
        page.next_link = next.next_link;
    }
    page.rows.truncate(want);
    page.next_link = None;
    Ok((page, bytes))
}

fn note_refusal(transport: &Transport, status: StatusCode) {
    if is_refusal(status.as_u16()) {
        transport.refusals.note();
    }
}

/// A next link must stay on the upstream's own service root, so that the
/// credential is never sent anywhere else.
fn resolve_next_link(base: &str, current: &str, link: &str) -> Result<String, GatewayError> {
    let invalid =
        |why: &str| GatewayError::UpstreamInvalidResponse(format!("@odata.nextLink {why}"));
    let current = url::Url::parse(current).map_err(|_| invalid("cannot be resolved"))?;
    let next = current.join(link).map_err(|_| invalid("is not a URL"))?;
    if !next.as_str().starts_with(&format!("{base}/")) {
        return Err(invalid("points outside the upstream service root"));
    }
    Ok(next.to_string())
}

pub(super) fn decode<T>(
    body: &[u8],
    f: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, GatewayError> {
    f(body).map_err(GatewayError::UpstreamInvalidResponse)
}

/// An upstream HTTP error status as the error it stands for, with the
/// upstream's own message (never echoing the credential).
pub(super) fn check_status(
    status: StatusCode,
    body: &[u8],
    cred: &Credential,
) -> Result<(), GatewayError> {
    if status.is_success() {
        return Ok(());
    }
    let message = cred.redact(&odata::error_message(body));
    let detail = if message.is_empty() {
        format!("upstream answered {status}")
    } else {
        format!("upstream answered {}: {message}", status.as_u16())
    };
    Err(GatewayError::from_upstream_status(status.as_u16(), detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn statuses_map_to_codes() {
        let cred = Credential::Bearer("tok".into());
        let code = |s: u16| {
            check_status(
                StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
                b"",
                &cred,
            )
            .err()
            .map(|e| e.kind())
        };
        assert_eq!(code(200), None);
        assert_eq!(code(400), Some(ErrorCode::BadUserInput));
        assert_eq!(code(401), Some(ErrorCode::Unauthenticated));
        assert_eq!(code(403), Some(ErrorCode::Forbidden));
        assert_eq!(code(503), Some(ErrorCode::UpstreamUnavailable));
        assert_eq!(code(404), Some(ErrorCode::UpstreamInvalidResponse));
    }

    #[test]
    fn upstream_messages_never_echo_the_token() {
        let cred = Credential::ApiKey("tok".into());
        let err = check_status(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"token tok is unknown"}}"#,
            &cred,
        )
        .expect_err("401");
        assert!(!err.to_string().contains("tok "), "{err}");
    }

    #[test]
    fn next_links_stay_on_the_service_root() {
        let base = "http://127.0.0.1:1/v1.1/odata";
        let current = "http://127.0.0.1:1/v1.1/odata/Message?$top=5&$skip=0";
        assert_eq!(
            resolve_next_link(base, current, "Message?$skiptoken=5")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:1/v1.1/odata/Message?$skiptoken=5")
        );
        assert!(
            resolve_next_link(base, current, "http://evil.example/v1.1/odata/Message").is_err()
        );
    }
}
