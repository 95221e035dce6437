//! A decoded upstream answer, cheap to share between callers and the
//! cache, and what to make of the body at a URL.

use crate::odata::{CollectionPage, Row};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Answer {
    Page(Arc<CollectionPage>),
    Entity(Option<Arc<Row>>),
}

impl Answer {
    /// The rows it holds, for the explain record.
    pub fn rows(&self) -> usize {
        match self {
            Answer::Page(page) => page.rows.len(),
            Answer::Entity(row) => usize::from(row.is_some()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Fetch {
    /// A collection, following next links until `want` rows are in.
    Collection { want: usize },
    /// A key lookup; 404 is an answer (`None`).
    Entity,
}
