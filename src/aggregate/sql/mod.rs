//! The SQL engine: an aggregate answered by the engine of a local copy of
//! the account (SQLite or PostgreSQL, the analytics replica), with the
//! same groups as the scan: the statements (`plan`, `filter`, `buckets`)
//! and the groups read back from their rows (`read`), or, where a rollup
//! holds them, from its cells (`rollup`).

mod buckets;
mod filter;
mod plan;
mod read;
mod rollup;

pub use buckets::Bounds;
pub use plan::{plan, Grouped};
pub use rollup::{plan_rollup, FromRollup};
