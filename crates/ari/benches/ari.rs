//! Benchmark of starq-ari: event decode throughput over the recorded Asterisk samples, and
//! REST round-trip overhead against a local server, each with a baseline measured in the same
//! run. Prints figures; run with `cargo bench -p starq-ari --bench ari`.
//!
//! - Decode: `decode_event` (typed, with field-naming errors) against `serde_json::Value`
//!   parsing of the same frames (the least a client must do to look at a frame).
//! - REST: `AriClient::ping` (permit, URL building, auth header, typed decode and error
//!   mapping) against a bare `reqwest` GET + `Value` parse to the same local server, one
//!   request at a time, so the difference is the client's own overhead per call.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use starq_ari::model::decode_event;
use starq_ari::{AriClient, Credentials, NodeConfig, RestLimits};

const DECODE_SECONDS: f64 = 3.0;
const DECODE_ROUNDS: usize = 15;
const REST_CALLS: usize = 5_000;

fn main() {
    let values = sample_values();
    // As Asterisk writes them: compact, `type` first.
    let frames: Vec<String> = values.iter().map(type_first).collect();
    // Keys sorted (`type` rarely first): the decoder's general path.
    let sorted: Vec<String> = values.iter().map(Value::to_string).collect();
    let bytes: usize = frames.iter().map(String::len).sum();
    for frame in &frames {
        assert!(decode_event(frame).is_ok(), "sample does not decode: {frame}");
    }
    println!("starq-ari benchmark");
    println!(
        "samples: {} event frames, {} bytes (mean {} B/frame)",
        frames.len(),
        bytes,
        bytes / frames.len()
    );
    decode_benchmark("frames as Asterisk writes them (type first)", &frames);
    decode_benchmark("same frames, keys sorted (type not first)", &sorted);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(rest_benchmark());
}

/// One way of decoding a frame; true when it succeeded.
type Decoder<'a> = &'a dyn Fn(&str) -> bool;

/// Runs `f` over all frames repeatedly for about `seconds`; returns events per second.
fn events_per_second(frames: &[String], seconds: f64, f: Decoder<'_>) -> f64 {
    let started = Instant::now();
    let mut events = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        for frame in frames {
            assert!(f(black_box(frame)));
        }
        events += frames.len() as u64;
    }
    events as f64 / started.elapsed().as_secs_f64()
}

fn decode_benchmark(title: &str, frames: &[String]) {
    let contenders: [(&str, Decoder<'_>); 3] = [
        ("baseline serde_json::Value parse", &|f| serde_json::from_str::<Value>(f).is_ok()),
        ("decode_event (typed)", &|f| decode_event(f).is_ok()),
        ("serde_json::from_str::<Event>", &|f| serde_json::from_str::<starq_ari::Event>(f).is_ok()),
    ];
    // Short rounds, interleaved, so load from other processes hits every contender alike;
    // the median round of each is reported.
    let mut rates = vec![Vec::new(); contenders.len()];
    for _ in 0..DECODE_ROUNDS {
        for ((_, f), rates) in contenders.iter().zip(&mut rates) {
            rates.push(events_per_second(frames, DECODE_SECONDS / DECODE_ROUNDS as f64, *f));
        }
    }
    let medians: Vec<f64> = rates
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    println!("\n## event decode, one core: {title} (median of {DECODE_ROUNDS} rounds)");
    for ((name, _), (median, rates)) in contenders.iter().zip(medians.iter().zip(&rates)) {
        println!(
            "{name:<33}: {median:>10.0} events/s  ({:.2}x baseline; rounds {:.0}..{:.0})",
            median / medians[0],
            rates[0],
            rates[rates.len() - 1],
        );
    }
}

async fn rest_benchmark() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/ari/asterisk/ping",
        axum::routing::get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"ping":"pong","timestamp":"2026-11-22T12:11:18.218+0000","asterisk_id":"02:fc:00:00:00:01"}"#,
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let node = NodeConfig {
        ari_url: format!("http://{addr}/ari"),
        credentials: Credentials::new("starq", "bench"),
        app: "starq".into(),
    };
    let client = AriClient::new(&node, RestLimits::default()).unwrap();
    let raw = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build().unwrap();
    let url = format!("http://{addr}/ari/asterisk/ping");

    // Warm up both pools.
    for _ in 0..200 {
        client.ping().await.unwrap();
        raw_ping(&raw, &url).await;
    }
    // Interleave rounds so machine noise hits both alike.
    let (mut ours, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        baseline.extend(time_calls(REST_CALLS / 5, || raw_ping(&raw, &url)).await);
        ours.extend(time_calls(REST_CALLS / 5, || async { client.ping().await.unwrap() }).await);
    }
    let (ours, baseline) = (summary(&mut ours), summary(&mut baseline));
    println!("\n## REST round trip to a local server (sequential GET /asterisk/ping)");
    println!(
        "baseline reqwest + Value : mean {:>6.1} us  p50 {:>6.1} us  p99 {:>6.1} us",
        baseline.0, baseline.1, baseline.2
    );
    println!(
        "AriClient::ping          : mean {:>6.1} us  p50 {:>6.1} us  p99 {:>6.1} us",
        ours.0, ours.1, ours.2
    );
    println!(
        "overhead per call        : {:+.1} us mean ({:.2}x baseline)",
        ours.0 - baseline.0,
        ours.0 / baseline.0
    );
}

async fn raw_ping(client: &reqwest::Client, url: &str) {
    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
    black_box(serde_json::from_slice::<Value>(&body).unwrap());
}

async fn time_calls<F, Fut, T>(n: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        black_box(call().await);
        times.push(started.elapsed());
    }
    times
}

/// (mean, p50, p99) in microseconds.
fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| us(*d)).sum::<f64>() / times.len() as f64;
    (mean, us(times[times.len() / 2]), us(times[times.len() * 99 / 100]))
}

/// `{"type":…}` first, then the other keys, compact.
fn type_first(value: &Value) -> String {
    let mut rest = value.as_object().unwrap().clone();
    let event_type = rest.remove("type").unwrap();
    let rest = Value::Object(rest).to_string();
    match rest.as_str() {
        "{}" => format!("{{\"type\":{event_type}}}"),
        _ => format!("{{\"type\":{event_type},{}", &rest[1..]),
    }
}

/// Every event of the recorded samples.
fn sample_values() -> Vec<Value> {
    let dir = match std::env::var_os("STARQ_ARI_SAMPLES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::fs::canonicalize(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .join("../../../shared/ari/samples"),
    };
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!("samples not found at {} ({e}); set STARQ_ARI_SAMPLES_DIR", dir.display())
    });
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut frames = Vec::new();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        collect(&value, &mut frames);
    }
    frames
}

fn collect(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) if map.contains_key("type") && map.contains_key("application") => {
            out.push(value.clone());
        }
        Value::Object(map) => map.values().for_each(|v| collect(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}
