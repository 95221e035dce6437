//! The shape of `src/`, file by file (tests beside the code left out): no
//! two files import each other, directly or in a loop; no file imports
//! from its own parent module (a folder's `mod.rs` declares and re-exports,
//! its files never reach back into it); and no function is longer than
//! 90 lines. `tests/layering.rs` keeps the top-level modules in layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LONGEST_FUNCTION: usize = 90;

/// A file's module path (`["upstream", "cache"]`; `[]` for lib.rs) and its
/// code before `#[cfg(test)]`, comments removed.
struct Source {
    module: Vec<String>,
    path: PathBuf,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).ok()?.with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            if module == ["main"] {
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: Vec<&str> = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect();
            Some(Source {
                module,
                path,
                code: code.join("\n"),
            })
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in inner.chars() {
        match c {
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            '{' => {
                depth += 1;
                current.push(c);
            }
            '}' => {
                depth -= 1;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p).into_iter().map(|e| format!("{prefix}{e}")))
        .collect()
}

/// The paths a file's code names: `use` trees, and `crate::`, `super::`
/// and `self::` paths, and paths through the file's own child modules.
fn paths(source: &Source) -> Vec<String> {
    let code = &source.code;
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = rest.find(';') {
            out.extend(expand(&rest[..end].replace(['\n', ' '], "")));
        }
    }
    let children: Vec<String> = code
        .lines()
        .filter_map(|l| {
            let l = l
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    let tokens = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
    for token in tokens {
        let first = token.split("::").next().unwrap_or("");
        let named =
            matches!(first, "crate" | "super" | "self") || children.iter().any(|c| c == first);
        // `super::{a, b}` is read with the `use` trees above.
        if named && token.contains("::") && !token.ends_with(':') {
            out.push(token.to_string());
        }
    }
    out
}

/// The file a path leads to: the longest prefix that is a file's module.
fn target<'a>(
    from: &Source,
    path: &str,
    modules: &'a BTreeMap<Vec<String>, PathBuf>,
) -> Option<&'a Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut full: Vec<String> = match segments.peek().copied() {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super") | Some("self") => from.module.clone(),
        _ => from.module.clone(),
    };
    for segment in segments {
        match segment {
            "super" => {
                full.pop();
            }
            "self" => {}
            s => full.push(s.to_string()),
        }
    }
    (0..=full.len())
        .rev()
        .find_map(|n| modules.get_key_value(&full[..n]).map(|(k, _)| k))
}

fn edges(sources: &[Source]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeMap<Vec<String>, PathBuf> = sources
        .iter()
        .map(|s| (s.module.clone(), s.path.clone()))
        .collect();
    sources
        .iter()
        .map(|s| {
            let targets = paths(s)
                .iter()
                .filter_map(|p| target(s, p, &modules))
                .filter(|t| **t != s.module && !t.is_empty())
                .cloned()
                .collect();
            (s.module.clone(), targets)
        })
        .collect()
}

fn name(module: &[String]) -> String {
    format!("src/{}", module.join("/"))
}

#[test]
fn no_file_imports_its_own_parent_module() {
    let sources = sources();
    let mut wrong = Vec::new();
    for (from, targets) in edges(&sources) {
        for to in targets {
            if to.len() < from.len() && from.starts_with(&to) {
                wrong.push(format!("{} imports its parent {}", name(&from), name(&to)));
            }
        }
    }
    assert!(sources.len() > 50, "found the sources");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_two_files_import_each_other_even_in_a_loop() {
    let graph = edges(&sources());
    let mut loops = Vec::new();
    // A file is in a loop when it reaches itself again.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&Vec<String>> = graph[start].iter().collect();
        while let Some(next) = stack.pop() {
            if next == start {
                loops.push(name(start));
                break;
            }
            if seen.insert(next) {
                stack.extend(graph.get(next).into_iter().flatten());
            }
        }
    }
    assert!(
        loops.is_empty(),
        "files in an import loop:\n{}",
        loops.join("\n")
    );
}

/// Each `fn` of the code and its length in lines, to its closing brace.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else { continue };
        let before = line[..at].trim();
        let is_definition = before.is_empty()
            || before.split_whitespace().all(|w| {
                matches!(w, "pub" | "async" | "const" | "unsafe") || w.starts_with("pub(")
            });
        if !is_definition {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i32, false);
        for (j, body) in lines.iter().enumerate().skip(i) {
            if !opened && body.contains(';') && !body.contains('{') {
                break;
            }
            for c in strip_literals(body).chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                out.push((name.clone(), j - i + 1));
                break;
            }
        }
    }
    out
}

/// A line without its string and char literals (braces inside them do
/// not count).
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            while let Some(d) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == '"' {
                    break;
                }
            }
        } else if c == '\'' && chars.clone().nth(1) == Some('\'') {
            chars.next();
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_90_lines() {
    let mut long = Vec::new();
    for source in sources() {
        for (function, lines) in functions(&source.code) {
            if lines > LONGEST_FUNCTION {
                long.push(format!(
                    "{} fn {function}: {lines} lines",
                    source.path.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LONGEST_FUNCTION} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        expand("super::{a::{B, c}, D as E}"),
        ["super::a::B", "super::a::c", "super::D"]
    );
    let code = "fn short() {\n    let s = \"}\";\n}\npub(super) async fn f() -> u8 {\n    1\n}\n";
    assert_eq!(
        functions(code),
        [("short".to_string(), 3), ("f".to_string(), 3)]
    );
}
