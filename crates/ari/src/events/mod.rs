//! The event WebSocket of one node: a stream of [`StreamItem`]s that survives disconnects.
//!
//! # Contract
//! - [`connect_events`] spawns one task per node and returns the receiving end of a bounded
//!   channel plus an [`EventStreamHandle`]. The stream starts with `State(Connecting)` then
//!   `State(Connected)`; events follow in exactly the order Asterisk sent them.
//! - The task pings every `ping_interval` (ARI never pings by itself) and declares the
//!   connection dead when neither a pong nor any frame arrived for `liveness_timeout`. It then
//!   reports `Disconnected` (with the reason and the delay) and reconnects with capped
//!   exponential backoff and seeded jitter, forever, until stopped. A growing `attempt` count
//!   is a node problem for the caller to report.
//! - After every `Connected` the consumer must reconcile (`GET /applications/{app}`,
//!   `/channels`, `/bridges`): Asterisk replays nothing missed while the socket was down.
//! - The reader never waits for the consumer (Asterisk drops sockets whose writes block for
//!   100 ms). When the channel is full, events are dropped and counted
//!   ([`EventStreamHandle::overflow_count`]) and a `Lost` marker takes their place; state
//!   items and `Replaced` are never dropped.
//! - `ApplicationReplaced` for this app ends the stream: `Replaced`, then
//!   `State(Stopped(Replaced))`, then the channel closes. The stream does not reconnect, which
//!   would steal the application back: the caller decides (for example after re-taking the
//!   node's lease) whether to connect again.
//! - Dropping the handle or calling [`EventStreamHandle::shutdown`] closes the WebSocket and
//!   ends the stream; dropping the receiver ends the task.
//!
//! # Accepted streams
//! [`accept_events`] runs the same stream over connections the node opens to starq (Asterisk
//! 22.5+'s persistent outbound WebSocket, `connection_type=persistent`): the caller accepts
//! and upgrades them and hands each in through [`AcceptedConnections`]. Items are the same,
//! with these differences: `Connecting` means waiting for the node's next connection (the node
//! reconnects by itself, so `Disconnected` carries a zero `retry_in` and nothing backs off), and
//! a connection handed in while another is read replaces it (`Disconnected(Superseded)`, then
//! `Connected`): the node holds one connection at a time, so the older one is dead on its side.
//! Pings and the liveness timeout apply as for a dialled stream. After every `Connected` the
//! consumer reconciles as usual: the node flushes what it queued while disconnected, but loses
//! what it wrote to a connection that died.

mod backoff;
mod delivery;
mod handshake;
mod item;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderValue;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use backoff::{Backoff, BackoffConfig};
pub use item::{ConnectionState, DisconnectReason, StopReason, StreamItem};

use crate::config::{ConfigError, NodeConfig};
use crate::rest::node::event_websocket;

/// How to run one node's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamConfig {
    /// The node and application.
    pub node: NodeConfig,
    /// How often to ping.
    pub ping_interval: Duration,
    /// Silence (no pong, no frame) after which the connection is declared dead. Must exceed
    /// `ping_interval`.
    pub liveness_timeout: Duration,
    /// Longest a connect (TCP + upgrade) may take.
    pub connect_timeout: Duration,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Items buffered for the consumer before events are dropped.
    pub buffer: usize,
    /// Seed of the backoff jitter.
    pub seed: u64,
}

impl EventStreamConfig {
    /// Defaults for `node`: ping every 2 s, dead after 6 s of silence, connect within 5 s,
    /// backoff 100 ms to 5 s, 8192 buffered items.
    pub fn new(node: NodeConfig, seed: u64) -> Self {
        EventStreamConfig {
            node,
            ping_interval: Duration::from_secs(2),
            liveness_timeout: Duration::from_secs(6),
            connect_timeout: Duration::from_secs(5),
            backoff: BackoffConfig::default(),
            buffer: 8192,
            seed,
        }
    }
}

/// The receiving end of an event stream.
pub type EventReceiver = mpsc::Receiver<StreamItem>;

/// Controls a running event stream. Dropping it stops the stream.
#[derive(Debug)]
pub struct EventStreamHandle {
    shutdown: CancellationToken,
    state: watch::Receiver<ConnectionState>,
    overflow: Arc<AtomicU64>,
    task: Option<JoinHandle<()>>,
}

impl EventStreamHandle {
    /// The latest connection state.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A watch on the connection state, for health checks that do not read the stream.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Events dropped so far because the consumer fell behind.
    pub fn overflow_count(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Closes the WebSocket and waits for the task to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EventStreamHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the event stream of one node (see the module docs for the contract). Must be called
/// inside a tokio runtime.
pub fn connect_events(
    config: EventStreamConfig,
) -> Result<(EventReceiver, EventStreamHandle), ConfigError> {
    let mut url = event_websocket(&config.node.app).url(&config.node.root_url()?);
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|()| ConfigError::InvalidUrl {
        url: url.to_string(),
        reason: "cannot be turned into a WebSocket URL".to_owned(),
    })?;
    check(&config)?;
    let mut authorization = HeaderValue::from_str(&config.node.credentials.basic_auth_header())
        .map_err(|_| ConfigError::InvalidLimit("credentials must be visible ASCII"))?;
    authorization.set_sensitive(true);

    let source = session::Source::Dial { authorization };
    Ok(start(config, url.to_string(), source))
}

/// A connection the node opened to starq, upgraded to a WebSocket by the caller (with
/// subprotocol `ari`).
pub type AcceptedSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connections accepted from a node, waiting for its stream. At most this many wait at once;
/// the stream takes the newest.
const ACCEPTED_WAITING: usize = 4;

/// Hands the connections a node opens to starq to its stream ([`accept_events`]).
#[derive(Clone, Debug)]
pub struct AcceptedConnections(mpsc::Sender<AcceptedSocket>);

impl AcceptedConnections {
    /// Gives the stream a new connection, which replaces the one it reads, if any. Gives the
    /// socket back if the stream has stopped (or, briefly, when connections come faster than
    /// it takes them).
    #[allow(clippy::result_large_err)] // the socket itself, to close or hand elsewhere
    pub fn hand_in(&self, socket: AcceptedSocket) -> Result<(), AcceptedSocket> {
        self.0.try_send(socket).map_err(|e| e.into_inner())
    }

    /// Whether the stream has stopped (shut down, replaced, or its consumer gone).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Starts the event stream of a node that connects to starq instead of starq to it (see the
/// module docs); `label` names it in logs. Only `config.node.app` of the node is used: to tell
/// `ApplicationReplaced` for this app. Must be called inside a tokio runtime.
pub fn accept_events(
    config: EventStreamConfig,
    label: impl Into<String>,
) -> Result<(EventReceiver, EventStreamHandle, AcceptedConnections), ConfigError> {
    check(&config)?;
    let (sockets_tx, sockets) = mpsc::channel(ACCEPTED_WAITING);
    let (rx, handle) = start(config, label.into(), session::Source::Accept(sockets));
    Ok((rx, handle, AcceptedConnections(sockets_tx)))
}

fn check(config: &EventStreamConfig) -> Result<(), ConfigError> {
    if config.buffer == 0 {
        return Err(ConfigError::InvalidLimit("buffer must be at least 1"));
    }
    if config.ping_interval.is_zero() || config.liveness_timeout <= config.ping_interval {
        return Err(ConfigError::InvalidLimit("liveness_timeout must exceed ping_interval > 0"));
    }
    Ok(())
}

fn start(
    config: EventStreamConfig,
    url: String,
    source: session::Source,
) -> (EventReceiver, EventStreamHandle) {
    let (tx, rx) = mpsc::channel(config.buffer);
    let overflow = Arc::new(AtomicU64::new(0));
    let (state_tx, state_rx) = watch::channel(ConnectionState::Connecting { attempt: 1 });
    let shutdown = CancellationToken::new();
    let session = session::Session {
        config,
        url,
        source,
        next: None,
        delivery: delivery::Delivery::new(tx, overflow.clone()),
        state: state_tx,
        shutdown: shutdown.clone(),
    };
    let task = tokio::spawn(session.run());
    let handle = EventStreamHandle { shutdown, state: state_rx, overflow, task: Some(task) };
    (rx, handle)
}
