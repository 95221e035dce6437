//! How deeply a text nests `{`, `[` and `(`, counted in one pass without
//! recursion before anything parses it: a GraphQL document (strings, block
//! strings and comments skipped) or a JSON body. Parsers and validators
//! walk nested values recursively; a request nested past the limit is
//! refused before it reaches them.

use crate::error::GatewayError;

/// A request nested past `max_nesting`, refused before any parser walks it.
pub fn too_deep(what: &str, depth: usize, limit: usize) -> GatewayError {
    GatewayError::QueryTooComplex(format!(
        "{what} nests `{{`, `[` or `(` {depth} levels deep or more, above the limit of {limit} (max_nesting)"
    ))
}

/// `Some(depth)` at the first point the text nests deeper than `limit`.
pub fn deeper_than(text: &str, limit: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Some(depth);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        assert_eq!(deeper_than("{ a { b(x: [1]) } }", 4), None);
        assert_eq!(deeper_than("{ a { b(x: [1]) } }", 3), Some(4));
        let quoted = r#"{ a(s: "{{{{[[[[\"(((") # {{{{{
          b(s: """ {{{{ \""" {{{ """) }"#;
        assert_eq!(deeper_than(quoted, 2), None);
        assert_eq!(deeper_than(r#"{"v": {"w": "}}}}{"}}"#, 2), None);
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(deeper_than(&deep, 64), Some(65));
    }
}
