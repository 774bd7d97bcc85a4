//! The event WebSocket against a scripted server on loopback: order, states, reconnect with
//! backoff, ping and dead-connection detection, `ApplicationReplaced`, decode errors, a slow
//! consumer, shutdown.

mod support;

use std::time::Duration;

use starq_ari::events::{BackoffConfig, DisconnectReason, StopReason};
use starq_ari::model::{CallerId, Channel, ChannelState, ChannelVarset, Event};
use starq_ari::{ConnectionState, EventReceiver, EventStreamConfig, StreamItem, connect_events};
use support::ws_server::{Action, WsServer};

const WAIT: Duration = Duration::from_secs(10);

fn channel(id: &str) -> Channel {
    Channel {
        id: id.to_owned(),
        name: format!("PJSIP/{id}-00000001"),
        state: ChannelState::Up,
        protocol_id: "a84d2b1c-0f3e-4d2a-9c1b-7e6f5a4b3c2d@10.0.0.7".to_owned(),
        caller: CallerId { name: "Alice".into(), number: "5551000".into() },
        connected: CallerId { name: "Queue".into(), number: "100".into() },
        accountcode: String::new(),
        dialplan: Default::default(),
        creationtime: "2026-11-22T12:12:31.279+0000".to_owned(),
        language: "en".to_owned(),
        channelvars: None,
        caller_rdnis: None,
        tenantid: None,
    }
}

/// A `ChannelVarset` frame whose value is `seq`, serialized with the model types.
fn varset(seq: u64) -> String {
    padded_varset(seq, 0)
}

/// The same with a channel variable of `pad` bytes, to make frames large.
fn padded_varset(seq: u64, pad: usize) -> String {
    let mut channel = channel("caller-1");
    if pad > 0 {
        let vars = [("PAD".to_owned(), serde_json::Value::String("x".repeat(pad)))];
        channel.channelvars = Some(vars.into_iter().collect());
    }
    let event = Event::ChannelVarset(Box::new(ChannelVarset {
        variable: "SEQ".into(),
        value: seq.to_string(),
        channel: Some(channel),
        application: "starq".into(),
        timestamp: "2026-11-22T12:12:31.281+0000".into(),
        asterisk_id: Some("02:fc:00:00:00:01".into()),
    }));
    serde_json::to_string(&event).unwrap()
}

fn replaced(app: &str) -> String {
    format!(
        r#"{{"type":"ApplicationReplaced","timestamp":"2026-11-22T12:10:04.266+0000",
        "application":"{app}","asterisk_id":"02:fc:00:00:00:01"}}"#
    )
}

fn seq_of(item: &StreamItem) -> Option<u64> {
    match item {
        StreamItem::Event(Event::ChannelVarset(varset)) => varset.value.parse().ok(),
        _ => None,
    }
}

fn config(server: &WsServer) -> EventStreamConfig {
    let mut config = EventStreamConfig::new(server.node("starq"), 7);
    config.ping_interval = Duration::from_millis(100);
    config.liveness_timeout = Duration::from_millis(1000);
    config.connect_timeout = Duration::from_secs(2);
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(160),
        healthy_after: Duration::from_secs(60),
    };
    config
}

async fn next(rx: &mut EventReceiver) -> StreamItem {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("stream item in time").expect("stream open")
}

/// Skips items until a state matching `wanted` arrives; returns the items skipped.
async fn until_state(
    rx: &mut EventReceiver,
    wanted: impl Fn(&ConnectionState) -> bool,
) -> (ConnectionState, Vec<StreamItem>) {
    let mut skipped = Vec::new();
    loop {
        match next(rx).await {
            StreamItem::State(state) if wanted(&state) => return (state, skipped),
            other => skipped.push(other),
        }
    }
}

#[tokio::test]
async fn delivers_events_in_order_with_credentials_and_app() {
    let frames = (1..=3).map(|seq| Action::Send(varset(seq))).collect();
    let server = WsServer::start(vec![frames]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    assert_eq!(next(&mut rx).await, StreamItem::State(ConnectionState::Connecting { attempt: 1 }));
    assert_eq!(next(&mut rx).await, StreamItem::State(ConnectionState::Connected));
    for seq in 1..=3 {
        assert_eq!(seq_of(&next(&mut rx).await), Some(seq));
    }
    assert_eq!(handle.state(), ConnectionState::Connected);
    let (authorization, query) = server.requests()[0].clone();
    // base64("starq:ws-secret-pw")
    assert_eq!(authorization.as_deref(), Some("Basic c3RhcnE6d3Mtc2VjcmV0LXB3"));
    assert_eq!(query.as_deref(), Some("app=starq"));
    handle.shutdown().await;
}

#[tokio::test]
async fn reconnects_after_close_and_abort_with_growing_backoff() {
    let server = WsServer::start(vec![
        vec![Action::Send(varset(1)), Action::Close],
        vec![Action::Send(varset(2)), Action::Abort],
        vec![Action::Send(varset(3))],
    ])
    .await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    let mut seqs = Vec::new();
    let mut delays = Vec::new();
    for attempt in 1..=2 {
        let (state, skipped) =
            until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
        seqs.extend(skipped.iter().filter_map(seq_of));
        let ConnectionState::Disconnected { reason, attempt: reported, retry_in } = state else {
            unreachable!()
        };
        assert_eq!(reported, attempt);
        assert!(
            matches!(reason, DisconnectReason::Closed { .. } | DisconnectReason::Failed(_)),
            "{reason:?}"
        );
        delays.push(retry_in);
        let (state, _) =
            until_state(&mut rx, |s| matches!(s, ConnectionState::Connecting { .. })).await;
        assert_eq!(state, ConnectionState::Connecting { attempt: attempt + 1 });
    }
    let (_, _) = until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    seqs.push(seq_of(&next(&mut rx).await).expect("third connection's event"));
    assert_eq!(seqs, [1, 2, 3]);
    // Equal jitter: attempt n waits within [d/2, d], d = 20 ms * 2^(n-1).
    assert!(delays[0] >= Duration::from_millis(10) && delays[0] <= Duration::from_millis(20));
    assert!(delays[1] >= Duration::from_millis(20) && delays[1] <= Duration::from_millis(40));
    assert_eq!(server.connections(), 3);
    handle.shutdown().await;
}

#[tokio::test]
async fn refused_connections_back_off_exponentially_up_to_the_cap() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut config = EventStreamConfig::new(
        starq_ari::NodeConfig {
            ari_url: format!("http://{addr}/ari"),
            credentials: starq_ari::Credentials::new("starq", "pw"),
            app: "starq".into(),
        },
        3,
    );
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(40),
        healthy_after: Duration::from_secs(60),
    };
    let (mut rx, handle) = connect_events(config).unwrap();
    let mut ceiling = Duration::from_millis(10);
    for expected_attempt in 1..=7 {
        let (state, _) =
            until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
        let ConnectionState::Disconnected { reason, attempt, retry_in } = state else {
            unreachable!()
        };
        assert!(matches!(reason, DisconnectReason::ConnectFailed(_)), "{reason:?}");
        assert_eq!(attempt, expected_attempt);
        assert!(retry_in >= ceiling / 2 && retry_in <= ceiling, "{retry_in:?} vs {ceiling:?}");
        ceiling = (ceiling * 2).min(Duration::from_millis(40));
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn a_rejected_upgrade_is_reported_and_retried() {
    let server =
        WsServer::start(vec![vec![Action::Reject(401)], vec![Action::Send(varset(9))]]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    let (state, _) =
        until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
    assert!(matches!(
        state,
        ConnectionState::Disconnected { reason: DisconnectReason::Rejected { status: 401 }, .. }
    ));
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    assert_eq!(seq_of(&next(&mut rx).await), Some(9));
    handle.shutdown().await;
}

#[tokio::test]
async fn pings_keep_a_quiet_connection_alive() {
    let server = WsServer::start(vec![]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    // Three liveness timeouts of silence from the node, but it answers pings.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(handle.state(), ConnectionState::Connected);
    assert!(server.pings() >= 10, "only {} pings", server.pings());
    assert_eq!(server.connections(), 1);
    assert!(rx.try_recv().is_err(), "no state change expected");
    handle.shutdown().await;
}

#[tokio::test]
async fn a_node_that_stops_answering_pings_is_declared_dead_and_reconnected() {
    let silent = vec![Action::Send(varset(1)), Action::Silent(Duration::from_secs(30))];
    let server = WsServer::start(vec![silent, vec![Action::Send(varset(2))]]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    let started = tokio::time::Instant::now();
    let (state, skipped) =
        until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
    let detected_after = started.elapsed();
    assert!(matches!(
        state,
        ConnectionState::Disconnected { reason: DisconnectReason::Dead, attempt: 1, .. }
    ));
    assert_eq!(skipped.iter().filter_map(seq_of).collect::<Vec<_>>(), [1]);
    // Liveness timeout is 1 s from the last frame; allow for a loaded machine.
    assert!(detected_after >= Duration::from_millis(800), "{detected_after:?}");
    assert!(detected_after < Duration::from_secs(4), "{detected_after:?}");
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    assert_eq!(seq_of(&next(&mut rx).await), Some(2));
    handle.shutdown().await;
}

#[tokio::test]
async fn application_replaced_is_a_signal_and_stops_without_reconnecting() {
    let script = vec![
        Action::Send(varset(1)),
        Action::Send(replaced("other-app")),
        Action::Send(replaced("starq")),
        Action::Send(varset(2)),
    ];
    let server = WsServer::start(vec![script]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    assert_eq!(seq_of(&next(&mut rx).await), Some(1));
    // Another application's replacement is just an event on this socket.
    match next(&mut rx).await {
        StreamItem::Event(event) => assert_eq!(event.application(), "other-app"),
        other => panic!("expected the other app's event, got {other:?}"),
    }
    assert_eq!(next(&mut rx).await, StreamItem::Replaced);
    let stopped = ConnectionState::Stopped(StopReason::Replaced);
    assert_eq!(next(&mut rx).await, StreamItem::State(stopped.clone()));
    let end = tokio::time::timeout(WAIT, rx.recv()).await.expect("stream ends");
    assert_eq!(end, None, "nothing after Replaced");
    assert_eq!(handle.state(), stopped);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.connections(), 1, "must not reconnect and steal the app back");
    wait_for(|| server.ended() == 1).await;
}

#[tokio::test]
async fn malformed_frames_are_reported_and_the_stream_goes_on() {
    let bad_stasis = r#"{"type":"StasisStart","application":"starq","timestamp":"t",
        "args":[],"channel":{"id":"c1","name":"n","state":7}}"#;
    let script = vec![
        Action::Send(varset(1)),
        Action::Send("not json".into()),
        Action::Send(bad_stasis.into()),
        Action::Send(r#"{"type":"ChannelTalkingStarted","application":"starq"}"#.into()),
        Action::Send(varset(2)),
    ];
    let server = WsServer::start(vec![script]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    assert_eq!(seq_of(&next(&mut rx).await), Some(1));
    assert!(matches!(next(&mut rx).await, StreamItem::DecodeError(e) if e.event_type.is_none()));
    match next(&mut rx).await {
        StreamItem::DecodeError(error) => {
            assert_eq!(error.event_type.as_deref(), Some("StasisStart"));
            assert_eq!(error.field.as_deref(), Some("channel.state"));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    match next(&mut rx).await {
        StreamItem::Event(event) => {
            assert!(!event.is_modelled());
            assert_eq!(event.event_type(), "ChannelTalkingStarted");
        }
        other => panic!("expected an unknown event, got {other:?}"),
    }
    assert_eq!(seq_of(&next(&mut rx).await), Some(2));
    assert_eq!(handle.state(), ConnectionState::Connected);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_never_stalls_the_reader() {
    const FRAMES: u64 = 12_000;
    let frames: Vec<String> = (0..FRAMES).map(|seq| padded_varset(seq, 4000)).collect();
    let bytes: usize = frames.iter().map(String::len).sum();
    // Loopback buffers autotune up to tcp_rmem max + tcp_wmem max (32 MiB + 4 MiB here); a
    // stalled reader could not absorb more than that.
    assert!(bytes > 48_000_000, "frames must exceed socket buffers, got {bytes} bytes");
    let server = WsServer::start(vec![vec![Action::SendMany(frames)]]).await;
    let mut config = config(&server);
    config.buffer = 16;
    let (mut rx, handle) = connect_events(config).unwrap();
    // The consumer reads nothing until the node has written everything: only possible if the
    // reader kept reading while the channel was full.
    wait_for(|| !server.send_many_durations().is_empty()).await;
    let mut seqs = Vec::new();
    let mut lost = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Some(StreamItem::Lost { dropped })) => lost += dropped,
            Ok(Some(item @ StreamItem::Event(_))) => seqs.push(seq_of(&item).unwrap()),
            Ok(Some(StreamItem::State(_))) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) if seqs.len() as u64 + lost == FRAMES => break,
            Err(_) => {}
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "events out of order");
    assert!(lost > 0 && !seqs.is_empty());
    assert_eq!(handle.overflow_count(), lost);
    assert_eq!(handle.state(), ConnectionState::Connected, "the node must not have dropped us");
    assert_eq!(server.connections(), 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn state_reports_survive_a_full_buffer_in_order() {
    let burst: Vec<String> = (0..100).map(varset).collect();
    let server = WsServer::start(vec![
        vec![Action::SendMany(burst), Action::Close],
        vec![Action::Send(varset(1000))],
    ])
    .await;
    let mut config = config(&server);
    config.buffer = 8;
    let (mut rx, handle) = connect_events(config).unwrap();
    // Not reading while the node floods, drops us, and we reconnect.
    wait_for(|| server.connections() == 2 && handle.state() == ConnectionState::Connected).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut states = Vec::new();
    let (mut events, mut lost) = (0, 0);
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        match item {
            StreamItem::State(state) => states.push(state),
            StreamItem::Event(_) => events += 1,
            StreamItem::Lost { dropped } => lost += dropped,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(events + lost, 101, "every event delivered or counted");
    assert!(lost > 0);
    assert_eq!(handle.overflow_count(), lost);
    assert!(
        matches!(
            states.as_slice(),
            [
                ConnectionState::Connecting { attempt: 1 },
                ConnectionState::Connected,
                ConnectionState::Disconnected { attempt: 1, .. },
                ConnectionState::Connecting { attempt: 2 },
                ConnectionState::Connected,
            ]
        ),
        "{states:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_stayed_up_resets_the_backoff() {
    let flap = || vec![Action::Sleep(Duration::from_millis(300)), Action::Close];
    let server = WsServer::start(vec![flap(), flap(), flap()]).await;
    let mut config = config(&server);
    config.backoff.healthy_after = Duration::from_millis(100);
    let (mut rx, handle) = connect_events(config).unwrap();
    for _ in 0..3 {
        let (state, _) =
            until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
        let ConnectionState::Disconnected { attempt, retry_in, .. } = state else { unreachable!() };
        assert_eq!(attempt, 1, "a healthy connection starts the backoff again");
        assert!(retry_in <= Duration::from_millis(20), "{retry_in:?}");
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn a_node_that_never_answers_the_upgrade_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept TCP, never speak HTTP: the connection is held open until the test ends.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let node = starq_ari::NodeConfig {
        ari_url: format!("http://{addr}/ari"),
        credentials: starq_ari::Credentials::new("starq", "pw"),
        app: "starq".into(),
    };
    let mut config = EventStreamConfig::new(node, 5);
    config.connect_timeout = Duration::from_millis(200);
    let (mut rx, handle) = connect_events(config).unwrap();
    let (state, _) =
        until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
    assert!(
        matches!(
            state,
            ConnectionState::Disconnected { reason: DisconnectReason::ConnectTimeout, .. }
        ),
        "{state:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_dropping_the_receiver_close_the_socket() {
    let server = WsServer::start(vec![]).await;
    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    handle.shutdown().await;
    assert_eq!(
        next(&mut rx).await,
        StreamItem::State(ConnectionState::Stopped(StopReason::Shutdown))
    );
    assert_eq!(rx.recv().await, None);
    wait_for(|| server.ended() == 1).await;

    let (mut rx, handle) = connect_events(config(&server)).unwrap();
    until_state(&mut rx, |s| *s == ConnectionState::Connected).await;
    drop(rx);
    wait_for(|| server.ended() == 2).await;
    wait_for(|| handle.state() == ConnectionState::Stopped(StopReason::ConsumerGone)).await;
}

async fn wait_for(condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn credentials_never_appear_in_stream_logs_or_states() {
    let logs = support::LogCapture::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let scripts = vec![vec![Action::Reject(401)], vec![Action::Close], vec![Action::Abort]];
    let server = WsServer::start(scripts).await;
    let config = config(&server);
    let printed_config = format!("{config:?}");
    let (mut rx, handle) = connect_events(config).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (state, _) =
            until_state(&mut rx, |s| matches!(s, ConnectionState::Disconnected { .. })).await;
        seen.push(format!("{state:?}"));
    }
    handle.shutdown().await;
    let logs = logs.text();
    assert!(logs.contains("ARI event WebSocket down"), "logs were not captured: {logs}");
    for text in seen.iter().chain([&logs, &printed_config]) {
        assert!(!text.contains("ws-secret-pw"), "password leaked: {text}");
        // base64("starq:ws-secret-pw")
        assert!(!text.contains("c3RhcnE6d3Mtc2VjcmV0LXB3"), "credentials leaked: {text}");
    }
}
