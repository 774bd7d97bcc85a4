//! The records a node keeps for its channels, bridges and playbacks, and their snapshots in
//! wire form. The records hold what Asterisk would know about each object; the behaviour
//! lives in the sibling modules that change them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::clock::format_wall_ms;
use crate::wire;

/// Channel states as ARI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChanState {
    Down,
    Ring,
    Ringing,
    Up,
}

impl ChanState {
    pub(crate) fn wire(self) -> wire::ChannelState {
        match self {
            Self::Down => wire::ChannelState::Down,
            Self::Ring => wire::ChannelState::Ring,
            Self::Ringing => wire::ChannelState::Ringing,
            Self::Up => wire::ChannelState::Up,
        }
    }
}

/// What the far end of an outgoing leg does once dialed, decided when the leg is created.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FarEnd {
    /// `Local/<n>@agents`-like: answers at once, hangs up after `talk`.
    AnswerNow { talk: Duration },
    /// A ringing phone or `Ringing()` context: answers after `answer_after` (or never), hangs
    /// up `talk` after answering, and gives up ringing after `give_up` if set.
    Ring { answer_after: Option<Duration>, talk: Duration, give_up: Option<Duration> },
    /// `Busy(hold)`: reports busy, hangs up with cause 17 after `hold`; with no `hold`
    /// (`Busy()`), never: the leg lives until the dial timeout.
    Busy { hold: Option<Duration> },
    /// `Hangup(cause)` before answering (`[busyhangup]`, as a SIP 486 would): no `Dial BUSY`,
    /// a hangup request with `cause`, and the leg destroyed with `cause` (sample 08
    /// `hangup_17`) or, now and then, with 16 as Asterisk does (docs/fidelity.md).
    HangsUp { cause: i32 },
    /// The extension does not exist: the Local `;2` half cannot start.
    Missing,
    /// The phone became unreachable between `/channels/create` and `/dial`.
    Unavailable,
}

/// Who drives a channel besides the ARI application.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Role {
    /// The `;1` half of an inbound caller: the handset, never in Stasis.
    Handset { caller: u64 },
    /// The `;2` half of an inbound caller, which runs `Stasis(app, args…)`.
    CallerLeg { caller: u64 },
    /// An outgoing leg made over ARI (`;1` of a Local pair, or a phone channel).
    Outgoing {
        far: FarEnd,
        dialstring: String,
        endpoint: String,
        phone: Option<String>,
        /// The phone already had a call when this leg rang it.
        while_busy: bool,
        /// Counted among the phone's calls: set when the phone is rung (a created leg rings
        /// only on `/dial`; until then the phone knows nothing of it).
        on_phone: bool,
    },
    /// The `;2` half of an outgoing Local pair, running the target's dialplan.
    LocalPeer,
}

/// How an outgoing leg was started, which decides its event sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// `POST /channels/create`: in Stasis at once, waits for `/dial`.
    Created,
    /// `POST /channels`: dials at once, enters Stasis on answer.
    Originated,
    /// Not an outgoing leg.
    Inbound,
}

/// One channel on a node.
#[derive(Debug, Clone)]
pub(crate) struct Chan {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) state: ChanState,
    pub(crate) caller: wire::CallerId,
    pub(crate) connected: wire::CallerId,
    pub(crate) dialplan: wire::DialplanLocation,
    pub(crate) created_ms: u64,
    pub(crate) vars: BTreeMap<String, String>,
    /// The Stasis application the channel is in, with its arguments.
    pub(crate) stasis: Option<(String, Vec<String>)>,
    /// Applications subscribed to the channel outside Stasis (originate, create, explicit).
    pub(crate) subs: BTreeSet<String>,
    pub(crate) role: Role,
    pub(crate) start: Start,
    /// The other half of a Local pair.
    pub(crate) peer: Option<String>,
    pub(crate) bridge: Option<String>,
    pub(crate) moh: Option<String>,
    /// Distinguishes this channel from an earlier one with the same id, so stale timers die.
    pub(crate) serial: u64,
    /// Playbacks queued or playing on this channel, in order.
    pub(crate) playbacks: Vec<String>,
    /// Set once the dial has been started, to refuse a second `/dial`.
    pub(crate) dialed: bool,
    /// A Local `;2` half whose caller id changed while it was busy in `Answer()`: the
    /// `ChannelCallerId` goes out when it reaches `Wait()`.
    pub(crate) cid_pending: bool,
    /// Originated legs: the Stasis app and arguments entered on answer.
    pub(crate) want_stasis: Option<(String, Vec<String>)>,
}

impl Chan {
    /// The wire snapshot of this channel.
    pub(crate) fn wire(&self) -> wire::Channel {
        wire::Channel {
            id: self.id.clone(),
            name: self.name.clone(),
            state: self.state.wire(),
            protocol_id: String::new(),
            caller: self.caller.clone(),
            connected: self.connected.clone(),
            accountcode: String::new(),
            dialplan: self.dialplan.clone(),
            creationtime: format_wall_ms(self.created_ms),
            language: "en".to_owned(),
            channelvars: None,
            caller_rdnis: None,
            tenantid: None,
        }
    }

    /// Applications that receive this channel's events now.
    pub(crate) fn recipients(&self) -> BTreeSet<String> {
        let mut apps = self.subs.clone();
        if let Some((app, _)) = &self.stasis {
            apps.insert(app.clone());
        }
        apps
    }

    /// Moves the dialplan location, as `ChannelDialplan` reports it.
    pub(crate) fn set_app(&mut self, app: &str, data: &str) {
        self.dialplan.app_name = app.to_owned();
        self.dialplan.app_data = data.to_owned();
    }
}

/// Bridge flavours ARI can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BridgeKind {
    Mixing,
    Holding,
}

/// One bridge on a node.
#[derive(Debug, Clone)]
pub(crate) struct BridgeRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: BridgeKind,
    /// `dtmf_events` or `proxy_media` was asked for: DTMF reaches the application.
    pub(crate) dtmf_events: bool,
    /// Channels in join order (the wire lists them newest first).
    pub(crate) channels: Vec<String>,
    pub(crate) created_ms: u64,
    pub(crate) subs: BTreeSet<String>,
    pub(crate) moh: Option<String>,
    pub(crate) playbacks: Vec<String>,
}

impl BridgeRec {
    /// The wire snapshot of this bridge.
    pub(crate) fn wire(&self) -> wire::Bridge {
        let (technology, bridge_type) = match self.kind {
            BridgeKind::Mixing => ("simple_bridge", wire::BridgeKind::Mixing),
            BridgeKind::Holding => ("holding_bridge", wire::BridgeKind::Holding),
        };
        wire::Bridge {
            id: self.id.clone(),
            technology: technology.to_owned(),
            bridge_type,
            bridge_class: "stasis".to_owned(),
            creator: "Stasis".to_owned(),
            name: self.name.clone(),
            channels: self.channels.iter().rev().cloned().collect(),
            video_mode: Some("talker".to_owned()),
            video_source_id: None,
            creationtime: format_wall_ms(self.created_ms),
            bridgevars: None,
        }
    }
}

/// Where a playback plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Channel(String),
    Bridge(String),
}

impl Target {
    pub(crate) fn uri(&self) -> String {
        match self {
            Self::Channel(id) => format!("channel:{id}"),
            Self::Bridge(id) => format!("bridge:{id}"),
        }
    }
}

/// One playback: a list of media items played in order.
#[derive(Debug, Clone)]
pub(crate) struct PlaybackRec {
    pub(crate) id: String,
    pub(crate) target: Target,
    pub(crate) media: Vec<String>,
    /// Index of the item playing now.
    pub(crate) index: usize,
    pub(crate) state: wire::PlaybackState,
    pub(crate) language: String,
    pub(crate) serial: u64,
}

impl PlaybackRec {
    /// The wire snapshot of this playback.
    pub(crate) fn wire(&self) -> wire::Playback {
        wire::Playback {
            id: self.id.clone(),
            media_uri: self.media.get(self.index).cloned().unwrap_or_default(),
            next_media_uri: self.media.get(self.index + 1).cloned(),
            target_uri: self.target.uri(),
            language: Some(self.language.clone()),
            state: self.state.clone(),
        }
    }
}
