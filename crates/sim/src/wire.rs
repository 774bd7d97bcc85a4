//! The JSON shapes the simulator puts on the wire: resources (channel, bridge, playback,
//! application, asterisk info) and events, field for field as Asterisk 22.10.1 writes them.
//!
//! These are serialize-only snapshots built from the node's state; the node never reads them
//! back. Field order follows the recorded samples so a diff against a recording stays readable.

use serde::Serialize;

/// `CallerID`: a name and a number, both possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallerId {
    /// Display name.
    pub name: String,
    /// Number.
    pub number: String,
}

/// `DialplanCEP`: where in the dialplan a channel is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DialplanCep {
    /// Context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// Priority.
    pub priority: i64,
    /// Application running now (`Stasis`, `AppDial2`, …).
    pub app_name: String,
    /// Its arguments.
    pub app_data: String,
}

/// `Channel` resource.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// Unique id.
    pub id: String,
    /// Name, e.g. `Local/100@to-q-00000002;2`.
    pub name: String,
    /// State: Down, Rsrvd, OffHook, Dialing, Ring, Ringing, Up, Busy.
    pub state: &'static str,
    /// Protocol id (empty for Local channels).
    pub protocol_id: String,
    /// Caller id.
    pub caller: CallerId,
    /// Connected line.
    pub connected: CallerId,
    /// Account code.
    pub accountcode: String,
    /// Dialplan location.
    pub dialplan: DialplanCep,
    /// Creation time.
    pub creationtime: String,
    /// Language.
    pub language: String,
}

/// `Bridge` resource.
#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    /// Unique id.
    pub id: String,
    /// Technology (`simple_bridge`, `holding_bridge`).
    pub technology: &'static str,
    /// Type as created (`mixing`, `holding`).
    pub bridge_type: &'static str,
    /// Always `stasis` for bridges made over ARI.
    pub bridge_class: &'static str,
    /// Always `Stasis` for bridges made over ARI.
    pub creator: &'static str,
    /// Name given at creation.
    pub name: String,
    /// Ids of the channels in the bridge, newest first as Asterisk lists them.
    pub channels: Vec<String>,
    /// Creation time.
    pub creationtime: String,
    /// Video mode.
    pub video_mode: &'static str,
}

/// `Playback` resource.
#[derive(Debug, Clone, Serialize)]
pub struct Playback {
    /// Unique id.
    pub id: String,
    /// The media item being played.
    pub media_uri: String,
    /// The next item, when a list is played.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_media_uri: Option<String>,
    /// `channel:<id>` or `bridge:<id>`.
    pub target_uri: String,
    /// Language.
    pub language: String,
    /// queued, playing, continuing, done, failed.
    pub state: &'static str,
}

/// `Application` resource.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    /// Name.
    pub name: String,
    /// Channels the app is subscribed to.
    pub channel_ids: Vec<String>,
    /// Bridges the app is subscribed to.
    pub bridge_ids: Vec<String>,
    /// Endpoints the app is subscribed to.
    pub endpoint_ids: Vec<String>,
    /// Device states the app is subscribed to.
    pub device_names: Vec<String>,
    /// Event filter (always empty here).
    pub events_allowed: Vec<serde_json::Value>,
    /// Event filter (always empty here).
    pub events_disallowed: Vec<serde_json::Value>,
}

/// A `Variable` response.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    /// The value.
    pub value: String,
}

/// The `/asterisk/ping` response.
#[derive(Debug, Clone, Serialize)]
pub struct Ping {
    /// Always `pong`.
    pub ping: &'static str,
    /// Time of the answer.
    pub timestamp: String,
    /// Entity id of the node.
    pub asterisk_id: String,
}

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
    ApplicationReplaced {},
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
