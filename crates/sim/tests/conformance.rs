//! Replays each recorded real-Asterisk scenario against the simulator over HTTP and
//! WebSocket, and compares the events, channel by channel, with the recording.

mod common;

use std::time::Duration;

use common::{Ari, Events, assert_same, is, one_node, sample, sample_events, seg, types};
use serde_json::Value;
use starq_sim::CallSpec;
use starq_sim::truth::Outcome;

const QUIET: Duration = Duration::from_millis(150);

fn caller(exten: &str, number: &str, name: &str) -> CallSpec {
    let mut spec = CallSpec::new("q", &["inbound", exten], number);
    spec.name = name.to_owned();
    spec.exten = exten.to_owned();
    spec.channel_id = Some(format!("c{exten}"));
    spec
}

#[tokio::test]
async fn sample_01_basic_bridge() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let mut spec = caller("100", "5551000", "Alice");
    spec.channel_id = Some("caller-100".to_owned());
    node.place_call(&spec).unwrap();
    let mut got = ev.until(is("StasisStart", "caller-100;2")).await;
    assert_eq!(ari.post("/channels/caller-100%3B2/answer", &[]).await.0, 204);
    let (status, bridge) = ari
        .post("/bridges", &[("type", "mixing"), ("bridgeId", "q-bridge-1"), ("name", "q-bridge-1")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(bridge["bridge_type"], "mixing");
    let (status, chan) = ari
        .post(
            "/channels",
            &[
                ("endpoint", "Local/1001@agents"),
                ("app", "q"),
                ("appArgs", "agent,1001"),
                ("callerId", "Queue <100>"),
                ("channelId", "agent-1001"),
                ("otherChannelId", "agent-1001-2"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{chan}");
    assert!(chan["name"].as_str().unwrap().ends_with(";1"));
    got.extend(ev.until(is("StasisStart", "agent-1001")).await);
    for id in ["caller-100;2", "agent-1001"] {
        assert_eq!(ari.post("/bridges/q-bridge-1/addChannel", &[("channel", id)]).await.0, 204);
    }
    got.extend(ev.until(is("ChannelCallerId", "agent-1001-2")).await);
    assert_eq!(ari.delete(&format!("/channels/{}", seg("caller-100;2")), &[]).await.0, 204);
    got.extend(ev.until(is("StasisEnd", "caller-100;2")).await);
    assert_eq!(ari.delete("/channels/agent-1001", &[]).await.0, 204);
    got.extend(ev.until(is("ChannelDestroyed", "agent-1001")).await);
    assert_eq!(ari.delete("/bridges/q-bridge-1", &[]).await.0, 204);
    got.extend(ev.drain(QUIET).await);
    let recorded = sample_events("01_basic_bridge.json");
    assert_same(&recorded, &got, &["caller-100;2", "agent-1001", "agent-1001-2"]);
    common::assert_only(&got, &["caller-100;2", "agent-1001", "agent-1001-2"]);
    assert_eq!(types(&got).last().map(String::as_str), Some("BridgeDestroyed"));
    assert!(got.iter().all(|e| e["asterisk_id"] == node.asterisk_id() && e["application"] == "q"));
    let truth = sim.truth();
    let rec = truth.callers().next().unwrap();
    assert_eq!(rec.agent.as_deref(), Some("Local/1001@agents"));
    assert_eq!(rec.outcome, Some(Outcome::HungUpByApp { cause: 16 }));
}

#[tokio::test]
async fn sample_02_second_websocket_takes_the_app_over() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let recorded = sample("02_two_websockets_same_app.json");
    let mut ws1 = Events::connect(node, "q").await;
    let mut ws2 = Events::connect(node, "q").await;
    node.place_call(&caller("200", "", "")).unwrap();
    let mut got2 = ws2.until(is("StasisStart", "c200;2")).await;
    assert_eq!(ari.delete("/channels/c200%3B2", &[]).await.0, 204);
    got2.extend(ws2.drain(QUIET).await);
    let got1 = ws1.drain(QUIET).await;
    let want1: Vec<Value> = recorded["ws1_first_connection"].as_array().unwrap().clone();
    assert_eq!(types(&got1), types(&want1));
    let want2: Vec<Value> = recorded["ws2_second_connection"].as_array().unwrap().clone();
    assert_same(&want2, &got2, &["c200;2"]);
    common::assert_only(&got2, &["c200;2"]);
    // The last consumer leaves: the next call fails back to the dialplan.
    ws2.close();
    common::eventually("the app loses its consumer", || !node.has_consumer("q")).await;
    let placed = node.place_call(&caller("201", "", "")).unwrap();
    assert!(!placed.in_stasis);
    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!(rec.stasis_status, "FAILED");
    assert_eq!(rec.outcome, Some(Outcome::StasisFailed));
    assert_eq!(ari.get("/channels/c201%3B2", &[]).await.0, 404);
    // One socket for two apps loses only the app another socket takes.
    let mut ws3 = Events::connect(node, "q,qx").await;
    let mut ws4 = Events::connect(node, "q").await;
    let got3 = ws3.drain(QUIET).await;
    assert_eq!(types(&got3), vec!["ApplicationReplaced"]);
    assert_eq!(got3[0]["application"], "q");
    assert!(ws4.drain(QUIET).await.is_empty());
    let mut twice = Events::connect(node, "dup,dup").await;
    assert!(twice.drain(QUIET).await.is_empty(), "a repeated app name does not replace itself");
    assert_eq!(ari.get("/applications/qx", &[]).await.0, 200);
    ws1.close();
}

#[tokio::test]
async fn sample_03_websocket_drop_keeps_channels_and_replays_nothing() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    node.place_call(&caller("300", "", "")).unwrap();
    let mut got = ev.until(is("StasisStart", "c300;2")).await;
    ari.post("/channels/c300%3B2/answer", &[]).await;
    node.place_call(&caller("301", "", "")).unwrap();
    let args = [
        ("endpoint", "Local/1003@agents"),
        ("app", "q"),
        ("channelId", "a1003"),
        ("otherChannelId", "a1003-2"),
    ];
    assert_eq!(ari.post("/channels", &args).await.0, 200);
    got.extend(ev.until(is("StasisStart", "a1003")).await);
    assert_eq!(ari.post("/bridges", &[("bridgeId", "b300"), ("type", "mixing")]).await.0, 200);
    ari.post("/bridges/b300/addChannel", &[("channel", "c300;2,a1003")]).await;
    got.extend(ev.until(is("ChannelDialplan", "a1003-2")).await);
    got.extend(ev.drain(QUIET).await);
    let first = sample_events("03_ws_disconnect_first_connection.json");
    assert_same(&first, &got, &["c300;2", "c301;2", "a1003", "a1003-2"]);
    common::assert_only(&got, &["c300;2", "c301;2", "a1003", "a1003-2"]);

    ev.close();
    common::eventually("the app loses its consumer", || !node.has_consumer("q")).await;
    let failed = node.place_call(&caller("302", "", "")).unwrap();
    assert!(!failed.in_stasis, "Stasis() must fail while no consumer holds the app");
    let (_, bridge) = ari.get("/bridges/b300", &[]).await;
    assert_eq!(bridge["channels"].as_array().unwrap().len(), 2, "bridge kept");
    let (_, app) = ari.get("/applications/q", &[]).await;
    for id in ["c300;2", "c301;2", "a1003"] {
        assert!(app["channel_ids"].as_array().unwrap().iter().any(|c| c == id), "{app}");
    }
    assert_eq!(app["bridge_ids"], serde_json::json!(["b300"]));

    let mut ev = Events::connect(node, "q").await;
    assert!(ev.drain(QUIET).await.is_empty(), "nothing is replayed");
    ari.delete("/channels/c300%3B2", &[]).await;
    ari.delete("/channels/c301%3B2", &[]).await;
    ari.delete("/channels/a1003", &[]).await;
    ari.delete("/bridges/b300", &[]).await;
    let after = ev.drain(QUIET).await;
    let recorded = sample_events("03_ws_disconnect_after_reconnect.json");
    assert_same(&recorded, &after, &["c300;2", "c301;2", "a1003", "a1003-2"]);
    common::assert_only(&after, &["c300;2", "c301;2", "a1003", "a1003-2"]);
    assert_eq!(types(&after).last().map(String::as_str), Some("BridgeDestroyed"));
}

#[tokio::test]
async fn sample_04a_continue() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let c400 = node.place_call(&caller("400", "", "")).unwrap();
    let mut got = ev.until(is("StasisStart", "c400;2")).await;
    ari.post("/channels/c400%3B2/answer", &[]).await;
    let target = [("context", "after-stasis"), ("extension", "400"), ("priority", "1")];
    assert_eq!(ari.post("/channels/c400%3B2/continue", &target).await.0, 204);
    got.extend(ev.until(is("StasisEnd", "c400;2")).await);
    node.place_call(&caller("401", "", "")).unwrap();
    got.extend(ev.until(is("StasisStart", "c401;2")).await);
    assert_eq!(ari.post("/channels/c401%3B2/continue", &[]).await.0, 204);
    let args = [
        ("endpoint", "Local/1004@agents"),
        ("app", "q"),
        ("channelId", "a1004"),
        ("otherChannelId", "a1004-2"),
    ];
    ari.post("/channels", &args).await;
    got.extend(ev.until(is("StasisStart", "a1004")).await);
    let to_s = [("context", "after-stasis"), ("extension", "s")];
    assert_eq!(ari.post("/channels/a1004/continue", &to_s).await.0, 204);
    got.extend(ev.until(is("ChannelDestroyed", "a1004-2")).await);
    got.extend(ev.drain(QUIET).await);
    let mut recorded = sample_events("04a_continue.json");
    // The recording's `Wait(2)` is 800 ms here; compare the application, not its argument.
    for e in recorded.iter_mut().chain(got.iter_mut()) {
        if e["dialplan_app"] == "Wait" {
            e["dialplan_app_data"] = Value::Null;
        }
    }
    assert_same(&recorded, &got, &["c400;2", "c401;2", "a1004", "a1004-2"]);
    common::assert_only(&got, &["c400;2", "c401;2", "a1004", "a1004-2"]);
    assert_eq!(ari.post("/channels/nope/continue", &[]).await.0, 404);
    let truth = sim.truth();
    let outcome = truth.caller(c400.caller).unwrap().outcome.clone();
    let want =
        Outcome::Continued { context: "after-stasis".into(), exten: "400".into(), priority: 1 };
    assert_eq!(outcome, Some(want));
}

#[tokio::test]
async fn sample_04b_create_dial_answer_busy_timeout_cancel() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    node.place_call(&caller("500", "5552000", "Bob")).unwrap();
    let mut got = ev.until(is("StasisStart", "c500;2")).await;
    ari.post("/channels/c500%3B2/answer", &[]).await;
    ari.post("/bridges", &[("bridgeId", "b500")]).await;
    ari.post("/bridges/b500/addChannel", &[("channel", "c500;2")]).await;
    let create = |ep: &'static str, id: &'static str, args: &'static str| {
        let q: Vec<(&str, &str)> =
            [("endpoint", ep), ("app", "q"), ("channelId", id), ("appArgs", args)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
        q
    };
    let dial = |timeout: &'static str| [("caller", "c500;2"), ("timeout", timeout)];
    // Answered.
    assert_eq!(
        ari.post("/channels/create", &create("Local/1005@agents", "a1005", "agent,1005")).await.0,
        200
    );
    // A created leg enters Stasis only after the answer (sample 07): dial on its StasisStart.
    got.extend(ev.until(is("StasisStart", "a1005")).await);
    assert_eq!(ari.post("/channels/a1005/dial", &dial("0")).await.0, 204);
    got.extend(ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "ANSWER").await);
    ari.post("/bridges/b500/addChannel", &[("channel", "a1005")]).await;
    got.extend(ev.until(is("ChannelConnectedLine", "c500;2")).await);
    ari.delete("/channels/a1005", &[]).await;
    got.extend(ev.until(is("ChannelDestroyed", "a1005")).await);
    // Ring timeout: cause 19, no final Dial.
    ari.post("/channels/create", &create("Local/1006@noanswer", "a1006", "")).await;
    got.extend(ev.until(is("StasisStart", "a1006")).await);
    ari.post("/channels/a1006/dial", &dial("1")).await;
    got.extend(ev.until(is("ChannelDestroyed", "a1006")).await);
    // Busy: Dial BUSY, cause 17.
    ari.post("/channels/create", &create("Local/1007@busy", "a1007", "")).await;
    got.extend(ev.until(is("StasisStart", "a1007")).await);
    ari.post("/channels/a1007/dial", &dial("0")).await;
    got.extend(ev.until(is("ChannelDestroyed", "a1007")).await);
    // Hang up while ringing: cause 16.
    ari.post("/channels/create", &create("Local/1008@noanswer", "a1008", "")).await;
    got.extend(ev.until(is("StasisStart", "a1008")).await);
    ari.post("/channels/a1008/dial", &dial("0")).await;
    got.extend(ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "RINGING").await);
    ari.delete("/channels/a1008", &[]).await;
    got.extend(ev.until(is("ChannelDestroyed", "a1008")).await);
    // The dialplan channel gets ChannelDestroyed after StasisEnd only once subscribed.
    let sub = [("eventSource", "channel:c500;2")];
    assert_eq!(ari.post("/applications/q/subscription", &sub).await.0, 200);
    ari.delete("/channels/c500%3B2", &[]).await;
    ari.delete("/bridges/b500", &[]).await;
    got.extend(ev.until(|e| e["type"] == "BridgeDestroyed").await);
    let recorded = sample_events("04b_create_dial.json");
    assert_same(&recorded, &got, &["c500;2", "a1005", "a1006", "a1007", "a1008"]);
    common::assert_only(&got, &["c500;2", "a1005", "a1006", "a1007", "a1008"]);
    assert_eq!(ari.post("/channels/a1005/dial", &[]).await.0, 404);
}

#[tokio::test]
async fn sample_05_missing_extension() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    // Originate still answers 200; both halves die with cause 0.
    let (status, chan) =
        ari.post("/channels", &[("endpoint", "Local/9999@nonexistent"), ("app", "q")]).await;
    assert_eq!(status, 200);
    let got =
        ev.until(|e| e["type"] == "ChannelDestroyed" && e["channel"]["id"] == chan["id"]).await;
    assert_eq!(types(&got), vec!["ChannelDestroyed", "ChannelDestroyed"]);
    assert!(got.iter().all(|e| e["cause"] == 0 && e["cause_txt"] == "Unknown"));
    assert_eq!(got[0]["channel"]["state"], "Ring");
    // create + dial: the created half leaves Stasis and dies with cause 16.
    let args = [("endpoint", "Local/9999@nonexistent"), ("app", "q"), ("channelId", "bad1")];
    assert_eq!(ari.post("/channels/create", &args).await.0, 200);
    let mut got = ev.until(is("StasisStart", "bad1")).await;
    ari.post("/channels/bad1/dial", &[]).await;
    got.extend(ev.until(is("ChannelDestroyed", "bad1")).await);
    assert_same(&sample_events("05_create_dial_nonexistent_exten.json"), &got, &["bad1"]);
    // Created but never dialed: it stays until deleted.
    let (_, kept) =
        ari.post("/channels/create", &[("endpoint", "Local/9999@nonexistent"), ("app", "q")]).await;
    let id = kept["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(QUIET).await;
    assert_eq!(ari.get(&format!("/channels/{id}"), &[]).await.0, 200);
}

/// Every key of `want` exists in `have` with the same JSON kind, recursively.
fn same_shape(want: &Value, have: &Value, path: &str) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, v) in w {
                let sub = h.get(k).unwrap_or_else(|| panic!("{path}.{k} missing in {have}"));
                same_shape(v, sub, &format!("{path}.{k}"));
            }
        }
        (w, h) => assert_eq!(std::mem::discriminant(w), std::mem::discriminant(h), "{path}"),
    }
}

#[tokio::test]
async fn sample_05_info_and_ping_shapes() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let (status, info) = ari.get("/asterisk/info", &[]).await;
    assert_eq!(status, 200);
    same_shape(&sample("05_asterisk_info.json"), &info, "info");
    assert_eq!(info["system"]["entity_id"], node.asterisk_id());
    assert_eq!(info["system"]["version"], "22.10.1");
    let (_, ping) = ari.get("/asterisk/ping", &[]).await;
    same_shape(&sample("05_asterisk_ping.json"), &ping, "ping");
    assert_eq!(ping["asterisk_id"], node.asterisk_id());
}
