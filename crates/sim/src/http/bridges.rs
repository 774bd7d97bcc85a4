//! `/bridges` handlers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::Node;
use super::channels::start_play;
use super::params::Params;
use crate::error::AriError;
use crate::node::model::Target;
use crate::server::Shared;
use crate::wire;

/// The bridge routes.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/bridges", get(list).post(create))
        .route("/bridges/{id}", get(get_one).post(create_with_id).delete(destroy))
        .route("/bridges/{id}/addChannel", post(add))
        .route("/bridges/{id}/removeChannel", post(remove))
        .route("/bridges/{id}/moh", post(moh).delete(moh_stop))
        .route("/bridges/{id}/play", post(play))
        .route("/bridges/{id}/play/{playback}", post(play_with_id))
}

type Q = RawQuery;

async fn list(State(s): Node) -> Json<Vec<wire::Bridge>> {
    Json(s.op(|st, _| st.bridges.values().map(|b| b.wire()).collect()))
}

async fn get_one(State(s): Node, Path(id): Path<String>) -> Result<Json<wire::Bridge>, AriError> {
    s.op(|st, _| st.bridges.get(&id).map(|b| b.wire()))
        .map(Json)
        .ok_or_else(AriError::bridge_not_found)
}

async fn create(State(s): Node, q: Q, body: Bytes) -> Result<Json<wire::Bridge>, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    let id = p.get("bridgeId").filter(|v| !v.is_empty()).map(str::to_owned);
    do_create(&s, &p, id)
}

async fn create_with_id(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Json<wire::Bridge>, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    do_create(&s, &p, Some(id))
}

fn do_create(s: &Shared, p: &Params, id: Option<String>) -> Result<Json<wire::Bridge>, AriError> {
    let kind = p.get("type").unwrap_or("mixing").to_owned();
    let name = p.get("name").unwrap_or_default().to_owned();
    s.op(|st, now| st.create_bridge(now, None, id, &kind, &name)).map(Json)
}

async fn destroy(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, now| st.delete_bridge(now, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    let chans = p.list("channel");
    if chans.is_empty() {
        return Err(AriError::bad_request("missing required parameter: channel"));
    }
    s.op(|st, now| st.add_to_bridge(now, &id, &chans))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    let chans = p.list("channel");
    if chans.is_empty() {
        return Err(AriError::bad_request("missing required parameter: channel"));
    }
    s.op(|st, now| st.remove_from_bridge(now, &id, &chans))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn moh(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    s.op(|st, now| st.bridge_moh(now, &id, p.get("mohClass"), false))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn moh_stop(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, now| st.bridge_moh(now, &id, None, true))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn play(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Response, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    let pid = p.get("playbackId").filter(|v| !v.is_empty()).map(str::to_owned);
    start_play(&s, Target::Bridge(id), &p, pid)
}

async fn play_with_id(
    State(s): Node,
    Path((id, playback)): Path<(String, String)>,
    q: Q,
    body: Bytes,
) -> Result<Response, AriError> {
    let p = Params::parse(q.0.as_deref(), &body)?;
    start_play(&s, Target::Bridge(id), &p, Some(playback))
}
