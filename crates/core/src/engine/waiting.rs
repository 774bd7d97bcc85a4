//! Timers of waiting callers and agents: max wait, rule steps, announcements, ring-outs.

use std::time::Duration;

use super::caller::Phase;
use super::{ChannelAction, Command, Engine, LegHangup, Pending, TimerKey};
use crate::config::Window;
use crate::estimate::{estimated_wait, position_prompts};
use crate::ids::CallId;
use crate::outcome::Outcome;
use crate::shared::{Miss, Request};

impl Engine {
    /// A timer fired.
    pub(super) fn on_timer(&mut self, key: TimerKey) {
        let now = self.now;
        match key {
            TimerKey::MaxWait(call) => self.leave(&call, Outcome::Timeout),
            TimerKey::RuleStep(call) => {
                let Some(fence) = self.live_fence(&call) else { return };
                let c = &self.callers[&call];
                let waited = now.since(c.entered);
                let window = c.queue.rule.window_at(Window::ANY, waited);
                if let Some(next) = c.queue.rule.next_change_after(waited) {
                    self.timers.set(TimerKey::RuleStep(call.clone()), c.entered + next);
                }
                self.request(Pending::Other, Request::SetWindow { fence, call, window, now });
            }
            // app_queue says the position when `announce-frequency` has passed since it last
            // did, or sooner when the position changed, but never twice within
            // `min-announce-frequency`: the position is looked at that often (the frequency,
            // when that is shorter) and said when either holds (`announce_position`).
            TimerKey::Announce(call) => {
                if let Some(c) = self.callers.get(&call).filter(|c| c.phase == Phase::Waiting) {
                    let announce = &c.queue.announce;
                    let every = announce.frequency.unwrap_or(Duration::from_secs(60));
                    let look = if announce.min_frequency < every {
                        announce.min_frequency.max(Duration::from_secs(1))
                    } else {
                        every
                    };
                    self.timers.set(TimerKey::Announce(call.clone()), now + look);
                    self.commands.push_back(Command::QueryPosition { call });
                }
            }
            TimerKey::Periodic(call) => self.periodic(&call),
            TimerKey::Extend(call) => {
                let Some(fence) = self.live_fence(&call) else { return };
                let c = &self.callers[&call];
                if c.phase == Phase::Waiting {
                    let delay = c.queue.ring_progressively_delay;
                    self.timers.set(TimerKey::Extend(call.clone()), now + delay);
                    self.request(Pending::Other, Request::Extend { fence, call, now });
                }
            }
            TimerKey::Ring(reservation) => {
                let Some(leg) = self.legs.get(&reservation) else { return };
                let (offer, id) = (leg.offer.clone(), leg.id.clone());
                let node = offer.node.clone();
                self.commands.push_back(Command::HangupLeg {
                    node,
                    leg: id,
                    reason: LegHangup::Timeout,
                });
                self.release(&offer, Miss::NoAnswer);
            }
            TimerKey::AgentReady(agent) => {
                let draw = self.rng.next_u64();
                self.request(Pending::Other, Request::AgentReady { agent, now, draw });
            }
        }
    }

    /// The store told the caller's position: say it (and the estimated wait) as configured,
    /// when the position changed since it was last said or `announce-frequency` has passed.
    /// The head caller hears "you are next" while no agent rings for it; while one does, only
    /// with `announce-to-first-user` (app_queue's head caller, ringing members, hears nothing
    /// else).
    pub(super) fn announce_position(&mut self, call: &CallId, position: Option<u32>) {
        let Some(position) = position else { return };
        let ringing = self.legs.values().any(|leg| &leg.offer.call == call);
        let now = self.now;
        let Some(c) = self.callers.get_mut(call).filter(|c| c.phase == Phase::Waiting) else {
            return;
        };
        let every = c.queue.announce.frequency.unwrap_or(Duration::from_secs(60));
        let due = c.announced_at.is_none_or(|at| now.since(at) >= every);
        if !due && position == c.position {
            return;
        }
        if position == 1 && ringing && !c.queue.announce.to_first_user {
            return;
        }
        c.announced_at = Some(now);
        let handle = self.handle_times.get(&c.queue.id).copied().unwrap_or_default();
        let wait = estimated_wait(position, c.serving, &handle);
        let media = position_prompts(&c.queue.announce, position, wait, c.said_holdtime);
        c.said_holdtime |= wait.is_some();
        c.position = position;
        if !media.is_empty() {
            self.channel(call, ChannelAction::Play(media));
        }
    }

    /// Plays the next periodic prompt and schedules the one after.
    pub(super) fn periodic(&mut self, call: &CallId) {
        let Some(c) = self.callers.get_mut(call).filter(|c| c.phase == Phase::Waiting) else {
            return;
        };
        let prompts = &c.queue.announce.periodic;
        let index = if c.queue.announce.random_periodic {
            self.rng.below(prompts.len() as u64) as usize
        } else {
            let i = c.periodic_index % prompts.len();
            c.periodic_index += 1;
            i
        };
        let media = vec![format!("sound:{}", prompts[index])];
        if let Some(every) = c.queue.announce.periodic_frequency {
            self.timers.set(TimerKey::Periodic(call.clone()), self.now + every);
        }
        self.channel(call, ChannelAction::Play(media));
    }
}
