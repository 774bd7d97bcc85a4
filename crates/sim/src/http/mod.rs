//! The ARI HTTP surface of a node: the router (`fn router(shared) -> Router`), credentials
//! (Basic auth or `api_key=user:pass`), injected REST faults, and the serve loop.

mod bridges;
mod channels;
mod listener;
mod misc;
pub(crate) mod outbound;
pub(crate) mod params;
mod rest_ws;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::AriError;
use crate::server::Shared;
use listener::SessionListener;

/// Handler state: the node incarnation.
pub(crate) type Node = State<Arc<Shared>>;

/// Serves ARI on `listener` until the node is killed.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = router(shared.clone());
    let kill = shared.kill.clone();
    let listener = SessionListener { inner: listener, shared };
    let server = axum::serve(listener, app).with_graceful_shutdown(kill.cancelled_owned());
    if let Err(e) = server.await {
        tracing::warn!(%e, "node server ended");
    }
}

/// The ARI routes of one node.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let ari = Router::new()
        .route("/events", get(ws::events))
        .route("/asterisk/info", get(misc::info))
        .route("/asterisk/ping", get(misc::ping))
        .route("/applications", get(misc::applications))
        .route("/applications/{app}", get(misc::application))
        .route("/applications/{app}/subscription", post(misc::subscribe).delete(misc::unsubscribe))
        .route("/endpoints", get(misc::endpoints))
        .route("/endpoints/{tech}", get(misc::endpoints_of))
        .route("/endpoints/{tech}/{resource}", get(misc::endpoint))
        .route("/playbacks/{id}", get(misc::get_playback).delete(misc::stop_playback))
        .merge(channels::routes())
        .merge(bridges::routes())
        .fallback(|| async { AriError::not_found("Resource not found") })
        .method_not_allowed_fallback(|| async { AriError::new(405, "Method Not Allowed") })
        .layer(middleware::from_fn_with_state(shared.clone(), guard));
    Router::new().nest("/ari", ari).with_state(shared)
}

/// Checks credentials, then applies injected REST faults (WebSocket upgrades excepted).
async fn guard(State(shared): Node, req: Request, next: Next) -> Response {
    let trusted = req.extensions().get::<rest_ws::OverWebSocket>().is_some();
    if !trusted && !authorized(&shared, &req) {
        let mut resp = AriError::new(401, "Authentication required").into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"Asterisk REST Interface\""),
        );
        return resp;
    }
    let faults = shared.faults();
    let path = req.uri().path().to_owned();
    if faults.hang_websocket_upgrades && path.ends_with("/events") {
        // Never answered; the connection holds a session until the client gives up.
        shared.kill.cancelled().await;
        return AriError::new(503, "node is down").into_response();
    }
    let hit = faults.path_contains.as_ref().is_none_or(|p| path.contains(p.as_str()));
    if hit && !path.ends_with("/events") {
        if !faults.delay.is_zero() {
            tokio::time::sleep(faults.delay).await;
        }
        if let Some(status) = faults.fail_status {
            return AriError::new(status, "Internal Server Error").into_response();
        }
    }
    next.run(req).await
}

fn authorized(shared: &Shared, req: &Request) -> bool {
    let want = format!("{}:{}", shared.cfg.username, shared.cfg.password);
    let from_query = req.uri().query().unwrap_or("").split('&').any(|kv| {
        kv.split_once('=').is_some_and(|(k, v)| k == "api_key" && params::decode(v) == want)
    });
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| params::base64_decode(b.trim()))
        .is_some_and(|creds| creds == want.as_bytes());
    from_query || from_header
}
