//! Outgoing legs: `POST /channels/create` + `/dial` and `POST /channels` (originate), to
//! `Local/<exten>@<context>` (the reference dialplan's `[agents]`, `[noanswer]`, `[busy]`,
//! `[busyhangup]` contexts, `docs/fidelity.md`) or to a scripted phone (`PJSIP/<name>`), with
//! the event sequences of samples 04b, 05, 07 and 08.

use std::collections::BTreeMap;
use std::time::Duration;

use super::model::{Chan, ChanState, FarEnd, Role, Start};
use super::state::{NodeState, Step};
use crate::clock::Now;
use crate::error::AriError;
use crate::phones::Reach;
use crate::truth::{AgentRing, Rang, RingResult};
use crate::wire::{self, Event};

/// A request for an outgoing leg, from either REST call.
#[derive(Debug, Clone, Default)]
pub(crate) struct LegSpec {
    pub(crate) endpoint: String,
    pub(crate) app: String,
    pub(crate) app_args: Vec<String>,
    pub(crate) channel_id: Option<String>,
    pub(crate) other_id: Option<String>,
    pub(crate) caller_id: Option<wire::CallerId>,
    /// Originate only: seconds before giving up (`None`: never).
    pub(crate) timeout: Option<Duration>,
    pub(crate) originator: Option<String>,
    pub(crate) variables: BTreeMap<String, String>,
}

/// Where an endpoint string leads.
struct Route {
    name: String,
    dialstring: String,
    far: FarEnd,
    context: String,
    exten: String,
    local: bool,
    phone: Option<String>,
    while_busy: bool,
    on_phone: bool,
}

/// A channel variable holding seconds, as `Wait()` and `Busy()` read their argument: a
/// decimal number, or nothing usable (`None`) if it is not one or is negative.
fn seconds(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// `<tech>/<resource>`, both non-empty, as `POST /channels` and `/channels/create` demand.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), AriError> {
    match endpoint.split_once('/') {
        _ if endpoint.is_empty() => Err(AriError::bad_request("Endpoint must be specified")),
        Some((tech, resource)) if !tech.is_empty() && !resource.is_empty() => Ok(()),
        _ => Err(AriError::bad_request("Invalid endpoint specified")),
    }
}

impl NodeState {
    /// Where `endpoint` leads. A Local target's dialplan reads the leg's variables as the
    /// reference dialplan does (`AGENT_TALK`, `NOANSWER_WAIT`, `BUSY_HOLD`, seconds), falling
    /// back to the node's settings when unset.
    fn route(
        &mut self,
        endpoint: &str,
        start: Start,
        vars: &BTreeMap<String, String>,
    ) -> Result<Route, AriError> {
        check_endpoint(endpoint)?;
        let (tech, resource) = endpoint.split_once('/').unwrap_or((endpoint, ""));
        if tech.eq_ignore_ascii_case("local") {
            let target = resource.split('/').next().unwrap_or(resource);
            // Asterisk's Local channel driver puts a target without `@` in `[default]`.
            let (exten, context) = match target.split_once('@') {
                Some((exten, "")) => (exten, "default"),
                Some(pair) => pair,
                None => (target, "default"),
            };
            let var = |name: &str| vars.get(name).filter(|v| !v.is_empty());
            let far = match context {
                // `_X.` matches no empty extension.
                _ if exten.is_empty() => FarEnd::Missing,
                "agents" => FarEnd::AnswerNow {
                    talk: var("AGENT_TALK")
                        .and_then(|v| seconds(v))
                        .unwrap_or(self.cfg.agents_talk),
                },
                "noanswer" => FarEnd::Ring {
                    answer_after: None,
                    talk: Duration::ZERO,
                    give_up: Some(
                        var("NOANSWER_WAIT")
                            .and_then(|v| seconds(v))
                            .unwrap_or(self.cfg.noanswer_wait),
                    ),
                },
                // `Busy(x)` with `x` not a number waits for ever, as `Busy()` does.
                "busy" => FarEnd::Busy {
                    hold: var("BUSY_HOLD").map_or(self.cfg.busy_hold, |v| seconds(v)),
                },
                "busyhangup" => FarEnd::HangsUp { cause: 17 },
                _ => FarEnd::Missing,
            };
            let name = format!("Local/{exten}@{context}-{}", self.local_suffix());
            return Ok(Route {
                name,
                // `Dial` events name the resource as requested, `/n` included (sample 07).
                dialstring: resource.to_owned(),
                far,
                context: context.to_owned(),
                exten: exten.to_owned(),
                local: true,
                phone: None,
                while_busy: false,
                on_phone: false,
            });
        }
        // Real Asterisk cannot allocate a channel to an unregistered endpoint.
        let unallocated = AriError::allocation_failed;
        let (far, while_busy, on_phone) = if start == Start::Originated {
            match self.world.phones().dial(endpoint, self.index, &mut self.rng) {
                Reach::Far { far, while_busy } => (far, while_busy, true),
                Reach::Unreachable => return Err(unallocated()),
            }
        } else if self.world.phones().reachable(endpoint, self.index) {
            // A created leg rings the phone only on `/dial`, where its behaviour is drawn.
            (FarEnd::Unavailable, false, false)
        } else {
            return Err(unallocated());
        };
        let name = format!("{endpoint}-{}", self.local_suffix());
        Ok(Route {
            name,
            dialstring: resource.to_owned(),
            far,
            context: "default".to_owned(),
            exten: "s".to_owned(),
            local: false,
            phone: Some(endpoint.to_owned()),
            while_busy,
            on_phone,
        })
    }

    fn check_ids(&self, ids: &[&str]) -> Result<(), AriError> {
        for id in ids {
            if id.len() > 149 {
                return Err(AriError::bad_request("Channel ID too long"));
            }
            if self.channels.contains_key(*id) {
                return Err(AriError::conflict("Channel with given unique ID already exists"));
            }
        }
        Ok(())
    }

    /// Builds the leg (and its Local `;2` half) without events; returns the leg id.
    fn build_leg(&mut self, now: Now, spec: &LegSpec, start: Start) -> Result<String, AriError> {
        let id = spec.channel_id.clone().unwrap_or_else(|| self.uniqueid(now));
        let peer_id = match &spec.other_id {
            Some(other) => other.clone(),
            None if spec.channel_id.is_some() => format!("{id};2"),
            None => self.uniqueid(now),
        };
        // Asterisk checks the endpoint's shape before it allocates (and finds an id taken).
        check_endpoint(&spec.endpoint)?;
        if id == peer_id {
            return Err(AriError::conflict("Channel with given unique ID already exists"));
        }
        self.check_ids(&[&id, &peer_id])?;
        let route = self.route(&spec.endpoint, start, &spec.variables)?;
        let cid = spec.caller_id.clone().unwrap_or_default();
        // A created channel shows no application until it enters Stasis (sample 07).
        let (app_name, data) = match start {
            Start::Created => ("", String::new()),
            _ => ("AppDial2", "(Outgoing Line)".to_owned()),
        };
        let leg = Chan {
            id: id.clone(),
            name: if route.local { format!("{};1", route.name) } else { route.name.clone() },
            state: ChanState::Down,
            caller: cid.clone(),
            connected: cid,
            dialplan: wire::DialplanLocation {
                context: route.context.clone(),
                exten: route.exten.clone(),
                priority: 1,
                app_name: app_name.to_owned(),
                app_data: data,
            },
            created_ms: now.wall_ms,
            vars: spec.variables.clone(),
            stasis: None,
            subs: std::iter::once(spec.app.clone()).collect(),
            role: Role::Outgoing {
                far: route.far.clone(),
                dialstring: route.dialstring.clone(),
                endpoint: spec.endpoint.clone(),
                phone: route.phone.clone(),
                while_busy: route.while_busy,
                on_phone: route.on_phone,
            },
            start,
            peer: route.local.then(|| peer_id.clone()),
            bridge: None,
            moh: None,
            serial: self.serial(),
            playbacks: Vec::new(),
            dialed: false,
            cid_pending: false,
            want_stasis: (start == Start::Originated)
                .then(|| (spec.app.clone(), spec.app_args.clone())),
        };
        if route.local {
            self.insert_local_peer(&leg, peer_id, &route.name, start);
        }
        self.insert_channel(leg);
        if let Some(phone) = &route.phone {
            self.endpoint_changed(now, phone);
        }
        if let Some(orig) = &spec.originator
            && let Some(caller) = self.caller_of(orig)
        {
            self.links.leg_caller.insert(id.clone(), caller);
        }
        Ok(id)
    }

    /// The `;2` half of a Local leg, running the target's dialplan.
    fn insert_local_peer(&mut self, leg: &Chan, peer_id: String, name: &str, start: Start) {
        let mut peer = leg.clone();
        peer.id = peer_id;
        peer.name = format!("{name};2");
        peer.state = ChanState::Ring;
        peer.dialplan.app_name = String::new();
        peer.dialplan.app_data = String::new();
        // Originate subscribes the app to both halves; create only to the one it made.
        if start != Start::Originated {
            peer.subs.clear();
        }
        peer.role = Role::LocalPeer;
        peer.peer = Some(leg.id.clone());
        peer.serial = self.serial();
        peer.vars = BTreeMap::new();
        self.insert_channel(peer);
    }

    /// `POST /channels/create`: the leg exists at once, subscribed to the app, which sees a
    /// `ChannelVarset` for each variable of the request; it enters Stasis only a moment after
    /// the answer ([`NodeConfig::stasis_entry_delay`](crate::NodeConfig)), then waits for
    /// `/dial`. Until then it is not in the app: `/dial` answers 409 and the app's listing
    /// lacks it (sample 07).
    pub(crate) fn create_leg(
        &mut self,
        now: Now,
        spec: &LegSpec,
    ) -> Result<wire::Channel, AriError> {
        let id = self.build_leg(now, spec, Start::Created)?;
        for (name, value) in &spec.variables {
            self.emit_chan(now, &id, |channel| Event::ChannelVarset {
                variable: name.clone(),
                value: value.clone(),
                channel,
            });
        }
        let chan = self.channels.get(&id).ok_or_else(AriError::channel_not_found)?;
        let (snapshot, serial) = (chan.wire(), chan.serial);
        let (low, high) = self.cfg.stasis_entry_delay;
        let spread = u64::try_from(high.saturating_sub(low).as_micros()).unwrap_or(u64::MAX);
        let delay = low + Duration::from_micros(self.rng.below(spread.saturating_add(1)));
        let step = Step::EnterStasis {
            leg: id,
            serial,
            app: spec.app.clone(),
            args: spec.app_args.clone(),
        };
        self.at(now, delay, step);
        Ok(snapshot)
    }

    /// A created leg reaches the app: `ChannelDialplan` (Stasis), `STASISSTATUS=""`,
    /// `StasisStart`, in that order (sample 07).
    pub(crate) fn created_leg_enters_stasis(
        &mut self,
        now: Now,
        id: &str,
        app: &str,
        args: Vec<String>,
    ) {
        let Some(chan) = self.channels.get_mut(id) else { return };
        let data = std::iter::once(app)
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",");
        chan.set_app("Stasis", &data);
        self.emit_chan(now, id, |channel| Event::ChannelDialplan {
            dialplan_app: "Stasis".to_owned(),
            dialplan_app_data: data,
            channel,
        });
        self.set_var(now, id, "STASISSTATUS", "");
        self.enter_stasis(now, id, app, args);
    }

    /// `POST /channels`: the leg dials at once and enters Stasis when answered.
    pub(crate) fn originate(
        &mut self,
        now: Now,
        spec: &LegSpec,
    ) -> Result<wire::Channel, AriError> {
        let id = self.build_leg(now, spec, Start::Originated)?;
        let chan = self.channels.get(&id).ok_or_else(AriError::channel_not_found)?;
        let (snapshot, peer) = (chan.wire(), chan.peer.clone());
        // The Local `;2` half gets the request's variables when called, before the caller id,
        // and originate has subscribed the app to it: a `ChannelVarset` each, showing no
        // caller yet (the `;1` half shows none).
        if let Some(peer) = &peer
            && let Some(p) = self.channels.get_mut(peer)
        {
            let cid = (std::mem::take(&mut p.caller), std::mem::take(&mut p.connected));
            for (name, value) in &spec.variables {
                self.set_var(now, peer, name, value);
            }
            if let Some(p) = self.channels.get_mut(peer) {
                (p.caller, p.connected) = cid;
            }
        }
        if spec.caller_id.is_some()
            && let Some(peer) = peer
        {
            self.emit_caller_id(now, &peer);
            self.emit_chan(now, &peer, |channel| Event::ChannelConnectedLine { channel });
        }
        self.start_dial(now, &id, spec.timeout);
        Ok(snapshot)
    }

    /// `POST /channels/{id}/dial`.
    pub(crate) fn dial(
        &mut self,
        now: Now,
        id: &str,
        caller: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<(), AriError> {
        let chan = self.channels.get(id).ok_or_else(AriError::channel_not_found)?;
        if chan.stasis.is_none() {
            return Err(AriError::not_in_stasis());
        }
        if chan.dialed
            || chan.state != ChanState::Down
            || !matches!(chan.role, Role::Outgoing { .. })
        {
            return Err(AriError::conflict("Channel is not in the 'Down' state"));
        }
        // `caller=` makes the leg's connected line the caller's id (sample 04b's
        // `ChannelConnectedLine` before the first `Dial`) and links the ring to that caller.
        // Asterisk ignores a `caller` it cannot find and dials all the same.
        if let Some(caller_id) = caller
            && let Some(other) = self.channels.get(caller_id)
        {
            let cid = other.caller.clone();
            if let Some(n) = self.caller_of(caller_id) {
                self.links.leg_caller.insert(id.to_owned(), n);
            }
            if self.channels.get(id).is_some_and(|c| c.connected != cid) {
                if let Some(c) = self.channels.get_mut(id) {
                    c.connected = cid;
                }
                self.emit_chan(now, id, |channel| Event::ChannelConnectedLine { channel });
            }
        }
        self.start_dial(now, id, timeout);
        Ok(())
    }

    /// A created leg to a phone rings it now: draw what the phone does and count the call.
    fn ring_phone(&mut self, id: &str) {
        let Some(chan) = self.channels.get(id) else { return };
        let Role::Outgoing { phone: Some(phone), on_phone: false, .. } = &chan.role else { return };
        let reach = self.world.phones().dial(phone, self.index, &mut self.rng);
        let Some(Role::Outgoing { far, while_busy, on_phone, .. }) =
            self.channels.get_mut(id).map(|c| &mut c.role)
        else {
            return;
        };
        if let Reach::Far { far: drawn, while_busy: busy } = reach {
            (*far, *while_busy, *on_phone) = (drawn, busy, true);
        }
    }

    /// Starts ringing the far end of a leg and schedules what it will do.
    fn start_dial(&mut self, now: Now, id: &str, timeout: Option<Duration>) {
        self.ring_phone(id);
        let Some(chan) = self.channels.get_mut(id) else { return };
        chan.dialed = true;
        let serial = chan.serial;
        let Role::Outgoing { far, dialstring, .. } = chan.role.clone() else { return };
        // Sample 04b: after `/dial` only the first `Dial` event names the dialstring; an
        // originate (sample 01) repeats it on every `Dial`.
        let final_dialstring =
            if chan.start == Start::Originated { dialstring.clone() } else { String::new() };
        if far == FarEnd::Missing {
            // The `;2` half finds no extension: nothing rings, the leg dies on its own.
            self.at(now, Duration::ZERO, Step::Unroutable { leg: id.to_owned(), serial });
            return;
        }
        self.record_ring(now, id);
        self.emit_dial(now, id, "", dialstring.clone());
        match far {
            // `[agents]` answers without ringing: the `;2` half goes up, then the leg.
            FarEnd::AnswerNow { talk } => {
                self.local_peer_answers(now, id);
                self.answer_leg(now, id, final_dialstring);
                self.at(now, talk, Step::FarHangup { leg: id.to_owned(), serial, cause: 16 });
            }
            FarEnd::Ring { answer_after, give_up, .. } => {
                self.set_state(now, id, ChanState::Ringing);
                self.emit_dial(now, id, "RINGING", final_dialstring);
                if let Some(delay) = answer_after {
                    self.at(now, delay, Step::FarAnswer { leg: id.to_owned(), serial });
                }
                // `[noanswer]` has no `Hangup()`: running out asks with cause 0 (docs/fidelity.md).
                if let Some(g) = give_up {
                    let step = Step::FarHangupSplit {
                        leg: id.to_owned(),
                        serial,
                        request: 0,
                        destroyed: 16,
                    };
                    self.at(now, g, step);
                }
            }
            // No `Ringing` state: `Busy()` answers busy before ringing (sample 04b).
            // `Busy()` with no timeout leaves the leg up until the dial timeout (sample 08).
            FarEnd::Busy { hold } => {
                self.emit_dial(now, id, "BUSY", final_dialstring);
                self.mark_ring(now, id, RingResult::Busy);
                if let Some(hold) = hold {
                    self.at(now, hold, Step::FarHangup { leg: id.to_owned(), serial, cause: 17 });
                }
            }
            // `Hangup(cause)` on the far side: the `Dial` with no status, then the hangup.
            // Racing the dial, Asterisk destroys about one such leg in five with cause 16
            // though the hangup request said 17 (docs/fidelity.md): judge on the request.
            FarEnd::HangsUp { cause } => {
                if cause == 17 {
                    self.mark_ring(now, id, RingResult::Busy);
                }
                let destroyed = if self.rng.chance(0.2) { 16 } else { cause };
                let step =
                    Step::FarHangupSplit { leg: id.to_owned(), serial, request: cause, destroyed };
                self.at(now, Duration::ZERO, step);
            }
            // Unregistered since the leg was created: the dial fails at once.
            FarEnd::Unavailable => {
                self.emit_dial(now, id, "CHANUNAVAIL", final_dialstring);
                self.at(
                    now,
                    Duration::ZERO,
                    Step::FarHangup { leg: id.to_owned(), serial, cause: 20 },
                );
                return;
            }
            FarEnd::Missing => {}
        }
        if let Some(t) = timeout {
            self.at(now, t, Step::DialTimeout { leg: id.to_owned(), serial });
        }
    }

    fn emit_dial(&mut self, now: Now, id: &str, status: &'static str, dialstring: String) {
        self.emit_chan(now, id, |peer| Event::Dial {
            dialstatus: status,
            forward: String::new(),
            dialstring,
            peer,
        });
    }

    /// The `[agents]` `;2` half: `NoOp`, `Answer()`, up (seen by subscribers of that half).
    fn local_peer_answers(&mut self, now: Now, id: &str) {
        let Some(peer) = self.channels.get(id).and_then(|c| c.peer.clone()) else { return };
        let exten = self.channels.get(&peer).map(|c| c.dialplan.exten.clone()).unwrap_or_default();
        for (priority, app, data) in
            [(1, "NoOp", format!("Agent {exten} answering")), (2, "Answer", String::new())]
        {
            if let Some(c) = self.channels.get_mut(&peer) {
                c.dialplan.priority = priority;
                c.set_app(app, &data);
            }
            self.emit_chan(now, &peer, |channel| Event::ChannelDialplan {
                dialplan_app: app.to_owned(),
                dialplan_app_data: data.clone(),
                channel,
            });
        }
        self.set_state(now, &peer, ChanState::Up);
        let serial = self.channels.get(&peer).map_or(0, |c| c.serial);
        // `Answer()` holds the channel half a second before `Wait()` starts.
        self.at(now, Duration::from_millis(500), Step::PeerWait { peer, serial });
    }

    /// The far end answered: the leg goes up, and an originated leg enters Stasis now.
    pub(crate) fn answer_leg(&mut self, now: Now, id: &str, final_dialstring: String) {
        self.set_state(now, id, ChanState::Up);
        self.emit_dial(now, id, "ANSWER", final_dialstring);
        self.mark_ring(now, id, RingResult::Answered);
        let Some(chan) = self.channels.get_mut(id) else { return };
        if let Some((app, args)) = chan.want_stasis.take() {
            let data = std::iter::once(app.clone())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(",");
            chan.set_app("Stasis", &data);
            self.set_var(now, id, "STASISSTATUS", "");
            self.enter_stasis(now, id, &app, args);
        }
        self.check_connected_for(now, id);
    }

    /// Starts a ground-truth ring record for an outgoing leg.
    fn record_ring(&mut self, now: Now, id: &str) {
        let Some(chan) = self.channels.get(id) else { return };
        let Role::Outgoing { endpoint, while_busy, .. } = &chan.role else { return };
        let while_busy = *while_busy;
        let caller = self.links.leg_caller.get(id).copied();
        let at_ms = self.ms(now);
        let ring = AgentRing {
            agent: endpoint.clone(),
            node: self.index,
            channel_id: id.to_owned(),
            at_ms,
            while_busy,
            result: RingResult::Pending,
            answered_ms: None,
            ended_ms: None,
            caller,
        };
        let agent = endpoint.clone();
        let mut truth = self.world.truth();
        let index = truth.push_ring(ring);
        if let Some(rec) = caller.and_then(|c| truth.caller_mut(c)) {
            rec.rang.push(Rang { agent, at_ms });
        }
        drop(truth);
        self.links.rings.insert(id.to_owned(), index);
    }

    /// Sets the outcome of a leg's ring record (first result wins).
    pub(crate) fn mark_ring(&mut self, now: Now, id: &str, result: RingResult) {
        let Some(&index) = self.links.rings.get(id) else { return };
        let ms = self.ms(now);
        let mut truth = self.world.truth();
        if let Some(ring) = truth.ring_mut(index)
            && ring.result == RingResult::Pending
        {
            if result == RingResult::Answered {
                ring.answered_ms = Some(ms);
            }
            ring.result = result;
        }
    }
}
