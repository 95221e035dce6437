//! Aggregate settings from the config, and whether the upstream takes
//! `$apply` (configured, or probed once per process).

use super::Source;
use crate::config::AggregateSettings;
use crate::error::GatewayError;
use crate::model::Entity;
use crate::odata::response::lenient_i64;
use crate::odata::{Apply, CollectionQuery};
use tokio::sync::OnceCell;

pub use crate::config::Pushdown;

/// The configured limits (read through `Deref`), the scan bound and the
/// probe's answer.
#[derive(Debug)]
pub struct Settings {
    limits: AggregateSettings,
    /// Most rows a scan may read (`max_scan_rows`, shared with lists).
    pub max_scan_rows: u64,
    probed: OnceCell<bool>,
}

impl std::ops::Deref for Settings {
    type Target = AggregateSettings;

    fn deref(&self) -> &AggregateSettings {
        &self.limits
    }
}

impl Settings {
    pub fn new(config: &AggregateSettings, max_scan_rows: u64) -> Settings {
        Settings {
            limits: config.clone(),
            max_scan_rows,
            probed: OnceCell::new(),
        }
    }

    /// Whether to try `$apply`: never when the dialect lacks it. In
    /// `auto`, the first aggregate probes the upstream; a clear refusal
    /// (400, 404, 500, 501, or an answer that ignores `$apply`) is kept for
    /// the life of the process, a passing fault (timeout, other 5xx) means
    /// a scan this time and a new probe next time.
    pub(super) async fn pushdown_enabled(
        &self,
        source: &Source<'_>,
        entity: &'static Entity,
    ) -> Result<bool, GatewayError> {
        if !source.dialect.apply {
            return Ok(false);
        }
        match self.pushdown {
            Pushdown::On => return Ok(true),
            Pushdown::Off => return Ok(false),
            Pushdown::Auto => {}
        }
        match self.probed.get_or_try_init(|| probe(source, entity)).await {
            Ok(supported) => Ok(*supported),
            Err(e) if e.is_refusal() => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "$apply probe failed; scanning this time");
                Ok(false)
            }
        }
    }
}

async fn probe(source: &Source<'_>, entity: &'static Entity) -> Result<bool, GatewayError> {
    let query = CollectionQuery::new(entity.name).top(1).apply(Apply {
        filter: None,
        group_by: Vec::new(),
        count_alias: Some("n".into()),
        aggregates: Vec::new(),
    });
    let answer = source
        .upstream
        .probe_query(source.caller, query, source.dialect)
        .await?;
    let supported = answer.is_some_and(|page| {
        page.rows
            .first()
            .and_then(|row| row.get("n"))
            .and_then(lenient_i64)
            .is_some()
    });
    tracing::info!(supported, "upstream $apply support probed");
    Ok(supported)
}
