//! Hanging channels up: the event sequences of samples 01, 03 and 04b (hangup request,
//! leaving the bridge, `StasisEnd`, `STASISSTATUS`, the Local other half, `ChannelDestroyed`),
//! and the ground-truth outcome of whoever was on the channel.

use super::model::{ChanState, FarEnd, Role, Start};
use super::state::NodeState;
use crate::clock::Now;
use crate::error::AriError;
use crate::truth::{Outcome, RingResult};
use crate::wire::{Event, cause_text};

/// Why a channel is going away, which decides its `ChannelHangupRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hangup {
    /// `DELETE /channels/{id}` with this cause: Asterisk reports cause 32, soft.
    Rest(i32),
    /// The far end or the caller's handset hung up with this cause.
    Far(i32),
    /// A `/dial` timeout: soft request, destroyed with cause 19.
    Timeout,
    /// The far end hung up with one cause and the channel is destroyed with another:
    /// `[noanswer]`'s dialplan running out without `Hangup()` (request 0, destroyed 16), or a
    /// `Hangup(17)` racing the dial, which Asterisk now and then destroys with 16.
    Split { request: i32, destroyed: i32 },
    /// Dies without a hangup request (unroutable leg, originate timeout).
    Silent(i32),
}

/// Which side of a Local pair ended it, which decides what its subscribers see of the `;2`
/// half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ender {
    /// The `;1` side (the app, a timeout, the dialplan after `/continue`): the `;2` half gets a
    /// hangup request, then a soft one (samples 01, 04a).
    Near,
    /// The `;2` half's own dialplan hung up (`[agents]`' `Hangup()`): one soft request.
    Far,
    /// No hangup requests at all (unroutable, originate timeout).
    Silent,
}

/// Maps `DELETE /channels/{id}?reason=` to a Q.850 cause.
pub(crate) fn reason_cause(reason: &str) -> Option<i32> {
    Some(match reason {
        "normal" => 16,
        "busy" => 17,
        "congestion" => 34,
        "no_answer" | "timeout" => 19,
        "rejected" => 21,
        "unallocated" => 1,
        "normal_unspecified" => 31,
        "number_incomplete" => 28,
        "codec_mismatch" => 58,
        "interworking" => 127,
        "failure" => 38,
        "answered_elsewhere" => 26,
        _ => return None,
    })
}

impl NodeState {
    /// `DELETE /channels/{id}`: works on any channel, in Stasis or not.
    pub(crate) fn delete_channel(
        &mut self,
        now: Now,
        id: &str,
        cause: i32,
    ) -> Result<(), AriError> {
        let chan = self.channels.get(id).ok_or_else(AriError::channel_not_found)?;
        match chan.role.clone() {
            // Hanging up a handset is the caller hanging up.
            Role::Handset { .. } => {
                let leg = chan.peer.clone().unwrap_or_default();
                self.hangup(now, &leg, Hangup::Far(16));
            }
            // Hanging up a Local `;2` half takes its `;1` leg down as a far-end hangup.
            Role::LocalPeer => {
                let leg = chan.peer.clone().unwrap_or_default();
                self.hangup(now, &leg, Hangup::Far(cause));
            }
            _ => self.hangup(now, id, Hangup::Rest(cause)),
        }
        Ok(())
    }

    /// Hangs a channel up with the full event sequence and removes it.
    pub(crate) fn hangup(&mut self, now: Now, id: &str, how: Hangup) {
        let Some(chan) = self.channels.get(id) else { return };
        let cause = match how {
            Hangup::Rest(c) | Hangup::Far(c) | Hangup::Silent(c) => c,
            Hangup::Timeout => 19,
            Hangup::Split { destroyed, .. } => destroyed,
        };
        // An originated leg still dialing is not in Stasis: a far-end hangup (busy, gave up)
        // shows only as `ChannelDestroyed`.
        let in_stasis = chan.stasis.is_some();
        match how {
            Hangup::Rest(_) | Hangup::Timeout => self.emit_chan(now, id, |channel| {
                Event::ChannelHangupRequest { cause: 32, soft: Some(true), channel }
            }),
            Hangup::Far(c) if in_stasis => self.emit_chan(now, id, |channel| {
                Event::ChannelHangupRequest { cause: c, soft: None, channel }
            }),
            Hangup::Split { request, .. } if in_stasis => self.emit_chan(now, id, |channel| {
                Event::ChannelHangupRequest { cause: request, soft: None, channel }
            }),
            Hangup::Far(_) | Hangup::Split { .. } | Hangup::Silent(_) => {}
        }
        self.record_end(now, id, how);
        if self.channels.get(id).is_some_and(|c| c.bridge.is_some()) {
            self.leave_bridge(now, id);
        }
        self.stop_channel_playbacks(now, id);
        self.stop_moh_truth(now, id);
        self.end_stasis(now, id);
        let ender = match how {
            Hangup::Silent(_) => Ender::Silent,
            Hangup::Far(_) | Hangup::Split { .. } => Ender::Far,
            Hangup::Rest(_) | Hangup::Timeout => Ender::Near,
        };
        self.destroy(now, id, cause, ender);
    }

    /// `StasisEnd` and `STASISSTATUS=SUCCESS`, if the channel is in Stasis.
    pub(crate) fn end_stasis(&mut self, now: Now, id: &str) {
        let Some(chan) = self.channels.get(id) else { return };
        if chan.stasis.is_none() {
            return;
        }
        self.emit_chan(now, id, |channel| Event::StasisEnd { channel });
        if let Some(chan) = self.channels.get_mut(id) {
            chan.stasis = None;
        }
        self.set_var(now, id, "STASISSTATUS", "SUCCESS");
    }

    /// `ChannelDestroyed` for the channel and its Local other half, then removal.
    pub(crate) fn destroy(&mut self, now: Now, id: &str, cause: i32, ender: Ender) {
        let Some(chan) = self.channels.get(id) else { return };
        let role = chan.role.clone();
        let peer = chan.peer.clone();
        let app_dial = chan.start == Start::Originated;
        if matches!(role, Role::CallerLeg { .. }) && ender != Ender::Silent {
            // The dialplan channel hangs up after Stasis; only subscribers see it.
            self.emit_chan(now, id, |channel| Event::ChannelHangupRequest {
                cause,
                soft: Some(true),
                channel,
            });
        }
        if let Some(peer) = &peer
            && matches!(role, Role::Outgoing { .. })
        {
            if ender == Ender::Far
                && matches!(role, Role::Outgoing { far: FarEnd::AnswerNow { .. }, .. })
            {
                // `[agents]` ends with `Hangup()` after its `Wait()` (docs/fidelity.md).
                if let Some(p) = self.channels.get_mut(peer.as_str()) {
                    p.dialplan.priority = 4;
                    p.set_app("Hangup", "");
                }
                self.emit_chan(now, peer, |channel| Event::ChannelDialplan {
                    dialplan_app: "Hangup".to_owned(),
                    dialplan_app_data: String::new(),
                    channel,
                });
            }
            if ender == Ender::Near {
                self.emit_chan(now, peer, |channel| Event::ChannelHangupRequest {
                    cause,
                    soft: None,
                    channel,
                });
            }
            if ender != Ender::Silent {
                self.emit_chan(now, peer, |channel| Event::ChannelHangupRequest {
                    cause,
                    soft: Some(true),
                    channel,
                });
            }
            self.emit_destroyed(now, peer, cause, false);
        }
        self.emit_destroyed(now, id, cause, app_dial);
        if let Role::Outgoing { phone: Some(phone), on_phone: true, .. } = &role {
            self.world.phones().release(phone);
        }
        self.mark_ring(now, id, RingResult::NotAnswered);
        self.end_ring(now, id);
        if let Some(peer) = peer {
            self.channels.remove(&peer);
        }
        self.channels.remove(id);
        if let Role::Outgoing { phone: Some(phone), .. } = &role {
            self.endpoint_changed(now, phone);
        }
        self.links.callers.remove(id);
        self.links.leg_caller.remove(id);
    }

    fn emit_destroyed(&mut self, now: Now, id: &str, cause: i32, app_dial: bool) {
        if let Some(chan) = self.channels.get_mut(id) {
            if app_dial {
                chan.set_app("AppDial2", "(Outgoing Line)");
            } else {
                chan.set_app("", "");
            }
        }
        self.emit_chan(now, id, |channel| Event::ChannelDestroyed {
            cause,
            cause_txt: cause_text(cause),
            channel,
        });
    }

    /// Closes a leg's ring record; if that leg was the agent a caller is connected to, the
    /// caller's record notes that the agent left first.
    fn end_ring(&mut self, now: Now, id: &str) {
        let Some(index) = self.links.rings.remove(id) else { return };
        let ms = self.ms(now);
        let mut truth = self.world.truth();
        let Some(ring) = truth.ring_mut(index) else { return };
        ring.ended_ms = Some(ms);
        let (answered, caller, agent) =
            (ring.result == RingResult::Answered, ring.caller, ring.agent.clone());
        if let Some(rec) = caller.and_then(|c| truth.caller_mut(c))
            && answered
            && rec.outcome.is_none()
            && rec.connected_ms.is_some()
            && rec.agent.as_ref() == Some(&agent)
            && rec.agent_left_ms.is_none()
        {
            rec.agent_left_ms = Some(ms);
        }
    }

    /// Writes the caller's outcome when its leg goes away.
    fn record_end(&mut self, now: Now, id: &str, how: Hangup) {
        let Some(caller) = self.caller_of(id) else { return };
        let agent_present = self.agent_in_bridge_with(id);
        let ms = self.ms(now);
        let mut truth = self.world.truth();
        let connected = truth.caller(caller).is_some_and(|r| r.connected_ms.is_some());
        // Who ended the conversation: the agent if their leg went first.
        let agent_left = truth.caller(caller).is_some_and(|r| r.agent_left_ms.is_some());
        let outcome = match how {
            Hangup::Far(_) | Hangup::Split { .. } if connected && agent_left => {
                Outcome::AgentHungUp
            }
            Hangup::Far(_) | Hangup::Split { .. } if connected => Outcome::CallerHungUp,
            Hangup::Far(_) | Hangup::Split { .. } => Outcome::Abandoned,
            Hangup::Rest(_) if connected && (agent_left || !agent_present) => Outcome::AgentHungUp,
            Hangup::Rest(c) | Hangup::Silent(c) => Outcome::HungUpByApp { cause: c },
            Hangup::Timeout => Outcome::HungUpByApp { cause: 19 },
        };
        truth.end_caller(caller, ms, outcome);
    }

    /// Whether an answered outgoing leg shares a bridge with channel `id`.
    pub(crate) fn agent_in_bridge_with(&self, id: &str) -> bool {
        let Some(bridge) = self.channels.get(id).and_then(|c| c.bridge.as_ref()) else {
            return false;
        };
        let Some(b) = self.bridges.get(bridge) else { return false };
        b.channels.iter().filter(|c| *c != id).any(|c| {
            self.channels.get(c).is_some_and(|c| {
                matches!(c.role, Role::Outgoing { .. }) && c.state == ChanState::Up
            })
        })
    }

    /// A node dies: every caller on it ends as node-lost, every phone leg is released.
    pub(crate) fn lose_everything(&mut self, now: Now) {
        let ms = self.ms(now);
        let callers: Vec<u64> = self.links.callers.values().copied().collect();
        let legs: Vec<String> = self.links.rings.keys().cloned().collect();
        {
            let mut truth = self.world.truth();
            for c in callers {
                truth.end_caller(c, ms, Outcome::NodeLost);
            }
        }
        for leg in legs {
            self.mark_ring(now, &leg, RingResult::NotAnswered);
            self.end_ring(now, &leg);
        }
        let phones: Vec<String> = self
            .channels
            .values()
            .filter_map(|c| match &c.role {
                Role::Outgoing { phone: Some(p), on_phone: true, .. } => Some(p.clone()),
                _ => None,
            })
            .collect();
        let mut book = self.world.phones();
        for p in phones {
            book.release(&p);
        }
    }
}
