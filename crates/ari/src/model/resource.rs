//! ARI resources: the objects events carry and REST calls return.
//!
//! Fields starq decides on (ids, names, states, causes) are required, so a frame without them is
//! a decode error; descriptive fields default when absent, and unknown fields are ignored.
//! Optional fields are omitted on output when absent, as Asterisk does, so a simulator that
//! serializes these types emits the same shapes as a real node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::{
    BridgeKind, ChannelState, DeviceStateValue, EndpointState, PlaybackState, RecordingState,
};

/// A caller id: name and number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerId {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Number.
    #[serde(default)]
    pub number: String,
}

/// A dialplan location: context, extension, priority and the application running there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialplanLocation {
    /// Context.
    #[serde(default)]
    pub context: String,
    /// Extension.
    #[serde(default)]
    pub exten: String,
    /// Priority.
    #[serde(default)]
    pub priority: i64,
    /// Dialplan application being executed (`Stasis`, `AppDial2`, …).
    #[serde(default)]
    pub app_name: String,
    /// Its arguments.
    #[serde(default)]
    pub app_data: String,
}

/// A channel (one leg of a call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Unique id; client-chosen when starq created the channel. The `;2` suffix marks the second
    /// half of a Local channel.
    pub id: String,
    /// Channel name, e.g. `PJSIP/1001-00000002`.
    pub name: String,
    /// Channel state.
    pub state: ChannelState,
    /// Protocol id (the SIP Call-ID for PJSIP), empty when none.
    #[serde(default)]
    pub protocol_id: String,
    /// Caller id.
    #[serde(default)]
    pub caller: CallerId,
    /// Connected line.
    #[serde(default)]
    pub connected: CallerId,
    /// Account code.
    #[serde(default)]
    pub accountcode: String,
    /// Current dialplan location.
    #[serde(default)]
    pub dialplan: DialplanLocation,
    /// Creation time as Asterisk formats it (`2026-11-22T12:12:31.279+0000`).
    #[serde(default)]
    pub creationtime: String,
    /// Language.
    #[serde(default)]
    pub language: String,
    /// Variables configured in `ari.conf channelvars` or reported with `report_events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channelvars: Option<BTreeMap<String, serde_json::Value>>,
    /// Redirecting number, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rdnis: Option<String>,
    /// Tenant id, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenantid: Option<String>,
}

/// A bridge: channels that share media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bridge {
    /// Unique id; client-chosen when starq created the bridge.
    pub id: String,
    /// Bridging technology (`simple_bridge`, `softmix`, `holding_bridge`, …).
    #[serde(default)]
    pub technology: String,
    /// Mixing or holding.
    pub bridge_type: BridgeKind,
    /// Bridge class (`stasis` for bridges made over ARI).
    #[serde(default)]
    pub bridge_class: String,
    /// Who created it.
    #[serde(default)]
    pub creator: String,
    /// Name given at creation.
    #[serde(default)]
    pub name: String,
    /// Ids of the channels in the bridge.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Video mode, when video is involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_mode: Option<String>,
    /// Video source, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_source_id: Option<String>,
    /// Creation time as Asterisk formats it.
    #[serde(default)]
    pub creationtime: String,
    /// Bridge variables reported with events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridgevars: Option<BTreeMap<String, serde_json::Value>>,
}

/// A playback of one or several media items on a channel or bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playback {
    /// Unique id; client-chosen when starq started the playback.
    pub id: String,
    /// Media being played (`sound:queue-thankyou`).
    pub media_uri: String,
    /// The next media item of a list, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_media_uri: Option<String>,
    /// What is played to (`channel:<id>` or `bridge:<id>`).
    pub target_uri: String,
    /// Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// State.
    pub state: PlaybackState,
}

/// An endpoint (a SIP peer, for example an agent's phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Technology (`PJSIP`).
    pub technology: String,
    /// Resource name within the technology (`1001`).
    pub resource: String,
    /// State, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EndpointState>,
    /// Ids of the endpoint's channels.
    #[serde(default)]
    pub channel_ids: Vec<String>,
}

/// A device and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// Device name (`PJSIP/1001`).
    pub name: String,
    /// State.
    pub state: DeviceStateValue,
}

/// A recording in progress or just ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRecording {
    /// Name given at start.
    pub name: String,
    /// File format.
    #[serde(default)]
    pub format: String,
    /// What is recorded (`channel:<id>` or `bridge:<id>`).
    #[serde(default)]
    pub target_uri: String,
    /// State.
    pub state: RecordingState,
    /// Length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Seconds of talking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talking_duration: Option<i64>,
    /// Seconds of silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration: Option<i64>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A Stasis application as `GET /applications/{app}` reports it: what it is subscribed to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Application name.
    pub name: String,
    /// Channels the application is subscribed to (those in Stasis and those it originated).
    #[serde(default)]
    pub channel_ids: Vec<String>,
    /// Bridges it is subscribed to.
    #[serde(default)]
    pub bridge_ids: Vec<String>,
    /// Endpoints it is subscribed to.
    #[serde(default)]
    pub endpoint_ids: Vec<String>,
    /// Devices it is subscribed to.
    #[serde(default)]
    pub device_names: Vec<String>,
    /// Event filter: allowed event types.
    #[serde(default)]
    pub events_allowed: Vec<serde_json::Value>,
    /// Event filter: disallowed event types.
    #[serde(default)]
    pub events_disallowed: Vec<serde_json::Value>,
}

/// `GET /asterisk/info`: build, system, configuration and status of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AsteriskInfo {
    /// How Asterisk was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
    /// Version and entity id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    /// Configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigInfo>,
    /// Start and reload times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusInfo>,
}

/// Build information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// Kernel version.
    #[serde(default)]
    pub kernel: String,
    /// Compile options.
    #[serde(default)]
    pub options: String,
    /// Machine architecture.
    #[serde(default)]
    pub machine: String,
    /// Build date.
    #[serde(default)]
    pub date: String,
    /// Who built it.
    #[serde(default)]
    pub user: String,
}

/// Version and identity of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Asterisk version (`22.10.1`).
    pub version: String,
    /// Entity id (EID); every event carries it as `asterisk_id`.
    pub entity_id: String,
}

/// Configuration of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// System name.
    #[serde(default)]
    pub name: String,
    /// Default language.
    #[serde(default)]
    pub default_language: String,
    /// Channel limit, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<i64>,
    /// Open file limit, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_files: Option<i64>,
    /// Load limit, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_load: Option<f64>,
    /// User and group Asterisk runs as.
    #[serde(default)]
    pub setid: SetId,
}

/// User and group a process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetId {
    /// User.
    #[serde(default)]
    pub user: String,
    /// Group.
    #[serde(default)]
    pub group: String,
}

/// Start and reload times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// When Asterisk started.
    #[serde(default)]
    pub startup_time: String,
    /// When it was last reloaded.
    #[serde(default)]
    pub last_reload_time: String,
}

/// `GET /asterisk/ping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsteriskPing {
    /// Entity id of the node.
    pub asterisk_id: String,
    /// Always `pong`.
    pub ping: String,
    /// Node time.
    #[serde(default)]
    pub timestamp: String,
}

/// The value of one channel variable (`GET /channels/{id}/variable`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// The value.
    pub value: String,
}
