//! Query strings for collection and key requests. Every value is
//! percent-encoded (spaces as `%20`, `+` as `%2B`); parameters come in a fixed
//! order so that equal queries give equal URLs (cache keys, logs, tests).

use super::apply::Apply;
use super::dialect::Dialect;
pub use super::filter::encode;
use super::filter::Filter;

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub property: &'static str,
    pub descending: bool,
}

/// `$expand=navigation($select=...;$filter=...;$orderby=...;$top=...;$expand=...)`
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub navigation: &'static str,
    pub select: Vec<&'static str>,
    pub filter: Option<Filter>,
    pub order_by: Vec<OrderBy>,
    pub top: Option<u64>,
    pub expand: Vec<Expand>,
}

impl Expand {
    /// Percent-encoded, like every query value.
    fn render(&self, dialect: Dialect) -> String {
        let mut options = Vec::new();
        if !self.select.is_empty() {
            options.push(format!("$select={}", encode(&self.select.join(","))));
        }
        if let Some(filter) = &self.filter {
            options.push(format!("$filter={}", filter.to_url(dialect)));
        }
        if !self.order_by.is_empty() {
            options.push(format!(
                "$orderby={}",
                encode(&render_order(&self.order_by))
            ));
        }
        if let Some(top) = self.top {
            options.push(format!("$top={top}"));
        }
        if !self.expand.is_empty() {
            options.push(format!("$expand={}", render_expands(&self.expand, dialect)));
        }
        format!("{}({})", self.navigation, options.join(";"))
    }
}

/// Percent-encoded `$expand` value.
pub fn render_expands(expands: &[Expand], dialect: Dialect) -> String {
    expands
        .iter()
        .map(|e| e.render(dialect))
        .collect::<Vec<_>>()
        .join(",")
}

fn render_order(order_by: &[OrderBy]) -> String {
    order_by
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o.property,
                if o.descending { "desc" } else { "asc" }
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectionQuery {
    pub entity_set: &'static str,
    pub select: Vec<&'static str>,
    pub expand: Vec<Expand>,
    pub filter: Option<Filter>,
    pub order_by: Vec<OrderBy>,
    pub top: u64,
    pub skip: u64,
    pub count: bool,
    /// `$apply` (aggregation); `$top`/`$skip` then page its result.
    pub apply: Option<Apply>,
}

/// Builder: `CollectionQuery::new("Conversation").select(cols).top(51)`;
/// everything not set is empty (no filter, no order, `$top=0`, `$skip=0`).
impl CollectionQuery {
    pub fn new(entity_set: &'static str) -> Self {
        CollectionQuery {
            entity_set,
            ..Default::default()
        }
    }

    pub fn select(self, select: Vec<&'static str>) -> Self {
        CollectionQuery { select, ..self }
    }

    pub fn expand(self, expand: Vec<Expand>) -> Self {
        CollectionQuery { expand, ..self }
    }

    /// `Filter::True` sends no `$filter`.
    pub fn filter(self, filter: Filter) -> Self {
        let filter = (filter != Filter::True).then_some(filter);
        CollectionQuery { filter, ..self }
    }

    pub fn order_by(self, order_by: Vec<OrderBy>) -> Self {
        CollectionQuery { order_by, ..self }
    }

    pub fn top(self, top: u64) -> Self {
        CollectionQuery { top, ..self }
    }

    pub fn skip(self, skip: u64) -> Self {
        CollectionQuery { skip, ..self }
    }

    pub fn count(self, count: bool) -> Self {
        CollectionQuery { count, ..self }
    }

    pub fn apply(self, apply: Apply) -> Self {
        CollectionQuery {
            apply: Some(apply),
            ..self
        }
    }

    /// Path and query string relative to the service root, e.g.
    /// `Conversation?$select=id&$top=50&$skip=0`.
    pub fn to_relative_url(&self, dialect: Dialect) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(apply) = &self.apply {
            params.push(("$apply", apply.to_url(dialect)));
        }
        params.extend(shape_params(&self.select, &self.expand, dialect));
        if let Some(filter) = &self.filter {
            params.push(("$filter", filter.to_url(dialect)));
        }
        if !self.order_by.is_empty() {
            params.push(("$orderby", encode(&render_order(&self.order_by))));
        }
        params.push(("$top", self.top.to_string()));
        params.push(("$skip", self.skip.to_string()));
        // A dialect without `$count` ignores or refuses it: never sent.
        if self.count && dialect.count {
            params.push(("$count", "true".to_string()));
        }
        format!("{}?{}", self.entity_set, join_params(&params))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntityQuery {
    pub entity_set: &'static str,
    pub key: i64,
    pub select: Vec<&'static str>,
    pub expand: Vec<Expand>,
}

impl EntityQuery {
    /// `Conversation(7)?$select=id,status&$top=1&$skip=0`: Live Agent's own
    /// examples send `$top`/`$skip` on key lookups too.
    pub fn to_relative_url(&self, dialect: Dialect) -> String {
        let mut params = shape_params(&self.select, &self.expand, dialect);
        params.push(("$top", "1".into()));
        params.push(("$skip", "0".into()));
        format!("{}({})?{}", self.entity_set, self.key, join_params(&params))
    }
}

/// `$select` and `$expand` (percent-encoded), shared by collection and key requests.
fn shape_params(
    select: &[&str],
    expand: &[Expand],
    dialect: Dialect,
) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if !select.is_empty() {
        params.push(("$select", encode(&select.join(","))));
    }
    if !expand.is_empty() {
        params.push(("$expand", render_expands(expand, dialect)));
    }
    params
}

/// Values come percent-encoded: string literals inside `$filter` are
/// encoded more strictly than the expression around them.
fn join_params(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::filter::{CompareOp, Literal};

    #[test]
    fn awkward_strings_are_percent_encoded() {
        assert_eq!(
            encode("content eq 'it''s 100% \"ok\" & + # 😀'"),
            "content%20eq%20%27it%27%27s%20100%25%20%22ok%22%20%26%20%2B%20%23%20%F0%9F%98%80%27"
        );
    }

    #[test]
    fn collection_query_has_top_skip_and_fixed_parameter_order() {
        let q = CollectionQuery::new("Conversation")
            .select(vec!["id", "status"])
            .filter(Filter::Compare {
                property: "status",
                op: CompareOp::Eq,
                value: Literal::Int(1),
            })
            .order_by(vec![
                OrderBy {
                    property: "created_at",
                    descending: true,
                },
                OrderBy {
                    property: "id",
                    descending: false,
                },
            ])
            .top(11)
            .skip(20)
            .count(true);
        assert_eq!(
            q.to_relative_url(Dialect::odata4()),
            "Conversation?$select=id,status&$filter=status%20eq%201&$orderby=created_at%20desc,id%20asc&$top=11&$skip=20&$count=true"
        );
    }

    #[test]
    fn apply_comes_first_and_is_percent_encoded() {
        use crate::odata::apply::{Aggregate, Method};
        let q = CollectionQuery::new("ReportingEvent")
            .order_by(vec![OrderBy {
                property: "user_id",
                descending: false,
            }])
            .top(10001)
            .apply(Apply {
                filter: Some(Filter::Compare {
                    property: "name",
                    op: CompareOp::Eq,
                    value: Literal::String("a+b".into()),
                }),
                group_by: vec!["user_id"],
                count_alias: Some("n".into()),
                aggregates: vec![Aggregate {
                    property: "value",
                    method: Method::Sum,
                    alias: "sum_value".into(),
                }],
            });
        assert_eq!(
            q.to_relative_url(Dialect::odata4()),
            "ReportingEvent?$apply=filter(name%20eq%20%27a%2Bb%27)/groupby((user_id),aggregate($count%20as%20n,value%20with%20sum%20as%20sum_value))&$orderby=user_id%20asc&$top=10001&$skip=0"
        );
    }

    #[test]
    fn key_lookup_uses_the_key_segment() {
        let q = EntityQuery {
            entity_set: "Inbox",
            key: 7,
            select: vec!["id", "name"],
            expand: vec![],
        };
        assert_eq!(
            q.to_relative_url(Dialect::odata4()),
            "Inbox(7)?$select=id,name&$top=1&$skip=0"
        );
    }

    #[test]
    fn nested_expands_render_their_options() {
        let inbox = Expand {
            navigation: "inbox",
            select: vec!["id", "name"],
            filter: None,
            order_by: vec![],
            top: None,
            expand: vec![],
        };
        let messages = Expand {
            navigation: "messages",
            select: vec!["id"],
            filter: Some(Filter::Compare {
                property: "message_type",
                op: CompareOp::Eq,
                value: Literal::Int(1),
            }),
            order_by: vec![OrderBy {
                property: "created_at",
                descending: true,
            }],
            top: Some(3),
            expand: vec![inbox.clone()],
        };
        assert_eq!(
            render_expands(&[inbox, messages], Dialect::odata4()),
            "inbox($select=id,name),messages($select=id;$filter=message_type%20eq%201;$orderby=created_at%20desc;$top=3;$expand=inbox($select=id,name))"
        );
    }
}
