//! A simulated Asterisk node as ARI shows it to starq: the channels in the `starq` app (callers
//! that entered `Stasis()`, agent legs created over REST), the bridges, the events they raise
//! in Asterisk's order, and what each REST request does to them. People are modelled here too:
//! a caller hangs up when its patience runs out or after talking, an agent's phone answers,
//! is busy or rings out, an agent hangs up after talking or when an answered call stays silent.
//!
//! The node never sees the world's queue: what it does later comes out as [`Effect::Later`],
//! and its events as [`Effect::Event`], for the world to deliver to the app's consumer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use starq_ari::Event;
use starq_ari::model::{
    CallerId, Channel, ChannelDestroyed, ChannelHangupRequest, ChannelState, Dial, DialStatus,
    DialplanLocation, Playback, PlaybackFinished, PlaybackState, StasisEnd, StasisStart,
};
use starq_core::engine::ChannelAction;
use starq_core::rng::Rng;
use starq_core::shared::Miss;
use starq_core::{NodeId, Time};
use starq_engine::instance::{AriCommand, AriOutcome, Listing, Stray};
use starq_engine::translate::LEG_ARG;

/// The ARI application starq runs as.
pub(crate) const APP: &str = "starq";
/// The longest a leg made over REST takes to enter the app (its `StasisStart`).
const NOT_IN_APP_YET: Duration = Duration::from_millis(5);
/// How long an agent listens to silence on an answered leg nobody bridges before hanging up.
const SILENCE_PATIENCE: Duration = Duration::from_secs(10);

/// How an agent's phone behaves when rung, drawn per agent from the seed.
#[derive(Clone, Debug)]
pub(crate) struct Phone {
    /// Chance of answering a ring (when not busy).
    pub answer: f64,
    /// Chance of answering busy.
    pub busy: f64,
    /// How long it rings before the agent picks up.
    pub delay: Duration,
}

/// Where an agent leg's dial stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialState {
    /// Created, not dialed.
    Idle,
    Ringing,
    /// Answered busy: left up by Asterisk until the dial timeout.
    Busy,
    Up,
}

/// What a channel is to the world.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    Caller {
        /// `Stasis()`'s arguments as the dialplan shows them (`starq,queue=q0`).
        app_data: String,
    },
    Leg {
        agent: usize,
        /// The caller's channel the leg was created for.
        caller: String,
        dial: DialState,
        /// Entered the app (its `StasisStart` raised).
        in_app: bool,
        /// The store's lifetime the leg was made in (see `World::era`).
        era: u32,
    },
}

/// One channel of the node.
#[derive(Clone, Debug)]
pub(crate) struct SimChannel {
    /// Tells this channel from a later one with the same id (a leg made again).
    pub serial: u64,
    pub created: Time,
    pub state: ChannelState,
    pub bridge: Option<String>,
    /// `STARQ_ENTERED`, once starq noted it.
    pub entry: Option<String>,
    /// `STARQ_CONNECTED`, once starq noted it.
    pub connected: Option<String>,
    pub role: Role,
}

/// How a caller left the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Leaving {
    /// The caller hung up.
    HungUp,
    /// starq hung it up.
    HungUpByStarq,
    /// Sent back to the dialplan with this `STARQ_OUTCOME`.
    Continued(String),
    /// The node died under it.
    NodeLost,
}

/// Something the node does later, named by the channel and its serial.
#[derive(Clone, Debug)]
pub(crate) enum Timer {
    LegInApp {
        leg: String,
        serial: u64,
    },
    LegAnswers {
        leg: String,
        serial: u64,
    },
    LegBusy {
        leg: String,
        serial: u64,
    },
    DialTimeout {
        leg: String,
        serial: u64,
    },
    /// An answered leg still unbridged: the agent gives up.
    Silence {
        leg: String,
        serial: u64,
    },
    /// The caller's patience runs out: it hangs up unless it is talking (then it waits as
    /// long again: a caller put back on hold hangs up in time too).
    Patience {
        caller: String,
        serial: u64,
        after: Duration,
    },
    TalkEnds {
        caller: String,
        leg: String,
        caller_hangs_up: bool,
    },
    PlaybackDone {
        caller: String,
        serial: u64,
        playback: String,
    },
}

/// What a node step produced.
#[derive(Debug)]
pub(crate) enum Effect {
    /// An event for the app's consumer, in order.
    Event(Event),
    Later(Duration, Timer),
    CallerLeft {
        channel: String,
        how: Leaving,
    },
    /// A caller was bridged with an agent for the first time.
    Connected {
        caller: String,
    },
    AgentGaveUp,
}

/// What a channel a request may create is born with: the store's era and a fresh serial.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Birth {
    pub era: u32,
    pub serial: u64,
}

/// A simulated node.
#[derive(Debug)]
pub(crate) struct SimNode {
    pub id: NodeId,
    pub up: bool,
    pub channels: BTreeMap<String, SimChannel>,
    pub bridges: BTreeMap<String, BTreeSet<String>>,
    /// Callers already bridged once (a second bridge does not count them again).
    connected: BTreeSet<String>,
    playbacks: u64,
}

fn stamp(now: Time) -> String {
    // Fixed width, so the text sorts as the time (starq sorts strays by it).
    let ms = now.0;
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:03}+0000",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

impl SimNode {
    pub(crate) fn new(id: NodeId) -> Self {
        SimNode {
            id,
            up: true,
            channels: BTreeMap::new(),
            bridges: BTreeMap::new(),
            connected: BTreeSet::new(),
            playbacks: 0,
        }
    }

    /// The channel as ARI describes it.
    pub(crate) fn resource(&self, id: &str) -> Channel {
        let ch = &self.channels[id];
        let (name, app_data) = match &ch.role {
            Role::Caller { app_data } => (format!("PJSIP/trunk-{id}"), app_data.clone()),
            Role::Leg { agent, .. } => (format!("PJSIP/{agent}-{id}"), format!("{APP},{LEG_ARG}")),
        };
        Channel {
            id: id.to_owned(),
            name,
            state: ch.state.clone(),
            protocol_id: String::new(),
            caller: CallerId { name: String::new(), number: "5551234".into() },
            connected: CallerId::default(),
            accountcode: String::new(),
            dialplan: DialplanLocation {
                context: "from-trunk".into(),
                exten: "500".into(),
                priority: 1,
                app_name: "Stasis".into(),
                app_data,
            },
            creationtime: stamp(ch.created),
            language: "en".into(),
            channelvars: None,
            caller_rdnis: None,
            tenantid: None,
        }
    }

    /// A caller enters `Stasis(starq,<args>)` (the world checked that the app has a consumer).
    pub(crate) fn arrive(
        &mut self,
        now: Time,
        channel: &str,
        args: Vec<String>,
        serial: u64,
        patience: Duration,
        fx: &mut Vec<Effect>,
    ) {
        let app_data = std::iter::once(APP).chain(args.iter().map(String::as_str));
        let role = Role::Caller { app_data: app_data.collect::<Vec<_>>().join(",") };
        let ch = SimChannel {
            serial,
            created: now,
            state: ChannelState::Ring,
            bridge: None,
            entry: None,
            connected: None,
            role,
        };
        self.channels.insert(channel.to_owned(), ch);
        fx.push(Effect::Event(Event::StasisStart(Box::new(StasisStart {
            args,
            channel: self.resource(channel),
            replace_channel: None,
            application: APP.into(),
            timestamp: stamp(now),
            asterisk_id: None,
        }))));
        let caller = channel.to_owned();
        fx.push(Effect::Later(patience, Timer::Patience { caller, serial, after: patience }));
    }

    /// The node dies: every channel and bridge vanishes, with no event.
    pub(crate) fn lose(&mut self, fx: &mut Vec<Effect>) {
        self.up = false;
        for (id, ch) in std::mem::take(&mut self.channels) {
            if let Role::Caller { .. } = ch.role {
                fx.push(Effect::CallerLeft { channel: id, how: Leaving::NodeLost });
            }
        }
        self.bridges.clear();
    }

    /// What `GET /applications/starq` lists: every channel in the app or made by it, every
    /// bridge.
    pub(crate) fn listing(&self) -> Listing {
        Listing {
            channels: self.channels.keys().cloned().collect(),
            bridges: self.bridges.keys().cloned().collect(),
        }
    }

    /// `GET /channels/{id}` with its `STARQ_ENTERED` and `STARQ_CONNECTED`, for those still
    /// there.
    pub(crate) fn describe(&self, ids: &[String]) -> Vec<Stray> {
        ids.iter()
            .filter_map(|id| {
                let ch = self.channels.get(id)?;
                let (entry, connected) = (ch.entry.clone(), ch.connected.clone());
                Some(Stray { channel: self.resource(id), entry, connected })
            })
            .collect()
    }

    fn live(&self, id: &str, serial: u64) -> bool {
        self.channels.get(id).is_some_and(|c| c.serial == serial)
    }

    /// A channel hangs up: `ChannelHangupRequest`, `StasisEnd`, `ChannelDestroyed`, in
    /// Asterisk's order. `soft` is a hangup Asterisk asks itself (over ARI, or a dial timing
    /// out), `cause` the one the channel is destroyed with.
    fn hang_up(&mut self, now: Time, id: &str, cause: i32, soft: bool, fx: &mut Vec<Effect>) {
        if !self.channels.contains_key(id) {
            return; // 404: gone already.
        }
        let channel = self.resource(id);
        let ch = self.channels.remove(id).expect("checked");
        let ts = || stamp(now);
        let request = ChannelHangupRequest {
            cause: Some(if soft { 32 } else { cause }),
            tech_cause: None,
            soft: soft.then_some(true),
            channel: channel.clone(),
            application: APP.into(),
            timestamp: ts(),
            asterisk_id: None,
        };
        fx.push(Effect::Event(Event::ChannelHangupRequest(Box::new(request))));
        let in_app = match ch.role {
            Role::Leg { in_app, .. } => in_app,
            Role::Caller { .. } => true,
        };
        if in_app {
            let end = StasisEnd {
                channel: channel.clone(),
                application: APP.into(),
                timestamp: ts(),
                asterisk_id: None,
            };
            fx.push(Effect::Event(Event::StasisEnd(Box::new(end))));
        }
        let destroyed = ChannelDestroyed {
            cause,
            cause_txt: String::new(),
            tech_cause: None,
            channel,
            application: APP.into(),
            timestamp: ts(),
            asterisk_id: None,
        };
        fx.push(Effect::Event(Event::ChannelDestroyed(Box::new(destroyed))));
        if let Some(bridge) = &ch.bridge
            && let Some(members) = self.bridges.get_mut(bridge)
        {
            members.remove(id);
        }
        if let Role::Caller { .. } = ch.role {
            let how = if soft { Leaving::HungUpByStarq } else { Leaving::HungUp };
            fx.push(Effect::CallerLeft { channel: id.to_owned(), how });
        }
    }

    fn dial_event(&self, now: Time, leg: &str, status: DialStatus) -> Event {
        Event::Dial(Box::new(Dial {
            caller: None,
            peer: self.resource(leg),
            forward: None,
            forwarded: None,
            dialstring: None,
            dialstatus: status,
            application: APP.into(),
            timestamp: stamp(now),
            asterisk_id: None,
        }))
    }

    /// A timer of this node fires.
    pub(crate) fn fire(&mut self, now: Time, timer: Timer, fx: &mut Vec<Effect>) {
        match timer {
            Timer::LegInApp { leg, serial } if self.live(&leg, serial) => {
                if let Some(Role::Leg { in_app, .. }) =
                    self.channels.get_mut(&leg).map(|c| &mut c.role)
                {
                    *in_app = true;
                }
                let start = StasisStart {
                    args: vec![LEG_ARG.into()],
                    channel: self.resource(&leg),
                    replace_channel: None,
                    application: APP.into(),
                    timestamp: stamp(now),
                    asterisk_id: None,
                };
                fx.push(Effect::Event(Event::StasisStart(Box::new(start))));
            }
            Timer::LegAnswers { leg, serial }
                if self.dial_state(&leg, serial) == Some(DialState::Ringing) =>
            {
                self.set_dial(&leg, DialState::Up, ChannelState::Up);
                let answered = self.dial_event(now, &leg, DialStatus::Answer);
                fx.push(Effect::Event(answered));
                fx.push(Effect::Later(SILENCE_PATIENCE, Timer::Silence { leg, serial }));
            }
            Timer::LegBusy { leg, serial }
                if self.dial_state(&leg, serial) == Some(DialState::Ringing) =>
            {
                self.set_dial(&leg, DialState::Busy, ChannelState::Busy);
                let busy = self.dial_event(now, &leg, DialStatus::Busy);
                fx.push(Effect::Event(busy));
            }
            Timer::DialTimeout { leg, serial }
                if matches!(
                    self.dial_state(&leg, serial),
                    Some(DialState::Ringing | DialState::Busy)
                ) =>
            {
                // Asterisk ends a dial that timed out as sample 08 shows: a soft hangup
                // request, then the channel destroyed with cause 19.
                self.hang_up(now, &leg, 19, true, fx);
            }
            Timer::Silence { leg, serial }
                if self.live(&leg, serial)
                    && self.channels[&leg].bridge.as_ref().is_none_or(|b| self.alone(b)) =>
            {
                fx.push(Effect::AgentGaveUp);
                self.hang_up(now, &leg, 16, false, fx);
            }
            Timer::Patience { caller, serial, after } if self.live(&caller, serial) => {
                if self.talking(&caller) {
                    fx.push(Effect::Later(after, Timer::Patience { caller, serial, after }));
                } else {
                    self.hang_up(now, &caller, 16, false, fx);
                }
            }
            Timer::TalkEnds { caller, leg, caller_hangs_up } => {
                let together = |id: &str| self.channels.get(id).and_then(|c| c.bridge.clone());
                if together(&caller).is_some() && together(&caller) == together(&leg) {
                    let who = if caller_hangs_up { caller } else { leg };
                    self.hang_up(now, &who, 16, false, fx);
                }
            }
            Timer::PlaybackDone { caller, serial, playback } if self.live(&caller, serial) => {
                let finished = PlaybackFinished {
                    playback: Playback {
                        id: playback,
                        media_uri: "sound:queue-periodic-announce".into(),
                        next_media_uri: None,
                        target_uri: format!("channel:{caller}"),
                        language: None,
                        state: PlaybackState::Done,
                    },
                    application: APP.into(),
                    timestamp: stamp(now),
                    asterisk_id: None,
                };
                fx.push(Effect::Event(Event::PlaybackFinished(Box::new(finished))));
            }
            _ => {}
        }
    }

    fn dial_state(&self, leg: &str, serial: u64) -> Option<DialState> {
        match self.channels.get(leg) {
            Some(SimChannel { serial: s, role: Role::Leg { dial, .. }, .. }) if *s == serial => {
                Some(*dial)
            }
            _ => None,
        }
    }

    fn set_dial(&mut self, leg: &str, to: DialState, state: ChannelState) {
        if let Some(ch) = self.channels.get_mut(leg) {
            ch.state = state;
            if let Role::Leg { dial, .. } = &mut ch.role {
                *dial = to;
            }
        }
    }

    /// Whether a bridge has nobody talking in it (fewer than two channels).
    fn alone(&self, bridge: &str) -> bool {
        self.bridges.get(bridge).is_none_or(|m| m.len() < 2)
    }

    /// Whether a caller is in a bridge with an answered leg.
    fn talking(&self, caller: &str) -> bool {
        self.channels[caller].bridge.as_ref().is_some_and(|b| !self.alone(b))
    }

    /// A REST request lands. Returns what execute.rs would hand back to the instance.
    pub(crate) fn rest(
        &mut self,
        now: Time,
        command: &AriCommand,
        phones: &[Phone],
        birth: Birth,
        rng: &mut Rng,
        fx: &mut Vec<Effect>,
    ) -> Option<AriOutcome> {
        match command {
            AriCommand::Channel { channel, action } => {
                self.channel_action(now, channel, action, rng, fx);
                None
            }
            AriCommand::Refuse { channel } => {
                self.leave(now, channel, "ERROR", fx);
                None
            }
            AriCommand::CreateLeg { leg, channel, endpoint, .. } => {
                if self.channels.contains_key(leg) {
                    return Some(AriOutcome::LegExisted(leg.clone()));
                }
                let agent = agent_of(endpoint);
                let role = Role::Leg {
                    agent,
                    caller: channel.clone(),
                    dial: DialState::Idle,
                    in_app: false,
                    era: birth.era,
                };
                let serial = birth.serial;
                let ch = SimChannel {
                    serial,
                    created: now,
                    state: ChannelState::Down,
                    bridge: None,
                    entry: None,
                    connected: None,
                    role,
                };
                self.channels.insert(leg.clone(), ch);
                // Asterisk answers from the HTTP thread; the leg enters the app a little later.
                let lag = Duration::from_millis(rng.below(NOT_IN_APP_YET.as_millis() as u64 + 1));
                fx.push(Effect::Later(lag, Timer::LegInApp { leg: leg.clone(), serial }));
                None
            }
            AriCommand::DialLeg { leg, reservation, order } => {
                let Some(ch) = self.channels.get(leg) else {
                    let miss = Miss::Unreachable;
                    return Some(AriOutcome::LegFailed { reservation: *reservation, miss });
                };
                let Role::Leg { dial, in_app, agent, .. } = ch.role else { return None };
                if !in_app {
                    return Some(AriOutcome::DialEarly(leg.clone(), order.clone()));
                }
                if dial != DialState::Idle {
                    // 409, then `GET /channels/{id}`.
                    return (ch.state == ChannelState::Up).then(|| AriOutcome::LegUp(leg.clone()));
                }
                let serial = ch.serial;
                self.set_dial(leg, DialState::Ringing, ChannelState::Ringing);
                let started = self.dial_event(now, leg, DialStatus::Started);
                fx.push(Effect::Event(started));
                let phone = &phones[agent];
                if rng.chance(phone.busy) {
                    let after = Duration::from_millis(100 + rng.below(500));
                    fx.push(Effect::Later(after, Timer::LegBusy { leg: leg.clone(), serial }));
                } else if rng.chance(phone.answer) {
                    let after = phone.delay + Duration::from_millis(rng.below(1000));
                    fx.push(Effect::Later(after, Timer::LegAnswers { leg: leg.clone(), serial }));
                }
                let timeout = order.timeout.max(Duration::from_secs(1));
                fx.push(Effect::Later(timeout, Timer::DialTimeout { leg: leg.clone(), serial }));
                None
            }
            AriCommand::Bridge { bridge, channel, leg } => {
                self.bridge(bridge, channel, leg, rng, fx);
                None
            }
            AriCommand::HangupLeg { leg, .. } => {
                self.hang_up(now, leg, 16, true, fx);
                None
            }
            AriCommand::DeleteBridge(bridge) => {
                for id in self.bridges.remove(bridge).unwrap_or_default() {
                    if let Some(ch) = self.channels.get_mut(&id) {
                        ch.bridge = None;
                    }
                }
                None
            }
        }
    }

    fn channel_action(
        &mut self,
        now: Time,
        channel: &str,
        action: &ChannelAction,
        rng: &mut Rng,
        fx: &mut Vec<Effect>,
    ) {
        let Some(ch) = self.channels.get_mut(channel) else { return };
        match action {
            ChannelAction::Answer => ch.state = ChannelState::Up,
            ChannelAction::Ring | ChannelAction::StartMoh(_) | ChannelAction::StopMoh => {}
            ChannelAction::Play(_) => {
                self.playbacks += 1;
                let playback = format!("{channel}-p{}", self.playbacks);
                let after = Duration::from_millis(500 + rng.below(3000));
                let (caller, serial) = (channel.to_owned(), ch.serial);
                fx.push(Effect::Later(after, Timer::PlaybackDone { caller, serial, playback }));
            }
            ChannelAction::NoteEntry { queue, step, entered, priority } => {
                ch.entry = Some(format!("{queue},{step},{},{priority}", entered.0));
            }
            ChannelAction::NoteConnected { agent, reservation, since } => {
                ch.connected = Some(format!("{agent},{},{}", reservation.0, since.0));
            }
            ChannelAction::Continue { status, .. } => self.leave(now, channel, status, fx),
            ChannelAction::Hangup => self.hang_up(now, channel, 16, true, fx),
        }
    }

    /// `/continue`: the caller leaves the app for the dialplan with `STARQ_OUTCOME` set.
    fn leave(&mut self, now: Time, channel: &str, status: &str, fx: &mut Vec<Effect>) {
        if !matches!(self.channels.get(channel).map(|c| &c.role), Some(Role::Caller { .. })) {
            return;
        }
        let end = StasisEnd {
            channel: self.resource(channel),
            application: APP.into(),
            timestamp: stamp(now),
            asterisk_id: None,
        };
        fx.push(Effect::Event(Event::StasisEnd(Box::new(end))));
        let ch = self.channels.remove(channel).expect("checked");
        if let Some(members) = ch.bridge.as_ref().and_then(|b| self.bridges.get_mut(b)) {
            members.remove(channel);
        }
        let how = Leaving::Continued(status.to_owned());
        fx.push(Effect::CallerLeft { channel: channel.to_owned(), how });
    }

    /// `POST /bridges/{id}` then `addChannel`: checks that nobody is bridged twice.
    fn bridge(
        &mut self,
        bridge: &str,
        channel: &str,
        leg: &str,
        rng: &mut Rng,
        fx: &mut Vec<Effect>,
    ) {
        self.bridges.entry(bridge.to_owned()).or_default();
        let (Some(caller), Some(agent_leg)) = (self.channels.get(channel), self.channels.get(leg))
        else {
            return; // 404: logged by the executor.
        };
        let node = &self.id;
        if let Role::Leg { dial, .. } = agent_leg.role {
            assert_eq!(dial, DialState::Up, "{node}: leg {leg} bridged to {channel} unanswered");
        }
        if caller.bridge.as_deref() == Some(bridge) && agent_leg.bridge.as_deref() == Some(bridge) {
            return;
        }
        let members = &self.bridges[bridge];
        if let Some(other) = members.iter().find(|m| *m != channel && *m != leg) {
            panic!("{node}: caller {channel} bridged to two legs: {other} and {leg}");
        }
        if let Some(old) = agent_leg.bridge.as_ref().filter(|b| *b != bridge)
            && let Some(other) = self.bridges[old].iter().find(|m| *m != leg)
        {
            panic!("{node}: agent leg {leg} bridged to two callers: {other} and {channel}");
        }
        for id in [channel, leg] {
            let old = self.channels[id].bridge.clone();
            if let Some(members) = old.and_then(|b| self.bridges.get_mut(&b)) {
                members.remove(id);
            }
            self.channels.get_mut(id).expect("present").bridge = Some(bridge.to_owned());
            self.bridges.get_mut(bridge).expect("made").insert(id.to_owned());
        }
        if self.connected.insert(channel.to_owned()) {
            fx.push(Effect::Connected { caller: channel.to_owned() });
        }
        let talk = Duration::from_secs(2 + rng.below(14));
        let (caller, leg, caller_hangs_up) = (channel.to_owned(), leg.to_owned(), rng.chance(0.5));
        fx.push(Effect::Later(talk, Timer::TalkEnds { caller, leg, caller_hangs_up }));
    }
}

/// The agent an endpoint of the generated configuration rings (`PJSIP/<index>`).
fn agent_of(endpoint: &str) -> usize {
    endpoint
        .trim_start_matches("PJSIP/")
        .parse()
        .unwrap_or_else(|_| panic!("endpoint {endpoint} is not a simulated agent's"))
}
