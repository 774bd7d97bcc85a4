//! The timer-driven half of the simulated world: far ends answering and hanging up, dial
//! timeouts, playback items ending, the dialplan after `/continue`, scripted callers.

use std::time::Duration;

use super::hangup::{Ender, Hangup};
use super::model::{ChanState, FarEnd, Role, Start};
use super::state::{NodeState, Step};
use crate::clock::Now;
use crate::wire::Event;

impl NodeState {
    /// Runs one due step. Steps whose channel is gone or was replaced do nothing.
    pub(crate) fn run_step(&mut self, now: Now, step: Step) {
        match step {
            Step::FarAnswer { leg, serial }
                if self.live(&leg, serial)
                    && self.channels.get(&leg).is_some_and(|c| c.state != ChanState::Up) =>
            {
                self.far_answer(now, &leg);
            }
            Step::FarHangup { leg, serial, cause } if self.live(&leg, serial) => {
                self.hangup(now, &leg, Hangup::Far(cause));
            }
            Step::FarHangupSplit { leg, serial, request, destroyed } if self.live(&leg, serial) => {
                self.hangup(now, &leg, Hangup::Split { request, destroyed });
            }
            Step::EnterStasis { leg, serial, app, args } if self.live(&leg, serial) => {
                self.created_leg_enters_stasis(now, &leg, &app, args);
            }
            Step::DialTimeout { leg, serial } if self.live(&leg, serial) => {
                let Some(chan) = self.channels.get(&leg) else { return };
                // An answered dial has nothing left to time out. Anything else has, busy legs
                // too: Asterisk's timeout is a hook on the dialing channel that hangs up
                // whatever is not up (`bridge_timeout` in `res/stasis/control.c`), so `Busy()`
                // stays until it (cause 19, sample 08), as does `Busy(hold)` with a longer hold.
                if chan.state == ChanState::Up {
                    return;
                }
                // An originated leg is not in Stasis yet: it just dies with cause 19.
                let how = if chan.stasis.is_some() { Hangup::Timeout } else { Hangup::Silent(19) };
                self.hangup(now, &leg, how);
            }
            Step::PeerWait { peer, serial } if self.live(&peer, serial) => {
                let talk = seconds_text(self.agent_talk(&peer));
                if let Some(c) = self.channels.get_mut(&peer) {
                    c.dialplan.priority = 3;
                    c.set_app("Wait", &talk);
                }
                self.emit_chan(now, &peer, |channel| Event::ChannelDialplan {
                    dialplan_app: "Wait".to_owned(),
                    dialplan_app_data: talk,
                    channel,
                });
                if let Some(c) = self.channels.get_mut(&peer)
                    && std::mem::take(&mut c.cid_pending)
                {
                    self.emit_caller_id(now, &peer);
                }
            }
            Step::Unroutable { leg, serial } if self.live(&leg, serial) => {
                let Some(chan) = self.channels.get(&leg) else { return };
                // Originate reports the failure as cause 0 on both halves; a created leg
                // leaves Stasis and is destroyed normally.
                let cause = if chan.start == Start::Originated { 0 } else { 16 };
                self.hangup(now, &leg, Hangup::Silent(cause));
            }
            Step::Playback { id, serial } => self.playback_step(now, &id, serial),
            Step::DialplanDone { chan, serial } if self.live(&chan, serial) => {
                self.dialplan_hangup(now, &chan);
            }
            Step::CallerHangup { leg, serial, abandon_only } if self.live(&leg, serial) => {
                let connected = self
                    .caller_of(&leg)
                    .and_then(|c| self.world.truth().caller(c).map(|r| r.connected_ms.is_some()))
                    .unwrap_or(false);
                let in_stasis = self.channels.get(&leg).is_some_and(|c| c.stasis.is_some());
                if in_stasis && !(abandon_only && connected) {
                    self.hangup(now, &leg, Hangup::Far(16));
                }
            }
            Step::CallerDtmf { leg, serial, digit } if self.live(&leg, serial) => {
                self.caller_dtmf(now, &leg, digit);
            }
            _ => {}
        }
    }

    /// How long the `[agents]` `;2` half `peer` talks: its leg's `AGENT_TALK` or the node's.
    fn agent_talk(&self, peer: &str) -> Duration {
        let leg = self.channels.get(peer).and_then(|p| p.peer.as_ref());
        match leg.and_then(|l| self.channels.get(l)).map(|l| &l.role) {
            Some(Role::Outgoing { far: FarEnd::AnswerNow { talk }, .. }) => *talk,
            _ => self.cfg.agents_talk,
        }
    }

    /// A ringing far end answers.
    fn far_answer(&mut self, now: Now, leg: &str) {
        let Some(chan) = self.channels.get(leg) else { return };
        let Role::Outgoing { far, dialstring, .. } = chan.role.clone() else { return };
        let final_dialstring =
            if chan.start == Start::Originated { dialstring } else { String::new() };
        let serial = chan.serial;
        self.answer_leg(now, leg, final_dialstring);
        if let FarEnd::Ring { talk, .. } = far {
            self.at(now, talk, Step::FarHangup { leg: leg.to_owned(), serial, cause: 16 });
        }
    }

    /// A channel continued into the dialplan reaches `Hangup()`.
    fn dialplan_hangup(&mut self, now: Now, id: &str) {
        if let Some(c) = self.channels.get_mut(id) {
            c.dialplan.priority += 1;
            c.set_app("Hangup", "");
        }
        self.emit_chan(now, id, |channel| Event::ChannelDialplan {
            dialplan_app: "Hangup".to_owned(),
            dialplan_app_data: String::new(),
            channel,
        });
        self.set_var(now, id, "STASISSTATUS", "SUCCESS");
        self.destroy(now, id, 16, Ender::Near);
    }
}

/// Seconds as a dialplan argument shows them: `30`, or `0.5`.
fn seconds_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 { d.as_secs().to_string() } else { d.as_secs_f64().to_string() }
}
