//! Scripted agent phones, callers' scripts, traffic, and the ground truth they leave.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Ari, Events, fast_node, is, one_node};
use starq_sim::phones::PhoneScript;
use starq_sim::traffic::{QueueLoad, TrafficProfile, run_traffic};
use starq_sim::truth::{Outcome, RingResult};
use starq_sim::{CallSpec, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

fn call(id: &str) -> CallSpec {
    let mut spec = CallSpec::new("q", &["queue=support"], "5557777");
    spec.channel_id = Some(id.to_owned());
    spec
}

#[tokio::test]
async fn phone_rings_answers_talks_and_hangs_up() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/1001", 100, 300));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let placed = node.place_call(&call("c1")).unwrap();
    ev.until(is("StasisStart", "c1;2")).await;
    ari.post("/channels/c1%3B2/answer", &[]).await;
    ari.post("/bridges", &[("bridgeId", "b1")]).await;
    ari.post("/bridges/b1/addChannel", &[("channel", "c1;2")]).await;
    let (status, leg) = ari
        .post("/channels/create", &[("endpoint", "PJSIP/1001"), ("app", "q"), ("channelId", "a1")])
        .await;
    assert_eq!(status, 200);
    assert!(leg["name"].as_str().unwrap().starts_with("PJSIP/1001-"));
    ev.until(is("StasisStart", "a1")).await;
    ari.post("/channels/a1/dial", &[("caller", "c1;2"), ("timeout", "5")]).await;
    let got = ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "ANSWER").await;
    let dials: Vec<&str> = got
        .iter()
        .filter(|e| e["type"] == "Dial")
        .map(|e| e["dialstatus"].as_str().unwrap())
        .collect();
    assert_eq!(dials, vec!["", "RINGING", "ANSWER"]);
    ari.post("/bridges/b1/addChannel", &[("channel", "a1")]).await;
    let got = ev.until(is("ChannelDestroyed", "a1")).await;
    let sigs =
        common::types(&got.into_iter().filter(|e| e["channel"]["id"] == "a1").collect::<Vec<_>>());
    // The connected line was set at dial time (`caller=`), so bridging changes nothing.
    assert_eq!(
        sigs,
        vec![
            "ChannelEnteredBridge",
            "ChannelVarset",
            "ChannelHangupRequest",
            "ChannelVarset",
            "ChannelLeftBridge",
            "StasisEnd",
            "ChannelVarset",
            "ChannelDestroyed",
        ]
    );
    // The agent hung up first; the caller hangs up after: still the agent's doing.
    node.caller_hangup("c1;2").unwrap();
    ev.until(is("StasisEnd", "c1;2")).await;
    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!(rec.agent.as_deref(), Some("PJSIP/1001"));
    assert!(rec.agent_left_ms.unwrap() <= rec.ended_ms.unwrap());
    assert_eq!(rec.rang.len(), 1);
    assert_eq!(rec.outcome, Some(Outcome::AgentHungUp));
    let ring = &truth.rings()[0];
    assert_eq!((ring.result.clone(), ring.caller), (RingResult::Answered, Some(placed.caller)));
    assert!(ring.answered_ms.is_some() && ring.ended_ms.is_some());
}

#[tokio::test]
async fn busy_unreachable_and_per_node_reach() {
    let mut cfg = SimConfig::local(2, 3);
    cfg.node = fast_node();
    cfg.phones = vec![
        PhoneScript { busy: true, ..PhoneScript::answering("PJSIP/busy", 0, 0) },
        PhoneScript { unreachable: true, ..PhoneScript::answering("PJSIP/gone", 0, 0) },
        PhoneScript {
            nodes: Some(BTreeSet::from([1])),
            ..PhoneScript::answering("PJSIP/backup", 0, 1000)
        },
    ];
    let sim = Sim::start(cfg).await.unwrap();
    let (n0, n1) = (sim.node(0).unwrap(), sim.node(1).unwrap());
    let (a0, a1) = (Ari::new(n0), Ari::new(n1));
    let mut ev = Events::connect(n0, "q").await;
    a0.post("/channels/create", &[("endpoint", "PJSIP/busy"), ("app", "q"), ("channelId", "b")])
        .await;
    ev.until(is("StasisStart", "b")).await;
    a0.post("/channels/b/dial", &[]).await;
    let got = ev.until(is("ChannelDestroyed", "b")).await;
    assert!(got.iter().any(|e| e["type"] == "Dial" && e["dialstatus"] == "BUSY"));
    assert_eq!(got.last().unwrap()["cause"], 17);
    let (status, body) = a0.post("/channels", &[("endpoint", "PJSIP/gone"), ("app", "q")]).await;
    // Asterisk's allocation failure is the one error whose body says `error`, not `message`.
    assert_eq!((status, body["error"].as_str()), (500, Some("Allocation failed")));
    assert_eq!(a0.post("/channels", &[("endpoint", "PJSIP/backup"), ("app", "q")]).await.0, 500);
    let _ev1 = Events::connect(n1, "q").await;
    assert_eq!(a1.post("/channels", &[("endpoint", "PJSIP/backup"), ("app", "q")]).await.0, 200);
    let (_, ep) = a0.get("/endpoints/PJSIP/backup", &[]).await;
    assert_eq!(ep["state"], "offline", "node 0 cannot reach the backup-only phone");
    let (_, ep) = a1.get("/endpoints/PJSIP/backup", &[]).await;
    assert_eq!(
        (ep["state"].as_str(), ep["channel_ids"].as_array().map(Vec::len)),
        (Some("online"), Some(1))
    );
    assert_eq!(a0.get("/endpoints/PJSIP/nobody", &[]).await.0, 404);
    let (_, all) = a0.get("/endpoints", &[]).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    // Unknown endpoints are unreachable too.
    assert_eq!(
        a0.post("/channels/create", &[("endpoint", "PJSIP/nobody"), ("app", "q")]).await.0,
        500
    );
    assert!(sim.update_phone("PJSIP/gone", |p| p.unreachable = false));
    assert_eq!(a0.post("/channels", &[("endpoint", "PJSIP/gone"), ("app", "q")]).await.0, 200);
}

#[tokio::test]
async fn second_call_to_a_phone_in_a_call_is_busy_and_recorded() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/2001", 0, 10_000));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    ari.post("/channels", &[("endpoint", "PJSIP/2001"), ("app", "q"), ("channelId", "x1")]).await;
    ev.until(is("StasisStart", "x1")).await;
    ari.post("/channels", &[("endpoint", "PJSIP/2001"), ("app", "q"), ("channelId", "x2")]).await;
    let got = ev
        .until(|e| e["type"] == "Dial" && e["peer"]["id"] == "x2" && e["dialstatus"] == "BUSY")
        .await;
    assert!(!got.is_empty());
    let truth = sim.truth();
    assert!(
        truth
            .rings()
            .iter()
            .any(|r| r.channel_id == "x2" && r.while_busy && r.result == RingResult::Busy)
    );
}

#[tokio::test]
async fn originate_timeout_gives_cause_19_only() {
    let sim = one_node().await;
    let mut phone = PhoneScript::answering("PJSIP/3001", 0, 0);
    phone.answer_probability = 0.0;
    sim.set_phone(phone);
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    ari.post(
        "/channels",
        &[("endpoint", "PJSIP/3001"), ("app", "q"), ("channelId", "t1"), ("timeout", "1")],
    )
    .await;
    let got = ev.until(is("ChannelDestroyed", "t1")).await;
    assert_eq!(common::types(&got), vec!["Dial", "ChannelStateChange", "Dial", "ChannelDestroyed"]);
    assert_eq!(got[3]["cause"], 19);
    assert_eq!(got[3]["cause_txt"], "User alerting, no answer");
    assert_eq!(sim.truth().rings()[0].result, RingResult::NotAnswered);
}

#[tokio::test]
async fn impatient_caller_abandons_and_truth_dumps() {
    let sim = one_node().await;
    let node = sim.node(0).unwrap();
    let mut ev = Events::connect(node, "q").await;
    let mut spec = call("ab");
    spec.patience = Some(Duration::from_millis(150));
    spec.dtmf = vec![(Duration::from_millis(50), '#')];
    let placed = node.place_call(&spec).unwrap();
    let got = ev.until(is("StasisEnd", "ab;2")).await;
    assert_eq!(
        common::types(&got),
        vec!["StasisStart", "ChannelDtmfReceived", "ChannelHangupRequest", "StasisEnd"]
    );
    assert_eq!(got[2]["cause"], 16);
    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!(rec.outcome, Some(Outcome::Abandoned));
    assert_eq!(rec.dtmf, vec!["#"]);
    let mut out = Vec::new();
    sim.dump_truth(&mut out).unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["record"], "caller");
    assert_eq!(lines[0]["outcome"]["kind"], "abandoned");
}

#[tokio::test]
async fn seeded_traffic_places_poisson_callers() {
    let sim = Sim::start(SimConfig::local(2, 11)).await.unwrap();
    let _ev0 = Events::connect(sim.node(0).unwrap(), "q").await;
    let _ev1 = Events::connect(sim.node(1).unwrap(), "q").await;
    let mut load = QueueLoad::steady("q", "support", 100.0);
    load.patience = None;
    let profile = TrafficProfile { queues: vec![load] };
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_traffic(sim.nodes().to_vec(), profile, 11, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.cancel();
    task.await.unwrap();
    let truth = sim.truth();
    let n = truth.callers().count();
    assert!((50..=170).contains(&n), "about 100 callers in a second, got {n}");
    let per_node: BTreeSet<usize> = truth.callers().map(|c| c.node).collect();
    assert_eq!(per_node.len(), 2, "spread over both nodes");
    assert!(truth.callers().all(|c| c.stasis_status.is_empty() && c.args == vec!["queue=support"]));
}

#[tokio::test]
async fn bursts_arrive_together() {
    let sim = one_node().await;
    let _ev = Events::connect(sim.node(0).unwrap(), "q").await;
    let mut load = QueueLoad::steady("q", "support", 0.0);
    load.burst = Some(starq_sim::traffic::Burst { every_s: 0.2, size: 10 });
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_traffic(
        sim.nodes().to_vec(),
        TrafficProfile { queues: vec![load] },
        5,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    task.await.unwrap();
    let truth = sim.truth();
    let mut at: Vec<u64> = truth.callers().map(|c| c.entered_ms).collect();
    at.sort_unstable();
    // Two bursts are due in 0.5 s; a loaded machine may only have run the first.
    assert!(at.len() == 10 || at.len() == 20, "whole bursts of ten: {at:?}");
    for burst in at.chunks(10) {
        assert!(burst[9] - burst[0] < 50, "each burst arrives at once: {at:?}");
    }
}

#[tokio::test]
async fn cli_runs_until_shutdown_and_writes_truth() {
    let dir = std::env::temp_dir().join(format!("starq-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("truth.jsonl");
    let phones = dir.join("phones.json");
    let script =
        PhoneScript { nodes: Some(BTreeSet::from([1])), ..PhoneScript::answering("PJSIP/9", 1, 1) };
    std::fs::write(&phones, serde_json::to_string(&vec![script]).unwrap()).unwrap();
    let args = starq_sim::cli::SimArgs {
        nodes: 2,
        host: "127.0.0.1".parse().unwrap(),
        base_port: 0,
        username: "u".into(),
        password: "p".into(),
        app: "starq".into(),
        traffic: "busy".into(),
        agents: 3,
        phones: Some(phones.clone()),
        seed: 9,
        truth_out: Some(out.clone()),
        control_port: Some(0),
    };
    let args_copy = args.clone();
    starq_sim::cli::run(args, tokio::time::sleep(Duration::from_millis(600))).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    // Nobody holds `starq`, so every generated caller failed back to the dialplan.
    assert!(text.lines().count() >= 5, "about thirty callers in 0.6 s at 50/s");
    assert!(text.lines().all(|l| l.contains("stasis_failed")));
    std::fs::write(&phones, "not json").unwrap();
    let bad = starq_sim::cli::SimArgs { phones: Some(phones), ..args_copy };
    let err = starq_sim::cli::run(bad, std::future::ready(())).await.unwrap_err();
    assert!(format!("{err:#}").contains("not a JSON list of phone scripts"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn endpoint_subscribers_see_state_changes() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/4001", 0, 100));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let sub = [("eventSource", "endpoint:PJSIP/4001")];
    let (status, app) = ari.post("/applications/q/subscription", &sub).await;
    assert_eq!((status, app["endpoint_ids"].clone()), (200, serde_json::json!(["PJSIP/4001"])));
    let missing = [("eventSource", "endpoint:PJSIP/none")];
    assert_eq!(ari.post("/applications/q/subscription", &missing).await.0, 422);
    assert!(sim.set_unreachable("PJSIP/4001", true));
    let got = ev.until(|e| e["type"] == "EndpointStateChange").await;
    assert_eq!(got.last().unwrap()["endpoint"]["state"], "offline");
    sim.set_unreachable("PJSIP/4001", false);
    let got = ev.until(|e| e["type"] == "EndpointStateChange").await;
    assert_eq!(got.last().unwrap()["endpoint"]["state"], "online");
    // A call to the phone changes its channel list.
    ari.post("/channels", &[("endpoint", "PJSIP/4001"), ("app", "q"), ("channelId", "e1")]).await;
    let got = ev.until(|e| e["type"] == "EndpointStateChange").await;
    assert_eq!(got.last().unwrap()["endpoint"]["channel_ids"], serde_json::json!(["e1"]));
    assert_eq!(ari.delete("/applications/q/subscription", &sub).await.0, 200);
    assert_eq!(ari.delete("/applications/q/subscription", &sub).await.0, 409);
}

#[tokio::test]
async fn a_created_leg_rings_the_phone_only_when_dialed() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/5001", 0, 10_000));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    ari.post(
        "/channels/create",
        &[("endpoint", "PJSIP/5001"), ("app", "q"), ("channelId", "idle")],
    )
    .await;
    ev.until(is("StasisStart", "idle")).await;
    // The phone knows nothing of the undialed leg: an originate reaches it.
    ari.post("/channels", &[("endpoint", "PJSIP/5001"), ("app", "q"), ("channelId", "busy-now")])
        .await;
    ev.until(is("StasisStart", "busy-now")).await;
    ari.delete("/channels/busy-now", &[]).await;
    // Unregistered between create and dial: the dial fails at once.
    sim.set_unreachable("PJSIP/5001", true);
    ari.post("/channels/idle/dial", &[]).await;
    let got = ev.until(is("ChannelDestroyed", "idle")).await;
    let dials: Vec<&str> = got
        .iter()
        .filter(|e| e["type"] == "Dial")
        .map(|e| e["dialstatus"].as_str().unwrap())
        .collect();
    assert_eq!(dials, vec!["", "CHANUNAVAIL"]);
    assert_eq!(got.last().unwrap()["cause"], 20);
    assert!(sim.truth().rings().iter().all(|r| !r.while_busy));
}

#[tokio::test]
async fn caller_hanging_up_first_is_caller_hung_up() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/6001", 0, 10_000));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let mut ev = Events::connect(node, "q").await;
    let placed = node.place_call(&call("k1")).unwrap();
    ev.until(is("StasisStart", "k1;2")).await;
    ari.post("/channels/create", &[("endpoint", "PJSIP/6001"), ("app", "q"), ("channelId", "ag")])
        .await;
    ev.until(is("StasisStart", "ag")).await;
    ari.post("/channels/ag/dial", &[("caller", "k1;2")]).await;
    ev.until(|e| e["type"] == "Dial" && e["dialstatus"] == "ANSWER").await;
    ari.post("/bridges", &[("bridgeId", "kb")]).await;
    ari.post("/bridges/kb/addChannel", &[("channel", "k1;2,ag")]).await;
    node.caller_hangup("k1;2").unwrap();
    ev.until(is("StasisEnd", "k1;2")).await;
    ari.delete("/channels/ag", &[]).await;
    ev.until(is("ChannelDestroyed", "ag")).await;
    let truth = sim.truth();
    let rec = truth.caller(placed.caller).unwrap();
    assert_eq!(rec.outcome, Some(Outcome::CallerHungUp));
    assert_eq!(rec.agent_left_ms, None);
    assert!(rec.connected_ms.is_some());
}
