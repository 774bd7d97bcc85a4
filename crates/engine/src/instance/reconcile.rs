//! A node's app against what the instance follows and what the store holds. Asterisk replays
//! nothing missed while an event stream was down, so after every (re)connect, every few seconds
//! after, and when events were lost, the app is listed and compared: callers the store holds
//! for the node (an earlier owner's, or this instance's before a restart) are adopted, what
//! ended unseen ends, what is left over is cleaned up, and channels nobody knew (callers whose
//! `StasisStart` was missed, or that waited under a store lost since) are described and taken
//! in.

use std::collections::BTreeSet;

use starq_core::engine::{Input as CoreInput, LegHangup};
use starq_core::shared::{LEG_TEARDOWN, StoredCall, StoredState};
use starq_core::{CallId, LegId, NodeId, ReservationId, bridge_of, bridged_channel};

use super::{AriCommand, Instance, Listing, Node, Output, Purpose, StoreOp, Stray};
use crate::translate::{self, Notes};

impl Instance {
    /// Asks what the node's app holds (if the node is owned).
    pub(super) fn list(&mut self, node: &NodeId) {
        if self.nodes.get(node).and_then(Node::owned).is_some() {
            let as_of = self.channels.generation();
            self.outputs.push_back(Output::List { node: node.clone(), as_of });
        }
    }

    pub(super) fn on_listed(&mut self, node: NodeId, as_of: u64, listing: Result<Listing, String>) {
        if self.nodes.get(&node).and_then(Node::owned).is_none() {
            return;
        }
        match listing {
            Ok(listing) => {
                let purpose = Purpose::NodeCalls { node: node.clone(), as_of, listing };
                self.store(purpose, StoreOp::NodeCalls(node));
            }
            Err(error) => {
                tracing::warn!(%node, %error, "cannot list the app's channels to reconcile");
                self.relist.insert(node, self.now + super::RECONCILE_RETRY);
            }
        }
    }

    /// What the node's app holds, with the store's callers of the node: follow the callers the
    /// store holds (an earlier owner's, or this instance's before a restart), repair what was
    /// missed, let the core adopt the callers it does not follow, and clean up or take in the
    /// rest.
    pub(super) fn on_present(
        &mut self,
        node: &NodeId,
        calls: Vec<StoredCall>,
        listing: Listing,
        as_of: u64,
    ) {
        if self.nodes.get(node).and_then(Node::owned).is_none() {
            return;
        }
        let Listing { channels, bridges } = listing;
        let unbridged = self.channels.adopt(node, &calls, &channels, &bridges);
        let steps = self.channels.reconcile(node, &channels, &bridges, as_of);
        let (stored, in_app, missed) = (calls.len(), channels.len(), steps.len());
        if missed > 0 {
            tracing::info!(%node, stored, in_app, missed, "reconciled with the node and the store");
        } else {
            tracing::debug!(%node, stored, in_app, "reconciled with the node and the store");
        }
        self.apply_steps(node, steps);
        if self.missed_events.remove(node) {
            let redials = self.channels.redials(node, &channels);
            self.apply_steps(node, redials);
        }
        // Legs the store still holds (an adopted caller's offers, or its conversation) are the
        // core's; any other leg of an adopted caller is left over, as is the rest of the
        // strays: a hang-up the core sent may have been dropped with a lease that lapsed.
        let held: BTreeSet<(&CallId, ReservationId)> = calls
            .iter()
            .flat_map(|c| {
                let reservations: Vec<ReservationId> = match &c.state {
                    StoredState::Waiting { offers } => offers.iter().map(|(r, _)| *r).collect(),
                    StoredState::Connected { reservation, .. } => vec![*reservation],
                };
                reservations.into_iter().map(move |r| (&c.call, r))
            })
            .collect();
        let mut strays = self.channels.strays(node, &channels);
        strays.retain(|id| {
            !LegId::parse(id).is_some_and(|leg| held.contains(&(leg.call(), leg.reservation())))
        });
        // A call still bridged in Asterisk that the store no longer knows (a Redis that lost
        // its state) goes on talking: its agent leg is left up, and its caller is described
        // with the others, to be taken back as connected from its notes (never queued again).
        // A conversation needs both its parties: a bridge whose caller is gone leaves its leg
        // over (its hang-up may have been dropped with a lease that lapsed while the store was
        // away), and one whose agent leg is gone leaves a caller whose call ended (the agent
        // hung up as its owner died), which the store remembers and sends on.
        let with_leg: BTreeSet<String> = channels
            .iter()
            .filter_map(|id| LegId::parse(id).filter(|leg| leg.is_on(node)))
            .flat_map(|leg| leg.call().channel_candidates(node).into_iter().map(|(c, _)| c))
            .collect();
        let talking: BTreeSet<String> = bridges
            .iter()
            .filter_map(|b| bridged_channel(b))
            .filter(|c| channels.contains(*c) && with_leg.contains(*c))
            .map(str::to_owned)
            .collect();
        strays.retain(|id| match LegId::parse(id).filter(|leg| leg.is_on(node)) {
            Some(leg) => {
                !leg.call().channel_candidates(node).iter().any(|(c, _)| talking.contains(c))
            }
            None => true,
        });
        self.talking.insert(node.clone(), talking);
        self.core(CoreInput::Adopt { node: node.clone(), calls, present: channels });
        // Once every node taken in the same round is reconciled: an agent resting while its
        // leg on another of them is left over would be freed before that leg is hung up.
        let follow_rests =
            self.rests_after_reconcile.remove(node) && self.rests_after_reconcile.is_empty();
        for (channel, leg) in unbridged {
            tracing::info!(%node, %channel, %leg, "connected call found without its bridge: bridged");
            let bridge = bridge_of(&channel);
            self.send(node, AriCommand::Bridge { bridge, channel, leg });
        }
        let (legs, others): (Vec<String>, Vec<String>) =
            strays.into_iter().partition(|id| translate::is_leg(node, id));
        if !legs.is_empty() {
            // Rests followed from now on end no sooner than these hang-ups have landed.
            self.rests.not_before = self.now + LEG_TEARDOWN;
        }
        for id in legs {
            // A leg whose call ended while no one watched (those of adopted callers are
            // already being hung up).
            tracing::info!(%node, leg = %id, "leftover agent leg hung up");
            self.send(node, AriCommand::HangupLeg { leg: id, reason: LegHangup::Cancelled });
        }
        if follow_rests {
            self.follow_rests();
        }
        if others.is_empty() {
            self.reconciled_after_loss(node);
        } else {
            self.outputs.push_back(Output::DescribeStrays { node: node.clone(), channels: others });
        }
    }

    /// Channels found in the app that starq did not know: callers that were waiting (starq
    /// noted their entry) are taken in first, then the others in the order they arrived on the
    /// node.
    pub(super) fn on_strays(&mut self, node: &NodeId, mut strays: Vec<Stray>) {
        let talking = self.talking.get(node).cloned().unwrap_or_default();
        let Some(app) = self.nodes.get(node).filter(|n| n.owned().is_some()).map(|n| n.app.clone())
        else {
            return;
        };
        // `creationtime` is one fixed-width UTC format: its text sorts as its time.
        strays.sort_by(|a, b| {
            (a.entry.is_none(), &a.channel.creationtime)
                .cmp(&(b.entry.is_none(), &b.channel.creationtime))
        });
        for stray in strays {
            let channel = &stray.channel;
            let notes =
                Notes { entry: stray.entry.as_deref(), connected: stray.connected.as_deref() };
            let in_call = talking.contains(&channel.id);
            let steps = self.channels.stray(node, channel, &app, &notes, in_call);
            if in_call {
                if steps.is_empty() {
                    tracing::warn!(%node, channel = %channel.id, "conversation found without starq's notes: left to go on, not followed");
                } else {
                    tracing::warn!(%node, channel = %channel.id, "conversation the store lost: taken back as connected");
                }
            } else if !steps.is_empty() {
                tracing::warn!(%node, channel = %channel.id, resumed = notes.entry.is_some(), "caller found in the app without its StasisStart: taken in now");
            }
            self.apply_steps(node, steps);
        }
        self.reconciled_after_loss(node);
    }
}
