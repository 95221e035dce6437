//! Value types of config keys: the enum-like keys, read by serde from the
//! file and by clap from flags and the environment under the same lowercase
//! names, a secret that `Debug` never shows, and a service-mode client key.

use serde::{Deserialize, Serialize};

/// How set membership (`in`/`nin` filters, id sets) is written in `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InOperator {
    /// `in (...)` when `$metadata` declares OData 4.01, else `or` chains.
    Auto,
    /// `id eq 1 or id eq 2`: what every OData 4.0 server understands.
    Or,
    /// The OData 4.01 `id in (1,2)`.
    In,
}

/// Whether aggregates are computed by the upstream with `$apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pushdown {
    /// `$apply` where the capability set in force has `apply` (probed with
    /// the other capabilities, unless set in config).
    Auto,
    /// The same as `auto`.
    On,
    /// Always scan.
    Off,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object a line.
    Json,
}

/// A secret config value: serialized as is, never shown by `Debug`.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Read from a flag or the environment.
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One client API key of service mode, as the file lists it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for logs and error messages.
    pub name: String,
    /// Hex SHA-256 of the key (`liveagent-graphql hash-key <key>`).
    pub sha256: String,
    /// Collections the key may read (`Conversation`, ...); all when unset.
    #[serde(default)]
    pub collections: Option<Vec<String>>,
    /// The key may run only the documents of `trusted_documents_file`.
    #[serde(default)]
    pub trusted_documents_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag_names<E: clap::ValueEnum>() -> Vec<String> {
        E::value_variants()
            .iter()
            .filter_map(E::to_possible_value)
            .map(|v| v.get_name().to_string())
            .collect()
    }

    #[test]
    fn enum_keys_read_the_documented_lowercase_names() {
        #[derive(Deserialize)]
        struct Keys {
            in_operator: InOperator,
            aggregate_pushdown: Pushdown,
            log_format: LogFormat,
        }
        let keys: Keys = toml::from_str(
            "in_operator = \"in\"\naggregate_pushdown = \"off\"\nlog_format = \"json\"",
        )
        .expect("keys");
        assert_eq!(keys.in_operator, InOperator::In);
        assert_eq!(keys.aggregate_pushdown, Pushdown::Off);
        assert_eq!(keys.log_format, LogFormat::Json);
        // Flags and environment take the same names as the file.
        assert_eq!(flag_names::<InOperator>(), ["auto", "or", "in"]);
        assert_eq!(flag_names::<Pushdown>(), ["auto", "on", "off"]);
        assert_eq!(flag_names::<LogFormat>(), ["text", "json"]);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let secret: Secret = "hunter2".parse().expect("secret");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
    }
}
