//! Nodes: losing one, and forgetting one another instance took over.

use super::caller::{self, Phase};
use super::{Engine, Pending, TimerKey};
use crate::ids::{CallId, NodeId, ReservationId};
use crate::outcome::Outcome;
use crate::shared::Request;

impl Engine {
    /// The node is gone: its callers end as node-lost and the store frees their agents.
    pub(super) fn node_down(&mut self, node: &NodeId) {
        let Some(fence) = self.nodes.get(node).cloned() else { return };
        let calls = self.callers_on(node);
        for call in calls {
            let c = self.callers.get_mut(&call).expect("listed");
            c.channel_gone = true;
            if let Phase::Connected(r) = c.phase {
                // The store frees the agent into wrap-up and records the loss, not a completion.
                c.phase = Phase::Waiting;
                self.legs.remove(&r);
                if let Some(agent) = c.agent.clone() {
                    let wrapup =
                        self.agents.get(&agent).and_then(|a| a.wrapup).unwrap_or(c.queue.wrapup);
                    if !wrapup.is_zero() {
                        self.timers.set(TimerKey::AgentReady(agent), self.now + wrapup);
                    }
                }
            }
            let now = self.now;
            self.request(
                Pending::Other,
                Request::Leave {
                    fence: fence.clone(),
                    call: call.clone(),
                    outcome: Outcome::NodeLost,
                    now,
                },
            );
            self.finish(&call, Outcome::NodeLost);
        }
        self.drop_orphan_legs();
    }

    /// Drops everything about a node another instance now owns, without touching the store.
    pub(super) fn forget_node(&mut self, node: &NodeId) {
        self.nodes.remove(node);
        let calls = self.callers_on(node);
        for call in calls {
            for key in caller::timer_keys(&call) {
                self.timers.cancel(&key);
            }
            self.drop_caller(&call);
        }
        self.drop_orphan_legs();
    }

    fn callers_on(&self, node: &NodeId) -> Vec<CallId> {
        self.callers.iter().filter(|(_, c)| &c.node == node).map(|(id, _)| id.clone()).collect()
    }

    /// Drops the legs whose callers this engine no longer follows, with their ring timers.
    fn drop_orphan_legs(&mut self) {
        let orphans: Vec<ReservationId> = self
            .legs
            .iter()
            .filter(|(_, l)| !self.callers.contains_key(&l.offer.call))
            .map(|(r, _)| *r)
            .collect();
        for r in orphans {
            self.legs.remove(&r);
            self.timers.cancel(&TimerKey::Ring(r));
        }
    }
}
