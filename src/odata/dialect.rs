//! What the upstream's OData implementation can do: the capability set the
//! planner splits filters against and the renderer writes literals for.
//! Presets name the two known kinds of server and are the first guess;
//! probes then decide each capability, except those set in config.

use serde::{Deserialize, Serialize};

/// A preset capability set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DialectName {
    /// The real Live Agent service (the jaystack OData libraries over
    /// PostgreSQL): no `not`, no null literal, unescaped `LIKE` patterns,
    /// no `$count`, `$apply` or `$expand`, quoted date literals.
    Liveagent,
    /// A complete OData v4 server such as SAP CAP, with OData's null rule.
    Odata4,
}

/// The capability set in force. `Copy`: every renderer and planner takes it
/// by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dialect {
    pub name: DialectName,
    /// `p in (1,2)` is understood (else `or` chains).
    pub in_list: bool,
    /// `not (...)` is evaluated (the jaystack parser drops it or fails).
    pub not: bool,
    /// `p eq null` / `p ne null` test for null (else they match nothing).
    pub null_literal: bool,
    /// `p ne v` and `not (...)` match rows whose `p` is null (OData's rule;
    /// the contract's SQL rule needs a `p ne null` guard there).
    pub ne_matches_null: bool,
    /// `contains`/`startswith`/`endswith` read `%`, `_` and `\` in the
    /// value as `LIKE` wildcards and escape (values holding them are then
    /// checked in the gateway).
    pub pattern_wildcards: bool,
    /// `$count=true` returns `@odata.count`.
    pub count: bool,
    /// `$apply` aggregation.
    pub apply: bool,
    /// `$expand` of navigation properties.
    pub expand: bool,
    /// Short pages come with `@odata.nextLink`.
    pub next_links: bool,
    /// DateTimeOffset literals are written quoted (`'2021-11-23T00:00:00Z'`),
    /// the form the Live Agent docs use and the jaystack parser reads for
    /// every value.
    pub quoted_dates: bool,
}

impl DialectName {
    pub fn preset(self) -> Dialect {
        let complete = self == DialectName::Odata4;
        Dialect {
            name: self,
            in_list: false,
            not: complete,
            null_literal: complete,
            ne_matches_null: complete,
            pattern_wildcards: !complete,
            count: complete,
            apply: complete,
            expand: complete,
            next_links: complete,
            quoted_dates: !complete,
        }
    }
}

/// Single capabilities set by config, over the preset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverrides {
    pub in_list: Option<bool>,
    pub not: Option<bool>,
    pub null_literal: Option<bool>,
    pub ne_matches_null: Option<bool>,
    pub pattern_wildcards: Option<bool>,
    pub count: Option<bool>,
    pub apply: Option<bool>,
    pub expand: Option<bool>,
    pub next_links: Option<bool>,
    pub quoted_dates: Option<bool>,
}

/// One capability of the set, by name: what the probes, the config and
/// the `/capabilities` report go through one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    InList,
    Not,
    NullLiteral,
    NeMatchesNull,
    PatternWildcards,
    Count,
    Apply,
    Expand,
    NextLinks,
    QuotedDates,
}

impl Capability {
    pub const ALL: [Capability; 10] = [
        Capability::InList,
        Capability::Not,
        Capability::NullLiteral,
        Capability::NeMatchesNull,
        Capability::PatternWildcards,
        Capability::Count,
        Capability::Apply,
        Capability::Expand,
        Capability::NextLinks,
        Capability::QuotedDates,
    ];

    /// The name in config and JSON (`in_list`, `ne_matches_null` …).
    pub fn name(self) -> &'static str {
        match self {
            Capability::InList => "in_list",
            Capability::Not => "not",
            Capability::NullLiteral => "null_literal",
            Capability::NeMatchesNull => "ne_matches_null",
            Capability::PatternWildcards => "pattern_wildcards",
            Capability::Count => "count",
            Capability::Apply => "apply",
            Capability::Expand => "expand",
            Capability::NextLinks => "next_links",
            Capability::QuotedDates => "quoted_dates",
        }
    }
}

impl Dialect {
    pub fn get(&self, capability: Capability) -> bool {
        *self.field(capability)
    }

    pub fn set(&mut self, capability: Capability, value: bool) {
        *self.field_mut(capability) = value;
    }

    fn field(&self, capability: Capability) -> &bool {
        match capability {
            Capability::InList => &self.in_list,
            Capability::Not => &self.not,
            Capability::NullLiteral => &self.null_literal,
            Capability::NeMatchesNull => &self.ne_matches_null,
            Capability::PatternWildcards => &self.pattern_wildcards,
            Capability::Count => &self.count,
            Capability::Apply => &self.apply,
            Capability::Expand => &self.expand,
            Capability::NextLinks => &self.next_links,
            Capability::QuotedDates => &self.quoted_dates,
        }
    }

    fn field_mut(&mut self, capability: Capability) -> &mut bool {
        match capability {
            Capability::InList => &mut self.in_list,
            Capability::Not => &mut self.not,
            Capability::NullLiteral => &mut self.null_literal,
            Capability::NeMatchesNull => &mut self.ne_matches_null,
            Capability::PatternWildcards => &mut self.pattern_wildcards,
            Capability::Count => &mut self.count,
            Capability::Apply => &mut self.apply,
            Capability::Expand => &mut self.expand,
            Capability::NextLinks => &mut self.next_links,
            Capability::QuotedDates => &mut self.quoted_dates,
        }
    }

    pub fn with(mut self, o: &CapabilityOverrides) -> Dialect {
        for capability in Capability::ALL {
            if let Some(v) = o.get(capability) {
                self.set(capability, v);
            }
        }
        self
    }

    /// The plain OData 4.0 rendering the fixtures and unit tests assume.
    pub fn odata4() -> Dialect {
        DialectName::Odata4.preset()
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let on: Vec<String> = Capability::ALL
            .iter()
            .map(|c| format!("{}={}", c.name(), self.get(*c)))
            .collect();
        on.join(" ")
    }
}

impl CapabilityOverrides {
    /// The value set in config, if any.
    pub fn get(&self, capability: Capability) -> Option<bool> {
        match capability {
            Capability::InList => self.in_list,
            Capability::Not => self.not,
            Capability::NullLiteral => self.null_literal,
            Capability::NeMatchesNull => self.ne_matches_null,
            Capability::PatternWildcards => self.pattern_wildcards,
            Capability::Count => self.count,
            Capability::Apply => self.apply,
            Capability::Expand => self.expand,
            Capability::NextLinks => self.next_links,
            Capability::QuotedDates => self.quoted_dates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_differ_where_the_servers_do() {
        let la = DialectName::Liveagent.preset();
        let full = DialectName::Odata4.preset();
        assert!(!la.not && !la.null_literal && !la.count && !la.apply && !la.expand);
        assert!(la.quoted_dates && la.pattern_wildcards);
        assert!(full.not && full.null_literal && full.count && full.apply && full.expand);
        assert!(full.ne_matches_null && !full.quoted_dates);
    }

    #[test]
    fn overrides_set_single_capabilities() {
        let o: CapabilityOverrides = toml::from_str("count = true\nnot = false").expect("toml");
        let d = DialectName::Liveagent.preset().with(&o);
        assert!(d.count && !d.not && !d.apply);
        assert!(toml::from_str::<CapabilityOverrides>("cuont = true").is_err());
    }
}
