//! A small ARI client for the tests: REST over reqwest, events over tokio-tungstenite, and
//! helpers to compare received events with the recorded samples.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use starq_sim::server::NodeHandle;
use starq_sim::{NodeConfig, Sim, SimConfig};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// A simulation with one node and short dialplan timings so tests stay fast.
pub async fn one_node() -> Sim {
    let mut cfg = SimConfig::local(1, 7);
    cfg.node = fast_node();
    Sim::start(cfg).await.expect("sim starts")
}

/// Node settings with sub-second dialplan waits.
pub fn fast_node() -> NodeConfig {
    let mut node = NodeConfig::for_index(0);
    node.busy_hold = Some(Duration::from_millis(300));
    // Longer than the 500 ms `Answer()` hold, as the recording's `Wait(2)` is.
    node.continue_wait = Duration::from_millis(800);
    node.media.scale = 0.05;
    node
}

/// Waits until `cond` holds, failing after 3 s.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// REST access to one node (simulated, or a real Asterisk by base URL).
pub struct Ari {
    http: reqwest::Client,
    base: String,
    user: String,
    pass: String,
}

impl Ari {
    pub fn new(node: &NodeHandle) -> Self {
        let (user, pass) = node.credentials();
        Self::at(&node.base_url(), user, pass)
    }

    /// REST at `base` (`http://host:port/ari`) with Basic auth.
    pub fn at(base: &str, user: &str, pass: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            user: user.to_owned(),
            pass: pass.to_owned(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}{}", self.base, query_string(query)))
            .basic_auth(&self.user, Some(&self.pass))
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, body)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, query).await
    }

    pub async fn post(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, query).await
    }

    pub async fn delete(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, query).await
    }

    /// POST with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.pass))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        (
            status,
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") },
        )
    }
}

/// `?k=v&…` with percent-encoding.
pub fn query_string(query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    format!("?{}", pairs.join("&"))
}

/// Percent-encodes a path segment (channel ids contain `;`).
pub fn seg(id: &str) -> String {
    id.replace(';', "%3B")
}

/// An event WebSocket: every text frame, decoded by starq-ari and kept as JSON.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Value>,
    closed: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Events {
    pub async fn connect(node: &NodeHandle, apps: &str) -> Self {
        Self::connect_url(&node.events_url(apps)).await
    }

    /// Connects to a full events URL (`ws://…/ari/events?app=…&api_key=…`).
    pub async fn connect_url(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws connects");
        let (tx, rx) = mpsc::unbounded_channel();
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let (_sink, mut stream) = ws.split();
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(text) = msg {
                    starq_ari::decode_event(text.as_str())
                        .unwrap_or_else(|e| panic!("starq-ari cannot decode {text}: {e}"));
                    let _ = tx.send(serde_json::from_str(text.as_str()).expect("event is JSON"));
                }
            }
            let _ = closed_tx.send(true);
        });
        Self { rx, closed, task }
    }

    /// The next event, or None after `wait` of silence.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.rx.recv()).await.ok().flatten()
    }

    /// Events up to and including the first that matches, failing after 5 s.
    pub async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let ev = self.next(Duration::from_secs(5)).await.unwrap_or_else(|| {
                panic!("no matching event; got {:#?}", types(&out));
            });
            let done = pred(&ev);
            out.push(ev);
            if done {
                return out;
            }
        }
    }

    /// Everything that arrives until `quiet` passes without an event.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(ev) = self.next(quiet).await {
            out.push(ev);
        }
        out
    }

    /// Whether the server closed the socket (waits up to `wait`).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let fut = self.closed.wait_for(|c| *c);
        tokio::time::timeout(wait, fut).await.is_ok()
    }

    /// Closes the socket from our side (as dropping it does).
    pub fn close(self) {}
}

impl Drop for Events {
    /// The reader task would keep the socket open until the runtime ends; on a real Asterisk
    /// a socket left open past its test can take the app away from the next test's.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `type` of each event.
pub fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or_default().to_owned()).collect()
}

/// An event matcher: type and channel (or Dial peer) id.
pub fn is(ty: &'static str, id: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == ty && (e["channel"]["id"] == id || e["peer"]["id"] == id)
}

/// Loads a recorded sample.
pub fn sample(name: &str) -> Value {
    let dir = std::env::var_os("STARQ_ARI_SAMPLES_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ari/samples")
    });
    let path = dir.join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("sample {}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample is JSON")
}

/// The channel an event is about (`channel`, or `peer` for Dial).
fn subject(e: &Value) -> Option<&str> {
    e["channel"]["id"].as_str().or_else(|| e["peer"]["id"].as_str())
}

/// What must match between a recorded event and ours: type, state, causes, dial status,
/// variables, dialplan application, bridge membership.
pub fn signature(e: &Value) -> String {
    let mut s = e["type"].as_str().unwrap_or_default().to_owned();
    let ch = if e["channel"].is_object() { &e["channel"] } else { &e["peer"] };
    for (label, v) in [
        ("state", &ch["state"]),
        ("cause", &e["cause"]),
        ("soft", &e["soft"]),
        ("dialstatus", &e["dialstatus"]),
        ("dialstring", &e["dialstring"]),
        ("variable", &e["variable"]),
        ("value", &e["value"]),
        ("dialplan_app", &e["dialplan_app"]),
        ("args", &e["args"]),
        ("bridge", &e["bridge"]["id"]),
        ("bridge_type", &e["bridge"]["bridge_type"]),
        ("members", &e["bridge"]["channels"]),
        ("caller", &ch["caller"]["number"]),
        ("connected", &ch["connected"]["number"]),
        ("context", &ch["dialplan"]["context"]),
        ("priority", &ch["dialplan"]["priority"]),
        ("cause_txt", &e["cause_txt"]),
    ] {
        if !v.is_null() {
            s.push_str(&format!(" {label}={}", unnumbered(&v.to_string())));
        }
    }
    s
}

/// Drops the per-node sequence number from Local channel names (`-00000006;1` → `-N;1`).
pub fn unnumbered(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(';') {
        let (head, tail) = rest.split_at(pos);
        let cut = head.len().saturating_sub(9);
        let suffix = &head[cut..];
        if suffix.len() == 9
            && suffix.starts_with('-')
            && suffix[1..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            out.push_str(&head[..cut]);
            out.push_str("-N");
        } else {
            out.push_str(head);
        }
        out.push(';');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Signatures of the events about each of `ids`, in order.
pub fn by_channel(events: &[Value], ids: &[&str]) -> BTreeMap<String, Vec<String>> {
    ids.iter()
        .map(|id| {
            let sigs = events.iter().filter(|e| subject(e) == Some(id)).map(signature).collect();
            ((*id).to_owned(), sigs)
        })
        .collect()
}

/// Asserts our events about `ids` match the recording's, channel by channel.
pub fn assert_same(recorded: &[Value], got: &[Value], ids: &[&str]) {
    let want = by_channel(recorded, ids);
    let have = by_channel(got, ids);
    for id in ids {
        assert_eq!(have[*id], want[*id], "events about {id} differ from the recording");
    }
}

/// Asserts we raised events only about `ids` (nothing about channels the recording never
/// showed, such as a caller's handset half).
pub fn assert_only(got: &[Value], ids: &[&str]) {
    for e in got {
        if let Some(id) = subject(e) {
            assert!(ids.contains(&id), "unexpected event about {id}: {}", signature(e));
        }
    }
}

/// The events of a sample file that holds either a list or `{"events": [...]}`.
pub fn sample_events(name: &str) -> Vec<Value> {
    let v = sample(name);
    match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("events") {
            Some(Value::Array(a)) => a,
            _ => panic!("{name} has no events list"),
        },
        _ => panic!("{name} is not a list"),
    }
}
