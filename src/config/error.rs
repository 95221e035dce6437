//! Why a configuration is refused: a file that cannot be read, a key with
//! a bad value (named), or a resource the process cannot get.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid config key `{key}`: {reason}")]
    Key { key: &'static str, reason: String },
    #[error("cannot start: {0}")]
    System(String),
}

pub(super) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key,
        reason: reason.into(),
    }
}
