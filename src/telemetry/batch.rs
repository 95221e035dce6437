//! The batch span processor: ended spans are pushed on a queue under a
//! lock, and one task on the runtime exports them when a batch is full or
//! the schedule delay has passed. A span costs a push, not a wake-up of
//! the exporting task (the SDK's processors wake theirs for every span,
//! which costs more than the span itself on a cached request).

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How the batches are cut (`OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    pub schedule_delay: Duration,
    pub max_queue: usize,
    pub max_batch: usize,
}

/// The longest one export may take before it is given up.
const EXPORT_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Queue {
    spans: Mutex<Vec<SpanData>>,
    full: Notify,
    closed: AtomicBool,
    dropped: AtomicUsize,
}

#[derive(Debug)]
pub(super) struct Batcher {
    queue: Arc<Queue>,
    settings: BatchSettings,
    /// Told when the task has exported the last spans and stopped.
    stopped: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Batcher {
    /// Starts the exporting task on the current runtime.
    pub(super) fn start<E: SpanExporter + 'static>(
        exporter: E,
        settings: BatchSettings,
    ) -> Batcher {
        let queue = Arc::new(Queue {
            spans: Mutex::new(Vec::with_capacity(settings.max_batch)),
            full: Notify::new(),
            closed: AtomicBool::new(false),
            dropped: AtomicUsize::new(0),
        });
        let (stop_tx, stop_rx) = mpsc::channel();
        tokio::spawn(run(exporter, queue.clone(), settings, stop_tx));
        Batcher {
            queue,
            settings,
            stopped: Mutex::new(Some(stop_rx)),
        }
    }
}

fn lock(spans: &Mutex<Vec<SpanData>>) -> std::sync::MutexGuard<'_, Vec<SpanData>> {
    spans.lock().unwrap_or_else(|e| e.into_inner())
}

/// Exports batches until the processor shuts down, then what is left.
async fn run<E: SpanExporter>(
    exporter: E,
    queue: Arc<Queue>,
    settings: BatchSettings,
    stopped: mpsc::Sender<()>,
) {
    let mut next_flush = tokio::time::Instant::now() + settings.schedule_delay;
    loop {
        let closed = queue.closed.load(Ordering::Acquire);
        if !closed {
            let _ = tokio::time::timeout_at(next_flush, queue.full.notified()).await;
        }
        // Between two scheduled flushes only full batches go: under load
        // every export carries `max_batch` spans.
        let due = closed || tokio::time::Instant::now() >= next_flush;
        loop {
            let batch: Vec<SpanData> = {
                let mut spans = lock(&queue.spans);
                if !due && spans.len() < settings.max_batch {
                    break;
                }
                let take = spans.len().min(settings.max_batch);
                spans.drain(..take).collect()
            };
            if batch.is_empty() {
                break;
            }
            match tokio::time::timeout(EXPORT_LIMIT, exporter.export(batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "traces: an export failed"),
                Err(_) => tracing::warn!("traces: an export timed out"),
            }
        }
        if due {
            next_flush = tokio::time::Instant::now() + settings.schedule_delay;
        }
        if closed {
            break;
        }
    }
    let _ = exporter.shutdown();
    let dropped = queue.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "traces: spans dropped on a full queue (OTEL_BSP_MAX_QUEUE_SIZE)"
        );
    }
    let _ = stopped.send(());
}

impl SpanProcessor for Batcher {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() || self.queue.closed.load(Ordering::Relaxed) {
            return;
        }
        let len = {
            let mut spans = lock(&self.queue.spans);
            if spans.len() >= self.settings.max_queue {
                drop(spans);
                self.queue.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            spans.push(span);
            spans.len()
        };
        if len == self.settings.max_batch {
            self.queue.full.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.queue.full.notify_one();
        Ok(())
    }

    /// Exports what is queued and waits (blocking) for the task to stop.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.queue.closed.store(true, Ordering::Release);
        self.queue.full.notify_one();
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(stopped) = stopped else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        stopped
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }

    /// The exporter got the resource before it was handed to the task.
    fn set_resource(&mut self, _resource: &Resource) {}
}
