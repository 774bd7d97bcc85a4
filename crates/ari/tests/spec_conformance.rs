//! Every request the client can build is checked against the ARI specification of Asterisk
//! 22.10.1: method and path exist, every parameter is known to the spec and sent where the spec
//! says (path, query or body), values have the spec's type and allowed values, and every
//! required parameter is present.
//!
//! The spec is GPL-2 data and is never copied into the repository: it is read at test time from
//! `STARQ_ARI_SPEC_DIR` or `../shared/ari/api-docs` beside the workspace root.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use starq_ari::rest::{
    BridgeFeature, BridgeRole, CreateChannel, DialplanTarget, EventSource, HangupReason, Op,
    Originate, Request, bridges, channels, node,
};
use support::shared::shared_ari_dir;

/// One operation of the spec: its parameters by name.
struct SpecOperation {
    params: BTreeMap<String, Value>,
}

/// All operations of the spec, by (method, path).
fn load_spec() -> Option<BTreeMap<(String, String), SpecOperation>> {
    let dir = shared_ari_dir("api-docs", "STARQ_ARI_SPEC_DIR")?;
    let mut operations = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("spec dir is readable") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("spec file is readable");
        let doc: Value = serde_json::from_str(&text).expect("spec file is JSON");
        for api in doc["apis"].as_array().into_iter().flatten() {
            let api_path = api["path"].as_str().expect("api path").to_owned();
            for operation in api["operations"].as_array().into_iter().flatten() {
                let method = operation["httpMethod"].as_str().expect("method").to_owned();
                let params = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| (p["name"].as_str().expect("param name").to_owned(), p.clone()))
                    .collect();
                operations.insert((method, api_path.clone()), SpecOperation { params });
            }
        }
    }
    assert!(operations.len() > 50, "spec at {} looks incomplete", dir.display());
    Some(operations)
}

/// One request per builder, with every optional parameter filled in.
fn every_request() -> Vec<Request> {
    let variables = BTreeMap::from([("STARQ_CALL".to_owned(), "42".to_owned())]);
    let originate = Originate {
        endpoint: "PJSIP/1001".into(),
        app: "starq".into(),
        app_args: Some("agent,42".into()),
        caller_id: Some("\"Queue\" <100>".into()),
        timeout: Some(20),
        channel_id: Some("call42-1".into()),
        other_channel_id: Some("call42-1;2".into()),
        originator: Some("caller42".into()),
        variables: variables.clone(),
    };
    let create = CreateChannel {
        endpoint: "Local/1001@agents".into(),
        app: "starq".into(),
        app_args: Some("agent".into()),
        channel_id: Some("call42-2".into()),
        other_channel_id: Some("call42-2;2".into()),
        originator: Some("caller42".into()),
        variables,
    };
    let target = DialplanTarget {
        context: Some("after-queue".into()),
        extension: Some("s".into()),
        priority: Some(1),
        label: Some("vm".into()),
    };
    let sources = [
        EventSource::Channel("c1".into()),
        EventSource::Bridge("b1".into()),
        EventSource::Endpoint("PJSIP/1001".into()),
        EventSource::DeviceState("PJSIP/1001".into()),
    ];
    let features = [BridgeFeature::Mixing, BridgeFeature::DtmfEvents];
    let mut requests = vec![
        channels::list(),
        channels::get("c1"),
        channels::originate(&originate),
        channels::originate(&Originate {
            endpoint: "PJSIP/1".into(),
            app: "starq".into(),
            ..Originate::default()
        }),
        channels::create(&create),
        channels::dial("c1", Some("caller42"), Some(15)),
        channels::dial("c1", None, None),
        channels::answer("c1"),
        channels::ring("c1"),
        channels::ring_stop("c1"),
        channels::progress("c1"),
        channels::moh_start("c1", Some("default")),
        channels::moh_stop("c1"),
        channels::play("c1", "pb1", &["sound:queue-thankyou", "number:3"], Some("en")),
        channels::continue_in_dialplan("c1", &target),
        channels::continue_in_dialplan("c1", &DialplanTarget::default()),
        channels::move_to("c1", "other", Some("x")),
        channels::hangup("c1", None),
        channels::get_variable("c1", "CHANNEL(state)"),
        channels::set_variable("c1", "QUEUESTATUS", "TIMEOUT", Some(true)),
        bridges::list(),
        bridges::get("b1"),
        bridges::create("b1", &features, Some("call42")),
        bridges::create("b2", &[BridgeFeature::Holding], None),
        bridges::create("b3", &[BridgeFeature::ProxyMedia], None),
        bridges::delete("b1"),
        bridges::add_channels("b1", &["c1", "c2"], Some(BridgeRole::Announcer)),
        bridges::add_channels("b1", &["c1"], Some(BridgeRole::Participant)),
        bridges::remove_channels("b1", &["c1"]),
        bridges::moh_start("b1", Some("default")),
        bridges::moh_stop("b1"),
        bridges::play("b1", "pb2", &["sound:hello"], Some("en")),
        node::stop_playback("pb1"),
        node::get_application("starq"),
        node::subscribe("starq", &sources),
        node::unsubscribe("starq", &sources),
        node::asterisk_info(),
        node::asterisk_ping(),
        node::event_websocket("starq"),
    ];
    for reason in [
        HangupReason::Normal,
        HangupReason::Busy,
        HangupReason::Congestion,
        HangupReason::NoAnswer,
        HangupReason::Timeout,
        HangupReason::Rejected,
        HangupReason::Unallocated,
        HangupReason::NormalUnspecified,
        HangupReason::NumberIncomplete,
        HangupReason::CodecMismatch,
        HangupReason::Interworking,
        HangupReason::Failure,
        HangupReason::AnsweredElsewhere,
    ] {
        requests.push(channels::hangup("c1", Some(reason)));
    }
    requests
}

/// Checks a value against the spec's `dataType` and `allowableValues`.
fn check_value(context: &str, spec: &Value, value: &str) -> Result<(), String> {
    let parts: Vec<&str> = match spec["allowMultiple"].as_bool() == Some(true) {
        true => value.split(',').collect(),
        false => vec![value],
    };
    for part in parts {
        let typed = match spec["dataType"].as_str().unwrap_or("string") {
            "int" | "long" => part.parse::<i64>().is_ok(),
            "boolean" => part == "true" || part == "false",
            _ => true,
        };
        if !typed {
            return Err(format!("{context}: {part:?} is not a {}", spec["dataType"]));
        }
        if let Some(allowed) = spec["allowableValues"]["values"].as_array()
            && !allowed.iter().any(|v| v == part)
        {
            return Err(format!("{context}: {part:?} is not one of {allowed:?}"));
        }
    }
    Ok(())
}

fn check_request(
    spec: &BTreeMap<(String, String), SpecOperation>,
    request: &Request,
) -> Result<(), String> {
    let op = request.op();
    let key = (request.method().as_str().to_owned(), op.template().to_owned());
    let operation = spec.get(&key).ok_or(format!("{op}: {key:?} is not in the spec"))?;
    let mut seen = BTreeSet::new();
    let mut check = |name: &str, place: &str, value: Option<&str>| -> Result<(), String> {
        let context = format!("{op}: {place} parameter {name:?}");
        let param = operation.params.get(name).ok_or(format!("{context} is not in the spec"))?;
        if param["paramType"] != place {
            return Err(format!("{context}: the spec wants it in {}", param["paramType"]));
        }
        if !seen.insert(name.to_owned()) {
            return Err(format!("{context} is sent twice"));
        }
        value.map_or(Ok(()), |value| check_value(&context, param, value))
    };
    for (name, value) in request.path_params() {
        check(name, "path", Some(value))?;
    }
    for (name, value) in request.query_params() {
        check(name, "query", Some(value))?;
    }
    if let Some(body) = request.json_body() {
        let body = body.as_object().ok_or(format!("{op}: body is not a JSON object"))?;
        for name in body.keys() {
            check(name, "body", None)?;
        }
    }
    for (name, param) in &operation.params {
        if param["required"] == true && !seen.contains(name) {
            return Err(format!("{op}: required parameter {name:?} is missing"));
        }
    }
    Ok(())
}

#[test]
fn every_request_matches_the_ari_spec() {
    let Some(spec) = load_spec() else { return };
    let requests = every_request();
    let failures: Vec<String> =
        requests.iter().filter_map(|request| check_request(&spec, request).err()).collect();
    assert!(failures.is_empty(), "requests that do not match the spec:\n{}", failures.join("\n"));
    let covered: BTreeSet<Op> = requests.iter().map(Request::op).collect();
    let missing: Vec<&Op> = Op::ALL.iter().filter(|op| !covered.contains(op)).collect();
    assert!(missing.is_empty(), "operations without a checked request: {missing:?}");
}

#[test]
fn the_checker_rejects_what_the_spec_forbids() {
    let Some(spec) = load_spec() else { return };
    let missing = strip_query(channels::get_variable("c1", "X"), "variable");
    assert!(check_request(&spec, &missing).unwrap_err().contains("required"));
    let wrong_type = channels::dial("c1", None, None);
    let wrong_type = with_query(wrong_type, "timeout", "soon");
    assert!(check_request(&spec, &wrong_type).unwrap_err().contains("not a"));
    let unknown = with_query(channels::answer("c1"), "bogus", "1");
    assert!(check_request(&spec, &unknown).unwrap_err().contains("not in the spec"));
    let misplaced = Request::from_parts(
        Op::ChannelOriginate,
        vec![],
        vec![("endpoint", "PJSIP/1".into()), ("variables", "x".into())],
        None,
    );
    assert!(check_request(&spec, &misplaced).unwrap_err().contains("wants it in"));
    let bad_reason = with_query(channels::hangup("c1", None), "reason", "bored");
    assert!(check_request(&spec, &bad_reason).unwrap_err().contains("not one of"));
}

/// Rebuilds a request without one query parameter.
fn strip_query(request: Request, name: &str) -> Request {
    rebuild(&request, |query| query.retain(|(n, _)| *n != name))
}

fn with_query(request: Request, name: &'static str, value: &str) -> Request {
    rebuild(&request, |query| query.push((name, value.to_owned())))
}

fn rebuild(request: &Request, edit: impl FnOnce(&mut Vec<(&'static str, String)>)) -> Request {
    let mut query = request.query_params().to_vec();
    edit(&mut query);
    let path: Vec<String> = request.path_params().map(|(_, v)| v.to_owned()).collect();
    Request::from_parts(request.op(), path, query, request.json_body().cloned())
}

/// Runs this test binary's conformance test with the spec pointed at a missing directory.
fn run_without_spec(ci: Option<&str>) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = std::process::Command::new(exe);
    command
        .args(["--exact", "every_request_matches_the_ari_spec", "--nocapture"])
        .env("STARQ_ARI_SPEC_DIR", "/nonexistent/starq-ari-spec");
    match ci {
        Some(value) => command.env("CI", value),
        None => command.env_remove("CI"),
    };
    let output = command.output().expect("test binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn a_missing_spec_is_loud_and_fails_under_ci() {
    let (passed, text) = run_without_spec(Some("true"));
    assert!(!passed, "must fail under CI=true:\n{text}");
    assert!(text.contains("/nonexistent/starq-ari-spec") && text.contains("NOTHING"), "{text}");
    let (passed, text) = run_without_spec(None);
    assert!(passed, "outside CI it only warns:\n{text}");
    assert!(text.contains("ARI reference directory not found"), "{text}");
}
