//! Where a fidelity scenario runs: a fresh simulated node, or the real Asterisk named by
//! `STARQ_TEST_ASTERISK`, behind one [`Target`] that places callers, makes REST calls, reads
//! the `starq` event WebSocket and keeps a [`Record`] of what it saw for [`on_both`] to compare.
//!
//! Every channel a scenario makes is named `<run>-<label>` so that its events and listings can
//! be told apart from anything else on a shared Asterisk; comparisons use the label.

#![allow(dead_code, unreachable_pub)] // the scenarios use most of it, not all

pub mod facts;
pub mod record;

use std::future::Future;
use std::sync::LazyLock;

use serde_json::{Value, json};
use starq_sim::{CallSpec, Sim, SimConfig};

use crate::common::{Ari, Events, query_string, seg};
pub use record::Record;

/// The Stasis application the reference dialplan sends callers to.
pub const APP: &str = "starq";
/// The reference dialplan's caller context: its `;2` half runs `NoOp`, then
/// `Stasis(starq, ${STARQ_ARGS})` at priority 2 (docs/fidelity.md).
pub const CALLER_CONTEXT: &str = "starq-in";

/// Which kind of Asterisk a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sim,
    Asterisk,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sim => "simulator",
            Kind::Asterisk => "Asterisk",
        }
    }
}

/// One place to run a scenario, and what the scenario saw there.
pub struct Target {
    pub kind: Kind,
    ari: Ari,
    /// `ws://…/ari/events?api_key=…&app=` (the app name goes last).
    events_url: String,
    /// Prefix of every channel id this run makes.
    run: String,
    sim: Option<Sim>,
    recording: bool,
    pub record: Record,
}

/// Where the real Asterisk is, from the environment.
struct RealAsterisk {
    base: String,
    user: String,
    pass: String,
}

/// Reads `STARQ_TEST_ASTERISK` (`http://user:pass@host:port/ari`) and, if the URL carries no
/// credentials, `STARQ_TEST_ASTERISK_AUTH` (`user:pass`). `Ok(None)` when unset.
fn real_asterisk() -> Result<Option<RealAsterisk>, String> {
    let url = match std::env::var("STARQ_TEST_ASTERISK") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => return Ok(None),
    };
    let mut parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| format!("STARQ_TEST_ASTERISK={url} is not a URL: {e}"))?;
    let mut user = parsed.username().to_owned();
    let mut pass = parsed.password().unwrap_or_default().to_owned();
    if let Ok(auth) = std::env::var("STARQ_TEST_ASTERISK_AUTH") {
        let (u, p) = auth.split_once(':').ok_or("STARQ_TEST_ASTERISK_AUTH must be user:pass")?;
        (user, pass) = (u.to_owned(), p.to_owned());
    }
    if user.is_empty() {
        return Err("STARQ_TEST_ASTERISK has no credentials: use http://user:pass@host:port/ari \
                    or set STARQ_TEST_ASTERISK_AUTH=user:pass"
            .to_owned());
    }
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    let base = parsed.as_str().trim_end_matches('/').to_owned();
    Ok(Some(RealAsterisk { base, user, pass }))
}

/// `http://h:p/ari` → `ws://h:p/ari/events?api_key=u:p&app=`.
fn events_base(base: &str, user: &str, pass: &str) -> String {
    let ws = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{ws}/events?api_key={user}:{pass}&app=")
}

/// A prefix no earlier run on the same Asterisk used (channel ids must be free).
#[allow(clippy::disallowed_methods)] // a test's unique name, not logic
fn fresh_run() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("fid{:x}", ms % (1 << 40))
}

impl Target {
    /// A fresh simulated node with the stock settings.
    pub async fn sim() -> Self {
        let sim = Sim::start(SimConfig::local(1, 11)).await.expect("sim starts");
        let node = sim.node(0).expect("node 0");
        let (user, pass) = node.credentials();
        let base = node.base_url();
        Self {
            kind: Kind::Sim,
            ari: Ari::at(&base, user, pass),
            events_url: events_base(&base, user, pass),
            run: "fid".to_owned(),
            sim: Some(sim),
            recording: true,
            record: Record::new("fid"),
        }
    }

    fn asterisk(real: &RealAsterisk) -> Self {
        let run = fresh_run();
        Self {
            kind: Kind::Asterisk,
            ari: Ari::at(&real.base, &real.user, &real.pass),
            events_url: events_base(&real.base, &real.user, &real.pass),
            record: Record::new(&run),
            run,
            sim: None,
            recording: true,
        }
    }

    /// The channel id of `label` in this run.
    pub fn id(&self, label: &str) -> String {
        format!("{}-{label}", self.run)
    }

    /// The event WebSocket of the `starq` application.
    pub async fn events(&self) -> Events {
        Events::connect_url(&format!("{}{APP}", self.events_url)).await
    }

    /// Matches an event of type `ty` about channel `label` (or a `Dial` to it).
    pub fn on(&self, ty: &'static str, label: &str) -> impl Fn(&Value) -> bool + use<> {
        let id = self.id(label);
        move |e| e["type"] == ty && (e["channel"]["id"] == *id || e["peer"]["id"] == *id)
    }

    /// Matches a `Dial` to `label` with this status.
    pub fn dial_status(
        &self,
        label: &str,
        status: &'static str,
    ) -> impl Fn(&Value) -> bool + use<> {
        let id = self.id(label);
        move |e| e["type"] == "Dial" && e["peer"]["id"] == *id && e["dialstatus"] == status
    }

    /// Keeps the events about this run's channels.
    pub fn saw(&mut self, events: Vec<Value>) {
        self.record.keep_events(events);
    }

    /// Whether REST answers go into the record (off for calls whose outcome is a race).
    pub fn recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Places a caller: a Local pair `<label>` / `<label>;2` whose `;2` half enters
    /// `Stasis(starq, args…)` from `[starq-in]` with caller id `number`. Returns the Stasis
    /// half's id. On the simulator this is `place_call`; on Asterisk an originate into the
    /// dialplan whose `;1` half waits in `[caller]`.
    pub async fn place_caller(&mut self, label: &str, exten: &str, args: &[&str], number: &str) {
        let id = self.id(label);
        match &self.sim {
            Some(sim) => {
                let mut spec = CallSpec::new(APP, args, number);
                spec.context = CALLER_CONTEXT.to_owned();
                spec.exten = exten.to_owned();
                spec.channel_id = Some(id);
                let placed = sim.node(0).expect("node 0").place_call(&spec).expect("placed");
                assert!(placed.in_stasis, "the caller entered Stasis");
            }
            None => {
                let endpoint = format!("Local/{exten}@{CALLER_CONTEXT}");
                let query = [
                    ("endpoint", endpoint.as_str()),
                    ("context", "caller"),
                    ("extension", "s"),
                    ("channelId", id.as_str()),
                    ("callerId", number),
                    // The `;1` half is dialing until the `;2` half answers: never give up.
                    ("timeout", "-1"),
                ];
                let body = json!({ "variables": { "STARQ_ARGS": args.join(",") } });
                let path = format!("/channels{}", query_string(&query));
                let (status, answer) = self.ari.post_json(&path, &body).await;
                assert_eq!(status, 200, "caller originate: {answer}");
            }
        }
    }

    /// `POST /channels/create` of `label` to `endpoint` in app `starq`, with `appArgs` (if
    /// not empty) and channel variables (the reference dialplan reads `AGENT_TALK`,
    /// `NOANSWER_WAIT`, `BUSY_HOLD`).
    pub async fn create(
        &mut self,
        label: &str,
        endpoint: &str,
        args: &str,
        vars: &[(&str, &str)],
    ) -> (u16, Value) {
        let id = self.id(label);
        let mut query = vec![("endpoint", endpoint), ("app", APP), ("channelId", id.as_str())];
        if !args.is_empty() {
            query.push(("appArgs", args));
        }
        self.post_vars(&format!("create {label}"), "/channels/create", &query, vars).await
    }

    /// `POST /channels/{label}/dial`, optionally with `caller=<caller label>`.
    pub async fn dial(&mut self, label: &str, caller: Option<&str>, timeout: u32) -> (u16, Value) {
        let caller = caller.map(|c| self.id(c));
        let timeout = timeout.to_string();
        let mut query = vec![("timeout", timeout.as_str())];
        if let Some(c) = &caller {
            query.push(("caller", c.as_str()));
        }
        let path = format!("/channels/{}/dial", seg(&self.id(label)));
        self.post(&format!("dial {label}"), &path, &query).await
    }

    /// A recorded POST.
    pub async fn post(&mut self, step: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let answer = self.ari.post(path, query).await;
        self.answered(step, &answer);
        answer
    }

    /// A recorded POST with channel variables in a JSON body.
    pub async fn post_vars(
        &mut self,
        step: &str,
        path: &str,
        query: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> (u16, Value) {
        let answer = if vars.is_empty() {
            self.ari.post(path, query).await
        } else {
            let vars: serde_json::Map<String, Value> =
                vars.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
            let body = json!({ "variables": vars });
            self.ari.post_json(&format!("{path}{}", query_string(query)), &body).await
        };
        self.answered(step, &answer);
        answer
    }

    /// A recorded GET.
    pub async fn get(&mut self, step: &str, path: &str) -> (u16, Value) {
        let answer = self.ari.get(path, &[]).await;
        self.answered(step, &answer);
        answer
    }

    /// A recorded DELETE.
    pub async fn delete(&mut self, step: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let answer = self.ari.delete(path, query).await;
        self.answered(step, &answer);
        answer
    }

    /// `/channels/{label}` (percent-encoded, `;` included).
    pub fn chan(&self, label: &str) -> String {
        format!("/channels/{}", seg(&self.id(label)))
    }

    fn answered(&mut self, step: &str, (status, body): &(u16, Value)) {
        if self.recording {
            self.record.keep_answer(step, *status, body);
        }
    }

    /// Waits (up to 6 s) until `GET /channels/{label}` answers 404.
    pub async fn gone(&self, label: &str) -> bool {
        for _ in 0..60 {
            if self.ari.get(&self.chan(label), &[]).await.0 == 404 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    }

    /// Hangs up every channel this run left behind (a shared Asterisk outlives the test).
    async fn clean_up(&self) {
        let (_, list) = self.ari.get("/channels", &[]).await;
        let prefix = format!("{}-", self.run);
        for id in list.as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()) {
            if id.starts_with(&prefix) {
                let _ = self.ari.delete(&format!("/channels/{}", seg(id)), &[]).await;
            }
        }
    }
}

/// Real-Asterisk runs go one at a time: a second WebSocket for `starq` would take the
/// application over from the first.
static ASTERISK_TURN: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Runs `script` on a fresh simulated node, then, if `STARQ_TEST_ASTERISK` names one, on the
/// real Asterisk, and asserts both tell the same story (events per channel, REST answers,
/// kept values). The script asserts the known facts itself, on each side.
pub async fn on_both<F, Fut>(scenario: &str, script: F)
where
    F: Fn(Target) -> Fut,
    Fut: Future<Output = Target> + Send + 'static,
{
    let real = real_asterisk().unwrap_or_else(|e| panic!("{e}"));
    // With a real Asterisk the scenarios run one at a time, simulator half included, so that
    // no other test's load skews the timing races measured on either side.
    let _turn = match real {
        Some(_) => Some(ASTERISK_TURN.lock().await),
        None => None,
    };
    let sim = script(Target::sim().await).await;
    sim.record.print_figures(scenario, Kind::Sim);
    let Some(real) = real else {
        println!(
            "fidelity {scenario}: STARQ_TEST_ASTERISK is not set, so this ran on the simulator \
             only (docs/fidelity.md says how to run it against Asterisk)"
        );
        return;
    };
    // Run on a task so that a failing scenario still cleans up after itself.
    let outcome = tokio::spawn(script(Target::asterisk(&real))).await;
    // Let Asterisk see this run's WebSocket close before the next run registers `starq`: a
    // replaced socket that closes late unregisters the app from its successor.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let janitor = Target::asterisk(&real);
    let asterisk = match outcome {
        Ok(target) => {
            target.clean_up().await;
            target
        }
        Err(e) => {
            // The run prefix of the failed task is unknown here: sweep every fidelity run.
            let (_, list) = janitor.ari.get("/channels", &[]).await;
            for id in list.as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()) {
                if id.starts_with("fid") {
                    let _ = janitor.ari.delete(&format!("/channels/{}", seg(id)), &[]).await;
                }
            }
            std::panic::resume_unwind(e.into_panic());
        }
    };
    asterisk.record.print_figures(scenario, Kind::Asterisk);
    record::assert_same_story(scenario, &sim.record, &asterisk.record);
}
