//! The protocol between the engine and the shared store: what the core asks, what it is told.
//!
//! Every routing decision that two instances could race on is one [`Request`], applied
//! atomically by the store (in Redis: one function call). A request's [`Reply`] carries its own
//! result and the [`Notice`]s it produced: offers of callers to agents, reservations cancelled,
//! callers made to leave. A notice concerns the node of its caller; the shell hands it to the
//! engine that owns that node (which may be another instance). Requests are applied in the order
//! the engine emits them and replies come back in that order.
//!
//! Node-scoped requests carry a [`Fence`]; the store refuses them when the node's lease has moved
//! on to a newer epoch, so a stale instance cannot act for a node it lost.

use std::time::Duration;

use crate::config::Window;
use crate::ids::{AgentId, CallId, Fence, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::time::Time;

/// The least rest after an unreachable phone, whatever the queue's `retry`: ringing a phone
/// that cannot be reached again at once would loop (mod_callcenter waits 5 s too).
pub const UNREACHABLE_RETRY: Duration = Duration::from_secs(5);

/// The least rest of an agent whose leg starq still has to hang up: after a call the caller
/// hung up first, after an offer cancelled (the caller left, or another agent answered first)
/// and after an offer that rang unanswered. The hang-up must reach the phone before the next
/// offer rings it, or the phone rings while still on the last call. An agent who hung up, or
/// whose node was lost, has no leg left to hang up.
pub const LEG_TEARDOWN: Duration = Duration::from_secs(1);

/// The wrap-up an agent gets after a call: the configured one, at least [`LEG_TEARDOWN`] when
/// starq still has the agent's leg to hang up. The store applies it, and the engine arms the
/// matching timer.
pub fn wrapup_after(wrapup: Duration, leg_to_hang_up: bool) -> Duration {
    if leg_to_hang_up { wrapup.max(LEG_TEARDOWN) } else { wrapup }
}

/// How long an agent rests after a missed offer, before being offered again. A failure that is
/// not the agent's (the leg could not be made) costs no retry, only [`LEG_TEARDOWN`] while starq
/// hangs up the leg the request may have made after all; an unreachable phone at least
/// [`UNREACHABLE_RETRY`]; an unanswered or busy one at least [`LEG_TEARDOWN`], as starq hangs
/// its leg up (Asterisk leaves a leg that said busy up until the dial timeout). The store
/// applies it, and the engine arms the matching timer.
pub fn rest_after(miss: Miss, retry: Duration) -> Option<Duration> {
    let rest = match miss {
        // The request may have made a leg after all (it timed out): hung up meanwhile.
        Miss::Failed => LEG_TEARDOWN,
        Miss::Unreachable => retry.max(UNREACHABLE_RETRY),
        Miss::NoAnswer | Miss::Busy => retry.max(LEG_TEARDOWN),
    };
    (!rest.is_zero()).then_some(rest)
}

/// The channel id of the agent leg that rings `reservation` for `call`: one per offer, so that
/// whoever rings it (its owner, the next one after a takeover) makes the same channel, and any
/// instance can hang it up.
pub fn leg_id(call: &CallId, reservation: ReservationId) -> String {
    crate::ids::LegId::new(call.clone(), reservation).to_string()
}

/// A request to the shared store.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum Request {
    /// A caller enters a queue: join rules, `maxlen`, then matching.
    Enqueue(Enqueue),
    /// A caller's penalty window changed (a rule step fired): match again.
    SetWindow { fence: Fence, call: CallId, window: Window, now: Time },
    /// A waiting caller's priority changed: re-sort and match again.
    SetPriority { fence: Fence, call: CallId, priority: i32, now: Time },
    /// A caller leaves without being connected (abandon, timeout, key, empty, withdraw, node
    /// lost, drain). Its reservations are cancelled.
    Leave { fence: Fence, call: CallId, outcome: Outcome, now: Time },
    /// An offered agent answered: confirm the reservation, cancel the caller's others.
    Answered { fence: Fence, reservation: ReservationId, now: Time },
    /// An offered agent did not take the call.
    Missed { fence: Fence, reservation: ReservationId, miss: Miss, now: Time, draw: u64 },
    /// Under `ring-progressively`: reserve one more agent for a caller already ringing some.
    Extend { fence: Fence, call: CallId, now: Time },
    /// A connected call ended; the agent goes to wrap-up.
    Hangup { fence: Fence, call: CallId, by: Party, now: Time, draw: u64 },
    /// The agent's wrap-up or retry rest is over (idempotent: refused if not yet due).
    AgentReady { agent: AgentId, now: Time, draw: u64 },
    /// An agent-facing action (login, pause, …), from the API or a phone.
    Agent { agent: AgentId, action: AgentAction, now: Time, draw: u64 },
    /// A connected call the store no longer holds (it lost its state) that Asterisk still
    /// bridges: taken back as connected, its agent on the call.
    Reconnect(Reconnect),
}

/// A connected call taken back by a store that lost it (see [`Request::Reconnect`]): the
/// call is held as connected under its reservation, its agent on the call (logged in again if
/// the store had it logged out), and reservation ids go on above its own. Nothing is
/// journaled: its entry and its connection were, before the loss; its end is journaled as any
/// call's, with the original position unknown (0).
#[derive(Clone, Debug, PartialEq)]
pub struct Reconnect {
    /// The caller's node and the acting instance's epoch on it.
    pub fence: Fence,
    /// The caller.
    pub call: CallId,
    /// The queue it was connected from.
    pub queue: QueueId,
    /// Caller id (number), for reports.
    pub caller_id: String,
    /// When it first entered the queue.
    pub entered: Time,
    /// The agent it talks to.
    pub agent: AgentId,
    /// The offer the agent answered.
    pub reservation: ReservationId,
    /// When it was connected.
    pub since: Time,
    /// When the request is made.
    pub now: Time,
}

/// A caller entering a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Enqueue {
    /// The caller's node and the acting instance's epoch on it.
    pub fence: Fence,
    /// The caller.
    pub call: CallId,
    /// The queue.
    pub queue: QueueId,
    /// Caller id (number), for reports.
    pub caller_id: String,
    /// Higher is served first.
    pub priority: i32,
    /// Penalty window at entry.
    pub window: Window,
    /// When the request is made; the caller's entry time (with priority, its rank) unless it
    /// is `resumed`.
    pub now: Time,
    /// The caller resumes a wait begun at this time, under a store that lost it (see
    /// [`Arrival::resumed`](crate::engine::Arrival::resumed)): it ranks from then, and its
    /// journal record says so ([`JournalEvent::Entered`](crate::journal::JournalEvent)).
    pub resumed: Option<Time>,
}

/// Which side hung up a connected call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The caller.
    Caller,
    /// The agent.
    Agent,
}

/// Why an offer was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// Rang until the ring timeout (`RINGNOANSWER`).
    NoAnswer,
    /// The phone was busy.
    Busy,
    /// The phone could not be reached (unregistered, congestion, no contact on a live node).
    Unreachable,
    /// The offer was withdrawn before an answer for a reason that is not the agent's fault
    /// (e.g. the leg could not be created); counts for no auto-pause.
    Failed,
}

/// An agent's presence as a durable record last saw it (the reports database, written from the
/// journal): what a store that lost its state, or a single box restarted, is given back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// The agent.
    pub agent: AgentId,
    /// Logged in.
    pub logged_in: bool,
    /// Paused in every queue, with the reason.
    pub paused_all: Option<String>,
    /// Paused in these queues, with reasons.
    pub paused: Vec<(QueueId, String)>,
}

impl Presence {
    /// The agent actions that bring a logged-out agent back to this presence, in order.
    pub fn actions(&self) -> Vec<AgentAction> {
        if !self.logged_in {
            return Vec::new();
        }
        let mut actions = vec![AgentAction::Login];
        if let Some(reason) = &self.paused_all {
            actions.push(AgentAction::Pause { queue: None, reason: reason.clone() });
        }
        for (queue, reason) in &self.paused {
            actions.push(AgentAction::Pause { queue: Some(queue.clone()), reason: reason.clone() });
        }
        actions
    }
}

/// An action on an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum AgentAction {
    /// Log in to every queue of the agent's memberships.
    Login,
    /// Log out; refused while the agent is reserved or on a call.
    Logout,
    /// Pause in one queue, or in all of them.
    Pause { queue: Option<QueueId>, reason: String },
    /// Unpause in one queue, or in all of them.
    Unpause { queue: Option<QueueId> },
    /// Change the agent's penalty in a queue.
    SetPenalty { queue: QueueId, penalty: u32 },
    /// The agent's phones became reachable or unreachable from every live node.
    SetReachable { reachable: bool },
}

/// The store's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The request's own result.
    pub result: Verdict,
    /// What the request caused for callers, to be handed to their nodes' owners.
    pub notices: Vec<Notice>,
}

/// The result of a request, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done, nothing more to say.
    Done,
    /// The caller joined at this position (1-based), with this many agents serving the queue.
    #[allow(missing_docs)]
    Joined { position: u32, serving: u32 },
    /// The caller was refused at entry; its terminal outcome is recorded.
    Refused(Outcome),
    /// This call already ended, with this outcome (an `Enqueue` of a channel found again while
    /// it was on its way out, or left behind by an instance that died before moving it): nothing
    /// is recorded again; only the channel is left to send on or hang up.
    Ended(Outcome),
    /// The reservation was confirmed: the agent is on the call.
    #[allow(missing_docs)]
    Confirmed { agent: AgentId },
    /// The request no longer applies (caller gone, reservation already ended, agent not
    /// resting): the store changed nothing.
    Stale,
    /// The node's lease has a newer epoch than the request's: the acting instance lost the node.
    Fenced,
    /// Unknown queue, agent or call, or an action not allowed in the agent's state.
    Invalid(String),
}

/// Something a request caused that the caller's node owner must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum Notice {
    /// Ring this agent for this caller.
    Offer(Offer),
    /// This reservation ended without the agent taking the call (another agent answered, or the
    /// caller left): hang the agent leg up.
    Cancelled(Offer),
    /// The caller must leave the queue with this outcome (`leavewhenempty`).
    Evict { call: CallId, node: NodeId, queue: QueueId, outcome: Outcome },
}

impl Notice {
    /// The node whose owner handles this notice.
    pub fn node(&self) -> &NodeId {
        match self {
            Notice::Offer(o) | Notice::Cancelled(o) => &o.node,
            Notice::Evict { node, .. } => node,
        }
    }
}

/// One offer of one caller to one agent, under a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The reservation that holds the agent for this caller.
    pub reservation: ReservationId,
    /// The caller.
    pub call: CallId,
    /// The caller's node: where the agent leg is created.
    pub node: NodeId,
    /// The queue the caller waits in.
    pub queue: QueueId,
    /// The agent.
    pub agent: AgentId,
    /// How long the agent may ring before the offer is missed.
    pub ring_timeout: Duration,
}

/// A caller as the store holds it, read back by a new owner of its node to adopt it: an
/// instance that takes a node over (or restarts) knows nothing of the callers Asterisk kept in
/// the app meanwhile, and must rebuild their waits from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCall {
    /// The caller (its channel and failover step are in the id).
    pub call: CallId,
    /// The queue it is in.
    pub queue: QueueId,
    /// Caller id (number), shown to the agents it rings.
    pub caller_id: String,
    /// When it entered the queue: its rank, and where its timers run from.
    pub entered: Time,
    /// Where the call stands.
    pub state: StoredState,
}

/// Where a stored caller stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredState {
    /// In the queue, ringing the agents of these reservations (none while only waiting).
    Waiting {
        /// Offers in progress, with their agents.
        offers: Vec<(ReservationId, AgentId)>,
    },
    /// Talking to `agent`, under `reservation`, since `since`.
    Connected {
        /// The confirmed reservation: it names the agent leg (`<call>-r<n>`).
        reservation: ReservationId,
        /// The agent on the call.
        agent: AgentId,
        /// When the call was connected.
        since: Time,
    },
}
