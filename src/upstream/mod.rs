//! The upstream OData service over HTTP: credentials, timeouts, error
//! mapping, `@odata.nextLink` paging and the `$metadata` it declares.

mod credential;

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
use crate::odata::{self, CollectionPage, CollectionQuery, EntityQuery, InStyle, Metadata, Row};
use reqwest::StatusCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

const JSON: &str = "application/json";

pub struct Upstream {
    http: reqwest::Client,
    /// Service root without a trailing slash.
    base: String,
    timeout_ms: u64,
    max_url_length: usize,
    in_operator: InOperator,
    max_next_links: usize,
    metadata: OnceCell<Arc<Metadata>>,
}

impl Upstream {
    pub fn new(config: &Config) -> Result<Upstream, ConfigError> {
        let base = config.upstream_url()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.upstream_timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Key {
                key: "upstream",
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Upstream {
            http,
            base,
            timeout_ms: config.upstream_timeout_ms,
            max_url_length: config.max_url_length,
            in_operator: config.in_operator()?,
            max_next_links: config.max_next_links,
            metadata: OnceCell::new(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The upstream's `$metadata`, read once with the first credential that
    /// works. `None` while it cannot be read: callers then use the documented
    /// model as it is.
    pub async fn metadata(&self, caller: &Caller) -> Option<Arc<Metadata>> {
        let cred = &caller.credential;
        let loaded = self
            .metadata
            .get_or_try_init(|| async {
                let url = format!("{}/$metadata", self.base);
                let body = self.get_ok(cred, url, "application/xml").await?;
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

    /// Any HTTP answer from the service root counts: readiness needs no token.
    pub async fn probe(&self) -> Result<u16, GatewayError> {
        let response = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        Ok(response.status().as_u16())
    }

    pub fn in_style(&self, metadata: Option<&Metadata>) -> InStyle {
        match self.in_operator {
            InOperator::Fixed(style) => style,
            InOperator::Auto if metadata.is_some_and(Metadata::supports_in) => InStyle::In,
            InOperator::Auto => InStyle::OrChain,
        }
    }

    /// Whether a request relative to the service root stays within the URL
    /// length limit.
    pub fn fits(&self, relative: &str) -> bool {
        self.base.len() + 1 + relative.len() <= self.max_url_length
    }

    /// Builds the full URL of a request relative to the service root,
    /// refusing one longer than the configured limit before anything is sent.
    pub fn url_for(&self, relative: &str) -> Result<String, GatewayError> {
        let url = format!("{}/{}", self.base, relative);
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
        let cred = &caller.credential;
        let url = self.url_for(&query.to_relative_url(style))?;
        let body = self.get_ok(cred, url.clone(), JSON).await?;
        let mut page = decode(&body, odata::decode_collection)?;
        let want = usize::try_from(query.top).unwrap_or(usize::MAX);
        let mut current = url;
        let mut followed = 0;
        while page.rows.len() < want {
            let Some(link) = page.next_link.take() else {
                break;
            };
            if followed >= self.max_next_links {
                return Err(GatewayError::UpstreamInvalidResponse(format!(
                    "more than {} @odata.nextLink pages (max_next_links)",
                    self.max_next_links
                )));
            }
            followed += 1;
            current = self.resolve_next_link(&current, &link)?;
            let body = self.get_ok(cred, current.clone(), JSON).await?;
            let next = decode(&body, odata::decode_collection)?;
            page.rows.extend(next.rows);
            page.next_link = next.next_link;
        }
        page.rows.truncate(want);
        page.next_link = None;
        Ok(page)
    }

    /// Fetches one entity by key; `None` when the upstream answers 404.
    pub async fn fetch_entity(
        &self,
        caller: &Caller,
        query: &EntityQuery,
        style: InStyle,
    ) -> Result<Option<Row>, GatewayError> {
        let cred = &caller.credential;
        let url = self.url_for(&query.to_relative_url(style))?;
        let (status, body) = self.get(cred, url, JSON).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check_status(status, &body, cred)?;
        decode(&body, odata::decode_entity).map(Some)
    }

    /// A next link must stay on the upstream's own service root, so that the
    /// credential is never sent anywhere else.
    fn resolve_next_link(&self, current: &str, link: &str) -> Result<String, GatewayError> {
        let invalid =
            |why: &str| GatewayError::UpstreamInvalidResponse(format!("@odata.nextLink {why}"));
        let base = url::Url::parse(current).map_err(|_| invalid("cannot be resolved"))?;
        let next = base.join(link).map_err(|_| invalid("is not a URL"))?;
        if !next.as_str().starts_with(&format!("{}/", self.base)) {
            return Err(invalid("points outside the upstream service root"));
        }
        Ok(next.to_string())
    }

    async fn get_ok(
        &self,
        cred: &Credential,
        url: String,
        accept: &'static str,
    ) -> Result<bytes::Bytes, GatewayError> {
        let (status, body) = self.get(cred, url, accept).await?;
        check_status(status, &body, cred)?;
        Ok(body)
    }

    async fn get(
        &self,
        cred: &Credential,
        mut url: String,
        accept: &'static str,
    ) -> Result<(StatusCode, bytes::Bytes), GatewayError> {
        if let Credential::ApiKey(key) = cred {
            if !url.contains("apikey=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("apikey=");
                url.push_str(&odata::query::encode(key));
            }
        }
        let mut request = self.http.get(&url).header("accept", accept);
        if let Credential::Bearer(token) = cred {
            request = request.bearer_auth(token);
        }
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        tracing::debug!(
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            bytes = body.len(),
            "upstream request"
        );
        Ok((status, body))
    }

    fn transport_error(&self, e: reqwest::Error) -> GatewayError {
        if e.is_timeout() {
            GatewayError::timeout(self.timeout_ms)
        } else if e.is_connect() {
            GatewayError::UpstreamUnavailable("cannot connect to the upstream".into())
        } else {
            // `without_url` keeps an apikey in the URL out of the message.
            GatewayError::UpstreamUnavailable(e.without_url().to_string())
        }
    }
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
        let config = Config {
            upstream: Some("http://127.0.0.1:1/v1.1/odata".into()),
            ..Default::default()
        };
        let up = Upstream::new(&config).expect("upstream");
        let current = "http://127.0.0.1:1/v1.1/odata/Message?$top=5&$skip=0";
        assert_eq!(
            up.resolve_next_link(current, "Message?$skiptoken=5")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:1/v1.1/odata/Message?$skiptoken=5")
        );
        assert!(up
            .resolve_next_link(current, "http://evil.example/v1.1/odata/Message")
            .is_err());
    }
}
