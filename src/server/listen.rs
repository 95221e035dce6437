//! The accept loop: each connection served by hyper with a bound on the
//! time a client may take to send its request headers
//! (`header_read_timeout_ms`), so that clients trickling their headers a
//! byte at a time (slowloris) cannot hold connections open for ever. On
//! the shutdown signal no new connection is accepted, idle connections
//! close, and requests in flight finish before this returns.
//!
//! A connection whose first request asks for an event stream is served by
//! `event_stream.rs`, on its own socket. Others are served by hyper's
//! HTTP/1 server itself (the gateway
//! speaks HTTP/1.1 only): in front of it, a protocol-sniffing layer hands
//! hyper the first bytes of a request apart, which made hyper's read buffer
//! double to 16 KiB on every connection, a cost every open subscription
//! kept for its life.

use super::event_stream::{self, First};
use axum::Router;
use futures::FutureExt;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` completes, then waits for
/// the connections to finish.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Dropping the receiver tells every connection to finish.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    // Every connection task holds a receiver: all gone = all finished.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(stop_tx.closed());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let stop = stop_tx.clone();
        let open = open_rx.clone();
        let app = app.clone();
        tokio::spawn(async move {
            match event_stream::claim(&stream, header_read_timeout).await {
                First::Hyper => {}
                First::TimedOut => {
                    drop(open);
                    return;
                }
                First::Stream(claimed) => {
                    event_stream::serve(stream, claimed, app, header_read_timeout).await;
                    drop(open);
                    return;
                }
            }
            let service = TowerToHyperService::new(app);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = pin!(connection.with_upgrades());
            let mut stopping = pin!(stop.closed().fuse());
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    _ = &mut stopping => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}
