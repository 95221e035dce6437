//! Imports point one way: HTTP → schema → plan and execution → OData and
//! upstream → model (docs/architecture.md, "Layers"). Each module of `src/`
//! has a layer; its code (tests beside it excepted) may name only modules
//! of lower layers. A new module must be given a layer here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules of the library, highest layer first.
const LAYERS: &[(&str, u8)] = &[
    ("server", 8),
    ("playground", 7),
    ("live", 7),
    ("schema", 6),
    ("replica", 6),
    ("aggregate", 5),
    ("exec", 5),
    ("plan", 4),
    ("upstream", 3),
    ("config", 2),
    ("metrics", 2),
    ("sql", 2),
    ("telemetry", 2),
    ("odata", 1),
    ("report", 1),
    ("model", 1),
    ("error", 0),
    ("digest", 0),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules a file's code names (`crate::x`), tests left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.split("crate::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        if first == "lib" || first == "main" {
            continue;
        }
        let own = layer(&first).unwrap_or_else(|| panic!("`{first}` has no layer in LAYERS"));
        let text = std::fs::read_to_string(file).expect("read file");
        for module in imports(&text) {
            if module == first {
                continue;
            }
            match layer(&module) {
                Some(l) if l < own => {}
                _ => wrong.push(format!("{} imports crate::{module}", relative.display())),
            }
        }
    }
    assert!(files.len() > 20, "found the sources");
    assert!(
        wrong.is_empty(),
        "imports pointing up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_imports_and_skips_tests() {
    let text = "use crate::odata::Row;\nfn f() { crate::model::KEY; }\n#[cfg(test)]\nmod tests { use crate::server; }";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, vec!["model".to_string(), "odata".to_string()]);
}
