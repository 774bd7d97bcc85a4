//! Requests on the node as a whole: playbacks, the application's subscriptions, node info and
//! ping, and the event WebSocket's URL.

use std::fmt;

use super::request::{Op, Request};

/// Something an application can subscribe to beyond its own channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventSource {
    /// A channel by id.
    Channel(String),
    /// A bridge by id.
    Bridge(String),
    /// An endpoint, `tech/resource` (`PJSIP/1001`) or a whole technology (`PJSIP`).
    Endpoint(String),
    /// A device state by device name (`PJSIP/1001`).
    DeviceState(String),
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventSource::Channel(id) => write!(f, "channel:{id}"),
            EventSource::Bridge(id) => write!(f, "bridge:{id}"),
            EventSource::Endpoint(name) => write!(f, "endpoint:{name}"),
            EventSource::DeviceState(name) => write!(f, "deviceState:{name}"),
        }
    }
}

/// `DELETE /playbacks/{playbackId}`.
pub fn stop_playback(playback_id: &str) -> Request {
    Request::new(Op::PlaybackStop, vec![playback_id.to_owned()])
}

/// `GET /applications/{applicationName}`.
pub fn get_application(app: &str) -> Request {
    Request::new(Op::ApplicationGet, vec![app.to_owned()])
}

/// `POST /applications/{applicationName}/subscription`.
pub fn subscribe(app: &str, sources: &[EventSource]) -> Request {
    let sources: Vec<String> = sources.iter().map(ToString::to_string).collect();
    Request::new(Op::ApplicationSubscribe, vec![app.to_owned()]).query_list("eventSource", &sources)
}

/// `DELETE /applications/{applicationName}/subscription`.
pub fn unsubscribe(app: &str, sources: &[EventSource]) -> Request {
    let sources: Vec<String> = sources.iter().map(ToString::to_string).collect();
    Request::new(Op::ApplicationUnsubscribe, vec![app.to_owned()])
        .query_list("eventSource", &sources)
}

/// `GET /asterisk/info`.
pub fn asterisk_info() -> Request {
    Request::new(Op::AsteriskInfo, vec![])
}

/// `GET /asterisk/ping`.
pub fn asterisk_ping() -> Request {
    Request::new(Op::AsteriskPing, vec![])
}

/// `GET /events?app=` upgraded to the event WebSocket. No `subscribeAll`: it multiplies event
/// volume and shows other applications' channels.
pub fn event_websocket(app: &str) -> Request {
    Request::new(Op::EventWebSocket, vec![]).query("app", app)
}
