//! What an upstream URL may hold for the minimal dialect of the real Live
//! Agent service (docs/dialect.md): no `$count`, `$apply` or `$expand`, no
//! `not`, no `eq null`/`ne null`, no
//! `in (...)`, `$top` within the page cap, string literal contents
//! percent-encoded to unreserved characters, DateTime literals quoted. Each
//! of these is either an error or a silently wrong answer there.

/// Everything in `url` (as the upstream logged it, percent-encoded) the
/// minimal dialect cannot take; empty when it is fine.
pub fn violations(url: &str, page_cap: u64) -> Vec<String> {
    let mut found = Vec::new();
    let Some((_, query)) = url.split_once('?') else {
        return found;
    };
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        match decode(name).as_str() {
            option @ ("$count" | "$apply" | "$expand" | "$search") => {
                found.push(format!("sends {option}"));
            }
            "$top" => match value.parse::<u64>() {
                Ok(top) if top <= page_cap => {}
                _ => found.push(format!("$top={value} above the page cap {page_cap}")),
            },
            "$filter" => found.extend(filter_violations(value)),
            _ => {}
        }
    }
    found
}

/// Checks a raw `$filter` value: its string literals, then the structure
/// around them (literals blanked, so their contents cannot match).
fn filter_violations(raw: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut structure = Vec::<u8>::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(quote) = quote_at(bytes, i) {
            i += quote;
            structure.extend_from_slice(b"''");
            loop {
                if i >= bytes.len() {
                    found.push(format!("an unterminated string literal in {raw}"));
                    break;
                }
                if let Some(quote) = quote_at(bytes, i) {
                    i += quote;
                    match quote_at(bytes, i) {
                        Some(doubled) => i += doubled, // '' is a quote inside
                        None => break,
                    }
                } else if bytes[i] == b'%' && is_escape(bytes, i) {
                    i += 3;
                } else {
                    let c = bytes[i];
                    if !(c.is_ascii_alphanumeric() || b"-._~".contains(&c)) {
                        found.push(format!(
                            "an unencoded {:?} inside a string literal",
                            c as char
                        ));
                    }
                    i += 1;
                }
            }
        } else {
            structure.push(bytes[i]);
            i += 1;
        }
    }
    let text = decode(&String::from_utf8_lossy(&structure)).to_lowercase();
    let spaced = text
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " , ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    for (k, token) in tokens.iter().enumerate() {
        let next = tokens.get(k + 1).copied();
        match (*token, next) {
            ("not", _) => found.push("sends not".into()),
            ("in", Some("(")) => found.push("sends in (...)".into()),
            ("eq" | "ne", Some("null")) => found.push(format!("sends {token} null")),
            _ if is_date(token) => found.push(format!("an unquoted date {token}")),
            _ => {}
        }
    }
    found
}

/// Length of a quote (`'` or `%27`) at `i`.
fn quote_at(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) == Some(&b'\'') {
        Some(1)
    } else if bytes[i..].starts_with(b"%27") {
        Some(3)
    } else {
        None
    }
}

fn is_escape(bytes: &[u8], i: usize) -> bool {
    bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
}

/// `2026-01-01` or `2026-01-01T...` at the start of a token.
fn is_date(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
