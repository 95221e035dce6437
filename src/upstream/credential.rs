//! The client's upstream credential, forwarded in the form it came in.
//! Its `Debug` never shows the secret.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// `Authorization: Bearer <token>`
    Bearer(String),
    /// `?apikey=<token>`
    ApiKey(String),
}

impl Credential {
    pub fn secret(&self) -> &str {
        match self {
            Credential::Bearer(s) | Credential::ApiKey(s) => s,
        }
    }

    /// Reads a credential from a request's `Authorization` header value and
    /// query string; the header wins when both are given.
    pub fn from_request(authorization: Option<&str>, query: Option<&str>) -> Option<Credential> {
        if let Some(token) = authorization.and_then(bearer_token) {
            return Some(Credential::Bearer(token.to_string()));
        }
        let query = query?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k == "apikey" && !v.trim().is_empty())
            .map(|(_, v)| Credential::ApiKey(v.into_owned()))
    }

    /// Removes the secret from a text that may echo it (an upstream message).
    pub fn redact(&self, text: &str) -> String {
        let secret = self.secret();
        if secret.is_empty() {
            return text.to_string();
        }
        let encoded = crate::odata::query::encode(secret);
        text.replace(secret, "[redacted]")
            .replace(&encoded, "[redacted]")
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credential::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_or_apikey_parameter() {
        assert_eq!(
            Credential::from_request(Some("Bearer abc"), None),
            Some(Credential::Bearer("abc".into()))
        );
        assert_eq!(
            Credential::from_request(None, Some("x=1&apikey=a%2Bb")),
            Some(Credential::ApiKey("a+b".into()))
        );
        assert_eq!(
            Credential::from_request(Some("Basic xyz"), Some("apikey=")),
            None
        );
        assert_eq!(Credential::from_request(None, None), None);
    }

    #[test]
    fn debug_and_redact_hide_the_secret() {
        let c = Credential::Bearer("s3cr+t".into());
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(
            c.redact("bad token s3cr+t / s3cr%2Bt"),
            "bad token [redacted] / [redacted]"
        );
    }
}
