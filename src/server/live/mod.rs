//! The live transports at `/graphql`, chosen by the negotiate stage:
//! GraphQL over WebSocket (`graphql-transport-ws`, `ws.rs`) on a GET that
//! asks for an upgrade, and GraphQL over SSE (distinct connections,
//! `sse.rs`) on a POST that accepts `text/event-stream`. Both start
//! operations the same way (`start.rs`), send execution results as JSON
//! text (`payload.rs`) and keep idle connections open (`heartbeat.rs`);
//! `evaluate.rs` is how a cohort evaluates its operation.

mod evaluate;
mod heartbeat;
mod payload;
pub mod sse;
mod start;
pub mod ws;
mod ws_messages;
mod ws_operation;

pub use evaluate::evaluator;
