//! The board's invariants (ARCHITECTURE §4), checked after every step of every simulation.
//! A broken invariant panics with a description: it is a bug, never a runtime condition.

use std::collections::BTreeMap;

use starq_core::QueueId;

use super::agent::{CLASSES, Status};
use super::board::{Board, CallerStatus};

impl Board {
    /// Panics with a description if any invariant is broken.
    pub(crate) fn check_invariants(&self) {
        self.check_reservations();
        self.check_agents();
        self.check_callers();
        self.check_indexes();
        self.check_no_idle_match();
    }

    /// Every reservation ties one offered caller to one reserved agent.
    fn check_reservations(&self) {
        for (id, r) in &self.reservations {
            let c =
                self.callers.get(&r.call).unwrap_or_else(|| panic!("{id}: caller {} gone", r.call));
            assert_eq!(c.status, CallerStatus::Offered, "{id}: caller {} not offered", r.call);
            assert!(c.reservations.contains(id), "{id}: caller {} does not list it", r.call);
            let a = &self.agents[&r.agent];
            assert_eq!(
                a.status,
                Status::Reserved(*id),
                "{id}: agent {} not reserved for it",
                r.agent
            );
        }
    }

    /// An agent is in at most one call or reservation, and its state points back correctly.
    fn check_agents(&self) {
        for (id, a) in &self.agents {
            match &a.status {
                Status::Reserved(r) => {
                    let res = self
                        .reservations
                        .get(r)
                        .unwrap_or_else(|| panic!("agent {id}: {r} missing"));
                    assert_eq!(&res.agent, id, "agent {id}: {r} belongs to {}", res.agent);
                }
                Status::OnCall(call) => {
                    let c = self
                        .callers
                        .get(call)
                        .unwrap_or_else(|| panic!("agent {id}: call {call} gone"));
                    assert!(
                        matches!(&c.status, CallerStatus::Connected { agent, .. } if agent == id),
                        "agent {id} on {call}, which is not connected to it"
                    );
                }
                _ => {}
            }
        }
    }

    fn check_callers(&self) {
        let mut on_call: BTreeMap<&starq_core::AgentId, usize> = BTreeMap::new();
        for (call, c) in &self.callers {
            let q = &self.queues[&c.queue];
            match &c.status {
                CallerStatus::Waiting => {
                    assert!(c.reservations.is_empty(), "{call}: waiting with offers")
                }
                CallerStatus::Offered => {
                    assert!(!c.reservations.is_empty(), "{call}: offered without offer");
                    let several = q.config.strategy.rings_several();
                    assert!(
                        several || c.reservations.len() == 1,
                        "{call}: {} offers",
                        c.reservations.len()
                    );
                }
                CallerStatus::Connected { agent, .. } => {
                    *on_call.entry(agent).or_default() += 1;
                    assert!(!q.present.contains(&c.rank), "{call}: connected but still queued");
                    assert_eq!(
                        self.agents[agent].status,
                        Status::OnCall(call.clone()),
                        "{call}: agent {agent} not on it"
                    );
                }
            }
            if !matches!(c.status, CallerStatus::Connected { .. }) {
                assert!(q.present.contains(&c.rank), "{call}: not in its queue's positions");
            }
        }
        for (agent, n) in on_call {
            assert_eq!(n, 1, "agent {agent} connected to {n} callers");
        }
        for q in self.queues.values() {
            let present = q.present.len();
            let known = self
                .callers
                .values()
                .filter(|c| {
                    c.queue == q.config.id && !matches!(c.status, CallerStatus::Connected { .. })
                })
                .count();
            assert_eq!(present, known, "queue {}: positions out of sync", q.config.id);
            let waiting = self
                .callers
                .values()
                .filter(|c| c.queue == q.config.id && c.status == CallerStatus::Waiting)
                .count();
            assert_eq!(
                q.waiting.len(),
                waiting,
                "queue {}: waiting index out of sync",
                q.config.id
            );
        }
    }

    /// The availability indexes and the empty-rule counters match the agents' states.
    fn check_indexes(&self) {
        let mut counts: BTreeMap<&QueueId, BTreeMap<u32, [u32; CLASSES]>> = BTreeMap::new();
        for (id, a) in &self.agents {
            for (queue, stats) in &a.members {
                let q = &self.queues[queue];
                let indexed = a.indexed.get(queue);
                assert_eq!(
                    indexed.is_some(),
                    a.is_available_in(queue),
                    "agent {id} in {queue}: index vs state"
                );
                if let Some((penalty, score)) = indexed {
                    assert!(
                        q.available.contains(*penalty, *score, id),
                        "agent {id} missing from {queue}'s index"
                    );
                }
                if let Some(class) = a.class_in(queue) {
                    counts.entry(queue).or_default().entry(stats.penalty).or_default()[class] += 1;
                }
            }
        }
        for (id, q) in &self.queues {
            let expected = counts.remove(id).unwrap_or_default();
            assert_eq!(q.counts, expected, "queue {id}: member counters drifted");
        }
    }

    /// Nobody waits while an agent who may take them sits available (under `autofill=no`, only
    /// the head counts).
    fn check_no_idle_match(&self) {
        for (call, c) in &self.callers {
            if c.status != CallerStatus::Waiting {
                continue;
            }
            let q = &self.queues[&c.queue];
            if !q.config.autofill && q.present.first() != Some(&c.rank) {
                continue;
            }
            let ignored = q.config.penalty_members_limit > 0
                && q.counts.values().flatten().sum::<u32>() <= q.config.penalty_members_limit;
            let takers = self.agents.iter().filter(|(_, a)| {
                a.indexed.get(&c.queue).is_some_and(|(p, _)| ignored || c.window.admits(*p))
            });
            if let Some((agent, _)) = takers.into_iter().next() {
                panic!("{call} waits in {} while agent {agent} could take it", c.queue);
            }
        }
    }
}
