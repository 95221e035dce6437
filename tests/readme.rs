//! The documentation keeps up with the code: the configuration table of
//! `docs/configuration.md` lists every config key with the flag and
//! environment variable the binary reads, and every relative link of the
//! README and of `docs/` leads to a file (and heading) that exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn configuration_doc() -> String {
    std::fs::read_to_string(root().join("docs/configuration.md")).expect("docs/configuration.md")
}

#[test]
fn configuration_doc_lists_every_config_key() {
    let doc = configuration_doc();
    let defaults = liveagent_graphql::config::Config::default();
    let value = serde_json::to_value(&defaults).expect("config as JSON");
    let keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert!(keys.len() >= 10);
    for key in keys {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/configuration.md: the configuration table lacks `{key}`"
        );
    }
}

/// The flag and environment columns name what the binary reads.
#[test]
fn configuration_doc_flags_and_environment_match_the_binary() {
    let doc = configuration_doc();
    let command = <liveagent_graphql::config::Overrides as clap::Args>::augment_args(
        clap::Command::new("liveagent-graphql"),
    );
    let mut flags = 0;
    for arg in command.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let env = env.to_str().expect("env name");
        let key = long.replace('-', "_");
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| {
                panic!("docs/configuration.md: the configuration table lacks `{key}`")
            });
        assert!(
            row.starts_with(&format!("| `{key}` | `--{long}` | `{env}`")),
            "docs/configuration.md: the row of `{key}` does not name `--{long}` and `{env}`: {row}"
        );
        flags += 1;
    }
    assert!(flags >= 10);
}

/// The README and every page of `docs/`.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "docs/ holds no page");
    files.extend(pages);
    files
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// A line without its inline code spans, whose brackets are not links.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The targets of the inline links `[text](target)` of a text.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped,
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings, repeats numbered as GitHub
/// numbers them (`a`, `a-1`, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = slug(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while found.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        found.insert(anchor);
    }
    found
}

#[test]
fn every_relative_link_of_the_documentation_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("read a document");
        let name = file.strip_prefix(root()).expect("under the crate");
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a folder").join(path)
            };
            if !linked.exists() {
                broken.push(format!("{}: `{target}`: no such file", name.display()));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if linked.extension().is_some_and(|e| e == "md") {
                let page = std::fs::read_to_string(&linked).expect("read a linked page");
                if !anchors(&page).contains(anchor) {
                    broken.push(format!("{}: `{target}`: no such heading", name.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 10, "only {checked} relative links found");
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(slug(" The upstream's dialect"), "the-upstreams-dialect");
    assert_eq!(slug(" `conversationCounts`"), "conversationcounts");
    assert_eq!(
        slug(" Hot paths: `benches/hot_paths.rs` and `bench/regress.py`"),
        "hot-paths-bencheshot_pathsrs-and-benchregresspy"
    );
    let found = anchors("# A\n```\n# not a heading\n```\n## A\n");
    assert_eq!(found, BTreeSet::from(["a".to_string(), "a-1".to_string()]));
    assert_eq!(
        link_targets("see [x](a.md#b), `[c](d)` and [`e`](f.md)"),
        ["a.md#b", "f.md"]
    );
}
