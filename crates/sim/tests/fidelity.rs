//! The simulator is trusted only as far as a suite shows: each scenario here runs the same
//! scripted ARI exchange against a simulated node and, when `STARQ_TEST_ASTERISK` names one
//! (`http://user:pass@127.0.0.1:8088/ari`), against a real Asterisk 22 with the reference
//! dialplan of docs/fidelity.md, and compares the event sequences per channel and the REST
//! answers. Each scenario also asserts the facts recorded in `../shared/ari/samples/` on every
//! side, so the simulator half is a test of its own when no Asterisk is at hand (CI).
//!
//! Run against a real Asterisk:
//! `STARQ_TEST_ASTERISK=http://starq:starq@127.0.0.1:8088/ari cargo test -p starq-sim --test fidelity -- --nocapture`

mod common;
mod fidelity_support;

use std::time::Duration;

use common::{Events, unnumbered};
use fidelity_support::facts::{
    ANSWERED, assert_enters_stasis, assert_types, ends, entered, of_type, then, until_all,
    until_seen,
};
use fidelity_support::{APP, Target, on_both};
use serde_json::{Value, json};

// ---- a. create then immediate dial ------------------------------------------------------

const RACE_TRIES: usize = 40;
/// Further tries, only while no 409 has been seen (a slow client on a loaded machine).
const RACE_EXTRA: usize = 200;
const AFTER_START_TRIES: usize = 10;

// Two workers: the event reader must not delay the immediate `/dial` (it decodes the
// events that arrive with the create's answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_then_immediate_dial_can_meet_409() {
    on_both("a create+immediate dial", race).await;
}

/// Creates `leg` and dials it at once; after a 409, dials again on its StasisStart; hangs
/// the leg up once answered. Whether the first `/dial` wins is a race: its answer is counted
/// (the return value), not recorded.
async fn create_then_dial(t: &mut Target, ev: &mut Events, leg: &str, endpoint: &str) -> bool {
    t.recording(false);
    assert_eq!(t.create(leg, endpoint, "leg", &[]).await.0, 200);
    let (status, body) = t.dial(leg, None, 10).await;
    let refused = status == 409;
    if refused {
        assert_eq!(body["message"], "Channel not in Stasis application");
        t.saw(ev.until(t.on("StasisStart", leg)).await);
        assert_eq!(t.dial(leg, None, 10).await.0, 204, "a dial after StasisStart");
    } else {
        assert_eq!(status, 204, "{body}");
    }
    t.saw(ev.until(t.dial_status(leg, "ANSWER")).await);
    let chan = t.chan(leg);
    assert_eq!(t.delete("hang up", &chan, &[]).await.0, 204);
    t.recording(true);
    refused
}

async fn race(mut t: Target) -> Target {
    let mut ev = t.events().await;
    let mut refused = 0;
    let mut labels = Vec::new();
    for i in 0..RACE_TRIES {
        let leg = format!("race{i}");
        let endpoint = format!("Local/{}@agents/n", 1000 + i);
        refused += usize::from(create_then_dial(&mut t, &mut ev, &leg, &endpoint).await);
        labels.push(leg);
    }
    // A slow client can miss the window every time: try on, but compare only the first 40.
    let (mut extra, mut late) = (Vec::new(), false);
    while refused == 0 && !late && extra.len() < RACE_EXTRA {
        let leg = format!("extra{}", extra.len());
        let endpoint = format!("Local/{}@agents/n", 1200 + extra.len());
        late = create_then_dial(&mut t, &mut ev, &leg, &endpoint).await;
        extra.push(leg);
    }
    if late {
        t.record.figure(format!("no 409 in {RACE_TRIES}, one at extra try {}", extra.len()));
    }
    let extras: Vec<&str> = extra.iter().map(String::as_str).collect();
    for i in 0..AFTER_START_TRIES {
        let leg = format!("waited{i}");
        let endpoint = format!("Local/{}@agents/n", 1100 + i);
        assert_eq!(t.create(&leg, &endpoint, "leg", &[]).await.0, 200);
        t.saw(ev.until(t.on("StasisStart", &leg)).await);
        assert_eq!(t.dial(&leg, None, 10).await.0, 204, "a dial after StasisStart never fails");
        t.saw(ev.until(t.dial_status(&leg, "ANSWER")).await);
        let chan = t.chan(&leg);
        assert_eq!(t.delete("hang up", &chan, &[]).await.0, 204);
        labels.push(leg);
    }
    let all: Vec<&str> = labels.iter().map(String::as_str).collect();
    until_all(&mut t, &mut ev, "ChannelDestroyed", &[&all[..], &extras[..]].concat()).await;
    t.record.forget(&extras);
    assert!(
        refused > 0 || late,
        "{}: no immediate /dial met 409 in {} tries",
        t.kind.name(),
        RACE_TRIES + extra.len()
    );
    t.record.figure(format!("409 on an immediate /dial: {refused} of {RACE_TRIES}"));
    for leg in &all {
        assert_enters_stasis(&t, leg, &[], &["leg"]);
        assert_types(&t, leg, &then(entered(0), &ANSWERED));
        let dials = of_type(&t, leg, "Dial");
        assert!(dials.iter().any(|d| d["dialstatus"] == ""
            && d["dialstring"].as_str().is_some_and(|s| s.ends_with("@agents/n"))));
        let request = &of_type(&t, leg, "ChannelHangupRequest")[0];
        assert_eq!((&request["cause"], &request["soft"]), (&json!(32), &json!(true)));
        assert_eq!(of_type(&t, leg, "ChannelDestroyed")[0]["cause"], 16);
    }
    t
}

// ---- b. dial after StasisStart to an answering agent ------------------------------------

#[tokio::test]
async fn b_dial_after_stasis_start_to_an_answering_agent() {
    on_both("b answering agent", answering_agent).await;
}

async fn answering_agent(mut t: Target) -> Target {
    let mut ev = t.events().await;
    t.place_caller("caller", "200", &["queue=fidelity"], "5552000").await;
    t.saw(ev.until(t.on("StasisStart", "caller;2")).await);
    let vars = [("AGENT_TALK", "1")];
    assert_eq!(t.create("agent", "Local/1001@agents", "agent,1001", &vars).await.0, 200);
    t.saw(ev.until(t.on("StasisStart", "agent")).await);
    assert_eq!(t.dial("agent", Some("caller;2"), 10).await.0, 204);
    t.saw(ev.until(t.on("ChannelDestroyed", "agent")).await);
    let agent = t.chan("agent");
    assert_eq!(t.get("agent gone", &agent).await.0, 404);
    let caller = t.chan("caller;2");
    t.delete("hang the caller up", &caller, &[]).await;
    t.saw(ev.until(t.on("StasisEnd", "caller;2")).await);
    t.saw(ev.drain(Duration::from_millis(200)).await);

    assert_enters_stasis(&t, "agent", &vars, &["agent", "1001"]);
    assert_types(&t, "agent", &then(entered(1), &then(vec!["ChannelConnectedLine"], &ANSWERED)));
    let connected = &of_type(&t, "agent", "ChannelConnectedLine")[0];
    assert_eq!(connected["channel"]["connected"]["number"], "5552000");
    let request = &of_type(&t, "agent", "ChannelHangupRequest")[0];
    assert_eq!((&request["cause"], &request["soft"]), (&json!(16), &Value::Null));
    assert_types(&t, "caller;2", &["StasisStart", "ChannelHangupRequest", "StasisEnd"]);
    t
}

// ---- c. Busy ----------------------------------------------------------------------------

#[tokio::test]
async fn c_busy_signals_at_once_and_the_dial_timeout_ends_the_leg() {
    on_both("c busy", busy).await;
}

async fn busy(mut t: Target) -> Target {
    let mut ev = t.events().await;
    // (label, BUSY_HOLD, dial timeout): `Busy()` for ever, a hold longer than the timeout,
    // a hold shorter than it, and a leg the app deletes on `Dial BUSY` (sample 08).
    let legs = [
        ("forever", "forever", 2),
        ("hold3", "3", 1),
        ("hold1", "1", 3),
        ("deleted", "forever", 15),
    ];
    for (label, hold, _) in legs {
        let endpoint = format!("Local/{}@busy", 1200 + label.len());
        assert_eq!(t.create(label, &endpoint, "", &[("BUSY_HOLD", hold)]).await.0, 200);
    }
    let labels: Vec<&str> = legs.iter().map(|l| l.0).collect();
    until_all(&mut t, &mut ev, "StasisStart", &labels).await;
    for (label, _, timeout) in legs {
        assert_eq!(t.dial(label, None, timeout).await.0, 204);
    }
    t.saw(ev.until(t.dial_status("deleted", "BUSY")).await);
    let deleted = t.chan("deleted");
    t.delete("delete on Dial BUSY", &deleted, &[]).await;
    let forever_busy = t.dial_status("forever", "BUSY");
    until_seen(&mut t, &mut ev, forever_busy).await;
    // `Busy()` signalled busy but hangs nothing up: the leg is still there, Down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let forever = t.chan("forever");
    let (status, chan) = t.get("busy leg still up", &forever).await;
    assert_eq!((status, &chan["state"]), (200, &json!("Down")), "{}", t.kind.name());
    until_all(&mut t, &mut ev, "ChannelDestroyed", &labels).await;

    let signalled =
        ["Dial", "Dial", "ChannelHangupRequest", "StasisEnd", "ChannelVarset", "ChannelDestroyed"];
    for (label, hold, _) in legs {
        assert_enters_stasis(&t, label, &[("BUSY_HOLD", hold)], &[]);
        assert_types(&t, label, &then(entered(1), &signalled));
        let dials = of_type(&t, label, "Dial");
        assert!(dials.iter().any(|d| d["dialstatus"] == "BUSY"), "{label}: Dial BUSY at once");
        assert!(t.record.events(label).iter().all(|e| e["channel"]["state"] != "Up"));
    }
    // The timeout is a soft hangup with cause 19, also after Dial BUSY (sample 08).
    assert_eq!(ends(&t, "forever"), (json!(32), json!(true), json!(19)));
    assert_eq!(ends(&t, "hold3"), (json!(32), json!(true), json!(19)));
    assert_eq!(ends(&t, "hold1"), (json!(17), Value::Null, json!(17)));
    assert_eq!(ends(&t, "deleted"), (json!(32), json!(true), json!(16)));
    t
}

// ---- d. Hangup(17) on the agent side ----------------------------------------------------

#[tokio::test]
async fn d_agent_side_hangup_17_gives_no_dial_busy() {
    on_both("d Hangup(17)", busy_hangup).await;
}

/// Legs dialed to `Hangup(17)`: enough to see the cause Asterisk destroys them with vary.
const REJECTS: usize = 16;

async fn busy_hangup(mut t: Target) -> Target {
    let mut ev = t.events().await;
    let (mut busy, mut normal) = (0, 0);
    for i in 0..REJECTS {
        let leg = format!("rejects{i}");
        let endpoint = format!("Local/{}@busyhangup", 1300 + i);
        assert_eq!(t.create(&leg, &endpoint, "", &[]).await.0, 200);
        t.saw(ev.until(t.on("StasisStart", &leg)).await);
        assert_eq!(t.dial(&leg, None, 15).await.0, 204);
        t.saw(ev.until(t.on("ChannelDestroyed", &leg)).await);
        assert_enters_stasis(&t, &leg, &[], &[]);
        let tail =
            ["Dial", "ChannelHangupRequest", "StasisEnd", "ChannelVarset", "ChannelDestroyed"];
        assert_types(&t, &leg, &then(entered(0), &tail));
        assert_eq!(of_type(&t, &leg, "Dial")[0]["dialstatus"], "", "no Dial BUSY");
        let request = &of_type(&t, &leg, "ChannelHangupRequest")[0];
        assert_eq!((&request["cause"], &request["soft"]), (&json!(17), &Value::Null));
        // The hangup request always says 17; racing the dial, Asterisk sometimes destroys
        // the leg with 16 all the same.
        let destroyed = &of_type(&t, &leg, "ChannelDestroyed")[0];
        match destroyed["cause"].as_i64() {
            Some(17) => busy += 1,
            Some(16) => normal += 1,
            other => panic!("{}: {leg} destroyed with cause {other:?}", t.kind.name()),
        }
        t.record.tolerate(&leg, "ChannelDestroyed", "cause", &[json!(17), json!(16)]);
    }
    t.record.figure(format!(
        "Hangup(17) legs destroyed with cause 17: {busy}, with 16: {normal} (of {REJECTS})"
    ));
    t
}

// ---- e. no answer -----------------------------------------------------------------------

#[tokio::test]
async fn e_ring_timeout_is_cause_19_with_no_final_dial() {
    on_both("e no answer", no_answer).await;
}

async fn no_answer(mut t: Target) -> Target {
    let mut ev = t.events().await;
    // (label, NOANSWER_WAIT, dial timeout): the dial times out; the far end's dialplan runs
    // out first; the app hangs up while it rings (sample 04b).
    let legs = [("timeout", "", 1), ("gives-up", "1", 3), ("cancelled", "", 15)];
    for (label, wait, _) in legs {
        let vars: Vec<(&str, &str)> =
            if wait.is_empty() { vec![] } else { vec![("NOANSWER_WAIT", wait)] };
        assert_eq!(t.create(label, "Local/1400@noanswer", "", &vars).await.0, 200);
    }
    let labels: Vec<&str> = legs.iter().map(|l| l.0).collect();
    until_all(&mut t, &mut ev, "StasisStart", &labels).await;
    for (label, _, timeout) in legs {
        assert_eq!(t.dial(label, None, timeout).await.0, 204);
    }
    t.saw(ev.until(t.dial_status("cancelled", "RINGING")).await);
    let cancelled = t.chan("cancelled");
    t.delete("hang up while ringing", &cancelled, &[]).await;
    until_all(&mut t, &mut ev, "ChannelDestroyed", &labels).await;
    t.saw(ev.drain(Duration::from_millis(200)).await);

    for (label, wait, _) in legs {
        let vars = if wait.is_empty() { 0 } else { 1 };
        assert_types(&t, label, &then(entered(vars), &ANSWERED));
        let statuses: Vec<Value> =
            of_type(&t, label, "Dial").iter().map(|d| d["dialstatus"].clone()).collect();
        assert_eq!(statuses, [json!(""), json!("RINGING")], "{label}: no final Dial");
    }
    assert_eq!(ends(&t, "timeout"), (json!(32), json!(true), json!(19)));
    // `[noanswer]` ends without `Hangup()`: the request carries no cause.
    assert_eq!(ends(&t, "gives-up"), (json!(0), Value::Null, json!(16)));
    assert_eq!(ends(&t, "cancelled"), (json!(32), json!(true), json!(16)));
    t
}

// ---- f. music on hold, then /continue ---------------------------------------------------

#[tokio::test]
async fn f_moh_then_continue_ends_stasis() {
    on_both("f MOH and /continue", moh_then_continue).await;
}

async fn moh_then_continue(mut t: Target) -> Target {
    let mut ev = t.events().await;
    let callers = [("moh", "300"), ("moh-stopped", "301"), ("next", "302")];
    for (label, exten) in callers {
        t.place_caller(label, exten, &["queue=fidelity"], "5553000").await;
    }
    let halves: Vec<String> = callers.iter().map(|(l, _)| format!("{l};2")).collect();
    let halves: Vec<&str> = halves.iter().map(String::as_str).collect();
    until_all(&mut t, &mut ev, "StasisStart", &halves).await;
    let target = [("context", "after-stasis"), ("extension", "300"), ("priority", "1")];
    for label in ["moh;2", "moh-stopped;2"] {
        let chan = t.chan(label);
        t.post(&format!("answer {label}"), &format!("{chan}/answer"), &[]).await;
        t.saw(ev.until(t.on("ChannelStateChange", label)).await);
        t.post(&format!("moh {label}"), &format!("{chan}/moh"), &[("mohClass", "default")]).await;
    }
    let stopped = t.chan("moh-stopped;2");
    t.delete("stop moh", &format!("{stopped}/moh"), &[]).await;
    for label in ["moh;2", "moh-stopped;2"] {
        let chan = t.chan(label);
        t.post(&format!("continue {label}"), &format!("{chan}/continue"), &target).await;
        t.saw(ev.until(t.on("StasisEnd", label)).await);
    }
    let next = t.chan("next;2");
    t.post("continue with no target", &format!("{next}/continue"), &[]).await;
    t.saw(ev.until(t.on("StasisEnd", "next;2")).await);
    // Out of Stasis, the channel is the dialplan's: the app may no longer drive it.
    let moh = t.chan("moh;2");
    t.post("continue again", &format!("{moh}/continue"), &[]).await;
    t.delete("stop moh after continue", &format!("{moh}/moh"), &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, chan) = t.get("in the dialplan", &moh).await;
    assert_eq!(status, 200, "{}: still in [after-stasis]", t.kind.name());
    let at = &chan["dialplan"];
    t.record.keep(
        "dialplan after /continue",
        json!([at["context"], at["exten"], at["app_name"], at["app_data"]]),
    );
    assert!(t.gone("next;2").await, "no target: the next priority hangs up");
    assert!(t.gone("moh;2").await, "[after-stasis] waits 2 s, then hangs up");
    t.saw(ev.drain(Duration::from_millis(200)).await);

    for label in ["moh;2", "moh-stopped;2"] {
        assert_types(&t, label, &["StasisStart", "ChannelStateChange", "StasisEnd"]);
    }
    assert_types(&t, "next;2", &["StasisStart", "StasisEnd"]);
    let statuses: Vec<u16> = t.record.answers().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [204, 204, 204, 204, 204, 204, 204, 204, 409, 409, 200]);
    t
}

// ---- g. listings with three waiting callers ---------------------------------------------

#[tokio::test]
async fn g_channel_and_application_listings() {
    on_both("g listings", listings).await;
}

/// `2026-12-07T14:42:51.888+0000`: milliseconds and a numeric zone.
fn ms_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 28
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && (b[23] == b'+' || b[23] == b'-')
}

async fn listings(mut t: Target) -> Target {
    let mut ev = t.events().await;
    t.place_caller("first", "400", &["queue=h1"], "5554001").await;
    t.saw(ev.until(t.on("StasisStart", "first;2")).await);
    t.place_caller("second", "401", &["queue=h1"], "5554002").await;
    t.place_caller("third", "402", &["queue=h1"], "5554003").await;
    until_all(&mut t, &mut ev, "StasisStart", &["second;2", "third;2"]).await;

    let first = t.chan("first;2");
    let (status, chan) = t.get("get a caller", &first).await;
    assert_eq!(status, 200);
    let created = chan["creationtime"].as_str().unwrap_or_default();
    assert!(ms_time(created), "{}: creationtime {created}", t.kind.name());
    let mut shape = chan.clone();
    shape["id"] = json!(t.record.strip(chan["id"].as_str().unwrap_or_default()));
    shape["name"] = json!(t.record.strip(&unnumbered(chan["name"].as_str().unwrap_or_default())));
    shape["creationtime"] = json!("ms");
    t.record.keep("GET /channels/{caller}", shape);

    let (_, all) = t.get("list channels", "/channels").await;
    let mut ours: Vec<String> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().and_then(|id| t.record.label(id)))
        .collect();
    ours.sort();
    let both_halves = ["first", "first;2", "second", "second;2", "third", "third;2"];
    assert_eq!(ours, both_halves, "{}: /channels lists both halves", t.kind.name());
    for c in all.as_array().into_iter().flatten() {
        assert!(ms_time(c["creationtime"].as_str().unwrap_or_default()), "{c}");
    }
    let (_, app) = t.get("get the application", &format!("/applications/{APP}")).await;
    let mut in_app: Vec<String> = app["channel_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().and_then(|id| t.record.label(id)))
        .collect();
    in_app.sort();
    assert_eq!(
        in_app,
        ["first;2", "second;2", "third;2"],
        "{}: only the Stasis halves",
        t.kind.name()
    );
    t.record.keep("application keys", json!(app.as_object().map(|o| o.keys().collect::<Vec<_>>())));

    // Hanging up the handset half ends the caller: hangup request 16, StasisEnd (sample 12).
    for label in ["first", "second", "third"] {
        let chan = t.chan(label);
        t.delete(&format!("hang up {label};1"), &chan, &[]).await;
    }
    until_all(&mut t, &mut ev, "StasisEnd", &["first;2", "second;2", "third;2"]).await;
    t.saw(ev.drain(Duration::from_millis(300)).await);
    for label in ["first;2", "second;2", "third;2"] {
        assert_types(&t, label, &["StasisStart", "ChannelHangupRequest", "StasisEnd"]);
        let request = &of_type(&t, label, "ChannelHangupRequest")[0];
        assert_eq!((&request["cause"], &request["soft"]), (&json!(16), &Value::Null));
        assert_eq!(of_type(&t, label, "StasisStart")[0]["args"], json!(["queue=h1"]));
    }
    t
}

// ---- h. error answers -------------------------------------------------------------------

#[tokio::test]
async fn h_error_answers() {
    on_both("h errors", errors).await;
}

async fn errors(mut t: Target) -> Target {
    let mut ev = t.events().await;
    t.place_caller("caller", "500", &["queue=fidelity"], "5555000").await;
    t.saw(ev.until(t.on("StasisStart", "caller;2")).await);
    let nobody = t.chan("nobody");
    t.post("dial unknown", &format!("{nobody}/dial"), &[]).await;
    t.post("continue unknown", &format!("{nobody}/continue"), &[]).await;
    t.post("answer unknown", &format!("{nobody}/answer"), &[]).await;
    t.delete("hang up unknown", &nobody, &[]).await;
    t.get("get unknown", &nobody).await;

    // Before any 409 on this connection: after one, Asterisk answers an unknown technology
    // with a stale 409 (docs/fidelity.md).
    for endpoint in ["", "garbage", "Local/", "Bogus/123"] {
        t.post(
            &format!("create to '{endpoint}'"),
            "/channels/create",
            &[("endpoint", endpoint), ("app", APP)],
        )
        .await;
        t.post(
            &format!("originate to '{endpoint}'"),
            "/channels",
            &[("endpoint", endpoint), ("app", APP)],
        )
        .await;
    }
    t.post(
        "originate with neither app nor extension",
        "/channels",
        &[("endpoint", "Local/1@agents")],
    )
    .await;

    // Ids are taken while their channel lives, free again once it is gone.
    let talk = [("AGENT_TALK", "5")];
    t.create("dup", "Local/1500@agents", "", &talk).await;
    t.saw(ev.until(t.on("StasisStart", "dup")).await);
    t.create("dup", "Local/1500@agents", "", &talk).await;
    let dup = t.id("dup");
    let originate = [("endpoint", "Local/1500@agents"), ("app", APP), ("channelId", dup.as_str())];
    t.post("originate with a live id", "/channels", &originate).await;
    let other = t.id("other");
    let taken_peer = [
        ("endpoint", "Local/1500@agents"),
        ("app", APP),
        ("channelId", other.as_str()),
        ("otherChannelId", dup.as_str()),
    ];
    t.post("create with a live otherChannelId", "/channels/create", &taken_peer).await;
    let dup_path = t.chan("dup");
    t.delete("bad reason", &dup_path, &[("reason", "sleepy")]).await;
    t.delete("reason and code", &dup_path, &[("reason", "busy"), ("reason_code", "17")]).await;
    t.delete("bad reason code", &dup_path, &[("reason_code", "loud")]).await;
    t.delete("hang up dup", &dup_path, &[]).await;
    t.saw(ev.until(t.on("ChannelDestroyed", "dup")).await);
    t.create("dup", "Local/1500@agents", "", &talk).await;
    t.saw(ev.until(t.on("StasisStart", "dup")).await);
    // Asterisk dials all the same when it cannot find `caller`.
    t.dial("dup", Some("nobody"), 10).await;
    t.saw(ev.until(t.dial_status("dup", "ANSWER")).await);
    t.dial("dup", None, 10).await;
    t.dial("caller;2", None, 10).await;
    t.delete("hang up dup again", &dup_path, &[]).await;
    t.saw(ev.until(t.on("ChannelDestroyed", "dup")).await);

    // A Local target without a context is in `[default]`, which the dialplan lacks.
    t.create("no-context", "Local/1501", "", &[]).await;
    t.saw(ev.until(t.on("StasisStart", "no-context")).await);
    let no_context = t.chan("no-context");
    let (_, chan) = t.get("get no-context", &no_context).await;
    t.record.keep("no-context dialplan", chan["dialplan"].clone());
    t.record.keep("no-context name", json!(unnumbered(chan["name"].as_str().unwrap_or_default())));
    t.dial("no-context", None, 10).await;
    t.saw(ev.until(t.on("ChannelDestroyed", "no-context")).await);
    let caller = t.chan("caller;2");
    t.delete("hang the caller up", &caller, &[]).await;
    t.saw(ev.until(t.on("StasisEnd", "caller;2")).await);
    t.saw(ev.drain(Duration::from_millis(200)).await);

    let got: Vec<(u16, &str)> =
        t.record.answers().iter().map(|a| (a.status, a.message.as_str())).collect();
    let not_found = (404, "Channel not found");
    let taken = (409, "Channel with given unique ID already exists");
    let invalid = (400, "Invalid endpoint specified");
    let missing = (400, "Endpoint must be specified");
    let alloc = (500, "error: Allocation failed");
    #[rustfmt::skip]
    let want = [
        not_found, not_found, not_found, not_found, not_found,
        missing, missing, invalid, invalid, invalid, invalid, alloc, alloc,
        (400, "Application or extension must be specified"),
        (200, ""), taken, taken, taken,
        (400, "Invalid reason for hangup reason provided"),
        (400, "The reason and reason_code can't both be specified"),
        (400, "Invalid reason for hangup reason code provided"),
        (204, ""), (200, ""), (204, ""),
        (409, "Channel is not in the 'Down' state"),
        (409, "Channel is not in the 'Down' state"),
        (204, ""),
        (200, ""), (200, ""), (204, ""), (204, ""),
    ];
    assert_eq!(got, want, "{}", t.kind.name());
    t
}

// ---- i. an agent leg by originate (beyond the brief's list: samples 01, 03, 04a use it) -------------------------------------------------------

#[tokio::test]
async fn i_originated_agent_leg() {
    on_both("i originate", originated).await;
}

async fn originated(mut t: Target) -> Target {
    let mut ev = t.events().await;
    let (leg, other) = (t.id("leg"), t.id("leg-2"));
    let query = [
        ("endpoint", "Local/1@agents"),
        ("app", APP),
        ("appArgs", "agent,1"),
        ("callerId", "Queue <100>"),
        ("channelId", leg.as_str()),
        ("otherChannelId", other.as_str()),
    ];
    let vars = [("AGENT_TALK", "2")];
    let (status, chan) = t.post_vars("originate", "/channels", &query, &vars).await;
    assert_eq!(status, 200);
    t.record.keep("originate answer", json!([chan["state"], chan["dialplan"], chan["caller"]]));
    until_all(&mut t, &mut ev, "ChannelDestroyed", &["leg", "leg-2"]).await;
    t.saw(ev.drain(Duration::from_millis(200)).await);

    // The leg enters Stasis when answered; the agent's `Hangup()` ends it (sample 01 has the
    // app hang it up instead).
    let leg_types = [
        "Dial",
        "ChannelStateChange",
        "Dial",
        "ChannelVarset",
        "StasisStart",
        "ChannelHangupRequest",
        "StasisEnd",
        "ChannelVarset",
        "ChannelDestroyed",
    ];
    assert_types(&t, "leg", &leg_types);
    assert_eq!(of_type(&t, "leg", "StasisStart")[0]["args"], json!(["agent", "1"]));
    let (request, soft, destroyed) = ends(&t, "leg");
    assert_eq!((request, soft), (json!(16), Value::Null));
    // Asterisk destroys it with 0 or with 16, as a race inside it goes.
    assert!(destroyed == 0 || destroyed == 16, "{}: cause {destroyed}", t.kind.name());
    t.record.tolerate("leg", "ChannelDestroyed", "cause", &[json!(0), json!(16)]);
    t.record.figure(format!("the answered leg was destroyed with cause {destroyed}"));
    let half = [
        "ChannelVarset",
        "ChannelCallerId",
        "ChannelConnectedLine",
        "ChannelDialplan",
        "ChannelDialplan",
        "ChannelStateChange",
        "ChannelDialplan",
        "ChannelDialplan",
        "ChannelHangupRequest",
        "ChannelDestroyed",
    ];
    assert_types(&t, "leg-2", &half);
    let apps: Vec<Value> =
        of_type(&t, "leg-2", "ChannelDialplan").iter().map(|e| e["dialplan_app"].clone()).collect();
    assert_eq!(apps, [json!("NoOp"), json!("Answer"), json!("Wait"), json!("Hangup")]);
    assert_eq!(ends(&t, "leg-2"), (json!(16), json!(true), json!(16)));
    t
}
