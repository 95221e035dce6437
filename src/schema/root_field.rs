//! A root field as data: its name, type, description and arguments, and
//! the resolver of its Query form. The Query root and the Subscription
//! root are built from the same list (`with_roots` in `schema/mod.rs`), so
//! every Query field is live at once.

use async_graphql::dynamic::{
    Field, FieldFuture, InputValue, ResolverContext, SubscriptionField, SubscriptionFieldFuture,
    TypeRef,
};
use async_graphql::Value;
use std::sync::Arc;

type Resolve = Arc<dyn for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync>;

pub struct RootField {
    name: String,
    ty: TypeRef,
    description: Option<String>,
    arguments: Vec<Argument>,
    resolve: Resolve,
}

/// An argument of a root field.
pub struct Argument {
    name: String,
    ty: TypeRef,
    description: Option<String>,
    default: Option<Value>,
}

impl RootField {
    pub fn new<F>(name: impl Into<String>, ty: impl Into<TypeRef>, resolve: F) -> RootField
    where
        F: for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static,
    {
        RootField {
            name: name.into(),
            ty: ty.into(),
            description: None,
            arguments: Vec::new(),
            resolve: Arc::new(resolve),
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> RootField {
        self.description = Some(description.into());
        self
    }

    pub fn argument(mut self, argument: Argument) -> RootField {
        self.arguments.push(argument);
        self
    }

    /// The field of the Query root.
    pub fn query_field(&self) -> Field {
        let resolve = self.resolve.clone();
        let mut field = Field::new(&self.name, self.ty.clone(), move |ctx| resolve(ctx));
        if let Some(description) = &self.description {
            field = field.description(description);
        }
        self.arguments.iter().fold(field, |field, argument| {
            field.argument(argument.input_value())
        })
    }

    /// The same field on the Subscription root, with `extra` arguments
    /// after its own; `resolve` answers it there.
    pub fn subscription_field<F>(&self, extra: Vec<InputValue>, resolve: F) -> SubscriptionField
    where
        F: for<'a> Fn(ResolverContext<'a>) -> SubscriptionFieldFuture<'a> + Send + Sync + 'static,
    {
        let mut field = SubscriptionField::new(&self.name, self.ty.clone(), resolve);
        if let Some(description) = &self.description {
            field = field.description(description);
        }
        let own = self.arguments.iter().map(Argument::input_value);
        own.chain(extra)
            .fold(field, |field, argument| field.argument(argument))
    }
}

impl Argument {
    pub fn new(name: impl Into<String>, ty: impl Into<TypeRef>) -> Argument {
        Argument {
            name: name.into(),
            ty: ty.into(),
            description: None,
            default: None,
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> Argument {
        self.description = Some(description.into());
        self
    }

    pub fn default_value(mut self, value: impl Into<Value>) -> Argument {
        self.default = Some(value.into());
        self
    }

    fn input_value(&self) -> InputValue {
        let mut input = InputValue::new(&self.name, self.ty.clone());
        if let Some(description) = &self.description {
            input = input.description(description);
        }
        match &self.default {
            Some(value) => input.default_value(value.clone()),
            None => input,
        }
    }
}
