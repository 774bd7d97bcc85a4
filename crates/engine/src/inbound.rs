//! Asterisk's connections to starq. A node configured with `events = "accept"` holds starq's
//! app through Asterisk's persistent outbound WebSocket (Asterisk 22.5+, `ari.conf`
//! `type=outbound_websocket`, `websocket_client.conf` `connection_type=persistent`): the app
//! stays registered while no starq is connected, so `Stasis()` never fails for want of a
//! consumer, and Asterisk connects to `ws://<[events] listen>/ari/<node>` (through the load
//! balancer in front of the instances) and retries every `reconnect_interval` until one
//! accepts. This module owns the listener, the bounds on handshakes, the check of the node's
//! credentials, and which node's connection is taken for which tenure.
//!
//! # Contract
//! - The driver [`open`](Inbound::open)s a node's door for a tenure with the connections inlet
//!   of that tenure's stream ([`starq_ari::accept_events`]) and [`close`](Inbound::close)s it
//!   when the tenure ends. A connection arriving while the door is open is upgraded (subprotocol
//!   `ari`) and handed to that stream, where it replaces the one before, if any.
//! - Refused before the upgrade, so Asterisk tries again and the load balancer sends the retry
//!   to another instance: `503` for a node whose door is closed (this instance holds no tenure
//!   for it), `404` for a path that names no node of this instance's `events = "accept"`,
//!   `401` for credentials other than the node's ARI `username`/`password`, `503` at once
//!   (without reading the request) while [`InboundSettings::max_handshakes`] upgrades are under
//!   way. An upgrade not done within [`InboundSettings::handshake_timeout`] is dropped.
//! - Dropping the [`Inbound`] stops the listener and every upgrade under way; connections
//!   already handed in close with their streams.
//! - No credential is logged: the `Authorization` header is only compared.
//!
//! Why tungstenite's server handshake rather than axum: it lets each upgrade be bounded in
//! time and number and be refused by the tenure in force when the request is read, on a plain
//! `TcpListener`, and it logs nothing of the request.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use starq_ari::{AcceptedConnections, AcceptedSocket, Credentials};
use starq_core::{Fence, NodeId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::NodeSpec;

/// The path prefix Asterisk's `websocket_client.conf` `uri` uses: `/ari/<node>`.
pub const PATH_PREFIX: &str = "/ari/";

/// Where and how this instance takes the connections of the nodes that connect to it
/// (`[events]` in `starq.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSettings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The nodes that connect (`events = "accept"`), each at `/ari/<node>`.
    pub nodes: BTreeSet<NodeId>,
    /// Upgrades under way at once, at most; a connection past it is refused with 503.
    pub max_handshakes: usize,
    /// Longest an upgrade may take, from the connection's accept to the `101` written.
    pub handshake_timeout: Duration,
}

impl InboundSettings {
    /// Settings listening on `listen` for `nodes`, with the defaults of `starq.toml`: 64
    /// upgrades at once, 5 s each.
    pub fn new(listen: SocketAddr, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        InboundSettings {
            listen,
            nodes: nodes.into_iter().collect(),
            max_handshakes: 64,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// One node's way in.
struct Door {
    node: NodeId,
    credentials: Credentials,
    /// The tenure connections are taken for, and its stream's inlet.
    open: Option<(Fence, AcceptedConnections)>,
    /// A refused credential was logged: once, not on every retry.
    unauthorized_said: bool,
}

type Doors = Arc<Mutex<BTreeMap<String, Door>>>;

/// The listener of one instance; stops when dropped.
pub(crate) struct Inbound {
    doors: Doors,
    local: SocketAddr,
    stop: CancellationToken,
}

/// What the upgrade's answer says, decided when the request is read.
enum Verdict {
    Take { node: NodeId, connections: AcceptedConnections },
    Refuse(StatusCode, &'static str),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inbound {
    /// Listens for the nodes of `settings` (those of `nodes`; their ARI credentials are what
    /// their connections must present). Must be called inside a tokio runtime.
    pub(crate) fn bind(settings: &InboundSettings, nodes: &[NodeSpec]) -> std::io::Result<Self> {
        let doors: BTreeMap<String, Door> = nodes
            .iter()
            .filter(|spec| settings.nodes.contains(&spec.id))
            .map(|spec| {
                let door = Door {
                    node: spec.id.clone(),
                    credentials: spec.ari.credentials.clone(),
                    open: None,
                    unauthorized_said: false,
                };
                (spec.id.to_string(), door)
            })
            .collect();
        let listener = std::net::TcpListener::bind(settings.listen)?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let local = listener.local_addr()?;
        tracing::info!(%local, nodes = ?doors.keys().collect::<Vec<_>>(), "listening for Asterisk's event connections");
        let doors = Arc::new(Mutex::new(doors));
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, Arc::clone(&doors), settings.clone(), stop.clone()));
        Ok(Inbound { doors, local, stop })
    }

    /// The address it listens on (the port chosen, when `listen` asked for port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Takes the node's connections for `tenure`, into its stream's inlet.
    pub(crate) fn open(&self, tenure: Fence, connections: AcceptedConnections) {
        if let Some(door) = lock(&self.doors).get_mut(tenure.node.as_str()) {
            door.open = Some((tenure, connections));
        }
    }

    /// Refuses the node's connections again, if `tenure` is the one they were taken for.
    pub(crate) fn close(&self, tenure: &Fence) {
        if let Some(door) = lock(&self.doors).get_mut(tenure.node.as_str())
            && door.open.as_ref().is_some_and(|(open, _)| open == tenure)
        {
            door.open = None;
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The answer to a connection refused before its request is read (too many upgrades at once).
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

async fn serve(
    listener: TcpListener,
    doors: Doors,
    settings: InboundSettings,
    stop: CancellationToken,
) {
    let handshakes = Arc::new(Semaphore::new(settings.max_handshakes));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, most likely: pause rather than spin.
                tracing::warn!(%error, "accepting an Asterisk connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            tracing::warn!(%peer, limit = settings.max_handshakes, "too many upgrades under way: refused");
            // Not waited for: a peer that does not read gets nothing more.
            _ = tcp.try_write(BUSY);
            continue;
        };
        let (doors, stop) = (Arc::clone(&doors), stop.clone());
        let timeout = settings.handshake_timeout;
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = handshake(tcp, peer, doors, timeout, permit) => {}
            }
        });
    }
}

/// Upgrades one connection, or refuses it, within `timeout`; the permit is held until then.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    doors: Doors,
    timeout: Duration,
    _permit: OwnedSemaphorePermit,
) {
    // Events are small and latency matters more than packet count.
    _ = tcp.set_nodelay(true);
    let mut verdict = None;
    #[allow(clippy::result_large_err)] // tungstenite's callback type
    let callback = |request: &Request, response: Response| {
        let decided = decide(&doors, request);
        let answer = answer(&decided, request, response);
        verdict = Some(decided);
        answer
    };
    let upgrade = tokio_tungstenite::accept_hdr_async(MaybeTlsStream::Plain(tcp), callback);
    let socket: AcceptedSocket = match tokio::time::timeout(timeout, upgrade).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => {
            match &verdict {
                Some(Verdict::Refuse(status, why)) => {
                    tracing::debug!(%peer, %status, why, "Asterisk connection refused");
                }
                _ => tracing::debug!(%peer, %error, "Asterisk connection upgrade failed"),
            }
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, ?timeout, "Asterisk connection upgrade timed out");
            return;
        }
    };
    let Some(Verdict::Take { node, connections }) = verdict else { return };
    match connections.hand_in(socket) {
        Ok(()) => tracing::info!(%node, %peer, "Asterisk connected its event WebSocket"),
        // The tenure ended during the upgrade: the socket closes and Asterisk tries again.
        Err(_socket) => tracing::info!(%node, %peer, "Asterisk connection dropped: tenure over"),
    }
}

/// Who the request is for and whether it is taken.
fn decide(doors: &Doors, request: &Request) -> Verdict {
    let path = request.uri().path();
    let Some(name) = path.strip_prefix(PATH_PREFIX).map(|n| n.trim_end_matches('/')) else {
        return Verdict::Refuse(StatusCode::NOT_FOUND, "not an /ari/<node> path");
    };
    let mut doors = lock(doors);
    let Some(door) = doors.get_mut(name) else {
        return Verdict::Refuse(StatusCode::NOT_FOUND, "no node of this name accepts here");
    };
    let presented = request.headers().get("authorization").map(HeaderValue::as_bytes);
    if !presented.is_some_and(|h| door.credentials.matches_basic_auth(h)) {
        if !std::mem::replace(&mut door.unauthorized_said, true) {
            tracing::warn!(
                node = %door.node,
                user = door.credentials.user(),
                "Asterisk connection refused: its websocket_client.conf username/password are \
                 not the node's ARI credentials in starq.toml"
            );
        }
        return Verdict::Refuse(StatusCode::UNAUTHORIZED, "wrong or no credentials");
    }
    door.unauthorized_said = false;
    match &door.open {
        Some((_, connections)) if !connections.is_closed() => {
            Verdict::Take { node: door.node.clone(), connections: connections.clone() }
        }
        _ => Verdict::Refuse(StatusCode::SERVICE_UNAVAILABLE, "node not owned by this instance"),
    }
}

/// The upgrade's answer: `101` with subprotocol `ari` when offered, or the refusal.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn answer(
    verdict: &Verdict,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    match verdict {
        Verdict::Take { .. } => {
            let offered = request
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim() == "ari");
            if offered {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("ari"));
            }
            Ok(response)
        }
        Verdict::Refuse(status, why) => {
            let mut refusal = ErrorResponse::new(Some(format!("{why}\n")));
            *refusal.status_mut() = *status;
            let headers = refusal.headers_mut();
            headers.insert("connection", HeaderValue::from_static("close"));
            headers.insert("content-length", HeaderValue::from(why.len() + 1));
            if *status == StatusCode::UNAUTHORIZED {
                headers
                    .insert("www-authenticate", HeaderValue::from_static("Basic realm=\"starq\""));
            }
            Err(refusal)
        }
    }
}
