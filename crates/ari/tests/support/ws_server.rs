//! A scripted ARI event WebSocket server on 127.0.0.1 for the stream tests.
//!
//! Each accepted connection runs the next script in the queue (or, when the queue is empty,
//! just reads, which answers pings). After its actions a connection keeps reading until the
//! client goes away, counting the pings it receives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use starq_ari::{Credentials, NodeConfig};

/// One step of a connection's script.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer the upgrade with this HTTP status instead of accepting (first action only).
    Reject(u16),
    /// Send one text frame.
    Send(String),
    /// Send many text frames back to back and record how long that took.
    SendMany(Vec<String>),
    /// Wait (still not reading).
    Sleep(Duration),
    /// Neither read nor write for this long: pings go unanswered.
    Silent(Duration),
    /// Send a close frame and end the connection.
    Close,
    /// Drop the TCP connection without a close frame.
    Abort,
}

#[derive(Default)]
struct Shared {
    scripts: Mutex<VecDeque<Vec<Action>>>,
    connections: AtomicUsize,
    ended: AtomicUsize,
    pings: AtomicUsize,
    requests: Mutex<Vec<(Option<String>, Option<String>)>>,
    send_many: Mutex<Vec<Duration>>,
}

/// A running server; it stops when the test's runtime ends.
pub struct WsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl WsServer {
    /// Starts a server whose n-th connection runs `scripts[n]`.
    pub async fn start(scripts: Vec<Vec<Action>>) -> WsServer {
        let shared = Arc::new(Shared::default());
        *shared.scripts.lock().unwrap() = scripts.into();
        let app = Router::new().route("/ari/events", get(upgrade)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        WsServer { addr, shared }
    }

    /// A node pointing at this server.
    pub fn node(&self, app: &str) -> NodeConfig {
        NodeConfig {
            ari_url: format!("http://{}/ari", self.addr),
            credentials: Credentials::new("starq", "ws-secret-pw"),
            app: app.to_owned(),
        }
    }

    /// Connections accepted (upgraded) so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections that have ended.
    pub fn ended(&self) -> usize {
        self.shared.ended.load(Ordering::SeqCst)
    }

    /// Pings received so far.
    pub fn pings(&self) -> usize {
        self.shared.pings.load(Ordering::SeqCst)
    }

    /// (Authorization header, query) of every upgrade request, rejected ones included.
    pub fn requests(&self) -> Vec<(Option<String>, Option<String>)> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Durations of completed `SendMany` actions.
    pub fn send_many_durations(&self) -> Vec<Duration> {
        self.shared.send_many.lock().unwrap().clone()
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let authorization =
        headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.requests.lock().unwrap().push((authorization, query));
    let script = shared.scripts.lock().unwrap().pop_front().unwrap_or_default();
    if let Some(Action::Reject(status)) = script.first() {
        return StatusCode::from_u16(*status).unwrap().into_response();
    }
    ws.on_upgrade(move |socket| run(socket, script, shared))
}

async fn run(mut socket: WebSocket, script: Vec<Action>, shared: Arc<Shared>) {
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let finished = play(&mut socket, script, &shared).await;
    if !finished {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Ping(_) = message {
                shared.pings.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    shared.ended.fetch_add(1, Ordering::SeqCst);
}

/// Plays the actions; true when the connection is over.
async fn play(socket: &mut WebSocket, script: Vec<Action>, shared: &Shared) -> bool {
    for action in script {
        match action {
            Action::Reject(_) => {}
            Action::Send(text) => {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return true;
                }
            }
            Action::SendMany(frames) => {
                let started = Instant::now();
                for text in frames {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return true;
                    }
                }
                shared.send_many.lock().unwrap().push(started.elapsed());
            }
            Action::Sleep(duration) | Action::Silent(duration) => {
                tokio::time::sleep(duration).await
            }
            Action::Close => {
                let _ = socket.send(Message::Close(None)).await;
                return true;
            }
            Action::Abort => return true,
        }
    }
    false
}
