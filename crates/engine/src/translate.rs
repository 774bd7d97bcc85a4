//! From ARI to the core: which channel is a caller and which an agent leg, and what each event
//! means for them. Pure: the shell feeds events in and gets core inputs out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use starq_ari::Event;
use starq_ari::model::Channel;
use starq_ari::model::DialStatus;
pub use starq_core::bridge_of;
use starq_core::engine::{Arrival, Input, Reconnection};
use starq_core::shared::{Miss, StoredCall, StoredState, leg_id};
use starq_core::{AgentId, CallId, LegId, NodeId, QueueId, ReservationId, Time};

use crate::args;
use crate::phone::{self, AgentCode, CodeError};

/// What an ARI event asks of the shell.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Hand this input to the core.
    Input(Input),
    /// A caller whose `Stasis()` arguments are wrong: send it back to the dialplan with this
    /// reason (and log it); it never waits in a queue.
    Refuse {
        /// The caller's channel.
        channel: String,
        /// What was wrong with its arguments.
        reason: String,
    },
    /// A bridge starq made is no longer needed.
    DeleteBridge(String),
    /// An agent leg is in the app: make it ring now.
    Dial {
        /// The leg's channel id.
        leg: String,
        /// The offer it rings for.
        reservation: ReservationId,
        /// How to dial it.
        order: DialOrder,
    },
    /// An agent leg that answered busy or unreachable is left up by Asterisk until the dial
    /// timeout (sample 08): hang it up.
    HangupLeg(String),
    /// A phone entered the app with an agent feature code (`Stasis(starq,agent=…)`); the
    /// channel is followed until starq sends it on ([`Channels::code_released`]).
    AgentCode {
        /// The channel.
        channel: String,
        /// Its name, which says the endpoint it came from.
        name: String,
        /// Its arguments, parsed, or why they were refused.
        code: Result<AgentCode, CodeError>,
        /// Found in a listing rather than by its `StasisStart` (see [`Channels::stray`]).
        stray: bool,
    },
    /// The confirmation played to a feature code's channel finished.
    AgentCodePlayed(String),
    /// A feature code's channel left the app on its own (hung up).
    AgentCodeGone(String),
}

/// How to dial an agent leg once it is in the app: for which caller, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialOrder {
    /// The caller's channel (its caller id becomes the leg's connected line).
    pub caller: String,
    /// How long the phone may ring.
    pub timeout: Duration,
}

/// The `Stasis()` argument starq gives the agent legs it creates: a channel entering the app
/// with it is never a caller, whoever made it and whether or not starq still follows it.
pub const LEG_ARG: &str = "leg";

/// The channels the shell handles: callers in a queue, agent legs it created, bridges it made.
/// Kept in step with the commands the shell carries out, so that an event about a channel
/// starq already let go of (a caller it continued, a leg it hung up) is not acted on twice.
#[derive(Debug, Default)]
pub struct Channels {
    /// Callers, by node and channel id (channel ids are unique on one server only), with the
    /// [`Channels::generation`] they were first followed at.
    callers: BTreeMap<(NodeId, String), u64>,
    /// Legs by channel id: starq names them, unique cluster-wide.
    legs: BTreeMap<String, Leg>,
    /// A caller's bridge.
    bridges: BTreeMap<(NodeId, String), String>,
    /// Phones in the app for a feature code, by node and channel id.
    codes: BTreeSet<(NodeId, String)>,
    /// Counts registrations, so a listing of the app is only compared with what was followed
    /// before it was asked for.
    generation: u64,
    /// Channels starq let go of (callers sent on or hung up, legs hung up) that may still show
    /// in a listing while Asterisk tears them down: not strays. Forgotten once a listing asked
    /// for after their release no longer has them.
    released: BTreeMap<(NodeId, String), u64>,
}

#[derive(Clone, Debug)]
struct Leg {
    /// The generation at which the leg was known to exist in Asterisk (its `StasisStart`, or a
    /// listing that had it); `None` while its creation may still be on its way (paced, or a
    /// request in flight), when a listing that lacks it proves nothing.
    seen: Option<u64>,
    node: NodeId,
    reservation: ReservationId,
    answered: bool,
    /// Its `StasisStart` has come: `/dial` can find it in the app.
    in_app: bool,
    /// The dial to send once the leg is in the app, until it is sent.
    dial: Option<DialOrder>,
    /// The dial sent, once it is: sent again to ask whether the leg was answered unseen.
    dialed: Option<DialOrder>,
    /// The cause of a hangup the far end asked for (not starq's, which is soft): Asterisk
    /// may destroy the leg with another (a `Hangup(17)` is sometimes destroyed with 16).
    far_cause: Option<i32>,
}

impl Channels {
    /// A leg is being created on `node` for a reservation, to be dialed with `order` once it
    /// is in the app (or rung again: one known to exist stays known, and is dialed again when
    /// its creation finds it there already).
    ///
    /// Asterisk answers `POST /channels/create` before the channel is in the app, so the dial
    /// waits for the leg's `StasisStart` ([`Channels::translate`]) or, when the leg existed
    /// already, for the create's `409` ([`Channels::leg_existed`]).
    pub fn leg_created(
        &mut self,
        node: &NodeId,
        leg: &str,
        reservation: ReservationId,
        order: DialOrder,
    ) {
        let entry = self.legs.entry(leg.to_owned()).or_insert(Leg {
            seen: None,
            node: node.clone(),
            reservation,
            answered: false,
            in_app: false,
            dial: None,
            dialed: None,
            far_cause: None,
        });
        entry.dial = Some(order);
    }

    /// Creating a leg met a channel with its id: made before (by an earlier owner, or for an
    /// earlier ring of the same offer), so no `StasisStart` may come to this instance. Dial it
    /// now; a dial that finds it not in the app yet comes back ([`Channels::dial_early`]).
    pub fn leg_existed(&mut self, leg: &str) -> Vec<Step> {
        self.dial_now(leg)
    }

    /// A dial answered `409 Channel not in Stasis application`: the leg is still entering the
    /// app. Dial it when its `StasisStart` comes, or at once if it came meanwhile.
    pub fn dial_early(&mut self, leg: &str, order: DialOrder) -> Vec<Step> {
        let Some(l) = self.legs.get_mut(leg) else { return Vec::new() };
        if l.answered {
            return Vec::new();
        }
        l.dial = Some(order);
        if l.in_app { self.dial_now(leg) } else { Vec::new() }
    }

    /// The dial of a leg starq follows, if one is still to be sent.
    fn dial_now(&mut self, leg: &str) -> Vec<Step> {
        let Some(l) = self.legs.get_mut(leg) else { return Vec::new() };
        match l.dial.take() {
            Some(order) => {
                l.dialed = Some(order.clone());
                vec![Step::Dial { leg: leg.to_owned(), reservation: l.reservation, order }]
            }
            None => Vec::new(),
        }
    }

    /// The dials of `node`'s legs that were dialed, are unanswered as far as the shell saw, and
    /// are `present` in the app: sent again after the node's events may have been missed (a
    /// reconnect, a new tenure, events lost), so that a leg answered unseen is found (a second
    /// dial of a channel no longer `Down` answers 409, and the executor then reads its state:
    /// up is reported answered) instead of leaving its agent in silence.
    pub fn redials(&self, node: &NodeId, present: &BTreeSet<String>) -> Vec<Step> {
        self.legs
            .iter()
            .filter(|(id, l)| &l.node == node && !l.answered && present.contains(*id))
            .filter_map(|(id, l)| {
                let order = l.dialed.clone()?;
                Some(Step::Dial { leg: id.clone(), reservation: l.reservation, order })
            })
            .collect()
    }

    /// The leg exists in Asterisk now.
    fn leg_seen(&mut self, leg: &str) {
        let at = self.generation + 1;
        if let Some(l) = self.legs.get_mut(leg)
            && l.seen.is_none()
        {
            l.seen = Some(at);
            self.generation = at;
        }
    }

    /// starq hangs a leg up: its later events are not news.
    pub fn leg_released(&mut self, leg: &str) {
        if let Some(l) = self.legs.remove(leg) {
            let at = self.tick();
            self.released.insert((l.node, leg.to_owned()), at);
        }
    }

    /// starq sends a caller on (continue, hang-up): its later events are not news. Returns
    /// the caller's bridge, now to be deleted.
    pub fn caller_released(&mut self, node: &NodeId, channel: &str) -> Option<String> {
        let key = (node.clone(), channel.to_owned());
        if self.callers.remove(&key).is_some() {
            let at = self.tick();
            self.released.insert(key.clone(), at);
        }
        self.bridges.remove(&key)
    }

    /// starq sends a feature code's channel on: its later events are not news.
    pub fn code_released(&mut self, node: &NodeId, channel: &str) {
        let key = (node.clone(), channel.to_owned());
        if self.codes.remove(&key) {
            let at = self.tick();
            self.released.insert(key, at);
        }
    }

    fn code_gone(&mut self, node: &NodeId, channel: &str) -> Option<Vec<Step>> {
        let gone = self.codes.remove(&(node.clone(), channel.to_owned()));
        gone.then(|| vec![Step::AgentCodeGone(channel.to_owned())])
    }

    /// A caller and a leg are bridged in `bridge`.
    pub fn bridged(&mut self, node: &NodeId, channel: &str, bridge: &str) {
        self.bridges.insert((node.clone(), channel.to_owned()), bridge.to_owned());
    }

    /// Where registrations stand now: a listing of the app asked for now can tell about what
    /// was followed up to here, not after.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn tick(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn follow_caller(&mut self, node: &NodeId, channel: &str) {
        let since = self.generation + 1;
        if let std::collections::btree_map::Entry::Vacant(entry) =
            self.callers.entry((node.clone(), channel.to_owned()))
        {
            entry.insert(since);
            self.generation = since;
        }
    }

    /// Callers and legs the shell follows.
    pub fn len(&self) -> usize {
        self.callers.len() + self.legs.len()
    }

    /// Whether the shell follows no channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Translates one event of `node`.
    pub fn translate(&mut self, node: &NodeId, event: &Event) -> Vec<Step> {
        match event {
            Event::StasisStart(e) => {
                let id = &e.channel.id;
                if let Some(leg) = self.legs.get_mut(id) {
                    // Our own leg entering the app: it can be dialed now.
                    leg.in_app = true;
                    self.leg_seen(id);
                    return self.dial_now(id);
                }
                self.arrival(node, &e.channel, &e.args)
            }
            // A caller leaves Stasis by hanging up (when starq sends it on, it is released first).
            // Legs are judged on ChannelDestroyed, which carries the cause.
            Event::StasisEnd(e) => self
                .code_gone(node, &e.channel.id)
                .unwrap_or_else(|| self.caller_gone(node, &e.channel.id)),
            Event::ChannelDestroyed(e) => {
                let id = &e.channel.id;
                match self.legs.remove(id) {
                    Some(leg) if leg.answered => {
                        vec![Step::Input(Input::LegHungUp { reservation: leg.reservation })]
                    }
                    Some(leg) => vec![Step::Input(Input::LegFailed {
                        reservation: leg.reservation,
                        miss: miss_for_cause(leg.far_cause.unwrap_or(e.cause)),
                    })],
                    None => self.code_gone(node, id).unwrap_or_else(|| self.caller_gone(node, id)),
                }
            }
            Event::ChannelHangupRequest(e) if e.soft != Some(true) => {
                if let (Some(leg), Some(cause)) = (self.legs.get_mut(&e.channel.id), e.cause) {
                    leg.far_cause = Some(cause);
                }
                Vec::new()
            }
            Event::Dial(e) => match e.dialstatus {
                DialStatus::Answer => self.leg_up(&e.peer.id),
                // Judged on the `Dial` event, not on the hangup cause: Asterisk leaves a busy
                // leg up until the dial timeout and then reports no-answer (sample 08).
                DialStatus::Busy => self.leg_refused(&e.peer.id, Miss::Busy),
                DialStatus::ChanUnavail | DialStatus::Congestion => {
                    self.leg_refused(&e.peer.id, Miss::Unreachable)
                }
                _ => Vec::new(),
            },
            Event::ChannelDtmfReceived(e) if self.is_caller(node, &e.channel.id) => {
                match e.digit.chars().next() {
                    Some(digit) => vec![Step::Input(Input::CallerDtmf {
                        node: node.clone(),
                        channel: e.channel.id.clone(),
                        digit,
                    })],
                    None => Vec::new(),
                }
            }
            Event::PlaybackFinished(e) => match e.playback.target_uri.strip_prefix("channel:") {
                Some(channel) if self.is_caller(node, channel) => {
                    vec![Step::Input(Input::PlaybackFinished {
                        node: node.clone(),
                        channel: channel.to_owned(),
                    })]
                }
                Some(channel) if self.codes.contains(&(node.clone(), channel.to_owned())) => {
                    vec![Step::AgentCodePlayed(channel.to_owned())]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Compares what starq follows on `node` with the channels and bridges Asterisk still has in
    /// the app (after a reconnect: nothing missed is replayed), and says what was missed. The
    /// listing was asked for at generation `as_of`: what was followed after it may be missing
    /// from it without being gone.
    pub fn reconcile(
        &mut self,
        node: &NodeId,
        channels: &BTreeSet<String>,
        bridges: &BTreeSet<String>,
        as_of: u64,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        let gone_callers: Vec<String> = self
            .callers
            .iter()
            .filter(|((n, id), since)| n == node && **since <= as_of && !channels.contains(id))
            .map(|((_, id), _)| id.clone())
            .collect();
        for caller in gone_callers {
            steps.extend(self.caller_gone(node, &caller));
        }
        let gone_legs: Vec<String> = self
            .legs
            .iter()
            .filter(|(id, l)| {
                &l.node == node && l.seen.is_some_and(|g| g <= as_of) && !channels.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone_legs {
            let leg = self.legs.remove(&id).expect("listed");
            steps.push(Step::Input(if leg.answered {
                Input::LegHungUp { reservation: leg.reservation }
            } else {
                Input::LegFailed { reservation: leg.reservation, miss: Miss::Failed }
            }));
        }
        for (id, leg) in &mut self.legs {
            if &leg.node == node && leg.seen.is_none() && channels.contains(id) {
                leg.seen = Some(as_of);
            }
        }
        self.released.retain(|(n, id), at| n != node || *at > as_of || channels.contains(id));
        let ours: BTreeSet<&String> =
            self.bridges.iter().filter(|((n, _), _)| n == node).map(|(_, b)| b).collect();
        steps.extend(
            bridges.iter().filter(|b| !ours.contains(b)).map(|b| Step::DeleteBridge(b.clone())),
        );
        steps
    }

    /// Follows, from now on, the callers of `node` the store holds whose channels are
    /// `present` in the app (an earlier owner's, or this instance's before a restart), with
    /// their agent legs present (ringing ones are rung again by the core, which finds them
    /// answered if they were), or connected and their bridge. Those already followed stay as
    /// they are. Returns the (caller, leg) of connected calls whose bridge is missing (the
    /// previous owner confirmed the answer and died before bridging): to bridge now.
    pub fn adopt(
        &mut self,
        node: &NodeId,
        calls: &[StoredCall],
        present: &BTreeSet<String>,
        bridges: &BTreeSet<String>,
    ) -> Vec<(String, String)> {
        let mut unbridged = Vec::new();
        for stored in calls {
            let Some((channel, _)) =
                stored.call.channel_candidates(node).into_iter().find(|(c, _)| present.contains(c))
            else {
                continue;
            };
            let (legs, answered): (Vec<ReservationId>, bool) = match &stored.state {
                StoredState::Connected { reservation, .. } => (vec![*reservation], true),
                StoredState::Waiting { offers } => {
                    (offers.iter().map(|(r, _)| *r).collect(), false)
                }
            };
            for reservation in legs {
                let leg = leg_id(&stored.call, reservation);
                if present.contains(&leg) && !self.legs.contains_key(&leg) {
                    let seen = Some(self.tick());
                    if answered {
                        let bridge = bridge_of(&channel);
                        if !bridges.contains(&bridge) {
                            unbridged.push((channel.clone(), leg.clone()));
                        }
                        self.bridges.insert((node.clone(), channel.clone()), bridge);
                    }
                    // Not `in_app`: a listing also shows a leg still entering the app (it is
                    // subscribed at creation); only its `StasisStart` says it is in.
                    let leg_state = Leg {
                        seen,
                        node: node.clone(),
                        reservation,
                        answered,
                        in_app: false,
                        dial: None,
                        dialed: None,
                        far_cause: None,
                    };
                    self.legs.insert(leg, leg_state);
                }
            }
            self.follow_caller(node, &channel);
        }
        unbridged
    }

    /// An agent leg starq follows said it will not answer: the offer is given back at once
    /// and the leg hung up.
    fn leg_refused(&mut self, leg: &str, miss: Miss) -> Vec<Step> {
        match self.legs.get(leg) {
            Some(l) if !l.answered => {
                let reservation = l.reservation;
                self.leg_released(leg);
                vec![
                    Step::HangupLeg(leg.to_owned()),
                    Step::Input(Input::LegFailed { reservation, miss }),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// An agent leg starq follows was answered: the core is told once.
    pub fn leg_up(&mut self, leg: &str) -> Vec<Step> {
        self.leg_seen(leg);
        match self.legs.get_mut(leg) {
            Some(leg) if !leg.answered => {
                leg.answered = true;
                vec![Step::Input(Input::LegAnswered { reservation: leg.reservation })]
            }
            _ => Vec::new(),
        }
    }

    /// The channels in `node`'s app that starq neither follows as callers nor created as legs
    /// (after [`Channels::adopt`] and [`Channels::reconcile`]): callers whose `StasisStart` was
    /// missed, or legs of calls that ended meanwhile (see [`is_leg`]).
    pub fn strays(&self, node: &NodeId, present: &BTreeSet<String>) -> Vec<String> {
        present
            .iter()
            .filter(|id| {
                let key = (node.clone(), (*id).clone());
                !self.legs.contains_key(*id)
                    && !self.callers.contains_key(&key)
                    && !self.codes.contains(&key)
                    && !self.released.contains_key(&key)
            })
            .cloned()
            .collect()
    }

    /// A stray channel of `node`, as Asterisk describes it, with the notes starq left on it:
    /// a caller in `app`'s `Stasis()` whose `StasisStart` never reached starq arrives now,
    /// from the arguments its dialplan location still shows (`app,queue=…`). With an `entry`
    /// noted for the same queue ([`ENTRY_VARIABLE`](starq_core::engine::ENTRY_VARIABLE)), it
    /// was waiting already (under a store lost since) and resumes its wait, place and priority.
    /// A caller `talking` (bridged by starq) is a conversation: taken back as connected from
    /// its notes ([`CONNECTED_VARIABLE`](starq_core::engine::CONNECTED_VARIABLE)), bridge and
    /// leg as they are, or else left alone; never queued again. Anything else is left alone.
    pub fn stray(
        &mut self,
        node: &NodeId,
        channel: &Channel,
        app: &str,
        notes: &Notes<'_>,
        talking: bool,
    ) -> Vec<Step> {
        if self.callers.contains_key(&(node.clone(), channel.id.clone()))
            || self.codes.contains(&(node.clone(), channel.id.clone()))
            || self.legs.contains_key(&channel.id)
            || !channel.dialplan.app_name.eq_ignore_ascii_case("stasis")
        {
            return Vec::new();
        }
        let mut fields = channel.dialplan.app_data.split(',');
        if fields.next().map(str::trim) != Some(app) {
            return Vec::new();
        }
        let entry = notes.entry.and_then(NotedEntry::parse);
        if talking {
            return match (entry, notes.connected.and_then(parse_connection)) {
                (Some(entry), Some(connection)) => {
                    self.reconnection(node, channel, entry, connection)
                }
                _ => Vec::new(),
            };
        }
        let args: Vec<String> = fields.map(str::to_owned).collect();
        let mut steps = self.arrival(node, channel, &args);
        for step in &mut steps {
            if let Step::AgentCode { stray, .. } = step {
                *stray = true;
            }
            if let Step::Input(Input::CallerArrived(arrival)) = step
                && let Some(entry) =
                    entry.as_ref().filter(|e| e.queue == arrival.queue && e.step == 0)
            {
                arrival.resumed = Some(entry.entered);
                if let Some(priority) = entry.priority {
                    arrival.priority = priority;
                }
            }
        }
        steps
    }

    /// A conversation found bridged, with its notes: followed (caller, answered leg, bridge)
    /// and handed to the core to be taken back as connected.
    fn reconnection(
        &mut self,
        node: &NodeId,
        channel: &Channel,
        entry: NotedEntry,
        connection: (AgentId, ReservationId, Time),
    ) -> Vec<Step> {
        let (agent, reservation, since) = connection;
        let call = CallId::of_channel(node, &channel.id, entry.step);
        let leg = leg_id(&call, reservation);
        if self.legs.contains_key(&leg) {
            return Vec::new();
        }
        self.follow_caller(node, &channel.id);
        let seen = Some(self.tick());
        let leg_state = Leg {
            seen,
            node: node.clone(),
            reservation,
            answered: true,
            in_app: true,
            dial: None,
            dialed: None,
            far_cause: None,
        };
        self.legs.insert(leg, leg_state);
        self.bridges.insert((node.clone(), channel.id.clone()), bridge_of(&channel.id));
        vec![Step::Input(Input::CallerArrived(Arrival {
            node: node.clone(),
            channel: channel.id.clone(),
            queue: entry.queue,
            caller_id: channel.caller.number.clone(),
            priority: entry.priority.unwrap_or(0),
            max_wait: None,
            resumed: Some(entry.entered),
            connected: Some(Reconnection { step: entry.step, agent, reservation, since }),
        }))]
    }

    /// A caller entering the app with `args`: a core arrival, or a refusal naming what is wrong.
    /// An agent leg is never a caller, even one starq no longer follows (its offer ended while
    /// its creation was on the way) or another instance made: it is left to whoever hangs it
    /// up.
    fn arrival(&mut self, node: &NodeId, channel: &Channel, args: &[String]) -> Vec<Step> {
        if is_leg(node, &channel.id) || args == [LEG_ARG] {
            return Vec::new();
        }
        if phone::is_agent_code(args) {
            self.codes.insert((node.clone(), channel.id.clone()));
            return vec![Step::AgentCode {
                channel: channel.id.clone(),
                name: channel.name.clone(),
                code: phone::parse(args),
                stray: false,
            }];
        }
        match args::parse(args) {
            Ok(a) => {
                self.follow_caller(node, &channel.id);
                vec![Step::Input(Input::CallerArrived(Arrival {
                    node: node.clone(),
                    channel: channel.id.clone(),
                    queue: a.queue,
                    caller_id: channel.caller.number.clone(),
                    priority: a.priority,
                    max_wait: a.max_wait,
                    resumed: None,
                    connected: None,
                }))]
            }
            Err(err) => vec![Step::Refuse { channel: channel.id.clone(), reason: err.to_string() }],
        }
    }

    /// Forgets every caller and leg of a node: gone (their calls ended with it), or owned by
    /// another instance now.
    pub fn forget_node(&mut self, node: &NodeId) {
        self.callers.retain(|(n, _), _| n != node);
        self.codes.retain(|(n, _)| n != node);
        self.released.retain(|(n, _), _| n != node);
        self.bridges.retain(|(n, _), _| n != node);
        self.legs.retain(|_, leg| &leg.node != node);
    }

    fn is_caller(&self, node: &NodeId, channel: &str) -> bool {
        self.callers.contains_key(&(node.clone(), channel.to_owned()))
    }

    /// Whether `channel` of `node` is a caller the shell follows (not gone, not let go of).
    pub fn follows_caller(&self, node: &NodeId, channel: &str) -> bool {
        self.is_caller(node, channel)
    }

    /// The leg of `node` the shell follows for an offer, if any.
    pub fn leg_of(&self, node: &NodeId, reservation: ReservationId) -> Option<String> {
        self.legs
            .iter()
            .find(|(_, l)| &l.node == node && l.reservation == reservation)
            .map(|(id, _)| id.clone())
    }

    fn caller_gone(&mut self, node: &NodeId, channel: &str) -> Vec<Step> {
        let key = (node.clone(), channel.to_owned());
        if self.callers.remove(&key).is_none() {
            return Vec::new();
        }
        let mut steps = vec![Step::Input(Input::CallerHungUp {
            node: node.clone(),
            channel: channel.to_owned(),
        })];
        if let Some(bridge) = self.bridges.remove(&key) {
            steps.push(Step::DeleteBridge(bridge));
        }
        steps
    }
}

/// Whether a channel id of `node` is one starq gives agent legs ([`LegId`]).
pub fn is_leg(node: &NodeId, id: &str) -> bool {
    LegId::parse(id).is_some_and(|leg| leg.is_on(node))
}

/// When a caller noted as waiting in `queue` ([`ENTRY_VARIABLE`]: `<queue>,<step>,<ms>`)
/// entered it. Only the first queue of a failover chain resumes (the dialplan names that one);
/// a caller that had moved on enters again.
/// What starq noted on a caller's channel, as read back.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notes<'a> {
    /// Its [`ENTRY_VARIABLE`](starq_core::engine::ENTRY_VARIABLE).
    pub entry: Option<&'a str>,
    /// Its [`CONNECTED_VARIABLE`](starq_core::engine::CONNECTED_VARIABLE).
    pub connected: Option<&'a str>,
}

/// An [`ENTRY_VARIABLE`](starq_core::engine::ENTRY_VARIABLE):
/// `<queue>,<step>,<ms>[,<priority>]` (notes made before priorities were noted have three
/// fields).
#[derive(Clone, Debug, PartialEq, Eq)]
struct NotedEntry {
    queue: QueueId,
    step: u32,
    entered: Time,
    priority: Option<i32>,
}

impl NotedEntry {
    fn parse(note: &str) -> Option<Self> {
        let mut fields = note.split(',');
        let (queue, step, ms) = (fields.next()?, fields.next()?, fields.next()?);
        let priority = match fields.next() {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        if queue.is_empty() || fields.next().is_some() {
            return None;
        }
        Some(NotedEntry {
            queue: QueueId::new(queue),
            step: step.parse().ok()?,
            entered: Time(ms.parse().ok()?),
            priority,
        })
    }
}

/// A [`CONNECTED_VARIABLE`](starq_core::engine::CONNECTED_VARIABLE):
/// `<agent>,<reservation>,<ms>`.
fn parse_connection(note: &str) -> Option<(AgentId, ReservationId, Time)> {
    let mut fields = note.split(',');
    let (agent, reservation, ms) = (fields.next()?, fields.next()?, fields.next()?);
    if agent.is_empty() || fields.next().is_some() {
        return None;
    }
    Some((AgentId::new(agent), ReservationId(reservation.parse().ok()?), Time(ms.parse().ok()?)))
}

/// What an unanswered leg's hangup cause (Q.850) says about the agent.
pub fn miss_for_cause(cause: i32) -> Miss {
    match cause {
        17 => Miss::Busy,
        // No user responding, no answer, call rejected, or the phone hung up while ringing.
        16 | 18 | 19 | 21 => Miss::NoAnswer,
        // Everything else: unallocated, no route, absent, out of order, congestion, failure.
        _ => Miss::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_asked_for_earlier_does_not_end_callers_followed_since() {
        let node = NodeId::new("main");
        let mut channels = Channels::default();
        channels.adopt(&node, &[], &BTreeSet::new(), &BTreeSet::new());
        channels.follow_caller(&node, "old");
        let as_of = channels.generation();
        channels.follow_caller(&node, "new");
        let steps = channels.reconcile(&node, &BTreeSet::new(), &BTreeSet::new(), as_of);
        let gone: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Input(Input::CallerHungUp { channel, .. }) => Some(channel.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(gone, ["old"], "only what the listing could have seen is judged by it");
        assert!(channels.is_caller(&node, "new"));
    }

    #[test]
    fn agent_leg_ids_are_told_from_caller_ids() {
        let node = NodeId::new("main");
        assert!(is_leg(&node, "main~1700.1-r12-leg"));
        assert!(is_leg(&node, "main~1700.1-q2-r3-leg"));
        assert!(!is_leg(&node, "1700.1"));
        assert!(!is_leg(&node, "main~1700.1-r-leg"));
        assert!(!is_leg(&NodeId::new("backup"), "main~1700.1-r12-leg"));
    }

    #[test]
    fn causes_map_to_misses() {
        assert_eq!(miss_for_cause(17), Miss::Busy);
        assert_eq!(miss_for_cause(19), Miss::NoAnswer);
        assert_eq!(miss_for_cause(16), Miss::NoAnswer);
        assert_eq!(miss_for_cause(0), Miss::Unreachable, "missing extension, as recorded");
        assert_eq!(miss_for_cause(34), Miss::Unreachable);
    }
}
