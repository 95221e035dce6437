//! The `Subscription` root: every Query root field again, with the same
//! arguments and type, plus `everySeconds`. Derived from the Query root as
//! the schema prints it, so that a new Query field is live at once.
//!
//! Its fields yield nothing: the live transports (`server/live`) run a
//! subscription on this root only to have async-graphql validate it (the
//! stream then ends at once), and evaluate it as the same operation over
//! Query, once per interval for every subscriber of the same cohort
//! (`live/`).

use async_graphql::dynamic::{
    InputValue, Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use async_graphql::Value;

pub const ROOT: &str = "Subscription";

/// The argument that sets a subscription's interval, in seconds.
pub const EVERY_SECONDS: &str = "everySeconds";

/// The Subscription root mirroring the Query root printed in `query_sdl`;
/// `None` when the SDL has no Query root.
pub fn root_from_query_sdl(query_sdl: &str) -> Option<Subscription> {
    let document = async_graphql::parser::parse_schema(query_sdl).ok()?;
    let query = document.definitions.into_iter().find_map(|d| match d {
        TypeSystemDefinition::Type(t) if t.node.name.node == "Query" => Some(t.node),
        _ => None,
    })?;
    let TypeKind::Object(object) = query.kind else {
        return None;
    };
    let mut root = Subscription::new(ROOT).description(
        "Every Query field as a live query: the result now, then again whenever it changes \
         (evaluated every `everySeconds`).",
    );
    for field in object.fields {
        let field = field.node;
        let mut live = SubscriptionField::new(
            field.name.node.to_string(),
            type_ref(&field.ty.node),
            |_| SubscriptionFieldFuture::new(nothing()),
        );
        if let Some(description) = field.description {
            live = live.description(description.node);
        }
        for arg in field.arguments {
            let arg = arg.node;
            let mut input = InputValue::new(arg.name.node.to_string(), type_ref(&arg.ty.node));
            if let Some(description) = arg.description {
                input = input.description(description.node);
            }
            if let Some(default) = arg.default_value {
                input = input.default_value(default.node);
            }
            live = live.argument(input);
        }
        live = live.argument(
            InputValue::new(EVERY_SECONDS, TypeRef::named(TypeRef::INT)).description(
                "Seconds between two evaluations; clamped to the gateway's bounds \
                 (default: live_default_interval_s).",
            ),
        );
        root = root.field(live);
    }
    Some(root)
}

/// The resolver of every Subscription field: an empty stream.
async fn nothing() -> async_graphql::Result<futures::stream::Empty<async_graphql::Result<Value>>> {
    Ok(futures::stream::empty())
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        base
    } else {
        TypeRef::NonNull(Box::new(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_keep_lists_and_non_null() {
        for text in ["Int", "Int!", "[String!]", "[[ID]!]!"] {
            let ty = Type::new(text).expect("type");
            assert_eq!(type_ref(&ty).to_string(), text);
        }
    }
}
