//! From the core to ARI: one node's commands, carried out in order by that node's executor
//! task, so the driver never waits on Asterisk. A failure that changes what the core believes
//! (an agent leg that could not be made) comes back as an input; the rest is logged.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use starq_ari::model::ChannelState;
use starq_ari::rest::{BridgeFeature, CreateChannel, DialplanTarget, HangupReason};
use starq_ari::{AriClient, AriError};
use starq_core::NodeId;
use starq_core::engine::{CONNECTED_VARIABLE, ChannelAction, ENTRY_VARIABLE, LegHangup};
use starq_core::shared::Miss;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::instance::{AriCommand, AriOutcome, Input, Listing, Stray};
use crate::lanes::Lanes;
use crate::translate::{DialOrder, LEG_ARG};

/// Lists a node's app once and hands the listing (or why it failed) to the instance.
pub(crate) async fn list_app(
    client: AriClient,
    node: NodeId,
    as_of: u64,
    inputs: mpsc::Sender<Input>,
) {
    let listing = match client.get_application().await {
        Ok(app) => Ok(Listing {
            channels: app.channel_ids.into_iter().collect(),
            bridges: app.bridge_ids.into_iter().collect(),
        }),
        Err(error) => Err(error.to_string()),
    };
    _ = inputs.send(Input::Listed { node, as_of, listing }).await;
}

/// Describes channels found in the app that starq did not know, with the entry starq noted on
/// each ([`ENTRY_VARIABLE`]), and hands them to the instance (those gone meanwhile are left out).
pub(crate) async fn describe_strays(
    client: AriClient,
    node: NodeId,
    channel_ids: Vec<String>,
    inputs: mpsc::Sender<Input>,
) {
    let mut strays = Vec::with_capacity(channel_ids.len());
    for id in channel_ids {
        let channel = match client.get_channel(&id).await {
            Ok(channel) => channel,
            Err(error) => {
                tracing::warn!(%node, channel = %id, %error, "stray channel not read");
                continue;
            }
        };
        let entry = read_note(&client, &node, &id, ENTRY_VARIABLE).await;
        let connected = read_note(&client, &node, &id, CONNECTED_VARIABLE).await;
        strays.push(Stray { channel, entry, connected });
    }
    _ = inputs.send(Input::Strays { node, strays }).await;
}

/// A note starq left on a channel, if any.
async fn read_note(client: &AriClient, node: &NodeId, channel: &str, name: &str) -> Option<String> {
    match client.get_variable(channel, name).await {
        Ok(value) => Some(value).filter(|v| !v.is_empty()),
        Err(AriError::NotFound { .. }) => None,
        Err(error) => {
            tracing::warn!(%node, %channel, variable = name, %error, "stray channel's note not read");
            None
        }
    }
}

/// How long this instance may still act for a node: the end of its lease as last renewed, in
/// ms since the Unix epoch (0 once the node is given up). Asterisk knows nothing of epochs, so
/// this is the fence on the ARI side: an instance frozen past its lease, or cut from the
/// store, sends nothing more to the node, not even what it had queued.
///
/// A request takes time to reach Asterisk, longer when the node is slow: one sent just before
/// the lease ends could land after the next owner has taken over. So requests go out only while
/// more than a `margin` of the lease is left; in the margin they wait for the renewal (which
/// normally comes long before), and they are dropped once the lease is over.
#[derive(Clone, Debug)]
pub(crate) struct Tenure {
    until: Arc<AtomicU64>,
    margin_ms: u64,
}

/// What a [`Tenure`] allows now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    Acting,
    Renewing,
    Over,
}

impl Tenure {
    /// A tenure not begun yet, keeping `margin` in reserve.
    pub(crate) fn new(margin: Duration) -> Self {
        let margin_ms = u64::try_from(margin.as_millis()).unwrap_or(u64::MAX);
        Tenure { until: Arc::new(AtomicU64::new(0)), margin_ms }
    }

    pub(crate) fn until(&self, ms: u64) {
        self.until.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn end(&self) {
        self.until(0);
    }

    #[allow(clippy::disallowed_methods)] // the shell's clock, compared with lease expiries
    fn standing(&self) -> Standing {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(u64::MAX, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let until = self.until.load(Ordering::Relaxed);
        if now >= until {
            Standing::Over
        } else if now + self.margin_ms >= until {
            Standing::Renewing
        } else {
            Standing::Acting
        }
    }

    /// Whether `command` may go out now, waiting through the margin for a renewal. A leg's
    /// hang-up handed over while the tenure lasted goes out even past the lease and the
    /// tenure's end (none is handed over after): the store no longer holds the leg's offer (or
    /// never did), so no other owner can be ringing it, and a leg left up would keep its
    /// agent's phone busy while the agent is offered again.
    async fn holds(&self, command: &AriCommand) -> bool {
        if matches!(command, AriCommand::HangupLeg { .. }) {
            return true;
        }
        loop {
            match self.standing() {
                Standing::Acting => return true,
                Standing::Over => return false,
                Standing::Renewing => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

/// Requests in flight to one node at most: enough that callers arriving together do not queue
/// behind one another, few beside Asterisk's `sessionlimit` (100 HTTP sessions by default).
const IN_FLIGHT: usize = 16;

/// Carries out `commands` against one node until the sender closes: those about one call in the
/// order they came, different calls side by side ([`Lanes`]), creating at most
/// `originates_per_sec` agent legs a second. Only leg creation waits for its slot: bridging,
/// music and hang-ups go out at once, and a leg hung up before its slot is never created.
/// Nothing is sent once the `tenure` is over.
pub(crate) async fn run(
    client: AriClient,
    node: String,
    mut commands: mpsc::Receiver<AriCommand>,
    inputs: mpsc::Sender<Input>,
    originates_per_sec: u32,
    tenure: Tenure,
) {
    let gap = Duration::from_secs(1) / originates_per_sec.max(1);
    let mut next_slot = tokio::time::Instant::now();
    let mut paced: VecDeque<AriCommand> = VecDeque::new();
    let mut lanes = Lanes::new(IN_FLIGHT);
    let mut running: JoinSet<bool> = JoinSet::new();
    let mut lane_of_task: BTreeMap<tokio::task::Id, String> = BTreeMap::new();
    let mut plays = 0u64;
    let mut closed = false;
    loop {
        if closed && lanes.pending() == 0 {
            return;
        }
        let command = tokio::select! {
            biased;
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let (id, alive) = match done {
                    Ok((id, alive)) => (id, alive),
                    Err(error) => (error.id(), true),
                };
                if !alive {
                    return; // The driver is gone.
                }
                let lane = lane_of_task.remove(&id).unwrap_or_default();
                for (lane, command) in lanes.finished(&lane) {
                    plays += 1;
                    let task = spawn_command(&mut running, &client, &node, &inputs, &tenure, command, plays);
                    lane_of_task.insert(task, lane);
                }
                continue;
            }
            () = tokio::time::sleep_until(next_slot), if !paced.is_empty() => {
                next_slot = tokio::time::Instant::now() + gap;
                paced.pop_front().expect("not empty")
            }
            command = commands.recv(), if !closed => match command {
                Some(AriCommand::CreateLeg { .. }) if !paced.is_empty() || tokio::time::Instant::now() < next_slot => {
                    paced.push_back(command.expect("matched"));
                    continue;
                }
                Some(command @ AriCommand::CreateLeg { .. }) => {
                    next_slot = tokio::time::Instant::now() + gap;
                    command
                }
                Some(command) => command,
                None => {
                    // What is queued still goes out; legs waiting for their slot do not.
                    closed = true;
                    paced.clear();
                    continue;
                }
            },
        };
        if let AriCommand::HangupLeg { leg, .. } = &command {
            let doomed = |queued: &AriCommand| matches!(queued, AriCommand::CreateLeg { leg: l, .. } | AriCommand::DialLeg { leg: l, .. } if l == leg);
            paced.retain(|queued| !doomed(queued));
            lanes.drop_waiting(doomed);
        }
        if let Some((lane, command)) = lanes.submit(lane(&command), command) {
            plays += 1;
            let task =
                spawn_command(&mut running, &client, &node, &inputs, &tenure, command, plays);
            lane_of_task.insert(task, lane);
        }
    }
}

/// The lane of a command: its caller's channel, or for an agent leg the leg itself (the caller
/// of a leg found left over is not known, and a leg's own requests are what must stay in order).
fn lane(command: &AriCommand) -> String {
    match command {
        AriCommand::Channel { channel, .. }
        | AriCommand::Refuse { channel }
        | AriCommand::Bridge { channel, .. } => channel.clone(),
        AriCommand::DeleteBridge(bridge) => {
            starq_core::bridged_channel(bridge).unwrap_or(bridge).to_owned()
        }
        AriCommand::CreateLeg { leg, .. }
        | AriCommand::DialLeg { leg, .. }
        | AriCommand::HangupLeg { leg, .. } => leg.clone(),
    }
}

/// Sends one command in a task of its own, once the tenure allows; the task says whether the
/// driver is still there.
fn spawn_command(
    running: &mut JoinSet<bool>,
    client: &AriClient,
    node: &str,
    inputs: &mpsc::Sender<Input>,
    tenure: &Tenure,
    command: AriCommand,
    play: u64,
) -> tokio::task::Id {
    let (client, node, inputs, tenure) =
        (client.clone(), node.to_owned(), inputs.clone(), tenure.clone());
    running
        .spawn(async move {
            if !tenure.holds(&command).await {
                tracing::warn!(%node, ?command, "lease over: command not sent (the next owner acts)");
                return true;
            }
            report(&client, &node, &command, &inputs, play).await
        })
        .id()
}

/// Executes one command; a failed leg creation goes back to the core. `false` once the driver
/// is gone.
async fn report(
    client: &AriClient,
    node: &str,
    command: &AriCommand,
    inputs: &mpsc::Sender<Input>,
    play: u64,
) -> bool {
    // Every request is logged within a span naming the node, the call and, for legs, the agent.
    let span = match command {
        AriCommand::CreateLeg { channel, leg, agent, .. } => {
            tracing::info_span!("ari", %node, call = %channel, %leg, %agent)
        }
        AriCommand::DialLeg { leg, order, .. } => {
            tracing::info_span!("ari", %node, call = %order.caller, %leg)
        }
        AriCommand::Channel { channel, .. }
        | AriCommand::Refuse { channel }
        | AriCommand::Bridge { channel, .. } => {
            tracing::info_span!("ari", %node, call = %channel)
        }
        AriCommand::HangupLeg { leg, .. } => tracing::info_span!("ari", %node, %leg),
        AriCommand::DeleteBridge(bridge) => tracing::info_span!("ari", %node, %bridge),
    };
    let result = execute(client, command, play).instrument(span.clone()).await;
    let _entered = span.enter();
    let outcome = match result {
        Ok(Done::Sent) => return true,
        Ok(Done::LegUp(leg)) => AriOutcome::LegUp(leg),
        Ok(Done::LegExisted(leg)) => AriOutcome::LegExisted(leg),
        Ok(Done::DialEarly(leg, order)) => {
            tracing::debug!(%leg, "leg dialed before it was in the app: dialed again once it is");
            AriOutcome::DialEarly(leg, order)
        }
        Err(error) => {
            tracing::warn!(?command, %error, "ARI command failed");
            let (AriCommand::CreateLeg { reservation, .. }
            | AriCommand::DialLeg { reservation, .. }) = command
            else {
                return true;
            };
            let miss = match error {
                // Asterisk refused the endpoint: the phone cannot be reached from here.
                AriError::BadRequest { .. }
                | AriError::NotFound { .. }
                | AriError::InvalidState { .. } => Miss::Unreachable,
                _ => Miss::Failed,
            };
            AriOutcome::LegFailed { reservation: *reservation, miss }
        }
    };
    inputs.send(Input::Ari { node: NodeId::new(node), outcome }).await.is_ok()
}

/// What a command that went through came to.
enum Done {
    Sent,
    /// The leg to ring had been answered already.
    LegUp(String),
    /// The leg to create existed already.
    LegExisted(String),
    /// The leg to dial was not in the app yet.
    DialEarly(String, DialOrder),
}

async fn execute(client: &AriClient, command: &AriCommand, play: u64) -> Result<Done, AriError> {
    match command {
        AriCommand::Channel { channel, action } => {
            channel_action(client, channel, action, play).await
        }
        AriCommand::CreateLeg { leg, channel, endpoint, .. } => {
            return create_leg(client, leg, channel, endpoint).await;
        }
        AriCommand::DialLeg { leg, order, .. } => return dial_leg(client, leg, order).await,
        AriCommand::Bridge { bridge, channel, leg } => {
            client
                .create_bridge(bridge, &[BridgeFeature::Mixing, BridgeFeature::DtmfEvents], None)
                .await?;
            client.add_channels(bridge, &[channel.as_str(), leg.as_str()], None).await
        }
        AriCommand::HangupLeg { leg, reason } => {
            let reason = match reason {
                LegHangup::AnsweredElsewhere => HangupReason::AnsweredElsewhere,
                LegHangup::Timeout => HangupReason::NoAnswer,
                LegHangup::Cancelled | LegHangup::Normal => HangupReason::Normal,
            };
            ignore_gone(client.hangup(leg, Some(reason)).await)
        }
        AriCommand::DeleteBridge(bridge) => ignore_gone(client.delete_bridge(bridge).await),
        AriCommand::Refuse { channel } => {
            client.set_variable(channel, "STARQ_OUTCOME", "ERROR", None).await?;
            client.continue_in_dialplan(channel, &DialplanTarget::default()).await
        }
    }
    .map(|()| Done::Sent)
}

/// Creates the leg of an offer, in the app, undialed. Asterisk answers before the channel is
/// in the app (`ari_channel_thread` in `res/ari/resource_channels.c` runs `Stasis()` on a
/// thread of its own), so the leg is dialed on its `StasisStart`, never on this answer.
///
/// One offer has one leg id, and Asterisk refuses a second channel with an id in use (409): a
/// leg made before (by an earlier owner after a takeover, or for a notice lost and sent again)
/// is not made twice but dialed as it is ([`Done::LegExisted`]).
async fn create_leg(
    client: &AriClient,
    leg: &str,
    channel: &str,
    endpoint: &str,
) -> Result<Done, AriError> {
    let create = CreateChannel {
        endpoint: endpoint.to_owned(),
        app: client.app().to_owned(),
        app_args: Some(LEG_ARG.to_owned()),
        channel_id: Some(leg.to_owned()),
        originator: Some(channel.to_owned()),
        ..CreateChannel::default()
    };
    match client.create_channel(&create).await {
        Ok(_) => Ok(Done::Sent),
        Err(AriError::Conflict { .. }) => Ok(Done::LegExisted(leg.to_owned())),
        Err(error) => Err(error),
    }
}

/// Dials a leg in the app. Asterisk dials a channel once (a second dial of a channel no longer
/// `Down` is 409), so when an offer is rung again, a dial an earlier owner still had on the
/// wire meets this one instead of ringing the phone twice, in whichever order they land.
async fn dial_leg(client: &AriClient, leg: &str, order: &DialOrder) -> Result<Done, AriError> {
    /// Asterisk's answer to a dial of a channel that exists but has not entered the app yet.
    const NOT_IN_APP: &str = "Channel not in Stasis application";
    let secs = i32::try_from(order.timeout.as_secs().max(1)).unwrap_or(i32::MAX);
    match client.dial(leg, Some(&order.caller), Some(secs)).await {
        Ok(()) => Ok(Done::Sent),
        Err(AriError::Conflict { message, .. }) if message == NOT_IN_APP => {
            Ok(Done::DialEarly(leg.to_owned(), order.clone()))
        }
        // Dialed before: it rings, or it was answered while nobody watched.
        Err(AriError::Conflict { .. }) => {
            let state = client.get_channel(leg).await?.state;
            Ok(if state == ChannelState::Up { Done::LegUp(leg.to_owned()) } else { Done::Sent })
        }
        Err(error) => Err(error),
    }
}

async fn channel_action(
    client: &AriClient,
    channel: &str,
    action: &ChannelAction,
    play: u64,
) -> Result<(), AriError> {
    match action {
        ChannelAction::Answer => client.answer(channel).await,
        ChannelAction::Ring => client.ring(channel).await,
        ChannelAction::StartMoh(class) => client.moh_start(channel, Some(class)).await,
        ChannelAction::StopMoh => ignore_gone(client.moh_stop(channel).await),
        ChannelAction::Play(media) => {
            // Unique per executor: one number per command sent.
            let id = format!("{channel}-p{play}");
            client.play(channel, &id, media, None).await.map(drop)
        }
        ChannelAction::Continue { destination, status } => {
            client.set_variable(channel, "STARQ_OUTCOME", status, None).await?;
            let target =
                destination.as_ref().map_or_else(DialplanTarget::default, |d| DialplanTarget {
                    context: Some(d.context.clone()),
                    extension: Some(d.extension.clone()),
                    priority: i32::try_from(d.priority).ok(),
                    label: None,
                });
            client.continue_in_dialplan(channel, &target).await
        }
        // A caller gone meanwhile needs no note.
        ChannelAction::NoteEntry { queue, step, entered, priority } => {
            let value = format!("{queue},{step},{},{priority}", entered.0);
            ignore_gone(client.set_variable(channel, ENTRY_VARIABLE, &value, None).await)
        }
        ChannelAction::NoteConnected { agent, reservation, since } => {
            let value = format!("{agent},{},{}", reservation.0, since.0);
            ignore_gone(client.set_variable(channel, CONNECTED_VARIABLE, &value, None).await)
        }
        ChannelAction::Hangup => {
            ignore_gone(client.hangup(channel, Some(HangupReason::Normal)).await)
        }
    }
}

/// Hanging up or stopping something already gone is the goal reached, not a failure.
fn ignore_gone(result: Result<(), AriError>) -> Result<(), AriError> {
    match result {
        Err(AriError::NotFound { .. }) => Ok(()),
        other => other,
    }
}
