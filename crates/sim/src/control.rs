//! Fault injection at run time for `starq sim --control-port`: a small HTTP API on its own port
//! (never the nodes' ARI ports), so a person or a chaos script can break a running simulation.
//!
//! | request | effect |
//! |---|---|
//! | `POST /nodes/{i}/kill` | the node dies: every channel gone, connections refused |
//! | `POST /nodes/{i}/restore` | the node comes back, empty |
//! | `POST /nodes/{i}/drop-websockets` | every event WebSocket of the node is closed |
//! | `POST /nodes/{i}/events?paused=true\|false` | event delivery stops or resumes |
//! | `POST /nodes/{i}/rest-faults?delay_ms=&fail_status=&path=` | REST answers slow or fail (no parameter: healthy again) |
//! | `POST /phones/{endpoint}?unreachable=true\|false` | a phone (un)registers |
//! | `GET /truth` | the ground truth so far, as JSON lines |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::server::{NodeHandle, RestFaults};
use crate::sim::Sim;

/// The control API over a running simulation.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/nodes/{index}/kill", post(kill))
        .route("/nodes/{index}/restore", post(restore))
        .route("/nodes/{index}/drop-websockets", post(drop_websockets))
        .route("/nodes/{index}/events", post(events))
        .route("/nodes/{index}/rest-faults", post(rest_faults))
        .route("/phones/{endpoint}", post(phone))
        .route("/truth", get(truth))
        .with_state(sim)
}

type Answer = (StatusCode, String);

fn node(sim: &Sim, index: usize) -> Result<Arc<NodeHandle>, Answer> {
    sim.node(index).cloned().ok_or_else(|| (StatusCode::NOT_FOUND, format!("no node {index}\n")))
}

fn done(what: String) -> Answer {
    (StatusCode::OK, what + "\n")
}

async fn kill(State(sim): State<Arc<Sim>>, Path(index): Path<usize>) -> Answer {
    match node(&sim, index) {
        Ok(n) => {
            n.kill();
            done(format!("node {index} killed"))
        }
        Err(e) => e,
    }
}

async fn restore(State(sim): State<Arc<Sim>>, Path(index): Path<usize>) -> Answer {
    let n = match node(&sim, index) {
        Ok(n) => n,
        Err(e) => return e,
    };
    match n.restore().await {
        Ok(()) => done(format!("node {index} restored")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("node {index} not restored: {e}\n")),
    }
}

async fn drop_websockets(State(sim): State<Arc<Sim>>, Path(index): Path<usize>) -> Answer {
    match node(&sim, index) {
        Ok(n) => {
            n.drop_websockets();
            done(format!("node {index}: event WebSockets dropped"))
        }
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct Paused {
    paused: bool,
}

async fn events(
    State(sim): State<Arc<Sim>>,
    Path(index): Path<usize>,
    Query(q): Query<Paused>,
) -> Answer {
    match node(&sim, index) {
        Ok(n) => {
            n.pause_events(q.paused);
            done(format!("node {index}: events {}", if q.paused { "paused" } else { "flowing" }))
        }
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct Faults {
    delay_ms: Option<u64>,
    fail_status: Option<u16>,
    path: Option<String>,
}

async fn rest_faults(
    State(sim): State<Arc<Sim>>,
    Path(index): Path<usize>,
    Query(q): Query<Faults>,
) -> Answer {
    if q.fail_status.is_some_and(|s| !(400..600).contains(&s)) {
        return (StatusCode::BAD_REQUEST, "fail_status must be a 4xx or 5xx status\n".into());
    }
    match node(&sim, index) {
        Ok(n) => {
            let faults = RestFaults {
                delay: Duration::from_millis(q.delay_ms.unwrap_or(0)),
                fail_status: q.fail_status,
                path_contains: q.path,
                hang_websocket_upgrades: false,
            };
            n.set_rest_faults(faults.clone());
            done(format!("node {index}: {faults:?}"))
        }
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct Reachability {
    unreachable: bool,
}

async fn phone(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    Query(q): Query<Reachability>,
) -> Answer {
    if sim.set_unreachable(&endpoint, q.unreachable) {
        done(format!("{endpoint}: {}", if q.unreachable { "unreachable" } else { "reachable" }))
    } else {
        (StatusCode::NOT_FOUND, format!("no phone {endpoint}\n"))
    }
}

async fn truth(State(sim): State<Arc<Sim>>) -> Answer {
    let mut lines = Vec::new();
    match sim.dump_truth(&mut lines) {
        Ok(()) => (StatusCode::OK, String::from_utf8_lossy(&lines).into_owned()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}
