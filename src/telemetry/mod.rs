//! OpenTelemetry traces over OTLP, configured by the standard `OTEL_*`
//! environment variables and off without an endpoint. When off, every
//! helper here is one branch and nothing is allocated. `settings` reads
//! the environment, `tracer` holds the process's tracer, its batches
//! (`batch`) and exporter (`export`, through the gateway's own HTTP
//! client), and
//! `spans` makes the gateway's spans (server, upstream client, database, a
//! subscription's evaluation) and the cache markers.

mod batch;
mod export;
mod naming;
mod settings;
mod spans;
mod tracer;

pub use batch::BatchSettings;
pub use naming::{known_operation, operation};
pub use settings::{Protocol, Settings, TelemetryError};
pub use spans::{
    cache_marker, carried, client_span, db_span, end, evaluation_span, inject, response_cache_hit,
    trace_id, within, ClientSpan, DbSpan, ServerSpan,
};
pub use tracer::{enabled, init, Guard};
