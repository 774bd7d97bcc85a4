//! Bridges: create, add and remove channels (with `BRIDGEPEER` and connected-line updates as
//! in sample 01), destroy, and whether a caller is now connected to an agent.

use std::collections::BTreeSet;

use super::model::{BridgeKind, BridgeRec, ChanState, Role};
use super::state::NodeState;
use crate::clock::Now;
use crate::error::AriError;
use crate::wire::{self, Event};

impl NodeState {
    /// `POST /bridges` / `POST /bridges/{id}`.
    pub(crate) fn create_bridge(
        &mut self,
        now: Now,
        app: Option<&str>,
        id: Option<String>,
        kind_list: &str,
        name: &str,
    ) -> Result<wire::Bridge, AriError> {
        let mut kind = BridgeKind::Mixing;
        let mut dtmf_events = false;
        for part in kind_list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "mixing" => kind = BridgeKind::Mixing,
                "holding" => kind = BridgeKind::Holding,
                "dtmf_events" | "proxy_media" => dtmf_events = true,
                "video_sfu" | "video_single" | "sdp_label" => {}
                _ => return Err(AriError::bad_request(format!("Invalid bridge type '{part}'"))),
            }
        }
        let id = id.unwrap_or_else(|| self.uniqueid(now));
        if self.bridges.contains_key(&id) {
            return Err(AriError::conflict(format!("Bridge with id '{id}' already exists")));
        }
        let bridge = BridgeRec {
            id: id.clone(),
            name: name.to_owned(),
            kind,
            dtmf_events,
            channels: Vec::new(),
            created_ms: now.wall_ms,
            subs: app.map(|a| a.to_owned()).into_iter().collect(),
            moh: None,
            playbacks: Vec::new(),
        };
        let wire = bridge.wire();
        self.bridges.insert(id, bridge);
        Ok(wire)
    }

    /// `DELETE /bridges/{id}`: channels leave, then `BridgeDestroyed`.
    pub(crate) fn delete_bridge(&mut self, now: Now, id: &str) -> Result<(), AriError> {
        let members = self.bridges.get(id).ok_or_else(AriError::bridge_not_found)?.channels.clone();
        for chan in members.iter().rev() {
            self.leave_bridge(now, chan);
        }
        self.stop_bridge_playbacks(now, id);
        if let Some(bridge) = self.bridges.remove(id) {
            let event = Event::BridgeDestroyed { bridge: bridge.wire() };
            self.emit(now, &bridge.subs, &event);
        }
        Ok(())
    }

    /// `POST /bridges/{id}/addChannel`.
    pub(crate) fn add_to_bridge(
        &mut self,
        now: Now,
        id: &str,
        chans: &[String],
    ) -> Result<(), AriError> {
        if !self.bridges.contains_key(id) {
            return Err(AriError::bridge_not_found());
        }
        for c in chans {
            let chan =
                self.channels.get(c).ok_or_else(|| AriError::bad_request("Channel not found"))?;
            if chan.stasis.is_none() {
                return Err(AriError::new(422, "Channel not in Stasis application"));
            }
        }
        for c in chans {
            // Asterisk subscribes a channel's app to the bridge it puts the channel in.
            let app =
                self.channels.get(c).and_then(|ch| ch.stasis.as_ref()).map(|(a, _)| a.clone());
            if let (Some(app), Some(b)) = (app, self.bridges.get_mut(id)) {
                b.subs.insert(app);
            }
            if self.channels.get(c).and_then(|ch| ch.bridge.as_deref()) == Some(id) {
                continue;
            }
            if self.channels.get(c).is_some_and(|ch| ch.bridge.is_some()) {
                self.leave_bridge(now, c);
            }
            self.join_bridge(now, id, c);
        }
        self.check_connected(now, id);
        Ok(())
    }

    fn join_bridge(&mut self, now: Now, id: &str, chan: &str) {
        let Some(bridge) = self.bridges.get_mut(id) else { return };
        bridge.channels.push(chan.to_owned());
        let snapshot = bridge.wire();
        let kind = bridge.kind;
        let bridge_moh = bridge.moh.clone();
        let members = bridge.channels.clone();
        if let Some(c) = self.channels.get_mut(chan) {
            c.bridge = Some(id.to_owned());
        }
        self.emit_bridge_chan(
            now,
            id,
            chan,
            |bridge, channel| Event::ChannelEnteredBridge { bridge, channel },
            snapshot,
        );
        if bridge_moh.is_some() {
            self.start_moh_truth(now, chan);
        }
        if kind == BridgeKind::Mixing && members.len() == 2 {
            self.pair_up(now, &members[0], &members[1]);
        }
    }

    /// Two channels meet in a mixing bridge: `BRIDGEPEER` on each, then connected line.
    fn pair_up(&mut self, now: Now, first: &str, second: &str) {
        let name =
            |s: &Self, id: &str| s.channels.get(id).map(|c| c.name.clone()).unwrap_or_default();
        let (first_name, second_name) = (name(self, first), name(self, second));
        self.set_var(now, first, "BRIDGEPEER", &second_name);
        self.set_var(now, second, "BRIDGEPEER", &first_name);
        for (me, other) in [(second, first), (first, second)] {
            let Some(cid) = self.channels.get(other).map(|c| c.caller.clone()) else { continue };
            let Some(c) = self.channels.get_mut(me) else { continue };
            if c.connected != cid {
                c.connected = cid.clone();
                let peer = c.peer.clone();
                self.emit_chan(now, me, |channel| Event::ChannelConnectedLine { channel });
                if let Some(peer) = peer {
                    self.propagate_caller_id(now, &peer, cid);
                }
            }
        }
    }

    /// A Local `;1` half's connected line becomes its `;2` half's caller id.
    fn propagate_caller_id(&mut self, now: Now, peer: &str, cid: wire::CallerId) {
        let Some(p) = self.channels.get_mut(peer) else { return };
        if !matches!(p.role, Role::LocalPeer) || p.caller == cid {
            return;
        }
        p.caller = cid;
        if p.dialplan.app_name == "Answer" {
            p.cid_pending = true;
            return;
        }
        self.emit_caller_id(now, peer);
    }

    /// `ChannelCallerId` for a channel whose caller id changed.
    pub(crate) fn emit_caller_id(&mut self, now: Now, id: &str) {
        self.emit_chan(now, id, |channel| Event::ChannelCallerId {
            caller_presentation: 0,
            caller_presentation_txt: "Presentation Allowed, Not Screened",
            channel,
        });
    }

    /// Takes a channel out of its bridge: `BRIDGEPEER` cleared, `ChannelLeftBridge`.
    pub(crate) fn leave_bridge(&mut self, now: Now, chan: &str) {
        let Some(id) = self.channels.get_mut(chan).and_then(|c| c.bridge.take()) else { return };
        let Some(bridge) = self.bridges.get_mut(&id) else { return };
        bridge.channels.retain(|c| c != chan);
        let snapshot = bridge.wire();
        let had_moh = bridge.moh.is_some();
        if self
            .channels
            .get(chan)
            .is_some_and(|c| c.vars.get("BRIDGEPEER").is_some_and(|v| !v.is_empty()))
        {
            self.set_var(now, chan, "BRIDGEPEER", "");
        }
        self.emit_bridge_chan(
            now,
            &id,
            chan,
            |bridge, channel| Event::ChannelLeftBridge { bridge, channel },
            snapshot,
        );
        if had_moh {
            self.stop_moh_truth(now, chan);
        }
    }

    /// `POST /bridges/{id}/removeChannel`.
    pub(crate) fn remove_from_bridge(
        &mut self,
        now: Now,
        id: &str,
        chans: &[String],
    ) -> Result<(), AriError> {
        if !self.bridges.contains_key(id) {
            return Err(AriError::bridge_not_found());
        }
        for c in chans {
            let chan =
                self.channels.get(c).ok_or_else(|| AriError::bad_request("Channel not found"))?;
            if chan.bridge.as_deref() != Some(id) {
                return Err(AriError::new(422, "Channel not in this bridge"));
            }
        }
        for c in chans {
            self.leave_bridge(now, c);
        }
        Ok(())
    }

    /// Sends a bridge+channel event to the bridge's and the channel's subscribers.
    fn emit_bridge_chan(
        &mut self,
        now: Now,
        bridge_id: &str,
        chan: &str,
        make: impl FnOnce(wire::Bridge, wire::Channel) -> Event,
        snapshot: wire::Bridge,
    ) {
        let Some(c) = self.channels.get(chan) else { return };
        let mut to: BTreeSet<String> = c.recipients();
        if let Some(b) = self.bridges.get(bridge_id) {
            to.extend(b.subs.iter().cloned());
        }
        let event = make(snapshot, c.wire());
        self.emit(now, &to, &event);
    }

    /// After a leg answers: re-check the bridge it is in.
    pub(crate) fn check_connected_for(&mut self, now: Now, leg: &str) {
        if let Some(b) = self.channels.get(leg).and_then(|c| c.bridge.clone()) {
            self.check_connected(now, &b);
        }
    }

    /// Records in the ground truth any caller now sharing a mixing bridge with an answered
    /// outgoing leg: that caller is connected to that agent.
    pub(crate) fn check_connected(&mut self, now: Now, bridge_id: &str) {
        let Some(bridge) = self.bridges.get(bridge_id) else { return };
        if bridge.kind != BridgeKind::Mixing {
            return;
        }
        let agent = bridge.channels.iter().find_map(|c| {
            let chan = self.channels.get(c)?;
            match &chan.role {
                Role::Outgoing { endpoint, .. } if chan.state == ChanState::Up => {
                    Some((c.clone(), endpoint.clone()))
                }
                _ => None,
            }
        });
        let Some((leg, endpoint)) = agent else { return };
        let callers: Vec<u64> = bridge.channels.iter().filter_map(|c| self.caller_of(c)).collect();
        let ring = self.links.rings.get(&leg).copied();
        let ms = self.ms(now);
        let mut truth = self.world.truth();
        for caller in callers {
            if let Some(rec) = truth.caller_mut(caller)
                && rec.connected_ms.is_none()
            {
                rec.connected_ms = Some(ms);
                rec.agent = Some(endpoint.clone());
                if !rec.rang.iter().any(|r| r.agent == endpoint) {
                    rec.rang.push(crate::truth::Rang { agent: endpoint.clone(), at_ms: ms });
                }
            }
            if let Some(r) = ring.and_then(|i| truth.ring_mut(i)) {
                r.caller = Some(caller);
            }
        }
    }
}
