//! `GET /ari/events`: the event WebSocket. Registers the connection as consumer of each app
//! named in `app=` (taking them over from any earlier connection), then forwards the node's
//! events with Asterisk's write timeout: a reader slower than that is closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::Node;
use super::params::Params;
use super::rest_ws;
use crate::error::AriError;
use crate::node::apps::{Apps, Consumer};
use crate::server::Shared;
use crate::wire::{Envelope, Event};

/// Upgrades to the event WebSocket. The apps are registered before the upgrade answer goes
/// out, as Asterisk does, so no event raised after the client sees `101` is lost.
pub(super) async fn events(
    State(s): Node,
    RawQuery(q): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut apps = match Params::parse(q.as_deref(), b"") {
        Ok(p) => p.list("app"),
        Err(e) => return e.into_response(),
    };
    // `app=q,q` must not make the connection replace itself.
    let mut seen = std::collections::BTreeSet::new();
    apps.retain(|a| seen.insert(a.clone()));
    if apps.is_empty() {
        return AriError::bad_request("Missing param 'app'").into_response();
    }
    let conn = s.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel::<String>(s.cfg.ws_queue.max(1));
    let kill = s.kill.child_token();
    register(&s, &apps, Consumer { conn, tx: tx.clone(), kill: kill.clone() });
    let failed = s.clone();
    let link = Link { conn, tx, kill, app: apps[0].clone() };
    upgrade
        .protocols(["ari"])
        .on_failed_upgrade(move |_| failed.op(|st, _| st.apps.unregister_conn(conn)))
        .on_upgrade(move |socket| run(s, link, rx, socket))
}

/// One connection's identity and its way back to itself.
pub(super) struct Link {
    pub(super) conn: u64,
    pub(super) tx: mpsc::Sender<String>,
    pub(super) kill: tokio_util::sync::CancellationToken,
    /// The app named in `RESTResponse` events (the first the connection holds).
    pub(super) app: String,
}

/// Takes each app over for `consumer`; a previous holder gets `ApplicationReplaced`.
pub(super) fn register(shared: &Shared, apps: &[String], consumer: Consumer) {
    shared.op(|st, now| {
        for app in apps {
            let Some(old) = st.apps.register(app, consumer.clone()) else { continue };
            let stamp = now.stamp();
            let env = Envelope {
                event: &Event::ApplicationReplaced {},
                timestamp: &stamp,
                asterisk_id: &st.cfg.asterisk_id,
                application: app,
            };
            if let Ok(text) = serde_json::to_string(&env) {
                Apps::send_to(&old, text);
            }
        }
    });
}

async fn run(shared: Arc<Shared>, link: Link, mut rx: mpsc::Receiver<String>, socket: WebSocket) {
    let Link { conn, tx, kill, app } = link;
    let (mut sink, mut stream) = socket.split();
    let reader_kill = kill.clone();
    let reader_shared = shared.clone();
    // Serves REST requests in order and notices the close (the library answers pings).
    let reader = tokio::spawn(async move {
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Text(text)) => {
                    let Some(resp) =
                        rest_ws::serve_frame(&reader_shared, &app, text.as_str()).await
                    else {
                        continue;
                    };
                    if tx.send(resp).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        reader_kill.cancel();
    });
    let timeout = shared.cfg.ws_write_timeout;
    loop {
        tokio::select! {
            () = kill.cancelled() => break,
            msg = rx.recv() => {
                let Some(text) = msg else { break };
                match tokio::time::timeout(timeout, sink.send(Message::Text(text.into()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::warn!(conn, "WebSocket write timed out: closing");
                        break;
                    }
                }
            }
        }
    }
    reader.abort();
    shared.op(|st, _| st.apps.unregister_conn(conn));
}
