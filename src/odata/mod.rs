//! OData v4 on the wire. Knows nothing of GraphQL: filters, query strings,
//! literal encoding, response decoding and `$metadata` reading, all pure.

pub mod apply;
pub mod dates;
pub mod dialect;
pub mod eval;
pub mod filter;
pub mod metadata;
pub mod query;
pub mod response;

pub use apply::{Aggregate, Apply, Method};
pub use dialect::{Capability, CapabilityOverrides, Dialect, DialectName};
pub use filter::{CompareOp, Filter, Literal, StringFn};
pub use metadata::Metadata;
pub use query::{CollectionQuery, EntityQuery, Expand, OrderBy};
pub use response::{decode_collection, decode_entity, error_message, CollectionPage, Row};

/// The randomised tests' generator.
#[cfg(test)]
pub(crate) mod random;

#[cfg(test)]
mod filter_fuzz;
