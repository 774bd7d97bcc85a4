//! What one side of a scenario saw, normalized so that a simulated node and a real Asterisk can
//! be compared: events per channel label (ids, Local sequence numbers and timestamps dropped,
//! `common::signature` keeps the fields that matter), REST answers as status and message, and
//! values the scenario chose to keep.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Kind;
use crate::common::signature;

/// One REST answer: the step, its status, and Asterisk's message for an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub step: String,
    pub status: u16,
    pub message: String,
}

/// Everything one run of a scenario saw.
#[derive(Debug, Default)]
pub struct Record {
    /// `<run>-`: the prefix of this run's channel ids, dropped in comparisons.
    prefix: String,
    events: Vec<Value>,
    answers: Vec<Answer>,
    kept: Vec<(String, Value)>,
    figures: Vec<String>,
    /// (label, event type, field, values Asterisk gives at random): any of them compares
    /// equal to the others.
    tolerated: Vec<(String, String, String, Vec<Value>)>,
}

/// The channel an event is about (`channel`, or `peer` for `Dial`).
fn subject(e: &Value) -> Option<&str> {
    e["channel"]["id"].as_str().or_else(|| e["peer"]["id"].as_str())
}

impl Record {
    pub fn new(run: &str) -> Self {
        Self { prefix: format!("{run}-"), ..Self::default() }
    }

    /// Drops this run's prefix from ids inside `text`.
    pub fn strip(&self, text: &str) -> String {
        text.replace(&self.prefix, "")
    }

    /// The label of a channel id of this run.
    pub fn label(&self, id: &str) -> Option<String> {
        id.strip_prefix(&self.prefix).map(str::to_owned)
    }

    /// Keeps the events about this run's channels (a shared Asterisk sends others too).
    pub fn keep_events(&mut self, events: Vec<Value>) {
        let prefix = self.prefix.clone();
        self.events.extend(
            events.into_iter().filter(|e| subject(e).is_some_and(|id| id.starts_with(&prefix))),
        );
    }

    pub fn keep_answer(&mut self, step: &str, status: u16, body: &Value) {
        let message = match (&body["message"], &body["error"]) {
            (Value::String(m), _) => m.clone(),
            (_, Value::String(e)) => format!("error: {e}"),
            _ => String::new(),
        };
        self.answers.push(Answer { step: step.to_owned(), status, message });
    }

    /// Drops the events about `labels` (channels the comparison must not see).
    pub fn forget(&mut self, labels: &[&str]) {
        let ids: BTreeSet<String> = labels.iter().map(|l| format!("{}{l}", self.prefix)).collect();
        self.events.retain(|e| subject(e).is_none_or(|id| !ids.contains(id)));
    }

    /// Lets `field` of `ty` events about `label` take any of `values` (a race inside
    /// Asterisk decides which) without the two sides differing.
    pub fn tolerate(&mut self, label: &str, ty: &str, field: &str, values: &[Value]) {
        self.tolerated.push((label.to_owned(), ty.to_owned(), field.to_owned(), values.to_vec()));
    }

    /// Keeps a value both sides must agree on (already normalized by the scenario).
    pub fn keep(&mut self, what: &str, value: Value) {
        self.kept.push((what.to_owned(), value));
    }

    /// A figure to print (and to note in docs/fidelity.md), not compared.
    pub fn figure(&mut self, text: String) {
        self.figures.push(text);
    }

    pub fn print_figures(&self, scenario: &str, kind: Kind) {
        for f in &self.figures {
            println!("fidelity {scenario} [{}]: {f}", kind.name());
        }
    }

    /// Whether an event already kept matches `pred`.
    pub fn any(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.events.iter().any(pred)
    }

    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// Labels of the channels with events.
    pub fn labels(&self) -> BTreeSet<String> {
        self.events.iter().filter_map(|e| subject(e).and_then(|id| self.label(id))).collect()
    }

    /// The events about `label`, in arrival order.
    pub fn events(&self, label: &str) -> Vec<&Value> {
        let id = format!("{}{label}", self.prefix);
        self.events.iter().filter(|e| subject(e) == Some(id.as_str())).collect()
    }

    /// The events about `label` in the canonical order of [`Record::story`].
    pub fn canonical(&self, label: &str) -> Vec<Value> {
        canonical(self.events(label))
    }

    /// Event types about `label`, in the canonical order of [`Record::story`].
    pub fn types(&self, label: &str) -> Vec<String> {
        self.canonical(label).iter().map(|e| e["type"].as_str().unwrap_or("").to_owned()).collect()
    }

    /// The signatures of the events about `label`. Asterisk publishes a created leg's
    /// `Dial` with no status from the dialing thread once the call is placed, so it can land
    /// after the far end's answer, busy or hangup (samples 07, 08): it is put before them,
    /// without its channel state.
    pub fn story(&self, label: &str) -> Vec<String> {
        let mut events = self.canonical(label);
        for (l, ty, field, values) in &self.tolerated {
            for e in events.iter_mut().filter(|e| l == label && e["type"] == ty.as_str()) {
                if values.contains(&e[field.as_str()]) {
                    e[field.as_str()] = Value::String(format!("any of {values:?}"));
                    if field == "cause" {
                        e["cause_txt"] = Value::Null;
                    }
                }
            }
        }
        events.iter().map(|e| self.strip(&signature(e))).collect()
    }
}

fn is_blank_dial(e: &Value) -> bool {
    e["type"] == "Dial" && e["dialstatus"] == ""
}

fn canonical(events: Vec<&Value>) -> Vec<Value> {
    let mut out: Vec<Value> = events.into_iter().cloned().collect();
    for i in 0..out.len() {
        if !is_blank_dial(&out[i]) {
            continue;
        }
        out[i]["peer"]["state"] = Value::Null;
        let mut j = i;
        while j > 0
            && ((out[j - 1]["type"] == "Dial" && !is_blank_dial(&out[j - 1]))
                || out[j - 1]["type"] == "ChannelStateChange"
                || out[j - 1]["type"] == "ChannelHangupRequest")
        {
            out.swap(j - 1, j);
            j -= 1;
        }
    }
    out
}

/// Asserts the simulator's record and Asterisk's tell the same story; prints what agreed.
pub fn assert_same_story(scenario: &str, sim: &Record, real: &Record) {
    let mut diffs = Vec::new();
    let labels: BTreeSet<String> = sim.labels().union(&real.labels()).cloned().collect();
    let mut events = 0;
    for label in &labels {
        let (s, r) = (sim.story(label), real.story(label));
        if s == r {
            events += s.len();
        } else {
            diffs.push(format!(
                "events about {label}:\n  simulator:\n    {}\n  Asterisk:\n    {}",
                s.join("\n    "),
                r.join("\n    ")
            ));
        }
    }
    let longest = sim.answers.len().max(real.answers.len());
    for i in 0..longest {
        let (s, r) = (sim.answers.get(i), real.answers.get(i));
        if s != r {
            diffs.push(format!("REST answer {i}: simulator {s:?}, Asterisk {r:?}"));
        }
    }
    let sim_kept: BTreeMap<_, _> = sim.kept.iter().cloned().collect();
    let real_kept: BTreeMap<_, _> = real.kept.iter().cloned().collect();
    for what in sim_kept.keys().chain(real_kept.keys()).collect::<BTreeSet<_>>() {
        let (s, r) = (sim_kept.get(what), real_kept.get(what));
        if s != r {
            diffs.push(format!(
                "{what}:\n  simulator: {}\n  Asterisk:  {}",
                s.map_or("-".to_owned(), Value::to_string),
                r.map_or("-".to_owned(), Value::to_string)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "fidelity {scenario}: the simulator and Asterisk differ\n{}",
        diffs.join("\n")
    );
    println!(
        "fidelity {scenario}: simulator and Asterisk agree on {} channels ({events} events), \
         {} REST answers and {} kept values",
        labels.len(),
        sim.answers.len(),
        sim_kept.len()
    );
}
