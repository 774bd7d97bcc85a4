//! The driver: moves bytes and time between the [`Instance`] machine and the world, and decides
//! nothing. It reads the clock, waits for the next input (a signal, a node's event, an answer
//! from the store or an ARI request, an API action, a new revision of the catalog) or the
//! machine's deadline, hands it over, then carries out every output: store operations each in
//! a task of its own, ARI requests to the executor of the node's current tenure
//! (`execute::run`), streams opened and closed as told. Nothing here waits on the store or on Asterisk, so signals, events and lease renewals
//! are handled whatever either is doing.
//!
//! A node's events come one of two ways, and [`Output::Attach`] means either: for a dialled
//! node, connect to its `/ari/events`; for a node that connects to starq (`events =
//! "accept"`), open its door in the [`Inbound`] listener for the tenure, so that Asterisk's
//! connections feed the tenure's stream. The items are the same either way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starq_ari::{
    AriClient, EventStreamConfig, EventStreamHandle, StreamItem, accept_events, connect_events,
};
use starq_core::engine::Input as CoreInput;
use starq_core::{AgentId, Epoch, Fence, NodeId, Time};
use starq_store::Store;
use tokio::sync::{mpsc, watch};

use crate::config::Catalog;
use crate::execute;
use crate::inbound::Inbound;
use crate::instance::{AriCommand, Input, Instance, Output};
use crate::{DispatchLatency, EngineError, Health, NodeSpec, PresenceRecord, Settings};

/// Events from all nodes, tagged with their tenure; bounded, read promptly.
pub(crate) const EVENT_BUFFER: usize = 4096;
/// ARI commands queued per node before the executor is considered stuck.
const COMMAND_BUFFER: usize = 4096;
/// Answers from the store, executors and helper tasks, and API inputs, waiting for the driver.
pub(crate) const INPUT_BUFFER: usize = 1024;

/// What the driver shares with the shell's handle: figures, health and the agents configured,
/// updated as it runs.
pub(crate) struct Shared {
    pub(crate) latency: Arc<Mutex<DispatchLatency>>,
    pub(crate) health: Arc<Mutex<Health>>,
    pub(crate) agents: Arc<Mutex<BTreeSet<AgentId>>>,
}

/// Where the driver's inputs come from.
pub(crate) struct Inlets {
    pub(crate) signals: mpsc::Receiver<()>,
    pub(crate) events: mpsc::Receiver<(Fence, StreamItem)>,
    pub(crate) answers: mpsc::Receiver<Input>,
    pub(crate) api: mpsc::Receiver<CoreInput>,
    /// The catalog as it changes, when configuration comes from SQL.
    pub(crate) catalog: Option<watch::Receiver<Arc<Catalog>>>,
}

/// The catalog's next revision; never, without a catalog (or once its watcher stopped).
async fn next_catalog(catalog: &mut Option<watch::Receiver<Arc<Catalog>>>) -> Arc<Catalog> {
    if let Some(rx) = catalog {
        if rx.changed().await.is_ok() {
            return Arc::clone(&rx.borrow_and_update());
        }
        tracing::warn!("the catalog's watcher stopped: configuration no longer followed");
        *catalog = None;
    }
    std::future::pending().await
}

/// Where the driver sends what it starts: node events and answers come back to its inlets.
pub(crate) struct Outlets {
    pub(crate) events: mpsc::Sender<(Fence, StreamItem)>,
    pub(crate) answers: mpsc::Sender<Input>,
    pub(crate) presence: Option<Arc<dyn PresenceRecord>>,
}

/// A node's event stream and executor for one tenure.
struct Attached {
    tenure: execute::Tenure,
    /// `None` once the tenure ended: the executor finishes and stops.
    commands: Option<mpsc::Sender<AriCommand>>,
    stream: EventStreamHandle,
}

/// A configured node: how to reach it, and its tenures still open.
struct NodeLink {
    spec: NodeSpec,
    client: AriClient,
    tenures: BTreeMap<Epoch, Attached>,
    /// The tenure requests go to.
    current: Option<Epoch>,
    /// The node connects to starq (`events = "accept"`) rather than starq to it.
    accepted: bool,
}

/// The running shell: the machine, the store, and a link per node.
pub(crate) struct Driver<S> {
    instance: Instance,
    store: Arc<S>,
    nodes: BTreeMap<NodeId, NodeLink>,
    /// Where the nodes that connect to starq do, if any does.
    inbound: Option<Inbound>,
    settings: Settings,
    inlets: Inlets,
    /// Where event streams deliver.
    events: mpsc::Sender<(Fence, StreamItem)>,
    /// Where store answers, ARI outcomes and listings come back.
    answers: mpsc::Sender<Input>,
    presence: Option<Arc<dyn PresenceRecord>>,
    last_now: Time,
    /// When the input being handled arrived: dispatch latency runs from there to a leg's
    /// creation.
    received: Instant,
    shared: Shared,
}

/// A mutex's value; a panic elsewhere while it was held leaves a value still fit to use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wall-clock time for the machine, never going backwards. The one place the shell reads a
/// clock for it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now(last: Time) -> Time {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)).max(last)
}

impl<S: Store> Driver<S> {
    /// A driver for `instance` over `nodes`; nothing runs until [`Driver::run_until`].
    pub(crate) fn new(
        instance: Instance,
        store: Arc<S>,
        nodes: Vec<NodeSpec>,
        settings: Settings,
        inlets: Inlets,
        outlets: Outlets,
        shared: Shared,
    ) -> Result<Self, EngineError> {
        let Outlets { events, answers, presence } = outlets;
        let inbound = match &settings.inbound {
            Some(inbound) => Some(Inbound::bind(inbound, &nodes).map_err(|e| {
                EngineError::Listen { listen: inbound.listen, reason: e.to_string() }
            })?),
            None => None,
        };
        let accepts = |id: &NodeId| settings.inbound.as_ref().is_some_and(|i| i.nodes.contains(id));
        let mut links = BTreeMap::new();
        for spec in nodes {
            let client = AriClient::new(&spec.ari, starq_ari::RestLimits::default())?;
            let accepted = accepts(&spec.id);
            let link = NodeLink {
                spec: spec.clone(),
                client,
                tenures: BTreeMap::new(),
                current: None,
                accepted,
            };
            links.insert(spec.id, link);
        }
        Ok(Driver {
            instance,
            store,
            nodes: links,
            inbound,
            settings,
            inlets,
            events,
            answers,
            presence,
            last_now: Time::ZERO,
            received: Instant::now(),
            shared,
        })
    }

    /// The address Asterisk's connections are taken on, if any.
    pub(crate) fn inbound_addr(&self) -> Option<std::net::SocketAddr> {
        self.inbound.as_ref().map(Inbound::local_addr)
    }

    fn now(&mut self) -> Time {
        self.last_now = now(self.last_now);
        self.last_now
    }

    /// Runs until the machine exits, or (with `until_started`) until it has joined.
    pub(crate) async fn run_until(&mut self, until_started: bool) -> Result<bool, EngineError> {
        loop {
            if let Some(exit) = self.carry_out()? {
                self.close_all();
                return exit.map(|()| false);
            }
            *lock(&self.shared.health) = self.instance.health();
            if until_started && self.instance.started() {
                return Ok(true);
            }
            let now = self.now();
            let sleep =
                self.instance.poll_timeout().map_or(Duration::from_secs(3600), |t| t.since(now));
            let input = tokio::select! {
                biased;
                Some(()) = self.inlets.signals.recv() => Some(Input::Signal),
                Some((tenure, item)) = self.inlets.events.recv() => Some(Input::Stream { tenure, item }),
                Some(answer) = self.inlets.answers.recv() => Some(answer),
                Some(input) = self.inlets.api.recv() => Some(Input::Api(input)),
                catalog = next_catalog(&mut self.inlets.catalog) => {
                    *lock(&self.shared.agents) = catalog.agents.iter().map(|a| a.id.clone()).collect();
                    Some(Input::Configure(catalog))
                }
                () = tokio::time::sleep(sleep) => None,
            };
            // Dispatch latency runs from here: the input is in hand.
            self.received = Instant::now();
            let now = self.now();
            if let Some(input) = input {
                self.instance.handle(now, input);
            }
            // Deadlines are checked after every input too: a busy stream of events does not
            // hold renewals back.
            if self.instance.poll_timeout().is_some_and(|t| t <= now) {
                self.instance.handle_timeout(now);
            }
        }
    }

    /// Carries out the machine's outputs; `Some` once it exits.
    fn carry_out(&mut self) -> Result<Option<Result<(), EngineError>>, EngineError> {
        while let Some(output) = self.instance.poll_output() {
            match output {
                Output::Store { id, op } => {
                    let (store, answers) = (Arc::clone(&self.store), self.answers.clone());
                    tokio::spawn(async move {
                        let answer = op.perform(&*store).await;
                        _ = answers.send(Input::Store { id, answer }).await;
                    });
                }
                Output::Ari { node, command } => self.send(&node, command),
                Output::Attach { tenure, until } => self.attach(tenure, until)?,
                Output::Extend { tenure, until } => {
                    if let Some(attached) = self.tenure(&tenure) {
                        attached.tenure.until(until.0);
                    }
                }
                Output::EndTenure(tenure) => {
                    if let Some(attached) = self.tenure(&tenure) {
                        attached.tenure.end();
                        attached.commands = None;
                    }
                    let Some(link) = self.nodes.get_mut(&tenure.node) else { continue };
                    if link.current == Some(tenure.epoch) {
                        link.current = None;
                    }
                    // A stream kept open past its tenure keeps a dialled app registered; an
                    // accepted node's app stays registered without any connection, and the
                    // one this instance holds would only keep the next owner from getting
                    // Asterisk's: closed now, so that Asterisk reconnects elsewhere.
                    if link.accepted {
                        self.close_stream(&tenure);
                    }
                }
                Output::CloseStream(tenure) => self.close_stream(&tenure),
                Output::List { node, as_of } => {
                    if let Some(link) = self.nodes.get(&node) {
                        let task = execute::list_app(
                            link.client.clone(),
                            node,
                            as_of,
                            self.answers.clone(),
                        );
                        tokio::spawn(task);
                    }
                }
                Output::DescribeStrays { node, channels } => {
                    if let Some(link) = self.nodes.get(&node) {
                        let (client, answers) = (link.client.clone(), self.answers.clone());
                        tokio::spawn(execute::describe_strays(client, node, channels, answers));
                    }
                }
                Output::RecallPresence => {
                    let (record, answers) = (self.presence.clone(), self.answers.clone());
                    tokio::spawn(async move {
                        let recalled = match record {
                            Some(record) => record.recall().await,
                            None => Ok(Vec::new()),
                        };
                        _ = answers.send(Input::Presence(recalled)).await;
                    });
                }
                Output::Exit { error } => return Ok(Some(error.map_or(Ok(()), |e| Err(e.into())))),
            }
        }
        Ok(None)
    }

    fn tenure(&mut self, tenure: &Fence) -> Option<&mut Attached> {
        self.nodes.get_mut(&tenure.node).and_then(|link| link.tenures.get_mut(&tenure.epoch))
    }

    /// Closes the tenure's event stream (and an accepted node's door, if still the tenure's).
    fn close_stream(&mut self, tenure: &Fence) {
        if let Some(inbound) = &self.inbound {
            inbound.close(tenure);
        }
        let attached =
            self.nodes.get_mut(&tenure.node).and_then(|link| link.tenures.remove(&tenure.epoch));
        if let Some(attached) = attached {
            attached.tenure.end();
            tokio::spawn(async move { attached.stream.shutdown().await });
        }
    }

    /// Opens the node's event stream and executor for a tenure.
    fn attach(&mut self, tenure: Fence, until: Time) -> Result<(), EngineError> {
        let Some(link) = self.nodes.get_mut(&tenure.node) else { return Ok(()) };
        let config = EventStreamConfig::new(link.spec.ari.clone(), self.settings.seed);
        let (mut stream, handle) = match (&self.inbound, link.accepted) {
            (Some(inbound), true) => {
                let label = format!("{}{} (accepted)", crate::inbound::PATH_PREFIX, tenure.node);
                let (stream, handle, connections) = accept_events(config, label)?;
                inbound.open(tenure.clone(), connections);
                (stream, handle)
            }
            _ => connect_events(config)?,
        };
        // Items carry the tenure they belong to: a stream kept open past its tenure (during a
        // hand-over) is told apart from the next one.
        let (tagged, events) = (tenure.clone(), self.events.clone());
        tokio::spawn(async move {
            while let Some(item) = stream.recv().await {
                if events.send((tagged.clone(), item)).await.is_err() {
                    return;
                }
            }
        });
        let (tx, rx) = mpsc::channel(COMMAND_BUFFER);
        // Half a lease in reserve: renewals come every third of one.
        let fence = execute::Tenure::new(self.settings.lease_ttl / 2);
        fence.until(until.0);
        tokio::spawn(execute::run(
            link.client.clone(),
            tenure.node.to_string(),
            rx,
            self.answers.clone(),
            self.settings.originates_per_sec,
            fence.clone(),
        ));
        let attached = Attached { tenure: fence, commands: Some(tx), stream: handle };
        link.tenures.insert(tenure.epoch, attached);
        link.current = Some(tenure.epoch);
        Ok(())
    }

    fn send(&mut self, node: &NodeId, command: AriCommand) {
        if matches!(command, AriCommand::CreateLeg { .. }) {
            lock(&self.shared.latency).record(self.received.elapsed());
        }
        let Some(link) = self.nodes.get(node) else { return };
        let Some(commands) = link
            .current
            .and_then(|epoch| link.tenures.get(&epoch))
            .and_then(|attached| attached.commands.as_ref())
        else {
            tracing::warn!(%node, ?command, "command for a node without a tenure: dropped");
            return;
        };
        if let Err(error) = commands.try_send(command) {
            tracing::error!(%node, %error, "ARI command queue full: command dropped");
        }
    }

    /// Ends every tenure and closes every stream (on exit). The listener stays until the
    /// driver is dropped: it refuses every node from now on.
    fn close_all(&mut self) {
        for link in self.nodes.values_mut() {
            link.current = None;
            for (_, attached) in std::mem::take(&mut link.tenures) {
                attached.tenure.end();
                tokio::spawn(async move { attached.stream.shutdown().await });
            }
        }
    }
}
