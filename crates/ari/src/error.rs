//! Errors of the REST client, shaped by what the caller does next.
//!
//! No variant ever carries credentials: the client sends them only as an `Authorization`
//! header marked sensitive, never in a URL, and error text is built from the operation, the
//! status and Asterisk's own message.

use std::time::Duration;

use crate::rest::Op;

/// A failed REST call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AriError {
    /// 404: the channel, bridge, playback or application does not exist (any more).
    #[error("{op}: not found: {message}")]
    NotFound {
        /// The operation.
        op: Op,
        /// Asterisk's message.
        message: String,
    },
    /// 409: a duplicate client-chosen id, or the object is not in a state that allows this
    /// (for example not in Stasis). A retried create answering 409 usually means "done".
    #[error("{op}: conflict: {message}")]
    Conflict {
        /// The operation.
        op: Op,
        /// Asterisk's message.
        message: String,
    },
    /// 412 or 422: the object exists but cannot do this now (channel not in Stasis, invalid
    /// state for the operation).
    #[error("{op}: invalid state ({status}): {message}")]
    InvalidState {
        /// The operation.
        op: Op,
        /// HTTP status.
        status: u16,
        /// Asterisk's message.
        message: String,
    },
    /// 400 or another 4xx: the request itself is wrong; retrying will not help.
    #[error("{op}: bad request ({status}): {message}")]
    BadRequest {
        /// The operation.
        op: Op,
        /// HTTP status.
        status: u16,
        /// Asterisk's message.
        message: String,
    },
    /// 401 or 403: the configured ARI user is refused. A configuration problem.
    #[error("{op}: not authorized ({status})")]
    Unauthorized {
        /// The operation.
        op: Op,
        /// HTTP status.
        status: u16,
    },
    /// 5xx, or the node refused the connection: the node is down or overloaded. Back off.
    #[error("{op}: node unavailable: {detail}")]
    Unavailable {
        /// The operation.
        op: Op,
        /// HTTP status, when the node answered.
        status: Option<u16>,
        /// What happened.
        detail: String,
    },
    /// No answer in time. When `sent` is false the request never left (the in-flight cap was
    /// full or the connection could not be made), so retrying is safe; when true Asterisk may
    /// have acted on it.
    #[error("{op}: timed out after {after:?} ({})", if *.sent { "request sent" } else { "not sent" })]
    Timeout {
        /// The operation.
        op: Op,
        /// Whether the request reached the wire.
        sent: bool,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection broke mid-request (reset, closed early, malformed HTTP).
    #[error("{op}: transport error: {detail}")]
    Transport {
        /// The operation.
        op: Op,
        /// What happened.
        detail: String,
    },
    /// The node answered 2xx with a body that is not the expected resource.
    #[error("{op}: cannot decode response: {detail}")]
    Decode {
        /// The operation.
        op: Op,
        /// serde_json's message, naming the field.
        detail: String,
    },
}

impl AriError {
    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            AriError::NotFound { op, .. }
            | AriError::Conflict { op, .. }
            | AriError::InvalidState { op, .. }
            | AriError::BadRequest { op, .. }
            | AriError::Unauthorized { op, .. }
            | AriError::Unavailable { op, .. }
            | AriError::Timeout { op, .. }
            | AriError::Transport { op, .. }
            | AriError::Decode { op, .. } => *op,
        }
    }

    /// The error for a non-2xx answer. `body` is Asterisk's JSON (`{"message": "…"}`) or text.
    pub(crate) fn from_status(op: Op, status: u16, body: &[u8]) -> AriError {
        let message = error_message(body);
        match status {
            404 => AriError::NotFound { op, message },
            409 => AriError::Conflict { op, message },
            412 | 422 => AriError::InvalidState { op, status, message },
            401 | 403 => AriError::Unauthorized { op, status },
            500..=599 => AriError::Unavailable { op, status: Some(status), detail: message },
            _ => AriError::BadRequest { op, status, message },
        }
    }
}

/// Asterisk's error bodies are `{"message": "…"}`, except the allocation failures of
/// `ast_ari_response_alloc_failed`, which are `{"error": "…"}` (e.g. `500 {"error": "Allocation
/// failed"}` for an endpoint that cannot be reached); anything else is shown as short text.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    enum AsteriskError {
        #[serde(rename = "message")]
        Message(String),
        #[serde(rename = "error")]
        Error(String),
    }
    if let Ok(AsteriskError::Message(text) | AsteriskError::Error(text)) =
        serde_json::from_slice::<AsteriskError>(body)
    {
        return text;
    }
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_decisions() {
        let op = Op::ChannelOriginate;
        let body = br#"{"message":"Channel with given unique ID already exists"}"#;
        assert_eq!(
            AriError::from_status(op, 409, body),
            AriError::Conflict {
                op,
                message: "Channel with given unique ID already exists".into()
            }
        );
        assert!(matches!(AriError::from_status(op, 404, b""), AriError::NotFound { .. }));
        assert!(matches!(AriError::from_status(op, 422, b""), AriError::InvalidState { .. }));
        assert!(matches!(AriError::from_status(op, 400, b"x"), AriError::BadRequest { .. }));
        assert!(matches!(AriError::from_status(op, 401, b""), AriError::Unauthorized { .. }));
        let allocation = AriError::from_status(op, 500, br#"{"error":"Allocation failed"}"#);
        assert_eq!(allocation.to_string(), "ChannelOriginate: node unavailable: Allocation failed");
        let unavailable = AriError::from_status(op, 503, b"overloaded");
        assert_eq!(unavailable.to_string(), "ChannelOriginate: node unavailable: overloaded");
        let long = "é".repeat(500);
        assert!(error_message(long.as_bytes()).chars().count() <= 201);
    }
}
