//! Every typed call of `AriClient` decodes what the spec says its operation returns. A local
//! server answers each operation with an example of the spec's `responseClass` (every property
//! filled, or 204 for `void`), generated from the spec at test time; every call must succeed,
//! and together the calls must reach every operation the client knows.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use starq_ari::rest::{
    BridgeFeature, BridgeRole, CreateChannel, DialplanTarget, EventSource, HangupReason, Op,
    Originate,
};
use starq_ari::{AriClient, AriError, Credentials, NodeConfig, RestLimits};
use support::spec::{Models, example, load_docs, models};

/// One operation of the spec: method, path template split in segments, response class.
struct SpecOperation {
    method: String,
    template: String,
    response_class: String,
}

struct Server {
    operations: Vec<SpecOperation>,
    models: Models,
    served: Mutex<BTreeSet<(String, String)>>,
}

fn operations(docs: &[Value]) -> Vec<SpecOperation> {
    let mut out = Vec::new();
    for doc in docs {
        for api in doc["apis"].as_array().into_iter().flatten() {
            for operation in api["operations"].as_array().into_iter().flatten() {
                out.push(SpecOperation {
                    method: operation["httpMethod"].as_str().unwrap().to_owned(),
                    template: api["path"].as_str().unwrap().to_owned(),
                    response_class: operation["responseClass"].as_str().unwrap().to_owned(),
                });
            }
        }
    }
    out
}

/// How well `path` matches `template`: `None` if not at all, else the count of literal
/// segments (so `/channels/create` beats `/channels/{channelId}`).
fn score(template: &str, path: &str) -> Option<usize> {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    if template.len() != path.len() {
        return None;
    }
    let mut literal = 0;
    for (t, p) in template.iter().zip(&path) {
        match t.starts_with('{') {
            true => {}
            false if t == p => literal += 1,
            false => return None,
        }
    }
    Some(literal)
}

fn answer(server: &Server, method: &Method, uri: &Uri) -> Response {
    let Some(path) = uri.path().strip_prefix("/ari") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let best = server
        .operations
        .iter()
        .filter(|op| op.method == method.as_str())
        .filter_map(|op| score(&op.template, path).map(|s| (s, op)))
        .max_by_key(|(s, _)| *s);
    let Some((_, operation)) = best else {
        return (StatusCode::BAD_REQUEST, "not an operation of the spec").into_response();
    };
    let key = (operation.method.clone(), operation.template.clone());
    server.served.lock().unwrap().insert(key);
    match operation.response_class.as_str() {
        "void" => StatusCode::NO_CONTENT.into_response(),
        class => {
            let body = example(&server.models, class, true, 0).to_string();
            ([("content-type", "application/json")], body).into_response()
        }
    }
}

async fn start(server: Arc<Server>) -> NodeConfig {
    let state = server.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
        let state = state.clone();
        async move { answer(&state, &method, &uri) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    NodeConfig {
        ari_url: format!("http://{addr}/ari"),
        credentials: Credentials::new("starq", "pw"),
        app: "starq".into(),
    }
}

/// Calls every typed method once; returns the failures by name.
async fn call_everything(c: &AriClient) -> Vec<(&'static str, AriError)> {
    let originate =
        Originate { endpoint: "PJSIP/1".into(), app: "starq".into(), ..Originate::default() };
    let create =
        CreateChannel { endpoint: "PJSIP/1".into(), app: "starq".into(), ..Default::default() };
    let target = DialplanTarget::default();
    let sources = [EventSource::DeviceState("PJSIP/1".into())];
    let mixing = [BridgeFeature::Mixing];
    let results: Vec<(&'static str, Result<(), AriError>)> = vec![
        ("list_channels", c.list_channels().await.map(drop)),
        ("get_channel", c.get_channel("c1").await.map(drop)),
        ("originate", c.originate(&originate).await.map(drop)),
        ("create_channel", c.create_channel(&create).await.map(drop)),
        ("dial", c.dial("c1", None, Some(10)).await),
        ("answer", c.answer("c1").await),
        ("ring", c.ring("c1").await),
        ("ring_stop", c.ring_stop("c1").await),
        ("progress", c.progress("c1").await),
        ("moh_start", c.moh_start("c1", None).await),
        ("moh_stop", c.moh_stop("c1").await),
        ("play", c.play("c1", "pb1", &["sound:x"], None).await.map(drop)),
        ("continue_in_dialplan", c.continue_in_dialplan("c1", &target).await),
        ("move_to_app", c.move_to_app("c1", "other", None).await),
        ("hangup", c.hangup("c1", Some(HangupReason::Normal)).await),
        ("get_variable", c.get_variable("c1", "X").await.map(drop)),
        ("set_variable", c.set_variable("c1", "X", "1", None).await),
        ("list_bridges", c.list_bridges().await.map(drop)),
        ("get_bridge", c.get_bridge("b1").await.map(drop)),
        ("create_bridge", c.create_bridge("b1", &mixing, None).await.map(drop)),
        ("delete_bridge", c.delete_bridge("b1").await),
        ("add_channels", c.add_channels("b1", &["c1"], Some(BridgeRole::Participant)).await),
        ("remove_channels", c.remove_channels("b1", &["c1"]).await),
        ("bridge_moh_start", c.bridge_moh_start("b1", None).await),
        ("bridge_moh_stop", c.bridge_moh_stop("b1").await),
        ("bridge_play", c.bridge_play("b1", "pb2", &["sound:x"], None).await.map(drop)),
        ("stop_playback", c.stop_playback("pb1").await),
        ("get_application", c.get_application().await.map(drop)),
        ("subscribe", c.subscribe(&sources).await.map(drop)),
        ("unsubscribe", c.unsubscribe(&sources).await.map(drop)),
        ("asterisk_info", c.asterisk_info().await.map(drop)),
        ("ping", c.ping().await.map(drop)),
    ];
    results.into_iter().filter_map(|(name, result)| result.err().map(|e| (name, e))).collect()
}

#[tokio::test]
async fn every_typed_call_decodes_the_spec_response() {
    let Some(docs) = load_docs() else { return };
    let server = Arc::new(Server {
        operations: operations(&docs),
        models: models(&docs),
        served: Mutex::default(),
    });
    let node = start(server.clone()).await;
    let client = AriClient::new(&node, RestLimits::default()).unwrap();
    let failures = call_everything(&client).await;
    assert!(failures.is_empty(), "calls that do not decode the spec's answer: {failures:#?}");

    let served = server.served.lock().unwrap().clone();
    let unreached: Vec<Op> = Op::ALL
        .iter()
        .copied()
        .filter(|op| *op != Op::EventWebSocket)
        .filter(|op| !served.contains(&(op.method().as_str().to_owned(), op.template().to_owned())))
        .collect();
    assert!(unreached.is_empty(), "operations no typed call reached: {unreached:?}");
}
