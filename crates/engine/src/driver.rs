//! The driver: one task owns the core engine and runs it over every node this instance owns.
//!
//! Instances share the nodes: every renewal, each one beats in the store, reads which
//! instances are live, and owns the nodes rendezvous hashing gives it ([`placement`]); a node
//! it no longer wins is handed over (lease released), one it wins is taken as soon as its lease
//! is free, so a dead instance's nodes move once its leases lapse. A node is owned from the
//! lease on; its callers are adopted from the store on every (re)connect of its event stream
//! and every few seconds after (which also repairs what a lost notice left behind); it is given
//! up (disowned) the moment its lease is lost, renewal finds it taken, or another consumer
//! replaces the app, and goes back to standby. What a request of this instance decides for
//! another instance's node travels through that node's inbox in the store.
//!
//! [`placement`]: crate::placement
//!
//! It waits on, in this order of preference: shutdown, node events, results the executors feed
//! back, API inputs, and the core's one deadline (`poll_timeout`). After each input it drains
//! the core's commands: store requests are applied in order and their replies handed straight
//! back; ARI commands go to the node's executor queue; channel bookkeeping is updated before
//! the command leaves, so a late event about a channel starq let go of is not acted on.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starq_ari::{ConnectionState, EventStreamConfig, StreamItem, connect_events};
use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::engine::{ChannelAction, Command, Engine, Input, LegHangup};
use starq_core::shared::{Reply, Request};
use starq_core::{AgentId, CallId, Fence, NodeId, Time};
use starq_store::{AgentStatus, Heartbeat, Lease, Store, StoreError};
use tokio::sync::mpsc;

use crate::execute::{self, AriCommand, Feedback};
use crate::translate::{self, Channels, DialOrder, Step};
use crate::{DispatchLatency, EngineError, Health, NodeHealth, NodeSpec, Settings};

/// Events from all nodes, tagged with their node; bounded, read promptly.
pub(crate) const EVENT_BUFFER: usize = 4096;
/// ARI commands queued per node before the driver waits for its executor.
const COMMAND_BUFFER: usize = 4096;
/// Results fed back by executors, and API inputs, waiting for the driver.
pub(crate) const INPUT_BUFFER: usize = 1024;

/// What the driver shares with the shell's handle: figures and health, updated as it runs.
pub(crate) struct Shared {
    pub(crate) latency: Arc<Mutex<DispatchLatency>>,
    pub(crate) health: Arc<Mutex<Health>>,
}

/// The longest pause between two tries of a store that is away.
const STORE_RETRY_MAX: Duration = Duration::from_secs(1);
/// How often node inboxes are read while other instances are live (and ten times slower
/// while alone, for what a departed instance left).
const INBOX_EVERY: Duration = Duration::from_millis(25);
/// Notices taken from an inbox at once.
const INBOX_BATCH: usize = 256;
/// How often every owned node is reconciled with the store, even without a reconnect.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// What woke the driver.
enum Wake {
    Shutdown,
    Stream(Fence, StreamItem),
    Input(Input),
    Feedback(Feedback),
    Timer,
    Renew,
    Inbox,
    Reconcile,
}

struct NodeRuntime {
    /// Until when the executor may act for the node (the lease's end).
    tenure: execute::Tenure,
    spec: NodeSpec,
    client: starq_ari::AriClient,
    commands: mpsc::Sender<AriCommand>,
    lease: Lease,
    stream: starq_ari::EventStreamHandle,
    /// Since when the event stream is down, if it is.
    down_since: Option<Instant>,
    /// The core was told the node is down (its calls ended); it must be owned anew on return.
    reported_down: bool,
}

/// The running shell: the engine, the store, and a runtime per node.
pub(crate) struct Driver<S> {
    engine: Engine,
    store: Arc<S>,
    channels: Channels,
    nodes: BTreeMap<NodeId, NodeRuntime>,
    /// Nodes this instance does not own now: another instance's, or its own waiting for the
    /// previous owner's lease to lapse.
    standby: BTreeMap<NodeId, NodeSpec>,
    /// Live instances at the last heartbeat, sorted.
    live: Vec<String>,
    /// The configuration this instance installed, to install again in a store that lost it.
    configuration: (Vec<QueueConfig>, Vec<AgentConfig>),
    /// Inbox reads skipped while alone.
    inbox_skips: u32,
    /// Where node event streams deliver.
    events: mpsc::Sender<(Fence, StreamItem)>,
    settings: Settings,
    last_now: Time,
    /// When the input being handled arrived: dispatch latency runs from there to a Dial.
    received: Instant,
    shared: Shared,
    /// Why the store is away, while it is: routing is paused until it answers again.
    store_error: Option<String>,
    draining: bool,
    feedback: mpsc::Sender<Feedback>,
    /// Passes over the agents' rests (see `follow_rests`).
    rest_passes: Arc<std::sync::Mutex<RestPasses>>,
}

/// Whether a pass over the agents' rests runs, and whether another was asked for meanwhile:
/// the nodes taken over together (at start, or from one dead instance) share one more pass.
#[derive(Default)]
struct RestPasses {
    running: bool,
    again: bool,
}

/// A mutex's value; a panic elsewhere while it was held leaves a value still fit to use.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads the rest of each of `agents` and hands those resting to the engine
/// ([`Input::AgentResting`]); false when the store or the driver went away first.
async fn follow_rests_once<S: Store>(
    store: &S,
    feedback: &mpsc::Sender<Feedback>,
    agents: &[AgentId],
) -> bool {
    for agent in agents {
        let until = match store.agent(agent).await {
            Ok(Some(view)) => match view.status {
                AgentStatus::WrapUp(until) | AgentStatus::Retry(until) => until,
                _ => continue,
            },
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "agents' rests not read");
                return false;
            }
        };
        let resting = Input::AgentResting { agent: agent.clone(), until };
        if feedback.send(Feedback::Input(resting)).await.is_err() {
            return false;
        }
    }
    true
}

/// Wall-clock time for the core, never going backwards. The one place the shell reads a clock.
#[allow(clippy::disallowed_methods)]
fn wall_clock(last: Time) -> Time {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)).max(last)
}

impl<S: Store> Driver<S> {
    pub(crate) async fn start(
        store: Arc<S>,
        engine: Engine,
        nodes: Vec<NodeSpec>,
        settings: Settings,
        events: mpsc::Sender<(Fence, StreamItem)>,
        feedback: mpsc::Sender<Feedback>,
        shared: Shared,
    ) -> Result<Self, EngineError> {
        let mut driver = Driver {
            engine,
            store,
            channels: Channels::default(),
            nodes: BTreeMap::new(),
            standby: BTreeMap::new(),
            live: Vec::new(),
            configuration: (Vec::new(), Vec::new()),
            inbox_skips: 0,
            events,
            settings,
            last_now: Time::ZERO,
            received: Instant::now(),
            shared,
            store_error: None,
            draining: false,
            feedback,
            rest_passes: Arc::default(),
        };
        driver.live = driver.beat().await?.live;
        for spec in nodes {
            if driver.wins(&spec.id) {
                driver.try_own(spec).await?;
            } else {
                driver.standby.insert(spec.id.clone(), spec);
            }
        }
        driver.publish_health();
        Ok(driver)
    }

    /// Installs configuration in the store and acts on the offers it makes possible.
    pub(crate) async fn reconfigure(
        &mut self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
    ) -> Result<(), EngineError> {
        let now = self.now();
        let notices = self.store.reconfigure(queues, agents, now).await?;
        self.configuration = (queues.to_vec(), agents.to_vec());
        self.engine.handle(now, Input::Notices(notices));
        self.follow_rests();
        self.drain().await
    }

    /// Has this engine end the rests the store holds for the configured agents (wrap-up, retry,
    /// leg teardown). The engine that began a rest ends it with a timer of its own, so a rest
    /// begun by an instance that died, or by this one before a restart, would never end. Read
    /// in the background (one store read per agent) at start and at every takeover; asked for
    /// while a pass runs, one more pass follows it (a rest may have begun behind the running
    /// one). Ending a rest twice is harmless (the second is stale).
    fn follow_rests(&self) {
        {
            let mut passes = lock(&self.rest_passes);
            if passes.running {
                passes.again = true;
                return;
            }
            passes.running = true;
        }
        let (store, feedback) = (Arc::clone(&self.store), self.feedback.clone());
        let agents: Vec<AgentId> = self.configuration.1.iter().map(|a| a.id.clone()).collect();
        let passes = Arc::clone(&self.rest_passes);
        tokio::spawn(async move {
            loop {
                let read_all = follow_rests_once(&*store, &feedback, &agents).await;
                let mut passes = lock(&passes);
                if !read_all || !passes.again {
                    *passes = RestPasses::default();
                    return;
                }
                passes.again = false;
            }
        });
    }

    /// Installs this instance's configuration again in a store found without one (a Redis
    /// restarted empty, or a replica promoted before it had it), before nodes are owned anew
    /// there. Queues and memberships come back; what only the store held (agents logged in or
    /// paused, counters) is lost with it, and callers are taken in again from Asterisk.
    async fn restore_configuration(&mut self) {
        tracing::error!(
            "the store lost its configuration (Redis restarted empty?): configured again; \
             agents log in again, and waiting callers are taken in again from Asterisk"
        );
        let (queues, agents) = self.configuration.clone();
        let now = self.now();
        match self.store.reconfigure(&queues, &agents, now).await {
            Ok(notices) => self.engine.handle(now, Input::Notices(notices)),
            Err(error) => tracing::warn!(%error, "configuration not restored: next heartbeat"),
        }
    }

    fn now(&mut self) -> Time {
        self.last_now = wall_clock(self.last_now);
        self.last_now
    }

    /// Takes the node's lease if it is free, then connects its event stream and starts its
    /// executor; a node another instance holds goes to standby.
    async fn try_own(&mut self, spec: NodeSpec) -> Result<(), EngineError> {
        let now = self.now();
        let acquired = self
            .store
            .acquire_lease(&spec.id, &self.settings.instance, now, self.settings.lease_ttl)
            .await?;
        let Some(lease) = acquired else {
            if !self.standby.contains_key(&spec.id) {
                tracing::info!(node = %spec.id, "node owned by another instance: standing by");
            }
            self.standby.insert(spec.id.clone(), spec);
            return Ok(());
        };
        self.standby.remove(&spec.id);
        tracing::info!(node = %spec.id, epoch = %lease.epoch, "node owned");
        let client = starq_ari::AriClient::new(&spec.ari, starq_ari::RestLimits::default())?;
        let (mut stream, handle) =
            connect_events(EventStreamConfig::new(spec.ari.clone(), self.settings.seed))?;
        // Items carry the tenure they belong to: a stream kept open past its tenure (during a
        // handover) is told apart from the next one.
        let (tenure, events) = (lease.fence(), self.events.clone());
        tokio::spawn(async move {
            while let Some(item) = stream.recv().await {
                if events.send((tenure.clone(), item)).await.is_err() {
                    return;
                }
            }
        });
        let (tx, rx) = mpsc::channel(COMMAND_BUFFER);
        let rate = self.settings.originates_per_sec;
        // Half a lease in reserve: renewals come every third of one.
        let tenure = execute::Tenure::new(self.settings.lease_ttl / 2);
        tenure.until(lease.expires.0);
        tokio::spawn(execute::run(
            client.clone(),
            spec.id.to_string(),
            rx,
            self.feedback.clone(),
            rate,
            tenure.clone(),
        ));
        self.engine.handle(now, Input::NodeOwned { fence: lease.fence() });
        // A node taken over may leave agents resting with nobody to end their rest.
        self.follow_rests();
        let runtime = NodeRuntime {
            tenure,
            spec: spec.clone(),
            client,
            commands: tx,
            lease,
            stream: handle,
            // Down until its event stream connects: a node that never does is lost in time.
            down_since: Some(Instant::now()),
            reported_down: false,
        };
        self.nodes.insert(spec.id, runtime);
        Ok(())
    }

    /// Runs until `shutdown` completes.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<(Fence, StreamItem)>,
        mut feedback: mpsc::Receiver<Feedback>,
        mut api: mpsc::Receiver<Input>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        tokio::pin!(shutdown);
        let renew_every = self.settings.lease_ttl / 3;
        let mut renew = tokio::time::interval(renew_every);
        let mut inbox = tokio::time::interval(INBOX_EVERY);
        inbox.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut anti_entropy = tokio::time::interval(RECONCILE_EVERY);
        anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            if let Some(deadline) = drain_until
                && (self.engine.legs_ringing() == 0 || tokio::time::Instant::now() >= deadline)
            {
                break;
            }
            let now = self.now();
            let mut sleep =
                self.engine.poll_timeout().map_or(Duration::from_secs(3600), |t| t.since(now));
            if let Some(deadline) = drain_until {
                sleep = sleep.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            }
            let wake = tokio::select! {
                biased;
                () = &mut shutdown, if drain_until.is_none() => Wake::Shutdown,
                Some((tenure, item)) = events.recv() => Wake::Stream(tenure, item),
                Some(feedback) = feedback.recv() => Wake::Feedback(feedback),
                Some(input) = api.recv() => Wake::Input(input),
                () = tokio::time::sleep(sleep) => Wake::Timer,
                _ = renew.tick() => Wake::Renew,
                _ = inbox.tick() => Wake::Inbox,
                _ = anti_entropy.tick() => Wake::Reconcile,
            };
            // Dispatch latency runs from here: the input is in hand.
            self.received = Instant::now();
            match wake {
                Wake::Shutdown => {
                    // Stop taking callers, let ringing legs finish (answered ones get
                    // bridged) within the grace, then go: waiting callers stay in Asterisk for
                    // the instances that remain.
                    tracing::info!(ringing = self.engine.legs_ringing(), "draining");
                    let now = self.now();
                    self.engine.handle(now, Input::Drain);
                    self.draining = true;
                    drain_until = Some(tokio::time::Instant::now() + self.settings.drain_grace);
                }
                Wake::Stream(tenure, item) => self.on_stream(tenure, item).await,
                Wake::Input(input) | Wake::Feedback(Feedback::Input(input)) => {
                    let now = self.now();
                    self.engine.handle(now, input);
                }
                Wake::Feedback(Feedback::Present { node, channels, bridges, as_of }) => {
                    self.on_present(node, channels, bridges, as_of).await;
                }
                Wake::Feedback(Feedback::LegUp { node, leg }) => {
                    let steps = self.channels.leg_up(&leg);
                    self.apply_steps(&node, steps);
                }
                Wake::Feedback(Feedback::LegExisted { node, leg }) => {
                    let steps = self.channels.leg_existed(&leg);
                    self.apply_steps(&node, steps);
                }
                Wake::Feedback(Feedback::DialEarly { node, leg, order }) => {
                    let steps = self.channels.dial_early(&leg, order);
                    self.apply_steps(&node, steps);
                }
                Wake::Feedback(Feedback::Strays { node, strays }) => {
                    if let Some(runtime) = self.nodes.get(&node) {
                        let app = runtime.spec.ari.app.clone();
                        for stray in strays {
                            let (channel, entry) = (&stray.channel, stray.entry.as_deref());
                            let steps = self.channels.stray(&node, channel, &app, entry);
                            if !steps.is_empty() {
                                tracing::warn!(%node, channel = %channel.id, resumed = entry.is_some(), "caller found in the app without its StasisStart: taken in now");
                            }
                            self.apply_steps(&node, steps);
                        }
                    }
                }
                Wake::Timer => {
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                Wake::Renew => {
                    match self.beat().await {
                        Ok(beat) => {
                            self.live = beat.live;
                            if !beat.configured {
                                self.restore_configuration().await;
                            }
                        }
                        Err(error) => tracing::warn!(%error, "heartbeat failed"),
                    }
                    self.renew_leases().await;
                    self.report_dead_nodes();
                    if drain_until.is_none() {
                        self.rebalance().await;
                    }
                }
                Wake::Inbox => self.read_inboxes().await,
                Wake::Reconcile => {
                    let connected: Vec<NodeId> = self
                        .nodes
                        .iter()
                        .filter(|(_, r)| r.down_since.is_none())
                        .map(|(n, _)| n.clone())
                        .collect();
                    for node in connected {
                        self.reconcile(&node);
                    }
                }
            }
            self.drain().await?;
            self.publish_health();
        }
        self.release_nodes().await;
        Ok(())
    }

    async fn on_stream(&mut self, tenure: Fence, item: StreamItem) {
        if self.nodes.get(&tenure.node).is_none_or(|r| r.lease.epoch != tenure.epoch) {
            return; // From a tenure over since (a node given up, or handed over).
        }
        let node = &tenure.node;
        match item {
            StreamItem::Event(event) => {
                let call = event.channel().map(|c| c.id.clone()).unwrap_or_default();
                let _span = tracing::debug_span!("event", %node, %call, kind = event.event_type())
                    .entered();
                let steps = self.channels.translate(node, &event);
                self.apply_steps(node, steps);
            }
            StreamItem::DecodeError(error) => {
                tracing::warn!(%node, %error, "undecodable ARI event skipped")
            }
            StreamItem::Lost { dropped } => {
                tracing::error!(%node, dropped, "ARI events lost: consumer fell behind; reconciling");
                self.reconcile(node);
            }
            StreamItem::Replaced => {
                tracing::error!(%node, "another consumer took the ARI app over: giving the node up");
                self.disown(node, true).await;
            }
            StreamItem::State(ConnectionState::Connected) => {
                tracing::info!(%node, "ARI events connected");
                if let Some(runtime) = self.nodes.get_mut(node) {
                    runtime.down_since = None;
                    if std::mem::take(&mut runtime.reported_down) {
                        tracing::info!(%node, "node is back");
                        let fence = runtime.lease.fence();
                        let now = self.now();
                        self.engine.handle(now, Input::NodeOwned { fence });
                    }
                }
                self.reconcile(node);
            }
            StreamItem::State(state) => {
                if let ConnectionState::Disconnected { .. } = state {
                    if let Some(runtime) = self.nodes.get_mut(node) {
                        runtime.down_since.get_or_insert_with(Instant::now);
                    }
                    tracing::warn!(%node, ?state, "ARI event stream down");
                } else {
                    tracing::info!(%node, ?state, "ARI event stream");
                }
            }
        }
    }

    fn apply_steps(&mut self, node: &NodeId, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Input(input) => {
                    let now = self.now();
                    self.engine.handle(now, input);
                }
                Step::Refuse { channel, reason } => {
                    tracing::warn!(%node, %channel, %reason, "caller refused: bad Stasis arguments");
                    self.send(node, AriCommand::Refuse { channel });
                }
                Step::DeleteBridge(bridge) => self.send(node, AriCommand::DeleteBridge(bridge)),
                Step::Dial { leg, reservation, order } => {
                    self.send(node, AriCommand::DialLeg { leg, reservation, order });
                }
                Step::HangupLeg(leg) => {
                    let reason = LegHangup::Normal;
                    self.send(node, AriCommand::HangupLeg { leg, reason });
                }
            }
        }
    }

    /// What the node's app holds, after a (re)connect: follow the callers the store holds for
    /// the node (an earlier owner's, or this instance's before a restart), repair what was
    /// missed while the stream was down, and let the core adopt the callers it does not follow.
    async fn on_present(
        &mut self,
        node: NodeId,
        channels: std::collections::BTreeSet<String>,
        bridges: std::collections::BTreeSet<String>,
        as_of: u64,
    ) {
        if !self.nodes.contains_key(&node) {
            return;
        }
        let calls = match self.store.node_calls(&node).await {
            Ok(calls) => calls,
            Err(error) => {
                tracing::warn!(%node, %error, "cannot read the node's callers: adopting later");
                self.reconcile_later(&node);
                return;
            }
        };
        let unbridged = self.channels.adopt(&node, &calls, &channels, &bridges);
        let steps = self.channels.reconcile(&node, &channels, &bridges, as_of);
        let (stored, in_app, missed) = (calls.len(), channels.len(), steps.len());
        if missed > 0 {
            tracing::info!(%node, stored, in_app, missed, "reconciled with the node and the store");
        } else {
            tracing::debug!(%node, stored, in_app, "reconciled with the node and the store");
        }
        self.apply_steps(&node, steps);
        // Legs of adopted callers are the core's to end; the rest is stray.
        let adopted_legs: std::collections::BTreeSet<String> =
            calls.iter().map(|c| format!("{}-r", c.call)).collect();
        let mut strays = self.channels.strays(&node, &channels);
        strays.retain(|id| {
            !id.rsplit_once("-r")
                .is_some_and(|(call, _)| adopted_legs.contains(&format!("{call}-r")))
        });
        // A call still bridged in Asterisk that the store no longer knows (a Redis that lost
        // its last writes) is left to talk: neither its caller queued again nor its agent leg
        // hung up.
        let talking: std::collections::BTreeSet<String> = bridges
            .iter()
            .filter_map(|b| b.strip_suffix("-bridge"))
            .map(|caller| CallId::of_channel(&node, caller, 0).to_string())
            .chain(bridges.iter().filter_map(|b| b.strip_suffix("-bridge")).map(str::to_owned))
            .collect();
        strays.retain(|id| {
            let caller = id.rsplit_once("-r").map_or(id.as_str(), |(call, _)| call);
            let base = caller.rsplit_once("-q").map_or(caller, |(c, _)| c);
            !talking.contains(id) && !talking.contains(caller) && !talking.contains(base)
        });
        let now = self.now();
        self.engine.handle(now, Input::Adopt { node: node.clone(), calls, present: channels });
        let Some(client) = self.nodes.get(&node).map(|r| r.client.clone()) else { return };
        for (channel, leg) in unbridged {
            tracing::info!(%node, %channel, %leg, "connected call found without its bridge: bridged");
            let bridge = translate::bridge_of(&channel);
            self.send(&node, AriCommand::Bridge { bridge, channel, leg });
        }
        let (legs, others): (Vec<String>, Vec<String>) =
            strays.into_iter().partition(|id| translate::is_leg(&node, id));
        for id in legs {
            // A leg whose call ended while no one watched (those of adopted callers are
            // already being hung up).
            tracing::info!(%node, leg = %id, "leftover agent leg hung up");
            self.send(&node, AriCommand::HangupLeg { leg: id, reason: LegHangup::Cancelled });
        }
        if !others.is_empty() {
            tokio::spawn(execute::fetch_strays(
                client,
                node.clone(),
                others,
                self.feedback.clone(),
            ));
        }
    }

    /// Reconciles again in a second (the store was away).
    fn reconcile_later(&self, node: &NodeId) {
        if let Some(runtime) = self.nodes.get(node) {
            let (client, node, feedback) =
                (runtime.client.clone(), node.clone(), self.feedback.clone());
            let as_of = self.channels.generation();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                execute::fetch_present(client, node, as_of, feedback).await;
            });
        }
    }

    /// Stops acting for a node at once: its stream closes, the core forgets its callers (the
    /// next owner adopts them), and it goes back to standby. With `release`, the lease is given
    /// up too, so another instance need not wait for it to lapse.
    async fn disown(&mut self, node: &NodeId, release: bool) {
        let Some(runtime) = self.nodes.remove(node) else { return };
        runtime.tenure.end();
        runtime.stream.shutdown().await;
        if release && let Err(error) = self.store.release_lease(&runtime.lease).await {
            tracing::warn!(%node, %error, "node lease not released");
        }
        let now = self.now();
        self.engine.handle(now, Input::NodeDisowned { node: node.clone() });
        self.channels.forget_node(node);
        self.standby.insert(node.clone(), runtime.spec);
    }

    /// Gives a node up for the instance that now wins it: like [`Driver::disown`] with the lease
    /// released, except that the app stays held (its WebSocket open, its events ignored) until
    /// the new owner connects or two leases pass. Callers entering `Stasis()` meanwhile are
    /// then kept in the app, and the new owner takes them in when it reconciles, instead of
    /// Asterisk sending them to the dialplan's fallback for want of a consumer.
    async fn hand_over(&mut self, node: &NodeId) {
        let Some(runtime) = self.nodes.remove(node) else { return };
        runtime.tenure.end();
        if let Err(error) = self.store.release_lease(&runtime.lease).await {
            tracing::warn!(%node, %error, "node lease not released");
        }
        let now = self.now();
        self.engine.handle(now, Input::NodeDisowned { node: node.clone() });
        self.channels.forget_node(node);
        self.standby.insert(node.clone(), runtime.spec);
        let (stream, hold) = (runtime.stream, self.settings.lease_ttl * 2);
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            stream.shutdown().await;
        });
    }

    /// Beats in the store and reads which instances are live.
    async fn beat(&mut self) -> Result<Heartbeat, StoreError> {
        let now = self.now();
        self.store.heartbeat(&self.settings.instance, now, self.settings.lease_ttl).await
    }

    /// Whether rendezvous hashing over the live instances gives this instance the node.
    fn wins(&self, node: &NodeId) -> bool {
        crate::placement::owner(node.as_str(), &self.live) == Some(self.settings.instance.as_str())
    }

    /// Hands over the nodes another live instance now wins, and takes those this instance wins
    /// (a dead instance's, once its leases lapse). Skipped while this instance's own heartbeat
    /// is not seen: it would hand everything over.
    async fn rebalance(&mut self) {
        if !self.live.contains(&self.settings.instance) {
            return;
        }
        let lost: Vec<NodeId> = self.nodes.keys().filter(|n| !self.wins(n)).cloned().collect();
        for node in lost {
            tracing::info!(%node, owner = ?crate::placement::owner(node.as_str(), &self.live), "node handed over to another instance");
            self.hand_over(&node).await;
        }
        let won: Vec<NodeSpec> =
            self.standby.values().filter(|spec| self.wins(&spec.id)).cloned().collect();
        for spec in won {
            let node = spec.id.clone();
            if let Err(error) = self.try_own(spec).await {
                tracing::warn!(%node, %error, "cannot take the node over yet");
            }
        }
    }

    /// Takes the notices other instances left for the nodes this instance owns.
    async fn read_inboxes(&mut self) {
        if self.live.len() <= 1 {
            self.inbox_skips += 1;
            if self.inbox_skips < 10 {
                return;
            }
        }
        self.inbox_skips = 0;
        let fences: Vec<Fence> = self.nodes.values().map(|r| r.lease.fence()).collect();
        for fence in fences {
            match self.store.take_notices(&fence, INBOX_BATCH).await {
                Ok(notices) if notices.is_empty() => {}
                Ok(notices) => {
                    let now = self.now();
                    self.engine.handle(now, Input::Notices(notices));
                }
                Err(StoreError::Fenced { .. }) => {
                    tracing::error!(node = %fence.node, "lost the node's lease to another instance: stopping for it");
                    self.disown(&fence.node, false).await;
                }
                Err(error) => tracing::debug!(node = %fence.node, %error, "inbox not read"),
            }
        }
    }

    /// Asks the node what its app holds; the answer comes back as feedback.
    fn reconcile(&self, node: &NodeId) {
        if let Some(runtime) = self.nodes.get(node) {
            tokio::spawn(execute::fetch_present(
                runtime.client.clone(),
                node.clone(),
                self.channels.generation(),
                self.feedback.clone(),
            ));
        }
    }

    /// A node whose event stream stayed down past `node_down_after` is lost: its calls end
    /// (node-lost) and its agents are freed; it is owned anew when it comes back.
    fn report_dead_nodes(&mut self) {
        let limit = self.settings.node_down_after;
        let dead: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, r)| !r.reported_down && r.down_since.is_some_and(|t| t.elapsed() >= limit))
            .map(|(n, _)| n.clone())
            .collect();
        for node in dead {
            tracing::error!(%node, "node lost: its calls end and its agents are released");
            if let Some(runtime) = self.nodes.get_mut(&node) {
                runtime.reported_down = true;
            }
            let now = self.now();
            self.engine.handle(now, Input::NodeDown { node: node.clone() });
            self.channels.forget_node(&node);
        }
    }

    /// Carries out the core's commands until it has none.
    async fn drain(&mut self) -> Result<(), EngineError> {
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::Store(request) => {
                    let reply = self.apply(request).await?;
                    let now = self.now();
                    self.engine.handle(now, Input::Reply(reply));
                }
                Command::QueryPosition { call } => {
                    // An announcement can do without: a store away costs it, nothing more.
                    let position = match self.store.position(&call).await {
                        Ok(position) => position,
                        Err(StoreError::Unavailable(_)) => None,
                        Err(error) => return Err(error.into()),
                    };
                    let now = self.now();
                    self.engine.handle(now, Input::Position { call, position });
                }
                Command::Channel { node, channel, action } => {
                    if matches!(action, ChannelAction::Continue { .. } | ChannelAction::Hangup)
                        && let Some(bridge) = self.channels.caller_released(&node, &channel)
                    {
                        self.send(&node, AriCommand::DeleteBridge(bridge));
                    }
                    self.send(&node, AriCommand::Channel { channel, action });
                }
                Command::Dial {
                    node, leg, channel, agent, reservation, endpoint, timeout, ..
                } => {
                    self.record_dispatch();
                    let order = DialOrder { caller: channel.clone(), timeout };
                    self.channels.leg_created(&node, &leg, reservation, order);
                    let create =
                        AriCommand::CreateLeg { leg, channel, agent, reservation, endpoint };
                    self.send(&node, create);
                }
                Command::Bridge { node, channel, leg } => {
                    let bridge = translate::bridge_of(&channel);
                    self.channels.bridged(&node, &channel, &bridge);
                    self.send(&node, AriCommand::Bridge { bridge, channel, leg });
                }
                Command::HangupLeg { node, leg, reason } => {
                    self.channels.leg_released(&leg);
                    self.send(&node, AriCommand::HangupLeg { leg, reason });
                }
                Command::Route(notices) => {
                    // Lost here (the store away), an offer is given back by its node owner's
                    // next reconcile.
                    if let Err(error) = self.store.post_notices(notices).await {
                        tracing::warn!(%error, "notices for other instances' nodes not left");
                    }
                }
                Command::NodeFenced { node } => {
                    tracing::error!(%node, "lost the node's lease to another instance: stopping for it");
                    self.disown(&node, false).await;
                }
            }
        }
        Ok(())
    }

    /// Applies a request, waiting for a store that is away: routing pauses (requests must be
    /// applied in order), callers stay on hold in Asterisk, and it resumes where it stopped
    /// when the store answers. Retrying is safe (see [`StoreError::Unavailable`]).
    async fn apply(&mut self, request: Request) -> Result<Reply, EngineError> {
        let mut pause = Duration::from_millis(50);
        loop {
            match self.store.apply(request.clone()).await {
                Ok(reply) => {
                    if let Some(error) = self.store_error.take() {
                        tracing::info!(%error, "store back: routing resumes");
                        self.publish_health();
                    }
                    return Ok(reply);
                }
                Err(StoreError::Unavailable(error)) => {
                    if self.store_error.is_none() {
                        tracing::error!(
                            %error,
                            "store unavailable: routing paused, callers stay on hold"
                        );
                        self.store_error = Some(error);
                        self.publish_health();
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STORE_RETRY_MAX);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Copies the instance's state into the health the handle reads.
    fn publish_health(&self) {
        let mut nodes: std::collections::BTreeMap<String, NodeHealth> =
            self.standby.keys().map(|node| (node.to_string(), NodeHealth::Standby)).collect();
        for (node, runtime) in &self.nodes {
            let state = match (runtime.reported_down, runtime.down_since) {
                (true, _) => NodeHealth::Lost,
                (false, Some(_)) => NodeHealth::Disconnected,
                (false, None) => NodeHealth::Connected,
            };
            nodes.insert(node.to_string(), state);
        }
        let health = Health {
            store_available: self.store_error.is_none(),
            store_error: self.store_error.clone(),
            draining: self.draining,
            callers: self.engine.callers(),
            nodes,
        };
        *lock(&self.shared.health) = health;
    }

    fn record_dispatch(&self) {
        let elapsed = self.received.elapsed();
        lock(&self.shared.latency).record(elapsed);
    }

    fn send(&self, node: &NodeId, command: AriCommand) {
        let Some(runtime) = self.nodes.get(node) else {
            tracing::warn!(%node, ?command, "command for a node this instance does not own");
            return;
        };
        if let Err(error) = runtime.commands.try_send(command) {
            tracing::error!(%node, %error, "ARI command queue full: command dropped");
        }
    }

    async fn renew_leases(&mut self) {
        let now = self.now();
        let ttl = self.settings.lease_ttl;
        let mut lost = Vec::new();
        for (node, runtime) in &mut self.nodes {
            match self.store.renew_lease(&runtime.lease, now, ttl).await {
                Ok(Some(lease)) => {
                    runtime.tenure.until(lease.expires.0);
                    runtime.lease = lease;
                }
                Ok(None) => lost.push(node.clone()),
                Err(error) => tracing::warn!(%node, %error, "node lease not renewed"),
            }
        }
        for node in lost {
            tracing::error!(%node, "node lease lost (lapsed or taken): giving the node up");
            self.disown(&node, false).await;
        }
    }

    async fn release_nodes(&mut self) {
        let now = self.now();
        if let Err(error) = self.store.heartbeat(&self.settings.instance, now, Duration::ZERO).await
        {
            tracing::warn!(%error, "could not leave the live instances");
        }
        for (node, runtime) in std::mem::take(&mut self.nodes) {
            runtime.stream.shutdown().await;
            if let Err(error) = self.store.release_lease(&runtime.lease).await {
                tracing::warn!(%node, %error, "node lease not released");
            }
        }
    }
}
