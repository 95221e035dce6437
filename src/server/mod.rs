//! The HTTP surface: `/graphql`, health, readiness and metrics.

mod event_stream;
mod graphql_http;
mod listen;
mod live;
mod pipeline;
mod reload;
mod request_log;
mod state;

pub use listen::serve_connections;
pub use reload::Load;

use crate::config::{ConfigError, HttpSettings, Settings};
use crate::live::Hub;
use crate::metrics::{self, Metrics};
use crate::playground;
use crate::schema::{self, Gateway, SchemaOptions};
use crate::upstream::Upstream;
use async_graphql::dynamic::Schema;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use pipeline::access::AccessStore;
use state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the schema: {0}")]
    Schema(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

/// The hex SHA-256 of a client API key, as `api_keys` lists it.
pub fn hash_key(key: &str) -> String {
    pipeline::persisted::sha256_hex(key.as_bytes())
}

/// Builds the application from checked settings.
pub fn app(settings: &Settings) -> Result<Router, StartError> {
    Ok(app_and_live(settings)?.app)
}

/// The application and what serving it needs besides.
struct Built {
    app: Router,
    /// Closed on shutdown.
    live: Arc<Hub>,
    /// What a reload replaces.
    access: Arc<AccessStore>,
    metrics: Arc<Metrics>,
}

/// The application, its live-query hub and what a reload replaces.
fn app_and_live(settings: &Settings) -> Result<Built, StartError> {
    let metrics = Arc::new(Metrics::new());
    let gateway = gateway(settings, metrics.clone())?;
    let schema = schema(settings, gateway.clone())?;
    let live = Arc::new(Hub::new(
        settings.live.clone(),
        gateway.upstream.clone(),
        live::evaluator(schema.clone(), settings.http.request_timeout),
        metrics.clone(),
    ));
    let state = AppState::new(settings, schema, gateway, metrics.clone(), live.clone());
    let access = state.access.clone();
    Ok(Built {
        app: router(state, &settings.http),
        live,
        access,
        metrics,
    })
}

/// What every resolver reads: the upstream, the query settings and the
/// analytics replica when one is configured.
fn gateway(settings: &Settings, metrics: Arc<Metrics>) -> Result<Arc<Gateway>, StartError> {
    let version = settings.upstream.version;
    let query = &settings.query;
    let upstream = Arc::new(Upstream::with_metrics(&settings.upstream, metrics.clone())?);
    let replica = settings.replica.as_ref().map(|r| {
        let replica = crate::replica::start(r, upstream.clone(), metrics, version);
        replica as Arc<dyn crate::aggregate::Local>
    });
    Ok(Arc::new(Gateway {
        upstream,
        version,
        max_first: query.max_first,
        expose_sensitive: query.expose_sign_in_ips,
        max_relation_rows: query.max_relation_rows,
        max_filter_depth: query.max_filter_depth,
        max_scan_rows: query.max_scan_rows,
        aggregates: crate::aggregate::Policy::new(&settings.aggregates, query.max_scan_rows),
        replica,
    }))
}

/// The schema of the configured endpoint version, with `gateway` as data.
fn schema(settings: &Settings, gateway: Arc<Gateway>) -> Result<Schema, StartError> {
    let query = &settings.query;
    let mut builder = schema::builder(SchemaOptions {
        version: settings.upstream.version,
        expose_sensitive: query.expose_sign_in_ips,
    })
    .data(gateway)
    // The document stage refuses past these limits first, naming the
    // setting (`pipeline/limits.rs`); async-graphql's own checks of the
    // same limits stay as a backstop.
    .limit_depth(query.max_depth)
    .limit_recursive_depth(query.max_nesting)
    .limit_complexity(query.max_complexity);
    if !query.introspection {
        builder = builder.disable_introspection();
    }
    builder
        .finish()
        .map_err(|e| StartError::Schema(e.to_string()))
}

fn router(state: AppState, http: &HttpSettings) -> Router {
    let router = Router::new()
        .route("/", get(playground::page))
        .route("/playground/{name}", get(playground::asset))
        .route("/graphql", get(graphql_http::get).post(graphql_http::post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/capabilities", get(capabilities))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .with_state(state);
    match cors(&http.cors_allowed_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// CORS for the configured origins; `None` (no CORS headers at all) when
/// the list is empty. Origins are checked by `Config::validate`.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allow = match origins {
        [] => return None,
        [any] if any == "*" => AllowOrigin::any(),
        list => AllowOrigin::list(
            list.iter()
                .filter_map(|o| header::HeaderValue::from_str(o).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::CACHE_CONTROL,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("x-explain"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
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

/// The upstream capability set: as configured, and as in force once probed.
async fn capabilities(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(state.gateway.upstream.capabilities())
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    state.gateway.upstream.publish_metrics().await;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// The longest a WebSocket connection's goodbye may hold the exit: the
/// last messages (1 s) and the client's Close frame (2 s), with a margin.
const WEBSOCKETS_GOODBYE: Duration = Duration::from_secs(5);

/// Serves until the process receives Ctrl-C or SIGTERM; then requests in
/// flight finish and live subscriptions complete.
pub async fn serve(settings: &Settings) -> Result<(), StartError> {
    let same = settings.clone();
    serve_reloading(settings, Box::new(move || Ok(same.clone()))).await
}

/// Serves as `serve` does; at each SIGHUP, `load` reads the configuration
/// again and its API keys and trusted documents replace those in force.
pub async fn serve_reloading(settings: &Settings, load: Load) -> Result<(), StartError> {
    let Built {
        app,
        live,
        access,
        metrics,
    } = app_and_live(settings)?;
    let reloader = reload::Reloader {
        access,
        metrics,
        load,
    };
    tokio::spawn(reloader.on_sighup());
    let addr = settings.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let upstream = &settings.upstream;
    tracing::info!(%addr, upstream = %upstream.url.as_deref().unwrap_or_default(), version = upstream.version.as_str(), "liveagent-graphql listening");
    crate::upstream::log_capabilities(upstream);
    let header_read_timeout = settings.http.header_read_timeout;
    // Live subscriptions complete, so that their connections can end.
    let hub = live.clone();
    let shutdown = async move {
        shutdown_signal().await;
        hub.close();
    };
    listen::serve_connections(listener, app, header_read_timeout, shutdown).await;
    // WebSocket connections left the HTTP server at their upgrade: their
    // `complete` and Close frames go out before the process ends.
    let _ = tokio::time::timeout(WEBSOCKETS_GOODBYE, live.connections_gone()).await;
    Ok(())
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
