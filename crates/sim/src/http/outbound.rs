//! The outbound WebSocket (Asterisk 22.5+ `outbound_websocket`, persistent): the node
//! connects to the application with subprotocol `ari`, announces each app with
//! `ApplicationRegistered`, forwards events and serves `RESTRequest` frames. The apps stay
//! registered while the connection is down; events wait in the connection's queue and go out
//! on reconnect, which is retried every `reconnect_interval` for as long as the node lives.
//! As with Asterisk, an event written just before the node notices the drop is lost. With
//! `credentials` set, every attempt carries `Authorization: Basic`, as `websocket_client.conf`'s
//! `username`/`password` make Asterisk send.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use super::rest_ws;
use crate::node::apps::Consumer;
use crate::node::config::OutboundWs;
use crate::server::Shared;
use crate::wire::{Envelope, Event};

/// Keeps the outbound connection up until the node dies.
pub(crate) async fn run(shared: Arc<Shared>, cfg: OutboundWs) {
    let (tx, mut rx) = mpsc::channel::<String>(shared.cfg.ws_queue.max(1));
    let mut registered: Option<CancellationToken> = None;
    loop {
        // (Re)register when a fault or a slow read dropped the registration.
        let kill = match &registered {
            Some(k) if !k.is_cancelled() => k.clone(),
            _ => {
                let kill = shared.kill.child_token();
                let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                let consumer = Consumer { conn, tx: tx.clone(), kill: kill.clone() };
                shared.op(|st, _| {
                    for app in &cfg.apps {
                        st.apps.register(app, consumer.clone());
                    }
                });
                registered = Some(kill.clone());
                kill
            }
        };
        if let Some(socket) = connect(&cfg).await {
            shared.outbound_up.store(true, Ordering::Relaxed);
            pump(&shared, &cfg, socket, &mut rx, &tx, &kill).await;
            shared.outbound_up.store(false, Ordering::Relaxed);
        }
        tokio::select! {
            () = shared.kill.cancelled() => return,
            () = tokio::time::sleep(cfg.reconnect_interval) => {}
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(cfg: &OutboundWs) -> Option<Socket> {
    let mut request = cfg.uri.as_str().into_client_request().ok()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "ari".parse().ok()?);
    if let Some((user, password)) = &cfg.credentials {
        let basic = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        request.headers_mut().insert("Authorization", basic.parse().ok()?);
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Some(socket),
        Err(e) => {
            tracing::debug!(uri = %cfg.uri, %e, "outbound WebSocket connect failed");
            None
        }
    }
}

/// RFC 4648 base64, for the one header that needs it (by hand: a dozen lines, where a crate
/// would be a dependency for the simulator alone).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `ApplicationRegistered` for each app, first thing on a new connection (ahead of any
/// events queued while it was down).
fn announcements(shared: &Shared, cfg: &OutboundWs) -> Vec<String> {
    let stamp = crate::clock::Now::read().stamp();
    cfg.apps
        .iter()
        .filter_map(|app| {
            let env = Envelope {
                event: &Event::ApplicationRegistered {},
                timestamp: &stamp,
                asterisk_id: &shared.cfg.asterisk_id,
                application: app,
            };
            serde_json::to_string(&env).ok()
        })
        .collect()
}

/// Moves events out and REST requests in until the socket or the node goes away.
async fn pump(
    shared: &Arc<Shared>,
    cfg: &OutboundWs,
    socket: Socket,
    rx: &mut mpsc::Receiver<String>,
    tx: &mpsc::Sender<String>,
    kill: &CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let app = cfg.apps.first().cloned().unwrap_or_default();
    let timeout = shared.cfg.ws_write_timeout;
    for text in announcements(shared, cfg) {
        if sink.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            () = kill.cancelled() => return,
            msg = rx.recv() => {
                let Some(text) = msg else { return };
                let frame = sink.send(Message::Text(text.into()));
                let sent = tokio::time::timeout(timeout, frame).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    // try_send: this loop is the queue's only reader, so waiting would deadlock.
                    if let Some(resp) = rest_ws::serve_frame(shared, &app, text.as_str()).await {
                        let _ = tx.try_send(resp);
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
