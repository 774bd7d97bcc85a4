//! The decoder takes outside input: arbitrary bytes, arbitrary JSON, and real frames with
//! random damage must never panic, and every failure must be a typed error.

mod support;

use proptest::prelude::*;
use serde_json::Value;
use starq_ari::model::{Event, decode_event};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Few significant digits: serde_json (without `float_roundtrip`) reads those exactly,
        // so the round-trip check below compares like with like.
        (any::<i32>(), 0..4i32).prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e))),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(Event::MODELLED_TYPES).prop_map(|t| Value::String(t.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Field names that hit the model often enough to reach deep decoding paths.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "application",
            "timestamp",
            "channel",
            "id",
            "name",
            "state",
            "bridge",
            "playback",
            "peer",
            "dialstatus",
            "cause",
            "cause_txt",
            "args",
            "value",
            "variable",
            "endpoint",
            "device_state",
            "recording",
            "caller",
            "dialplan",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

/// A modelled event frame with random contents.
fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(Event::MODELLED_TYPES),
        prop::collection::btree_map(field_name(), json_value(), 0..8),
    )
        .prop_map(|(event_type, fields)| {
            let mut map: serde_json::Map<String, Value> = fields.into_iter().collect();
            map.insert("type".into(), Value::String(event_type.to_owned()));
            Value::Object(map)
        })
}

fn check(text: &str) {
    match decode_event(text) {
        Ok(event) => {
            // What decodes must serialize and decode again to the same event.
            let written = serde_json::to_string(&event).expect("a decoded event serializes");
            let again = decode_event(&written).expect("a serialized event decodes");
            assert_eq!(again, event);
        }
        Err(error) => {
            let shown = error.to_string();
            assert!(shown.starts_with("cannot decode"), "{shown}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        // Keep regression files out of the source tree; a failure prints its minimal input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check(&value.to_string());
    }

    #[test]
    fn event_shaped_json_never_panics_and_errors_name_the_type(value in event_like()) {
        let text = value.to_string();
        check(&text);
        if let Err(error) = decode_event(&text) {
            prop_assert_eq!(error.event_type.as_deref(), value["type"].as_str());
        }
    }

    #[test]
    fn damaged_real_frames_never_panic(
        index in any::<prop::sample::Index>(),
        path in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        replacement in prop::option::of(json_value()),
        cut in any::<prop::sample::Index>(),
    ) {
        let Some(frames) = sample_frames() else { return Ok(()) };
        let mut frame = frames[index.index(frames.len())].clone();
        damage(&mut frame, &path, replacement);
        let text = frame.to_string();
        check(&text);
        // A truncated frame is a syntax error, never a panic.
        check(&text[..text.floor_char_boundary(cut.index(text.len() + 1))]);
    }
}

/// Replaces (or, with `None`, removes) the value found by walking `path` through the frame.
fn damage(value: &mut Value, path: &[prop::sample::Index], replacement: Option<Value>) {
    let Value::Object(map) = value else { return };
    if map.is_empty() {
        return;
    }
    let key = map.keys().nth(path[0].index(map.len())).cloned().expect("index in range");
    match (&path[1..], replacement) {
        ([], Some(replacement)) => {
            map.insert(key, replacement);
        }
        ([], None) => {
            map.remove(&key);
        }
        (rest, replacement) => {
            if let Some(inner) = map.get_mut(&key) {
                damage(inner, rest, replacement);
            }
        }
    }
}

fn sample_frames() -> Option<&'static Vec<Value>> {
    static FRAMES: std::sync::OnceLock<Option<Vec<Value>>> = std::sync::OnceLock::new();
    FRAMES
        .get_or_init(|| {
            let dir = support::shared::shared_ari_dir("samples", "STARQ_ARI_SAMPLES_DIR")?;
            let mut frames = Vec::new();
            for entry in std::fs::read_dir(dir).ok()? {
                let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
                let value: Value = serde_json::from_str(&text).ok()?;
                collect(&value, &mut frames);
            }
            Some(frames)
        })
        .as_ref()
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
