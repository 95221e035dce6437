//! The HTTP surface: `/graphql`, health, readiness and metrics.

mod graphql_http;

use crate::config::{Config, ConfigError};
use crate::metrics::{self, Metrics};
use crate::playground;
use crate::schema::{self, Gateway, SchemaOptions};
use crate::upstream::Upstream;
use async_graphql::dynamic::Schema;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub schema: Schema,
    pub gateway: Arc<Gateway>,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the schema: {0}")]
    Schema(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

/// Builds the application from a validated config.
pub fn app(config: &Config) -> Result<Router, StartError> {
    let version = config.api_version();
    let metrics = Arc::new(Metrics::new());
    let gateway = Arc::new(Gateway {
        upstream: Upstream::with_metrics(config, metrics.clone())?,
        version,
        max_first: config.max_first,
        expose_sensitive: config.expose_sign_in_ips,
        max_relation_rows: config.max_relation_rows,
        aggregates: crate::aggregate::Settings::new(config)?,
    });
    let schema = schema::builder(SchemaOptions {
        version,
        expose_sensitive: config.expose_sign_in_ips,
    })
    .data(gateway.clone())
    .finish()
    .map_err(|e| StartError::Schema(e.to_string()))?;
    let state = AppState {
        schema,
        gateway,
        metrics,
    };
    Ok(Router::new()
        .route("/", get(playground::page))
        .route("/playground/{name}", get(playground::asset))
        .route("/graphql", get(graphql_http::get).post(graphql_http::post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state))
}

/// Ready when the upstream answers HTTP at all (401 included: a pass-through
/// gateway holds no token of its own) and the circuit is not open.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.gateway.upstream.probe().await {
        Ok(status) => (
            StatusCode::OK,
            format!("ready (upstream answered {status})"),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    state.gateway.upstream.publish_metrics().await;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// Serves until the process receives Ctrl-C or SIGTERM.
pub async fn serve(config: &Config) -> Result<(), StartError> {
    let app = app(config)?;
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    tracing::info!(%addr, upstream = %config.upstream.as_deref().unwrap_or_default(), version = config.api_version().as_str(), "liveagent-graphql listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| StartError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
