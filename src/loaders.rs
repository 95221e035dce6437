//! Batched relation loading, scoped to one GraphQL request and its
//! credential. Every parent asks for its key; the batch becomes one upstream
//! request per relation (an `or` chain or `in` list of ids), split only where
//! a URL would pass `max_url_length`, the pieces run concurrently.

use crate::error::GatewayError;
use crate::model::{Join, Relation, KEY};
use crate::odata::query::render_expands;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionQuery, Expand, Filter, InStyle, Literal, OrderBy, Row};
use crate::schema::{plan::Plan, Gateway};
use crate::upstream::Caller;
use async_graphql::dataloader::{DataLoader, Loader};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Pieces of one split request in flight at once.
const PIECES_IN_FLIGHT: usize = 4;

/// What one relation field asks for: the same spec for every parent at that
/// place in the query.
#[derive(Debug)]
pub struct RelationSpec {
    pub relation: &'static Relation,
    pub select: Vec<&'static str>,
    pub expand: Vec<Expand>,
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
    /// Specs differing only in `select` share one request (their union).
    group: String,
    id: String,
}

impl RelationSpec {
    pub fn new(
        relation: &'static Relation,
        plan: Plan,
        filter: Filter,
        order_by: Vec<OrderBy>,
    ) -> Self {
        let mut select = plan.select;
        for column in relation.remote_columns() {
            if !select.contains(&column) {
                select.push(column);
            }
        }
        let group = format!(
            "{}.{}|{}|{:?}|{}",
            relation.from,
            relation.name,
            filter.render(InStyle::OrChain),
            order_by,
            render_expands(&plan.expand, InStyle::OrChain)
        );
        let id = format!("{group}|{}", select.join(","));
        RelationSpec {
            relation,
            select,
            expand: plan.expand,
            filter,
            order_by,
            group,
            id,
        }
    }
}

/// A parent's key under a spec (for to-one and key-list relations, a
/// target's key).
#[derive(Debug, Clone)]
pub struct LoadKey {
    spec: Arc<RelationSpec>,
    key: i64,
}

impl LoadKey {
    pub fn new(spec: &Arc<RelationSpec>, key: i64) -> Self {
        LoadKey {
            spec: spec.clone(),
            key,
        }
    }
}

impl PartialEq for LoadKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.spec.id == other.spec.id
    }
}

impl Eq for LoadKey {}

impl Hash for LoadKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.id.hash(state);
        self.key.hash(state);
    }
}

pub struct RelationLoader {
    gateway: Arc<Gateway>,
    caller: Caller,
}

/// The loader of one request. Batches are not cut by count: URL length
/// decides how a batch is split.
pub fn relation_loader(gateway: Arc<Gateway>, caller: Caller) -> DataLoader<RelationLoader> {
    DataLoader::new(RelationLoader { gateway, caller }, tokio::spawn).max_batch_size(usize::MAX)
}

type Rows = Arc<Vec<Arc<Row>>>;

impl Loader<LoadKey> for RelationLoader {
    type Value = Rows;
    type Error = GatewayError;

    async fn load(&self, keys: &[LoadKey]) -> Result<HashMap<LoadKey, Rows>, GatewayError> {
        let mut groups: HashMap<&str, Vec<&LoadKey>> = HashMap::new();
        for key in keys {
            groups.entry(key.spec.group.as_str()).or_default().push(key);
        }
        let loads = groups.into_values().map(|keys| self.load_group(keys));
        let mut out = HashMap::with_capacity(keys.len());
        for part in futures::future::try_join_all(loads).await? {
            out.extend(part);
        }
        Ok(out)
    }
}

impl RelationLoader {
    async fn load_group(
        &self,
        keys: Vec<&LoadKey>,
    ) -> Result<HashMap<LoadKey, Rows>, GatewayError> {
        let Some(first) = keys.first() else {
            return Ok(HashMap::new());
        };
        let spec = &first.spec;
        let relation = spec.relation;
        let mut select: Vec<&'static str> = Vec::new();
        for key in &keys {
            for column in &key.spec.select {
                if !select.contains(column) {
                    select.push(column);
                }
            }
        }
        let mut ids: Vec<i64> = keys.iter().map(|k| k.key).collect();
        ids.sort_unstable();
        ids.dedup();

        let upstream = &self.gateway.upstream;
        let metadata = upstream.metadata(&self.caller).await;
        let style = upstream.in_style(metadata.as_deref());
        let cap = self.gateway.max_relation_rows;
        let base = CollectionQuery {
            entity_set: relation.target().name,
            select,
            expand: spec.expand.clone(),
            filter: None,
            order_by: spec.order_by.clone(),
            top: cap + 1,
            skip: 0,
            count: false,
        };
        let rows = match relation.join {
            Join::ToOne { .. } | Join::KeysInList { .. } => {
                let by_key = CollectionQuery {
                    order_by: Vec::new(),
                    ..base
                };
                self.fetch_by_keys(&by_key, &spec.filter, KEY, &ids, style, true)
                    .await?
            }
            Join::ToMany { remote } => {
                self.fetch_by_keys(&base, &spec.filter, remote, &ids, style, false)
                    .await?
            }
            Join::ListHoldsKey { .. } => {
                let query = CollectionQuery {
                    filter: (spec.filter != Filter::True).then(|| spec.filter.clone()),
                    ..base
                };
                upstream
                    .fetch_collection(&self.caller, &query, style)
                    .await?
                    .rows
            }
        };
        if rows.len() as u64 > cap {
            return Err(crate::schema::relation::too_many(relation, cap));
        }

        let mut by_key: HashMap<i64, Vec<Arc<Row>>> = HashMap::new();
        for row in rows.into_iter().map(Arc::new) {
            let owners: Vec<i64> = match relation.join {
                Join::ToOne { .. } | Join::KeysInList { .. } => {
                    row.get(KEY).and_then(lenient_i64).into_iter().collect()
                }
                Join::ToMany { remote } => {
                    row.get(remote).and_then(lenient_i64).into_iter().collect()
                }
                Join::ListHoldsKey { remote } => int_list(row.get(remote)),
            };
            for owner in owners {
                by_key.entry(owner).or_default().push(row.clone());
            }
        }
        Ok(keys
            .into_iter()
            .map(|k| {
                (
                    k.clone(),
                    Arc::new(by_key.get(&k.key).cloned().unwrap_or_default()),
                )
            })
            .collect())
    }

    /// Rows whose `property` is one of `keys` (and that pass `filter`), in as
    /// few requests as the URL limit allows.
    async fn fetch_by_keys(
        &self,
        base: &CollectionQuery,
        filter: &Filter,
        property: &'static str,
        keys: &[i64],
        style: InStyle,
        one_row_per_key: bool,
    ) -> Result<Vec<Row>, GatewayError> {
        let upstream = &self.gateway.upstream;
        let query_for = |chunk: &[i64]| {
            let set = Filter::In {
                property,
                values: chunk.iter().map(|&k| Literal::Int(k)).collect(),
            };
            CollectionQuery {
                filter: Some(Filter::And(vec![filter.clone(), set]).simplify()),
                top: if one_row_per_key {
                    chunk.len() as u64
                } else {
                    base.top
                },
                ..base.clone()
            }
        };
        let mut pieces = Vec::new();
        let mut pending = vec![keys];
        while let Some(chunk) = pending.pop() {
            if chunk.is_empty() {
                continue;
            }
            let query = query_for(chunk);
            if chunk.len() > 1 && !upstream.fits(&query.to_relative_url(style)) {
                let (left, right) = chunk.split_at(chunk.len() / 2);
                pending.push(right);
                pending.push(left);
            } else {
                // A single key that does not fit is refused by the upstream
                // layer with BAD_USER_INPUT naming the limit.
                pieces.push(query);
            }
        }
        let pages: Vec<Vec<Row>> = futures::stream::iter(pieces)
            .map(|query| async move {
                upstream
                    .fetch_collection(&self.caller, &query, style)
                    .await
                    .map(|page| page.rows)
            })
            .buffered(PIECES_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }
}

fn int_list(value: Option<&Json>) -> Vec<i64> {
    match value {
        Some(Json::Array(items)) => items.iter().filter_map(lenient_i64).collect(),
        Some(Json::String(text)) => serde_json::from_str::<Vec<Json>>(text)
            .map(|items| items.iter().filter_map(lenient_i64).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Orders rows as `$orderby` would, for rows gathered from several requests:
/// nulls first, numbers by value, strings (ISO dates included) by text.
pub fn compare_rows(a: &Row, b: &Row, order_by: &[OrderBy]) -> Ordering {
    for key in order_by {
        let ordering = compare_values(a.get(key.property), b.get(key.property));
        let ordering = if key.descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn compare_values(a: Option<&Json>, b: Option<&Json>) -> Ordering {
    let rank = |v: Option<&Json>| match v {
        None | Some(Json::Null) => 0,
        _ => 1,
    };
    match (a, b) {
        (Some(Json::Number(x)), Some(Json::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Json::String(x)), Some(Json::String(y))) => x.cmp(y),
        (Some(Json::Bool(x)), Some(Json::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Json) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rows_order_like_orderby_with_nulls_first() {
        let order = [
            OrderBy {
                property: "status",
                descending: true,
            },
            OrderBy {
                property: "id",
                descending: false,
            },
        ];
        let mut rows = [
            row(json!({"id": 3, "status": 1})),
            row(json!({"id": 1, "status": null})),
            row(json!({"id": 2, "status": 1})),
            row(json!({"id": 4, "status": 2})),
        ];
        rows.sort_by(|a, b| compare_rows(a, b, &order));
        let ids: Vec<_> = rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, vec![json!(4), json!(2), json!(3), json!(1)]);
    }

    #[test]
    fn int_lists_read_arrays_and_text() {
        assert_eq!(int_list(Some(&json!([1, "2"]))), vec![1, 2]);
        assert_eq!(int_list(Some(&json!("[3,4]"))), vec![3, 4]);
        assert!(int_list(None).is_empty());
    }
}
