//! The process's tracer: set once at start when an endpoint is named,
//! with the batch exporter flushed at shutdown.

use super::batch::Batcher;
use super::export;
use super::settings::{Settings, TelemetryError};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter as _};
use opentelemetry_sdk::Resource;
use std::sync::OnceLock;
use std::time::Duration;

/// The tracer and the W3C `traceparent` codec, set once at start when an
/// endpoint is configured.
pub(super) struct Traces {
    pub(super) tracer: SdkTracer,
    pub(super) propagator: TraceContextPropagator,
}

static TRACES: OnceLock<Traces> = OnceLock::new();

pub(super) fn traces() -> Option<&'static Traces> {
    TRACES.get()
}

/// Whether spans are made and exported.
pub fn enabled() -> bool {
    TRACES.get().is_some()
}

/// Flushes the spans still queued when the process ends.
pub struct Guard {
    provider: SdkTracerProvider,
}

/// How long the last export may hold the exit.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

impl Guard {
    /// Exports what is queued and stops the exporter. The batch processor
    /// waits on the runtime, so the wait runs off its worker threads.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_LIMIT));
        match done.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "traces: the last export failed"),
            Err(e) => tracing::warn!(error = %e, "traces: the last export did not run"),
        }
    }
}

/// Starts exporting when the environment names an endpoint (within a
/// tokio runtime: the batch processor runs on it). The sampler comes from
/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, read by the SDK
/// (default `parentbased_always_on`).
pub fn init() -> Result<Option<Guard>, TelemetryError> {
    let Some(settings) = Settings::from_env(|name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    let resource = Resource::builder()
        .with_service_name(settings.service_name)
        .build();
    let mut exporter = export::exporter(settings.protocol)?;
    exporter.set_resource(&resource);
    let processor = Batcher::start(exporter, settings.batch);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("liveagent-graphql");
    let traces = Traces {
        tracer,
        propagator: TraceContextPropagator::new(),
    };
    if TRACES.set(traces).is_err() {
        // Started twice in one process: the first tracer stays.
        return Ok(None);
    }
    Ok(Some(Guard { provider }))
}
