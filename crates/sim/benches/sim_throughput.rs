//! Simulator throughput: call setups per second over real HTTP/WebSocket and thousands of
//! concurrent channels, with the simulator's own CPU time.
//!
//! The simulator runs on its own single-threaded-worker runtime (threads named `sim-*`), the
//! load generator and event consumer on another (`load-*`); CPU time is read per thread from
//! `/proc/self/task/*/stat`, so the simulator's share is measured, not guessed. A baseline run
//! sends the same requests to a do-nothing HTTP server on the same runtime layout, for the
//! ratio of the simulator's cost to bare HTTP handling.
//!
//! Run: `cargo bench -p starq-sim --bench sim_throughput` (env `SIM_BENCH_CALLS`, default 2500).

#![allow(missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use starq_sim::{CallSpec, NodeConfig, Sim, SimConfig};

const WORKERS: usize = 32;

/// CPU seconds used so far by threads whose name starts with `prefix`.
fn cpu_of(prefix: &str) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        let ut: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
        let st: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        ticks += ut + st;
    }
    ticks as f64 / ticks_per_s
}

fn runtime(name: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth("starq", Some("starq"))
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }
}

/// One ACD call setup: answer, MOH, bridge, agent leg create + dial, bridge both, MOH off.
async fn setup(client: &Client, leg: &str, n: u64) {
    let leg = leg.replace(';', "%3B");
    client.post(&format!("/channels/{leg}/answer")).await;
    client.post(&format!("/channels/{leg}/moh")).await;
    client.post(&format!("/bridges?type=mixing&bridgeId=b{n}")).await;
    client
        .post(&format!("/channels/create?endpoint=Local/{n}@agents&app=bench&channelId=a{n}"))
        .await;
    client.post(&format!("/channels/a{n}/dial?caller={leg}")).await;
    client.post(&format!("/bridges/b{n}/addChannel?channel={leg},a{n}")).await;
    client.post(&format!("/channels/{leg}/moh")).await;
}

struct Run {
    wall: f64,
    server_cpu: f64,
    load_cpu: f64,
    events: u64,
    peak_channels: usize,
}

fn run_sim(calls: u64) -> Run {
    let sim_rt = runtime("sim-worker");
    let load_rt = runtime("load-worker");
    let mut cfg = SimConfig::local(1, 42);
    cfg.node = NodeConfig { agents_talk: Duration::from_secs(3600), ..NodeConfig::for_index(0) };
    let sim = sim_rt.block_on(Sim::start(cfg)).expect("sim");
    let node = sim.node(0).expect("node").clone();
    let events = Arc::new(AtomicU64::new(0));
    let counter = events.clone();
    let url = node.events_url("bench");
    load_rt.spawn(async move {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        let (_sink, mut stream) = ws.split();
        while let Some(Ok(_)) = stream.next().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (server0, load0, t0) = (cpu_of("sim-"), cpu_of("load-"), Instant::now());
    let client = Arc::new(Client { http: reqwest::Client::new(), base: node.base_url() });
    let next = Arc::new(AtomicU64::new(0));
    let sim_handle = sim_rt.handle().clone();
    load_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..WORKERS {
            let (client, next, node, sim_handle) =
                (client.clone(), next.clone(), node.clone(), sim_handle.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        return;
                    }
                    // The caller arrives through the dialplan, on the simulator's runtime.
                    let node2 = node.clone();
                    let placed = sim_handle
                        .spawn(async move {
                            let mut spec =
                                CallSpec::new("bench", &["queue=support"], n.to_string());
                            spec.channel_id = Some(format!("c{n}"));
                            node2.place_call(&spec)
                        })
                        .await
                        .expect("join")
                        .expect("placed");
                    setup(&client, &placed.channel_id, n).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("worker");
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let stats = node.stats();
    let run = Run {
        wall,
        server_cpu: cpu_of("sim-") - server0,
        load_cpu: cpu_of("load-") - load0,
        events: events.load(Ordering::Relaxed),
        peak_channels: stats.peak_channels,
    };
    assert_eq!(run.events, stats.events_sent, "every event reached the consumer");
    // Hold the channels a moment to see what idle thousands of channels cost.
    let idle0 = cpu_of("sim-");
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "idle with {} channels: simulator CPU {:.3} s over 2 s",
        node.stats().channels,
        cpu_of("sim-") - idle0
    );
    sim.shutdown();
    drop(sim);
    load_rt.shutdown_timeout(Duration::from_secs(1));
    sim_rt.shutdown_timeout(Duration::from_secs(1));
    run
}

/// The same request mix against a server that does nothing.
fn run_baseline(calls: u64) -> Run {
    let server_rt = runtime("sim-baseline");
    let load_rt = runtime("load-baseline");
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async { axum::Json(serde_json::json!({"id": "x"})) });
    server_rt.spawn(async move { axum::serve(listener, app).await });
    let (server0, load0, t0) = (cpu_of("sim-baseline"), cpu_of("load-baseline"), Instant::now());
    let client =
        Arc::new(Client { http: reqwest::Client::new(), base: format!("http://{addr}/ari") });
    let next = Arc::new(AtomicU64::new(0));
    load_rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..WORKERS {
            let (client, next) = (client.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        return;
                    }
                    setup(&client, &format!("c{n};2"), n).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("worker");
        }
    });
    let run = Run {
        wall: t0.elapsed().as_secs_f64(),
        server_cpu: cpu_of("sim-baseline") - server0,
        load_cpu: cpu_of("load-baseline") - load0,
        events: 0,
        peak_channels: 0,
    };
    load_rt.shutdown_timeout(Duration::from_secs(1));
    server_rt.shutdown_timeout(Duration::from_secs(1));
    run
}

fn main() {
    let calls: u64 =
        std::env::var("SIM_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(2500);
    let sim = run_sim(calls);
    let base = run_baseline(calls);
    let requests = calls * 7;
    println!(
        "starq-sim benchmark: {calls} call setups (inbound caller + 7 REST requests each), {WORKERS} concurrent clients, 1 node"
    );
    println!(
        "simulator : {:.2} s wall, {:.0} setups/s, {:.0} requests/s, {} events, peak {} channels",
        sim.wall,
        calls as f64 / sim.wall,
        requests as f64 / sim.wall,
        sim.events,
        sim.peak_channels
    );
    println!(
        "            simulator CPU {:.2} s ({:.0}% of one core, {:.0} us per setup); load generator CPU {:.2} s",
        sim.server_cpu,
        100.0 * sim.server_cpu / sim.wall,
        1e6 * sim.server_cpu / calls as f64,
        sim.load_cpu
    );
    println!(
        "baseline  : {:.2} s wall, {:.0} setups/s; do-nothing server CPU {:.2} s ({:.0} us per setup); load CPU {:.2} s",
        base.wall,
        calls as f64 / base.wall,
        base.server_cpu,
        1e6 * base.server_cpu / calls as f64,
        base.load_cpu
    );
    if base.server_cpu > 0.0 {
        println!(
            "ratio     : simulator CPU / bare HTTP server CPU = {:.2}",
            sim.server_cpu / base.server_cpu
        );
    }
}
