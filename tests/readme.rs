//! The README's configuration table lists every config key.

#[test]
fn readme_documents_every_config_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let defaults = liveagent_graphql::config::Config::default();
    let value = serde_json::to_value(&defaults).expect("config as JSON");
    let keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert!(keys.len() >= 10);
    for key in keys {
        assert!(
            readme.contains(&format!("| `{key}` |")),
            "README configuration table lacks `{key}`"
        );
    }
}

/// The flag and environment columns name what the binary reads.
#[test]
fn readme_flags_and_environment_match_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
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
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README configuration table lacks `{key}`"));
        assert!(
            row.starts_with(&format!("| `{key}` | `--{long}` | `{env}`")),
            "README row of `{key}` does not name `--{long}` and `{env}`: {row}"
        );
        flags += 1;
    }
    assert!(flags >= 10);
}
