//! # starq-engine: the shell around the routing core
//!
//! One starq instance: what it decides, as a deterministic state machine ([`Instance`], pure
//! like the routing core [`starq_core::engine::Engine`] it wraps: no clock, no I/O, no global
//! randomness, driven by seeded simulation in `starq-dst`), and the shell that connects it to
//! the world: the event stream and REST client of every node it owns (through `starq-ari`),
//! the shared store (a [`Store`]), signals and the API. The shell (`driver`) only moves inputs
//! and outputs and reads the clock; it decides nothing. Nothing here holds state the store does
//! not also hold, except what Asterisk itself can tell again (which channel is a caller, which
//! an agent leg, what starq noted on each caller's channel).
//!
//! | module | owns |
//! |---|---|
//! | [`args`] | the `Stasis(starq,queue=…)` arguments, parsed strictly |
//! | [`config`] | `starq.toml`, validated into typed settings |
//! | [`phone`] | agent feature codes from a phone (`Stasis(starq,agent=…)`): arguments, the agent, the decision |
//! | [`translate`] | ARI events → core inputs; which channel is what |
//! | `execute` | core commands → ARI requests, one executor per node |
//! | `lanes` | which of a node's requests may go out: in order per call, calls side by side |
//! | [`inbound`] | Asterisk's connections to starq (persistent outbound WebSocket): listener, handshake bounds, credentials, which tenure takes a node's connection |
//! | [`instance`] | what an instance decides, as a pure state machine: nodes owned, leases, reconcile, drain |
//! | `driver` | moves inputs and outputs between the instance machine and the world; no policy |
//! | [`health`] | what the instance tells a supervisor: store, drain, nodes |
//! | [`placement`] | which live instance owns which node (rendezvous hashing) |

#![forbid(unsafe_code)]

pub mod args;
pub mod config;
mod driver;
mod execute;
pub mod health;
pub mod inbound;
pub mod instance;
mod lanes;
pub mod phone;
pub mod placement;
pub mod translate;

pub use health::{Health, NodeHealth};
pub use inbound::InboundSettings;
pub use instance::Instance;

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::engine::Input;
use starq_core::shared::Presence;
use starq_core::{AgentId, NodeId, Time};
use starq_store::{Store, StoreError};
use thiserror::Error;
use tokio::sync::mpsc;

/// One Asterisk node to own.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The node's name in starq.
    pub id: NodeId,
    /// How to reach its ARI.
    pub ari: starq_ari::NodeConfig,
}

/// Instance settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This instance's name in node leases.
    pub instance: String,
    /// How long a node lease lasts unless renewed (renewed every third of it).
    pub lease_ttl: Duration,
    /// Seed of the core's random draws and the reconnect jitter.
    pub seed: u64,
    /// A node whose event stream stays down this long is lost: its calls end, its agents are
    /// released (checked on every lease renewal).
    pub node_down_after: Duration,
    /// On shutdown, how long ringing agent legs may go on ringing (an answer is still bridged)
    /// before the instance leaves anyway.
    pub drain_grace: Duration,
    /// Most agent legs created per second on one node: a burst of offers (a queue's worth of
    /// agents logging in at once) reaches Asterisk as a steady flow, not a spike.
    pub originates_per_sec: u32,
    /// Where the nodes that connect to starq (Asterisk's persistent outbound WebSocket) find
    /// this instance, and which nodes they are; `None` when every node is dialled.
    pub inbound: Option<InboundSettings>,
}

impl Settings {
    /// Settings with the defaults of `starq.toml`.
    pub fn new(instance: impl Into<String>) -> Self {
        Settings {
            instance: instance.into(),
            lease_ttl: Duration::from_secs(3),
            seed: 1,
            node_down_after: Duration::from_secs(5),
            drain_grace: Duration::from_secs(10),
            originates_per_sec: 200,
            inbound: None,
        }
    }
}

/// Where agents' presence (logged in, paused and why) is read back from when an instance finds
/// the store without it: a Redis restarted empty or failed over to an empty replica, a single
/// box restarted with its embedded store. The reports database is one
/// (`starq_report::PresenceTable`); without any, agents log in again.
pub trait PresenceRecord: Send + Sync + 'static {
    /// Every agent's presence as last recorded.
    fn recall(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Presence>, String>> + Send + '_>>;
}

/// Why the shell stopped or could not start.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node's ARI settings are invalid.
    #[error(transparent)]
    AriConfig(#[from] starq_ari::ConfigError),
    /// The address for Asterisk's connections cannot be listened on.
    #[error("cannot listen for Asterisk's event connections on {listen}: {reason}")]
    Listen {
        /// The address.
        listen: std::net::SocketAddr,
        /// The I/O error.
        reason: String,
    },
}

/// Sends API inputs (agent login, pause, priority, withdraw) to a running shell, and reads
/// its figures.
#[derive(Clone, Debug)]
pub struct ShellHandle {
    api: mpsc::Sender<Input>,
    agents: Arc<Mutex<BTreeSet<AgentId>>>,
    latency: Arc<Mutex<DispatchLatency>>,
    health: Arc<Mutex<Health>>,
    inbound: Option<std::net::SocketAddr>,
}

impl ShellHandle {
    /// The address Asterisk's connections are taken on, if any (the port chosen, when
    /// [`InboundSettings::listen`] asked for port 0).
    pub fn inbound_addr(&self) -> Option<std::net::SocketAddr> {
        self.inbound
    }

    /// Hands an input to the engine; `false` if the shell has stopped.
    pub async fn send(&self, input: Input) -> bool {
        self.api.send(input).await.is_ok()
    }

    /// Whether the agent is configured.
    pub fn knows_agent(&self, agent: &AgentId) -> bool {
        self.agents.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(agent)
    }

    /// The instance's health now.
    pub fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Dispatch latency so far: (p50, p99, agent legs dialled).
    pub fn dispatch_latency(&self) -> Option<(Duration, Duration, u64)> {
        self.latency.lock().unwrap_or_else(|p| p.into_inner()).percentiles()
    }

    /// Dispatch latency since the last call of this method, then starts afresh (for
    /// measurements in steps).
    pub fn take_dispatch_latency(&self) -> Option<(Duration, Duration, u64)> {
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *latency).percentiles()
    }
}

/// Dispatch latency: from the input that made an offer possible (a caller arriving, an agent
/// freed) reaching the shell, to the agent leg's request leaving for Asterisk. The most recent
/// samples are kept.
#[derive(Debug, Default)]
pub struct DispatchLatency {
    recent: VecDeque<Duration>,
    total: u64,
}

impl DispatchLatency {
    const KEPT: usize = 100_000;

    fn record(&mut self, sample: Duration) {
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(sample);
        self.total += 1;
    }

    fn percentiles(&self) -> Option<(Duration, Duration, u64)> {
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        (!sorted.is_empty()).then(|| (at(0.5), at(0.99), self.total))
    }
}

/// Starts the shell over `nodes` and returns a handle and the task running it until
/// `shutdown` completes and the instance has drained.
pub async fn start<S: Store>(
    store: Arc<S>,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    nodes: Vec<NodeSpec>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(ShellHandle, tokio::task::JoinHandle<Result<(), EngineError>>), EngineError> {
    let (signals_tx, signals) = mpsc::channel(1);
    tokio::spawn(async move {
        shutdown.await;
        _ = signals_tx.send(()).await;
    });
    start_with_signals(store, queues, agents, nodes, settings, signals, None).await
}

/// [`start`], told of each SIGTERM or SIGINT by `signals`: the first drains, the second exits
/// at once; agents' presence is recalled from `presence` when the store is found without it.
/// Returns once the instance has joined (its nodes taken, its configuration installed); a
/// store that cannot be used then is an error.
pub async fn start_with_signals<S: Store>(
    store: Arc<S>,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    nodes: Vec<NodeSpec>,
    settings: Settings,
    signals: mpsc::Receiver<()>,
    presence: Option<Arc<dyn PresenceRecord>>,
) -> Result<(ShellHandle, tokio::task::JoinHandle<Result<(), EngineError>>), EngineError> {
    let configuration = Configuration::File { queues, agents };
    start_configured(store, configuration, nodes, settings, signals, presence).await
}

/// Where an instance's queues and agents come from.
#[derive(Debug)]
pub enum Configuration {
    /// Fixed for the instance's life (`starq.toml`, tests).
    File {
        /// Queues.
        queues: Vec<QueueConfig>,
        /// Agents.
        agents: Vec<AgentConfig>,
    },
    /// The catalog in SQL as it changes (its watcher's channel): each new revision is followed
    /// at once, without a restart.
    Catalog(tokio::sync::watch::Receiver<Arc<config::Catalog>>),
}

/// [`start_with_signals`], with its queues and agents from `configuration`.
pub async fn start_configured<S: Store>(
    store: Arc<S>,
    configuration: Configuration,
    nodes: Vec<NodeSpec>,
    settings: Settings,
    signals: mpsc::Receiver<()>,
    presence: Option<Arc<dyn PresenceRecord>>,
) -> Result<(ShellHandle, tokio::task::JoinHandle<Result<(), EngineError>>), EngineError> {
    let (queues, agents, catalog) = match configuration {
        Configuration::File { queues, agents } => (queues, agents, None),
        Configuration::Catalog(mut rx) => {
            let first = Arc::clone(&rx.borrow_and_update());
            (first.queues.clone(), first.agents.clone(), Some((rx, first)))
        }
    };
    let known = Arc::new(Mutex::new(agents.iter().map(|a| a.id.clone()).collect()));
    let (events_tx, events) = mpsc::channel(driver::EVENT_BUFFER);
    let (answers_tx, answers) = mpsc::channel(driver::INPUT_BUFFER);
    let (api_tx, api) = mpsc::channel(driver::INPUT_BUFFER);
    let latency = Arc::new(Mutex::new(DispatchLatency::default()));
    let health = Arc::new(Mutex::new(Health::default()));
    let shared = driver::Shared {
        latency: Arc::clone(&latency),
        health: Arc::clone(&health),
        agents: Arc::clone(&known),
    };
    let apps = nodes.iter().map(|n| (n.id.clone(), n.ari.app.clone()));
    let now = driver::now(Time::ZERO);
    let mut instance = Instance::new(settings.clone(), apps, queues, agents, now);
    let catalog = catalog.map(|(rx, first)| {
        // The revision started with, so that only later ones count as changes.
        instance.handle(now, instance::Input::Configure(first));
        rx
    });
    let inlets = driver::Inlets { signals, events, answers, api, catalog };
    let outlets = driver::Outlets { events: events_tx, answers: answers_tx, presence };
    let mut driver =
        driver::Driver::new(instance, store, nodes, settings, inlets, outlets, shared)?;
    let inbound = driver.inbound_addr();
    let handle = ShellHandle { api: api_tx, agents: known, latency, health, inbound };
    if !driver.run_until(true).await? {
        // Signalled while joining: nothing to drain.
        let task = tokio::spawn(async { Ok(()) });
        return Ok((handle, task));
    }
    let task = tokio::spawn(async move { driver.run_until(false).await.map(drop) });
    Ok((handle, task))
}
