//! What must hold in a cluster world: after every step (the store's own invariants, no phone
//! rung or talking on two legs at once, no caller offered to two agents at once outside ringing strategies, no
//! agent talking to two callers; a caller bridged to two legs is caught by the node as it
//! happens), and once the world has been quiet for a while (every caller gone from the app,
//! every agent free, every queued caller journaled once with one end).
//!
//! Relaxed after the store lost its data: legs made before the loss are not held to the
//! per-step checks (the store no longer knows their reservations, and agents logged in again
//! may be offered while such a leg still rings or talks), and the journal is not checked (the
//! lost one held the entries; callers taken in again are not journaled as entering anew).

use std::collections::{BTreeMap, BTreeSet};

use starq_core::config::Overflow;
use starq_core::journal::JournalEvent;
use starq_store::AgentStatus;

use super::node::{DialState, Role};
use super::world::World;

impl World {
    /// Checked after every step.
    pub(super) fn check_step(&self) {
        self.store.check_if_touched();
        let mut ringing: BTreeMap<usize, String> = BTreeMap::new();
        let mut offers: BTreeMap<(usize, &str, u32), &str> = BTreeMap::new();
        let mut talking: BTreeMap<usize, String> = BTreeMap::new();
        // A phone rings or talks on one leg at a time: a leg up whose hang-up has not landed
        // yet still holds the phone (the chaos suite's "rung while on a call").
        let mut engaged: BTreeMap<usize, (String, DialState)> = BTreeMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            for (id, ch) in &node.channels {
                let Role::Leg { agent, caller, dial, era, .. } = &ch.role else { continue };
                if *era != self.era {
                    continue;
                }
                let here = format!("{}:{id}", node.id);
                if matches!(dial, DialState::Ringing | DialState::Up)
                    && let Some((other, other_dial)) = engaged.insert(*agent, (here.clone(), *dial))
                {
                    panic!(
                        "agent a{agent}'s phone engaged twice at once: {other} ({other_dial:?}) \
                         and {here} ({dial:?})"
                    );
                }
                if *dial == DialState::Ringing {
                    if let Some(other) = ringing.insert(*agent, here.clone()) {
                        panic!("agent a{agent}'s phone rung twice at once: {other} and {here}");
                    }
                    let step = offer_step(id);
                    if let Some(other) = offers.insert((n, caller, step), id)
                        && !self.rings_several(caller, step)
                    {
                        panic!("caller {caller} offered to two agents at once: {other} and {here}");
                    }
                }
                let with_caller =
                    ch.bridge.as_ref().and_then(|b| node.bridges.get(b)).is_some_and(|members| {
                        members.iter().any(|m| {
                            matches!(
                                node.channels.get(m).map(|c| &c.role),
                                Some(Role::Caller { .. })
                            )
                        })
                    });
                if with_caller && let Some(other) = talking.insert(*agent, here.clone()) {
                    panic!("agent a{agent} bridged to two callers: {other} and {here}");
                }
            }
        }
    }

    /// Whether the queue a caller was in at `step` of its failover chain rings several agents.
    fn rings_several(&self, caller: &str, step: u32) -> bool {
        let Some(c) = self.callers.get(caller) else { return false };
        let mut queue = &self.queues[c.queue];
        for _ in 0..step {
            let Overflow::Queue(next) = &queue.on_timeout else { return false };
            let Some(q) = self.queues.iter().find(|q| q.id == *next) else { return false };
            queue = q;
        }
        queue.strategy.rings_several()
    }

    /// Checked once the world has been quiet (no arrivals, no faults) for a while.
    pub(super) fn check_quiet(&self) {
        for node in &self.nodes {
            let held: Vec<String> = node
                .channels
                .iter()
                .map(|(id, ch)| {
                    format!("{id} ({:?}, {:?}, bridge {:?})", ch.role, ch.state, ch.bridge)
                })
                .collect();
            assert!(held.is_empty(), "{}: still held in the app once quiet: {held:#?}", node.id);
            let bridges: Vec<&String> = node.bridges.keys().collect();
            assert!(bridges.is_empty(), "{}: bridges left once quiet: {bridges:?}", node.id);
        }
        let staying: Vec<&String> =
            self.callers.iter().filter(|(_, c)| c.left.is_none()).map(|(id, _)| id).collect();
        assert!(staying.is_empty(), "callers that never left: {staying:?}");
        for (i, _) in self.phones.iter().enumerate() {
            let agent = starq_core::AgentId::new(format!("a{i}"));
            if let Some(view) = self.store.agent(&agent) {
                assert!(
                    !matches!(view.status, AgentStatus::Reserved(_) | AgentStatus::OnCall(_)),
                    "agent {agent} still held once quiet: {:?}",
                    view.status
                );
            }
        }
        if self.era == 0 && self.store.store.journal_dropped() == 0 {
            self.check_journal();
        }
    }

    /// Every caller who entered a queue ends there exactly once in the journal.
    fn check_journal(&self) {
        let mut open: BTreeSet<String> = BTreeSet::new();
        let mut ended: BTreeSet<String> = BTreeSet::new();
        for entry in self.store.store.journal_now() {
            match &entry.event {
                JournalEvent::Entered { call, .. } => {
                    assert!(open.insert(call.to_string()), "{call} entered twice")
                }
                event => {
                    if let Some(call) = event.terminal_call() {
                        let refused = matches!(event, JournalEvent::Refused { .. });
                        assert!(
                            refused || open.remove(call.as_str()),
                            "{call} ended without being queued: {event:?}"
                        );
                        assert!(ended.insert(call.to_string()), "{call} ended twice: {event:?}");
                    }
                }
            }
        }
        assert!(open.is_empty(), "callers never ended in the journal: {open:?}");
    }
}

/// The failover step of the offer a leg rings for: its id is `<node>~<channel>[-q<step>]-r<n>`.
fn offer_step(leg: &str) -> u32 {
    let call = leg.rsplit_once("-r").map_or(leg, |(call, _)| call);
    call.rsplit_once("-q").and_then(|(_, step)| step.parse().ok()).unwrap_or(0)
}
