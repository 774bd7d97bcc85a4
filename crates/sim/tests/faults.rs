//! Fault injection and Asterisk's own limits: dropped WebSockets, killed and restored nodes,
//! REST delays and failures, paused delivery, the session limit, slow readers.

mod common;

use std::time::{Duration, Instant};

use common::{Ari, Events, fast_node, is, one_node};
use futures_util::StreamExt;
use starq_sim::server::RestFaults;
use starq_sim::truth::Outcome;
use starq_sim::{CallSpec, Sim, SimConfig};

const QUIET: Duration = Duration::from_millis(150);

fn call(id: &str) -> CallSpec {
    let mut spec = CallSpec::new("q", &["queue=support"], "5550000");
    spec.channel_id = Some(id.to_owned());
    spec
}

#[tokio::test]
async fn nodes_have_their_own_port_and_id() {
    let sim = Sim::start(SimConfig::local(3, 1)).await.unwrap();
    let ids: std::collections::BTreeSet<&str> =
        sim.nodes().iter().map(|n| n.asterisk_id()).collect();
    let ports: std::collections::BTreeSet<u16> =
        sim.nodes().iter().map(|n| n.addr().port()).collect();
    assert_eq!((ids.len(), ports.len()), (3, 3));
    let node = sim.node(2).unwrap();
    let mut ev = Events::connect(node, "q").await;
    node.place_call(&call("x")).unwrap();
    let got = ev.until(is("StasisStart", "x;2")).await;
    assert_eq!(got[0]["asterisk_id"], node.asterisk_id());
    assert!(sim.node(0).unwrap().channel_ids().is_empty());
}

#[tokio::test]
async fn dropped_websocket_keeps_channels_and_fails_new_calls() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let mut ev = Events::connect(node, "q").await;
    node.place_call(&call("k1")).unwrap();
    ev.until(is("StasisStart", "k1;2")).await;
    node.drop_websockets();
    assert!(ev.closed_within(Duration::from_secs(2)).await);
    assert!(node.channel_ids().contains(&"k1;2".to_owned()));
    node.check_invariants().unwrap();
    let failed = node.place_call(&call("k2")).unwrap();
    assert!(!failed.in_stasis);
    assert_eq!(sim.truth().caller(failed.caller).unwrap().outcome, Some(Outcome::StasisFailed));
}

#[tokio::test]
async fn killed_node_loses_everything_and_comes_back_empty() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let placed = node.place_call(&call("n1")).unwrap();
    ev.until(is("StasisStart", "n1;2")).await;
    let port = node.addr().port();
    node.kill();
    assert!(ev.closed_within(Duration::from_secs(2)).await);
    let refused =
        reqwest::Client::new().get(format!("{}/asterisk/ping", node.base_url())).send().await;
    assert!(refused.is_err(), "a dead node does not answer");
    assert!(node.place_call(&call("n2")).is_err());
    assert_eq!(sim.truth().caller(placed.caller).unwrap().outcome, Some(Outcome::NodeLost));
    node.restore().await.unwrap();
    assert_eq!(node.addr().port(), port);
    let (status, chans) = ari.get("/channels", &[]).await;
    assert_eq!((status, chans.as_array().map(Vec::len)), (200, Some(0)));
    let (_, ping) = ari.get("/asterisk/ping", &[]).await;
    assert_eq!(ping["asterisk_id"], node.asterisk_id());
}

#[tokio::test]
async fn killing_one_node_releases_its_phone_legs() {
    let mut cfg = SimConfig::local(2, 4);
    cfg.node = fast_node();
    cfg.phones = vec![starq_sim::phones::PhoneScript::answering("PJSIP/7001", 0, 60_000)];
    let sim = Sim::start(cfg).await.unwrap();
    let (main, backup) = (sim.node(0).unwrap(), sim.node(1).unwrap());
    let mut ev = Events::connect(main, "q").await;
    let _ev1 = Events::connect(backup, "q").await;
    let placed = main.place_call(&call("m1")).unwrap();
    let leg = [("endpoint", "PJSIP/7001"), ("app", "q"), ("channelId", "l1")];
    assert_eq!(Ari::new(main).post("/channels", &leg).await.0, 200);
    ev.until(is("StasisStart", "l1")).await;
    main.kill();
    let truth = sim.truth();
    assert_eq!(truth.caller(placed.caller).unwrap().outcome, Some(Outcome::NodeLost));
    assert!(truth.rings()[0].ended_ms.is_some());
    // The agent's phone is free again: the backup node can ring it at once.
    let mut ev1 = Events::connect(backup, "q").await;
    assert_eq!(
        Ari::new(backup)
            .post("/channels", &[("endpoint", "PJSIP/7001"), ("app", "q"), ("channelId", "l2")])
            .await
            .0,
        200
    );
    let got = ev1.until(is("StasisStart", "l2")).await;
    assert!(got.iter().all(|e| e["dialstatus"] != "BUSY"));
    assert!(sim.set_unreachable("PJSIP/7001", true));
    let (status, _) =
        Ari::new(backup).post("/channels", &[("endpoint", "PJSIP/7001"), ("app", "q")]).await;
    assert_eq!(status, 500);
    backup.check_invariants().unwrap();
}

#[tokio::test]
async fn rest_faults_delay_and_fail() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let _ev = Events::connect(node, "q").await;
    node.place_call(&call("f1")).unwrap();
    node.set_rest_faults(RestFaults { delay: Duration::from_millis(200), ..RestFaults::default() });
    let t = Instant::now();
    assert_eq!(ari.get("/asterisk/ping", &[]).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    node.set_rest_faults(RestFaults {
        fail_status: Some(503),
        path_contains: Some("/answer".into()),
        ..RestFaults::default()
    });
    assert_eq!(ari.post("/channels/f1%3B2/answer", &[]).await.0, 503);
    assert_eq!(ari.get("/asterisk/ping", &[]).await.0, 200, "other paths unaffected");
    node.set_rest_faults(RestFaults::default());
    assert_eq!(ari.post("/channels/f1%3B2/answer", &[]).await.0, 204);
}

#[tokio::test]
async fn hung_websocket_upgrades() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    node.set_rest_faults(RestFaults { hang_websocket_upgrades: true, ..RestFaults::default() });
    let attempt = tokio_tungstenite::connect_async(node.events_url("q"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), attempt).await.is_err(),
        "upgrade hangs"
    );
    assert_eq!(Ari::new(node).get("/asterisk/ping", &[]).await.0, 200, "REST still answers");
    node.set_rest_faults(RestFaults::default());
    let _ev = Events::connect(node, "q").await;
    assert!(node.has_consumer("q"));
}

#[tokio::test]
async fn paused_delivery_holds_events_in_order() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    node.pause_events(true);
    node.place_call(&call("z1")).unwrap();
    ari.post("/channels/z1%3B2/answer", &[]).await;
    assert!(ev.drain(QUIET).await.is_empty());
    node.pause_events(false);
    let got = ev.drain(QUIET).await;
    assert_eq!(common::types(&got), vec!["StasisStart", "ChannelStateChange"]);
}

#[tokio::test]
async fn session_limit_refuses_extra_connections() {
    let mut cfg = SimConfig::local(1, 1);
    cfg.node = fast_node();
    cfg.node.session_limit = 2;
    let sim = Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap();
    let a = Events::connect(node, "a").await;
    let _b = Events::connect(node, "b").await;
    let third = tokio_tungstenite::connect_async(node.events_url("c")).await;
    assert!(third.is_err(), "the third session is closed at once");
    a.close();
    common::eventually("a session frees up", || node.stats().sessions < 2).await;
    assert!(tokio_tungstenite::connect_async(node.events_url("c")).await.is_ok());
}

#[tokio::test]
async fn slow_reader_is_closed() {
    let mut cfg = SimConfig::local(1, 1);
    cfg.node = fast_node();
    cfg.node.ws_queue = 64;
    let sim = Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap();
    // Connect and never read.
    let (ws, _) = tokio_tungstenite::connect_async(node.events_url("q")).await.unwrap();
    let placed = node.place_call(&call("s1")).unwrap();
    assert!(placed.in_stasis);
    // Enough events to fill the socket buffers and the queue behind them.
    for _ in 0..40_000 {
        node.caller_dtmf("s1;2", '1').unwrap();
        if !node.place_call(&call("probe")).map(|p| p.in_stasis).unwrap_or(true) {
            break;
        }
        let _ = node.caller_hangup("probe;2");
    }
    common::eventually("the slow reader loses the app", || !node.has_consumer("q")).await;
    let probe = node.place_call(&call("late")).unwrap();
    assert!(!probe.in_stasis, "the slow reader lost the app");
    // Reading now drains what was buffered and then ends.
    let mut stream = ws;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the server closed the socket");
}

#[tokio::test]
async fn websocket_pings_are_answered() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(node.events_url("q")).await.unwrap();
    ws.send(Message::Ping(b"alive?".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(data))) => return data.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("pong within 2 s");
    assert_eq!(pong, b"alive?");
}
