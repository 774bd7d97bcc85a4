//! [`AriClient`]: sends [`Request`]s to one node over a small keep-alive pool, with a timeout
//! on every request and a cap on requests in flight.
//!
//! The cap exists because Asterisk's HTTP server allows 100 sessions by default (WebSockets
//! included) and degrades when pushed; a node is better served by a short queue in starq than
//! by a burst of new connections. Idle connections are dropped before Asterisk's own
//! `session_keep_alive` (15 s) would close them under a request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use super::request::{Op, Request};
use crate::config::{ConfigError, NodeConfig};
use crate::error::AriError;

/// Limits for one node's REST traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestLimits {
    /// Longest a request may take once sent, to the end of the response body.
    pub request_timeout: Duration,
    /// Longest a request may wait for an in-flight slot before failing unsent. Keeps a
    /// saturated node from making callers wait without bound.
    pub slot_timeout: Duration,
    /// Longest a TCP connect may take.
    pub connect_timeout: Duration,
    /// Requests in flight at once; further requests wait for a slot (within the timeout).
    pub max_in_flight: usize,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
}

impl Default for RestLimits {
    fn default() -> Self {
        RestLimits {
            request_timeout: Duration::from_secs(5),
            slot_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            max_in_flight: 32,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A REST client for one Asterisk node. Cheap to clone; clones share the pool and the cap.
#[derive(Clone)]
pub struct AriClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    root: Url,
    authorization: HeaderValue,
    in_flight: Semaphore,
    limits: RestLimits,
    app: String,
}

impl std::fmt::Debug for AriClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AriClient")
            .field("root", &self.inner.root.as_str())
            .field("app", &self.inner.app)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl AriClient {
    /// A client for `node` with `limits`.
    pub fn new(node: &NodeConfig, limits: RestLimits) -> Result<Self, ConfigError> {
        let root = node.root_url()?;
        if limits.max_in_flight == 0 {
            return Err(ConfigError::InvalidLimit("max_in_flight must be at least 1"));
        }
        let mut authorization = HeaderValue::from_str(&node.credentials.basic_auth_header())
            .map_err(|_| ConfigError::InvalidLimit("credentials must be visible ASCII"))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(limits.request_timeout)
            .connect_timeout(limits.connect_timeout)
            .pool_idle_timeout(limits.idle_timeout)
            .pool_max_idle_per_host(limits.max_in_flight)
            .tcp_nodelay(true)
            // ARI is reached on the node's own network; an ambient proxy would only add a hop.
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::InvalidUrl {
                url: root.to_string(),
                reason: e.without_url().to_string(),
            })?;
        let in_flight = Semaphore::new(limits.max_in_flight);
        let inner = Inner { http, root, authorization, in_flight, limits, app: node.app.clone() };
        Ok(AriClient { inner: Arc::new(inner) })
    }

    /// The Stasis application this client acts for.
    pub fn app(&self) -> &str {
        &self.inner.app
    }

    /// The ARI root URL.
    pub fn root(&self) -> &Url {
        &self.inner.root
    }

    /// Requests currently holding an in-flight slot.
    pub fn in_flight(&self) -> usize {
        self.inner.limits.max_in_flight - self.inner.in_flight.available_permits()
    }

    /// Sends `request` and decodes the response body as `T`.
    pub async fn call<T: DeserializeOwned>(&self, request: &Request) -> Result<T, AriError> {
        let body = self.send(request).await?;
        serde_json::from_slice(&body)
            .map_err(|e| AriError::Decode { op: request.op(), detail: e.to_string() })
    }

    /// Sends `request` and ignores the response body (204 answers).
    pub async fn call_empty(&self, request: &Request) -> Result<(), AriError> {
        self.send(request).await.map(drop)
    }

    async fn send(&self, request: &Request) -> Result<Bytes, AriError> {
        let op = request.op();
        let slot_timeout = self.inner.limits.slot_timeout;
        let permit = tokio::time::timeout(slot_timeout, self.inner.in_flight.acquire())
            .await
            .map_err(|_| AriError::Timeout { op, sent: false, after: slot_timeout })?
            .map_err(|_| AriError::Transport { op, detail: "client closed".to_owned() })?;
        let mut builder = self
            .inner
            .http
            .request(request.method().to_reqwest(), request.url(&self.inner.root))
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(body) = request.json_body() {
            builder = builder.json(body);
        }
        let limits = &self.inner.limits;
        let response = builder.send().await.map_err(|e| transport_error(op, &e, limits))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| transport_error(op, &e, limits))?;
        drop(permit);
        tracing::debug!(%op, status, "ARI request");
        match status {
            200..=299 => Ok(body),
            _ => Err(AriError::from_status(op, status, &body)),
        }
    }
}

/// Classifies a reqwest failure. Only the error kinds and their sources are kept, never the
/// URL or headers.
fn transport_error(op: Op, error: &reqwest::Error, limits: &RestLimits) -> AriError {
    if error.is_timeout() {
        // A connect that timed out never sent the request: safe to retry.
        return match error.is_connect() {
            true => AriError::Timeout { op, sent: false, after: limits.connect_timeout },
            false => AriError::Timeout { op, sent: true, after: limits.request_timeout },
        };
    }
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    if detail.is_empty() {
        detail = "request failed".to_owned();
    }
    match error.is_connect() {
        true => AriError::Unavailable { op, status: None, detail },
        false => AriError::Transport { op, detail },
    }
}
