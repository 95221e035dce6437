//! Embeds the GraphiQL playground: the pinned npm packages of `playground/`
//! (installed with `npm ci` when missing) are copied, gzipped, into OUT_DIR
//! so that the binary serves them itself, with no CDN.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const ASSETS: &[(&str, &str)] = &[
    ("graphiql.js", "node_modules/graphiql/graphiql.min.js"),
    ("graphiql.css", "node_modules/graphiql/graphiql.min.css"),
    ("react.js", "node_modules/react/umd/react.production.min.js"),
    (
        "react-dom.js",
        "node_modules/react-dom/umd/react-dom.production.min.js",
    ),
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let playground = root.join("playground");
    println!("cargo:rerun-if-changed=playground/package.json");
    println!("cargo:rerun-if-changed=playground/package-lock.json");
    println!("cargo:rerun-if-changed=playground/node_modules/.package-lock.json");

    if ASSETS
        .iter()
        .any(|(_, from)| !playground.join(from).exists())
    {
        println!("cargo:warning=installing the playground's npm packages (npm ci in playground/)");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&playground)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            panic!("the GraphiQL assets are missing and `npm ci` in playground/ failed: install Node.js and npm, then run scripts/setup.sh");
        }
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("playground");
    fs::create_dir_all(&out).unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));
    for (name, from) in ASSETS {
        gzip(&playground.join(from), &out.join(format!("{name}.gz")));
    }
}

fn gzip(from: &Path, to: &Path) {
    let bytes = fs::read(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    let file =
        fs::File::create(to).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    encoder
        .write_all(&bytes)
        .and_then(|_| encoder.finish().map(|_| ()))
        .unwrap_or_else(|e| panic!("cannot compress {}: {e}", from.display()));
}
