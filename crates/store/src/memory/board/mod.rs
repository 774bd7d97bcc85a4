//! The routing board: queues, agents, callers and reservations, and the atomic application of
//! one [`Request`]. This is the reference semantics of the store; the Redis functions implement
//! the same steps on the same orderings.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use starq_core::config::{AgentConfig, QueueConfig, Window};
use starq_core::journal::JournalEvent;
use starq_core::shared::{Notice, Request, Verdict};
use starq_core::strategy::Score;
use starq_core::{AgentId, CallId, NodeId, Outcome, QueueId, ReservationId, Time};

use super::agent::{AgentState, CLASSES, MemberStats};
use super::index::{Available, Rank, Waiting};
use super::ranked::RankedSet;

mod agents;
mod bookkeeping;
mod callers;
mod matching;

#[derive(Debug)]
pub(crate) struct QueueState {
    pub(crate) config: Arc<QueueConfig>,
    pub(crate) waiting: Waiting,
    /// Every caller in the queue not yet connected (waiting or ringing), for positions.
    pub(crate) present: RankedSet<Rank>,
    pub(crate) available: Available,
    /// Logged-in members per tier, per status class (see [`CLASSES`]).
    pub(crate) counts: BTreeMap<u32, [u32; CLASSES]>,
    pub(crate) rr_cursor: Option<Score>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallerStatus {
    /// Matchable: in the waiting index.
    Waiting,
    /// Ringing one or more agents.
    Offered,
    /// Talking to `agent` since `since`, under `reservation`.
    Connected { agent: AgentId, since: Time, reservation: ReservationId },
}

#[derive(Debug)]
pub(crate) struct CallerState {
    pub(crate) queue: QueueId,
    pub(crate) node: NodeId,
    pub(crate) rank: Rank,
    pub(crate) window: Window,
    pub(crate) entered: Time,
    pub(crate) caller_id: String,
    pub(crate) original_position: u32,
    pub(crate) status: CallerStatus,
    pub(crate) reservations: BTreeSet<ReservationId>,
}

#[derive(Clone, Debug)]
pub(crate) struct Reservation {
    pub(crate) call: CallId,
    pub(crate) agent: AgentId,
    pub(crate) queue: QueueId,
    pub(crate) created: Time,
}

/// How long a call's end is remembered so that it cannot enter again (a caller's channel is
/// gone or sent on well within it).
pub(crate) const ENDED_KEPT: Duration = Duration::from_secs(3600);

/// Everything routing decides on, for one site.
#[derive(Debug, Default)]
pub(crate) struct Board {
    pub(crate) queues: BTreeMap<QueueId, QueueState>,
    pub(crate) agents: BTreeMap<AgentId, AgentState>,
    pub(crate) callers: BTreeMap<CallId, CallerState>,
    pub(crate) reservations: BTreeMap<ReservationId, Reservation>,
    /// Calls whose stay ended recently: when, and how (see `mark_ended`).
    pub(crate) ended: BTreeMap<CallId, (Time, Outcome)>,
    ended_order: VecDeque<(Time, CallId)>,
    next_reservation: u64,
    next_seq: u64,
}

/// The effects of one request being applied: its journal records and notices.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) journal: Vec<JournalEvent>,
    pub(crate) notices: Vec<Notice>,
}

impl Board {
    /// Installs or updates queues and agents, keeping the runtime state of those that remain.
    /// Returns the memberships it added and removed (per agent in configuration order: added
    /// ones in the agent's order, then removed ones by queue id), as journal records.
    pub(crate) fn configure(
        &mut self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
    ) -> Vec<JournalEvent> {
        let mut changes = Vec::new();
        for q in queues {
            match self.queues.get_mut(&q.id) {
                Some(state) => state.config = Arc::new(q.clone()),
                None => {
                    self.queues.insert(
                        q.id.clone(),
                        QueueState {
                            config: Arc::new(q.clone()),
                            waiting: Waiting::default(),
                            present: RankedSet::default(),
                            available: Available::default(),
                            counts: BTreeMap::new(),
                            rr_cursor: None,
                        },
                    );
                }
            }
        }
        // Member order per queue follows the order agents are configured in.
        let mut next_order: BTreeMap<QueueId, u32> = BTreeMap::new();
        for a in agents {
            let orders: BTreeMap<QueueId, u32> = a
                .memberships
                .iter()
                .map(|m| {
                    let n = next_order.entry(m.queue.clone()).or_insert(0);
                    *n += 1;
                    (m.queue.clone(), *n - 1)
                })
                .collect();
            let fresh = AgentState::new(a.clone(), &orders);
            let known = self.agents.get(&a.id);
            for m in &a.memberships {
                if !known.is_some_and(|state| state.members.contains_key(&m.queue)) {
                    changes.push(JournalEvent::MemberAdded {
                        agent: a.id.clone(),
                        queue: m.queue.clone(),
                        penalty: m.penalty,
                    });
                }
            }
            match self.agents.get_mut(&a.id) {
                Some(state) => {
                    state.config = a.clone();
                    for q in state.members.keys() {
                        if !a.memberships.iter().any(|m| &m.queue == q) {
                            let (agent, queue) = (a.id.clone(), q.clone());
                            changes.push(JournalEvent::MemberRemoved { agent, queue });
                        }
                    }
                    for (q, stats) in fresh.members {
                        let old = state.members.remove(&q);
                        let kept = old.map(|o| MemberStats {
                            penalty: stats.penalty,
                            order: stats.order,
                            ..o
                        });
                        state.members.insert(q, kept.unwrap_or(stats));
                    }
                    state.members.retain(|q, _| a.memberships.iter().any(|m| &m.queue == q));
                }
                None => {
                    self.agents.insert(a.id.clone(), fresh);
                }
            }
            self.refresh_agent(&a.id, 0);
        }
        // An agent left out of the configuration leaves every queue, in id order after the
        // others; its state stays, so a call in progress goes on to its end.
        let configured: BTreeSet<&AgentId> = agents.iter().map(|a| &a.id).collect();
        let gone: Vec<AgentId> =
            self.agents.keys().filter(|id| !configured.contains(id)).cloned().collect();
        for id in gone {
            let state = self.agents.get_mut(&id).expect("listed");
            if state.members.is_empty() {
                continue;
            }
            for queue in std::mem::take(&mut state.members).into_keys() {
                changes.push(JournalEvent::MemberRemoved { agent: id.clone(), queue });
            }
            state.config.memberships.clear();
            self.refresh_agent(&id, 0);
        }
        changes
    }

    /// After [`configure`](Self::configure): offers waiting callers to the agents the new
    /// configuration lets take them (a lowered penalty, a new membership, a queue's new weight
    /// or `penaltymemberslimit`). Candidates are the configured agents and the available agents
    /// of the configured queues, matched one by one in id order as if each had just become
    /// available; one that is not available (or was just reserved) matches nothing.
    pub(crate) fn rematch(
        &mut self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
        fx: &mut Effects,
    ) {
        let mut candidates: BTreeSet<AgentId> = agents.iter().map(|a| a.id.clone()).collect();
        for q in queues {
            candidates.extend(self.queues[&q.id].available.agents().cloned());
        }
        for id in candidates {
            self.match_agent(&id, now, fx);
        }
    }

    /// Applies one request atomically.
    pub(crate) fn apply(&mut self, request: Request, fx: &mut Effects) -> Verdict {
        match request {
            Request::Enqueue(e) => self.enqueue(e, fx),
            Request::Reconnect(r) => self.reconnect(r),
            Request::SetWindow { call, window, now, .. } => self.set_window(&call, window, now, fx),
            Request::SetPriority { call, priority, now, .. } => {
                self.set_priority(&call, priority, now, fx)
            }
            Request::Leave { call, outcome, now, .. } => self.leave(&call, outcome, now, fx),
            Request::Answered { reservation, now, .. } => self.answered(reservation, now, fx),
            Request::Missed { reservation, miss, now, draw, .. } => {
                self.missed(reservation, miss, now, draw, fx)
            }
            Request::Extend { call, now, .. } => self.extend(&call, now, fx),
            Request::Hangup { call, by, now, draw, .. } => self.hangup(&call, by, now, draw, fx),
            Request::AgentReady { agent, now, draw } => self.agent_ready(&agent, now, draw, fx),
            Request::Agent { agent, action, now, draw } => {
                self.agent_action(&agent, action, now, draw, fx)
            }
        }
    }
}

/// The 1-based position of a caller in its queue, in O(log n).
fn position_of(q: &QueueState, rank: &Rank) -> u32 {
    u32::try_from(q.present.rank(rank) + 1).unwrap_or(u32::MAX)
}
