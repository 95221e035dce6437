//! What the probes found, capability by capability: a value where a probe
//! could tell, and what it saw either way (for the log and
//! `/capabilities`).

use crate::odata::Capability;
use std::collections::BTreeMap;

/// One capability's probe: `value` is `None` when the probe could not
/// tell (no row to ask about, a construct it needs refused); `seen` says
/// what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub value: Option<bool>,
    pub seen: String,
}

impl Verdict {
    pub fn yes(seen: impl Into<String>) -> Verdict {
        Verdict {
            value: Some(true),
            seen: seen.into(),
        }
    }

    pub fn no(seen: impl Into<String>) -> Verdict {
        Verdict {
            value: Some(false),
            seen: seen.into(),
        }
    }

    pub fn unknown(seen: impl Into<String>) -> Verdict {
        Verdict {
            value: None,
            seen: seen.into(),
        }
    }

    /// `yes` when `right`, else `no`, with the same description.
    pub fn right_if(right: bool, seen: impl Into<String>) -> Verdict {
        Verdict {
            value: Some(right),
            seen: seen.into(),
        }
    }
}

/// Every capability's verdict from one probe run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    verdicts: BTreeMap<Capability, Verdict>,
}

impl Findings {
    pub fn insert(&mut self, capability: Capability, verdict: Verdict) {
        self.verdicts.insert(capability, verdict);
    }

    pub fn get(&self, capability: Capability) -> Option<&Verdict> {
        self.verdicts.get(&capability)
    }

    /// The value the probe found, when it could tell.
    pub fn value(&self, capability: Capability) -> Option<bool> {
        self.get(capability).and_then(|v| v.value)
    }
}
