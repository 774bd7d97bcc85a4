//! The model against the ARI specification: for every modelled event and resource, a frame
//! holding only what the spec requires decodes (starq demands nothing Asterisk may omit), a
//! frame holding every property the spec lists decodes (types agree), and serializing the
//! decoded value emits every property the spec requires (the simulator's frames are complete).
//!
//! The spec is read at test time from `STARQ_ARI_SPEC_DIR` or `../shared/ari/api-docs`.

mod support;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use starq_ari::model::{self, Event, decode_event};
use support::shared::shared_ari_dir;

type Models = BTreeMap<String, Value>;

fn load_models() -> Option<Models> {
    let dir = shared_ari_dir("api-docs", "STARQ_ARI_SPEC_DIR")?;
    let mut models = Models::new();
    for entry in std::fs::read_dir(dir).expect("spec dir is readable") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        if let Some(file_models) = doc["models"].as_object() {
            models.extend(file_models.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    Some(models)
}

/// The model and its ancestors (the spec links them through `subTypes` on the parent).
fn lineage<'a>(models: &'a Models, name: &str) -> Vec<&'a Value> {
    let mut chain = vec![&models[name]];
    let mut current = name.to_owned();
    while let Some((parent, model)) = models.iter().find(|(_, m)| {
        m["subTypes"].as_array().is_some_and(|subs| subs.iter().any(|s| s == current.as_str()))
    }) {
        chain.push(model);
        current = parent.clone();
    }
    chain
}

/// A JSON value of spec type `ty`; objects get required properties only, or all of them.
fn example(models: &Models, ty: &str, all: bool, depth: usize) -> Value {
    if let Some(inner) = ty.strip_prefix("List[").and_then(|t| t.strip_suffix(']')) {
        return json!([example(models, inner, all, depth)]);
    }
    match ty {
        "string" => json!("x"),
        "int" | "long" => json!(1),
        "double" => json!(1.5),
        "boolean" => json!(true),
        "Date" => json!("2026-11-22T12:12:31.281+0000"),
        "object" => json!({}),
        model if models.contains_key(model) => object(models, model, all, depth + 1),
        other => panic!("unknown spec type {other}"),
    }
}

fn object(models: &Models, name: &str, all: bool, depth: usize) -> Value {
    let mut out = Map::new();
    for model in lineage(models, name) {
        for (property, spec) in model["properties"].as_object().into_iter().flatten() {
            let required = spec["required"] == true;
            if !(required || all && depth < 4) {
                continue;
            }
            let ty = spec["type"].as_str().expect("property type");
            let value = match spec["allowableValues"]["values"].as_array() {
                Some(values) if ty == "string" => values[0].clone(),
                _ => example(models, ty, all, depth),
            };
            out.insert(property.clone(), value);
        }
    }
    if lineage(models, name).len() > 1 && models.contains_key("Message") {
        out.insert("type".into(), json!(name));
    }
    Value::Object(out)
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
