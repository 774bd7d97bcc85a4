//! The simulator driven by starq-ari's own REST client and event stream, as the engine will
//! drive it: a queue call end to end, reconnect after a dropped WebSocket, takeover.

mod common;

use std::time::Duration;

use common::one_node;
use starq_ari::rest::{
    BridgeFeature, BridgeRole, CreateChannel, DialplanTarget, EventSource, HangupReason, Originate,
};
use starq_ari::{
    AriClient, AriError, Credentials, Event, EventReceiver, EventStreamConfig, RestLimits,
    StreamItem,
};
use starq_sim::CallSpec;
use starq_sim::phones::PhoneScript;
use starq_sim::server::NodeHandle;
use starq_sim::truth::Outcome;

fn ari_node(node: &NodeHandle) -> starq_ari::NodeConfig {
    let (user, pass) = node.credentials();
    starq_ari::NodeConfig {
        ari_url: node.base_url(),
        credentials: Credentials::new(user, pass),
        app: "starq".to_owned(),
    }
}

/// The next event of `ty` on `channel` (other items are skipped), failing after 5 s.
async fn next_event(rx: &mut EventReceiver, ty: &str, channel: &str) -> Event {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await.expect("stream open") {
                StreamItem::Event(e) if e.event_type() == ty && mentions(&e, channel) => return e,
                StreamItem::DecodeError(e) => panic!("starq-ari could not decode a sim frame: {e}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {ty} for {channel}"))
}

fn mentions(e: &Event, channel: &str) -> bool {
    serde_json::to_string(e).is_ok_and(|s| s.contains(&format!("\"id\":\"{channel}\"")))
}

async fn wait_connected(rx: &mut EventReceiver) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = rx.recv().await {
            if item == StreamItem::State(starq_ari::ConnectionState::Connected) {
                return;
            }
        }
    })
    .await
    .expect("connected");
}

#[tokio::test]
async fn queue_call_end_to_end_with_starq_ari() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/1001", 50, 200));
    let node = sim.node(0).unwrap();
    let cfg = ari_node(node);
    let client = AriClient::new(&cfg, RestLimits::default()).unwrap();
    let (mut rx, handle) = starq_ari::connect_events(EventStreamConfig::new(cfg, 1)).unwrap();
    wait_connected(&mut rx).await;

    let mut spec = CallSpec::new("starq", &["queue=support"], "5551000");
    spec.channel_id = Some("call-1".to_owned());
    let placed = node.place_call(&spec).unwrap();
    next_event(&mut rx, "StasisStart", "call-1;2").await;
    client.answer("call-1;2").await.unwrap();
    client.moh_start("call-1;2", None).await.unwrap();
    client
        .create_bridge("call-1-b", &[BridgeFeature::Mixing, BridgeFeature::DtmfEvents], None)
        .await
        .unwrap();
    let leg = CreateChannel {
        endpoint: "PJSIP/1001".to_owned(),
        app: "starq".to_owned(),
        channel_id: Some("call-1-a1".to_owned()),
        ..CreateChannel::default()
    };
    client.create_channel(&leg).await.unwrap();
    let again = client.create_channel(&leg).await;
    assert!(matches!(again, Err(AriError::Conflict { .. })), "{again:?}");
    // A created leg can be dialed once it is in Stasis (sample 07).
    next_event(&mut rx, "StasisStart", "call-1-a1").await;
    client.dial("call-1-a1", Some("call-1;2"), Some(5)).await.unwrap();
    next_event(&mut rx, "Dial", "call-1-a1").await;
    next_event(&mut rx, "ChannelStateChange", "call-1-a1").await;
    client.moh_stop("call-1;2").await.unwrap();
    client.add_channels("call-1-b", &["call-1;2", "call-1-a1"], None).await.unwrap();
    // The agent talks 200 ms and hangs up; the app then hangs the caller up.
    let destroyed = next_event(&mut rx, "ChannelDestroyed", "call-1-a1").await;
    let Event::ChannelDestroyed(d) = destroyed else { unreachable!() };
    assert_eq!(d.cause, 16);
    client.hangup("call-1;2", None).await.unwrap();
    next_event(&mut rx, "StasisEnd", "call-1;2").await;
    client.delete_bridge("call-1-b").await.unwrap();
    let missing = client.answer("call-1;2").await;
    assert!(matches!(missing, Err(AriError::NotFound { .. })), "{missing:?}");

    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!((rec.agent.as_deref(), rec.moh_starts), (Some("PJSIP/1001"), 1));
    assert_eq!(rec.outcome, Some(Outcome::AgentHungUp));
    assert!(client.ping().await.is_ok());
    handle.shutdown().await;
}

#[tokio::test]
async fn starq_ari_stream_reconnects_and_sees_takeover() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let cfg = ari_node(node);
    let (mut rx, handle) =
        starq_ari::connect_events(EventStreamConfig::new(cfg.clone(), 2)).unwrap();
    wait_connected(&mut rx).await;
    node.drop_websockets();
    // The stream reconnects by itself; calls placed after that reach it again.
    wait_connected(&mut rx).await;
    let mut spec = CallSpec::new("starq", &[], "1");
    spec.channel_id = Some("after".to_owned());
    assert!(node.place_call(&spec).unwrap().in_stasis);
    next_event(&mut rx, "StasisStart", "after;2").await;
    // Another consumer takes the app: the first stream is told.
    let (mut rx2, handle2) = starq_ari::connect_events(EventStreamConfig::new(cfg, 3)).unwrap();
    wait_connected(&mut rx2).await;
    let replaced = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if rx.recv().await == Some(StreamItem::Replaced) {
                return;
            }
        }
    })
    .await;
    assert!(replaced.is_ok(), "ApplicationReplaced reached starq-ari as Replaced");
    handle.shutdown().await;
    handle2.shutdown().await;
}

#[tokio::test]
async fn every_starq_ari_call_is_served() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let cfg = ari_node(node);
    let client = AriClient::new(&cfg, RestLimits::default()).unwrap();
    let (mut rx, handle) = starq_ari::connect_events(EventStreamConfig::new(cfg, 4)).unwrap();
    wait_connected(&mut rx).await;
    let mut spec = CallSpec::new("starq", &["queue=sales"], "5552000");
    spec.channel_id = Some("c".to_owned());
    node.place_call(&spec).unwrap();
    next_event(&mut rx, "StasisStart", "c;2").await;
    client.ring("c;2").await.unwrap();
    client.ring_stop("c;2").await.unwrap();
    client.progress("c;2").await.unwrap();
    client.answer("c;2").await.unwrap();
    client.set_variable("c;2", "STARQ_QUEUE", "sales", Some(false)).await.unwrap();
    assert_eq!(client.get_variable("c;2", "STARQ_QUEUE").await.unwrap(), "sales");
    let pb = client.play("c;2", "pb-1", &["sound:queue-thankyou"], Some("en")).await.unwrap();
    assert_eq!(pb.id, "pb-1");
    client.stop_playback("pb-1").await.unwrap();
    next_event(&mut rx, "PlaybackFinished", "pb-1").await;
    client.create_bridge("hold", &[BridgeFeature::Holding], Some("waiting")).await.unwrap();
    client.add_channels("hold", &["c;2"], Some(BridgeRole::Participant)).await.unwrap();
    client.bridge_moh_start("hold", None).await.unwrap();
    client.bridge_play("hold", "pb-2", &["digits:3"], None).await.unwrap();
    client.bridge_moh_stop("hold").await.unwrap();
    assert_eq!(client.list_bridges().await.unwrap().len(), 1);
    assert_eq!(client.get_bridge("hold").await.unwrap().channels, vec!["c;2".to_owned()]);
    client.remove_channels("hold", &["c;2"]).await.unwrap();
    let app = client.subscribe(&[EventSource::Channel("c;2".to_owned())]).await.unwrap();
    assert!(app.channel_ids.contains(&"c;2".to_owned()));
    assert_eq!(client.get_application().await.unwrap().bridge_ids, vec!["hold".to_owned()]);
    client.unsubscribe(&[EventSource::Channel("c;2".to_owned())]).await.unwrap();
    let originate = Originate {
        endpoint: "Local/1@agents".to_owned(),
        app: "starq".to_owned(),
        app_args: Some("agent,1".to_owned()),
        caller_id: Some("\"Queue\" <100>".to_owned()),
        timeout: Some(10),
        channel_id: Some("o1".to_owned()),
        other_channel_id: Some("o1-2".to_owned()),
        originator: Some("c;2".to_owned()),
        ..Originate::default()
    };
    let leg = client.originate(&originate).await.unwrap();
    assert_eq!((leg.id.as_str(), leg.caller.number.as_str()), ("o1", "100"));
    next_event(&mut rx, "StasisStart", "o1").await;
    client.move_to_app("o1", "elsewhere", None).await.unwrap();
    next_event(&mut rx, "ApplicationMoveFailed", "o1").await;
    let target =
        DialplanTarget { context: Some("after-stasis".to_owned()), ..DialplanTarget::default() };
    client.continue_in_dialplan("o1", &target).await.unwrap();
    next_event(&mut rx, "StasisEnd", "o1").await;
    assert!(client.list_channels().await.unwrap().iter().any(|c| c.id == "c;2"));
    assert_eq!(client.get_channel("c;2").await.unwrap().state, starq_ari::model::ChannelState::Up);
    client.hangup("c;2", Some(HangupReason::Normal)).await.unwrap();
    client.delete_bridge("hold").await.unwrap();
    let info = client.asterisk_info().await.unwrap();
    assert_eq!(info.system.unwrap().entity_id, node.asterisk_id());
    let truth = sim.truth();
    let rec = truth.callers().next().unwrap();
    assert!(rec.heard_ringing);
    assert_eq!(
        rec.rang.first().map(|r| r.agent.as_str()),
        Some("Local/1@agents"),
        "originator links the ring"
    );
    let heard: Vec<&str> = rec.heard.iter().map(|h| h.media.as_str()).collect();
    assert_eq!(heard, vec!["sound:queue-thankyou", "digits:3"]);
    handle.shutdown().await;
}
