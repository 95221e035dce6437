//! The upstream OData service, behind one front door (`front_door`): the
//! API key's allow-list, the cache tiers (`tiers`: `cache` in process,
//! `shared` in Redis with `shared_entry` its stored form), one request for
//! identical concurrent calls (`inflight`, `fill`), the HTTP fetch and its
//! statuses (`fetch`), and stale-if-error. Below it, `transport` (timeouts,
//! retries, concurrency bound, circuit breaker) with `retry`, `circuit` and
//! `window`. Beside it, `pages` (the one paging engine), `expand_cap`
//! (the page cap inside `$expand`), `probes` (queries that decide the
//! capabilities and find the page cap), `probing` (when the front door
//! runs them, `refusals` counting what the upstream refused) with
//! `capabilities` (the set and the page cap in force, and why), and
//! `explain` (each answer in the request's explain record).
//! `fingerprint` keys everything per credential.

mod answer;
mod cache;
mod caller;
mod capabilities;
mod circuit;
mod credential;
mod expand_cap;
mod explain;
mod fetch;
mod fill;
mod fingerprint;
mod front_door;
mod inflight;
mod pages;
mod probes;
mod probing;
mod refusals;
mod retry;
mod shared;
mod shared_entry;
mod tiers;
mod transport;
mod window;

pub use caller::Caller;
pub use capabilities::log_capabilities;
pub use credential::Credential;
pub use fingerprint::Fingerprint;
pub use front_door::Upstream;
pub use pages::{with_key_order, PagePlan, Walk};
pub use probing::PROBE_REQUEST_ID;
