//! `/asterisk`, `/applications` and `/playbacks` handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;

use super::Node;
use super::params::Params;
use crate::clock::{Now, format_wall_ms};
use crate::error::AriError;
use crate::wire;

/// `GET /asterisk/info`.
pub(super) async fn info(axum::extract::State(s): Node) -> Json<wire::AsteriskInfo> {
    let started = format_wall_ms(s.op(|st, _| st.started_ms));
    Json(wire::AsteriskInfo {
        build: Some(wire::BuildInfo {
            os: "Linux".to_owned(),
            kernel: "starq-sim".to_owned(),
            options: "OPTIONAL_API".to_owned(),
            machine: "x86_64".to_owned(),
            date: started.clone(),
            user: "starq-sim".to_owned(),
        }),
        system: Some(wire::SystemInfo {
            version: "22.10.1".to_owned(),
            entity_id: s.cfg.asterisk_id.clone(),
        }),
        config: Some(wire::ConfigInfo {
            name: String::new(),
            default_language: "en".to_owned(),
            max_channels: None,
            max_open_files: None,
            max_load: None,
            setid: wire::SetId::default(),
        }),
        status: Some(wire::StatusInfo { startup_time: started.clone(), last_reload_time: started }),
    })
}

/// `GET /asterisk/ping`.
pub(super) async fn ping(axum::extract::State(s): Node) -> Json<wire::AsteriskPing> {
    Json(wire::AsteriskPing {
        asterisk_id: s.cfg.asterisk_id.clone(),
        ping: "pong".to_owned(),
        timestamp: Now::read().stamp(),
    })
}

/// `GET /applications`.
pub(super) async fn applications(axum::extract::State(s): Node) -> Json<Vec<wire::Application>> {
    Json(s.op(|st, _| st.applications()))
}

/// `GET /applications/{app}`.
pub(super) async fn application(
    axum::extract::State(s): Node,
    Path(app): Path<String>,
) -> Result<Json<wire::Application>, AriError> {
    s.op(|st, _| st.application(&app))
        .map(Json)
        .ok_or_else(|| AriError::not_found("Application not found"))
}

/// `POST /applications/{app}/subscription`.
pub(super) async fn subscribe(
    axum::extract::State(s): Node,
    Path(app): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Json<wire::Application>, AriError> {
    let p = Params::parse(q.as_deref(), &body)?;
    let sources = p.list("eventSource");
    if sources.is_empty() {
        return Err(AriError::bad_request("missing required parameter: eventSource"));
    }
    s.op(|st, _| st.subscribe(&app, &sources, true)).map(Json)
}

/// `DELETE /applications/{app}/subscription`.
pub(super) async fn unsubscribe(
    axum::extract::State(s): Node,
    Path(app): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Json<wire::Application>, AriError> {
    let p = Params::parse(q.as_deref(), &body)?;
    let sources = p.list("eventSource");
    s.op(|st, _| st.subscribe(&app, &sources, false)).map(Json)
}

/// `GET /playbacks/{id}`.
pub(super) async fn get_playback(
    axum::extract::State(s): Node,
    Path(id): Path<String>,
) -> Result<Json<wire::Playback>, AriError> {
    s.op(|st, _| st.playbacks.get(&id).map(|p| p.wire()))
        .map(Json)
        .ok_or_else(|| AriError::not_found("Playback not found"))
}

/// `DELETE /playbacks/{id}`.
pub(super) async fn stop_playback(
    axum::extract::State(s): Node,
    Path(id): Path<String>,
) -> Result<StatusCode, AriError> {
    s.op(|st, now| st.stop_playback(now, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /endpoints`.
pub(super) async fn endpoints(axum::extract::State(s): Node) -> Json<Vec<wire::Endpoint>> {
    Json(s.op(|st, _| st.endpoints()))
}

/// `GET /endpoints/{tech}`.
pub(super) async fn endpoints_of(
    axum::extract::State(s): Node,
    Path(tech): Path<String>,
) -> Json<Vec<wire::Endpoint>> {
    let all = s.op(|st, _| st.endpoints());
    Json(all.into_iter().filter(|e| e.technology.eq_ignore_ascii_case(&tech)).collect())
}

/// `GET /endpoints/{tech}/{resource}`.
pub(super) async fn endpoint(
    axum::extract::State(s): Node,
    Path((tech, resource)): Path<(String, String)>,
) -> Result<Json<wire::Endpoint>, AriError> {
    let all = s.op(|st, _| st.endpoints());
    all.into_iter()
        .find(|e| e.technology.eq_ignore_ascii_case(&tech) && e.resource == resource)
        .map(Json)
        .ok_or_else(|| AriError::not_found("Endpoint not found"))
}
