//! Waiting for events and asserting the facts the scenarios share: how a created leg enters
//! Stasis, the event types about a channel, how it ended.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{APP, Target};
use crate::common::Events;

/// Reads events until each of `labels` has had one of type `ty` (kept ones count).
pub async fn until_all(t: &mut Target, ev: &mut Events, ty: &'static str, labels: &[&str]) {
    let mut left: BTreeSet<String> = labels.iter().map(|l| t.id(l)).collect();
    left.retain(|id| {
        !t.record.any(|e| e["type"] == ty && (e["channel"]["id"] == *id || e["peer"]["id"] == *id))
    });
    while !left.is_empty() {
        let got = ev
            .until(|e| {
                e["type"] == ty
                    && (e["channel"]["id"].as_str().is_some_and(|id| left.contains(id))
                        || e["peer"]["id"].as_str().is_some_and(|id| left.contains(id)))
            })
            .await;
        let last = got.last().expect("an event");
        let id = last["channel"]["id"].as_str().or_else(|| last["peer"]["id"].as_str());
        left.remove(id.unwrap_or_default());
        t.saw(got);
    }
}

/// Reads events until one matches `pred`, unless one already kept does.
pub async fn until_seen(t: &mut Target, ev: &mut Events, pred: impl Fn(&Value) -> bool) {
    if !t.record.any(&pred) {
        t.saw(ev.until(pred).await);
    }
}

/// Asserts the event types about `label` (canonical order, see `Record::story`).
pub fn assert_types(t: &Target, label: &str, want: &[&str]) {
    assert_eq!(t.record.types(label), want, "{} events about {label}", t.kind.name());
}

/// The events about `label` of type `ty`, in canonical order (`Record::story`).
pub fn of_type(t: &Target, label: &str, ty: &str) -> Vec<Value> {
    t.record.canonical(label).into_iter().filter(|e| e["type"] == ty).collect()
}

/// A created leg's first events, after one `ChannelVarset` per create variable:
/// `ChannelDialplan` (Stasis), `ChannelVarset STASISSTATUS=""`, `StasisStart` (sample 07).
pub fn assert_enters_stasis(t: &Target, label: &str, vars: &[(&str, &str)], args: &[&str]) {
    let events = t.record.events(label);
    let side = t.kind.name();
    for (i, (name, value)) in vars.iter().enumerate() {
        let e = events[i];
        assert_eq!(
            (&e["type"], &e["variable"], &e["value"]),
            (&json!("ChannelVarset"), &json!(name), &json!(value)),
            "{side} {label}"
        );
    }
    let first: Vec<&Value> = events[vars.len()..vars.len() + 3].to_vec();
    assert_eq!(first[0]["type"], "ChannelDialplan", "{side} {label}");
    assert_eq!(first[0]["dialplan_app"], "Stasis");
    let data = std::iter::once(APP).chain(args.iter().copied()).collect::<Vec<_>>().join(",");
    assert_eq!(first[0]["dialplan_app_data"], data.as_str());
    assert_eq!((&first[1]["variable"], &first[1]["value"]), (&json!("STASISSTATUS"), &json!("")));
    assert_eq!(first[2]["type"], "StasisStart", "{side} {label}");
    assert_eq!(first[2]["args"], json!(args), "{side} {label}");
}

/// A created leg's events from its StasisStart on, when the far end answers and the leg is
/// then hung up (by either side).
pub const ANSWERED: [&str; 7] = [
    "Dial",
    "ChannelStateChange",
    "Dial",
    "ChannelHangupRequest",
    "StasisEnd",
    "ChannelVarset",
    "ChannelDestroyed",
];

/// A created leg's first event types, with `vars` create variables.
pub fn entered(vars: usize) -> Vec<&'static str> {
    let mut v = vec!["ChannelVarset"; vars];
    v.extend(["ChannelDialplan", "ChannelVarset", "StasisStart"]);
    v
}

/// `head` followed by `tail`.
pub fn then(mut head: Vec<&'static str>, tail: &[&'static str]) -> Vec<&'static str> {
    head.extend_from_slice(tail);
    head
}

/// A leg's hangup request cause, its `soft` flag and the cause it was destroyed with.
pub fn ends(t: &Target, label: &str) -> (Value, Value, Value) {
    let request = of_type(t, label, "ChannelHangupRequest")[0].clone();
    let destroyed = of_type(t, label, "ChannelDestroyed")[0].clone();
    (request["cause"].clone(), request["soft"].clone(), destroyed["cause"].clone())
}
