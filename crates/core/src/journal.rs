//! The journal: every state change of the shared store, as a record appended in the same atomic
//! step as the change. Reports (`queue_log`, call records) are built from it, so a change and
//! its record can never disagree.
//!
//! A journal has a [`JournalId`]: seqs are unique within one journal only (an embedded store's
//! journal starts at 1 again with every process), so a reader keeps its position as a seq *of*
//! a journal id.

use std::fmt;
use std::time::Duration;

use crate::ids::{AgentId, CallId, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::shared::{Miss, Party};
use crate::time::Time;

/// Which journal a seq belongs to: the time (epoch ms) the journal's first record was stamped
/// with. A journal that starts anew (a restarted process's memory store, a Redis that lost its
/// data) gets a new one, as its first record comes later; the stores read no clock for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JournalId(pub u64);

impl fmt::Display for JournalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why an offer was cancelled rather than answered or missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelCause {
    /// The caller left the queue while the agent's leg rang (hung up, pressed a key, timed
    /// out, was withdrawn, lost with its node, drained): app_queue's `RINGCANCELED`.
    CallerLeft,
    /// Another agent of a ring-all (or ring-progressively) offer answered first; app_queue
    /// logs nothing for the losing legs.
    AnsweredElsewhere,
}

/// One journal record. `seq` is assigned by the store, strictly increasing within a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Position in the journal; unique, so a reporter can write each record exactly once.
    pub seq: u64,
    /// When the change happened.
    pub time: Time,
    /// What happened.
    pub event: JournalEvent,
}

/// What a journal record says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // variant fields are named for what they hold
pub enum JournalEvent {
    /// A caller joined a queue (`ENTERQUEUE`).
    ///
    /// `resumed`: the caller had entered at that time, under a store that has since lost it;
    /// its `ENTERQUEUE` was written then, and its wait counts from then.
    Entered {
        call: CallId,
        queue: QueueId,
        node: NodeId,
        caller_id: String,
        position: u32,
        resumed: Option<Time>,
    },
    /// A caller was refused at entry (`FULL`, `JOINEMPTY`, `JOINUNAVAIL`); terminal.
    Refused { call: CallId, queue: QueueId, node: NodeId, caller_id: String, outcome: Outcome },
    /// An agent was offered a caller (the leg starts ringing).
    Offered { call: CallId, queue: QueueId, agent: AgentId, reservation: ReservationId },
    /// An offered agent did not take the call (`RINGNOANSWER`, or busy/unreachable).
    Missed { call: CallId, queue: QueueId, agent: AgentId, miss: Miss, rang: Duration },
    /// An offer ended because the caller left (`RINGCANCELED`) or another agent answered.
    OfferCancelled {
        call: CallId,
        queue: QueueId,
        agent: AgentId,
        rang: Duration,
        cause: CancelCause,
    },
    /// Caller and agent connected (`CONNECT`).
    Connected {
        call: CallId,
        queue: QueueId,
        agent: AgentId,
        reservation: ReservationId,
        hold: Duration,
        rang: Duration,
    },
    /// A connected call ended (`COMPLETECALLER` / `COMPLETEAGENT`); terminal.
    Completed {
        call: CallId,
        queue: QueueId,
        agent: AgentId,
        by: Party,
        hold: Duration,
        talk: Duration,
        original_position: u32,
    },
    /// A caller left without being connected (`ABANDON`, `EXITWITHTIMEOUT`, `EXITEMPTY`,
    /// `EXITWITHKEY`, `WITHDRAW`, or starq's node-lost / drained); terminal.
    Left {
        call: CallId,
        queue: QueueId,
        outcome: Outcome,
        position: u32,
        original_position: u32,
        hold: Duration,
    },
    /// An agent logged in (`AGENTLOGIN`).
    LoggedIn { agent: AgentId },
    /// An agent logged out (`AGENTLOGOFF`), with the session's length.
    LoggedOut { agent: AgentId, session: Duration },
    /// An agent paused in one queue or all (`PAUSE` / `PAUSEALL`); `auto` when starq did it
    /// after missed offers. For a pause in all queues (`queue` is `None`), `members` are the
    /// queues the agent was a member of at that moment, in queue id order (app_queue logs a
    /// `PAUSE` in each); empty for a pause in one queue.
    Paused {
        agent: AgentId,
        queue: Option<QueueId>,
        reason: String,
        auto: bool,
        members: Vec<QueueId>,
    },
    /// An agent unpaused in one queue or all (`UNPAUSE` / `UNPAUSEALL`); `members` as for
    /// [`Paused`](JournalEvent::Paused).
    Unpaused { agent: AgentId, queue: Option<QueueId>, members: Vec<QueueId> },
    /// An agent's penalty in a queue changed (`PENALTY`).
    PenaltyChanged { agent: AgentId, queue: QueueId, penalty: u32 },
    /// An agent's phones became reachable or unreachable.
    Reachability { agent: AgentId, reachable: bool },
    /// Configuration made an agent a member of a queue. Every membership comes from
    /// configuration (a static member, in app_queue's words), so `queue_log` has no line for
    /// it, as app_queue has none for `queues.conf` members.
    MemberAdded { agent: AgentId, queue: QueueId, penalty: u32 },
    /// Configuration removed an agent from a queue (no `queue_log` line, as for
    /// [`MemberAdded`](JournalEvent::MemberAdded)).
    MemberRemoved { agent: AgentId, queue: QueueId },
}

impl JournalEvent {
    /// The caller this record is about, if it is about one.
    pub fn caller(&self) -> Option<&CallId> {
        match self {
            JournalEvent::Entered { call, .. }
            | JournalEvent::Refused { call, .. }
            | JournalEvent::Offered { call, .. }
            | JournalEvent::Missed { call, .. }
            | JournalEvent::OfferCancelled { call, .. }
            | JournalEvent::Connected { call, .. }
            | JournalEvent::Completed { call, .. }
            | JournalEvent::Left { call, .. } => Some(call),
            JournalEvent::LoggedIn { .. }
            | JournalEvent::LoggedOut { .. }
            | JournalEvent::Paused { .. }
            | JournalEvent::Unpaused { .. }
            | JournalEvent::PenaltyChanged { .. }
            | JournalEvent::Reachability { .. }
            | JournalEvent::MemberAdded { .. }
            | JournalEvent::MemberRemoved { .. } => None,
        }
    }

    /// The caller this record ends, if it is a caller's terminal record.
    pub fn terminal_call(&self) -> Option<&CallId> {
        match self {
            JournalEvent::Refused { call, .. }
            | JournalEvent::Completed { call, .. }
            | JournalEvent::Left { call, .. } => Some(call),
            _ => None,
        }
    }
}
