//! The engine's own invariants, checked after every simulation step.

use std::collections::{BTreeMap, BTreeSet};

use super::caller::Phase;
use super::{Engine, TimerKey};
use crate::ids::{AgentId, CallId};

impl Engine {
    /// Panics with a description if the engine's own state is inconsistent. Simulations call it
    /// after every step.
    pub fn check_invariants(&self) {
        let mut answered_by_call: BTreeMap<&CallId, usize> = BTreeMap::new();
        for (r, leg) in &self.legs {
            let c = self
                .callers
                .get(&leg.offer.call)
                .unwrap_or_else(|| panic!("leg {r} of unknown caller {}", leg.offer.call));
            if let Phase::Connected(connected) = c.phase {
                assert_eq!(
                    connected, *r,
                    "caller {} connected through {connected} but still has leg {r}",
                    leg.offer.call
                );
                *answered_by_call.entry(&leg.offer.call).or_default() += 1;
            }
            assert!(
                self.timers.is_set(&TimerKey::Ring(*r))
                    || leg.answered
                    || matches!(c.phase, Phase::Connected(_)),
                "leg {r} rings without a ring timer"
            );
        }
        let agents_on_legs: BTreeSet<&AgentId> =
            self.legs.values().map(|l| &l.offer.agent).collect();
        assert_eq!(agents_on_legs.len(), self.legs.len(), "an agent has two legs on this engine");
        assert_eq!(self.by_channel.len(), self.callers.len(), "channel map out of sync");
        for (call, c) in &self.callers {
            assert_eq!(
                self.by_channel.get(&(c.node.clone(), c.channel.clone())),
                Some(call),
                "channel {} not mapped to {call}",
                c.channel
            );
            assert_ne!(c.phase, Phase::Ending, "caller {call} ended but kept");
            assert!(self.nodes.contains_key(&c.node), "caller {call} on a node not owned");
        }
    }
}
