//! How aggregates are answered: the configured limits and pushdown mode,
//! and the scan bound.

use crate::config::AggregateSettings;

pub use crate::config::Pushdown;

/// The configured limits (read through `Deref`) and the scan bound.
#[derive(Debug)]
pub struct Policy {
    limits: AggregateSettings,
    /// Most rows a scan may read (`max_scan_rows`, shared with lists).
    pub max_scan_rows: u64,
}

impl std::ops::Deref for Policy {
    type Target = AggregateSettings;

    fn deref(&self) -> &AggregateSettings {
        &self.limits
    }
}

impl Policy {
    pub fn new(config: &AggregateSettings, max_scan_rows: u64) -> Policy {
        Policy {
            limits: config.clone(),
            max_scan_rows,
        }
    }
}
