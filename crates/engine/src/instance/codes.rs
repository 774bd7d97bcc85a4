//! Agent feature codes in progress: a phone in the app for `Stasis(starq,agent=…)` (see
//! [`crate::phone`]), from its arrival to its return to the dialplan.
//!
//! On arrival the channel is answered; a code whose arguments, agent or PIN fail is confirmed
//! at once. Otherwise the store's view of the agent is read (a toggle decides from it, never
//! from a guess of this instance's), the action goes to the core as an API action does (the
//! same request, journaled the same), and the outcome is confirmed: a prompt played, then, once
//! Asterisk says it finished, the channel continues in the dialplan with `STARQ_OUTCOME` set.
//! A confirmation that never reports its end (a playback refused) continues after
//! [`CONFIRM_LIMIT`]; a channel that hangs up is forgotten.
//!
//! Why wait for `PlaybackFinished` rather than send `/continue` right behind `/play`: Asterisk
//! queues both on the channel's control queue and runs them in order (`play_uri` and
//! `app_control_continue` in `res/stasis`), but the simulator stops a playback on `/continue`,
//! and a wait keeps the confirmation whole whatever the far side does with the order.

use std::collections::BTreeMap;
use std::time::Duration;

use starq_core::engine::{ChannelAction, Input as CoreInput};
use starq_core::{AgentId, NodeId, Time};
use starq_store::StoreError;

use super::{AriCommand, Instance, Purpose, StoreAnswer, StoreOp};
use crate::phone::{self, AgentCode, CodeAction, CodeError, CodeOutcome};
use crate::translate::Step;

/// Longest a feature code waits for its store read, then for its confirmation to finish.
pub(super) const CONFIRM_LIMIT: Duration = Duration::from_secs(15);

/// The feature codes in progress on owned nodes, by node and channel.
#[derive(Debug, Default)]
pub(super) struct Codes {
    codes: BTreeMap<(NodeId, String), Code>,
}

#[derive(Debug)]
struct Code {
    stage: Stage,
    /// When it continues whatever happened.
    until: Time,
}

#[derive(Debug)]
enum Stage {
    /// The agent's view is being read.
    Reading { agent: AgentId, code: AgentCode },
    /// The confirmation plays.
    Confirming(CodeOutcome),
}

impl Codes {
    /// When the first code in progress must continue anyway.
    pub(super) fn next_due(&self) -> Option<Time> {
        self.codes.values().map(|c| c.until).min()
    }
}

impl Instance {
    /// A feature code's channel: arrived, its confirmation played, or gone.
    pub(super) fn on_code_step(&mut self, node: &NodeId, step: Step) {
        match step {
            Step::AgentCode { channel, name, code, stray } => {
                self.on_code(node, channel, &name, code, stray);
            }
            Step::AgentCodePlayed(channel) => {
                let key = (node.clone(), channel);
                if let Some(Code { stage: Stage::Confirming(outcome), .. }) =
                    self.codes.codes.remove(&key)
                {
                    self.send_code_on(node, key.1, outcome);
                }
            }
            Step::AgentCodeGone(channel) => {
                self.codes.codes.remove(&(node.clone(), channel));
            }
            _ => {}
        }
    }

    fn on_code(
        &mut self,
        node: &NodeId,
        channel: String,
        name: &str,
        code: Result<AgentCode, CodeError>,
        stray: bool,
    ) {
        let _span = tracing::info_span!("agent code", %node, %channel).entered();
        self.send(
            node,
            AriCommand::Channel { channel: channel.clone(), action: ChannelAction::Answer },
        );
        let code = match code {
            // Found in a listing: this instance (or one gone) may have acted on it already,
            // and a toggle acted on twice undoes itself. The agent dials again.
            Ok(code)
                if stray && matches!(code.action, CodeAction::Toggle | CodeAction::TogglePause) =>
            {
                tracing::warn!("feature code found after a restart or takeover: not acted on");
                return self.confirm_code(node, channel, CodeOutcome::Unavailable);
            }
            Ok(code) => code,
            Err(error) => {
                tracing::warn!(%error, "agent feature code refused: bad Stasis arguments");
                return self.confirm_code(node, channel, CodeOutcome::Invalid);
            }
        };
        let agents = std::sync::Arc::clone(&self.agents);
        let agent = match phone::find_agent(&agents, code.agent.as_ref(), name) {
            Ok(agent) => agent,
            Err(why) => {
                tracing::warn!(%why, "agent feature code for no agent");
                return self.confirm_code(node, channel, CodeOutcome::NoAgent);
            }
        };
        if !phone::pin_accepted(agent, &code) {
            tracing::warn!(agent = %agent.id, "agent feature code refused: wrong or missing PIN");
            return self.confirm_code(node, channel, CodeOutcome::BadPin);
        }
        let agent = agent.id.clone();
        let purpose = Purpose::Code(node.clone(), channel.clone());
        self.store(purpose, StoreOp::Agent(agent.clone()));
        let until = self.now + CONFIRM_LIMIT;
        let stage = Stage::Reading { agent, code };
        self.codes.codes.insert((node.clone(), channel), Code { stage, until });
    }

    /// The store's view of a feature code's agent: decided, applied, confirmed.
    pub(super) fn on_code_view(
        &mut self,
        node: NodeId,
        channel: String,
        answer: Result<StoreAnswer, StoreError>,
    ) {
        let key = (node, channel);
        let Some(Code { stage: Stage::Reading { agent, code }, .. }) =
            self.codes.codes.remove(&key)
        else {
            return; // Gone meanwhile, or sent on after the limit.
        };
        let (node, channel) = key;
        let _span = tracing::info_span!("agent code", %node, %channel, %agent).entered();
        let config = self.agents.iter().find(|a| a.id == agent).cloned();
        let outcome = match (answer, config) {
            (Ok(StoreAnswer::Agent(Some(view))), Some(config)) => {
                let decision = phone::decide(&code, &config, &view);
                if let Some(action) = decision.action {
                    self.core(CoreInput::Agent { agent, action });
                }
                decision.outcome
            }
            // Removed from the configuration meanwhile.
            (Ok(StoreAnswer::Agent(_)), _) => CodeOutcome::NoAgent,
            (Ok(other), _) => {
                tracing::error!(?other, "unexpected store answer to an agent's view");
                CodeOutcome::Unavailable
            }
            (Err(error), _) => {
                tracing::warn!(%error, "agent feature code: the store cannot be read");
                CodeOutcome::Unavailable
            }
        };
        self.confirm_code(&node, channel, outcome);
    }

    /// Plays the outcome's confirmation; the channel is sent on when it has played.
    fn confirm_code(&mut self, node: &NodeId, channel: String, outcome: CodeOutcome) {
        tracing::info!(%node, %channel, outcome = outcome.status(), "agent feature code");
        let media = outcome.prompts().iter().map(|p| format!("sound:{p}")).collect();
        self.send(
            node,
            AriCommand::Channel { channel: channel.clone(), action: ChannelAction::Play(media) },
        );
        let until = self.now + CONFIRM_LIMIT;
        let code = Code { stage: Stage::Confirming(outcome), until };
        self.codes.codes.insert((node.clone(), channel), code);
    }

    /// Back to the dialplan with the outcome in `STARQ_OUTCOME`, as callers are.
    fn send_code_on(&mut self, node: &NodeId, channel: String, outcome: CodeOutcome) {
        self.channels.code_released(node, &channel);
        let action = ChannelAction::Continue { destination: None, status: outcome.status() };
        self.send(node, AriCommand::Channel { channel, action });
    }

    /// Codes past their limit continue: a read unanswered as unavailable, a confirmation that
    /// never said it ended as it is. Codes of nodes no longer owned are forgotten (the next
    /// owner finds their channels in the app).
    pub(super) fn codes_due(&mut self, now: Time) {
        let due: Vec<(NodeId, String)> = self
            .codes
            .codes
            .iter()
            .filter(|(_, c)| c.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(code) = self.codes.codes.remove(&key) else { continue };
            let (node, channel) = key;
            if self.nodes.get(&node).and_then(super::Node::owned).is_none() {
                continue;
            }
            let outcome = match code.stage {
                Stage::Reading { .. } => CodeOutcome::Unavailable,
                Stage::Confirming(outcome) => outcome,
            };
            self.send_code_on(&node, channel, outcome);
        }
    }
}
