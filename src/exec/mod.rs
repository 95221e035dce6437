//! Execution of a plan against the upstream: typed nodes (a row and its
//! related results), key lookups through a per-request DataLoader, and the
//! level-by-level batching of relations. Knows the plan, the OData side and
//! the upstream; nothing of the GraphQL schema.

mod by_keys;
mod keyed;
mod levels;
mod list;
mod node;
pub mod order;

pub use by_keys::Reader;
pub use keyed::KeyColumns;
pub use levels::{too_many, Fetcher};
pub use list::{ListReader, ListRequest, ListRows};
pub use node::{Node, Related};
