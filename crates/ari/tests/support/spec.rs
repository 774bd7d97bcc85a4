//! Reading the ARI spec (Swagger 1.1 JSON, GPL-2, never copied into the repository) at test
//! time, and generating example values of its models.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::shared::shared_ari_dir;

/// Every spec file's document; `None` (after a loud message) when the spec is not found.
pub fn load_docs() -> Option<Vec<Value>> {
    let dir = shared_ari_dir("api-docs", "STARQ_ARI_SPEC_DIR")?;
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(dir).expect("spec dir is readable") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let text = std::fs::read_to_string(path).expect("spec file is readable");
            docs.push(serde_json::from_str(&text).expect("spec file is JSON"));
        }
    }
    Some(docs)
}

/// All models of the spec by name.
pub type Models = BTreeMap<String, Value>;

/// The models of all spec files.
pub fn models(docs: &[Value]) -> Models {
    let mut models = Models::new();
    for doc in docs {
        if let Some(file_models) = doc["models"].as_object() {
            models.extend(file_models.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    models
}

/// The model and its ancestors (the spec links them through `subTypes` on the parent).
pub fn lineage<'a>(models: &'a Models, name: &str) -> Vec<&'a Value> {
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

/// A JSON value of spec type `ty` (`Channel`, `List[string]`, …); objects get required
/// properties only, or all of them when `all`.
pub fn example(models: &Models, ty: &str, all: bool, depth: usize) -> Value {
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

pub fn object(models: &Models, name: &str, all: bool, depth: usize) -> Value {
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
