//! Field errors as the GraphQL spec wants them: a failing nullable field is
//! null with an error carrying its path, and the rest of the response stands.
//! async-graphql's dynamic schema drops the field and the path instead, so
//! this extension catches the error, records it with its path, and answers
//! null.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, ServerError, ServerResult, Value};
use std::sync::{Arc, Mutex};

/// Errors of nulled fields, merged into the response after execution.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(Arc<Mutex<Vec<ServerError>>>);

impl FieldErrors {
    pub fn take(&self) -> Vec<ServerError> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, error: ServerError) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(error);
    }
}

pub struct NullOnError;

impl ExtensionFactory for NullOnError {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullOnError)
    }
}

#[async_trait::async_trait]
impl Extension for NullOnError {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let node = info.path_node;
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Ok(value) => Ok(value),
            Err(mut error) => {
                if error.path.is_empty() {
                    // Field names never start with a digit, so numbers are indexes.
                    error.path = node
                        .to_string_vec()
                        .into_iter()
                        .map(|s| match s.parse::<usize>() {
                            Ok(i) => PathSegment::Index(i),
                            Err(_) => PathSegment::Field(s),
                        })
                        .collect();
                }
                match ctx.data_opt::<FieldErrors>() {
                    Some(errors) if nullable => {
                        errors.push(error);
                        Ok(None)
                    }
                    _ => Err(error),
                }
            }
        }
    }
}
