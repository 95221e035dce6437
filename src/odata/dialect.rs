//! What the upstream's OData implementation can do: the capability set the
//! planner splits filters against and the renderer writes literals for.
//! Presets name the two known kinds of server; single capabilities can be
//! narrowed (config, probes) or, by config only, widened.

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

impl Dialect {
    pub fn with(mut self, o: &CapabilityOverrides) -> Dialect {
        let set = |field: &mut bool, value: Option<bool>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut self.in_list, o.in_list);
        set(&mut self.not, o.not);
        set(&mut self.null_literal, o.null_literal);
        set(&mut self.ne_matches_null, o.ne_matches_null);
        set(&mut self.pattern_wildcards, o.pattern_wildcards);
        set(&mut self.count, o.count);
        set(&mut self.apply, o.apply);
        set(&mut self.expand, o.expand);
        set(&mut self.next_links, o.next_links);
        set(&mut self.quoted_dates, o.quoted_dates);
        self
    }

    /// The plain OData 4.0 rendering the fixtures and unit tests assume.
    pub fn odata4() -> Dialect {
        DialectName::Odata4.preset()
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        let flags = [
            ("in", self.in_list),
            ("not", self.not),
            ("null_literal", self.null_literal),
            ("ne_matches_null", self.ne_matches_null),
            ("pattern_wildcards", self.pattern_wildcards),
            ("count", self.count),
            ("apply", self.apply),
            ("expand", self.expand),
            ("next_links", self.next_links),
            ("quoted_dates", self.quoted_dates),
        ];
        let on: Vec<String> = flags
            .iter()
            .map(|(name, v)| format!("{name}={v}"))
            .collect();
        on.join(" ")
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
