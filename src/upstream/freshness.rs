//! How long the answers one request was built from stay fresh: the
//! earliest expiry of every upstream answer it used. A whole GraphQL
//! response may be reused that long and no longer, so it is never older
//! than the answers it was made of would be.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Freshness {
    /// `None` until an answer is recorded.
    until: Mutex<Option<Instant>>,
}

impl Freshness {
    /// Takes in one answer, fresh until `until`.
    pub fn record(&self, until: Instant) {
        let mut earliest = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *earliest = Some(earliest.map_or(until, |e| e.min(until)));
    }

    /// The earliest expiry of the answers recorded; `None`: no upstream
    /// answer was used.
    pub fn until(&self) -> Option<Instant> {
        *self.until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The oldest sync of the analytics replica among the answers a request
/// took from it (`extensions.replica.syncedAt`).
#[derive(Debug, Default)]
pub struct ReplicaSynced(Mutex<Option<chrono::DateTime<chrono::Utc>>>);

impl ReplicaSynced {
    pub fn record(&self, synced_at: chrono::DateTime<chrono::Utc>) {
        let mut oldest = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *oldest = Some(oldest.map_or(synced_at, |o| o.min(synced_at)));
    }

    pub fn get(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_expiry_wins() {
        let now = Instant::now();
        let freshness = Freshness::default();
        assert_eq!(freshness.until(), None);
        freshness.record(now + Duration::from_secs(30));
        freshness.record(now + Duration::from_secs(5));
        freshness.record(now + Duration::from_secs(60));
        assert_eq!(freshness.until(), Some(now + Duration::from_secs(5)));
    }
}
