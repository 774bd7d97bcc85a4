//! Scripted agent phones: how each endpoint answers when a node dials it, which nodes can
//! reach it, and how many calls it takes at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::node::model::FarEnd;
use crate::rng::{Dist, SimRng};

/// How one agent phone behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneScript {
    /// Endpoint as dialed, e.g. `PJSIP/1001`.
    pub endpoint: String,
    /// Probability that a ring is answered at all.
    pub answer_probability: f64,
    /// Time from ringing to answer.
    pub answer_delay: Dist,
    /// Time from answer to the agent hanging up.
    pub talk_time: Dist,
    /// Reports busy to every call.
    pub busy: bool,
    /// Not registered: allocation fails on every node.
    pub unreachable: bool,
    /// Nodes (by index) that can reach the phone; `None` means all of them.
    pub nodes: Option<BTreeSet<usize>>,
    /// Calls the phone takes at once before it reports busy (call waiting off = 1).
    pub max_calls: u32,
}

impl PhoneScript {
    /// A phone that answers every call after `answer_ms` and talks for `talk_ms`.
    pub fn answering(endpoint: impl Into<String>, answer_ms: u64, talk_ms: u64) -> Self {
        Self {
            endpoint: endpoint.into(),
            answer_probability: 1.0,
            answer_delay: Dist::fixed(answer_ms),
            talk_time: Dist::fixed(talk_ms),
            busy: false,
            unreachable: false,
            nodes: None,
            max_calls: 1,
        }
    }
}

/// What dialing a phone from a node gives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reach {
    /// No such endpoint, or the phone cannot be reached from this node.
    Unreachable,
    /// The phone will behave like this; `while_busy` says it already had a call.
    Far { far: FarEnd, while_busy: bool },
}

#[derive(Debug, Clone)]
struct PhoneState {
    script: PhoneScript,
    active: u32,
}

/// All scripted phones of the world.
#[derive(Debug, Default)]
pub(crate) struct PhoneBook {
    phones: BTreeMap<String, PhoneState>,
}

impl PhoneBook {
    /// Adds or replaces a phone's script (its live call count is kept).
    pub(crate) fn set(&mut self, script: PhoneScript) {
        let active = self.phones.get(&script.endpoint).map_or(0, |p| p.active);
        self.phones.insert(script.endpoint.clone(), PhoneState { script, active });
    }

    /// Changes a phone's script in place.
    pub(crate) fn update(&mut self, endpoint: &str, change: impl FnOnce(&mut PhoneScript)) -> bool {
        self.phones.get_mut(endpoint).map(|p| change(&mut p.script)).is_some()
    }

    /// Whether `endpoint` exists and `node` can reach it (a channel can be allocated).
    pub(crate) fn reachable(&self, endpoint: &str, node: usize) -> bool {
        self.phones.get(endpoint).is_some_and(|p| {
            !p.script.unreachable && p.script.nodes.as_ref().is_none_or(|n| n.contains(&node))
        })
    }

    /// Decides what dialing `endpoint` from `node` does, and counts the call on the phone.
    pub(crate) fn dial(&mut self, endpoint: &str, node: usize, rng: &mut SimRng) -> Reach {
        let Some(phone) = self.phones.get_mut(endpoint) else { return Reach::Unreachable };
        let s = &phone.script;
        if s.unreachable || s.nodes.as_ref().is_some_and(|n| !n.contains(&node)) {
            return Reach::Unreachable;
        }
        let while_busy = phone.active >= s.max_calls;
        phone.active += 1;
        if s.busy || while_busy {
            return Reach::Far { far: FarEnd::Busy { hold: Some(Duration::ZERO) }, while_busy };
        }
        let answer_after = rng.chance(s.answer_probability).then(|| s.answer_delay.sample(rng));
        let talk = s.talk_time.sample(rng);
        Reach::Far { far: FarEnd::Ring { answer_after, talk, give_up: None }, while_busy }
    }

    /// A leg to the phone ended.
    pub(crate) fn release(&mut self, endpoint: &str) {
        if let Some(p) = self.phones.get_mut(endpoint) {
            p.active = p.active.saturating_sub(1);
        }
    }

    /// Legs live towards a phone now.
    #[cfg(test)]
    pub(crate) fn active(&self, endpoint: &str) -> u32 {
        self.phones.get(endpoint).map_or(0, |p| p.active)
    }

    /// Scripts of every phone.
    pub(crate) fn scripts(&self) -> Vec<PhoneScript> {
        self.phones.values().map(|p| p.script.clone()).collect()
    }
}
