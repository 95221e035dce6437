//! `$apply` (OData Data Aggregation): `filter(...)/groupby((a,b),aggregate(...))`.
//! Pure rendering; the query builder percent-encodes the result like every
//! other option, and filter values are escaped literals as in `$filter`.

use super::dialect::Dialect;
use super::filter::{encode, Filter};

/// An aggregation method of `aggregate(x with <method> as alias)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Sum,
    Average,
    Min,
    Max,
    CountDistinct,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sum => "sum",
            Method::Average => "average",
            Method::Min => "min",
            Method::Max => "max",
            Method::CountDistinct => "countdistinct",
        }
    }
}

/// `property with method as alias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub property: &'static str,
    pub method: Method,
    pub alias: String,
}

/// One `$apply` value: an optional filter, then a grouping (or a plain
/// aggregation when `group_by` is empty) with `$count as <count_alias>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Apply {
    pub filter: Option<Filter>,
    pub group_by: Vec<&'static str>,
    pub count_alias: Option<String>,
    pub aggregates: Vec<Aggregate>,
}

impl Apply {
    /// The value as it reads.
    pub fn render(&self, dialect: Dialect) -> String {
        self.build(dialect, false)
    }

    /// The value percent-encoded for a query string.
    pub fn to_url(&self, dialect: Dialect) -> String {
        self.build(dialect, true)
    }

    fn build(&self, dialect: Dialect, url: bool) -> String {
        let text = |s: &str| if url { encode(s) } else { s.to_string() };
        let mut steps = Vec::new();
        if let Some(filter) = &self.filter {
            let filter = if url {
                filter.to_url(dialect)
            } else {
                filter.render(dialect)
            };
            steps.push(format!("{}{filter}{}", text("filter("), text(")")));
        }
        let mut parts: Vec<String> = Vec::new();
        if let Some(alias) = &self.count_alias {
            parts.push(format!("$count as {alias}"));
        }
        parts.extend(
            self.aggregates
                .iter()
                .map(|a| format!("{} with {} as {}", a.property, a.method.as_str(), a.alias)),
        );
        let aggregate = (!parts.is_empty()).then(|| format!("aggregate({})", parts.join(",")));
        match (self.group_by.is_empty(), aggregate) {
            (true, Some(aggregate)) => steps.push(text(&aggregate)),
            (true, None) => {}
            (false, Some(aggregate)) => steps.push(text(&format!(
                "groupby(({}),{aggregate})",
                self.group_by.join(",")
            ))),
            (false, None) => steps.push(text(&format!("groupby(({}))", self.group_by.join(",")))),
        }
        steps.join(&text("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{CompareOp, Literal};

    fn agg(property: &'static str, method: Method, alias: &str) -> Aggregate {
        Aggregate {
            property,
            method,
            alias: alias.into(),
        }
    }

    #[test]
    fn groupby_with_count_and_aggregates() {
        let apply = Apply {
            filter: Some(Filter::Compare {
                property: "name",
                op: CompareOp::Eq,
                value: Literal::String("it's".into()),
            }),
            group_by: vec!["user_id", "inbox_id"],
            count_alias: Some("n".into()),
            aggregates: vec![
                agg("value", Method::Average, "avg_value"),
                agg(
                    "conversation_id",
                    Method::CountDistinct,
                    "cd_conversation_id",
                ),
            ],
        };
        assert_eq!(
            apply.render(Dialect::odata4()),
            "filter(name eq 'it''s')/groupby((user_id,inbox_id),aggregate($count as n,value with average as avg_value,conversation_id with countdistinct as cd_conversation_id))"
        );
    }

    #[test]
    fn plain_aggregate_without_groups_or_filter() {
        let apply = Apply {
            filter: None,
            group_by: vec![],
            count_alias: Some("n".into()),
            aggregates: vec![agg("created_at", Method::Min, "lo")],
        };
        assert_eq!(
            apply.render(Dialect::odata4()),
            "aggregate($count as n,created_at with min as lo)"
        );
    }

    #[test]
    fn groupby_alone_and_set_styles() {
        let apply = Apply {
            filter: Some(Filter::In {
                property: "id",
                values: vec![Literal::Int(1), Literal::Int(2)],
            }),
            group_by: vec!["status"],
            count_alias: None,
            aggregates: vec![],
        };
        assert_eq!(
            apply.render(Dialect {
                in_list: true,
                ..Dialect::odata4()
            }),
            "filter(id in (1,2))/groupby((status))"
        );
        assert_eq!(
            apply.render(Dialect::odata4()),
            "filter(id eq 1 or id eq 2)/groupby((status))"
        );
    }
}
