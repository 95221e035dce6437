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
