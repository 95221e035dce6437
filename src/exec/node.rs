//! Typed results: a row and what was loaded for it, by response key.

use crate::error::GatewayError;
use crate::odata::Row;
use std::sync::Arc;

/// A row with its related results. Rows and nodes are shared (`Arc`): a
/// User that is the assignee of fifty conversations is one node.
#[derive(Debug)]
pub struct Node {
    pub row: Arc<Row>,
    /// One entry per relation field selected on this row, by response key
    /// (alias or name); a failed relation keeps its error here, so only that
    /// field fails.
    related: Vec<(String, Result<Related, GatewayError>)>,
}

/// The related rows of one parent for one relation field.
#[derive(Debug, Clone)]
pub enum Related {
    One(Option<Arc<Node>>),
    /// In order; `first` is the field's per-parent page size (`None`: all).
    Many {
        nodes: Vec<Arc<Node>>,
        first: Option<u64>,
    },
}

impl Node {
    pub fn new(row: Arc<Row>, related: Vec<(String, Result<Related, GatewayError>)>) -> Self {
        Node { row, related }
    }

    /// A node without relations.
    pub fn leaf(row: Arc<Row>) -> Self {
        Node::new(row, Vec::new())
    }

    /// What was loaded for the field with this response key; `None` when
    /// the field was not in the plan the row was read with.
    pub fn related(&self, response_key: &str) -> Option<&Result<Related, GatewayError>> {
        self.related
            .iter()
            .find(|(key, _)| key == response_key)
            .map(|(_, result)| result)
    }
}
