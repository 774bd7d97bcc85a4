//! `/channels` handlers: originate, create, dial, answer, ring, MOH, play, continue, move,
//! variables, DTMF, hangup.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::Node;
use super::params::Params;
use crate::error::AriError;
use crate::node::control::ContinueTo;
use crate::node::hangup::reason_cause;
use crate::node::legs::{LegSpec, check_endpoint};
use crate::node::model::Target;
use crate::server::Shared;
use crate::wire;

/// The channel routes.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/channels", get(list).post(originate))
        .route("/channels/create", post(create))
        .route("/channels/{id}", get(get_one).post(originate_with_id).delete(hangup))
        .route("/channels/{id}/answer", post(answer))
        .route("/channels/{id}/ring", post(ring).delete(ring_stop))
        .route("/channels/{id}/progress", post(in_stasis))
        .route("/channels/{id}/silence", post(in_stasis).delete(in_stasis))
        .route("/channels/{id}/moh", post(moh).delete(moh_stop))
        .route("/channels/{id}/play", post(play))
        .route("/channels/{id}/play/{playback}", post(play_with_id))
        .route("/channels/{id}/dial", post(dial))
        .route("/channels/{id}/continue", post(continue_))
        .route("/channels/{id}/move", post(move_))
        .route("/channels/{id}/variable", get(get_var).post(set_var))
        .route("/channels/{id}/dtmf", post(dtmf))
}

type Q = RawQuery;

fn params(q: &Q, body: &Bytes) -> Result<Params, AriError> {
    Params::parse(q.0.as_deref(), body)
}

async fn list(State(s): Node) -> Json<Vec<wire::Channel>> {
    Json(s.op(|st, _| st.list_channels()))
}

async fn get_one(State(s): Node, Path(id): Path<String>) -> Result<Json<wire::Channel>, AriError> {
    s.op(|st, _| st.channels.get(&id).map(|c| c.wire()))
        .map(Json)
        .ok_or_else(AriError::channel_not_found)
}

/// Parses `Name <number>` or a bare number, as `callerId` is given.
fn caller_id(text: &str) -> wire::CallerId {
    match text.split_once('<') {
        Some((name, rest)) => wire::CallerId {
            name: name.trim().trim_matches('"').to_owned(),
            number: rest.trim_end_matches('>').trim().to_owned(),
        },
        None => wire::CallerId { name: String::new(), number: text.trim().to_owned() },
    }
}

fn leg_spec(p: &Params, channel_id: Option<String>) -> Result<LegSpec, AriError> {
    if p.get("originator").is_some() && p.get("formats").is_some() {
        return Err(AriError::bad_request("Originator and formats can't both be specified"));
    }
    let endpoint = p.get("endpoint").unwrap_or_default();
    check_endpoint(endpoint)?;
    Ok(LegSpec {
        endpoint: endpoint.to_owned(),
        app: p.get("app").unwrap_or_default().to_owned(),
        app_args: p
            .get("appArgs")
            .map(|a| a.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        channel_id: channel_id
            .or_else(|| p.get("channelId").filter(|s| !s.is_empty()).map(str::to_owned)),
        other_id: p.get("otherChannelId").filter(|s| !s.is_empty()).map(str::to_owned),
        caller_id: p.get("callerId").map(caller_id),
        timeout: p.timeout("timeout", 30, false)?,
        originator: p.get("originator").map(str::to_owned),
        variables: p.variables.clone(),
    })
}

async fn originate(State(s): Node, q: Q, body: Bytes) -> Result<Json<wire::Channel>, AriError> {
    do_originate(&s, &params(&q, &body)?, None)
}

async fn originate_with_id(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Json<wire::Channel>, AriError> {
    do_originate(&s, &params(&q, &body)?, Some(id))
}

fn do_originate(
    s: &Shared,
    p: &Params,
    id: Option<String>,
) -> Result<Json<wire::Channel>, AriError> {
    let spec = leg_spec(p, id)?;
    if spec.app.is_empty() && p.get("extension").is_none() {
        return Err(AriError::bad_request("Application or extension must be specified"));
    }
    if spec.app.is_empty() {
        // Dialplan-mode originate is simulated for `Local/<n>@to-<app>` only: the `;2` half
        // runs `Stasis(<app>, inbound, <n>)` like a caller (sample 06).
        let target = spec.endpoint.strip_prefix("Local/").and_then(|t| t.split_once('@'));
        let Some((exten, context)) = target.filter(|(_, c)| c.starts_with("to-")) else {
            return Err(AriError::bad_request(
                "starq-sim: originate without app is only simulated to Local/<n>@to-<app>",
            ));
        };
        let cid = spec.caller_id.clone().unwrap_or_default();
        return s
            .op(|st, now| st.originate_inbound(now, exten, context, spec.channel_id.clone(), cid))
            .map(Json);
    }
    s.op(|st, now| st.originate(now, &spec)).map(Json)
}

async fn create(State(s): Node, q: Q, body: Bytes) -> Result<Json<wire::Channel>, AriError> {
    let p = params(&q, &body)?;
    p.require("app")?;
    let spec = leg_spec(&p, None)?;
    s.op(|st, now| st.create_leg(now, &spec)).map(Json)
}

async fn hangup(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    // Asterisk looks the channel up before it reads the reason.
    if !s.op(|st, _| st.channels.contains_key(&id)) {
        return Err(AriError::channel_not_found());
    }
    let cause = match (p.get("reason_code"), p.get("reason")) {
        (Some(_), Some(_)) => {
            return Err(AriError::bad_request(
                "The reason and reason_code can't both be specified",
            ));
        }
        (Some(code), None) => code
            .trim()
            .parse::<i32>()
            .map_err(|_| AriError::bad_request("Invalid reason for hangup reason code provided"))?,
        (None, Some(r)) => reason_cause(r)
            .ok_or_else(|| AriError::bad_request("Invalid reason for hangup reason provided"))?,
        (None, None) => 16,
    };
    s.op(|st, now| st.delete_channel(now, &id, cause))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn answer(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, now| st.answer(now, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ring(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, _| st.ring(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Indications without an event (`progress`, `silence`): accepted for a channel in Stasis.
async fn in_stasis(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, _| st.stasis_chan(&id).map(|_| ()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ring_stop(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, _| st.stasis_chan(&id).map(|_| ()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn moh(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    s.op(|st, now| st.channel_moh(now, &id, p.get("mohClass")))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn moh_stop(State(s): Node, Path(id): Path<String>) -> Result<StatusCode, AriError> {
    s.op(|st, now| st.channel_moh_stop(now, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn play(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Response, AriError> {
    let p = params(&q, &body)?;
    let pid = p.get("playbackId").filter(|v| !v.is_empty()).map(str::to_owned);
    start_play(&s, Target::Channel(id), &p, pid)
}

async fn play_with_id(
    State(s): Node,
    Path((id, playback)): Path<(String, String)>,
    q: Q,
    body: Bytes,
) -> Result<Response, AriError> {
    let p = params(&q, &body)?;
    start_play(&s, Target::Channel(id), &p, Some(playback))
}

/// Starts a playback and answers 201 with its `Location`, as Asterisk does.
pub(super) fn start_play(
    s: &Shared,
    target: Target,
    p: &Params,
    pid: Option<String>,
) -> Result<Response, AriError> {
    let media = p.list("media");
    let lang = p.get("lang");
    let playback = s.op(|st, now| st.play(now, target, media, pid, lang))?;
    let location = format!("/playbacks/{}", playback.id);
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], Json(playback))
        .into_response())
}

async fn dial(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    let timeout = p.timeout("timeout", 0, true)?;
    let caller = p.get("caller").filter(|c| !c.is_empty()).map(str::to_owned);
    s.op(|st, now| st.dial(now, &id, caller.as_deref(), timeout))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn continue_(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    let to = ContinueTo {
        context: p.get("context").filter(|v| !v.is_empty()).map(str::to_owned),
        extension: p.get("extension").filter(|v| !v.is_empty()).map(str::to_owned),
        priority: p.int("priority")?,
    };
    s.op(|st, now| st.continue_in_dialplan(now, &id, to))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    let app = p.require("app")?.to_owned();
    let args = p.list("appArgs");
    s.op(|st, now| st.move_channel(now, &id, &app, args))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_var(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<Json<wire::Variable>, AriError> {
    let p = params(&q, &body)?;
    let name = p.require("variable")?.to_owned();
    s.op(|st, _| st.get_var(&id, &name)).map(|value| Json(wire::Variable { value }))
}

async fn set_var(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    let name = p.require("variable")?.to_owned();
    let value = p.get("value").unwrap_or_default().to_owned();
    s.op(|st, now| st.post_var(now, &id, &name, &value))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dtmf(
    State(s): Node,
    Path(id): Path<String>,
    q: Q,
    body: Bytes,
) -> Result<StatusCode, AriError> {
    let p = params(&q, &body)?;
    let digits = p.get("dtmf").unwrap_or_default().to_owned();
    s.op(|st, _| st.send_dtmf(&id, &digits))?;
    Ok(StatusCode::NO_CONTENT)
}
