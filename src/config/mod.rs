//! The configuration: defaults < TOML file < environment < flags, every
//! key declared once in `keys.rs`, then checked once into [`Settings`],
//! the typed value the rest of the gateway takes. Errors name the key.
//!
//! Imports point one way: the layers (upstream, aggregates, server) take
//! their settings from here; nothing here knows them.

mod error;
mod keys;
mod live;
mod replica;
mod service;
mod settings;
mod shared_cache;
mod trusted;
mod values;

pub use error::ConfigError;
pub use keys::{Config, Overrides};
pub use live::LiveSettings;
pub use replica::{ReplicaSettings, ReplicaStore};
pub use service::{ServiceKey, ServiceMode};
pub use settings::{
    AggregateSettings, CacheSettings, HttpSettings, QuerySettings, RateLimit, Settings,
    UpstreamSettings,
};
pub use shared_cache::{RedisSettings, SharedCacheSettings};
pub use trusted::TrustedDocuments;
pub use values::{ApiKeyConfig, InOperator, LogFormat, Pushdown, Secret};

use std::path::Path;

/// The file (or the defaults), overridden by flags and the environment,
/// checked.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let mut config = match file {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    config.apply(overrides);
    config.validate()
}

impl Config {
    /// A TOML file; keys it leaves out keep their defaults.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let failed = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
        toml::from_str(&text).map_err(|e| failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The overrides as `main` reads them.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        overrides: Overrides,
    }

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lag-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("c.toml");
        std::fs::write(&file, text).expect("write");
        file
    }

    #[test]
    fn flags_override_file_values() {
        let file = temp_file("config", "listen = \"127.0.0.1:9000\"\nmax_first = 10\n");
        let o = Overrides {
            max_first: Some(20),
            ..Default::default()
        };
        let s = load(Some(&file), &o).expect("load");
        assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(s.query.max_first, 20);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let file = temp_file("config2", "max_frist = 10\n");
        let err = load(Some(&file), &Overrides::default()).expect_err("typo");
        assert!(err.to_string().contains("max_frist"), "{err}");
        let file = temp_file("config3", "in_operator = \"maybe\"\n");
        let err = load(Some(&file), &Overrides::default()).expect_err("bad in_operator");
        assert!(err.to_string().contains("in_operator"), "{err}");
        let err = Cli::try_parse_from(["gw", "--in-operator", "maybe"])
            .err()
            .expect("bad --in-operator");
        assert!(err.to_string().contains("--in-operator"), "{err}");
        let err = Cli::try_parse_from(["gw", "--log-format", "xml"])
            .err()
            .expect("bad --log-format");
        assert!(err.to_string().contains("--log-format"), "{err}");
    }

    #[test]
    fn flags_keep_their_documented_names() {
        let cli = Cli::try_parse_from([
            "gw",
            "--upstream",
            "http://h/v1.0/odata",
            "--listen",
            "0.0.0.0:1",
            "--aggregate-pushdown",
            "off",
            "--cors-allowed-origins",
            "https://a.example,https://b.example",
            "--service-upstream-token",
            "t",
        ])
        .expect("flags");
        let mut config = Config::default();
        config.apply(&cli.overrides);
        assert_eq!(config.upstream.as_deref(), Some("http://h/v1.0/odata"));
        assert_eq!(config.listen, "0.0.0.0:1");
        assert_eq!(config.aggregate_pushdown, Pushdown::Off);
        assert_eq!(
            config.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(
            config.service_upstream_token.as_ref().map(Secret::expose),
            Some("t")
        );
        // Every flag is the key in kebab case; every environment variable
        // the key in capitals, but for the two the contract names.
        let command = <Cli as clap::CommandFactory>::command();
        let mut flags = 0;
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let expected = match long {
                "upstream" => "UPSTREAM_URL".to_string(),
                "listen" => "LISTEN_ADDR".to_string(),
                other => other.to_uppercase().replace('-', "_"),
            };
            let env = arg.get_env().and_then(|e| e.to_str());
            assert_eq!(env, Some(expected.as_str()), "--{long}");
            flags += 1;
        }
        let keys = serde_json::to_value(Config::default()).expect("keys");
        let keys = keys.as_object().map(|m| m.len()).unwrap_or_default();
        assert_eq!(
            flags + 2,
            keys,
            "every key but api_keys and upstream_capabilities has a flag"
        );
    }
}
