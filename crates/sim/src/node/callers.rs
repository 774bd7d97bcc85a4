//! Inbound callers: a Local channel pair whose `;2` half runs `Stasis(app, args…)`, as the
//! samples' `[to-q]` dialplan does, plus the caller's own script (patience, key presses).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{Chan, ChanState, Role, Start};
use super::state::{NodeState, Step};
use crate::clock::Now;
use crate::error::AriError;
use crate::truth::{CallerRecord, Outcome};
use crate::wire::{self, Event};

/// One inbound call to place on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSpec {
    /// Stasis application the dialplan sends the call to.
    pub app: String,
    /// Stasis arguments (`queue=support`, …).
    pub args: Vec<String>,
    /// Caller id number.
    pub number: String,
    /// Caller id name.
    pub name: String,
    /// Dialed extension.
    pub exten: String,
    /// Context the call enters (`to-q` in the samples).
    pub context: String,
    /// Id of the handset half; the Stasis half is `<id>;2`. Generated when absent.
    pub channel_id: Option<String>,
    /// Hang up after this long unless connected to an agent by then (abandon).
    pub patience: Option<Duration>,
    /// Hang up after this long whatever happens (end of the conversation).
    pub hangup_after: Option<Duration>,
    /// Keys pressed, each at a time after entering.
    pub dtmf: Vec<(Duration, char)>,
}

impl CallSpec {
    /// A caller into `Stasis(app, args…)` from `number`, with no script.
    pub fn new(app: impl Into<String>, args: &[&str], number: impl Into<String>) -> Self {
        let number = number.into();
        Self {
            app: app.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            exten: "100".to_owned(),
            context: "to-q".to_owned(),
            name: String::new(),
            number,
            channel_id: None,
            patience: None,
            hangup_after: None,
            dtmf: Vec::new(),
        }
    }
}

/// A placed call: its caller number in the ground truth and its Stasis channel id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacedCall {
    /// Caller number in the ground truth.
    pub caller: u64,
    /// Id of the channel that entered (or failed to enter) Stasis.
    pub channel_id: String,
    /// Whether `Stasis()` found a consumer.
    pub in_stasis: bool,
}

impl NodeState {
    /// Places an inbound call; fails only on a duplicate channel id.
    pub(crate) fn place_call(&mut self, now: Now, spec: &CallSpec) -> Result<PlacedCall, AriError> {
        // The samples' `[to-q]` runs `NoOp()` first, so `Stasis()` is priority 2.
        self.place_call_at(now, spec, 2)
    }

    /// Dialplan-mode originate to `Local/<exten>@to-<app>` (sample 06's `[to-qout]`, where
    /// `Stasis()` is priority 1): the `;2` half is an inbound caller; answers the `;1` half.
    pub(crate) fn originate_inbound(
        &mut self,
        now: Now,
        exten: &str,
        context: &str,
        channel_id: Option<String>,
        cid: wire::CallerId,
    ) -> Result<wire::Channel, AriError> {
        let app = context.strip_prefix("to-").unwrap_or(context);
        let mut spec = CallSpec::new(app, &["inbound", exten], cid.number);
        spec.name = cid.name;
        spec.exten = exten.to_owned();
        spec.context = context.to_owned();
        spec.channel_id = Some(channel_id.unwrap_or_else(|| self.uniqueid(now)));
        let placed = self.place_call_at(now, &spec, 1)?;
        let handset_id = placed.channel_id.trim_end_matches(";2").to_owned();
        let mut snapshot = match self.channels.get(&handset_id) {
            Some(c) => c.wire(),
            // Stasis() failed and the dialplan already hung the pair up.
            None => return Err(AriError::allocation_failed()),
        };
        snapshot.state = wire::ChannelState::Down;
        snapshot.dialplan.app_name = "AppDial2".to_owned();
        snapshot.dialplan.app_data = "(Outgoing Line)".to_owned();
        Ok(snapshot)
    }

    fn place_call_at(
        &mut self,
        now: Now,
        spec: &CallSpec,
        priority: i64,
    ) -> Result<PlacedCall, AriError> {
        let handset_id = match &spec.channel_id {
            Some(id) => id.clone(),
            None => self.uniqueid(now),
        };
        let leg_id = format!("{handset_id};2");
        if self.channels.contains_key(&handset_id) || self.channels.contains_key(&leg_id) {
            return Err(AriError::conflict("Channel with given unique ID already exists"));
        }
        let caller = self.world.next_caller();
        let app_data = std::iter::once(spec.app.as_str())
            .chain(spec.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",");
        let name = format!("Local/{}@{}-{}", spec.exten, spec.context, self.local_suffix());
        let cid = wire::CallerId { name: spec.name.clone(), number: spec.number.clone() };
        let dialplan = |priority, app: &str, data: &str| wire::DialplanLocation {
            context: spec.context.clone(),
            exten: spec.exten.clone(),
            priority,
            app_name: app.to_owned(),
            app_data: data.to_owned(),
        };
        let base = Chan {
            id: handset_id.clone(),
            name: format!("{name};1"),
            state: ChanState::Up,
            caller: cid.clone(),
            connected: cid,
            dialplan: dialplan(1, "Wait", "120"),
            created_ms: now.wall_ms,
            vars: Default::default(),
            stasis: None,
            subs: Default::default(),
            role: Role::Handset { caller },
            start: Start::Inbound,
            peer: Some(leg_id.clone()),
            bridge: None,
            moh: None,
            serial: self.serial(),
            playbacks: Vec::new(),
            dialed: true,
            want_stasis: None,
            cid_pending: false,
        };
        let leg = Chan {
            id: leg_id.clone(),
            name: format!("{name};2"),
            state: ChanState::Ring,
            dialplan: dialplan(priority, "Stasis", &app_data),
            role: Role::CallerLeg { caller },
            peer: Some(handset_id),
            serial: self.serial(),
            ..base.clone()
        };
        let serial = leg.serial;
        self.insert_channel(base);
        self.insert_channel(leg);
        self.links.callers.insert(leg_id.clone(), caller);
        let in_stasis = self.apps.active(&spec.app);
        self.record_caller(now, spec, caller, &leg_id, in_stasis);
        if in_stasis {
            self.enter_stasis(now, &leg_id, &spec.app, spec.args.clone());
            self.schedule_script(now, spec, &leg_id, serial);
        } else {
            // `Stasis()` fails at once; the dialplan goes on to its fallback and hangs up.
            if let Some(chan) = self.channels.get_mut(&leg_id) {
                chan.vars.insert("STASISSTATUS".to_owned(), "FAILED".to_owned());
            }
            let ms = self.ms(now);
            self.world.truth().end_caller(caller, ms, Outcome::StasisFailed);
            self.remove_pair(&leg_id);
        }
        Ok(PlacedCall { caller, channel_id: leg_id, in_stasis })
    }

    fn record_caller(&mut self, now: Now, spec: &CallSpec, caller: u64, leg: &str, ok: bool) {
        let record = CallerRecord {
            caller,
            node: self.index,
            channel_id: leg.to_owned(),
            app: spec.app.clone(),
            args: spec.args.clone(),
            number: spec.number.clone(),
            entered_ms: self.ms(now),
            stasis_status: if ok { String::new() } else { "FAILED".to_owned() },
            moh_starts: 0,
            moh_ms: 0,
            moh_after_stasis: false,
            left_with: Default::default(),
            heard_ringing: false,
            heard: Vec::new(),
            dtmf: Vec::new(),
            rang: Vec::new(),
            connected_ms: None,
            agent: None,
            agent_left_ms: None,
            ended_ms: None,
            outcome: None,
        };
        self.world.truth().insert_caller(record);
    }

    fn schedule_script(&mut self, now: Now, spec: &CallSpec, leg: &str, serial: u64) {
        if let Some(p) = spec.patience {
            self.at(now, p, Step::CallerHangup { leg: leg.to_owned(), serial, abandon_only: true });
        }
        if let Some(h) = spec.hangup_after {
            self.at(
                now,
                h,
                Step::CallerHangup { leg: leg.to_owned(), serial, abandon_only: false },
            );
        }
        for (after, digit) in &spec.dtmf {
            self.at(now, *after, Step::CallerDtmf { leg: leg.to_owned(), serial, digit: *digit });
        }
    }

    /// Puts a channel into Stasis and raises `StasisStart`.
    pub(crate) fn enter_stasis(&mut self, now: Now, id: &str, app: &str, args: Vec<String>) {
        let Some(chan) = self.channels.get_mut(id) else { return };
        chan.stasis = Some((app.to_owned(), args.clone()));
        self.emit_chan(now, id, |channel| Event::StasisStart {
            args,
            channel,
            replace_channel: None,
        });
    }

    /// Drops a channel and its Local other half without events (dialplan-only channels).
    pub(crate) fn remove_pair(&mut self, id: &str) {
        if let Some(chan) = self.channels.remove(id)
            && let Some(peer) = chan.peer
        {
            self.channels.remove(&peer);
        }
        self.links.callers.remove(id);
    }

    /// A scripted caller presses a key: `ChannelDtmfReceived` when the app can hear it.
    pub(crate) fn caller_dtmf(&mut self, now: Now, leg: &str, digit: char) {
        let Some(chan) = self.channels.get(leg) else { return };
        if let Some(caller) = self.caller_of(leg) {
            let mut truth = self.world.truth();
            if let Some(rec) = truth.caller_mut(caller) {
                rec.dtmf.push(digit.to_string());
            }
        }
        // In a mixing bridge without dtmf_events two channels are bridged natively and the
        // digits never reach Asterisk's core, so the application hears nothing.
        if let Some(b) = chan.bridge.as_ref().and_then(|b| self.bridges.get(b))
            && b.kind == super::model::BridgeKind::Mixing
            && !b.dtmf_events
            && b.channels.len() >= 2
        {
            return;
        }
        if chan.stasis.is_none() {
            return;
        }
        self.emit_chan(now, leg, |channel| Event::ChannelDtmfReceived {
            digit: digit.to_string(),
            duration_ms: 100,
            channel,
        });
    }
}
