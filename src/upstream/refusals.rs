//! The upstream's refusals of requests the gateway built (400, 404, 500,
//! 501): counted, so that the capability probes look again once the
//! upstream starts refusing what it took.

use std::sync::atomic::{AtomicU64, Ordering};

/// Whether an answer's status refuses the request itself (its syntax or a
/// construct in it) rather than the credential or the upstream's health.
pub fn is_refusal(status: u16) -> bool {
    matches!(status, 400 | 404 | 500 | 501)
}

#[derive(Debug, Default)]
pub struct Refusals(AtomicU64);

impl Refusals {
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals since start.
    pub fn seen(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
