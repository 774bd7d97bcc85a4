//! REST behaviour beyond the recorded samples: ids, errors, playbacks, MOH, DTMF, move,
//! variables, bridges.

mod common;

use std::time::Duration;

use common::{Ari, Events, is, one_node, types};
use serde_json::json;
use starq_sim::CallSpec;

const QUIET: Duration = Duration::from_millis(150);

fn call(id: &str) -> CallSpec {
    let mut spec = CallSpec::new("q", &["queue=support"], "5551234");
    spec.channel_id = Some(id.to_owned());
    spec
}

#[tokio::test]
async fn duplicate_ids_conflict_only_while_live() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let _ev = Events::connect(node, "q").await;
    let args = [("endpoint", "Local/1@agents"), ("app", "q"), ("channelId", "leg-1")];
    assert_eq!(ari.post("/channels/create", &args).await.0, 200);
    let (status, body) = ari.post("/channels/create", &args).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("Channel with given unique ID already exists"))
    );
    assert_eq!(ari.delete("/channels/leg-1", &[]).await.0, 204);
    assert_eq!(
        ari.post("/channels/create", &args).await.0,
        200,
        "id free again once the channel is gone"
    );
    assert_eq!(ari.post("/bridges", &[("bridgeId", "b")]).await.0, 200);
    assert_eq!(ari.post("/bridges/b", &[]).await.0, 409);
    node.place_call(&call("c1")).unwrap();
    assert_eq!(node.place_call(&call("c1")).unwrap_err().status, 409);
}

#[tokio::test]
async fn bad_requests_get_asterisk_statuses() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let _ev = Events::connect(node, "q").await;
    assert_eq!(ari.post("/channels/nope/answer", &[]).await.0, 404);
    assert_eq!(ari.post("/channels", &[("app", "q")]).await.0, 400, "endpoint missing");
    assert_eq!(ari.post("/channels", &[("endpoint", "garbage"), ("app", "q")]).await.0, 400);
    // Asterisk looks the channel up before it reads the reason.
    assert_eq!(ari.delete("/channels/x", &[("reason", "sleepy")]).await.0, 404);
    let leg = [("endpoint", "Local/1@agents"), ("app", "q"), ("channelId", "x")];
    assert_eq!(ari.post("/channels/create", &leg).await.0, 200);
    assert_eq!(
        ari.delete("/channels/x", &[("reason", "busy"), ("reason_code", "17")]).await.0,
        400
    );
    assert_eq!(ari.delete("/channels/x", &[("reason", "sleepy")]).await.0, 400);
    assert_eq!(ari.post("/bridges", &[("type", "weird")]).await.0, 400);
    assert_eq!(ari.get("/no/such/thing", &[]).await.0, 404);
    let (status, body) = ari.delete("/asterisk/ping", &[]).await;
    assert_eq!((status, body["message"].as_str()), (405, Some("Method Not Allowed")));
    assert_eq!(ari.post_json("/channels", &json!([1, 2])).await.0, 400);
    // Absurd numbers are refused or clamped, never a crash.
    let huge = [("endpoint", "Local/1@noanswer"), ("app", "q"), ("timeout", "99999999999999999")];
    assert_eq!(ari.post("/channels", &huge).await.0, 200);
    let overflow =
        [("endpoint", "Local/1@noanswer"), ("app", "q"), ("timeout", "999999999999999999999")];
    assert_eq!(ari.post("/channels", &overflow).await.0, 400);
    assert_eq!(ari.get("/asterisk/ping", &[]).await.0, 200, "the node is still up");
    // An originated leg that has not answered is not in Stasis yet.
    let ring = [("endpoint", "Local/1@noanswer"), ("app", "q"), ("channelId", "r1")];
    assert_eq!(ari.post("/channels", &ring).await.0, 200);
    let (status, body) = ari.post("/channels/r1/answer", &[]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("Channel not in Stasis application"))
    );
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/channels", node.base_url())).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn json_body_originate_and_variables() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let body = json!({"endpoint": "Local/7@agents", "app": "q", "channelId": "j1",
        "variables": {"STARQ_CALL": "call-9", "X": {"value": "y", "report_events": true}}});
    assert_eq!(ari.post_json("/channels", &body).await.0, 200);
    ev.until(is("StasisStart", "j1")).await;
    let (status, v) = ari.get("/channels/j1/variable", &[("variable", "STARQ_CALL")]).await;
    assert_eq!((status, v["value"].as_str()), (200, Some("call-9")));
    assert_eq!(
        ari.post("/channels/j1/variable", &[("variable", "Q"), ("value", "1")]).await.0,
        204
    );
    let got = ev.until(is("ChannelVarset", "j1")).await;
    assert_eq!(got.last().unwrap()["variable"], "Q");
    assert_eq!(ari.get("/channels/j1/variable", &[("variable", "NOPE")]).await.0, 404);
}

#[tokio::test]
async fn hangup_reason_sets_the_destroy_cause() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    ari.post(
        "/channels/create",
        &[("endpoint", "Local/1@agents"), ("app", "q"), ("channelId", "h1")],
    )
    .await;
    ari.delete("/channels/h1", &[("reason", "busy")]).await;
    let got = ev.until(is("ChannelDestroyed", "h1")).await;
    let req = got.iter().find(|e| e["type"] == "ChannelHangupRequest").unwrap();
    assert_eq!((req["cause"].as_i64(), req["soft"].as_bool()), (Some(32), Some(true)));
    assert_eq!(got.last().unwrap()["cause"], 17);
}

#[tokio::test]
async fn playbacks_last_their_media_and_suspend_moh() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let placed = node.place_call(&call("p1")).unwrap();
    ev.until(is("StasisStart", "p1;2")).await;
    assert_eq!(ari.post("/channels/p1%3B2/moh", &[]).await.0, 204);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let q = [("media", "sound:queue-youarenext"), ("media", "digits:12"), ("playbackId", "pb1")];
    let (status, pb) = ari.post("/channels/p1%3B2/play", &q).await;
    assert_eq!(
        (status, pb["state"].as_str(), pb["id"].as_str()),
        (201, Some("queued"), Some("pb1"))
    );
    let started = std::time::Instant::now();
    let got = ev.until(|e| e["type"] == "PlaybackFinished").await;
    assert_eq!(types(&got), vec!["PlaybackStarted", "PlaybackContinuing", "PlaybackFinished"]);
    assert_eq!(got[2]["playback"]["state"], "done");
    // 1.5 s + 2 × 0.6 s at the test's 0.05 scale: about 135 ms.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_millis(1000), "{took:?}");
    let (_, missing) = ari.post("/channels/p1%3B2/play", &[("media", "sound:no-such-file")]).await;
    let got = ev.until(|e| e["type"] == "PlaybackFinished").await;
    assert_eq!(got.last().unwrap()["playback"]["state"], "failed");
    assert_eq!(got.last().unwrap()["playback"]["id"], missing["id"]);
    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!(rec.moh_starts, 1);
    assert!(rec.moh_ms >= 50, "MOH ran until the play suspended it");
    let heard: Vec<&str> = rec.heard.iter().map(|h| h.media.as_str()).collect();
    assert_eq!(heard, vec!["sound:queue-youarenext", "digits:12"]);
    assert_eq!(ari.delete("/playbacks/pb1", &[]).await.0, 404, "finished playbacks are gone");
}

#[tokio::test]
async fn dtmf_reaches_the_app_unless_natively_bridged() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    node.place_call(&call("d1")).unwrap();
    ev.until(is("StasisStart", "d1;2")).await;
    node.caller_dtmf("d1;2", '5').unwrap();
    let got = ev.until(is("ChannelDtmfReceived", "d1;2")).await;
    assert_eq!(got.last().unwrap()["digit"], "5");
    ari.post(
        "/channels/create",
        &[("endpoint", "Local/2@agents"), ("app", "q"), ("channelId", "d2")],
    )
    .await;
    ev.until(is("StasisStart", "d2")).await;
    ari.post("/channels/d2/dial", &[]).await;
    ari.post("/bridges", &[("bridgeId", "plain"), ("type", "mixing")]).await;
    ari.post("/bridges/plain/addChannel", &[("channel", "d1;2,d2")]).await;
    ev.drain(QUIET).await;
    node.caller_dtmf("d1;2", '7').unwrap();
    assert!(ev.drain(QUIET).await.iter().all(|e| e["type"] != "ChannelDtmfReceived"));
    ari.post("/bridges", &[("bridgeId", "dtmf"), ("type", "mixing,dtmf_events")]).await;
    ari.post("/bridges/dtmf/addChannel", &[("channel", "d1;2,d2")]).await;
    ev.drain(QUIET).await;
    node.caller_dtmf("d1;2", '9').unwrap();
    let got = ev.until(is("ChannelDtmfReceived", "d1;2")).await;
    assert_eq!(got.last().unwrap()["digit"], "9");
}

#[tokio::test]
async fn move_between_apps() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut q = Events::connect(node, "q").await;
    node.place_call(&call("m1")).unwrap();
    q.until(is("StasisStart", "m1;2")).await;
    assert_eq!(ari.post("/channels/m1%3B2/move", &[("app", "other")]).await.0, 204);
    let got = q.until(is("ApplicationMoveFailed", "m1;2")).await;
    assert_eq!(got.last().unwrap()["destination"], "other");
    let mut other = Events::connect(node, "other").await;
    ari.post("/channels/m1%3B2/move", &[("app", "other"), ("appArgs", "a,b")]).await;
    q.until(is("StasisEnd", "m1;2")).await;
    let got = other.until(is("StasisStart", "m1;2")).await;
    assert_eq!(got.last().unwrap()["args"], json!(["a", "b"]));
}

#[tokio::test]
async fn holding_bridge_moh_counts_for_every_caller() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let a = node.place_call(&call("h1")).unwrap();
    let b = node.place_call(&call("h2")).unwrap();
    ev.until(is("StasisStart", "h2;2")).await;
    let (_, bridge) = ari.post("/bridges", &[("type", "holding"), ("name", "wait")]).await;
    assert_eq!(
        (bridge["technology"].as_str(), bridge["bridge_type"].as_str()),
        (Some("holding_bridge"), Some("holding"))
    );
    let id = bridge["id"].as_str().unwrap().to_owned();
    ari.post(
        &format!("/bridges/{id}/addChannel"),
        &[("channel", "h1;2,h2;2"), ("role", "participant")],
    )
    .await;
    assert_eq!(ari.post(&format!("/bridges/{id}/moh"), &[("mohClass", "default")]).await.0, 204);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(ari.delete(&format!("/bridges/{id}/moh"), &[]).await.0, 204);
    let truth = sim.truth();
    for c in [a.caller, b.caller] {
        let rec = truth.caller(c).unwrap();
        assert_eq!(rec.moh_starts, 1);
        assert!(rec.moh_ms >= 70, "{rec:?}");
    }
    let got = ev.drain(QUIET).await;
    assert!(got.iter().all(|e| e["variable"] != "BRIDGEPEER"), "holding bridges pair nobody");
}

#[tokio::test]
async fn dial_timeout_cuts_a_busy_leg_whose_hold_is_longer() {
    // Asterisk's dial timeout hangs up whatever is not up, busy or not (cause 19); a shorter
    // `Busy(hold)` ends the leg first with cause 17 (tests/fidelity.rs, busy scenario).
    let (_sim, mut ev) = busy_leg_dialed(Some(Duration::from_millis(1_500)), "bz").await;
    let got = ev.until(is("ChannelDestroyed", "bz")).await;
    assert_eq!(got.last().unwrap()["cause"], 19, "the timeout: {:?}", types(&got));
    assert!(got.iter().any(|e| e["type"] == "Dial" && e["dialstatus"] == "BUSY"));
}

#[tokio::test]
async fn a_created_leg_enters_stasis_after_the_answer_and_refuses_an_early_dial() {
    // Sample 07: `/channels/create` answers before the channel is in the app, so a `/dial`
    // sent on the answer alone meets 409; once its StasisStart has come, the dial goes through.
    let mut cfg = starq_sim::SimConfig::local(1, 2);
    cfg.node = common::fast_node();
    cfg.node.stasis_entry_delay = (Duration::from_millis(50), Duration::from_millis(50));
    let sim = starq_sim::Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let create = [("endpoint", "Local/7@agents"), ("app", "q"), ("channelId", "early")];
    assert_eq!(ari.post("/channels/create", &create).await.0, 200);
    let (status, body) = ari.post("/channels/early/dial", &[]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("Channel not in Stasis application"))
    );
    let (status, app) = ari.get("/applications/q", &[]).await;
    assert_eq!(status, 200);
    assert!(
        app["channel_ids"].as_array().unwrap().iter().any(|c| c == "early"),
        "subscribed at creation (stasis_app_subscribe_channel), before it enters Stasis"
    );
    let got = ev.until(is("StasisStart", "early")).await;
    let first: Vec<String> = got
        .iter()
        .filter(|e| e["channel"]["id"] == "early")
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(first, ["ChannelDialplan", "ChannelVarset", "StasisStart"]);
    assert_eq!(ari.post("/channels/early/dial", &[]).await.0, 204);
    ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "ANSWER").await;
}

#[tokio::test]
async fn busy_with_no_timeout_leaves_the_leg_up_until_the_dial_timeout() {
    // Sample 08: `Busy()` says BUSY at once but never hangs up; the leg dies at the dial
    // timeout with a no-answer cause (19), so only the `Dial` event tells busy.
    let (_sim, mut ev) = busy_leg_dialed(None, "bf").await;
    let busy = ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "BUSY").await;
    let at_busy = std::time::Instant::now();
    assert!(busy.iter().all(|e| e["type"] != "ChannelDestroyed"));
    let got = ev.until(is("ChannelDestroyed", "bf")).await;
    assert!(at_busy.elapsed() >= Duration::from_millis(800), "lived on until the timeout");
    assert_eq!(got.last().unwrap()["cause"], 19, "{:?}", types(&got));
    assert!(got.iter().any(|e| e["type"] == "ChannelHangupRequest" && e["cause"] == 32));
}

#[tokio::test]
async fn continue_leaves_music_on_hold_playing_unless_stopped_first() {
    // Sample 10: no event tells of it, but `/continue` does not stop MOH.
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    for (id, leg, stop_first) in [("m1", "m1;2", false), ("m2", "m2;2", true)] {
        let placed = node.place_call(&call(id)).unwrap();
        ev.until(is("StasisStart", leg)).await;
        let path = format!("/channels/{}", common::seg(leg));
        assert_eq!(ari.post(&format!("{path}/moh"), &[]).await.0, 204);
        if stop_first {
            assert_eq!(ari.delete(&format!("{path}/moh"), &[]).await.0, 204);
        }
        assert_eq!(ari.post(&format!("{path}/continue"), &[]).await.0, 204);
        ev.until(is("StasisEnd", leg)).await;
        let truth = sim.truth();
        let rec = truth.caller(placed.caller).unwrap();
        assert_eq!(rec.moh_after_stasis, !stop_first, "{id}");
    }
}

/// A leg to `Local/9@busy` (`Busy(hold)`, or `Busy()` with no `hold`) created as `id`, dialed
/// with a 1 s timeout once in the app; the events from then on are the caller's to read.
async fn busy_leg_dialed(hold: Option<Duration>, id: &'static str) -> (starq_sim::Sim, Events) {
    let mut cfg = starq_sim::SimConfig::local(1, 2);
    cfg.node = common::fast_node();
    cfg.node.busy_hold = hold;
    let sim = starq_sim::Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    ari.post("/channels/create", &[("endpoint", "Local/9@busy"), ("app", "q"), ("channelId", id)])
        .await;
    ev.until(is("StasisStart", id)).await;
    ari.post(&format!("/channels/{id}/dial"), &[("timeout", "1")]).await;
    (sim, ev)
}
