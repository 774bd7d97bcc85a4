//! One agent's state in the store, and how it maps to availability and the empty-queue rules.

use std::collections::BTreeMap;

use starq_core::config::{AgentConfig, MemberCondition};
use starq_core::strategy::Score;
use starq_core::{CallId, QueueId, ReservationId, Time};

/// Where an agent is in its lifecycle (pauses are kept apart: a paused agent finishes its call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    LoggedOut,
    /// Logged in, free.
    Idle,
    /// Held for a caller while the agent's leg rings.
    Reserved(ReservationId),
    /// Talking to a caller.
    OnCall(CallId),
    /// Not offered calls until `until`: wrap-up after a call, or the retry back-off after a miss.
    Resting {
        until: Time,
        wrapup: bool,
    },
}

/// The agent's counters in one queue.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberStats {
    pub(crate) penalty: u32,
    pub(crate) order: u32,
    pub(crate) last_call_end: Time,
    pub(crate) calls_taken: u64,
}

#[derive(Debug)]
pub(crate) struct AgentState {
    pub(crate) config: AgentConfig,
    pub(crate) status: Status,
    pub(crate) reachable: bool,
    pub(crate) logged_in_at: Time,
    pub(crate) paused_all: Option<String>,
    pub(crate) paused: BTreeMap<QueueId, String>,
    pub(crate) members: BTreeMap<QueueId, MemberStats>,
    pub(crate) misses_in_row: u32,
    /// Where the agent currently sits in each queue's availability index: (penalty, score).
    pub(crate) indexed: BTreeMap<QueueId, (u32, Score)>,
    /// Which counter of each queue currently counts the agent: (penalty, class).
    pub(crate) counted: BTreeMap<QueueId, (u32, usize)>,
}

/// Status classes the empty-queue rules distinguish; with the paused flag, 12 counters per tier.
pub(crate) const CLASSES: usize = 12;

impl AgentState {
    pub(crate) fn new(config: AgentConfig, orders: &BTreeMap<QueueId, u32>) -> Self {
        let members = config
            .memberships
            .iter()
            .map(|m| {
                let order = orders.get(&m.queue).copied().unwrap_or(0);
                (m.queue.clone(), MemberStats { penalty: m.penalty, order, ..Default::default() })
            })
            .collect();
        AgentState {
            config,
            status: Status::LoggedOut,
            reachable: true,
            logged_in_at: Time::ZERO,
            paused_all: None,
            paused: BTreeMap::new(),
            members,
            misses_in_row: 0,
            indexed: BTreeMap::new(),
            counted: BTreeMap::new(),
        }
    }

    pub(crate) fn is_paused_in(&self, queue: &QueueId) -> bool {
        self.paused_all.is_some() || self.paused.contains_key(queue)
    }

    /// Whether the agent may be offered a call from `queue` right now.
    pub(crate) fn is_available_in(&self, queue: &QueueId) -> bool {
        self.status == Status::Idle && self.reachable && !self.is_paused_in(queue)
    }

    /// The empty-rule counter class in `queue`, or `None` when logged out (not a member then).
    pub(crate) fn class_in(&self, queue: &QueueId) -> Option<usize> {
        let status = match self.status {
            Status::LoggedOut => return None,
            _ if !self.reachable => 4,
            Status::Idle => 0,
            Status::Reserved(_) => 1,
            Status::OnCall(_) => 2,
            Status::Resting { wrapup: true, .. } => 3,
            Status::Resting { wrapup: false, .. } => 5,
        };
        Some(status + if self.is_paused_in(queue) { 6 } else { 0 })
    }
}

/// Whether a member in counter class `class` still counts as available under `excluded`.
pub(crate) fn class_counts(class: usize, excluded: starq_core::config::EmptyConditions) -> bool {
    let paused = class >= 6;
    if paused && excluded.contains(MemberCondition::Paused) {
        return false;
    }
    let condition = match class % 6 {
        1 => Some(MemberCondition::Ringing),
        2 => Some(MemberCondition::InUse),
        3 => Some(MemberCondition::WrapUp),
        4 => Some(MemberCondition::Unavailable),
        _ => None,
    };
    condition.is_none_or(|c| !excluded.contains(c))
}
