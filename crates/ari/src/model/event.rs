//! ARI events: one struct per event type starq models, and the [`Event`] enum over them.
//!
//! Every event carries `application`, `timestamp` and (since Asterisk 13.x) `asterisk_id`, the
//! node's entity id. `Event` serializes with a `type` tag, exactly like the frames Asterisk
//! writes on the WebSocket; an event type starq does not model is an [`UnknownEvent`] holding
//! the whole frame, so nothing is lost and nothing fails on a newer Asterisk.

use serde::{Deserialize, Serialize};

use super::resource::{Bridge, Channel, DeviceState, Endpoint, LiveRecording, Playback};
use super::values::DialStatus;

/// Declares an event struct: the fields listed plus the fields every ARI event carries.
macro_rules! event {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// The Stasis application the event is for.
            pub application: String,
            /// When Asterisk raised it, as Asterisk formats it (`2026-11-22T12:12:31.281+0000`).
            pub timestamp: String,
            /// Entity id of the node that raised it.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub asterisk_id: Option<String>,
        }
    };
}

event! {
    /// A channel entered the application (dialplan `Stasis()`, originate answered, or
    /// `/channels/create`).
    pub struct StasisStart {
        /// Arguments given to `Stasis()` or `appArgs`.
        #[serde(default)]
        pub args: Vec<String>,
        /// The channel.
        pub channel: Channel,
        /// The channel this one replaces (masquerade, transfer), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub replace_channel: Option<Channel>,
    }
}

event! {
    /// A channel left the application (hangup, `/continue`, `/move`).
    pub struct StasisEnd {
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// A channel's state changed (for example Ringing → Up on answer).
    pub struct ChannelStateChange {
        /// The channel, with its new state.
        pub channel: Channel,
    }
}

event! {
    /// A channel is gone.
    pub struct ChannelDestroyed {
        /// Q.850 hangup cause (16 normal, 17 busy, 19 no answer, 21 rejected, …).
        pub cause: i32,
        /// Text of the cause.
        pub cause_txt: String,
        /// Technology cause (the SIP response code for PJSIP), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tech_cause: Option<i32>,
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// Someone asked for a channel to hang up.
    pub struct ChannelHangupRequest {
        /// Q.850 cause, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cause: Option<i32>,
        /// Technology cause, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tech_cause: Option<i32>,
        /// Soft hangup (the channel is asked to leave, as `DELETE /channels/{id}` does).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub soft: Option<bool>,
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// Progress of a dial: ringing, answer, busy, … A dial that times out ends with a
    /// `ChannelDestroyed` (cause 19) and no final `Dial`.
    pub struct Dial {
        /// The calling channel; absent for ARI originate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub caller: Option<Channel>,
        /// The dialled channel.
        pub peer: Channel,
        /// Forwarding target, when the call is forwarded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub forward: Option<String>,
        /// The channel the call was forwarded to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub forwarded: Option<Channel>,
        /// What was dialled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dialstring: Option<String>,
        /// Status; empty when the dial begins.
        pub dialstatus: DialStatus,
    }
}

event! {
    /// A DTMF digit ended on a channel.
    pub struct ChannelDtmfReceived {
        /// The digit (`0`-`9`, `*`, `#`, `A`-`D`).
        pub digit: String,
        /// How long it was held, in milliseconds.
        #[serde(default)]
        pub duration_ms: i64,
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// A channel entered a bridge.
    pub struct ChannelEnteredBridge {
        /// The bridge, with its new member list.
        pub bridge: Bridge,
        /// The channel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channel: Option<Channel>,
    }
}

event! {
    /// A channel left a bridge.
    pub struct ChannelLeftBridge {
        /// The bridge, with its new member list.
        pub bridge: Bridge,
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// A playback started.
    pub struct PlaybackStarted {
        /// The playback.
        pub playback: Playback,
    }
}

event! {
    /// A playback moved on to the next item of its media list.
    pub struct PlaybackContinuing {
        /// The playback.
        pub playback: Playback,
    }
}

event! {
    /// A playback ended; `playback.state` says whether it was `done` or `failed`.
    pub struct PlaybackFinished {
        /// The playback.
        pub playback: Playback,
    }
}

event! {
    /// A channel variable (or a global one, when `channel` is absent) was set.
    pub struct ChannelVarset {
        /// Variable name.
        pub variable: String,
        /// New value.
        pub value: String,
        /// The channel; absent for a global variable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channel: Option<Channel>,
    }
}

event! {
    /// Another WebSocket subscribed to this application and took it over; this connection
    /// receives nothing more for it.
    pub struct ApplicationReplaced {}
}

event! {
    /// The application was registered (outbound WebSockets).
    pub struct ApplicationRegistered {}
}

event! {
    /// An endpoint's state changed.
    pub struct EndpointStateChange {
        /// The endpoint.
        pub endpoint: Endpoint,
    }
}

event! {
    /// A device's state changed.
    pub struct DeviceStateChanged {
        /// The device and its new state.
        pub device_state: DeviceState,
    }
}

event! {
    /// A bridge was created.
    pub struct BridgeCreated {
        /// The bridge.
        pub bridge: Bridge,
    }
}

event! {
    /// A bridge was destroyed.
    pub struct BridgeDestroyed {
        /// The bridge.
        pub bridge: Bridge,
    }
}

event! {
    /// A recording finished.
    pub struct RecordingFinished {
        /// The recording.
        pub recording: LiveRecording,
    }
}

event! {
    /// A recording failed.
    pub struct RecordingFailed {
        /// The recording.
        pub recording: LiveRecording,
    }
}

event! {
    /// A channel was created (seen for channels the application is subscribed to).
    pub struct ChannelCreated {
        /// The channel.
        pub channel: Channel,
    }
}

event! {
    /// A channel moved to another dialplan location or application.
    pub struct ChannelDialplan {
        /// The channel.
        pub channel: Channel,
        /// Dialplan application now running.
        pub dialplan_app: String,
        /// Its arguments.
        pub dialplan_app_data: String,
    }
}

event! {
    /// A channel's caller id changed.
    pub struct ChannelCallerId {
        /// Presentation indicator (Q.931).
        pub caller_presentation: i32,
        /// Its text.
        pub caller_presentation_txt: String,
        /// The channel, with the new caller id.
        pub channel: Channel,
    }
}

event! {
    /// A channel's connected line changed.
    pub struct ChannelConnectedLine {
        /// The channel, with the new connected line.
        pub channel: Channel,
    }
}

event! {
    /// A user event (`POST /events/user/{name}` or dialplan `UserEvent()`): usable as an
    /// end-to-end probe that the WebSocket really delivers.
    pub struct ChannelUserevent {
        /// Event name.
        pub eventname: String,
        /// The channel it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub channel: Option<Channel>,
        /// The bridge it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bridge: Option<Bridge>,
        /// The endpoint it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub endpoint: Option<Endpoint>,
        /// The event's variables.
        pub userevent: serde_json::Value,
    }
}

event! {
    /// `/move` failed: the target application is not registered; the channel stays here.
    pub struct ApplicationMoveFailed {
        /// The channel.
        pub channel: Channel,
        /// The application it was to move to.
        pub destination: String,
        /// The arguments it was to move with.
        #[serde(default)]
        pub args: Vec<String>,
    }
}

event! {
    /// The application was unregistered (outbound WebSockets).
    pub struct ApplicationUnregistered {}
}

event! {
    /// A recording started.
    pub struct RecordingStarted {
        /// The recording.
        pub recording: LiveRecording,
    }
}

event! {
    /// Two bridges were merged into `bridge`.
    pub struct BridgeMerged {
        /// The surviving bridge.
        pub bridge: Bridge,
        /// The bridge merged into it.
        pub bridge_from: Bridge,
    }
}

/// An event type starq does not model, kept whole.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEvent {
    /// Its `type`.
    pub event_type: String,
    /// The whole frame, `type` included.
    pub raw: serde_json::Value,
}

impl Serialize for UnknownEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// Declares [`Event`] over the listed event structs, with everything that must list every
/// modelled type (names, common fields, decode dispatch), so the list exists exactly once.
macro_rules! event_enum {
    ($($variant:ident),+ $(,)?) => {
        /// One ARI event, tagged by its `type` on the wire.
        ///
        /// Payloads are boxed: channels make them large, and events travel through channels.
        ///
        /// Decode frames with [`decode_event`](super::decode_event), which names the event type
        /// and the field when a frame is malformed; `serde_json::from_str::<Event>` works too.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type")]
        pub enum Event {
            $(
                #[doc = concat!("See [`", stringify!($variant), "`].")]
                $variant(Box<$variant>),
            )+
            /// A type starq does not model; written back verbatim.
            #[serde(untagged)]
            Unknown(UnknownEvent),
        }

        impl Event {
            /// Every event type this crate decodes into a typed variant.
            pub const MODELLED_TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The event's `type` as on the wire.
            pub fn event_type(&self) -> &str {
                match self {
                    $( Event::$variant(_) => stringify!($variant), )+
                    Event::Unknown(unknown) => &unknown.event_type,
                }
            }

            /// `application`, `timestamp` and `asterisk_id` of a modelled event.
            fn common(&self) -> Option<(&str, &str, Option<&str>)> {
                match self {
                    $( Event::$variant(e) => {
                        Some((&e.application, &e.timestamp, e.asterisk_id.as_deref()))
                    } )+
                    Event::Unknown(_) => None,
                }
            }
        }

        /// Deserializes a frame of a modelled type; `None` when `event_type` is not modelled.
        pub(super) fn decode_modelled<'de, D: serde::Deserializer<'de>>(
            event_type: &str,
            deserializer: D,
        ) -> Option<Result<Event, D::Error>> {
            match event_type {
                $( stringify!($variant) => {
                    Some(Deserialize::deserialize(deserializer).map(Event::$variant))
                } )+
                _ => None,
            }
        }

        /// The same, tracking the path to the failing field. Slower; used to explain a frame
        /// that already failed.
        pub(super) fn explain_modelled<'de, D: serde::Deserializer<'de>>(
            event_type: &str,
            deserializer: D,
        ) -> Option<Result<Event, serde_path_to_error::Error<D::Error>>> {
            match event_type {
                $( stringify!($variant) => {
                    Some(serde_path_to_error::deserialize(deserializer).map(Event::$variant))
                } )+
                _ => None,
            }
        }
    };
}

event_enum!(
    StasisStart,
    StasisEnd,
    ChannelStateChange,
    ChannelDestroyed,
    ChannelHangupRequest,
    Dial,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    PlaybackStarted,
    PlaybackContinuing,
    PlaybackFinished,
    ChannelVarset,
    ApplicationReplaced,
    ApplicationRegistered,
    EndpointStateChange,
    DeviceStateChanged,
    BridgeCreated,
    BridgeDestroyed,
    RecordingFinished,
    RecordingFailed,
    ChannelCreated,
    ChannelDialplan,
    ChannelCallerId,
    ChannelConnectedLine,
    ChannelUserevent,
    ApplicationMoveFailed,
    ApplicationUnregistered,
    RecordingStarted,
    BridgeMerged,
);

impl Event {
    /// The application the event is for (empty if an unknown frame lacks it).
    pub fn application(&self) -> &str {
        match self.common() {
            Some((application, _, _)) => application,
            None => self.raw_str("application").unwrap_or(""),
        }
    }

    /// When Asterisk raised the event.
    pub fn timestamp(&self) -> &str {
        match self.common() {
            Some((_, timestamp, _)) => timestamp,
            None => self.raw_str("timestamp").unwrap_or(""),
        }
    }

    /// Entity id of the node that raised the event, when present.
    pub fn asterisk_id(&self) -> Option<&str> {
        match self.common() {
            Some((_, _, asterisk_id)) => asterisk_id,
            None => self.raw_str("asterisk_id"),
        }
    }

    /// The channel the event is about, for routing it to a call: the channel of channel
    /// events, the `peer` (the dialled leg) of `Dial`. `None` for bridge, playback, endpoint,
    /// device, recording and application events, and for unknown events.
    pub fn channel(&self) -> Option<&Channel> {
        match self {
            Event::StasisStart(e) => Some(&e.channel),
            Event::StasisEnd(e) => Some(&e.channel),
            Event::ChannelStateChange(e) => Some(&e.channel),
            Event::ChannelDestroyed(e) => Some(&e.channel),
            Event::ChannelHangupRequest(e) => Some(&e.channel),
            Event::Dial(e) => Some(&e.peer),
            Event::ChannelDtmfReceived(e) => Some(&e.channel),
            Event::ChannelEnteredBridge(e) => e.channel.as_ref(),
            Event::ChannelLeftBridge(e) => Some(&e.channel),
            Event::ChannelVarset(e) => e.channel.as_ref(),
            Event::ChannelCreated(e) => Some(&e.channel),
            Event::ChannelDialplan(e) => Some(&e.channel),
            Event::ChannelCallerId(e) => Some(&e.channel),
            Event::ChannelConnectedLine(e) => Some(&e.channel),
            Event::ChannelUserevent(e) => e.channel.as_ref(),
            Event::ApplicationMoveFailed(e) => Some(&e.channel),
            Event::PlaybackStarted(_)
            | Event::PlaybackContinuing(_)
            | Event::PlaybackFinished(_)
            | Event::ApplicationReplaced(_)
            | Event::ApplicationRegistered(_)
            | Event::ApplicationUnregistered(_)
            | Event::EndpointStateChange(_)
            | Event::DeviceStateChanged(_)
            | Event::BridgeCreated(_)
            | Event::BridgeDestroyed(_)
            | Event::BridgeMerged(_)
            | Event::RecordingStarted(_)
            | Event::RecordingFinished(_)
            | Event::RecordingFailed(_)
            | Event::Unknown(_) => None,
        }
    }

    /// Whether this event type is modelled (not [`Event::Unknown`]).
    pub fn is_modelled(&self) -> bool {
        !matches!(self, Event::Unknown(_))
    }

    fn raw_str(&self, key: &str) -> Option<&str> {
        match self {
            Event::Unknown(unknown) => unknown.raw.get(key).and_then(serde_json::Value::as_str),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        super::decode::decode_value(value).map_err(serde::de::Error::custom)
    }
}
