//! # starq-api: starq's HTTP interface
//!
//! What a supervisor, a load balancer or an operator asks a running instance:
//!
//! | route | answers |
//! |---|---|
//! | `GET /health/live` | `200 ok` while the instance runs (restart it if this fails) |
//! | `GET /health/ready` | `200` when it routes (the store answers, it is not draining), else `503`; the body is the status below |
//! | `GET /status` | the instance's [`Health`] as JSON: store, drain, callers followed, each node's state; with a reporter, its progress under `report` (backlog, lag, failures) |
//! | `POST /agents/{id}/login` | logs the agent in to every queue of its memberships |
//! | `POST /agents/{id}/logout` | logs it out (refused by the store while it is on a call) |
//! | `POST /agents/{id}/pause` | pauses it, body `{"reason": "lunch", "queue": "sales"}` (both optional; no queue: everywhere) |
//! | `POST /agents/{id}/unpause` | unpauses it, body `{"queue": "sales"}` (optional) |
//!
//! Agent actions answer `202 Accepted` once the engine has them (the store applies them in
//! order; their effect shows in the journal and the agent's state), `404` for an agent the
//! configuration does not have, `400` for a body that does not parse (the message says why),
//! and `503` when the engine has stopped.
//!
//! It reads the shell's handle only: nothing here reaches around the engine or the store.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use starq_core::engine::Input;
use starq_core::shared::AgentAction;
use starq_core::{AgentId, QueueId};
use starq_engine::{Health, ShellHandle};
use starq_report::StatusHandle;

/// What the routes read: the shell, and the reporter's progress when one runs.
#[derive(Clone)]
struct Sources {
    shell: ShellHandle,
    report: Option<StatusHandle>,
}

/// The routes above, over a running shell (and its reporter, if any).
pub fn router(shell: ShellHandle, report: Option<StatusHandle>) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/status", get(status))
        .route("/agents/{agent}/{action}", post(agent_action))
        .with_state(Sources { shell, report })
}

/// Serves [`router`] on `listen` until the process ends; returns the bound address (the port
/// may be 0 to pick a free one).
pub async fn serve(
    listen: SocketAddr,
    shell: ShellHandle,
    report: Option<StatusHandle>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "health and status over HTTP");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router(shell, report)).await {
            tracing::error!(%error, "HTTP interface stopped");
        }
    });
    Ok(bound)
}

async fn ready(State(sources): State<Sources>) -> Response {
    let health = sources.shell.health();
    let code = if health.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, json(&health, sources.report.as_ref())).into_response()
}

async fn status(State(sources): State<Sources>) -> Response {
    json(&sources.shell.health(), sources.report.as_ref()).into_response()
}

fn json(
    health: &Health,
    report: Option<&StatusHandle>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut value = serde_json::to_value(health).unwrap_or_default();
    if let (Some(report), Some(object)) = (report, value.as_object_mut()) {
        let r = report.get();
        object.insert(
            "report".to_owned(),
            serde_json::json!({
                "records_written": r.records_written,
                "backlog": r.backlog,
                "lag_ms": u64::try_from(r.lag.as_millis()).unwrap_or(u64::MAX),
                "lagging": r.lagging,
                "consecutive_failures": r.consecutive_failures,
                "last_error": r.last_error,
            }),
        );
    }
    ([(axum::http::header::CONTENT_TYPE, "application/json")], value.to_string())
}

/// The body of a pause or unpause; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
    queue: Option<String>,
}

async fn agent_action(
    State(Sources { shell, .. }): State<Sources>,
    Path((agent, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        PauseBody::default()
    } else {
        let mut json = serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize::<_, PauseBody>(&mut json) {
            Ok(body) => body,
            Err(error) => {
                return (StatusCode::BAD_REQUEST, format!("invalid body: {error}\n"))
                    .into_response();
            }
        }
    };
    let queue = body.queue.map(QueueId::new);
    let action = match action.as_str() {
        "login" => AgentAction::Login,
        "logout" => AgentAction::Logout,
        "pause" => AgentAction::Pause { queue, reason: body.reason.unwrap_or_default() },
        "unpause" => AgentAction::Unpause { queue },
        other => {
            let known = "login, logout, pause, unpause";
            return (StatusCode::NOT_FOUND, format!("unknown action {other:?}: {known}\n"))
                .into_response();
        }
    };
    let agent = AgentId::new(agent);
    if !shell.knows_agent(&agent) {
        return (StatusCode::NOT_FOUND, format!("unknown agent {agent:?}\n")).into_response();
    }
    if shell.send(Input::Agent { agent, action }).await {
        (StatusCode::ACCEPTED, "accepted\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped\n").into_response()
    }
}
