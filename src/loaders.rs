//! Batched relation loading, level by level. Once the rows of one level are
//! in, every relation planned on them is fetched for all of them at once:
//! one upstream request per relation and level (an `or` chain or `in` list
//! of ids), split only where a URL would pass `max_url_length`, the pieces
//! run concurrently. Related rows are kept on each parent row under the
//! field's response key, where the relation field reads them. Batches are
//! cut by the query's shape, never by timing.

use crate::error::GatewayError;
use crate::model::{Join, KEY};
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionQuery, Filter, InStyle, Literal, OrderBy, Row};
use crate::schema::plan::{Plan, RelationPlan};
use crate::schema::Gateway;
use crate::upstream::Caller;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde_json::{Map, Value as Json};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Pieces of one split request in flight at once.
const PIECES_IN_FLIGHT: usize = 4;

/// Where a relation's rows (or its error) are kept on a parent row. The `@`
/// prefix cannot clash with an upstream column name.
pub fn slot(response_key: &str) -> String {
    format!("@rel:{response_key}")
}

const ERROR_CODE: &str = "@error:code";
const ERROR_MESSAGE: &str = "@error:message";

/// What a relation field finds in its slot.
pub fn read_slot<'r>(row: &'r Row, response_key: &str) -> Option<Result<&'r Json, GatewayError>> {
    let value = row.get(&slot(response_key))?;
    match value.get(ERROR_CODE).and_then(Json::as_str) {
        Some(code) => {
            let message = value
                .get(ERROR_MESSAGE)
                .and_then(Json::as_str)
                .unwrap_or_default();
            Some(Err(GatewayError::from_code(code, message)))
        }
        None => Some(Ok(value)),
    }
}

fn error_value(e: &GatewayError) -> Json {
    let mut map = Map::new();
    map.insert(ERROR_CODE.into(), Json::from(e.code()));
    map.insert(ERROR_MESSAGE.into(), Json::from(e.message()));
    Json::Object(map)
}

/// What every fetch of one request shares.
pub struct Batch<'a> {
    pub gateway: &'a Gateway,
    pub caller: &'a Caller,
    pub style: InStyle,
}

impl Batch<'_> {
    /// Loads every relation of `plan` for all `rows`, and theirs in turn. A
    /// failing relation leaves an error in its slot: only that field fails.
    pub fn attach<'r>(&'r self, rows: Vec<&'r mut Row>, plan: &'r Plan) -> BoxFuture<'r, ()> {
        async move {
            if rows.is_empty() || plan.relations.is_empty() {
                return;
            }
            // Batched relations: all fetched at once, from the keys of all rows.
            let batched: Vec<&RelationPlan> =
                plan.relations.iter().filter(|r| !r.via_expand).collect();
            let fetches = batched.iter().map(|r| {
                let keys = keys_of(&rows, r);
                self.fetch_level(r, keys)
            });
            let results = futures::future::join_all(fetches).await;
            let mut rows = rows;
            for (relation, result) in batched.into_iter().zip(results) {
                distribute(&mut rows, relation, result);
            }
            // Expanded relations came with the rows; theirs may still need loading.
            for relation in plan.relations.iter().filter(|r| r.via_expand) {
                let mut nested: Vec<Row> = Vec::new();
                let mut shapes: Vec<Option<usize>> = Vec::with_capacity(rows.len());
                for row in rows.iter_mut() {
                    match row.remove(relation.relation.navigation) {
                        Some(Json::Array(items)) => {
                            shapes.push(Some(items.len()));
                            nested.extend(items.into_iter().filter_map(into_row));
                        }
                        Some(Json::Object(one)) => {
                            shapes.push(Some(1));
                            nested.push(one);
                        }
                        _ => shapes.push(None),
                    }
                }
                self.attach(nested.iter_mut().collect(), &relation.child)
                    .await;
                let mut nested = nested.into_iter();
                for (row, shape) in rows.iter_mut().zip(shapes) {
                    let value = match (shape, relation.relation.shape) {
                        (None, _) => Json::Null,
                        (Some(n), crate::model::Shape::One) => nested
                            .by_ref()
                            .take(n)
                            .next()
                            .map(Json::Object)
                            .unwrap_or(Json::Null),
                        (Some(n), _) => {
                            Json::Array(nested.by_ref().take(n).map(Json::Object).collect())
                        }
                    };
                    row.insert(slot(&relation.key), value);
                }
            }
        }
        .boxed()
    }

    /// The rows of one relation for a whole level, their own relations loaded.
    async fn fetch_level(
        &self,
        relation: &RelationPlan,
        keys: Vec<i64>,
    ) -> Result<Vec<Row>, GatewayError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let join = relation.relation.join;
        let cap = self.gateway.max_relation_rows;
        let mut select = relation.child.select.clone();
        for column in relation.relation.remote_columns() {
            if !select.contains(&column) {
                select.push(column);
            }
        }
        let base = CollectionQuery {
            entity_set: relation.relation.target().name,
            select,
            expand: relation.child.expands(cap),
            filter: None,
            order_by: relation.order_by.clone(),
            top: cap + 1,
            skip: 0,
            count: false,
            apply: None,
        };
        let mut rows = match join {
            Join::ToOne { .. } | Join::KeysInList { .. } => {
                // Ordered here, per parent: the pieces of a split come unordered.
                let by_key = CollectionQuery {
                    order_by: Vec::new(),
                    ..base
                };
                self.fetch_by_keys(&by_key, &relation.filter, KEY, &keys, true)
                    .await?
            }
            Join::ToMany { remote } => {
                self.fetch_by_keys(&base, &relation.filter, remote, &keys, false)
                    .await?
            }
            Join::ListHoldsKey { .. } => {
                let query = CollectionQuery {
                    filter: (relation.filter != Filter::True).then(|| relation.filter.clone()),
                    ..base
                };
                self.gateway
                    .upstream
                    .fetch_collection(self.caller, &query, self.style)
                    .await?
                    .rows
            }
        };
        if rows.len() as u64 > cap {
            return Err(crate::schema::relation::too_many(relation.relation, cap));
        }
        self.attach(rows.iter_mut().collect(), &relation.child)
            .await;
        Ok(rows)
    }

    /// Rows whose `property` is one of `keys` (and that pass `filter`), in as
    /// few requests as the URL limit allows.
    async fn fetch_by_keys(
        &self,
        base: &CollectionQuery,
        filter: &Filter,
        property: &'static str,
        keys: &[i64],
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
            if chunk.len() > 1 && !upstream.fits(&query.to_relative_url(self.style)) {
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
                    .fetch_collection(self.caller, &query, self.style)
                    .await
                    .map(|page| page.rows)
            })
            .buffered(PIECES_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }
}

fn into_row(value: Json) -> Option<Row> {
    match value {
        Json::Object(row) => Some(row),
        _ => None,
    }
}

/// The join keys of every row, once each.
fn keys_of(rows: &[&mut Row], relation: &RelationPlan) -> Vec<i64> {
    let mut keys: Vec<i64> = rows
        .iter()
        .flat_map(|row| parent_keys(row, relation))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The keys one parent row joins on.
fn parent_keys(row: &Row, relation: &RelationPlan) -> Vec<i64> {
    let rel = relation.relation;
    if let Some((column, value)) = rel.only_when {
        if row.get(column).and_then(Json::as_str) != Some(value) {
            return Vec::new();
        }
    }
    let one = |column: &str| row.get(column).and_then(lenient_i64).into_iter().collect();
    match rel.join {
        Join::ToOne { local } => one(local),
        Join::ToMany { .. } | Join::ListHoldsKey { .. } => one(KEY),
        Join::KeysInList { local } => int_list(row.get(local)),
    }
}

/// Hands each parent its related rows (or the level's error).
fn distribute(
    rows: &mut [&mut Row],
    relation: &RelationPlan,
    fetched: Result<Vec<Row>, GatewayError>,
) {
    let slot_key = slot(&relation.key);
    let fetched = match fetched {
        Ok(rows) => rows,
        Err(e) => {
            let value = error_value(&e);
            for row in rows.iter_mut() {
                row.insert(slot_key.clone(), value.clone());
            }
            return;
        }
    };
    // Related rows by the key that joins them to parents.
    let mut by_key: HashMap<i64, Vec<&Row>> = HashMap::new();
    for child in &fetched {
        let owners = match relation.relation.join {
            Join::ToOne { .. } | Join::KeysInList { .. } => {
                child.get(KEY).and_then(lenient_i64).into_iter().collect()
            }
            Join::ToMany { remote } => child
                .get(remote)
                .and_then(lenient_i64)
                .into_iter()
                .collect(),
            Join::ListHoldsKey { remote } => int_list(child.get(remote)),
        };
        for owner in owners {
            by_key.entry(owner).or_default().push(child);
        }
    }
    for row in rows.iter_mut() {
        let keys = parent_keys(row, relation);
        let mut mine: Vec<&Row> = keys
            .iter()
            .filter_map(|k| by_key.get(k))
            .flatten()
            .copied()
            .collect();
        let value = match relation.relation.join {
            Join::ToOne { .. } => mine
                .first()
                .map(|r| Json::Object((*r).clone()))
                .unwrap_or(Json::Null),
            Join::KeysInList { .. } => {
                mine.sort_by(|a, b| compare_rows(a, b, &relation.order_by));
                Json::Array(mine.into_iter().map(|r| Json::Object(r.clone())).collect())
            }
            Join::ToMany { .. } | Join::ListHoldsKey { .. } => {
                Json::Array(mine.into_iter().map(|r| Json::Object(r.clone())).collect())
            }
        };
        row.insert(slot_key.clone(), value);
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
