//! A small ARI REST server on 127.0.0.1 with canned answers, for the client tests and the
//! benchmark. It records every request and the highest number it served at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use starq_ari::{Credentials, NodeConfig};

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query.
    pub query: Option<String>,
    /// Authorization header.
    pub authorization: Option<String>,
    /// Body.
    pub body: String,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    active: AtomicUsize,
    peak: AtomicUsize,
}

/// A running server.
pub struct RestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

const CHANNEL: &str = r#"{"id":"call42-1","name":"PJSIP/1001-00000001","state":"Down",
    "protocol_id":"","caller":{"name":"","number":""},"connected":{"name":"","number":""},
    "accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,"app_name":"",
    "app_data":""},"creationtime":"2026-11-22T12:12:31.279+0000","language":"en"}"#;

const PING: &str = r#"{"ping":"pong","timestamp":"2026-11-22T12:11:18.218+0000","asterisk_id":"02:fc:00:00:00:01"}"#;

impl RestServer {
    /// Starts the server.
    pub async fn start() -> RestServer {
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { respond(&state, method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RestServer { addr, shared }
    }

    /// A node pointing at this server with `password`.
    pub fn node(&self, password: &str) -> NodeConfig {
        NodeConfig {
            ari_url: format!("http://{}/ari", self.addr),
            credentials: Credentials::new("starq", password),
            app: "starq".to_owned(),
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The most requests served at once.
    pub fn peak_concurrency(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }
}

async fn respond(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization =
        headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = uri.path().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak.fetch_max(active, Ordering::SeqCst);
    let response = route(method.as_str(), &path).await;
    shared.active.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn route(method: &str, path: &str) -> Response {
    let json = |status: StatusCode, body: &str| {
        (status, [("content-type", "application/json")], body.to_owned()).into_response()
    };
    let message =
        |status: StatusCode, text: &str| json(status, &format!(r#"{{"message":"{text}"}}"#));
    match (method, path) {
        ("GET", "/ari/asterisk/ping") => json(StatusCode::OK, PING),
        ("POST", "/ari/channels") => json(StatusCode::OK, CHANNEL),
        ("GET", "/ari/channels/missing") => message(StatusCode::NOT_FOUND, "Channel not found"),
        ("POST", "/ari/bridges") => {
            message(StatusCode::CONFLICT, "Bridge with id 'b1' already exists")
        }
        ("POST", "/ari/channels/c1/answer") => StatusCode::NO_CONTENT.into_response(),
        ("POST", "/ari/channels/slow/answer") => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "/ari/asterisk/info") => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            json(StatusCode::OK, "{}")
        }
        ("GET", "/ari/channels") => json(StatusCode::OK, r#"[{"id":5}]"#),
        ("DELETE", "/ari/channels/c1") => message(StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        ("POST", "/ari/channels/c1/continue") => message(StatusCode::UNAUTHORIZED, "no"),
        ("POST", "/ari/bridges/b1/addChannel") => {
            message(StatusCode::UNPROCESSABLE_ENTITY, "Channel not in Stasis application")
        }
        _ => message(StatusCode::BAD_REQUEST, "unexpected request"),
    }
}
