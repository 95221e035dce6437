//! The capability set and the page cap in force, and why. The preset
//! (`upstream_dialect`) is the first guess; the probes decide each
//! capability, except one set in config (`[upstream_capabilities]`, or
//! `in_operator` for `in`), which no probe changes; with probes off the
//! preset stands. The page cap in force is the largest `$top` the
//! upstream accepted, at most `upstream_page_cap`.

use super::probes::{Findings, Verdict};
use crate::config::{InOperator, UpstreamSettings};
use crate::odata::{Capability, CapabilityOverrides, Dialect, DialectName, Metadata};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Least time between two probe runs after refusals, so that a client
/// whose queries the upstream refuses cannot keep the probes busy.
const REPROBE_AFTER: Duration = Duration::from_secs(30);
/// Least time before the probes run again after a first run failed (the
/// preset is in force meanwhile).
const RETRY_AFTER_FAULT: Duration = Duration::from_secs(5);

/// The start-up log: per capability the preset's value, the config's, the
/// value in force until the probes run, and why; the page cap alike.
pub fn log_capabilities(settings: &UpstreamSettings) {
    Capabilities::new(settings).log("upstream capabilities", None);
}

pub(super) struct Capabilities {
    preset: Dialect,
    configured: CapabilityOverrides,
    in_operator: InOperator,
    pub probes: bool,
    configured_cap: u64,
    cap: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    findings: Option<Findings>,
    /// The upstream's refusals counted when the probes last ran.
    refusals_at_run: u64,
    /// When a run last started with findings in force already.
    last_rerun: Option<Instant>,
    /// When a first run last failed.
    last_fault: Option<Instant>,
    /// What the last page cap search found (`None`: nothing yet, or even
    /// `$top=1` refused).
    cap_found: Option<u64>,
}

/// One capability: its preset value, what config and the probe say, the
/// value in force and why.
pub(super) struct Resolved<'a> {
    pub preset: bool,
    pub configured: Option<bool>,
    pub probe: Option<&'a Verdict>,
    pub in_force: bool,
    pub why: &'static str,
}

impl Capabilities {
    pub fn new(settings: &UpstreamSettings) -> Capabilities {
        Capabilities {
            preset: settings.dialect,
            configured: settings.capabilities.clone(),
            in_operator: settings.in_operator,
            probes: settings.probes,
            configured_cap: settings.page_cap,
            cap: AtomicU64::new(settings.page_cap),
            state: Mutex::new(State::default()),
        }
    }

    /// The largest `$top` of one upstream request now.
    pub fn page_cap(&self) -> u64 {
        self.cap.load(Ordering::Relaxed)
    }

    pub fn configured_cap(&self) -> u64 {
        self.configured_cap
    }

    /// Takes what a page cap search found; the cap in force.
    pub fn learn_cap(&self, found: Option<u64>) -> u64 {
        if let Some(cap) = found {
            self.cap
                .store(cap.clamp(1, self.configured_cap), Ordering::Relaxed);
        }
        let mut state = self.lock();
        state.cap_found = found.or(state.cap_found);
        self.page_cap()
    }

    /// Whether the probes should run before this request: never run yet
    /// (and not failed just now), or the upstream refused requests since
    /// they last ran (and they have not run again for a while).
    pub fn probes_due(&self, refusals: u64) -> bool {
        if !self.probes {
            return false;
        }
        let state = self.lock();
        let past = |t: Option<Instant>, wait| t.is_none_or(|t| t.elapsed() >= wait);
        match &state.findings {
            None => past(state.last_fault, RETRY_AFTER_FAULT),
            Some(_) => refusals > state.refusals_at_run && past(state.last_rerun, REPROBE_AFTER),
        }
    }

    /// A run starts: one that runs again counts against `REPROBE_AFTER`
    /// whatever it finds.
    pub fn run_started(&self) {
        let mut state = self.lock();
        if state.findings.is_some() {
            state.last_rerun = Some(Instant::now());
        }
    }

    /// A run failed (a fault that may pass): a first one is tried again
    /// after `RETRY_AFTER_FAULT`.
    pub fn run_failed(&self) {
        let mut state = self.lock();
        if state.findings.is_none() {
            state.last_fault = Some(Instant::now());
        }
    }

    /// Keeps a probe run's findings.
    pub fn record(&self, findings: Findings, refusals: u64) {
        let mut state = self.lock();
        state.findings = Some(findings);
        state.refusals_at_run = refusals;
    }

    /// The capability set in force for a request.
    pub fn in_force(&self, metadata: Option<&Metadata>) -> Dialect {
        let state = self.lock();
        let mut dialect = self.preset;
        for capability in Capability::ALL {
            let value = self.resolve(capability, &state, metadata).in_force;
            dialect.set(capability, value);
        }
        dialect
    }

    fn resolve<'a>(
        &self,
        capability: Capability,
        state: &'a State,
        metadata: Option<&Metadata>,
    ) -> Resolved<'a> {
        let mut preset = self.preset.get(capability);
        if capability == Capability::InList {
            preset = preset
                || (self.preset.name == DialectName::Odata4
                    && metadata.is_some_and(Metadata::supports_in));
        }
        let configured = match (capability, self.in_operator) {
            (Capability::InList, InOperator::Or) => Some(false),
            (Capability::InList, InOperator::In) => Some(true),
            _ => self.configured.get(capability),
        };
        let probe = state.findings.as_ref().and_then(|f| f.get(capability));
        let found = state.findings.as_ref().and_then(|f| f.value(capability));
        let (in_force, why) = match (configured, found) {
            (Some(v), _)
                if capability == Capability::InList && self.in_operator != InOperator::Auto =>
            {
                (v, "set by in_operator")
            }
            (Some(v), _) => (v, "set in config (upstream_capabilities)"),
            _ if !self.probes => (preset, "the preset: probes are off"),
            (None, Some(v)) => (v, "probed"),
            (None, None) if state.findings.is_none() => (preset, "the preset: not probed yet"),
            (None, None) => (preset, "the preset: the probe could not tell"),
        };
        Resolved {
            preset,
            configured,
            probe,
            in_force,
            why,
        }
    }

    /// `/capabilities`: per capability the preset's value, the config's,
    /// the probe's result, the value in force and why; the page cap alike.
    pub fn to_json(&self, metadata: Option<&Metadata>) -> Value {
        let state = self.lock();
        let mut each = serde_json::Map::new();
        for capability in Capability::ALL {
            let r = self.resolve(capability, &state, metadata);
            each.insert(
                capability.name().into(),
                json!({
                    "preset": r.preset,
                    "configured": r.configured,
                    "probe": r.probe.map(|v| json!({"value": v.value, "seen": v.seen})),
                    "in_force": r.in_force,
                    "why": r.why,
                }),
            );
        }
        drop(state);
        json!({
            "dialect": self.preset.name,
            "in_operator": self.in_operator,
            "probes": self.probes,
            "probed": self.lock().findings.is_some(),
            "configured": self.preset.with(&self.configured),
            "in_force": self.in_force(metadata),
            "capabilities": each,
            "page_cap": self.page_cap_json(),
        })
    }

    fn page_cap_json(&self) -> Value {
        let found = self.lock().cap_found;
        let in_force = self.page_cap();
        let why = match found {
            Some(_) if in_force < self.configured_cap => "the largest $top the upstream accepted",
            Some(_) => "configured; the upstream accepted it",
            None => "configured; not probed",
        };
        json!({
            "configured": self.configured_cap,
            "probed": found,
            "in_force": in_force,
            "why": why,
        })
    }

    /// One log line per capability (at start, and after each probe run).
    pub fn log(&self, message: &'static str, metadata: Option<&Metadata>) {
        let state = self.lock();
        for capability in Capability::ALL {
            let r = self.resolve(capability, &state, metadata);
            tracing::info!(
                capability = capability.name(),
                preset = r.preset,
                configured = ?r.configured,
                probe = ?r.probe.and_then(|v| v.value),
                seen = r.probe.map(|v| v.seen.as_str()).unwrap_or("-"),
                in_force = r.in_force,
                why = r.why,
                "{message}"
            );
        }
        tracing::info!(
            dialect = ?self.preset.name,
            probes = self.probes,
            configured = self.configured_cap,
            probed = ?state.cap_found,
            in_force = self.page_cap(),
            "{message}: page cap"
        );
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Whole values only are written under the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn capabilities(config: Config) -> Capabilities {
        let settings = config.validate().expect("valid");
        Capabilities::new(&settings.upstream)
    }

    fn found(values: &[(Capability, bool)]) -> Findings {
        let mut findings = Findings::default();
        for (c, v) in values {
            findings.insert(*c, Verdict::right_if(*v, "probed"));
        }
        findings
    }

    #[test]
    fn a_failed_first_run_waits_a_little() {
        let caps = capabilities(Config::default());
        caps.run_started();
        caps.run_failed();
        assert!(!caps.probes_due(0), "the preset meanwhile");
    }

    #[test]
    fn probes_widen_and_narrow_but_never_change_the_config() {
        let caps = capabilities(Config {
            upstream_capabilities: CapabilityOverrides {
                not: Some(false),
                ..CapabilityOverrides::default()
            },
            ..Config::default()
        });
        let preset = DialectName::Liveagent.preset();
        assert_eq!(
            caps.in_force(None),
            Dialect {
                not: false,
                ..preset
            }
        );
        assert!(caps.probes_due(0));
        caps.record(
            found(&[
                (Capability::Not, true),
                (Capability::Count, true),
                (Capability::QuotedDates, false),
            ]),
            0,
        );
        let d = caps.in_force(None);
        assert!(!d.not, "set in config");
        assert!(d.count && !d.quoted_dates, "widened and narrowed");
        assert!(!d.in_list, "not found: the preset");
        assert!(!caps.probes_due(0));
        assert!(caps.probes_due(1), "the upstream refused since");
        caps.run_started();
        caps.record(found(&[]), 1);
        assert!(!caps.probes_due(2), "not again right away");
        let json = caps.to_json(None);
        assert_eq!(
            json["capabilities"]["not"]["why"],
            "set in config (upstream_capabilities)"
        );
        assert_eq!(
            json["capabilities"]["count"]["why"],
            "the preset: the probe could not tell"
        );
    }

    #[test]
    fn probes_off_keep_the_preset_and_in_operator_decides_in() {
        let caps = capabilities(Config {
            upstream_probes: false,
            in_operator: InOperator::In,
            upstream_dialect: DialectName::Odata4,
            ..Config::default()
        });
        assert!(!caps.probes_due(5));
        caps.record(
            found(&[(Capability::Count, false), (Capability::InList, false)]),
            0,
        );
        let d = caps.in_force(None);
        assert!(d.count && d.in_list);
        assert_eq!(
            caps.to_json(None)["capabilities"]["in_list"]["why"],
            "set by in_operator"
        );
    }

    #[test]
    fn the_page_cap_is_learned_at_most_the_configured() {
        let caps = capabilities(Config {
            upstream_page_cap: 5000,
            ..Config::default()
        });
        assert_eq!(caps.page_cap(), 5000);
        assert_eq!(caps.learn_cap(None), 5000);
        assert_eq!(caps.learn_cap(Some(1000)), 1000);
        assert_eq!(caps.learn_cap(Some(20_000)), 5000);
        let json = caps.to_json(None);
        assert_eq!(json["page_cap"]["configured"], 5000);
        assert_eq!(json["page_cap"]["in_force"], 5000);
    }
}
