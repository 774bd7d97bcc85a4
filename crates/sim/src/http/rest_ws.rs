//! REST over WebSocket (Asterisk 22.4+): a `RESTRequest` frame on an event WebSocket runs
//! through the node's router as if it came over HTTP, and the answer goes back on the same
//! socket as a `RESTResponse` event. Requests on one socket are served one at a time, as
//! Asterisk serves them in the socket's reader thread.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde::{Deserialize, Serialize};
use tower_service::Service as _;

use crate::clock::Now;
use crate::http::params::decode;
use crate::server::Shared;

/// Marks a request that arrived over an authenticated WebSocket (no credentials needed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverWebSocket;

#[derive(Debug, Deserialize)]
struct QueryString {
    name: String,
    value: String,
}

/// The `RESTRequest` frame.
#[derive(Debug, Deserialize)]
struct RestRequest {
    #[serde(rename = "type")]
    kind: String,
    request_id: String,
    #[serde(default)]
    transaction_id: String,
    method: String,
    uri: String,
    #[serde(default)]
    query_strings: Vec<QueryString>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    message_body: Option<String>,
}

/// The `RESTResponse` event.
#[derive(Debug, Serialize)]
struct RestResponse<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    transaction_id: &'a str,
    request_id: &'a str,
    status_code: u16,
    reason_phrase: &'static str,
    uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_body: Option<String>,
    application: &'a str,
    timestamp: String,
    asterisk_id: &'a str,
}

/// Serves one frame received on a WebSocket held for `app`; `None` when the frame is not a
/// `RESTRequest` (clients may send anything; Asterisk ignores it).
pub(crate) async fn serve_frame(shared: &Arc<Shared>, app: &str, text: &str) -> Option<String> {
    let req: RestRequest = serde_json::from_str(text).ok()?;
    if req.kind != "RESTRequest" {
        return None;
    }
    let (status, content_type, body) = dispatch(shared, &req).await;
    let code = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let response = RestResponse {
        kind: "RESTResponse",
        transaction_id: &req.transaction_id,
        request_id: &req.request_id,
        status_code: status,
        reason_phrase: code.canonical_reason().unwrap_or(""),
        uri: &req.uri,
        content_type: (!body.is_empty()).then_some(content_type),
        message_body: (!body.is_empty()).then_some(body),
        application: app,
        timestamp: Now::read().stamp(),
        asterisk_id: &shared.cfg.asterisk_id,
    };
    serde_json::to_string(&response).ok()
}

async fn dispatch(shared: &Arc<Shared>, req: &RestRequest) -> (u16, String, String) {
    let query: Vec<String> = req
        .query_strings
        .iter()
        .map(|q| format!("{}={}", encode(&q.name), encode(&q.value)))
        .collect();
    let path = req.uri.trim_start_matches('/').replace(';', "%3B");
    let uri = if query.is_empty() {
        format!("/ari/{path}")
    } else {
        format!("/ari/{path}?{}", query.join("&"))
    };
    let method = Method::from_bytes(req.method.as_bytes()).unwrap_or(Method::GET);
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = &req.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    let Ok(mut request) = builder.body(Body::from(req.message_body.clone().unwrap_or_default()))
    else {
        return (400, "application/json".to_owned(), r#"{"message":"Invalid request"}"#.to_owned());
    };
    request.extensions_mut().insert(OverWebSocket);
    // Built per request: holding the router in the node would make a reference cycle, and
    // REST over WebSocket is rare next to plain HTTP.
    let Ok(response) = crate::http::router(shared.clone()).call(request).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap_or_default();
    (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
}

/// Percent-encodes a query component (the router decodes it again).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    debug_assert_eq!(decode(&out), s);
    out
}
