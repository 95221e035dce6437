//! The life of a GraphQL request over HTTP, one file per stage, in order:
//! `negotiate` (the response's media type), `params` (the GET or POST
//! parameters, persisted queries), `document` (parsed once, limits, no
//! mutation over GET), `identity` (the upstream caller), `execute`
//! (timeout, field errors, codes) and `respond` (body, status, metrics).
//! `error` is why a request fails as a whole: its code and its status.

pub mod document;
pub mod error;
pub mod execute;
pub mod identity;
pub mod negotiate;
pub mod params;
pub mod respond;
