//! # starq-api: starq's HTTP interface
//!
//! What a supervisor, a load balancer or an operator asks a running instance:
//!
//! | route | answers |
//! |---|---|
//! | `GET /health/live` | `200 ok` while the instance runs (restart it if this fails) |
//! | `GET /health/ready` | `200` when it routes (the store answers, it is not draining), else `503`; the body is the status below |
//! | `GET /status` | the instance's [`Health`] as JSON: store, drain, callers followed, each node's state |
//!
//! It reads the shell's handle only: nothing here reaches around the engine or the store.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use starq_engine::{Health, ShellHandle};

/// The routes above, over a running shell.
pub fn router(shell: ShellHandle) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/status", get(status))
        .with_state(shell)
}

/// Serves [`router`] on `listen` until the process ends; returns the bound address (the port
/// may be 0 to pick a free one).
pub async fn serve(listen: SocketAddr, shell: ShellHandle) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "health and status over HTTP");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router(shell)).await {
            tracing::error!(%error, "HTTP interface stopped");
        }
    });
    Ok(bound)
}

async fn ready(State(shell): State<ShellHandle>) -> Response {
    let health = shell.health();
    let code = if health.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, json(&health)).into_response()
}

async fn status(State(shell): State<ShellHandle>) -> Response {
    json(&shell.health()).into_response()
}

fn json(health: &Health) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let body = serde_json::to_string(health).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body)
}
