//! The HTTP routes over real HTTP, in front of a shell running against a simulated node.

use std::sync::Arc;
use std::time::Duration;

use starq_core::NodeId;
use starq_core::config::QueueConfig;
use starq_engine::{NodeSpec, Settings};
use starq_sim::{Sim, SimConfig};
use starq_store::MemoryStore;
use tokio::sync::oneshot;

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("HTTP answers");
    let code = response.status().as_u16();
    (code, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_while_routing_and_not_once_draining() {
    let sim = Sim::start(SimConfig::local(1, 3)).await.expect("simulator starts");
    let node = sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("main"), ari: node.ari_config("starq") };
    let (stop, stopped) = oneshot::channel::<()>();
    let (shell, task) = starq_engine::start(
        Arc::new(MemoryStore::new()),
        vec![QueueConfig::new("support")],
        Vec::new(),
        vec![spec],
        Settings { drain_grace: Duration::from_millis(100), ..Settings::new("one") },
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("shell starts");
    let report = Some(starq_report::StatusHandle::default());
    let bound = starq_api::serve("127.0.0.1:0".parse().expect("address"), shell.clone(), report)
        .await
        .expect("listens");
    let base = format!("http://{bound}");
    for _ in 0..300 {
        if node.has_consumer("starq") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get(&format!("{base}/health/live")).await, (200, "ok".to_owned()));
    let (code, body) = get(&format!("{base}/health/ready")).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&format!("{base}/status")).await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["store_available"], true, "{body}");
    assert_eq!(status["nodes"]["main"], "connected", "{body}");
    assert_eq!(status["report"]["backlog"], 0, "the reporter's progress is shown: {body}");
    assert_eq!(status["report"]["lagging"], false, "{body}");
    let _ = stop.send(());
    task.await.expect("no panic").expect("clean stop");
    let (code, body) = get(&format!("{base}/health/ready")).await;
    assert_eq!(code, 503, "a draining instance takes no work: {body}");
    assert!(body.contains("\"draining\":true"), "{body}");
    assert_eq!(get(&format!("{base}/health/live")).await.0, 200, "alive while it drains");
}

async fn post(url: &str, body: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let response = client.post(url).body(body.to_owned()).send().await.expect("HTTP answers");
    let code = response.status().as_u16();
    (code, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_logged_in_and_paused_over_http_and_mistakes_are_named() {
    use starq_core::config::{AgentConfig, Membership};
    use starq_store::{AgentStatus, Store};

    let sim = Sim::start(SimConfig::local(1, 4)).await.expect("simulator starts");
    let node = sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("main"), ari: node.ari_config("starq") };
    let mut alice = AgentConfig::new("alice");
    alice.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    let store = Arc::new(MemoryStore::new());
    let (shell, _task) = starq_engine::start(
        Arc::clone(&store),
        vec![QueueConfig::new("support")],
        vec![alice],
        vec![spec],
        Settings::new("one"),
        std::future::pending(),
    )
    .await
    .expect("shell starts");
    let bound = starq_api::serve("127.0.0.1:0".parse().expect("address"), shell, None)
        .await
        .expect("listens");
    let agent = |action: &str| format!("http://{bound}/agents/alice/{action}");
    let status =
        || async { store.agent(&"alice".into()).await.expect("store").expect("known agent") };
    assert_eq!(post(&agent("login"), "").await.0, 202);
    for _ in 0..100 {
        if status().await.status == AgentStatus::Available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status().await.status, AgentStatus::Available);
    assert_eq!(post(&agent("pause"), r#"{"reason": "lunch"}"#).await.0, 202);
    for _ in 0..100 {
        if status().await.paused_all.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status().await.paused_all.as_deref(), Some("lunch"));

    let (code, body) = post(&agent("pause"), r#"{"reason": 5}"#).await;
    assert_eq!(code, 400);
    assert!(body.contains("invalid body") && body.contains("reason"), "{body}");
    let (code, body) = post(&agent("pause"), r#"{"raeson": "x"}"#).await;
    assert!(code == 400 && body.contains("raeson"), "{code} {body}");
    let (code, body) = post(&format!("http://{bound}/agents/bob/login"), "").await;
    assert!(code == 404 && body.contains("bob"), "{code} {body}");
    let (code, body) = post(&agent("dance"), "").await;
    assert!(code == 404 && body.contains("dance"), "{code} {body}");
}
