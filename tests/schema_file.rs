//! `schema.graphql` at the repo root is the SDL served for endpoint 1.1.

use liveagent_graphql::model::ApiVersion;

#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = liveagent_graphql::schema::sdl(ApiVersion::V1_1).expect("sdl");
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[test]
fn print_schema_prints_the_same_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .args(["print-schema", "--upstream-version", "1.0"])
        .output()
        .expect("run binary");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        printed,
        liveagent_graphql::schema::sdl(ApiVersion::V1_0).expect("sdl")
    );
}
