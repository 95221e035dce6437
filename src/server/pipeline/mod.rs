//! The life of a GraphQL request over HTTP, one file per stage, in order:
//! `negotiate` (how the answer goes back: a WebSocket, an event stream,
//! the playground page, or a body in a media type), `params` (the GET or
//! POST parameters, with `persisted` queries), `identity` (the upstream
//! caller, with `service_auth` for the gateway's API keys, and `access`:
//! the keys and trusted documents in force), `rate_limit`
//! (the client's token bucket, before any parsing), `reuse` (a whole
//! response still fresh, answered as bytes), `document` (parsed once,
//! within `limits`, no mutation over GET), `execute` (timeout, field
//! errors, codes, introspection as `introspection` has it) and `respond`
//! (body, status, metrics, compressed as `encoding` negotiates). `nesting` measures
//! a text before anything parses it; `measures` a parsed document. `error`
//! is why a request fails as a whole: its code and its status.

pub mod access;
pub mod document;
pub mod encoding;
pub mod error;
pub mod execute;
pub mod identity;
mod introspection;
pub mod limits;
pub mod measures;
pub mod negotiate;
pub mod nesting;
pub mod params;
pub mod persisted;
pub mod rate_limit;
pub mod respond;
pub mod reuse;
pub mod service_auth;
