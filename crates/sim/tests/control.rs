//! The run-time fault-injection API of `starq sim --control-port`, over real HTTP.

use std::sync::Arc;

use starq_sim::phones::PhoneScript;
use starq_sim::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_injected_over_http_while_the_simulation_runs() {
    let mut cfg = SimConfig::local(1, 1);
    cfg.phones = vec![PhoneScript::answering("PJSIP/1001", 10, 10)];
    let sim = Arc::new(Sim::start(cfg).await.expect("simulation starts"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(axum::serve(listener, starq_sim::control::router(Arc::clone(&sim))).into_future());
    let http = reqwest::Client::new();
    let post = |path: &str| http.post(format!("{base}{path}")).send();

    let node = sim.node(0).expect("node").clone();
    assert_eq!(post("/nodes/0/kill").await.expect("http").status(), 200);
    assert!(!node.is_alive(), "killed");
    assert_eq!(post("/nodes/0/restore").await.expect("http").status(), 200);
    assert!(node.is_alive(), "back");
    assert_eq!(post("/nodes/7/kill").await.expect("http").status(), 404, "no such node");
    assert_eq!(post("/nodes/0/drop-websockets").await.expect("http").status(), 200);
    assert_eq!(post("/nodes/0/events?paused=true").await.expect("http").status(), 200);
    assert_eq!(post("/nodes/0/events?paused=false").await.expect("http").status(), 200);
    assert_eq!(post("/nodes/0/rest-faults?fail_status=200").await.expect("http").status(), 400);
    assert_eq!(
        post("/nodes/0/rest-faults?fail_status=503&path=channels").await.expect("http").status(),
        200
    );
    let ari = reqwest::Client::new().get(format!("{}/channels", node.base_url()));
    let (user, pass) = node.credentials();
    assert_eq!(
        ari.basic_auth(user, Some(pass)).send().await.expect("http").status(),
        503,
        "fault applied"
    );
    assert_eq!(post("/phones/PJSIP%2F1001?unreachable=true").await.expect("http").status(), 200);
    assert!(sim.phones().iter().any(|p| p.endpoint == "PJSIP/1001" && p.unreachable));
    assert_eq!(post("/phones/PJSIP%2F9999?unreachable=true").await.expect("http").status(), 404);
    let truth = http.get(format!("{base}/truth")).send().await.expect("http");
    assert_eq!(truth.status(), 200);
}
