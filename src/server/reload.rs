//! SIGHUP: the API keys and the trusted documents read again. The whole
//! configuration is loaded and checked as at the start (the TOML file,
//! the manifest); only when all of it is valid does the new snapshot
//! replace the old one, in one swap that requests in flight do not see
//! (each holds the snapshot it started with). A bad file keeps the old
//! set, says why in the log and counts `rejected`. Connections and open
//! subscriptions are untouched.

use super::pipeline::access::AccessStore;
use crate::config::{ConfigError, Settings};
use crate::metrics::{Metrics, OutcomeLabel};
use std::sync::Arc;

/// How the configuration is read again: the same file and flags as at
/// the start.
pub type Load = Box<dyn Fn() -> Result<Settings, ConfigError> + Send + Sync>;

pub struct Reloader {
    pub access: Arc<AccessStore>,
    pub metrics: Arc<Metrics>,
    pub load: Load,
}

impl Reloader {
    /// One reload, as a SIGHUP asks.
    pub fn reload(&self) {
        let outcome = match (self.load)() {
            Ok(settings) => self.access.replace(&settings).map(|()| settings),
            Err(e) => Err(e.to_string()),
        };
        let outcome = match outcome {
            Ok(settings) => {
                let keys = settings.service.as_ref().map_or(0, |s| s.keys.len());
                let documents = settings.trusted_documents.len();
                tracing::info!(
                    keys,
                    documents,
                    "reloaded the API keys and trusted documents"
                );
                "ok"
            }
            Err(why) => {
                tracing::warn!(reason = %why, "reload rejected: the API keys and trusted documents in force are kept");
                "rejected"
            }
        };
        let label = OutcomeLabel { outcome };
        self.metrics.config_reloads.get_or_create(&label).inc();
    }

    /// Reloads at every SIGHUP, for the life of the process. The handler
    /// is installed before this returns its future, so a SIGHUP right
    /// after the start does not end the process (the default action).
    #[cfg(unix)]
    pub fn on_sighup(self) -> impl std::future::Future<Output = ()> + Send {
        use tokio::signal::unix::{signal, SignalKind};
        let hangups = signal(SignalKind::hangup());
        async move {
            let mut hangups = match hangups {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGHUP handler: reloads are off");
                    return;
                }
            };
            while hangups.recv().await.is_some() {
                self.reload();
            }
        }
    }

    #[cfg(not(unix))]
    pub fn on_sighup(self) -> impl std::future::Future<Output = ()> + Send {
        std::future::pending()
    }
}
