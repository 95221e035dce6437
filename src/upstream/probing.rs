//! When the front door probes: the capability probes and the page cap
//! search before the first request (and again after the upstream refused
//! requests, see `Capabilities::probes_due`), and the page cap search
//! again when the upstream refuses a request, whose read is then retried
//! once within the cap found. Probes go straight to the upstream with the
//! caller's credential, under a request id of their own, and one run at a
//! time.

use super::caller::Caller;
use super::fetch::{fetch_probe, Who};
use super::front_door::Upstream;
use super::probes::{self, Probe, ProbeAnswer, Subject};
use crate::odata::{CollectionQuery, Dialect, Metadata};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::HashSet;

/// The `x-request-id` of every probe, so that the upstream's logs tell
/// them from the requests of clients.
pub const PROBE_REQUEST_ID: &str = "capability-probe";

/// Ids read at once by the next-link probe: one more than a common
/// server-driven page size (CAP's default 1 000).
const NEXT_LINK_READ: u64 = 1001;

impl Upstream {
    /// The page cap search, then every capability probe; what they find
    /// is in force from now on. A fault that may pass leaves what was in
    /// force, and the next request probes again.
    pub(super) async fn run_probes(
        &self,
        caller: &Caller,
        metadata: Option<&Metadata>,
        refusals: u64,
    ) {
        let _one = self.probing.lock().await;
        if !self.capabilities.probes_due(refusals) {
            return; // another request ran them meanwhile
        }
        let probe = self.prober(caller);
        let probe: &Probe<'_> = &probe;
        match probes::page_cap(self.capabilities.configured_cap(), probe).await {
            Ok(found) => {
                self.capabilities.learn_cap(found);
            }
            Err(e) => {
                tracing::warn!(error = %e, "page cap search failed; keeping the cap in force")
            }
        }
        let empty = HashSet::new();
        let navigation = metadata.map(|m| {
            m.entity_sets
                .get(probes::PROBED)
                .map_or(&empty, |set| &set.navigation)
        });
        let subject = Subject {
            navigation,
            read: NEXT_LINK_READ.min(self.page_cap()),
        };
        match probes::run(&subject, probe).await {
            Ok(findings) => {
                self.capabilities.record(findings, refusals);
                self.capabilities
                    .log("upstream capabilities probed", metadata);
            }
            Err(e) => tracing::warn!(error = %e, "capability probes failed; probing again later"),
        }
    }

    /// After the upstream refused a request whose largest `$top` was `top`
    /// while the cap in force was `seen`: the page cap searched again (or
    /// as another request just found it); the lower cap to read it again
    /// within, if the cap is the reason.
    pub(super) async fn relearned_cap(&self, caller: &Caller, seen: u64, top: u64) -> Option<u64> {
        let _one = self.probing.lock().await;
        let now = self.page_cap();
        if now < seen {
            return (now < top).then_some(now);
        }
        let probe = self.prober(caller);
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
    fn prober<'a>(
        &'a self,
        caller: &'a Caller,
    ) -> impl Fn(CollectionQuery, Dialect) -> BoxFuture<'a, ProbeAnswer> + Send + Sync + 'a {
        move |query: CollectionQuery, dialect: Dialect| {
            async move {
                let url = self.url_for(&query.to_relative_url(dialect))?;
                let who = Who {
                    cred: &caller.credential,
                    request_id: Some(PROBE_REQUEST_ID),
                };
                fetch_probe(&self.transport, who, &url, query.entity_set).await
            }
            .boxed()
        }
    }
}
