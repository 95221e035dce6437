//! Grouped aggregates over one collection, without GraphQL: what to group
//! and measure (`spec`), the groups and their keys (`group`), time buckets
//! (`bucket`), and three engines that give the same groups — SQL over a
//! local copy of the account (`sql`, used by the analytics replica), the
//! upstream's `$apply` (`pushdown`), and a scan of the few columns needed,
//! folded here (`scan`, `fold`). `run` picks the engine, `order` sorts and
//! cuts the groups; `analytics` builds dashboard figures on top.

pub mod analytics;
pub mod bucket;
mod fold;
mod group;
mod order;
mod policy;
mod pushdown;
mod run;
mod scan;
mod source;
mod spec;
pub mod sql;

pub use bucket::{Bucketing, Offsets, TimeUnit};
/// The scan fold, for the benchmarks (`benches/hot_paths.rs`) and the
/// engines' conformance test.
#[doc(hidden)]
pub use fold::Accumulator;
pub use group::{median, Group, KeyPart};
pub use policy::{Policy, Pushdown};
pub use run::run;
pub use source::{Engine, Local, Source};
pub use spec::{too_many_groups, NumOp, SortBy, Spec};
