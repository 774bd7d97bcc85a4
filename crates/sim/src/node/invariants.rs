//! Consistency rules of a node's state, checked after every step of the seeded random-operation
//! simulation below (and available to any test through `NodeState::check_invariants`).

use super::model::Role;
use super::state::NodeState;

impl NodeState {
    /// Returns the first broken rule, if any.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (id, chan) in &self.channels {
            if let Some(b) = &chan.bridge {
                let bridge = self.bridges.get(b).ok_or(format!("{id} in missing bridge {b}"))?;
                if !bridge.channels.contains(id) {
                    return Err(format!("{id} thinks it is in {b}, which does not list it"));
                }
            }
            if let Some(peer) = &chan.peer {
                let other = self.channels.get(peer).ok_or(format!("{id}: peer {peer} missing"))?;
                if other.peer.as_deref() != Some(id.as_str()) {
                    return Err(format!("{id} and {peer} are not each other's peer"));
                }
            }
            for pb in &chan.playbacks {
                if !self.playbacks.contains_key(pb) {
                    return Err(format!("{id} queues missing playback {pb}"));
                }
            }
            if matches!(chan.role, Role::Handset { .. }) && chan.stasis.is_some() {
                return Err(format!("handset {id} is in Stasis"));
            }
        }
        for (id, bridge) in &self.bridges {
            for c in &bridge.channels {
                let chan = self.channels.get(c).ok_or(format!("bridge {id} lists missing {c}"))?;
                if chan.bridge.as_deref() != Some(id.as_str()) {
                    return Err(format!("bridge {id} lists {c}, which is elsewhere"));
                }
            }
        }
        for (id, pb) in &self.playbacks {
            let queued = match &pb.target {
                super::model::Target::Channel(c) => self.channels.get(c).map(|c| &c.playbacks),
                super::model::Target::Bridge(b) => self.bridges.get(b).map(|b| &b.playbacks),
            };
            if !queued.is_some_and(|q| q.contains(id)) {
                return Err(format!("playback {id} is not queued on its target"));
            }
        }
        self.check_truth()
    }

    fn check_truth(&self) -> Result<(), String> {
        for (leg, caller) in &self.links.callers {
            let chan = self.channels.get(leg).ok_or(format!("caller link to missing {leg}"))?;
            if !matches!(chan.role, Role::CallerLeg { .. }) {
                return Err(format!("caller link to non-caller {leg}"));
            }
            let truth = self.world.truth();
            let rec = truth.caller(*caller).ok_or(format!("caller {caller} not recorded"))?;
            if chan.stasis.is_some() && rec.outcome.is_some() {
                return Err(format!("caller {caller} in Stasis already has {:?}", rec.outcome));
            }
        }
        let truth = self.world.truth();
        for rec in truth.callers().filter(|r| r.node == self.index) {
            let live = self.channels.contains_key(&rec.channel_id);
            if !live && rec.outcome.is_none() {
                return Err(format!("caller {} is gone without an outcome", rec.caller));
            }
            if rec.outcome.is_some() != rec.ended_ms.is_some() {
                return Err(format!("caller {} outcome and end time disagree", rec.caller));
            }
        }
        Ok(())
    }
}
