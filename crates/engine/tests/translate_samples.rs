//! The translation of real Asterisk 22 events (recorded in `../shared/ari/samples`): agent legs
//! created and dialled by the application, answered, ringing out, busy, hung up while ringing.

use std::path::PathBuf;
use std::time::Duration;

use starq_ari::Event;
use starq_ari::model::{DialStatus, decode_value};
use starq_core::engine::Input;
use starq_core::shared::Miss;
use starq_core::{NodeId, ReservationId};
use starq_engine::translate::{Channels, DialOrder, Step};

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

/// The events of one section of a sample made of sections (07 onwards), REST steps left out.
fn section_events(file: &str, section: &str) -> Option<Vec<Event>> {
    let dir = samples_dir()?;
    let text = std::fs::read_to_string(dir.join(file)).expect("readable sample");
    let json: serde_json::Value = serde_json::from_str(&text).expect("sample is JSON");
    let steps = json[section]["steps"].as_array().expect("a section with steps").clone();
    let events = steps.into_iter().filter(|step| step.get("type").is_some());
    Some(events.map(|e| decode_value(e).expect("recorded events decode")).collect())
}

fn order(caller: &str) -> DialOrder {
    DialOrder { caller: caller.to_owned(), timeout: Duration::from_secs(15) }
}

/// Translates every event, sorting the steps by kind.
#[derive(Default)]
struct Replay {
    inputs: Vec<Input>,
    refused: Vec<(String, String)>,
    dials: Vec<String>,
    hangups: Vec<String>,
}

impl Replay {
    fn run(channels: &mut Channels, node: &NodeId, events: &[Event]) -> Self {
        let mut out = Replay::default();
        for event in events {
            for step in channels.translate(node, event) {
                match step {
                    Step::Input(input) => out.inputs.push(input),
                    Step::Refuse { channel, reason } => out.refused.push((channel, reason)),
                    Step::Dial { leg, .. } => out.dials.push(leg),
                    Step::HangupLeg(leg) => out.hangups.push(leg),
                    Step::DeleteBridge(_)
                    | Step::AgentCode { .. }
                    | Step::AgentCodePlayed(_)
                    | Step::AgentCodeGone(_) => {}
                }
            }
        }
        out
    }
}

#[test]
fn recorded_create_and_dial_legs_become_answers_and_misses() {
    let Some(events) = events("04b_create_dial.json") else { return };
    let node = NodeId::new("pbx1");
    let mut channels = Channels::default();
    let legs = ["a1005", "a1006", "a1007", "a1008"];
    for (i, leg) in legs.iter().enumerate() {
        channels.leg_created(&node, leg, ReservationId(i as u64 + 1), order("c500;2"));
    }
    let replay = Replay::run(&mut channels, &node, &events);
    let r = ReservationId;
    assert_eq!(
        replay.inputs,
        [
            Input::LegAnswered { reservation: r(1) },
            Input::LegHungUp { reservation: r(1) },
            Input::LegFailed { reservation: r(2), miss: Miss::NoAnswer },
            Input::LegFailed { reservation: r(3), miss: Miss::Busy },
            Input::LegFailed { reservation: r(4), miss: Miss::NoAnswer },
        ]
    );
    assert_eq!(replay.dials, legs, "each leg is dialed once, on its StasisStart");
    assert_eq!(replay.hangups, ["a1007"], "the busy leg is hung up on its Dial BUSY");
    // The recording's dialplan passed `Stasis(q,inbound,500)`, and its originate no arguments:
    // neither is starq's `queue=…`, so both callers are sent back, each with its reason.
    let channels_refused: Vec<&str> = replay.refused.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels_refused, ["c500;2", "1795349466.34"]);
    assert!(replay.refused[0].1.contains("inbound"), "{:?}", replay.refused);
    assert!(replay.refused[1].1.contains("no queue"), "{:?}", replay.refused);
    assert!(channels.is_empty());
}

#[test]
fn a_created_leg_is_dialed_on_its_stasis_start_never_before() {
    // Sample 07: the create's answer comes before the leg is in the app; its StasisStart
    // (args `leg`) is what lets the dial through.
    let node = NodeId::new("pbx1");
    for (section, leg) in [("immediate_dial", "leg07-0"), ("dial_after_stasisstart", "leg07-wait")]
    {
        let Some(events) = section_events("07_create_dial_race.json", section) else { return };
        let mut channels = Channels::default();
        channels.leg_created(&node, leg, ReservationId(7), order("caller"));
        let before = events.iter().position(|e| e.event_type() == "StasisStart").unwrap();
        let early = Replay::run(&mut channels, &node, &events[..before]);
        assert!(early.dials.is_empty(), "{section}: nothing is dialed before StasisStart");
        let rest = Replay::run(&mut channels, &node, &events[before..]);
        assert_eq!(rest.dials, [leg], "{section}");
        assert_eq!(
            rest.inputs,
            [
                Input::LegAnswered { reservation: ReservationId(7) },
                Input::LegHungUp { reservation: ReservationId(7) },
            ],
            "{section}"
        );
    }
}

#[test]
fn a_leg_still_entering_the_app_is_dialed_again_once_in() {
    let node = NodeId::new("pbx1");
    let Some(events) = section_events("07_create_dial_race.json", "immediate_dial") else { return };
    let mut channels = Channels::default();
    channels.leg_created(&node, "leg07-0", ReservationId(1), order("caller"));
    // Rung again after a takeover: the create met the leg, so it is dialed at once…
    let dials = channels.leg_existed("leg07-0");
    assert!(matches!(dials.as_slice(), [Step::Dial { leg, .. }] if leg == "leg07-0"));
    // …and Asterisk answered 409 not in Stasis: the next dial waits for the StasisStart.
    assert!(channels.dial_early("leg07-0", order("caller")).is_empty());
    let replay = Replay::run(&mut channels, &node, &events);
    assert_eq!(replay.dials, ["leg07-0"]);
    // Once in the app, a dial that came back early is sent again at once.
    let mut channels = Channels::default();
    channels.leg_created(&node, "leg07-0", ReservationId(1), order("caller"));
    let start = events.iter().position(|e| e.event_type() == "StasisStart").unwrap();
    assert_eq!(Replay::run(&mut channels, &node, &events[..=start]).dials, ["leg07-0"]);
    let again = channels.dial_early("leg07-0", order("caller"));
    assert!(matches!(again.as_slice(), [Step::Dial { .. }]));
}

#[test]
fn a_busy_leg_is_given_back_on_dial_busy_not_at_the_dial_timeout() {
    // Sample 08: `Busy()` says BUSY at once, Asterisk leaves the leg up and later reports
    // cause 19 (no answer). The Dial event decides: busy now, leg hung up, cause ignored.
    let node = NodeId::new("pbx1");
    let Some(events) = section_events("08_dial_busy.json", "busy_left_alone") else { return };
    let mut channels = Channels::default();
    channels.leg_created(&node, "leg08-a", ReservationId(3), order("caller"));
    let busy = events
        .iter()
        .position(|e| matches!(e, Event::Dial(d) if d.dialstatus == DialStatus::Busy))
        .unwrap();
    let upto = Replay::run(&mut channels, &node, &events[..=busy]);
    assert_eq!(upto.inputs, [Input::LegFailed { reservation: ReservationId(3), miss: Miss::Busy }]);
    assert_eq!(upto.hangups, ["leg08-a"]);
    let after = Replay::run(&mut channels, &node, &events[busy + 1..]);
    assert!(after.inputs.is_empty(), "the cause-19 destruction is not news: {:?}", after.inputs);
    assert!(channels.is_empty());
    // A phone hanging up with cause 17 sends no Dial BUSY: the cause tells.
    let Some(events) = section_events("08_dial_busy.json", "hangup_17") else { return };
    channels.leg_created(&node, "leg08-c", ReservationId(4), order("caller"));
    let replay = Replay::run(&mut channels, &node, &events);
    assert_eq!(
        replay.inputs,
        [Input::LegFailed { reservation: ReservationId(4), miss: Miss::Busy }]
    );
    assert!(replay.hangups.is_empty());
    // Asterisk sometimes destroys such a leg with cause 16 (seen in 17 % of live runs, see
    // docs/fidelity.md): the far end's hangup request, 17, is what tells.
    let mut events = events.clone();
    for event in &mut events {
        if let Event::ChannelDestroyed(d) = event {
            d.cause = 16;
        }
    }
    channels.leg_created(&node, "leg08-c", ReservationId(5), order("caller"));
    let replay = Replay::run(&mut channels, &node, &events);
    assert_eq!(
        replay.inputs,
        [Input::LegFailed { reservation: ReservationId(5), miss: Miss::Busy }]
    );
}

#[test]
fn a_leg_starq_let_go_of_is_never_taken_for_a_caller() {
    // The offer ended while the leg's creation was on its way: its StasisStart (args `leg`)
    // reaches a registry that no longer follows it. It is not a caller with bad arguments.
    let node = NodeId::new("pbx1");
    let Some(events) = section_events("07_create_dial_race.json", "dial_after_stasisstart") else {
        return;
    };
    let mut channels = Channels::default();
    channels.leg_created(&node, "leg07-wait", ReservationId(9), order("caller"));
    channels.leg_released("leg07-wait");
    let replay = Replay::run(&mut channels, &node, &events);
    assert!(replay.refused.is_empty(), "{:?}", replay.refused);
    assert!(replay.inputs.is_empty() && replay.dials.is_empty());
    // Nor is a leg another instance made, under starq's leg naming.
    let mut channels = Channels::default();
    let replay = Replay::run(&mut channels, &node, &events);
    assert!(replay.refused.is_empty(), "{:?}", replay.refused);
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

/// Sample 10's first caller and its end, entering with `args` instead of its own, and the end of
/// a playback on it (as the ARI spec shapes `PlaybackFinished`; no sample records one).
fn code_events(args: &[&str]) -> Option<(Event, Event, Event)> {
    let dir = samples_dir()?;
    let text = std::fs::read_to_string(dir.join("10_moh_then_continue.json")).expect("readable");
    let json: serde_json::Value = serde_json::from_str(&text).expect("sample is JSON");
    let steps = json["moh_not_stopped"]["steps"].as_array().expect("steps").clone();
    let of_type = |kind: &str| steps.iter().find(|s| s["type"] == kind).expect(kind).clone();
    let mut start = of_type("StasisStart");
    start["args"] = serde_json::json!(args);
    start["channel"]["dialplan"]["app_data"] = format!("starq,{}", args.join(",")).into();
    let played = serde_json::json!({
        "type": "PlaybackFinished",
        "timestamp": "2026-12-07T14:41:33.100+0000",
        "playback": {
            "id": "c10a;2-p3",
            "media_uri": "sound:agent-loginok",
            "target_uri": "channel:c10a;2",
            "language": "en",
            "state": "done"
        },
        "asterisk_id": "02:fc:00:00:00:01",
        "application": "starq"
    });
    let decode = |v| decode_value(v).expect("decodes");
    Some((decode(start), decode(played), decode(of_type("StasisEnd"))))
}

#[test]
fn a_feature_code_channel_is_followed_as_such_until_sent_on() {
    let Some((start, played, end)) = code_events(&["agent=toggle", "pin=0042"]) else { return };
    let node = NodeId::new("main");
    let mut channels = Channels::default();
    let steps = channels.translate(&node, &start);
    let [Step::AgentCode { channel, name, code: Ok(code), stray: false }] = steps.as_slice() else {
        panic!("a feature code, not a caller: {steps:?}");
    };
    assert_eq!((channel.as_str(), name.as_str()), ("c10a;2", "Local/9101@acc-in-00000132;2"));
    assert_eq!(code.action, starq_engine::phone::CodeAction::Toggle);
    assert!(!format!("{steps:?}").contains("0042"), "the PIN never shows");
    let present = ["c10a;2".to_owned()].into();
    assert!(channels.strays(&node, &present).is_empty(), "followed: no stray");
    assert_eq!(channels.translate(&node, &played), [Step::AgentCodePlayed("c10a;2".into())]);
    assert_eq!(channels.translate(&node, &end), [Step::AgentCodeGone("c10a;2".into())]);

    // Sent on by starq: its end is not news, and while Asterisk tears it down it is no stray.
    channels.translate(&node, &start);
    channels.code_released(&node, "c10a;2");
    assert!(channels.translate(&node, &end).is_empty());
    assert!(channels.strays(&node, &present).is_empty());
}

#[test]
fn a_feature_code_found_in_a_listing_says_so() {
    let Some((start, _, _)) = code_events(&["agent=toggle"]) else { return };
    let Event::StasisStart(e) = start else { unreachable!() };
    let mut channels = Channels::default();
    let node = NodeId::new("main");
    let steps = channels.stray(&node, &e.channel, "starq", &Default::default(), false);
    assert!(matches!(steps.as_slice(), [Step::AgentCode { stray: true, .. }]), "{steps:?}");
    let again = channels.stray(&node, &e.channel, "starq", &Default::default(), false);
    assert!(again.is_empty(), "followed once");
}
