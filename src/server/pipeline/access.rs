//! Who may run what, as one snapshot: service mode's API keys and the
//! trusted documents. A request takes the snapshot in force when it starts
//! and uses it throughout, so a reload (SIGHUP) never mixes an old key set
//! with a new manifest; the reload swaps the whole snapshot at once, after
//! the new one was read and checked completely (`config::load`).

use super::persisted::sha256_hex;
use super::service_auth::ServiceAuth;
use crate::config::{Settings, TrustedDocuments};
use crate::error::GatewayError;
use crate::upstream::Caller;
use std::sync::{Arc, RwLock};

/// One set of API keys and trusted documents.
#[derive(Debug)]
pub struct Access {
    /// Service mode; `None`: pass-through.
    pub service: Option<ServiceAuth>,
    pub trusted: TrustedDocuments,
}

impl Access {
    fn new(settings: &Settings) -> Access {
        Access {
            service: settings.service.as_ref().map(ServiceAuth::new),
            trusted: settings.trusted_documents.clone(),
        }
    }

    /// Refuses `query` when the caller's API key runs only trusted
    /// documents and the manifest does not hold this text. A WebSocket
    /// connection authenticated before a reload that removed its key
    /// starts nothing more.
    pub fn check(&self, caller: &Caller, query: &str) -> Result<(), GatewayError> {
        let restricted = match (&self.service, &caller.api_key) {
            (Some(service), Some(key)) => match service.trusted_documents_only(key) {
                Some(only) => only,
                None => {
                    let removed = "the API key is no longer configured";
                    return Err(GatewayError::Unauthenticated(removed.into()));
                }
            },
            _ => false,
        };
        if !restricted || self.trusted.contains(&sha256_hex(query.as_bytes())) {
            return Ok(());
        }
        Err(GatewayError::DocumentNotTrusted(
            "this API key may run only the trusted documents (trusted_documents_file); send a \
             document of the manifest, by its text or its hash (`documentId`)"
                .into(),
        ))
    }
}

/// The snapshot in force, replaced whole by a reload.
#[derive(Debug)]
pub struct AccessStore {
    current: RwLock<Arc<Access>>,
}

impl AccessStore {
    pub fn new(settings: &Settings) -> AccessStore {
        AccessStore {
            current: RwLock::new(Arc::new(Access::new(settings))),
        }
    }

    /// The snapshot in force now.
    pub fn current(&self) -> Arc<Access> {
        // A poisoned lock still holds a whole snapshot: the writer only
        // swaps an Arc.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `settings`' keys and documents in force, or says why not: a
    /// reload cannot turn service mode on or off (the upstream identity of
    /// every open connection depends on it).
    pub fn replace(&self, settings: &Settings) -> Result<(), String> {
        let next = Access::new(settings);
        let now = self.current();
        match (now.service.is_some(), next.service.is_some()) {
            (true, false) => return Err("the new configuration has no API keys: service mode cannot be turned off by a reload".into()),
            (false, true) => return Err("the new configuration has API keys: service mode cannot be turned on by a reload".into()),
            _ => {}
        }
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKeyConfig, Config};
    use crate::error::ErrorCode;
    use crate::upstream::Credential;

    const TRUSTED: &str = "{ labels { nodes { id } } }";

    fn settings(keys: &[(&str, bool)]) -> Settings {
        let dir = std::env::temp_dir().join(format!("lag-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let manifest = dir.join("manifest.json");
        let flat = serde_json::json!({ sha256_hex(TRUSTED.as_bytes()): TRUSTED });
        std::fs::write(&manifest, flat.to_string()).expect("write");
        let api_keys = keys
            .iter()
            .map(|(name, only)| ApiKeyConfig {
                name: name.to_string(),
                sha256: sha256_hex(name.as_bytes()),
                collections: None,
                trusted_documents_only: *only,
            })
            .collect::<Vec<_>>();
        let config = Config {
            service_upstream_token: (!keys.is_empty()).then(|| "t".to_string().into()),
            api_keys,
            trusted_documents_file: Some(manifest.display().to_string()),
            ..Config::default()
        };
        config.validate().expect("valid")
    }

    fn caller(key: Option<&str>) -> Caller {
        Caller {
            api_key: key.map(Arc::from),
            ..Caller::new(Credential::Bearer("t".into()))
        }
    }

    #[test]
    fn only_restricted_keys_are_held_to_the_manifest() {
        let store = AccessStore::new(&settings(&[("dash", true), ("admin", false)]));
        let access = store.current();
        let other = "{ inboxes { nodes { id } } }";
        assert_eq!(access.check(&caller(Some("dash")), TRUSTED), Ok(()));
        let refused = access
            .check(&caller(Some("dash")), other)
            .map_err(|e| e.kind());
        assert_eq!(refused, Err(ErrorCode::DocumentNotTrusted));
        assert_eq!(access.check(&caller(Some("admin")), other), Ok(()));

        store
            .replace(&settings(&[("admin", true)]))
            .expect("reloaded");
        let access = store.current();
        let removed = access
            .check(&caller(Some("dash")), TRUSTED)
            .map_err(|e| e.kind());
        assert_eq!(removed, Err(ErrorCode::Unauthenticated));
        let now_restricted = access
            .check(&caller(Some("admin")), other)
            .map_err(|e| e.kind());
        assert_eq!(now_restricted, Err(ErrorCode::DocumentNotTrusted));
    }

    #[test]
    fn a_reload_cannot_switch_service_mode() {
        let store = AccessStore::new(&settings(&[("dash", true)]));
        let err = store.replace(&settings(&[])).expect_err("turned off");
        assert!(err.contains("service mode"), "{err}");
        assert!(store.current().service.is_some(), "the old set stays");
        let pass_through = AccessStore::new(&settings(&[]));
        assert!(pass_through.replace(&settings(&[("dash", false)])).is_err());
        let anyone = pass_through.current();
        assert_eq!(anyone.check(&caller(None), "{ x }"), Ok(()));
    }
}
