//! When the front door probes: the capability probes and the page cap
//! search before the first request (and again after the upstream refused
//! requests, see `Capabilities::probes_due`), and the page cap search
//! again when the upstream refuses a request, whose read is then retried
//! once within the cap found. Probes go straight to the upstream with the
//! caller's credential, under a request id of their own, one run at a
//! time; a run goes on in a task of its own when the request that started
//! it gives up waiting (its timeout, its client gone).

use super::capabilities::Capabilities;
use super::credential::Credential;
use super::fetch::{fetch_probe, Who};
use super::probes::{self, Probe, ProbeAnswer, Subject};
use super::transport::Transport;
use crate::error::GatewayError;
use crate::odata::{CollectionQuery, Dialect, Metadata};
use futures::FutureExt;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The `x-request-id` of every probe, so that the upstream's logs tell
/// them from the requests of clients.
pub const PROBE_REQUEST_ID: &str = "capability-probe";

/// Everything a probe run needs, owned.
pub(super) struct Prober {
    pub transport: Arc<Transport>,
    pub capabilities: Arc<Capabilities>,
    /// Held for a whole run or search.
    pub one_at_a_time: Arc<Mutex<()>>,
    pub credential: Credential,
    pub max_url_length: usize,
}

impl Prober {
    /// Runs the probes (see [`Prober::run`]) in a task of their own and
    /// waits for them.
    pub async fn run_detached(self, metadata: Option<&Metadata>, refusals: u64) {
        let metadata = metadata.cloned();
        let run = tokio::spawn(async move { self.run(metadata, refusals).await });
        if let Err(e) = run.await {
            tracing::warn!(error = %e, "the capability probes did not finish");
        }
    }

    /// The page cap search, then every capability probe; what they find
    /// is in force from now on. A fault that may pass leaves what was in
    /// force, and the next request probes again.
    async fn run(self, metadata: Option<Metadata>, refusals: u64) {
        let _one = self.one_at_a_time.lock().await;
        if !self.capabilities.probes_due(refusals) {
            return; // another request ran them meanwhile
        }
        self.capabilities.run_started();
        let probe = |query, dialect| self.ask(query, dialect).boxed();
        let probe: &Probe<'_> = &probe;
        match probes::page_cap(self.capabilities.configured_cap(), probe).await {
            Ok(found) => {
                self.capabilities.learn_cap(found);
            }
            Err(e) => {
                tracing::warn!(error = %e, "page cap search failed; keeping the cap in force")
            }
        }
        let none = HashSet::new();
        let navigation = metadata.as_ref().map(|m| {
            m.entity_sets
                .get(probes::PROBED)
                .map_or(&none, |set| &set.navigation)
        });
        let subject = Subject {
            navigation,
            cap: self.capabilities.page_cap(),
        };
        match probes::run(&subject, probe).await {
            Ok(findings) => {
                self.capabilities.record(findings, refusals);
                self.capabilities
                    .log("upstream capabilities probed", metadata.as_ref());
            }
            Err(e) => {
                self.capabilities.run_failed();
                tracing::warn!(error = %e, "capability probes failed; probing again later");
            }
        }
    }

    /// After the upstream refused a request whose largest `$top` was `top`
    /// while the cap in force was `seen`: the page cap searched again (or
    /// as another request just found it); the lower cap to read it again
    /// within, if the cap is the reason.
    pub async fn relearned_cap(&self, seen: u64, top: u64) -> Option<u64> {
        let _one = self.one_at_a_time.lock().await;
        let now = self.capabilities.page_cap();
        if now < seen {
            return (now < top).then_some(now);
        }
        let probe = |query, dialect| self.ask(query, dialect).boxed();
        match probes::page_cap(self.capabilities.configured_cap(), &probe).await {
            Ok(found) => {
                let cap = self.capabilities.learn_cap(found);
                if cap < seen {
                    tracing::warn!(
                        was = seen,
                        now = cap,
                        "the upstream's page cap is lower; reading again within it"
                    );
                }
                (cap < top).then_some(cap)
            }
            Err(e) => {
                tracing::warn!(error = %e, "page cap search failed");
                None
            }
        }
    }

    /// Sends one probe query: no cache, no sharing, no allow-list, in
    /// nobody's explain.
    async fn ask(&self, query: CollectionQuery, dialect: Dialect) -> ProbeAnswer {
        let url = format!("{}/{}", self.transport.base, query.to_relative_url(dialect));
        if url.len() > self.max_url_length {
            return Err(GatewayError::Internal(format!(
                "a probe of {} bytes is above max_url_length",
                url.len()
            )));
        }
        let who = Who {
            cred: &self.credential,
            request_id: Some(PROBE_REQUEST_ID),
        };
        fetch_probe(&self.transport, who, &url, query.entity_set).await
    }
}
