//! What goes into the engine and what comes out.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::{AgentConfig, Destination, QueueConfig};
use crate::ids::{AgentId, CallId, Fence, NodeId, QueueId, ReservationId};
use crate::shared::{AgentAction, Miss, Notice, Reply, Request, StoredCall};
use crate::time::Time;

/// An input to the engine. Every input is handled with the time it happened at.
///
/// A caller's channel is named by its node and its channel id together: Asterisk channel ids
/// are unique on one server only (two servers without `systemname` produce the same ids).
#[allow(missing_docs)] // variant fields are named for what they hold
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The engine now owns `fence.node` (lease acquired at that epoch). Until the node is
    /// adopted ([`Input::Adopt`]), offers for callers the engine does not know yet are held,
    /// not given up: they may be callers an earlier owner left waiting.
    NodeOwned { fence: Fence },
    /// What the store and Asterisk hold on an owned node, read after every (re)connect of its
    /// event stream: the store's callers of the node, and the channels present in the app.
    /// The engine takes over the callers it does not follow (an earlier owner's, or its own
    /// before a restart): waiting ones get their music and timers back, their offers are rung
    /// under the same reservation and leg (a full ring timeout from now; see
    /// [`Command::Dial`]: a phone already ringing is followed, not rung twice), connected calls
    /// are followed to their end, and callers whose channel is gone end; then the held offers
    /// are acted on. Sent again from time to time, it also rings offers whose notice was lost
    /// between instances. A leg answered while nobody watched is reported by the shell as
    /// [`Input::LegAnswered`] after it.
    Adopt { node: NodeId, calls: Vec<StoredCall>, present: BTreeSet<String> },
    /// The engine no longer owns the node (its lease lapsed, another consumer took the app
    /// over, or it was handed to another instance): it forgets the node's callers without
    /// touching the store, for the next owner to adopt.
    NodeDisowned { node: NodeId },
    /// The node is gone (WebSocket and pings failed, or killed): its calls are lost.
    NodeDown { node: NodeId },
    /// A caller entered `Stasis(starq,queue=…)` on a node this engine owns.
    CallerArrived(Arrival),
    /// The caller's channel hung up.
    CallerHungUp { node: NodeId, channel: String },
    /// The caller pressed a key.
    CallerDtmf { node: NodeId, channel: String, digit: char },
    /// A playback on the caller's channel finished (Asterisk does not resume music on hold by
    /// itself after a play).
    PlaybackFinished { node: NodeId, channel: String },
    /// The caller's position, answering [`Command::QueryPosition`].
    Position { call: CallId, position: Option<u32> },
    /// An agent leg was answered.
    LegAnswered { reservation: ReservationId },
    /// An agent leg ended before being answered, or could not be created.
    LegFailed { reservation: ReservationId, miss: Miss },
    /// An answered agent leg hung up.
    LegHungUp { reservation: ReservationId },
    /// The store's reply to the oldest request not yet answered.
    Reply(Reply),
    /// Notices from replies to another engine's requests, for nodes this engine owns.
    Notices(Vec<Notice>),
    /// An agent-facing action (API).
    Agent { agent: AgentId, action: AgentAction },
    /// The store holds the agent resting (wrap-up, retry, leg teardown) until `until`: the
    /// engine ends the rest then. A rest is ended by the engine that began it; this lets
    /// another (after a takeover, or a restart) end one whose engine is gone.
    AgentResting { agent: AgentId, until: Time },
    /// The configuration changed: callers already in a queue keep the settings they entered
    /// with (their timers, their penalty rule); new callers, offers, legs and rests follow the
    /// new ones. An agent removed from it finishes its call.
    Configure { queues: Vec<QueueConfig>, agents: Vec<AgentConfig> },
    /// Change a waiting caller's priority (API).
    SetPriority { node: NodeId, channel: String, priority: i32 },
    /// Withdraw a waiting caller to the dialplan (API).
    Withdraw { node: NodeId, channel: String },
    /// Stop taking new callers: new arrivals go back to the dialplan at once. Callers already
    /// waiting are still offered to agents while the shell's grace period lasts (giving an offer
    /// back instead would only have the store offer the same caller to the same agent again).
    Drain,
}

/// A caller entering a queue, as parsed from `Stasis(starq,queue=NAME[,priority=N][,timeout=S])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The node the caller is on.
    pub node: NodeId,
    /// The caller's channel id.
    pub channel: String,
    /// The queue asked for.
    pub queue: QueueId,
    /// Caller id number.
    pub caller_id: String,
    /// Priority (higher first); the default is 0.
    pub priority: i32,
    /// A maximum wait given in the dialplan, overriding the queue's.
    pub max_wait: Option<Duration>,
    /// The caller was already waiting in this queue, since this time, under a store that has
    /// since lost it (a single box restarted, a Redis back empty): it resumes its wait with its
    /// place and hold time, and is not journaled as entering anew. Read from the channel's
    /// [`ENTRY_VARIABLE`].
    pub resumed: Option<Time>,
    /// The caller was talking to an agent, bridged with its leg, under a store that has since
    /// lost it: the call is taken back as connected, never queued again. Read from the
    /// channel's [`CONNECTED_VARIABLE`] (with `resumed` and `queue` from its entry).
    pub connected: Option<Reconnection>,
}

/// A connected call found again in Asterisk under a store that lost it (see
/// [`Arrival::connected`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconnection {
    /// The step of its failover chain it was connected in.
    pub step: u32,
    /// The agent.
    pub agent: AgentId,
    /// The offer the agent answered (its leg is `<call>-r<reservation>`).
    pub reservation: ReservationId,
    /// When it was connected.
    pub since: Time,
}

/// The channel variable starq sets on a caller once it waits in a queue,
/// `<queue>,<failover step>,<entry in ms since the Unix epoch>,<priority>` (set again when its
/// priority changes): Asterisk keeps it with the channel, so a starq that lost its store finds
/// the caller's place again.
pub const ENTRY_VARIABLE: &str = "STARQ_ENTERED";

/// The channel variable starq sets on a caller once it is bridged with an agent,
/// `<agent>,<reservation>,<connected in ms since the Unix epoch>`: with [`ENTRY_VARIABLE`], what
/// a starq that lost its store needs to take the conversation back.
pub const CONNECTED_VARIABLE: &str = "STARQ_CONNECTED";

/// A command from the engine for the shell to carry out.
#[allow(missing_docs)] // variant fields are named for what they hold
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Send to the store; feed the reply back as [`Input::Reply`], in order.
    Store(Request),
    /// Hand these notices to the engine owning their node (another instance).
    Route(Vec<Notice>),
    /// Ask the store for a caller's position; answer with [`Input::Position`].
    QueryPosition { call: CallId },
    /// Act on a caller's channel.
    Channel { node: NodeId, channel: String, action: ChannelAction },
    /// Make an agent leg ring on `node` (channel id `leg`), in the Stasis app, for the
    /// caller's `channel`: create the leg unless a channel with that id exists, and dial it
    /// unless it was dialed (reporting [`Input::LegAnswered`] if it was answered already).
    /// An offer has one leg id, so an offer rung again after a takeover meets any leg its
    /// earlier owner made, even one whose request lands late, and the phone rings once.
    Dial {
        node: NodeId,
        leg: String,
        channel: String,
        agent: AgentId,
        reservation: ReservationId,
        endpoint: String,
        caller_id: String,
        timeout: Duration,
    },
    /// Bridge the caller's channel with the answered agent leg.
    Bridge { node: NodeId, channel: String, leg: String },
    /// Hang an agent leg up.
    HangupLeg { node: NodeId, leg: String, reason: LegHangup },
    /// The store refused a request for this node: another instance owns it now. Stop acting.
    NodeFenced { node: NodeId },
}

/// An action on a caller's channel.
#[allow(missing_docs)] // variant fields are named for what they hold
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelAction {
    /// Answer it.
    Answer,
    /// Indicate ringing.
    Ring,
    /// Start music on hold of a class.
    StartMoh(String),
    /// Stop music on hold.
    StopMoh,
    /// Play media in order (MOH resumes after).
    Play(Vec<String>),
    /// Continue in the dialplan with `STARQ_OUTCOME` set to `status`.
    Continue { destination: Option<Destination>, status: &'static str },
    /// Note on the channel ([`ENTRY_VARIABLE`]) that it waits in `queue`, at this step of its
    /// failover chain, since `entered`, with this priority.
    NoteEntry { queue: QueueId, step: u32, entered: Time, priority: i32 },
    /// Note on the channel ([`CONNECTED_VARIABLE`]) that it talks to `agent` under
    /// `reservation` since `since`.
    NoteConnected { agent: AgentId, reservation: ReservationId, since: Time },
    /// Hang it up.
    Hangup,
}

/// Why starq hangs an agent leg up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegHangup {
    /// Rang for the ring timeout.
    Timeout,
    /// Another agent answered first (ARI reason `answered_elsewhere`).
    AnsweredElsewhere,
    /// The caller left, or the offer ended otherwise.
    Cancelled,
    /// The call is over.
    Normal,
}
