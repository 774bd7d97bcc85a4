//! The state of one node: channels, bridges, playbacks, applications, pending timers, and the
//! plumbing every operation uses (ids, event emission, timers, ground-truth hooks).
//!
//! All of a node's state sits behind one lock; an operation takes `&mut NodeState` and a
//! [`Now`], changes the records and emits events in the order Asterisk raises them. Events
//! are handed to consumer queues while the lock is held, so their order on the wire is the
//! order of the changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::apps::Apps;
use super::config::NodeConfig;
use super::model::{BridgeRec, Chan, PlaybackRec};
use crate::clock::Now;
use crate::phones::PhoneBook;
use crate::rng::SimRng;
use crate::truth::Truth;
use crate::wire::{self, Envelope, Event};

/// The longest delay a timer is armed for.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// What every node shares: the ground truth, the agent phones, and the world's start time.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) truth: Mutex<Truth>,
    pub(crate) phones: Mutex<PhoneBook>,
    pub(crate) epoch: Instant,
    next_caller: AtomicU64,
}

impl World {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            truth: Mutex::new(Truth::default()),
            phones: Mutex::new(PhoneBook::default()),
            epoch,
            next_caller: AtomicU64::new(1),
        }
    }

    /// Milliseconds since the world started.
    pub(crate) fn ms(&self, now: Now) -> u64 {
        u64::try_from(now.mono.saturating_duration_since(self.epoch).as_millis()).unwrap_or(0)
    }

    pub(crate) fn truth(&self) -> MutexGuard<'_, Truth> {
        self.truth.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn phones(&self) -> MutexGuard<'_, PhoneBook> {
        self.phones.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn next_caller(&self) -> u64 {
        self.next_caller.fetch_add(1, Ordering::Relaxed)
    }
}

/// A deferred step of the simulated world, run by the node's timer driver.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// The far end of an outgoing leg answers.
    FarAnswer { leg: String, serial: u64 },
    /// The far end of an outgoing leg hangs up (talk over, `Busy(hold)` over, `Hangup(17)`).
    FarHangup { leg: String, serial: u64, cause: i32 },
    /// The far end hangs up with `request` as the cause of the hangup request, and the leg
    /// is destroyed with `destroyed` (see `Hangup::Split`).
    FarHangupSplit { leg: String, serial: u64, request: i32, destroyed: i32 },
    /// A channel made by `POST /channels/create` enters the app.
    EnterStasis { leg: String, serial: u64, app: String, args: Vec<String> },
    /// `/dial` or originate timeout expired.
    DialTimeout { leg: String, serial: u64 },
    /// A Local `;2` half reaches `Wait()` after `Answer()` (events for subscribers only).
    PeerWait { peer: String, serial: u64 },
    /// An originated Local leg to a missing extension dies.
    Unroutable { leg: String, serial: u64 },
    /// The current item of a playback ends.
    Playback { id: String, serial: u64 },
    /// A channel continued into the dialplan finishes `Wait()` and hangs up.
    DialplanDone { chan: String, serial: u64 },
    /// A scripted caller hangs up (`abandon_only`: only if not connected to an agent).
    CallerHangup { leg: String, serial: u64, abandon_only: bool },
    /// A scripted caller presses a key.
    CallerDtmf { leg: String, serial: u64, digit: char },
}

/// Links from live legs to ground-truth records.
#[derive(Debug, Default)]
pub(crate) struct TruthLinks {
    /// Caller leg id → caller number.
    pub(crate) callers: BTreeMap<String, u64>,
    /// Outgoing leg id → index of its ring in the truth.
    pub(crate) rings: BTreeMap<String, usize>,
    /// Outgoing leg id → the caller it was dialed for (`/dial?caller=`, `originator`).
    pub(crate) leg_caller: BTreeMap<String, u64>,
    /// Caller number → when its current MOH started (world ms).
    pub(crate) moh_since: BTreeMap<u64, u64>,
}

/// Everything one node knows.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) index: usize,
    pub(crate) cfg: NodeConfig,
    pub(crate) world: Arc<World>,
    pub(crate) channels: BTreeMap<String, Chan>,
    pub(crate) bridges: BTreeMap<String, BridgeRec>,
    pub(crate) playbacks: BTreeMap<String, PlaybackRec>,
    pub(crate) apps: Apps,
    pub(crate) timers: BTreeMap<(Instant, u64), Step>,
    pub(crate) links: TruthLinks,
    /// Endpoint (`PJSIP/1001`) or technology (`PJSIP`) → apps subscribed to its state.
    pub(crate) endpoint_subs: BTreeMap<String, BTreeSet<String>>,
    pub(crate) rng: SimRng,
    pub(crate) started_ms: u64,
    /// Channels that existed at once, at most (for the benchmark).
    pub(crate) peak_channels: usize,
    /// Channels created since start.
    pub(crate) channels_created: u64,
    seq: u64,
    local_seq: u32,
}

impl NodeState {
    pub(crate) fn new(
        index: usize,
        cfg: NodeConfig,
        world: Arc<World>,
        seed: u64,
        now: Now,
    ) -> Self {
        Self {
            index,
            cfg,
            world,
            channels: BTreeMap::new(),
            bridges: BTreeMap::new(),
            playbacks: BTreeMap::new(),
            apps: Apps::default(),
            timers: BTreeMap::new(),
            links: TruthLinks::default(),
            endpoint_subs: BTreeMap::new(),
            rng: SimRng::new(seed, 1000 + index as u64),
            started_ms: now.wall_ms,
            peak_channels: 0,
            channels_created: 0,
            seq: 0,
            local_seq: 0,
        }
    }

    /// A fresh serial for a channel or playback.
    pub(crate) fn serial(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The next Local channel suffix, as Asterisk numbers them (`-00000002`).
    pub(crate) fn local_suffix(&mut self) -> String {
        self.local_seq = self.local_seq.wrapping_add(1);
        format!("{:08x}", self.local_seq)
    }

    /// An Asterisk-style generated unique id: `<unix seconds>.<sequence>`.
    pub(crate) fn uniqueid(&mut self, now: Now) -> String {
        let n = self.serial();
        format!("{}.{}", now.wall_ms / 1000, n)
    }

    /// Adds a channel record.
    pub(crate) fn insert_channel(&mut self, chan: Chan) {
        self.channels.insert(chan.id.clone(), chan);
        self.channels_created += 1;
        self.peak_channels = self.peak_channels.max(self.channels.len());
    }

    /// Schedules `step` to run `after` from `now`.
    pub(crate) fn at(&mut self, now: Now, after: Duration, step: Step) {
        let seq = self.serial();
        // A client may ask for an absurd timeout; past a century it never fires anyway.
        let at = now.mono.checked_add(after.min(CENTURY)).unwrap_or(now.mono);
        self.timers.insert((at, seq), step);
    }

    /// The earliest pending timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<(Instant, Step)> {
        let later = self.timers.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut self.timers, later);
        due.into_iter().map(|((at, _), step)| (at, step)).collect()
    }

    /// Whether `id` names a live channel with this serial (timers check before acting).
    pub(crate) fn live(&self, id: &str, serial: u64) -> bool {
        self.channels.get(id).is_some_and(|c| c.serial == serial)
    }

    /// Sends `event` to each app in `to`.
    pub(crate) fn emit(&mut self, now: Now, to: &BTreeSet<String>, event: &Event) {
        if to.is_empty() {
            return;
        }
        let stamp = now.stamp();
        for app in to {
            let env = Envelope {
                event,
                timestamp: &stamp,
                asterisk_id: &self.cfg.asterisk_id,
                application: app,
            };
            match serde_json::to_string(&env) {
                Ok(text) => self.apps.send(app, text),
                Err(e) => tracing::error!(%e, "event did not serialize"),
            }
        }
    }

    /// Sends an event about channel `id` to the apps that receive that channel's events.
    pub(crate) fn emit_chan(
        &mut self,
        now: Now,
        id: &str,
        make: impl FnOnce(wire::Channel) -> Event,
    ) {
        let Some(chan) = self.channels.get(id) else { return };
        let to = chan.recipients();
        if to.is_empty() {
            return;
        }
        let event = make(chan.wire());
        self.emit(now, &to, &event);
    }

    /// `ChannelVarset` plus the variable change itself.
    pub(crate) fn set_var(&mut self, now: Now, id: &str, name: &str, value: &str) {
        if let Some(chan) = self.channels.get_mut(id) {
            chan.vars.insert(name.to_owned(), value.to_owned());
        }
        self.emit_chan(now, id, |channel| Event::ChannelVarset {
            variable: name.to_owned(),
            value: value.to_owned(),
            channel,
        });
    }

    /// `ChannelStateChange` plus the state change itself.
    pub(crate) fn set_state(&mut self, now: Now, id: &str, state: super::model::ChanState) {
        let Some(chan) = self.channels.get_mut(id) else { return };
        if chan.state == state {
            return;
        }
        chan.state = state;
        self.emit_chan(now, id, |channel| Event::ChannelStateChange { channel });
    }

    /// The caller number behind a caller leg, if `id` is one.
    pub(crate) fn caller_of(&self, id: &str) -> Option<u64> {
        self.links.callers.get(id).copied()
    }

    /// World milliseconds for ground-truth stamps.
    pub(crate) fn ms(&self, now: Now) -> u64 {
        self.world.ms(now)
    }
}
