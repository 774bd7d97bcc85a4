//! The journal: every state change of the shared store, as a record appended in the same atomic
//! step as the change. Reports (`queue_log`, call records) are built from it, so a change and
//! its record can never disagree.

use std::time::Duration;

use crate::ids::{AgentId, CallId, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::shared::{Miss, Party};
use crate::time::Time;

/// One journal record. `seq` is assigned by the store, strictly increasing.
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
    Entered { call: CallId, queue: QueueId, node: NodeId, caller_id: String, position: u32 },
    /// A caller was refused at entry (`FULL`, `JOINEMPTY`, `JOINUNAVAIL`); terminal.
    Refused { call: CallId, queue: QueueId, node: NodeId, caller_id: String, outcome: Outcome },
    /// An agent was offered a caller (the leg starts ringing).
    Offered { call: CallId, queue: QueueId, agent: AgentId, reservation: ReservationId },
    /// An offered agent did not take the call (`RINGNOANSWER`, or busy/unreachable).
    Missed { call: CallId, queue: QueueId, agent: AgentId, miss: Miss, rang: Duration },
    /// An offer ended because the caller left or another agent answered (`RINGCANCELED`).
    OfferCancelled { call: CallId, queue: QueueId, agent: AgentId, rang: Duration },
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
    /// after missed offers.
    Paused { agent: AgentId, queue: Option<QueueId>, reason: String, auto: bool },
    /// An agent unpaused in one queue or all (`UNPAUSE` / `UNPAUSEALL`).
    Unpaused { agent: AgentId, queue: Option<QueueId> },
    /// An agent's penalty in a queue changed (`PENALTY`).
    PenaltyChanged { agent: AgentId, queue: QueueId, penalty: u32 },
    /// An agent's phones became reachable or unreachable.
    Reachability { agent: AgentId, reachable: bool },
    /// Configuration made an agent a member of a queue (`ADDMEMBER`).
    MemberAdded { agent: AgentId, queue: QueueId, penalty: u32 },
    /// Configuration removed an agent from a queue (`REMOVEMEMBER`).
    MemberRemoved { agent: AgentId, queue: QueueId },
}

impl JournalEvent {
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
