//! Every event recorded from a real Asterisk decodes into its typed form, and serializing the
//! typed form gives back the frame Asterisk wrote (so the simulator emits real shapes).

mod support;

use serde_json::Value;
use starq_ari::model::{Event, decode_event};
use support::shared::shared_ari_dir;

/// Collects every object that is an ARI event (has `type` and `application`) in a sample file.
fn collect_events(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) if map.contains_key("type") && map.contains_key("application") => {
            out.push(value.clone());
        }
        Value::Object(map) => map.values().for_each(|v| collect_events(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_events(v, out)),
        _ => {}
    }
}

fn sample_events() -> Option<Vec<(String, Value)>> {
    let dir = shared_ari_dir("samples", "STARQ_ARI_SAMPLES_DIR")?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples dir is readable")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut events = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("sample is readable");
        let value: Value = serde_json::from_str(&text).expect("sample is JSON");
        let mut found = Vec::new();
        collect_events(&value, &mut found);
        let name = file.file_name().expect("file name").to_string_lossy().into_owned();
        events.extend(found.into_iter().map(|event| (name.clone(), event)));
    }
    Some(events)
}

#[test]
fn every_recorded_event_decodes_to_its_typed_form() {
    let Some(events) = sample_events() else { return };
    assert!(events.len() > 100, "expected the recorded samples, found {} events", events.len());
    let mut typed = 0;
    for (file, value) in &events {
        let frame = serde_json::to_string(value).expect("re-serialize");
        let event =
            decode_event(&frame).unwrap_or_else(|error| panic!("{file}: {error}\nframe: {frame}"));
        let event_type = value["type"].as_str().expect("type is a string");
        assert_eq!(event.event_type(), event_type, "{file}");
        if Event::MODELLED_TYPES.contains(&event_type) {
            assert!(event.is_modelled(), "{file}: modelled type {event_type} came back unknown");
            typed += 1;
        } else {
            assert!(!event.is_modelled(), "{file}: {event_type} is not in MODELLED_TYPES");
        }
        // Routing by channel: every recorded event with a channel (or a dialled peer) says so.
        let channel = value.get("channel").or_else(|| value.get("peer"));
        let expected = channel.and_then(|c| c["id"].as_str()).filter(|_| event.is_modelled());
        assert_eq!(event.channel().map(|c| c.id.as_str()), expected, "{file}: {event_type}");
        let back = serde_json::to_value(&event).expect("serialize");
        assert_eq!(&back, value, "{file}: {event_type} does not round-trip");
    }
    assert!(typed > 100, "only {typed} typed events");
}

#[test]
fn samples_cover_the_types_starq_relies_on() {
    let Some(events) = sample_events() else { return };
    for needed in [
        "StasisStart",
        "StasisEnd",
        "ChannelStateChange",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "Dial",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelVarset",
        "ApplicationReplaced",
        "ApplicationRegistered",
        "BridgeDestroyed",
    ] {
        assert!(
            events.iter().any(|(_, value)| value["type"] == needed),
            "no recorded {needed} event: the samples changed"
        );
    }
}

#[test]
fn recorded_rest_responses_decode() {
    let Some(dir) = shared_ari_dir("samples", "STARQ_ARI_SAMPLES_DIR") else { return };
    let info = std::fs::read_to_string(dir.join("05_asterisk_info.json")).expect("info sample");
    let info: starq_ari::model::AsteriskInfo = serde_json::from_str(&info).expect("info decodes");
    assert_eq!(info.system.expect("system").version, "22.10.1");
    let ping = std::fs::read_to_string(dir.join("05_asterisk_ping.json")).expect("ping sample");
    let ping: starq_ari::model::AsteriskPing = serde_json::from_str(&ping).expect("ping decodes");
    assert_eq!(ping.ping, "pong");
}
