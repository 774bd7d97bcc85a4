//! At the most verbose logging a service can be run with (`RUST_LOG=trace`, with `log` records
//! of dependencies such as tungstenite and reqwest bridged into `tracing`, as `starq`'s binary
//! does), an event WebSocket handshake (accepted and rejected) and a REST request log neither
//! the ARI password nor the `Authorization` value. Its own test binary: the subscriber and the
//! `log` bridge are global.

mod support;

use std::time::Duration;

use starq_ari::connect_events;
use starq_ari::{AriClient, ConnectionState, EventStreamConfig, RestLimits, StreamItem};
use support::rest_server::RestServer;
use support::ws_server::{Action, WsServer};
use tracing_subscriber::util::SubscriberInitExt as _;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_trace_logs() {
    let logs = support::LogCapture::default();
    // Global, with the `log` bridge (tungstenite logs through `log`), like the binary's.
    logs.subscriber().try_init().expect("first subscriber of this test binary");
    let frame = r#"{"type":"Dial","timestamp":"2026-11-22T12:12:31.281+0000","dialstatus":"RINGING","application":"starq"}"#;
    let scripts = vec![vec![Action::Reject(401)], vec![Action::Send(frame.to_owned())]];
    let server = WsServer::start(scripts).await;
    let mut config = EventStreamConfig::new(server.node("starq"), 7);
    config.backoff.initial = Duration::from_millis(10);
    let (mut rx, handle) = connect_events(config).unwrap();
    let mut states = Vec::new();
    let mut events = 0;
    while events == 0 {
        let item = tokio::time::timeout(WAIT, rx.recv()).await.expect("in time").expect("open");
        match item {
            StreamItem::State(state) => states.push(state),
            _ => events += 1,
        }
    }
    handle.shutdown().await;
    assert!(states.iter().any(|s| matches!(s, ConnectionState::Disconnected { .. })));
    assert!(states.contains(&ConnectionState::Connected), "{states:?}");
    let (authorization, _) = server.requests()[1].clone();
    // base64("starq:ws-secret-pw"): the server did get the credentials.
    assert_eq!(authorization.as_deref(), Some("Basic c3RhcnE6d3Mtc2VjcmV0LXB3"));

    let rest = RestServer::start().await;
    let client = AriClient::new(&rest.node("ws-secret-pw"), RestLimits::default()).unwrap();
    client.ping().await.unwrap();

    let logs = logs.text();
    assert!(logs.contains("TRACE"), "trace logging was not captured: {logs}");
    assert!(logs.contains("tungstenite"), "tungstenite's `log` records were not bridged: {logs}");
    assert!(!logs.contains("ws-secret-pw"), "password leaked: {logs}");
    assert!(!logs.contains("c3RhcnE6d3Mtc2VjcmV0LXB3"), "credentials leaked: {logs}");
    assert!(!logs.to_ascii_lowercase().contains("authorization: basic"), "header leaked: {logs}");
}
