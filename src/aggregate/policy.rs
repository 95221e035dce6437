//! How aggregates are answered: the configured limits and pushdown mode,
//! the scan bound, and whether the upstream takes `$apply` once probed.

use crate::config::AggregateSettings;
use tokio::sync::OnceCell;

pub use crate::config::Pushdown;

/// The configured limits (read through `Deref`), the scan bound and the
/// `$apply` probe's answer.
#[derive(Debug)]
pub struct Policy {
    limits: AggregateSettings,
    /// Most rows a scan may read (`max_scan_rows`, shared with lists).
    pub max_scan_rows: u64,
    probed: OnceCell<bool>,
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
            probed: OnceCell::new(),
        }
    }

    /// The `$apply` probe's answer, once probed (see `pushdown::enabled`).
    pub(super) fn apply_probed(&self) -> &OnceCell<bool> {
        &self.probed
    }
}
