//! The JSON the simulator puts on the wire. Resources (channel, bridge, playback, application,
//! ping, variable) are `starq-ari`'s model types, so the simulator and the engine share one
//! definition of each shape. Events are defined here: `starq-ari` does not model
//! `ChannelDialplan`, `ChannelCallerId`, `ChannelConnectedLine` and `ApplicationMoveFailed`,
//! which the recorded sequences contain, and the simulator serializes one event once per
//! receiving application with its own envelope. The conformance tests decode every emitted
//! frame with `starq_ari::decode_event`.

use serde::Serialize;
pub use starq_ari::model::{
    Application, AsteriskInfo, AsteriskPing, Bridge, BridgeKind, BuildInfo, CallerId, Channel,
    ChannelState, ConfigInfo, DialplanLocation, Endpoint, EndpointState, Playback, PlaybackState,
    SetId, StatusInfo, SystemInfo, Variable,
};

/// An ARI event without its envelope (`timestamp`, `asterisk_id`, `application`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
#[allow(missing_docs)] // variant and field names are the ARI event names and fields
pub enum Event {
    StasisStart {
        args: Vec<String>,
        channel: Channel,
        #[serde(skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Box<Channel>>,
    },
    StasisEnd {
        channel: Channel,
    },
    ChannelCreated {
        channel: Channel,
    },
    ChannelStateChange {
        channel: Channel,
    },
    ChannelCallerId {
        caller_presentation: i32,
        caller_presentation_txt: &'static str,
        channel: Channel,
    },
    ChannelConnectedLine {
        channel: Channel,
    },
    ChannelDialplan {
        dialplan_app: String,
        dialplan_app_data: String,
        channel: Channel,
    },
    ChannelVarset {
        variable: String,
        value: String,
        channel: Channel,
    },
    ChannelHangupRequest {
        cause: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        soft: Option<bool>,
        channel: Channel,
    },
    ChannelDestroyed {
        cause: i32,
        cause_txt: &'static str,
        channel: Channel,
    },
    ChannelDtmfReceived {
        digit: String,
        duration_ms: i32,
        channel: Channel,
    },
    ChannelHold {
        channel: Channel,
    },
    Dial {
        dialstatus: &'static str,
        forward: String,
        dialstring: String,
        peer: Channel,
    },
    ChannelEnteredBridge {
        bridge: Bridge,
        channel: Channel,
    },
    ChannelLeftBridge {
        bridge: Bridge,
        channel: Channel,
    },
    BridgeCreated {
        bridge: Bridge,
    },
    BridgeDestroyed {
        bridge: Bridge,
    },
    PlaybackStarted {
        playback: Playback,
    },
    PlaybackContinuing {
        playback: Playback,
    },
    PlaybackFinished {
        playback: Playback,
    },
    EndpointStateChange {
        endpoint: Endpoint,
    },
    ApplicationReplaced {},
    ApplicationRegistered {},
    ApplicationMoveFailed {
        destination: String,
        args: Vec<String>,
        channel: Channel,
    },
}

/// An event as sent to one application: the event plus its envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The event body, flattened next to the envelope fields.
    #[serde(flatten)]
    pub event: &'a Event,
    /// When the event was raised.
    pub timestamp: &'a str,
    /// The node's entity id.
    pub asterisk_id: &'a str,
    /// The receiving application.
    pub application: &'a str,
}

/// The text Asterisk gives for a Q.850 hangup cause in `ChannelDestroyed.cause_txt`.
pub fn cause_text(cause: i32) -> &'static str {
    match cause {
        1 => "Unallocated (unassigned) number",
        3 => "No route to destination",
        16 => "Normal Clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "User alerting, no answer",
        20 => "Subscriber absent",
        21 => "Call Rejected",
        26 => "Answered elsewhere",
        27 => "Destination out of order",
        28 => "Invalid number format",
        31 => "Normal, unspecified",
        34 => "Circuit/channel congestion",
        38 => "Network out of order",
        41 => "Temporary failure",
        58 => "Bearer capability not available",
        88 => "Incompatible destination",
        127 => "Interworking, unspecified",
        _ => "Unknown",
    }
}
