//! Stage 3: who the request acts as upstream, as the one `Caller` every
//! upstream call of the request gets. Pass-through (the default): the
//! client's own Live Agent credential. Service mode: one of the gateway's
//! API keys (`service_auth.rs`) stands for the gateway's own token.
//!
//! A request without an identity still runs (introspection needs none):
//! the refusal goes to every field that would read upstream.
//!
//! The caller also carries what the client asked of every upstream call:
//! `Cache-Control: no-cache`. Whether it asked to see its plan
//! (`X-Explain: 1`, or `extensions.explain: true`) decides its report.

use super::service_auth::ServiceAuth;
use crate::error::GatewayError;
use crate::upstream::{Caller, Credential, Fingerprint, Upstream};
use axum::http::{header, HeaderMap};
use std::sync::Arc;

const NO_CREDENTIAL: &str =
    "no credential: send `Authorization: Bearer <Live Agent token>` or `?apikey=<token>`";

const EXPLAIN: &str = "x-explain";

/// The request's caller, or why it has none.
pub fn identify(
    service: Option<&ServiceAuth>,
    headers: &HeaderMap,
    query_string: Option<&str>,
    request_id: Arc<str>,
) -> Result<Caller, GatewayError> {
    let caller = match service {
        Some(service) => service.authenticate(headers, query_string)?,
        None => Caller::new(pass_through(headers, query_string)?),
    };
    Ok(Caller {
        no_cache: wants_no_cache(headers),
        request_id: Some(request_id),
        ..caller
    })
}

/// Whether the client asked to see its upstream requests: `X-Explain: 1`
/// (or `true`), or `extensions.explain: true` (`in_body`).
pub fn wants_explain(headers: &HeaderMap, in_body: bool) -> bool {
    in_body
        || headers
            .get_all(EXPLAIN)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .any(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Who a client is to per-client state (rate buckets, cached responses):
/// its credential's fingerprint in pass-through (never the token), its API
/// key in service mode, where every key shares one upstream credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Credential(Fingerprint),
    ApiKey(Arc<str>),
}

impl ClientKey {
    pub fn of(caller: &Caller, upstream: &Upstream) -> ClientKey {
        match &caller.api_key {
            Some(name) => ClientKey::ApiKey(name.clone()),
            None => ClientKey::Credential(upstream.fingerprint(&caller.credential)),
        }
    }
}

/// The client's own credential: `Authorization: Bearer` or `?apikey=`.
fn pass_through(
    headers: &HeaderMap,
    query_string: Option<&str>,
) -> Result<Credential, GatewayError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Credential::from_request(authorization, query_string)
        .ok_or_else(|| GatewayError::Unauthenticated(NO_CREDENTIAL.into()))
}

/// `Cache-Control: no-cache` from the client: skip cached answers.
fn wants_no_cache(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().expect("header"));
        }
        h
    }

    fn pass_through_caller(h: &HeaderMap, query: Option<&str>) -> Result<Caller, GatewayError> {
        identify(None, h, query, Arc::from("req-1"))
    }

    #[test]
    fn pass_through_forwards_the_client_credential() {
        let caller = pass_through_caller(&headers(&[("authorization", "Bearer tok")]), None)
            .expect("caller");
        assert_eq!(caller.credential, Credential::Bearer("tok".into()));
        assert_eq!(caller.request_id.as_deref(), Some("req-1"));
        assert!(caller.collections.is_none() && !caller.no_cache && !caller.bypass_cache);
        let caller =
            pass_through_caller(&HeaderMap::new(), Some("query=x&apikey=k")).expect("caller");
        assert_eq!(caller.credential, Credential::ApiKey("k".into()));
    }

    #[test]
    fn no_credential_is_unauthenticated() {
        let refusal = pass_through_caller(&HeaderMap::new(), Some("query=x")).expect_err("refused");
        assert_eq!(refusal.kind(), crate::error::ErrorCode::Unauthenticated);
        assert!(refusal.to_string().contains("Authorization"), "{refusal}");
    }

    #[test]
    fn no_cache_is_read_from_any_cache_control_directive() {
        let h = headers(&[
            ("authorization", "Bearer tok"),
            ("cache-control", "max-age=0"),
            ("cache-control", "private, No-Cache"),
        ]);
        assert!(pass_through_caller(&h, None).expect("caller").no_cache);
        let h = headers(&[
            ("authorization", "Bearer tok"),
            ("cache-control", "no-store"),
        ]);
        assert!(!pass_through_caller(&h, None).expect("caller").no_cache);
    }

    #[test]
    fn explain_is_asked_by_header_or_body() {
        let asked = |h: &HeaderMap, in_body: bool| wants_explain(h, in_body);
        let bearer = ("authorization", "Bearer tok");
        assert!(asked(&headers(&[bearer, ("x-explain", "1")]), false));
        assert!(asked(&headers(&[bearer, ("x-explain", " True ")]), false));
        assert!(asked(&headers(&[bearer]), true));
        assert!(!asked(&headers(&[bearer, ("x-explain", "0")]), false));
        assert!(!asked(&headers(&[bearer, ("x-explain", "yes")]), false));
        assert!(!asked(&headers(&[bearer]), false));
    }
}
