//! liveagent-graphql: a GraphQL gateway in front of the Live Agent OData
//! analytics endpoint. Data flows one way: HTTP (`server`) → GraphQL
//! (`schema`, driven by `model`; `live` polls subscriptions) → plan (`plan`) → execution (`exec`,
//! `aggregate`) → OData (`odata`) → upstream (`upstream`).

pub mod aggregate;
pub mod config;
pub mod digest;
pub mod error;
pub mod exec;
pub mod live;
pub mod metrics;
pub mod model;
pub mod odata;
pub mod plan;
pub mod playground;
pub mod replica;
pub mod report;
pub mod schema;
pub mod server;
pub mod sql;
pub mod telemetry;
pub mod upstream;
