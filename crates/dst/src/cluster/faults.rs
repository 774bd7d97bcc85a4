//! Faults: which kinds a world may suffer ([`Faults`], a knob each), when one strikes (a
//! Poisson process over the busy phase), what it does, and how it heals. REST failures are not
//! events of their own: while enabled, each eligible request fails with a small chance.

use std::time::Duration;

use starq_core::rng::Rng;

use super::world::{LEASE_TTL, NODE_DOWN_AFTER, World};

/// Which faults may strike a world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// An instance dies (all its in-flight answers lost) and starts again, same name.
    pub crash: bool,
    /// An instance stops for longer than a lease, then resumes with its backlog.
    pub freeze: bool,
    /// Every store operation fails for a while.
    pub store_outage: bool,
    /// The store comes back empty.
    pub store_data_loss: bool,
    /// A node's WebSocket drops; events meanwhile are lost; it reconnects.
    pub websocket_drop: bool,
    /// ARI requests fail (media actions on callers, listings), before or after they are done.
    pub rest_errors: bool,
    /// Agent leg requests (create, dial) fail, before or after they are done.
    pub leg_request_failures: bool,
    /// A node dies with all its channels and comes back empty after `node_down_after`.
    pub node_loss: bool,
    /// A node's REST answers slow down now and then (a request, and those behind it from the
    /// same instance, land up to 300 ms late), as the chaos suite's slowed node.
    pub slow_rest: bool,
}

impl Faults {
    /// No fault at all.
    pub const NONE: Faults = Faults {
        crash: false,
        freeze: false,
        store_outage: false,
        store_data_loss: false,
        websocket_drop: false,
        rest_errors: false,
        leg_request_failures: false,
        node_loss: false,
        slow_rest: false,
    };

    /// Every kind.
    pub const ALL: Faults = Faults {
        crash: true,
        freeze: true,
        store_outage: true,
        store_data_loss: true,
        websocket_drop: true,
        rest_errors: true,
        leg_request_failures: true,
        node_loss: true,
        slow_rest: true,
    };

    /// Each kind on or off, from the seed (about half of them per world).
    pub(super) fn drawn(rng: &mut Rng) -> Faults {
        let mut faults = Faults {
            crash: rng.chance(0.5),
            freeze: rng.chance(0.5),
            store_outage: rng.chance(0.5),
            store_data_loss: false,
            websocket_drop: rng.chance(0.5),
            rest_errors: rng.chance(0.5),
            leg_request_failures: false,
            node_loss: rng.chance(0.3),
            slow_rest: false,
        };
        // Drawn last: the draws above keep the seeds the bugs recorded in
        // `docs/reliability.md` were found with.
        faults.store_data_loss = rng.chance(0.2);
        faults.leg_request_failures = rng.chance(0.3);
        faults.slow_rest = rng.chance(0.5);
        faults
    }

    /// The kinds that strike as events (REST errors do not).
    fn events(self) -> Vec<FaultKind> {
        [
            (self.crash, FaultKind::Crash),
            (self.freeze, FaultKind::Freeze),
            (self.store_outage, FaultKind::StoreOutage),
            (self.store_data_loss, FaultKind::StoreDataLoss),
            (self.websocket_drop, FaultKind::WebSocketDrop),
            (self.node_loss, FaultKind::NodeLoss),
        ]
        .into_iter()
        .filter_map(|(on, kind)| on.then_some(kind))
        .collect()
    }
}

/// A fault that struck, as counted in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// An instance died.
    Crash,
    /// An instance froze past its lease.
    Freeze,
    /// The store was away.
    StoreOutage,
    /// The store lost everything.
    StoreDataLoss,
    /// A node's WebSocket dropped.
    WebSocketDrop,
    /// An ARI request failed before reaching Asterisk.
    RestError,
    /// An ARI request was done but answered with an error (a time-out).
    RestTimeout,
    /// A node died.
    NodeLoss,
    /// An ARI request landed late (a slowed node).
    SlowRest,
}

/// What becomes of one REST request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RestFate {
    Done,
    /// Failed before Asterisk did anything.
    Refused,
    /// Done by Asterisk, answered with an error.
    TimedOut,
}

/// How a fault heals (and how instances start).
#[derive(Clone, Copy, Debug)]
pub(super) enum Recovery {
    /// The instance's process starts (again).
    Start(usize),
    Thaw {
        slot: usize,
        incarnation: u32,
    },
    StoreBack,
    NodeBack(usize),
}

impl World {
    /// A fault strikes, and the next is scheduled, while the world is busy.
    pub(super) fn inject(&mut self) {
        if self.now >= self.busy_until {
            return;
        }
        let kinds = self.params.faults.events();
        if kinds.is_empty() {
            return;
        }
        self.schedule_fault();
        let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
        let struck = match kind {
            FaultKind::Crash => self.crash(),
            FaultKind::Freeze => self.freeze(),
            FaultKind::StoreOutage if !self.store.away => {
                self.store.away = true;
                let lasts = self.between(500, 8_000);
                self.recover_later(lasts, Recovery::StoreBack);
                true
            }
            FaultKind::StoreDataLoss => {
                self.store.wipe();
                self.era += 1;
                // Agents log in again once the instances configured the store again.
                self.login_later(LEASE_TTL);
                true
            }
            FaultKind::WebSocketDrop => {
                let connected: Vec<usize> =
                    (0..self.nodes.len()).filter(|&n| self.consumers[n].is_some()).collect();
                let Some(&node) = self.pick(&connected) else { return };
                let retry = self.between(100, 3_000);
                self.disconnect(node, retry);
                true
            }
            FaultKind::NodeLoss => {
                let up: Vec<usize> = (0..self.nodes.len()).filter(|&n| self.nodes[n].up).collect();
                let Some(&node) = self.pick(&up) else { return };
                let mut fx = Vec::new();
                self.nodes[node].lose(&mut fx);
                self.effects(node, fx);
                self.disconnect(node, Duration::from_secs(1));
                let lasts = NODE_DOWN_AFTER + self.between(1_000, 7_000);
                self.recover_later(lasts, Recovery::NodeBack(node));
                true
            }
            FaultKind::StoreOutage
            | FaultKind::RestError
            | FaultKind::RestTimeout
            | FaultKind::SlowRest => false,
        };
        if struck {
            self.count(kind);
        }
    }

    fn crash(&mut self) -> bool {
        let running: Vec<usize> =
            (0..self.slots.len()).filter(|&i| self.slots[i].instance.is_some()).collect();
        let Some(&slot) = self.pick(&running) else { return false };
        self.stop(slot);
        let after = self.between(500, 6_000);
        self.recover_later(after, Recovery::Start(slot));
        true
    }

    fn freeze(&mut self) -> bool {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].instance.is_some() && !self.slots[i].frozen)
            .collect();
        let Some(&slot) = self.pick(&running) else { return false };
        self.slots[slot].frozen = true;
        let incarnation = self.slots[slot].incarnation;
        let lasts = LEASE_TTL + self.between(200, 3_000);
        self.recover_later(lasts, Recovery::Thaw { slot, incarnation });
        true
    }

    pub(super) fn recover(&mut self, recovery: Recovery) {
        match recovery {
            Recovery::Start(slot) => {
                if self.slots[slot].instance.is_none() {
                    self.start(slot);
                }
            }
            Recovery::Thaw { slot, incarnation } => {
                let s = &mut self.slots[slot];
                if s.incarnation != incarnation || !s.frozen {
                    return;
                }
                s.frozen = false;
                for input in std::mem::take(&mut s.backlog) {
                    self.feed(slot, input);
                }
            }
            Recovery::StoreBack => self.store.away = false,
            Recovery::NodeBack(node) => self.nodes[node].up = true,
        }
    }

    fn between(&mut self, low_ms: u64, high_ms: u64) -> Duration {
        Duration::from_millis(low_ms + self.rng.below(high_ms - low_ms + 1))
    }

    fn pick<'a>(&mut self, among: &'a [usize]) -> Option<&'a usize> {
        (!among.is_empty()).then(|| &among[self.rng.below(among.len() as u64) as usize])
    }
}
