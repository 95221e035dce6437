//! Self-verifying probes: small queries whose right answer is known,
//! sent straight to the upstream (no cache, nobody's explain), that
//! decide each capability (`run`, with `checks` one per capability on
//! rows of a `sample`) and find the page cap (`page_cap`). The front door
//! runs them once per process and again when the upstream starts refusing
//! what it took.

mod ask;
mod checks;
mod findings;
mod page_cap;
mod run;
mod sample;

pub use ask::{Probe, ProbeAnswer, PROBED};
pub use findings::{Findings, Verdict};
pub use page_cap::search as page_cap;
pub use run::{run, Subject};
