//! The upstream OData service: the front door the schema calls. The pieces
//! live beside it: `transport` (timeouts, retries, concurrency bound,
//! circuit breaker), `retry`, `circuit`.

mod circuit;
mod credential;
mod retry;
mod transport;

pub use credential::Credential;

/// What one client request brings to its upstream calls.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    /// The client sent `Cache-Control: no-cache`: skip cached answers.
    pub no_cache: bool,
    /// Set when an answer was served from an expired entry (stale-if-error).
    pub served_stale: Arc<AtomicBool>,
}

impl Caller {
    pub fn new(credential: Credential) -> Self {
        Caller {
            credential,
            no_cache: false,
            served_stale: Arc::default(),
        }
    }
}

use crate::config::{Config, ConfigError, InOperator};
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::odata::{self, CollectionPage, CollectionQuery, EntityQuery, InStyle, Metadata, Row};
use reqwest::StatusCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::sync::OnceCell;
use transport::Transport;

const JSON: &str = "application/json";

/// A decoded upstream answer.
#[derive(Debug, Clone)]
enum Answer {
    Page(Arc<CollectionPage>),
    Entity(Option<Arc<Row>>),
}

/// What to make of the body at a URL.
#[derive(Debug, Clone, Copy)]
enum Fetch {
    /// A collection, following next links until `want` rows are in.
    Collection { want: usize },
    /// A key lookup; 404 is an answer (`None`).
    Entity,
}

pub struct Upstream {
    transport: Arc<Transport>,
    max_url_length: usize,
    in_operator: InOperator,
    metadata: OnceCell<Arc<Metadata>>,
}

impl Upstream {
    pub fn new(config: &Config) -> Result<Upstream, ConfigError> {
        Upstream::with_metrics(config, Arc::new(Metrics::new()))
    }

    pub fn with_metrics(config: &Config, metrics: Arc<Metrics>) -> Result<Upstream, ConfigError> {
        Ok(Upstream {
            transport: Arc::new(Transport::new(config, metrics)?),
            max_url_length: config.max_url_length,
            in_operator: config.in_operator()?,
            metadata: OnceCell::new(),
        })
    }

    pub fn base(&self) -> &str {
        &self.transport.base
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.transport.metrics
    }

    /// Brings the gauges (circuit state) up to date for a scrape.
    pub async fn publish_metrics(&self) {
        self.transport.circuit_state();
    }

    /// The upstream's `$metadata`, read once with the first credential that
    /// works. `None` while it cannot be read: callers then use the documented model
    /// as it is.
    pub async fn metadata(&self, caller: &Caller) -> Option<Arc<Metadata>> {
        let cred = &caller.credential;
        let loaded = self
            .metadata
            .get_or_try_init(|| async {
                let url = format!("{}/$metadata", self.transport.base);
                let (status, body) = self
                    .transport
                    .get(cred, &url, "application/xml", "$metadata")
                    .await?;
                check_status(status, &body, cred)?;
                let text = String::from_utf8_lossy(&body);
                Metadata::parse(&text)
                    .map(Arc::new)
                    .map_err(GatewayError::UpstreamInvalidResponse)
            })
            .await;
        match loaded {
            Ok(md) => Some(md.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "upstream $metadata unavailable; using the documented model");
                None
            }
        }
    }

    /// Any HTTP answer from the service root counts: readiness needs no
    /// token. Refused while the circuit is open.
    pub async fn probe(&self) -> Result<u16, GatewayError> {
        self.transport.probe().await
    }

    pub fn in_style(&self, metadata: Option<&Metadata>) -> InStyle {
        match self.in_operator {
            InOperator::Fixed(style) => style,
            InOperator::Auto if metadata.is_some_and(Metadata::supports_in) => InStyle::In,
            InOperator::Auto => InStyle::OrChain,
        }
    }

    /// Builds the full URL of a request relative to the service root,
    /// refusing one longer than the configured limit before anything is sent.
    pub fn url_for(&self, relative: &str) -> Result<String, GatewayError> {
        let url = format!("{}/{}", self.transport.base, relative);
        if url.len() > self.max_url_length {
            return Err(GatewayError::bad_input(format!(
                "the upstream request would be {} bytes long, above the limit of {} bytes (max_url_length); narrow the filter",
                url.len(),
                self.max_url_length
            )));
        }
        Ok(url)
    }

    /// Fetches a collection page, following `@odata.nextLink` until `top`
    /// rows are in or the server has no more.
    pub async fn fetch_collection(
        &self,
        caller: &Caller,
        query: &CollectionQuery,
        style: InStyle,
    ) -> Result<CollectionPage, GatewayError> {
        let url = self.url_for(&query.to_relative_url(style))?;
        let want = usize::try_from(query.top).unwrap_or(usize::MAX);
        let fetch = Fetch::Collection { want };
        match self.answer(caller, query.entity_set, url, fetch).await? {
            Answer::Page(page) => Ok(CollectionPage {
                rows: page.rows.clone(),
                count: page.count,
                next_link: None,
            }),
            Answer::Entity(_) => Err(mixed_up()),
        }
    }

    /// Fetches one entity by key; `None` when the upstream answers 404.
    pub async fn fetch_entity(
        &self,
        caller: &Caller,
        query: &EntityQuery,
    ) -> Result<Option<Row>, GatewayError> {
        let url = self.url_for(&query.to_relative_url())?;
        match self
            .answer(caller, query.entity_set, url, Fetch::Entity)
            .await?
        {
            Answer::Entity(row) => Ok(row.map(|r| (*r).clone())),
            Answer::Page(_) => Err(mixed_up()),
        }
    }

    async fn answer(
        &self,
        caller: &Caller,
        collection: &'static str,
        url: String,
        fetch: Fetch,
    ) -> Result<Answer, GatewayError> {
        let (answer, _bytes) =
            fetch_answer(&self.transport, &caller.credential, &url, collection, fetch).await?;
        Ok(answer)
    }
}

fn mixed_up() -> GatewayError {
    GatewayError::UpstreamInvalidResponse("a collection and a lookup share a URL".into())
}

/// Asks the upstream and decodes; also counts the body bytes.
async fn fetch_answer(
    transport: &Transport,
    cred: &Credential,
    url: &str,
    collection: &'static str,
    fetch: Fetch,
) -> Result<(Answer, usize), GatewayError> {
    match fetch {
        Fetch::Entity => {
            let (status, body) = transport.get(cred, url, JSON, collection).await?;
            if status == StatusCode::NOT_FOUND {
                return Ok((Answer::Entity(None), body.len()));
            }
            check_status(status, &body, cred)?;
            let row = decode(&body, odata::decode_entity)?;
            Ok((Answer::Entity(Some(Arc::new(row))), body.len()))
        }
        Fetch::Collection { want } => {
            let (page, bytes) = fetch_pages(transport, cred, url, collection, want).await?;
            Ok((Answer::Page(Arc::new(page)), bytes))
        }
    }
}

/// A collection page, following `@odata.nextLink` until `want` rows are in
/// or the server has no more.
async fn fetch_pages(
    transport: &Transport,
    cred: &Credential,
    url: &str,
    collection: &'static str,
    want: usize,
) -> Result<(CollectionPage, usize), GatewayError> {
    let get_ok = |url: String| async move {
        let (status, body) = transport.get(cred, &url, JSON, collection).await?;
        check_status(status, &body, cred)?;
        Ok::<_, GatewayError>(body)
    };
    let body = get_ok(url.to_string()).await?;
    let mut bytes = body.len();
    let mut page = decode(&body, odata::decode_collection)?;
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
        let body = get_ok(current.clone()).await?;
        bytes += body.len();
        let next = decode(&body, odata::decode_collection)?;
        page.rows.extend(next.rows);
        page.next_link = next.next_link;
    }
    page.rows.truncate(want);
    page.next_link = None;
    Ok((page, bytes))
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

fn decode<T>(body: &[u8], f: impl Fn(&[u8]) -> Result<T, String>) -> Result<T, GatewayError> {
    f(body).map_err(GatewayError::UpstreamInvalidResponse)
}

/// Maps an upstream HTTP status to our error codes (DESIGN.md, "Errors").
fn check_status(status: StatusCode, body: &[u8], cred: &Credential) -> Result<(), GatewayError> {
    if status.is_success() {
        return Ok(());
    }
    let message = cred.redact(&odata::error_message(body));
    let detail = if message.is_empty() {
        format!("upstream answered {status}")
    } else {
        format!("upstream answered {}: {message}", status.as_u16())
    };
    Err(match status.as_u16() {
        401 => GatewayError::Unauthenticated(detail),
        403 => GatewayError::Forbidden(detail),
        400 | 405 | 406 | 413 | 414 | 422 => GatewayError::BadUserInput(detail),
        429 | 500..=599 => GatewayError::UpstreamUnavailable(detail),
        _ => GatewayError::UpstreamInvalidResponse(detail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .map(|e| e.code())
        };
        assert_eq!(code(200), None);
        assert_eq!(code(400), Some("BAD_USER_INPUT"));
        assert_eq!(code(401), Some("UNAUTHENTICATED"));
        assert_eq!(code(403), Some("FORBIDDEN"));
        assert_eq!(code(503), Some("UPSTREAM_UNAVAILABLE"));
        assert_eq!(code(404), Some("UPSTREAM_INVALID_RESPONSE"));
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
