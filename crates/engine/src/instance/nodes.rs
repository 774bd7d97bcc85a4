//! Which nodes the instance acts for. Instances share the nodes: every renewal, each one beats
//! in the store, reads which instances are live, and owns the nodes rendezvous hashing gives
//! it ([`placement`]); a node it no longer wins is handed over (lease released), one it wins is
//! taken as soon as its lease is free, so a dead instance's nodes move once its leases lapse. A
//! node is owned from the lease on, and given up (disowned) the moment its lease is lost,
//! renewal finds it taken, or another consumer replaces the app. A consumer that replaced the
//! app while the lease is still this instance's is not one of its peers (an instance with a
//! store of its own, or another program): the node is refused, never taken again by this
//! instance, rather than taken back and forth with it.
//!
//! [`placement`]: crate::placement

use starq_ari::{ConnectionState, StreamItem};
use starq_core::engine::Input as CoreInput;
use starq_core::{Fence, NodeId, Time};
use starq_store::{Lease, StoreError};

use super::{INBOX_BATCH, Instance, Phase, Purpose, StoreAnswer, StoreOp};
use crate::NodeHealth;

/// One configured node, as this instance stands with it.
#[derive(Debug)]
pub(super) struct Node {
    /// The ARI application starq runs as on the node.
    pub(super) app: String,
    pub(super) own: Own,
    /// Standby was logged: it is logged once, not on every try.
    standby_said: bool,
}

/// Whether this instance acts for a node.
#[derive(Debug)]
pub(super) enum Own {
    /// Another instance's, or free and not won.
    Standby,
    /// Its lease asked for.
    Acquiring,
    Owned(Owned),
    /// Another consumer took the app over: stopped at once, lease being checked.
    Replaced,
    /// Another consumer holds the app while the lease is this instance's: left alone for
    /// good.
    Refused,
}

/// A node this instance acts for.
#[derive(Debug)]
pub(super) struct Owned {
    pub(super) lease: Lease,
    /// Since when its event stream is down, if it is (down until it first connects).
    pub(super) down_since: Option<Time>,
    /// The core was told the node is down (its calls ended): owned anew on return.
    pub(super) reported_down: bool,
    renewing: bool,
    reading_inbox: bool,
}

impl Node {
    pub(super) fn new(app: String) -> Self {
        Node { app, own: Own::Standby, standby_said: false }
    }

    pub(super) fn owned(&self) -> Option<&Owned> {
        match &self.own {
            Own::Owned(owned) => Some(owned),
            _ => None,
        }
    }

    pub(super) fn owned_mut(&mut self) -> Option<&mut Owned> {
        match &mut self.own {
            Own::Owned(owned) => Some(owned),
            _ => None,
        }
    }

    pub(super) fn health(&self) -> NodeHealth {
        match &self.own {
            Own::Standby | Own::Acquiring => NodeHealth::Standby,
            Own::Owned(Owned { reported_down: true, .. }) => NodeHealth::Lost,
            Own::Owned(Owned { down_since: Some(_), .. }) => NodeHealth::Disconnected,
            Own::Owned(_) => NodeHealth::Connected,
            Own::Replaced | Own::Refused => NodeHealth::Refused,
        }
    }
}

impl Instance {
    /// The first heartbeat: take the nodes this instance wins, leave the others.
    pub(super) fn on_join(&mut self, answer: Result<StoreAnswer, StoreError>) {
        match answer {
            Ok(StoreAnswer::Heartbeat(beat)) => {
                self.live = beat.live;
                self.writer = self.writes_configuration();
                // A store without configuration is new, or lost everything (a single box
                // restarted with its embedded store, a Redis without persistence).
                if !beat.configured {
                    self.recovery = Some(super::Recovery::default());
                }
            }
            Ok(other) => return self.unexpected(Ok(other)),
            Err(error) => return self.exit(Some(error)),
        }
        let won: Vec<NodeId> = self.nodes.keys().filter(|n| self.wins(n)).cloned().collect();
        for node in won {
            self.acquire(&node);
        }
        self.configure_once_joined();
    }

    /// Once every lease asked for at start is answered, the configuration is installed: what
    /// it makes matchable (callers left waiting by an earlier run, agents whose penalty
    /// changed) is offered at once, to nodes already owned.
    fn configure_once_joined(&mut self) {
        let acquiring = self.nodes.values().any(|n| matches!(n.own, Own::Acquiring));
        if self.phase == (Phase::Starting { configuring: false }) && !acquiring {
            self.phase = Phase::Starting { configuring: true };
            self.configure();
        }
    }

    /// A renewal's heartbeat: the live instances, the configuration restored if the store
    /// lost it, and the nodes rebalanced.
    pub(super) fn on_beat(&mut self, answer: Result<StoreAnswer, StoreError>) {
        self.beating = false;
        match answer {
            Ok(StoreAnswer::Heartbeat(beat)) => {
                self.live = beat.live;
                self.check_writer();
                if !beat.configured {
                    tracing::error!(
                        "the store lost its configuration (Redis restarted empty?): configured \
                         again; callers are taken in again from Asterisk, agents' presence from \
                         the reports database"
                    );
                    self.recovery.get_or_insert_with(super::Recovery::default);
                    self.configure();
                    // Nodes are taken again once it is configured (next beat): callers found
                    // meanwhile would meet queues the store does not know yet.
                    return;
                }
            }
            Ok(other) => return self.unexpected(Ok(other)),
            Err(error) => return tracing::warn!(%error, "heartbeat failed"),
        }
        if self.phase == Phase::Running {
            self.rebalance();
        }
    }

    /// Every third of a lease: beat, renew the leases held, and declare lost the nodes whose
    /// event stream stayed down past `node_down_after`.
    pub(super) fn renew(&mut self) {
        if !self.beating {
            self.beating = true;
            let beat = self.heartbeat_op(self.settings.lease_ttl);
            self.store(Purpose::Beat, beat);
        }
        let (now, ttl) = (self.now, self.settings.lease_ttl);
        let mut renewals = Vec::new();
        for owned in self.nodes.values_mut().filter_map(Node::owned_mut) {
            if !owned.renewing {
                owned.renewing = true;
                renewals.push(owned.lease.clone());
            }
        }
        for lease in renewals {
            self.store(Purpose::Renew(lease.fence()), StoreOp::Renew { lease, now, ttl });
        }
        self.report_dead_nodes();
    }

    pub(super) fn on_renewed(&mut self, fence: &Fence, answer: Result<StoreAnswer, StoreError>) {
        let Some(owned) = self.owned_in(fence) else { return };
        owned.renewing = false;
        match answer {
            Ok(StoreAnswer::Lease(Some(lease))) => {
                let until = lease.expires;
                owned.lease = lease;
                self.outputs.push_back(super::Output::Extend { tenure: fence.clone(), until });
            }
            Ok(StoreAnswer::Lease(None)) => {
                tracing::error!(node = %fence.node, "node lease lost (lapsed or taken): giving the node up");
                self.disown(&fence.node, false);
            }
            Ok(other) => self.unexpected(Ok(other)),
            Err(error) => tracing::warn!(node = %fence.node, %error, "node lease not renewed"),
        }
    }

    /// The node's current tenure, if it is `fence`'s.
    fn owned_in(&mut self, fence: &Fence) -> Option<&mut Owned> {
        self.nodes
            .get_mut(&fence.node)
            .and_then(Node::owned_mut)
            .filter(|o| o.lease.epoch == fence.epoch)
    }

    /// Whether rendezvous hashing over the live instances gives this instance the node.
    pub(super) fn wins(&self, node: &NodeId) -> bool {
        crate::placement::owner(node.as_str(), &self.live) == Some(self.settings.instance.as_str())
    }

    fn acquire(&mut self, node: &NodeId) {
        let Some(n) = self.nodes.get_mut(node) else { return };
        n.own = Own::Acquiring;
        let op = StoreOp::Acquire {
            node: node.clone(),
            owner: self.settings.instance.clone(),
            now: self.now,
            ttl: self.settings.lease_ttl,
        };
        self.store(Purpose::Acquire(node.clone()), op);
    }

    /// A lease taken: the node's stream and executor open, the core owns it, and the rests
    /// its agents may have been left in are followed.
    pub(super) fn on_acquired(&mut self, node: &NodeId, answer: Result<StoreAnswer, StoreError>) {
        let starting = !self.started();
        let leaving =
            matches!(self.phase, Phase::Draining { .. } | Phase::Leaving { .. } | Phase::Done);
        let Some(n) = self.nodes.get_mut(node) else { return };
        match answer {
            Ok(StoreAnswer::Lease(Some(lease))) if leaving => {
                n.own = Own::Standby;
                self.store(Purpose::Release, StoreOp::Release(lease));
            }
            Ok(StoreAnswer::Lease(Some(lease))) => {
                tracing::info!(%node, epoch = %lease.epoch, "node owned");
                let (tenure, until) = (lease.fence(), lease.expires);
                n.standby_said = false;
                n.own = Own::Owned(Owned {
                    lease,
                    // Down until its event stream connects: a node that never does is lost
                    // in time.
                    down_since: Some(self.now),
                    reported_down: false,
                    renewing: false,
                    reading_inbox: false,
                });
                self.outputs.push_back(super::Output::Attach { tenure: tenure.clone(), until });
                self.core(CoreInput::NodeOwned { fence: tenure });
                // A node taken over may leave agents resting with nobody to end their rest:
                // followed once it is reconciled (its leftover legs hung up first).
                if !starting {
                    self.rests_after_reconcile.insert(node.clone());
                }
            }
            Ok(StoreAnswer::Lease(None)) => {
                if !std::mem::replace(&mut n.standby_said, true) {
                    tracing::info!(%node, "node owned by another instance: standing by");
                }
                n.own = Own::Standby;
            }
            Ok(other) => return self.unexpected(Ok(other)),
            Err(error) if starting => return self.exit(Some(error)),
            Err(error) => {
                n.own = Own::Standby;
                tracing::warn!(%node, %error, "cannot take the node over yet");
            }
        }
        self.configure_once_joined();
    }

    /// Hands over the nodes another live instance now wins, and takes those this instance wins
    /// (a dead instance's, once its leases lapse). Skipped while this instance's own heartbeat
    /// is not seen: it would hand everything over.
    fn rebalance(&mut self) {
        if !self.live.contains(&self.settings.instance) {
            return;
        }
        let lost: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, n)| n.owned().is_some() && !self.wins(id))
            .map(|(id, _)| id.clone())
            .collect();
        for node in lost {
            tracing::info!(%node, owner = ?crate::placement::owner(node.as_str(), &self.live), "node handed over to another instance");
            self.hand_over(&node);
        }
        let won: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, n)| matches!(n.own, Own::Standby) && self.wins(id))
            .map(|(id, _)| id.clone())
            .collect();
        for node in won {
            self.acquire(&node);
        }
    }

    /// Stops acting for a node at once: its executor stops and its stream closes, the core
    /// forgets its callers (the next owner adopts them), and it goes back to standby. With
    /// `release`, the lease is given up too, so another instance need not wait for it to lapse.
    pub(super) fn disown(&mut self, node: &NodeId, release: bool) {
        let Some(lease) = self.give_up(node) else { return };
        self.outputs.push_back(super::Output::CloseStream(lease.fence()));
        if release {
            self.store(Purpose::Release, StoreOp::Release(lease));
        }
    }

    /// Gives a node up for the instance that now wins it: like [`Instance::disown`] with the
    /// lease released, except that the app stays held (its WebSocket open, its events ignored)
    /// until the new owner connects or two leases pass. Callers entering `Stasis()` meanwhile
    /// are then kept in the app, and the new owner takes them in when it reconciles, instead of
    /// Asterisk sending them to the dialplan's fallback for want of a consumer.
    fn hand_over(&mut self, node: &NodeId) {
        let connected =
            self.nodes.get(node).and_then(Node::owned).is_some_and(|o| o.down_since.is_none());
        let Some(lease) = self.give_up(node) else { return };
        if connected {
            self.closing.push((self.now + self.settings.lease_ttl * 2, lease.fence()));
        } else {
            // A stream that is down holds no app: kept, it would reconnect and take the app
            // from the new owner.
            self.outputs.push_back(super::Output::CloseStream(lease.fence()));
        }
        self.store(Purpose::Release, StoreOp::Release(lease));
    }

    /// An item from a tenure over since. A stream kept open after a hand-over closes at once if
    /// it drops: reconnecting, it would take the app from the new owner.
    pub(super) fn on_stale_stream(&mut self, tenure: &Fence, item: &StreamItem) {
        let dropped = matches!(item, StreamItem::State(state) if !matches!(state, ConnectionState::Connected));
        if dropped && let Some(at) = self.closing.iter().position(|(_, t)| t == tenure) {
            self.closing.remove(at);
            self.outputs.push_back(super::Output::CloseStream(tenure.clone()));
        }
    }

    /// What disowning and handing over share: the tenure ends, the core and the registry
    /// forget the node, and it goes back to standby. Returns the lease it was held under.
    fn give_up(&mut self, node: &NodeId) -> Option<Lease> {
        let n = self.nodes.get_mut(node)?;
        let Own::Owned(owned) = std::mem::replace(&mut n.own, Own::Standby) else {
            return None;
        };
        // Leg hang-ups the core decided, still queued behind a routing request, go out under
        // this tenure: left to a later owner's reconcile, the phone would stay busy while its
        // agent, freed on time, is offered again.
        for (leg, reason) in self.engine.take_leg_hangups(node) {
            self.channels.leg_released(&leg);
            let command = super::AriCommand::HangupLeg { leg, reason };
            self.outputs.push_back(super::Output::Ari { node: node.clone(), command });
        }
        self.outputs.push_back(super::Output::EndTenure(owned.lease.fence()));
        self.core(CoreInput::NodeDisowned { node: node.clone() });
        self.channels.forget_node(node);
        self.no_reconcile_awaited(node);
        self.relist.remove(node);
        self.talking.remove(node);
        if let Some(recovery) = self.recovery.as_mut() {
            recovery.reconciled.remove(node);
        }
        Some(owned.lease)
    }

    /// Another consumer took the node's app over: nothing more is sent at once, and the lease
    /// is read to tell a peer that took the node legitimately (the lease is no longer this
    /// instance's) from a stranger (it still is).
    pub(super) fn replaced(&mut self, tenure: &Fence) {
        let node = &tenure.node;
        let Some(lease) = self.give_up(node) else { return };
        self.outputs.push_back(super::Output::CloseStream(tenure.clone()));
        if let Some(n) = self.nodes.get_mut(node) {
            n.own = Own::Replaced;
        }
        let (now, ttl) = (self.now, self.settings.lease_ttl);
        self.store(Purpose::Replaced(tenure.clone()), StoreOp::Renew { lease, now, ttl });
    }

    pub(super) fn on_replaced_checked(
        &mut self,
        tenure: &Fence,
        answer: Result<StoreAnswer, StoreError>,
    ) {
        let node = &tenure.node;
        let Some(n) = self.nodes.get_mut(node) else { return };
        match answer {
            Ok(StoreAnswer::Lease(Some(lease))) => {
                tracing::error!(
                    %node,
                    app = %n.app,
                    "another consumer took the ARI app over while this instance holds the \
                     node's lease: another starq that does not share this one's store (an \
                     embedded store, or another site's Redis), or another program using the \
                     app's name. This instance stops acting for the node and will not take \
                     it back: give each starq cluster its own app name, or share one store"
                );
                n.own = Own::Refused;
                self.store(Purpose::Release, StoreOp::Release(lease));
            }
            Ok(StoreAnswer::Lease(None)) => {
                tracing::info!(%node, "another instance took the node over: standing by");
                n.own = Own::Standby;
            }
            Ok(other) => self.unexpected(Ok(other)),
            Err(error) => {
                tracing::warn!(%node, %error, "app taken over; lease not read: standing by");
                n.own = Own::Standby;
            }
        }
    }

    /// Takes the notices other instances left for the nodes this instance owns.
    pub(super) fn read_inboxes(&mut self) {
        if self.live.len() <= 1 {
            self.cadence.inbox_skips += 1;
            if self.cadence.inbox_skips < 10 {
                return;
            }
        }
        self.cadence.inbox_skips = 0;
        let mut fences = Vec::new();
        for owned in self.nodes.values_mut().filter_map(Node::owned_mut) {
            if !owned.reading_inbox {
                owned.reading_inbox = true;
                fences.push(owned.lease.fence());
            }
        }
        for fence in fences {
            let op = StoreOp::TakeNotices { fence: fence.clone(), limit: INBOX_BATCH };
            self.store(Purpose::Inbox(fence), op);
        }
    }

    pub(super) fn on_inbox(&mut self, fence: &Fence, answer: Result<StoreAnswer, StoreError>) {
        if let Some(owned) = self.owned_in(fence) {
            owned.reading_inbox = false;
        }
        match answer {
            Ok(StoreAnswer::Notices(notices)) if notices.is_empty() => {}
            // Handed to the core even if the node was given up meanwhile: it ignores notices
            // for nodes it does not own, and the next owner rings those offers on adoption.
            Ok(StoreAnswer::Notices(notices)) => self.core(CoreInput::Notices(notices)),
            Ok(other) => self.unexpected(Ok(other)),
            Err(StoreError::Fenced { .. }) => {
                if self.owned_in(fence).is_some() {
                    tracing::error!(node = %fence.node, "lost the node's lease to another instance: stopping for it");
                    self.disown(&fence.node, false);
                }
            }
            Err(error) => tracing::debug!(node = %fence.node, %error, "inbox not read"),
        }
    }

    /// A node whose event stream stayed down past `node_down_after` is lost: its calls end
    /// (node-lost) and its agents are freed; it is owned anew when it comes back.
    /// A node taken over that will not be reconciled (lost, given up): the rests wait for the
    /// others only.
    fn no_reconcile_awaited(&mut self, node: &NodeId) {
        if self.rests_after_reconcile.remove(node) && self.rests_after_reconcile.is_empty() {
            self.follow_rests();
        }
    }

    fn report_dead_nodes(&mut self) {
        let (now, limit) = (self.now, self.settings.node_down_after);
        let mut dead = Vec::new();
        for (id, owned) in self.nodes.iter_mut().filter_map(|(id, n)| Some((id, n.owned_mut()?))) {
            if !owned.reported_down && owned.down_since.is_some_and(|t| t + limit <= now) {
                owned.reported_down = true;
                dead.push(id.clone());
            }
        }
        for node in dead {
            tracing::error!(%node, "node lost: its calls end and its agents are released");
            self.core(CoreInput::NodeDown { node: node.clone() });
            self.channels.forget_node(&node);
            // A lost node has no legs left: the others' rests need not wait for it.
            self.no_reconcile_awaited(&node);
        }
    }
}
