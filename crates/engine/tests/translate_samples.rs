//! The translation of real Asterisk 22 events (recorded in `../shared/ari/samples`): agent legs
//! created and dialled by the application, answered, ringing out, busy, hung up while ringing.

use std::path::PathBuf;

use starq_ari::Event;
use starq_ari::model::decode_value;
use starq_core::engine::Input;
use starq_core::shared::Miss;
use starq_core::{NodeId, ReservationId};
use starq_engine::translate::{Channels, Step};

fn samples_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("STARQ_ARI_SAMPLES_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ari/samples")
    });
    dir.is_dir().then_some(dir)
}

fn events(file: &str) -> Option<Vec<Event>> {
    let Some(dir) = samples_dir() else {
        assert!(std::env::var("CI").is_err(), "ARI samples not found: set STARQ_ARI_SAMPLES_DIR");
        eprintln!("SKIPPED LOUDLY: ARI samples not found beside the checkout");
        return None;
    };
    let text = std::fs::read_to_string(dir.join(file)).expect("readable sample");
    let json: serde_json::Value = serde_json::from_str(&text).expect("sample is JSON");
    // Samples are either a list of events or an object holding one under "events".
    let list = json.get("events").unwrap_or(&json).as_array().expect("a list of events").clone();
    Some(list.into_iter().map(|e| decode_value(e).expect("recorded events decode")).collect())
}

#[test]
fn recorded_create_and_dial_legs_become_answers_and_misses() {
    let Some(events) = events("04b_create_dial.json") else { return };
    let node = NodeId::new("pbx1");
    let mut channels = Channels::default();
    for (i, leg) in ["a1005", "a1006", "a1007", "a1008"].iter().enumerate() {
        channels.leg_created(&node, leg, ReservationId(i as u64 + 1));
    }
    let mut inputs = Vec::new();
    let mut refused = Vec::new();
    for event in &events {
        for step in channels.translate(&node, event) {
            match step {
                Step::Input(input) => inputs.push(input),
                Step::Refuse { channel, reason } => refused.push((channel, reason)),
                Step::DeleteBridge(_) => {}
            }
        }
    }
    let r = ReservationId;
    assert_eq!(
        inputs,
        [
            Input::LegAnswered { reservation: r(1) },
            Input::LegHungUp { reservation: r(1) },
            Input::LegFailed { reservation: r(2), miss: Miss::NoAnswer },
            Input::LegFailed { reservation: r(3), miss: Miss::Busy },
            Input::LegFailed { reservation: r(4), miss: Miss::NoAnswer },
        ]
    );
    // The recording's dialplan passed `Stasis(q,inbound,500)`, and its originate no arguments:
    // neither is starq's `queue=…`, so both callers are sent back, each with its reason.
    let channels_refused: Vec<&str> = refused.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels_refused, ["c500;2", "1795349466.34"]);
    assert!(refused[0].1.contains("inbound"), "{refused:?}");
    assert!(refused[1].1.contains("no queue"), "{refused:?}");
    assert!(channels.is_empty());
}

#[test]
fn events_about_channels_starq_does_not_follow_change_nothing() {
    let Some(events) = events("01_basic_bridge.json") else { return };
    let node = NodeId::new("pbx1");
    let mut channels = Channels::default();
    // A recording made by another application: every channel in it is a stranger to starq,
    // except callers entering Stasis (refused here: their arguments are not starq's).
    for event in &events {
        for step in channels.translate(&node, event) {
            assert!(
                matches!(step, Step::Refuse { .. }),
                "unexpected {step:?} for {}",
                event.event_type()
            );
        }
    }
    let unknown = starq_ari::model::decode_event(
        r#"{"type":"SomethingNew","application":"starq","extra":1}"#,
    )
    .expect("unknown types decode");
    assert!(channels.translate(&node, &unknown).is_empty());
}
