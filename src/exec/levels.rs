//! Relations loaded level by level. Once the rows of one level are in,
//! every relation planned on them is fetched for all of them at once: rows
//! looked up by key through the request's loader (one `load_many` per
//! collection and level), rows filtered per parent by one batched query per
//! relation and level, rows that came with their parent by `$expand` read
//! from it. Then the next level, from the rows just read. Batches follow the
//! query's shape, never timing.

use super::by_keys::{PieceTop, Reader};
use super::keyed::{key_loader, KeyColumns, KeyLoader, RowKey};
use super::node::{Node, Related};
use super::order::compare_rows;
use crate::error::GatewayError;
use crate::model::{Join, Relation, Shape, KEY};
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionQuery, Dialect, Row};
use crate::plan::residual_scan::ResidualScan;
use crate::plan::{Plan, RelationPlan};
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

type Level = Result<Vec<Arc<Node>>, GatewayError>;

/// Executes plans for one caller: one per root field of a request.
pub struct Fetcher {
    upstream: Arc<Upstream>,
    caller: Caller,
    report: Arc<Report>,
    dialect: Dialect,
    max_relation_rows: u64,
    key_columns: KeyColumns,
    keys: KeyLoader,
}

impl Fetcher {
    /// `key_columns`: what each collection read by key needs (see
    /// [`Plan::key_columns`]).
    pub fn new(
        upstream: Arc<Upstream>,
        caller: Caller,
        report: Arc<Report>,
        dialect: Dialect,
        max_relation_rows: u64,
        key_columns: KeyColumns,
    ) -> Self {
        let keys = key_loader(
            upstream.clone(),
            caller.clone(),
            report.clone(),
            dialect,
            key_columns.clone(),
        );
        Fetcher {
            upstream,
            caller,
            report,
            dialect,
            max_relation_rows,
            key_columns,
            keys,
        }
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            upstream: &self.upstream,
            caller: &self.caller,
            report: &self.report,
            dialect: self.dialect,
        }
    }

    /// Nodes for `rows` (read for `plan`), with every planned relation
    /// loaded, theirs in turn. A failing relation keeps its error on each
    /// parent: only that field fails.
    pub fn load<'a>(
        &'a self,
        rows: Vec<Arc<Row>>,
        plan: &'a Plan,
    ) -> BoxFuture<'a, Vec<Arc<Node>>> {
        async move {
            self.remember(plan, &rows).await;
            if rows.is_empty() || plan.relations.is_empty() {
                return rows.into_iter().map(|r| Arc::new(Node::leaf(r))).collect();
            }
            let looked_up = self.look_up_level(&rows, plan).await;
            let per_relation = plan
                .relations
                .iter()
                .map(|relation| self.relation_for_level(&rows, relation, &looked_up));
            let mut per_relation: Vec<std::vec::IntoIter<Result<Related, GatewayError>>> =
                futures::future::join_all(per_relation)
                    .await
                    .into_iter()
                    .map(Vec::into_iter)
                    .collect();
            rows.into_iter()
                .map(|row| {
                    let related = plan
                        .relations
                        .iter()
                        .zip(per_relation.iter_mut())
                        .filter_map(|(relation, results)| {
                            Some((relation.key.clone(), results.next()?))
                        })
                        .collect();
                    Arc::new(Node::new(row, related))
                })
                .collect()
        }
        .boxed()
    }

    /// Nodes of `entity` by id (e.g. the agents of an activity report),
    /// through the same loader as every key lookup; missing ids are absent.
    pub async fn by_ids(
        &self,
        entity: &'static str,
        ids: Vec<i64>,
        plan: &Plan,
    ) -> Result<HashMap<i64, Arc<Node>>, GatewayError> {
        let rows = self.rows_by_key(entity, ids).await?;
        let nodes = self.load(rows.into_values().collect(), plan).await;
        Ok(nodes
            .into_iter()
            .filter_map(|n| Some((id_of(&n.row)?, n)))
            .collect())
    }

    /// Feeds rows read elsewhere (a root list, an earlier level) to the
    /// loader, when they hold every column a lookup of their collection reads.
    async fn remember(&self, plan: &Plan, rows: &[Arc<Row>]) {
        let Some(needed) = self.key_columns.get(plan.collection) else {
            return;
        };
        if !needed.iter().all(|c| plan.select.contains(c)) {
            return;
        }
        let collection = plan.collection;
        let known = rows.iter().filter_map(|row| {
            Some((
                RowKey {
                    collection,
                    id: id_of(row)?,
                },
                row.clone(),
            ))
        });
        self.keys.feed_many(known).await;
    }

    async fn rows_by_key(
        &self,
        collection: &'static str,
        ids: Vec<i64>,
    ) -> Result<BTreeMap<i64, Arc<Row>>, GatewayError> {
        let found = self
            .keys
            .load_many(ids.into_iter().map(|id| RowKey { collection, id }))
            .await?;
        Ok(found.into_iter().map(|(k, row)| (k.id, row)).collect())
    }

    /// Every key lookup of a level: one `load_many` per collection, however
    /// many relations of the level read it.
    async fn look_up_level(
        &self,
        rows: &[Arc<Row>],
        plan: &Plan,
    ) -> HashMap<&'static str, Result<BTreeMap<i64, Arc<Row>>, GatewayError>> {
        let mut wanted: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
        for relation in plan.relations.iter().filter(|r| r.by_key) {
            wanted
                .entry(relation.relation.to)
                .or_default()
                .extend(keys_of(rows, relation.relation));
        }
        let lookups = wanted.into_iter().map(|(collection, mut ids)| async move {
            ids.sort_unstable();
            ids.dedup();
            (collection, self.rows_by_key(collection, ids).await)
        });
        futures::future::join_all(lookups)
            .await
            .into_iter()
            .collect()
    }

    /// One relation's results for every parent of a level, in parent order.
    async fn relation_for_level(
        &self,
        parents: &[Arc<Row>],
        relation: &RelationPlan,
        looked_up: &HashMap<&'static str, Result<BTreeMap<i64, Arc<Row>>, GatewayError>>,
    ) -> Vec<Result<Related, GatewayError>> {
        let per_parent: Result<Vec<Vec<Arc<Node>>>, GatewayError> = if relation.via_expand {
            self.expanded(parents, relation).await
        } else if relation.by_key {
            match looked_up.get(relation.relation.to) {
                Some(Ok(rows)) => {
                    let children: Vec<Arc<Row>> = keys_of(parents, relation.relation)
                        .iter()
                        .filter_map(|id| rows.get(id).cloned())
                        .collect();
                    let nodes = self.load(children, &relation.child).await;
                    Ok(distribute(parents, relation, nodes))
                }
                Some(Err(e)) => Err(e.clone()),
                None => Err(GatewayError::Internal(format!(
                    "`{}` was not looked up",
                    relation.relation.name
                ))),
            }
        } else {
            match self.queried(parents, relation).await {
                Ok(nodes) => Ok(distribute(parents, relation, nodes)),
                Err(e) => Err(e),
            }
        };
        match per_parent {
            Ok(lists) => lists
                .into_iter()
                .map(|nodes| self.related(relation, nodes))
                .collect(),
            Err(e) => parents.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn related(
        &self,
        relation: &RelationPlan,
        nodes: Vec<Arc<Node>>,
    ) -> Result<Related, GatewayError> {
        match relation.relation.shape {
            Shape::One => Ok(Related::One(nodes.into_iter().next())),
            Shape::List
                if relation.first.is_none() && nodes.len() as u64 > self.max_relation_rows =>
            {
                Err(too_many(relation.relation, self.max_relation_rows))
            }
            _ => Ok(Related::Many {
                nodes,
                first: relation.first,
            }),
        }
    }

    /// The rows of a relation filtered per parent, for a whole level: one
    /// request (split only by URL length), at most `max_relation_rows`.
    async fn queried(&self, parents: &[Arc<Row>], relation: &RelationPlan) -> Level {
        let cap = self.max_relation_rows;
        let base = CollectionQuery::new(relation.relation.to)
            .select(relation.columns())
            .expand(relation.child.expands(cap))
            .order_by(relation.order_by.clone())
            .top(cap + 1);
        let reader = self.reader();
        let rows = match relation.relation.join {
            Join::ToMany { remote } => {
                let keys = keys_of(parents, relation.relation);
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                reader
                    .rows_where_in(
                        &base,
                        &relation.filter.upstream,
                        remote,
                        &keys,
                        PieceTop::Base,
                    )
                    .await?
            }
            // Keys in a list with a filter: ordered per parent later, since
            // the pieces of a split come unordered.
            Join::KeysInList { .. } | Join::ToOne { .. } => {
                let keys = keys_of(parents, relation.relation);
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let base = base.order_by(Vec::new());
                reader
                    .rows_where_in(
                        &base,
                        &relation.filter.upstream,
                        KEY,
                        &keys,
                        PieceTop::OneRowPerKey,
                    )
                    .await?
            }
            Join::ListHoldsKey { .. } => {
                reader
                    .rows(&base.filter(relation.filter.upstream.clone()))
                    .await?
            }
        };
        if rows.len() as u64 > cap {
            return Err(too_many(relation.relation, cap));
        }
        // Bounded already by `max_relation_rows`.
        let mut scan = ResidualScan::new(relation.relation.to, &relation.filter.residual, u64::MAX);
        let rows: Vec<Arc<Row>> = match scan.take(&rows) {
            Ok(kept) => kept.into_iter().cloned().collect(),
            Err(_) => Vec::new(),
        };
        scan.explain(&self.report);
        Ok(self.load(rows, &relation.child).await)
    }

    /// Rows that came inside their parents (`$expand`), their own relations
    /// loaded for all of them at once.
    async fn expanded(
        &self,
        parents: &[Arc<Row>],
        relation: &RelationPlan,
    ) -> Result<Vec<Vec<Arc<Node>>>, GatewayError> {
        let invalid = || {
            GatewayError::UpstreamInvalidResponse(format!(
                "the expanded `{}` is not an object or a list of objects",
                relation.relation.navigation
            ))
        };
        let mut nested: Vec<Arc<Row>> = Vec::new();
        let mut counts: Vec<usize> = Vec::with_capacity(parents.len());
        for parent in parents {
            let before = nested.len();
            match parent.get(relation.relation.navigation) {
                None | Some(Json::Null) => {}
                Some(Json::Object(one)) => nested.push(Arc::new(one.clone())),
                Some(Json::Array(items)) => {
                    for item in items {
                        nested.push(Arc::new(item.as_object().ok_or_else(invalid)?.clone()));
                    }
                }
                Some(_) => return Err(invalid()),
            }
            counts.push(nested.len() - before);
        }
        // The front door clamps a nested `$top` above the page cap: a parent
        // with that many rows may have more, so the field fails rather than
        // cut data or guess a next page.
        let cap = self.upstream.page_cap();
        let clamped = relation
            .expand_top(self.max_relation_rows)
            .is_some_and(|top| top > cap);
        if clamped && counts.iter().any(|&n| n as u64 >= cap) {
            return Err(past_page_cap(relation.relation, cap));
        }
        let mut nodes = self.load(nested, &relation.child).await.into_iter();
        Ok(counts
            .into_iter()
            .map(|n| nodes.by_ref().take(n).collect())
            .collect())
    }
}

pub fn too_many(relation: &Relation, cap: u64) -> GatewayError {
    GatewayError::QueryTooComplex(format!(
        "`{}` would read more than {cap} {} rows (max_relation_rows); narrow it with `where` or `first`, or select fewer parents",
        relation.name, relation.to
    ))
}

fn past_page_cap(relation: &Relation, cap: u64) -> GatewayError {
    GatewayError::QueryTooComplex(format!(
        "`{}` would read {cap} or more {} rows for one parent, the most one upstream request returns (upstream_page_cap); narrow it with `where` or `first`",
        relation.name, relation.to
    ))
}

fn id_of(row: &Row) -> Option<i64> {
    row.get(KEY).and_then(lenient_i64)
}

/// The join keys of every parent, once each, in order.
fn keys_of(parents: &[Arc<Row>], relation: &Relation) -> Vec<i64> {
    let mut keys: Vec<i64> = parents
        .iter()
        .flat_map(|row| parent_keys(row, relation))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The keys one parent row joins on.
fn parent_keys(row: &Row, relation: &Relation) -> Vec<i64> {
    if let Some((column, value)) = relation.only_when {
        if row.get(column).and_then(Json::as_str) != Some(value) {
            return Vec::new();
        }
    }
    let one = |column: &str| row.get(column).and_then(lenient_i64).into_iter().collect();
    match relation.join {
        Join::ToOne { local } => one(local),
        Join::ToMany { .. } | Join::ListHoldsKey { .. } => one(KEY),
        Join::KeysInList { local } => int_list(row.get(local)),
    }
}

/// The keys that own a related row: the parents it belongs to.
fn owner_keys(child: &Row, relation: &Relation) -> Vec<i64> {
    match relation.join {
        Join::ToOne { .. } | Join::KeysInList { .. } => id_of(child).into_iter().collect(),
        Join::ToMany { remote } => child
            .get(remote)
            .and_then(lenient_i64)
            .into_iter()
            .collect(),
        Join::ListHoldsKey { remote } => int_list(child.get(remote)),
    }
}

/// Each parent's related nodes, in parent order.
fn distribute(
    parents: &[Arc<Row>],
    relation: &RelationPlan,
    nodes: Vec<Arc<Node>>,
) -> Vec<Vec<Arc<Node>>> {
    let mut by_key: HashMap<i64, Vec<&Arc<Node>>> = HashMap::new();
    for node in &nodes {
        for owner in owner_keys(&node.row, relation.relation) {
            by_key.entry(owner).or_default().push(node);
        }
    }
    parents
        .iter()
        .map(|parent| {
            let mut mine: Vec<Arc<Node>> = parent_keys(parent, relation.relation)
                .iter()
                .filter_map(|k| by_key.get(k))
                .flatten()
                .map(|n| Arc::clone(n))
                .collect();
            // Keys in a list come from several requests, or from the loader.
            if matches!(relation.relation.join, Join::KeysInList { .. }) {
                mine.sort_by(|a, b| compare_rows(&a.row, &b.row, &relation.order_by));
            }
            mine
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RELATIONS;
    use crate::odata::{Filter, OrderBy};
    use serde_json::json;

    fn row(v: Json) -> Arc<Row> {
        Arc::new(v.as_object().cloned().unwrap_or_default())
    }

    fn relation(from: &str, name: &str) -> &'static Relation {
        RELATIONS
            .iter()
            .find(|r| r.from == from && r.name == name)
            .expect("relation in the model")
    }

    fn plan(relation: &'static Relation, order_by: Vec<OrderBy>) -> RelationPlan {
        RelationPlan {
            relation,
            key: relation.name.into(),
            via_expand: false,
            by_key: true,
            filter: crate::plan::residual::Split::exact(Filter::True),
            order_by,
            first: None,
            child: Plan::default(),
        }
    }

    fn ids(nodes: &[Arc<Node>]) -> Vec<i64> {
        nodes.iter().filter_map(|n| id_of(&n.row)).collect()
    }

    #[test]
    fn keys_in_a_list_are_distributed_in_the_asked_order() {
        let conversations = plan(
            relation("Label", "conversations"),
            vec![OrderBy {
                property: "created_at",
                descending: false,
            }],
        );
        let nodes: Vec<Arc<Node>> = [(1, "2026-02-01"), (3, "2026-01-01")]
            .iter()
            .map(|(id, at)| Arc::new(Node::leaf(row(json!({"id": id, "created_at": at})))))
            .collect();
        let Join::KeysInList { local } = conversations.relation.join else {
            panic!("a label's conversations are joined through its list column");
        };
        let mut parent = Row::new();
        parent.insert(local.to_string(), json!([3, 1, 9]));
        let parent = Arc::new(parent);
        let per_parent = distribute(&[parent, row(json!({}))], &conversations, nodes);
        assert_eq!(
            per_parent.iter().map(|n| ids(n)).collect::<Vec<_>>(),
            vec![vec![3, 1], vec![]]
        );
    }

    #[test]
    fn a_sender_is_a_user_only_when_the_sender_type_says_so() {
        let sender = relation("Message", "sender");
        let by_user = row(json!({"sender_type": "User", "sender_id": 5}));
        let by_contact = row(json!({"sender_type": "Contact", "sender_id": 6}));
        assert_eq!(keys_of(&[by_user, by_contact], sender), vec![5]);
    }

    #[test]
    fn int_lists_read_arrays_and_text() {
        assert_eq!(int_list(Some(&json!([1, "2"]))), vec![1, 2]);
        assert_eq!(int_list(Some(&json!("[3,4]"))), vec![3, 4]);
        assert!(int_list(None).is_empty());
    }
}
