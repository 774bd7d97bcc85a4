//! Sample 06: the node connects out to the application, announces the app, serves REST over
//! that WebSocket, and queues events while the connection is down. Also REST over an inbound
//! event WebSocket.

mod common;

use std::time::Duration;

use common::{Events, assert_same, fast_node, sample, types};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use starq_sim::node_config::OutboundWs;
use starq_sim::{CallSpec, Sim, SimConfig};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

type Server = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Accepts the node's connection, checking path and subprotocol as the sample recorded them.
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
async fn accept(listener: &TcpListener) -> Server {
    let (stream, _) =
        tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
    tokio_tungstenite::accept_hdr_async(stream, |req: &Request, mut resp: Response| {
        assert_eq!(req.uri().path(), "/ari");
        assert_eq!(req.headers()["Sec-WebSocket-Protocol"], "ari");
        assert_eq!(req.headers()["Authorization"], "Basic c3RhcnE6czNjcmV0", "starq:s3cret");
        resp.headers_mut().insert("Sec-WebSocket-Protocol", "ari".parse().unwrap());
        Ok(resp)
    })
    .await
    .unwrap()
}

async fn next_json(ws: &mut Server) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            starq_ari::decode_event(text.as_str()).unwrap_or_else(|e| panic!("{text}: {e}"));
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn until(ws: &mut Server, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let v = next_json(ws).await;
        let done = pred(&v);
        out.push(v);
        if done {
            return out;
        }
    }
}

async fn request(
    ws: &mut Server,
    (id, tx): (&str, &str),
    method: &str,
    uri: &str,
    query: &[(&str, &str)],
) {
    let qs: Vec<Value> = query.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
    let frame = json!({"type": "RESTRequest", "request_id": id, "transaction_id": tx,
        "method": method, "uri": uri, "query_strings": qs});
    ws.send(Message::Text(frame.to_string().into())).await.unwrap();
}

fn response<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events.iter().find(|e| e["type"] == "RESTResponse" && e["request_id"] == id).unwrap()
}

#[tokio::test]
async fn sample_06_outbound_websocket_with_rest() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = SimConfig::local(1, 6);
    cfg.node = fast_node();
    cfg.node.outbound = Some(OutboundWs {
        uri: format!("ws://{}/ari", listener.local_addr().unwrap()),
        apps: vec!["qout".to_owned()],
        reconnect_interval: Duration::from_millis(100),
        credentials: Some(("starq".to_owned(), "s3cret".to_owned())),
    });
    let sim = Sim::start(cfg).await.unwrap();
    let node = sim.node(0).unwrap();
    let mut ws = accept(&listener).await;
    let mut got = vec![next_json(&mut ws).await];
    request(&mut ws, ("r1", "t1"), "GET", "asterisk/ping", &[]).await;
    got.extend(until(&mut ws, |e| e["request_id"] == "r1").await);
    let originate = [
        ("endpoint", "Local/700@to-qout"),
        ("channelId", "c700"),
        ("context", "caller"),
        ("extension", "s"),
    ];
    request(&mut ws, ("r2", "t1"), "POST", "channels", &originate).await;
    got.extend(until(&mut ws, |e| e["request_id"] == "r2").await);
    if !got.iter().any(|e| e["type"] == "StasisStart") {
        got.extend(until(&mut ws, |e| e["type"] == "StasisStart").await);
    }
    request(&mut ws, ("r3", "t2"), "DELETE", "channels/c700;2", &[]).await;
    got.extend(until(&mut ws, |e| e["type"] == "StasisEnd").await);
    if !got.iter().any(|e| e["request_id"] == "r3") {
        got.extend(until(&mut ws, |e| e["request_id"] == "r3").await);
    }

    let recorded = sample("06_outbound_websocket.json")["events"].as_array().unwrap().clone();
    let mut want_types = types(&recorded);
    let mut got_types = types(&got);
    want_types.sort();
    got_types.sort();
    assert_eq!(got_types, want_types);
    assert_eq!(got[0]["type"], "ApplicationRegistered");
    assert_eq!(got[0]["application"], "qout");
    assert_same(&recorded, &got, &["c700;2"]);
    for id in ["r1", "r2", "r3"] {
        let (want, have) = (response(&recorded, id), response(&got, id));
        for key in
            ["status_code", "reason_phrase", "uri", "content_type", "transaction_id", "application"]
        {
            assert_eq!(have[key], want[key], "{id}.{key}");
        }
        assert_eq!(have["asterisk_id"], node.asterisk_id());
    }
    let ping: Value =
        serde_json::from_str(response(&got, "r1")["message_body"].as_str().unwrap()).unwrap();
    assert_eq!(ping["ping"], "pong");
    let chan: Value =
        serde_json::from_str(response(&got, "r2")["message_body"].as_str().unwrap()).unwrap();
    let want: Value =
        serde_json::from_str(response(&recorded, "r2")["message_body"].as_str().unwrap()).unwrap();
    for key in ["id", "state"] {
        assert_eq!(chan[key], want[key]);
    }
    assert_eq!(chan["dialplan"], want["dialplan"]);

    // The connection drops: the app stays registered and its events wait for the reconnect.
    ws.close(None).await.unwrap();
    common::eventually("the node notices the drop", || !node.outbound_connected()).await;
    let mut spec = CallSpec::new("qout", &["inbound", "701"], "");
    spec.channel_id = Some("c701".to_owned());
    assert!(node.place_call(&spec).unwrap().in_stasis, "the app stays registered while down");
    let mut ws = accept(&listener).await;
    let got = until(&mut ws, |e| e["type"] == "StasisStart").await;
    assert!(types(&got).contains(&"ApplicationRegistered".to_owned()));
    assert_eq!(got.last().unwrap()["channel"]["id"], "c701;2");
}

#[tokio::test]
async fn rest_over_an_inbound_event_websocket() {
    let sim = common::one_node().await;
    let node = sim.node(0).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(node.events_url("q")).await.unwrap();
    let frame = json!({"type": "RESTRequest", "request_id": "x", "transaction_id": "t",
        "method": "GET", "uri": "channels/none"});
    ws.send(Message::Text(frame.to_string().into())).await.unwrap();
    let reply = loop {
        if let Some(Ok(Message::Text(text))) = ws.next().await {
            break serde_json::from_str::<Value>(text.as_str()).unwrap();
        }
    };
    assert_eq!(
        (reply["type"].as_str(), reply["status_code"].as_u64()),
        (Some("RESTResponse"), Some(404))
    );
    assert_eq!(reply["reason_phrase"], "Not Found");
    assert_eq!(reply["application"], "q");
    let _ev = Events::connect(node, "other").await;
}
