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
    /// documents and the manifest does not hold this text.
    pub fn check(&self, caller: &Caller, query: &str) -> Result<(), GatewayError> {
        let restricted = match (&self.service, &caller.api_key) {
            (Some(service), Some(key)) => service.trusted_documents_only(key),
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
