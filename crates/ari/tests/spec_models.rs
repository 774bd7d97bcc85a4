//! The model against the ARI specification: for every modelled event and resource, a frame
//! holding only what the spec requires decodes (starq demands nothing Asterisk may omit), a
//! frame holding every property the spec lists decodes (types agree), and serializing the
//! decoded value emits every property the spec requires (the simulator's frames are complete).
//!
//! The spec is read at test time from `STARQ_ARI_SPEC_DIR` or `../shared/ari/api-docs`.

mod support;

use serde::de::DeserializeOwned;
use serde_json::Value;
use starq_ari::model::{self, Event, decode_event};
use support::spec::{Models, lineage, object};

fn load_models() -> Option<Models> {
    support::spec::load_docs().map(|docs| support::spec::models(&docs))
}

/// Spec-required properties missing from `written`, as dotted paths.
fn missing_required(models: &Models, name: &str, written: &Value, path: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for model in lineage(models, name) {
        for (property, spec) in model["properties"].as_object().into_iter().flatten() {
            let here = format!("{path}{property}");
            match written.get(property) {
                None if spec["required"] == true => missing.push(here),
                Some(value) => {
                    let ty = spec["type"].as_str().unwrap_or("");
                    if models.contains_key(ty) && value.is_object() {
                        missing.extend(missing_required(models, ty, value, &format!("{here}.")));
                    }
                }
                None => {}
            }
        }
    }
    missing
}

#[test]
fn every_modelled_event_agrees_with_the_spec() {
    let Some(models) = load_models() else { return };
    // The generator must produce real frames, or this test would pass vacuously.
    let minimal = object(&models, "StasisStart", false, 0);
    assert_eq!(minimal["type"], "StasisStart");
    assert!(minimal["application"].is_string() && minimal["channel"]["id"].is_string());
    assert!(minimal.get("replace_channel").is_none());
    assert!(object(&models, "Dial", true, 0)["forwarded"]["caller"]["number"].is_string());
    let mut failures = Vec::new();
    for &name in Event::MODELLED_TYPES {
        assert!(models.contains_key(name), "{name} is not an event of the spec");
        for all in [false, true] {
            let frame = object(&models, name, all, 0);
            match decode_event(&frame.to_string()) {
                Ok(event) if event.event_type() == name && event.is_modelled() => {
                    let written = serde_json::to_value(&event).unwrap();
                    for path in missing_required(&models, name, &written, "") {
                        failures.push(format!("{name}: serializing omits required {path}"));
                    }
                }
                Ok(event) => failures.push(format!("{name}: decoded as {}", event.event_type())),
                Err(error) => failures.push(format!("{name} (all properties: {all}): {error}")),
            }
        }
    }
    assert!(failures.is_empty(), "model and spec disagree:\n{}", failures.join("\n"));
}

fn check_resource<T: DeserializeOwned + serde::Serialize>(
    models: &Models,
    name: &str,
    failures: &mut Vec<String>,
) {
    for all in [false, true] {
        let value = object(models, name, all, 0);
        match serde_json::from_value::<T>(value) {
            Ok(decoded) => {
                let written = serde_json::to_value(&decoded).unwrap();
                for path in missing_required(models, name, &written, "") {
                    failures.push(format!("{name}: serializing omits required {path}"));
                }
            }
            Err(error) => failures.push(format!("{name} (all properties: {all}): {error}")),
        }
    }
}

#[test]
fn every_modelled_resource_agrees_with_the_spec() {
    let Some(models) = load_models() else { return };
    let mut failures = Vec::new();
    check_resource::<model::Channel>(&models, "Channel", &mut failures);
    check_resource::<model::Bridge>(&models, "Bridge", &mut failures);
    check_resource::<model::Playback>(&models, "Playback", &mut failures);
    check_resource::<model::Endpoint>(&models, "Endpoint", &mut failures);
    check_resource::<model::DeviceState>(&models, "DeviceState", &mut failures);
    check_resource::<model::LiveRecording>(&models, "LiveRecording", &mut failures);
    check_resource::<model::Application>(&models, "Application", &mut failures);
    check_resource::<model::AsteriskInfo>(&models, "AsteriskInfo", &mut failures);
    check_resource::<model::AsteriskPing>(&models, "AsteriskPing", &mut failures);
    check_resource::<model::Variable>(&models, "Variable", &mut failures);
    assert!(failures.is_empty(), "model and spec disagree:\n{}", failures.join("\n"));
}
