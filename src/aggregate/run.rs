//! One aggregate, answered by the first engine that can: the local copy
//! (SQL), the upstream's `$apply` for what it filters exactly, else a scan
//! folded here. Each gives the same groups; they are sorted and cut alike.

use super::group::Group;
use super::order::finish;
use super::source::{Engine, Source};
use super::spec::Spec;
use super::{pushdown, scan};
use crate::error::GatewayError;
use crate::plan::residual::split;

/// The groups of `spec`, sorted and cut to `first`.
pub async fn run(source: &Source<'_>, spec: &Spec) -> Result<Vec<Group>, GatewayError> {
    let integers = source.metadata.and_then(|m| m.integers(spec.entity.name));
    let split = split(&spec.filter, source.dialect, integers);
    if split.is_false() {
        return Ok(Vec::new());
    }
    // `Cache-Control: no-cache` asks the upstream itself.
    if let Some(local) = source.local.filter(|_| source.caller.no_cache) {
        local.bypassed(source.caller, source.report, spec).await?;
    } else if let Some(local) = source.local {
        let max_groups = source.policy.max_groups;
        let answer = local
            .groups(source.caller, source.report, spec, max_groups)
            .await?;
        if let Some(groups) = answer {
            return Ok(answered(spec, Engine::Replica, groups));
        }
    }
    // The upstream aggregates only what it filters exactly.
    let pushed = if !split.has_residual() && pushdown::enabled(source) {
        let exact = Spec {
            filter: split.upstream.clone(),
            ..spec.clone()
        };
        pushdown::run(source, &exact).await?
    } else {
        None
    };
    Ok(match pushed {
        Some(groups) => answered(spec, Engine::Pushdown, groups),
        None => answered(spec, Engine::Scan, scan::run(source, spec, &split).await?),
    })
}

fn answered(spec: &Spec, engine: Engine, groups: Vec<Group>) -> Vec<Group> {
    tracing::debug!(
        entity = spec.entity.name,
        ?engine,
        groups = groups.len(),
        "aggregate"
    );
    finish(spec, groups)
}
