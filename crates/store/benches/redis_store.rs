//! Benchmark of the Redis store's routing decisions against a private `redis-server`.
//!
//! A decision is match + reserve + release: an `Enqueue` that matches the caller with an
//! available agent and reserves it (one `FCALL`), then a `Leave` that cancels the reservation
//! and frees the agent, who looks for a caller again (one `FCALL`). The caller leaves as one
//! whose node was lost: that frees the agent at once, where any other leave rests it
//! `LEG_TEARDOWN` while its leg is hung up, and the bench would run out of free agents. The site holds N agents and
//! N waiting callers (in a penalty window no agent admits, so they stay waiting and every index
//! has its full size). Printed beside it: a trivial `FCALL` (the Redis ceiling), measured in the
//! same run, and a run paced at 1,000 decisions/s for the latency target.
//!
//! Run: `cargo bench -p starq-store --bench redis_store` (`STARQ_BENCH_SECS` per measurement;
//! `STARQ_BENCH_STATS=1` also prints `INFO commandstats` of the decision runs at each size).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use starq_core::config::{AgentConfig, EmptyConditions, Membership, QueueConfig, Window};
use starq_core::shared::{AgentAction, Enqueue, Notice, Request};
use starq_core::strategy::Strategy;
use starq_core::{CallId, Fence, NodeId, Outcome, QueueId, Time};
use starq_store::{RedisStore, Store};
use support::{RedisServer, fresh_site};

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const CONCURRENCY: [usize; 3] = [1, 16, 64];
const CONNECTIONS: usize = 4;
/// Waiting callers sit in this window, which no agent (penalty 0) admits.
const PARKED: Window = Window { min: 5, max: 5 };

struct Bench {
    stores: Vec<RedisStore>,
    fence: Fence,
    clock: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
}

fn enqueue(b: &Bench, window: Window) -> (CallId, Request) {
    let call = CallId::new(format!("b{}", b.calls.fetch_add(1, Ordering::Relaxed)));
    let now = Time(b.clock.fetch_add(1, Ordering::Relaxed));
    let e = Enqueue {
        fence: b.fence.clone(),
        call: call.clone(),
        queue: QueueId::new("q1"),
        caller_id: "100".into(),
        priority: 0,
        window,
        now,
        resumed: None,
    };
    (call, Request::Enqueue(e))
}

async fn setup(server: &RedisServer, n: usize) -> Bench {
    let site = fresh_site();
    let mut stores = Vec::new();
    for _ in 0..CONNECTIONS {
        stores.push(server.store_on(&site).await);
    }
    let mut q = QueueConfig::new("q1");
    q.strategy = Strategy::LeastRecent;
    q.retry = Duration::ZERO;
    q.wrapup = Duration::ZERO;
    q.join_empty = EmptyConditions::NONE;
    q.leave_empty = EmptyConditions::NONE;
    let agents: Vec<AgentConfig> = (0..n)
        .map(|i| {
            let mut a = AgentConfig::new(format!("a{i:05}"));
            a.memberships = vec![Membership { queue: "q1".into(), penalty: 0 }];
            a
        })
        .collect();
    stores[0].configure(&[q], &agents).await.expect("configure");
    let ttl = Duration::from_secs(3600);
    let lease = stores[0].acquire_lease(&NodeId::new("n1"), "bench", Time(0), ttl).await;
    let fence = lease.expect("up").expect("free").fence();
    let b = Bench {
        stores,
        fence,
        clock: Arc::new(AtomicU64::new(1_000_000)),
        calls: Arc::new(AtomicU64::new(0)),
    };
    for a in &agents {
        let now = Time(b.clock.fetch_add(1, Ordering::Relaxed));
        let login =
            Request::Agent { agent: a.id.clone(), action: AgentAction::Login, now, draw: 0 };
        b.stores[0].apply(login).await.expect("login");
    }
    for _ in 0..n {
        b.stores[0].apply(enqueue(&b, PARKED).1).await.expect("park a caller");
    }
    b
}

/// One decision: match + reserve (enqueue), release (leave).
async fn decision(b: &Bench, store: &RedisStore) {
    let (call, req) = enqueue(b, Window::ANY);
    let reply = store.apply(req).await.expect("enqueue");
    assert!(matches!(reply.notices.first(), Some(Notice::Offer(_))), "matched: {reply:?}");
    let now = Time(b.clock.fetch_add(1, Ordering::Relaxed));
    let leave = Request::Leave { fence: b.fence.clone(), call, outcome: Outcome::NodeLost, now };
    store.apply(leave).await.expect("leave");
}

#[derive(Clone, Copy)]
enum Work {
    Decision,
    Noop,
}

/// Runs `tasks` concurrent loops for `secs` (optionally each paced to `rate` per second
/// overall); returns operations per second and the sorted latencies.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
async fn run(
    b: &Arc<Bench>,
    work: Work,
    tasks: usize,
    secs: f64,
    rate: Option<f64>,
) -> (f64, Vec<Duration>) {
    let start = std::time::Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let b = Arc::clone(b);
        handles.push(tokio::spawn(async move {
            let store = b.stores[t % CONNECTIONS].clone();
            let mut latencies = Vec::new();
            let period = rate.map(|r| Duration::from_secs_f64(tasks as f64 / r));
            // Paced tasks start staggered, so the load is spread evenly over each period.
            let mut next = start + period.map_or(Duration::ZERO, |p| p * t as u32 / tasks as u32);
            while std::time::Instant::now() < deadline {
                if let Some(p) = period {
                    next += p;
                    tokio::time::sleep_until(next.into()).await;
                }
                let begin = std::time::Instant::now();
                match work {
                    Work::Decision => decision(&b, &store).await,
                    Work::Noop => store.noop().await.expect("noop"),
                }
                latencies.push(begin.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / elapsed, all)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let secs: f64 =
        std::env::var("STARQ_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let server = RedisServer::start_with(false);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("starq-store RedisStore benchmark: {secs} s per row, {CONNECTIONS} connections");
    println!("| agents + waiting callers | work | concurrent | ops/s | p50 ms | p99 ms |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut cpu = Vec::new();
    rt.block_on(async {
        for n in SIZES {
            let b = Arc::new(setup(&server, n).await);
            let mut redis_cpu = None;
            for c in CONCURRENCY {
                let (ops, lat) = run(&b, Work::Noop, c, secs / 2.0, None).await;
                println!(
                    "| {n} | trivial FCALL | {c} | {ops:.0} | {:.3} | {:.3} |",
                    pct(&lat, 0.5),
                    pct(&lat, 0.99)
                );
                assert_eq!(server.command("CONFIG RESETSTAT"), "+OK");
                let (ops, lat) = run(&b, Work::Decision, c, secs, None).await;
                redis_cpu = server.fcall_usec();
                println!(
                    "| {n} | decision | {c} | {ops:.0} | {:.3} | {:.3} |",
                    pct(&lat, 0.5),
                    pct(&lat, 0.99)
                );
            }
            cpu.push((n, redis_cpu));
            // `STARQ_BENCH_STATS=1`: the commands the decisions ran inside their FCALLs.
            if std::env::var_os("STARQ_BENCH_STATS").is_some() {
                println!("commandstats after the decision runs at {n}:");
                for line in server.commandstats().unwrap_or_default().lines() {
                    if line.starts_with("cmdstat_") {
                        println!("    {line}");
                    }
                }
            }
            let (ops, lat) = run(&b, Work::Decision, 4, secs, Some(1_000.0)).await;
            println!(
                "| {n} | decision at 1,000/s | 4 | {ops:.0} | {:.3} | {:.3} |",
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
        }
    });
    // Redis CPU is steadier than wall-clock figures on a shared machine: the ceiling of one
    // Redis core follows from it (two routing FCALLs per decision).
    println!();
    println!("| agents + waiting callers | Redis µs per routing FCALL | ceiling decisions/s |");
    println!("|---:|---:|---:|");
    for (n, usec) in cpu {
        if let Some(u) = usec {
            println!("| {n} | {u:.1} | {:.0} |", 1e6 / (2.0 * u));
        }
    }
}
