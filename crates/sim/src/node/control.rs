//! Channel control over REST: answer, ring, continue, move, variables, and the application
//! views (`/applications`, subscriptions).

use std::time::Duration;

use super::model::{ChanState, Role};
use super::state::{NodeState, Step};
use crate::clock::Now;
use crate::error::AriError;
use crate::truth::Outcome;
use crate::wire::{self, Event};

/// Where `/continue` sends a channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContinueTo {
    pub(crate) context: Option<String>,
    pub(crate) extension: Option<String>,
    pub(crate) priority: Option<i64>,
}

impl NodeState {
    /// Looks a channel up and checks it is in Stasis (404 / 409 otherwise).
    pub(crate) fn stasis_chan(&self, id: &str) -> Result<&super::model::Chan, AriError> {
        let chan = self.channels.get(id).ok_or_else(AriError::channel_not_found)?;
        if chan.stasis.is_none() {
            return Err(AriError::not_in_stasis());
        }
        Ok(chan)
    }

    /// `POST /channels/{id}/answer`.
    pub(crate) fn answer(&mut self, now: Now, id: &str) -> Result<(), AriError> {
        self.stasis_chan(id)?;
        self.set_state(now, id, ChanState::Up);
        Ok(())
    }

    /// `POST /channels/{id}/ring`: ringback to the caller (no event).
    pub(crate) fn ring(&mut self, id: &str) -> Result<(), AriError> {
        self.stasis_chan(id)?;
        if let Some(caller) = self.caller_of(id)
            && let Some(rec) = self.world.truth().caller_mut(caller)
        {
            rec.heard_ringing = true;
        }
        Ok(())
    }

    /// `POST /channels/{id}/continue`: `StasisEnd`, then the dialplan runs `Wait()` and hangs
    /// up (the samples' `[after-stasis]`), or, without a target, the next priority hangs up.
    pub(crate) fn continue_in_dialplan(
        &mut self,
        now: Now,
        id: &str,
        to: ContinueTo,
    ) -> Result<(), AriError> {
        self.stasis_chan(id)?;
        if self.channels.get(id).is_some_and(|c| c.bridge.is_some()) {
            self.leave_bridge(now, id);
        }
        self.stop_channel_playbacks(now, id);
        // `/continue` does not stop music on hold: it plays on in the dialplan until the
        // channel hangs up (sample 10). The caller hears it where starq's app is gone.
        if let Some(caller) = self.caller_of(id)
            && self.channels.get(id).is_some_and(|c| c.moh.is_some())
            && let Some(rec) = self.world.truth().caller_mut(caller)
        {
            rec.moh_after_stasis = true;
        }
        self.emit_chan(now, id, |channel| Event::StasisEnd { channel });
        let Some(chan) = self.channels.get_mut(id) else { return Ok(()) };
        chan.stasis = None;
        let targeted = to.context.is_some() || to.extension.is_some();
        // As `ast_ari_channels_continue_in_dialplan`: a new context without an extension
        // starts at `s`; a priority alone stays in place; nothing at all is the next priority.
        if let Some(ext) = to.extension.or_else(|| to.context.as_ref().map(|_| "s".to_owned())) {
            chan.dialplan.exten = ext;
        }
        if let Some(ctx) = to.context {
            chan.dialplan.context = ctx;
        }
        chan.dialplan.priority =
            to.priority.unwrap_or(if targeted { 1 } else { chan.dialplan.priority + 1 });
        let (ctx, exten, priority) =
            (chan.dialplan.context.clone(), chan.dialplan.exten.clone(), chan.dialplan.priority);
        let serial = chan.serial;
        if let Some(caller) = self.caller_of(id) {
            let ms = self.ms(now);
            let outcome =
                Outcome::Continued { context: ctx.clone(), exten: exten.clone(), priority };
            let vars = self.channels.get(id).map(|c| c.vars.clone()).unwrap_or_default();
            let mut truth = self.world.truth();
            if let Some(rec) = truth.caller_mut(caller).filter(|r| r.outcome.is_none()) {
                rec.left_with = vars;
            }
            truth.end_caller(caller, ms, outcome);
        }
        let wait = if targeted {
            let note = format!("Continued from Stasis into {ctx} {exten}");
            self.dialplan_step(now, id, "NoOp", &note);
            let secs = self.cfg.continue_wait.as_secs().to_string();
            self.dialplan_step(now, id, "Wait", &secs);
            self.cfg.continue_wait
        } else {
            Duration::ZERO
        };
        self.at(now, wait, Step::DialplanDone { chan: id.to_owned(), serial });
        Ok(())
    }

    fn dialplan_step(&mut self, now: Now, id: &str, app: &str, data: &str) {
        if let Some(c) = self.channels.get_mut(id) {
            if c.dialplan.app_name == "NoOp" || c.dialplan.app_name == "Wait" {
                c.dialplan.priority += 1;
            }
            c.set_app(app, data);
        }
        self.emit_chan(now, id, |channel| Event::ChannelDialplan {
            dialplan_app: app.to_owned(),
            dialplan_app_data: data.to_owned(),
            channel,
        });
    }

    /// `POST /channels/{id}/move`: to another app, or `ApplicationMoveFailed` if it is not
    /// active (the channel stays where it was).
    pub(crate) fn move_channel(
        &mut self,
        now: Now,
        id: &str,
        app: &str,
        args: Vec<String>,
    ) -> Result<(), AriError> {
        self.stasis_chan(id)?;
        if !self.apps.active(app) {
            self.emit_chan(now, id, |channel| Event::ApplicationMoveFailed {
                destination: app.to_owned(),
                args,
                channel,
            });
            return Ok(());
        }
        self.emit_chan(now, id, |channel| Event::StasisEnd { channel });
        if let Some(c) = self.channels.get_mut(id) {
            c.stasis = None;
        }
        if let Some(caller) = self.caller_of(id)
            && let Some(rec) = self.world.truth().caller_mut(caller)
        {
            rec.app = app.to_owned();
        }
        self.enter_stasis(now, id, app, args);
        Ok(())
    }

    /// `GET /channels/{id}/variable`.
    pub(crate) fn get_var(&self, id: &str, name: &str) -> Result<String, AriError> {
        let chan = self.channels.get(id).ok_or_else(AriError::channel_not_found)?;
        chan.vars
            .get(name)
            .cloned()
            .ok_or_else(|| AriError::not_found("Provided variable was not found"))
    }

    /// `POST /channels/{id}/variable`.
    pub(crate) fn post_var(
        &mut self,
        now: Now,
        id: &str,
        name: &str,
        value: &str,
    ) -> Result<(), AriError> {
        if name.is_empty() {
            return Err(AriError::bad_request("Variable name is required"));
        }
        self.channels.get(id).ok_or_else(AriError::channel_not_found)?;
        self.set_var(now, id, name, value);
        Ok(())
    }

    /// `POST /channels/{id}/dtmf`: digits sent towards the far end (no event).
    pub(crate) fn send_dtmf(&self, id: &str, dtmf: &str) -> Result<(), AriError> {
        if dtmf.is_empty() {
            return Err(AriError::bad_request("DTMF is required"));
        }
        self.stasis_chan(id).map(|_| ())
    }

    /// `GET /applications/{app}`.
    pub(crate) fn application(&self, app: &str) -> Option<wire::Application> {
        let channel_ids: Vec<String> = self
            .channels
            .values()
            .filter(|c| c.recipients().contains(app))
            .map(|c| c.id.clone())
            .collect();
        let bridge_ids: Vec<String> =
            self.bridges.values().filter(|b| b.subs.contains(app)).map(|b| b.id.clone()).collect();
        let endpoint_ids: Vec<String> = self
            .endpoint_subs
            .iter()
            .filter(|(_, apps)| apps.contains(app))
            .map(|(e, _)| e.clone())
            .collect();
        let exists = self.apps.active(app) || !channel_ids.is_empty() || !bridge_ids.is_empty();
        exists.then(|| wire::Application {
            name: app.to_owned(),
            channel_ids,
            bridge_ids,
            endpoint_ids,
            device_names: Vec::new(),
            events_allowed: Vec::new(),
            events_disallowed: Vec::new(),
        })
    }

    /// `GET /applications`.
    pub(crate) fn applications(&self) -> Vec<wire::Application> {
        self.apps.known.iter().filter_map(|a| self.application(a)).collect()
    }

    /// `POST`/`DELETE /applications/{app}/subscription` for `channel:` and `bridge:` sources.
    pub(crate) fn subscribe(
        &mut self,
        app: &str,
        sources: &[String],
        on: bool,
    ) -> Result<wire::Application, AriError> {
        if self.application(app).is_none() {
            return Err(AriError::not_found("Application not found"));
        }
        for source in sources {
            let (kind, id) = source.split_once(':').ok_or_else(|| {
                AriError::bad_request(format!("Invalid event source URI scheme: {source}"))
            })?;
            let subs = match kind {
                "channel" => self.channels.get_mut(id).map(|c| &mut c.subs),
                "bridge" => self.bridges.get_mut(id).map(|b| &mut b.subs),
                "endpoint" => {
                    self.subscribe_endpoint(app, id, on)?;
                    continue;
                }
                "deviceState" => continue,
                _ => {
                    return Err(AriError::bad_request(format!(
                        "Invalid event source URI scheme: {kind}"
                    )));
                }
            };
            let subs = subs.ok_or_else(|| AriError::new(422, "Unable to find event source"))?;
            if on {
                subs.insert(app.to_owned());
            } else if !subs.remove(app) {
                return Err(AriError::conflict("Application not subscribed to event source"));
            }
        }
        self.application(app).ok_or_else(|| AriError::not_found("Application not found"))
    }

    /// `endpoint:<tech>[/<resource>]` subscriptions (422 for an unknown endpoint).
    fn subscribe_endpoint(&mut self, app: &str, endpoint: &str, on: bool) -> Result<(), AriError> {
        let known = !endpoint.contains('/')
            || self.endpoints().iter().any(|e| endpoint_name(e) == endpoint);
        if !known {
            return Err(AriError::new(422, "Unable to find event source"));
        }
        if on {
            self.endpoint_subs.entry(endpoint.to_owned()).or_default().insert(app.to_owned());
            return Ok(());
        }
        let removed = self.endpoint_subs.get_mut(endpoint).is_some_and(|apps| apps.remove(app));
        self.endpoint_subs.retain(|_, apps| !apps.is_empty());
        if removed {
            Ok(())
        } else {
            Err(AriError::conflict("Application not subscribed to event source"))
        }
    }

    /// `EndpointStateChange` for a phone to the apps subscribed to it or its technology.
    pub(crate) fn endpoint_changed(&mut self, now: Now, endpoint: &str) {
        let tech = endpoint.split('/').next().unwrap_or_default();
        let mut to = self.endpoint_subs.get(endpoint).cloned().unwrap_or_default();
        to.extend(self.endpoint_subs.get(tech).into_iter().flatten().cloned());
        if to.is_empty() {
            return;
        }
        let Some(snapshot) = self.endpoints().into_iter().find(|e| endpoint_name(e) == endpoint)
        else {
            return;
        };
        self.emit(now, &to, &Event::EndpointStateChange { endpoint: snapshot });
    }

    /// Scripted phones as ARI endpoints: online when this node can reach them, with their
    /// live channels on this node.
    pub(crate) fn endpoints(&self) -> Vec<wire::Endpoint> {
        let scripts = self.world.phones().scripts();
        scripts
            .into_iter()
            .map(|p| {
                let (tech, resource) =
                    p.endpoint.split_once('/').unwrap_or(("PJSIP", p.endpoint.as_str()));
                let reaches = p.nodes.as_ref().is_none_or(|n| n.contains(&self.index));
                let online = !p.unreachable && reaches;
                let ours = |c: &&super::model::Chan| {
                    matches!(&c.role, Role::Outgoing { phone: Some(ph), .. } if *ph == p.endpoint)
                };
                let channel_ids = self
                    .channels
                    .values()
                    .filter(ours)
                    .map(|c| c.id.clone())
                    .collect();
                wire::Endpoint {
                    technology: tech.to_owned(),
                    resource: resource.to_owned(),
                    state: Some(if online {
                        wire::EndpointState::Online
                    } else {
                        wire::EndpointState::Offline
                    }),
                    channel_ids,
                }
            })
            .collect()
    }

    /// Every channel, as `GET /channels` lists them.
    pub(crate) fn list_channels(&self) -> Vec<wire::Channel> {
        self.channels.values().map(|c| c.wire()).collect()
    }

    /// Whether a channel is an inbound caller's leg (for scripts and tests).
    pub(crate) fn is_caller_leg(&self, id: &str) -> bool {
        self.channels.get(id).is_some_and(|c| matches!(c.role, Role::CallerLeg { .. }))
    }
}

fn endpoint_name(e: &wire::Endpoint) -> String {
    format!("{}/{}", e.technology, e.resource)
}
