//! What one client request reports back beside its data, filled by every
//! layer that serves it: whether an answer was served stale, how long the
//! answers it was built from stay fresh, the analytics replica's sync time,
//! and, when the client asked (`X-Explain`), the explain record. It is
//! output only: nothing that decides what is sent upstream or cached reads
//! it, so a copy of a `Caller` never has to remember to reset it.

mod explain;

pub use explain::{Explain, Served};

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Report {
    stale: AtomicBool,
    /// The upstream refused the credential (401/403) for an answer.
    refused: AtomicBool,
    /// The earliest expiry of the upstream answers used (`None`: none).
    fresh_until: Mutex<Option<Instant>>,
    /// The oldest replica sync among the answers taken from it.
    replica_synced: Mutex<Option<DateTime<Utc>>>,
    explain: Option<Explain>,
}

impl Report {
    /// A report that keeps an explain record when `explain` is set.
    pub fn new(explain: bool) -> Report {
        Report {
            explain: explain.then(Explain::default),
            ..Report::default()
        }
    }

    /// An answer was served from an expired entry (stale-if-error).
    pub fn served_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// The upstream refused the credential (401 or 403) for an answer: a
    /// live subscription ends rather than ask again with it.
    pub fn credential_refused(&self) {
        self.refused.store(true, Ordering::Relaxed);
    }

    pub fn was_refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes in one answer, fresh until `until`: a whole response may be
    /// reused as long as the earliest of them and no longer.
    pub fn fresh_until(&self, until: Instant) {
        let mut earliest = self.fresh_until.lock().unwrap_or_else(|e| e.into_inner());
        *earliest = Some(earliest.map_or(until, |e| e.min(until)));
    }

    /// The earliest expiry recorded; `None`: no upstream answer was used.
    pub fn freshness(&self) -> Option<Instant> {
        *self.fresh_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An answer came from the analytics replica as synced at `synced_at`.
    pub fn replica_synced(&self, synced_at: DateTime<Utc>) {
        let mut oldest = self
            .replica_synced
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *oldest = Some(oldest.map_or(synced_at, |o| o.min(synced_at)));
    }

    /// `extensions.replica.syncedAt`: the oldest sync of the answers used.
    pub fn synced_at(&self) -> Option<DateTime<Utc>> {
        *self
            .replica_synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The explain record, when the client asked for one.
    pub fn explain(&self) -> Option<&Explain> {
        self.explain.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_expiry_and_the_oldest_sync_win() {
        let now = Instant::now();
        let report = Report::default();
        assert_eq!(report.freshness(), None);
        report.fresh_until(now + Duration::from_secs(30));
        report.fresh_until(now + Duration::from_secs(5));
        report.fresh_until(now + Duration::from_secs(60));
        assert_eq!(report.freshness(), Some(now + Duration::from_secs(5)));
        let t = Utc::now();
        report.replica_synced(t);
        report.replica_synced(t - chrono::Duration::seconds(3));
        assert_eq!(report.synced_at(), Some(t - chrono::Duration::seconds(3)));
        assert!(!report.is_stale() && report.explain().is_none());
        report.served_stale();
        assert!(report.is_stale());
        assert!(Report::new(true).explain().is_some());
    }
}
