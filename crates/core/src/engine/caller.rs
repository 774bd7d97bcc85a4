//! What the engine remembers about one caller between events.

use std::sync::Arc;

use super::timers::TimerKey;
use crate::config::QueueConfig;
use crate::ids::{AgentId, CallId, NodeId, ReservationId};
use crate::outcome::Outcome;
use crate::shared::Offer;
use crate::time::Time;

/// Where a caller is, as far as this engine is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Enqueue sent, no reply yet.
    Joining,
    /// In the queue (waiting or ringing agents).
    Waiting,
    /// Bridged with the agent of this reservation.
    Connected(ReservationId),
    /// Outcome decided; about to be dropped.
    Ending,
}

#[derive(Debug)]
pub(super) struct Caller {
    pub(super) channel: String,
    pub(super) node: NodeId,
    pub(super) queue: Arc<QueueConfig>,
    pub(super) caller_id: String,
    pub(super) entered: Time,
    pub(super) phase: Phase,
    pub(super) outcome: Option<Outcome>,
    pub(super) agent: Option<AgentId>,
    pub(super) connected_at: Time,
    /// Agents serving the queue when the caller joined: the hold-time estimate's divisor.
    pub(super) serving: u32,
    /// The position last announced (0: none yet).
    pub(super) position: u32,
    /// When the position was last announced.
    pub(super) announced_at: Option<Time>,
    pub(super) said_holdtime: bool,
    pub(super) periodic_index: usize,
    /// The channel no longer exists (hung up, node lost): nothing to send it.
    pub(super) channel_gone: bool,
    /// Which step of a failover chain this queue is (0 for the first queue).
    pub(super) step: u32,
    /// Higher is served first.
    pub(super) priority: i32,
}

impl Caller {
    pub(super) fn new(
        channel: String,
        node: NodeId,
        queue: Arc<QueueConfig>,
        caller_id: String,
        now: Time,
    ) -> Self {
        Caller {
            channel,
            node,
            queue,
            caller_id,
            entered: now,
            phase: Phase::Joining,
            outcome: None,
            agent: None,
            connected_at: now,
            serving: 0,
            position: 0,
            announced_at: None,
            said_holdtime: false,
            periodic_index: 0,
            channel_gone: false,
            step: 0,
            priority: 0,
        }
    }
}

/// A ringing (or answered) agent leg.
#[derive(Debug)]
pub(super) struct Leg {
    pub(super) id: String,
    pub(super) offer: Offer,
    pub(super) answered: bool,
}

/// Every timer that belongs to a caller's wait.
pub(super) fn timer_keys(call: &CallId) -> [TimerKey; 5] {
    [
        TimerKey::MaxWait(call.clone()),
        TimerKey::RuleStep(call.clone()),
        TimerKey::Announce(call.clone()),
        TimerKey::Periodic(call.clone()),
        TimerKey::Extend(call.clone()),
    ]
}
