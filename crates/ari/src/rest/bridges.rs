//! Requests on bridges: create with a client-chosen id, add and remove channels, music on hold,
//! playback, delete, list.
//!
//! Bridges outlive the application's WebSocket and are never destroyed by Asterisk on its own,
//! so whoever creates one must also delete it (or find it when reconciling with [`list`]).

use super::request::{Op, Request};

/// A bridge property given at creation (`type=mixing,dtmf_events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeFeature {
    /// Everyone hears everyone.
    Mixing,
    /// Participants hear only announcers (waiting callers with music).
    Holding,
    /// Media passes through Asterisk so DTMF reaches the application.
    DtmfEvents,
    /// Media is proxied rather than natively bridged.
    ProxyMedia,
}

impl BridgeFeature {
    /// The value ARI expects.
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeFeature::Mixing => "mixing",
            BridgeFeature::Holding => "holding",
            BridgeFeature::DtmfEvents => "dtmf_events",
            BridgeFeature::ProxyMedia => "proxy_media",
        }
    }
}

/// The role of a channel in a holding bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeRole {
    /// Hears the bridge's media, is not heard.
    Participant,
    /// Heard by every participant.
    Announcer,
}

impl BridgeRole {
    /// The value ARI expects.
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeRole::Participant => "participant",
            BridgeRole::Announcer => "announcer",
        }
    }
}

fn bridge(op: Op, bridge_id: &str) -> Request {
    Request::new(op, vec![bridge_id.to_owned()])
}

/// `GET /bridges`.
pub fn list() -> Request {
    Request::new(Op::BridgeList, vec![])
}

/// `GET /bridges/{bridgeId}`.
pub fn get(bridge_id: &str) -> Request {
    bridge(Op::BridgeGet, bridge_id)
}

/// `POST /bridges?bridgeId=&type=&name=`; a duplicate id answers 409.
pub fn create(bridge_id: &str, features: &[BridgeFeature], name: Option<&str>) -> Request {
    let features: Vec<&str> = features.iter().map(|f| f.as_str()).collect();
    let request = Request::new(Op::BridgeCreate, vec![]).query("bridgeId", bridge_id);
    let request = match features.is_empty() {
        true => request,
        false => request.query_list("type", &features),
    };
    request.query_opt("name", name)
}

/// `DELETE /bridges/{bridgeId}`.
pub fn delete(bridge_id: &str) -> Request {
    bridge(Op::BridgeDelete, bridge_id)
}

/// `POST /bridges/{bridgeId}/addChannel`.
pub fn add_channels<S: AsRef<str>>(
    bridge_id: &str,
    channel_ids: &[S],
    role: Option<BridgeRole>,
) -> Request {
    bridge(Op::BridgeAddChannel, bridge_id)
        .query_list("channel", channel_ids)
        .query_opt("role", role.map(BridgeRole::as_str))
}

/// `POST /bridges/{bridgeId}/removeChannel`.
pub fn remove_channels<S: AsRef<str>>(bridge_id: &str, channel_ids: &[S]) -> Request {
    bridge(Op::BridgeRemoveChannel, bridge_id).query_list("channel", channel_ids)
}

/// `POST /bridges/{bridgeId}/moh`.
pub fn moh_start(bridge_id: &str, moh_class: Option<&str>) -> Request {
    bridge(Op::BridgeMohStart, bridge_id).query_opt("mohClass", moh_class)
}

/// `DELETE /bridges/{bridgeId}/moh`.
pub fn moh_stop(bridge_id: &str) -> Request {
    bridge(Op::BridgeMohStop, bridge_id)
}

/// `POST /bridges/{bridgeId}/play/{playbackId}`.
pub fn play<S: AsRef<str>>(
    bridge_id: &str,
    playback_id: &str,
    media: &[S],
    lang: Option<&str>,
) -> Request {
    Request::new(Op::BridgePlay, vec![bridge_id.to_owned(), playback_id.to_owned()])
        .query_list("media", media)
        .query_opt("lang", lang)
}
