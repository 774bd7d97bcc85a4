//! End to end under load: seeded traffic and agent phones on two nodes, served by a toy ACD
//! written against starq-ari (answer, MOH, ring a free agent, bridge on answer, tear down),
//! with a WebSocket drop in the middle. Afterwards the ground truth must be complete and
//! consistent with itself, and the nodes' invariants must hold.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use starq_ari::rest::{BridgeFeature, CreateChannel};
use starq_ari::{AriClient, Credentials, Event, EventStreamConfig, RestLimits, StreamItem};
use starq_sim::phones::PhoneScript;
use starq_sim::rng::Dist;
use starq_sim::server::NodeHandle;
use starq_sim::traffic::{QueueLoad, TrafficProfile, run_traffic};
use starq_sim::truth::{Outcome, RingResult};
use starq_sim::{Sim, SimConfig};
use tokio_util::sync::CancellationToken;

const AGENTS: [&str; 4] = ["PJSIP/101", "PJSIP/102", "PJSIP/103", "PJSIP/104"];

/// One node's toy ACD: callers wait with MOH until a free agent answers.
async fn acd(
    node: &NodeHandle,
    free: std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>,
    stop: CancellationToken,
) {
    let (user, pass) = node.credentials();
    let cfg = starq_ari::NodeConfig {
        ari_url: node.base_url(),
        credentials: Credentials::new(user, pass),
        app: "acd".into(),
    };
    let client = AriClient::new(&cfg, RestLimits::default()).unwrap();
    let (mut rx, handle) = starq_ari::connect_events(EventStreamConfig::new(cfg, 9)).unwrap();
    let mut waiting: Vec<String> = Vec::new();
    let mut leg_of: BTreeMap<String, (String, String)> = BTreeMap::new(); // leg -> (caller, agent)
    // Created legs not yet in Stasis: a `/dial` before their StasisStart is 409 (sample 07).
    let mut entering: BTreeMap<String, (String, String)> = BTreeMap::new();
    loop {
        let item = tokio::select! {
            () = stop.cancelled() => break,
            item = rx.recv() => match item { Some(i) => i, None => break },
        };
        let StreamItem::Event(event) = item else { continue };
        match event {
            Event::StasisStart(e) if e.args.first().is_some_and(|a| a.starts_with("queue=")) => {
                let _ = client.answer(&e.channel.id).await;
                let _ = client.moh_start(&e.channel.id, None).await;
                waiting.push(e.channel.id.clone());
            }
            Event::StasisStart(e) if entering.contains_key(&e.channel.id) => {
                let leg = e.channel.id;
                let Some((caller, agent)) = entering.remove(&leg) else { continue };
                if client.dial(&leg, Some(&caller), Some(2)).await.is_ok() {
                    leg_of.insert(leg, (caller, agent));
                } else {
                    free.lock().unwrap().insert(agent);
                    let _ = client.hangup(&leg, None).await;
                }
            }
            Event::StasisEnd(e) => {
                waiting.retain(|c| *c != e.channel.id);
                let legs: Vec<String> = leg_of
                    .iter()
                    .chain(&entering)
                    .filter(|(_, (c, _))| *c == e.channel.id)
                    .map(|(l, _)| l.clone())
                    .collect();
                for leg in legs {
                    let _ = client.hangup(&leg, None).await;
                }
            }
            Event::Dial(d) if d.dialstatus.as_str() == "ANSWER" => {
                if let Some((caller, _)) = leg_of.get(&d.peer.id) {
                    let bridge = format!("b-{caller}");
                    let _ = client.create_bridge(&bridge, &[BridgeFeature::Mixing], None).await;
                    let _ = client.moh_stop(caller).await;
                    let _ = client
                        .add_channels(&bridge, &[caller.as_str(), d.peer.id.as_str()], None)
                        .await;
                }
            }
            Event::ChannelDestroyed(d) => {
                if let Some((_, agent)) = entering.remove(&d.channel.id) {
                    free.lock().unwrap().insert(agent);
                }
                if let Some((caller, agent)) = leg_of.remove(&d.channel.id) {
                    free.lock().unwrap().insert(agent);
                    let _ = client.hangup(&caller, None).await;
                    let _ = client.delete_bridge(&format!("b-{caller}")).await;
                }
            }
            _ => {}
        }
        // Offer waiting callers to free agents.
        while !waiting.is_empty() {
            let Some(agent) = free.lock().unwrap().pop_first() else { break };
            let caller = waiting.remove(0);
            let leg = format!("{caller}-{}", &agent[6..]);
            let spec = CreateChannel {
                endpoint: agent.clone(),
                app: "acd".into(),
                channel_id: Some(leg.clone()),
                ..Default::default()
            };
            if client.create_channel(&spec).await.is_ok() {
                entering.insert(leg, (caller, agent));
            } else {
                free.lock().unwrap().insert(agent);
            }
        }
    }
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toy_acd_under_traffic_and_a_websocket_drop() {
    let mut cfg = SimConfig::local(1, 21);
    cfg.node = common::fast_node();
    cfg.phones = AGENTS
        .iter()
        .map(|a| PhoneScript {
            answer_probability: 0.8,
            answer_delay: Dist::Uniform { min_ms: 20, max_ms: 150 },
            talk_time: Dist::Uniform { min_ms: 100, max_ms: 300 },
            ..PhoneScript::answering(*a, 0, 0)
        })
        .collect();
    let sim = Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap().clone();
    let free = std::sync::Arc::new(std::sync::Mutex::new(
        AGENTS.iter().map(|a| (*a).to_owned()).collect(),
    ));
    let stop_acd = CancellationToken::new();
    let acd_task = {
        let (node, free, stop) = (node.clone(), free.clone(), stop_acd.clone());
        tokio::spawn(async move { acd(&node, free, stop).await })
    };
    common::eventually("the ACD connects", || node.has_consumer("acd")).await;
    let mut load = QueueLoad::steady("acd", "support", 25.0);
    load.patience = Some(Dist::Uniform { min_ms: 300, max_ms: 1_200 });
    load.talk_limit = Some(Dist::fixed(3_000));
    let stop_traffic = CancellationToken::new();
    let traffic = tokio::spawn(run_traffic(
        sim.nodes().to_vec(),
        TrafficProfile { queues: vec![load] },
        21,
        stop_traffic.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(700)).await;
    node.drop_websockets();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop_traffic.cancel();
    traffic.await.unwrap();
    // Every call ends by itself: patience, talk time, talk limit.
    common::eventually("every caller has ended", || {
        sim.truth().callers().all(|c| c.outcome.is_some())
    })
    .await;
    stop_acd.cancel();
    acd_task.await.unwrap();
    node.check_invariants().unwrap();

    let truth = sim.truth();
    let callers: Vec<_> = truth.callers().collect();
    assert!(callers.len() >= 10, "traffic arrived: {}", callers.len());
    let connected = callers.iter().filter(|c| c.connected_ms.is_some()).count();
    assert!(connected > 0, "some callers reached an agent");
    for c in callers.iter().filter(|c| c.connected_ms.is_some()) {
        let ring = truth
            .rings()
            .iter()
            .find(|r| r.caller == Some(c.caller) && r.result == RingResult::Answered);
        let ring =
            ring.unwrap_or_else(|| panic!("connected caller without an answered ring: {c:?}"));
        assert_eq!(Some(&ring.agent), c.agent.as_ref());
        assert!(ring.answered_ms.unwrap() <= c.connected_ms.unwrap());
    }
    for c in &callers {
        match c.outcome.as_ref().unwrap() {
            Outcome::Abandoned => assert!(c.connected_ms.is_none(), "{c:?}"),
            Outcome::AgentHungUp | Outcome::CallerHungUp => assert!(c.agent.is_some(), "{c:?}"),
            _ => {}
        }
        assert!(c.ended_ms.unwrap() >= c.entered_ms);
    }
    assert!(
        truth.rings().iter().all(|r| !r.while_busy),
        "the ACD never rang a phone already in a call"
    );
}
