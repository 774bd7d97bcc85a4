//! The errors a node answers REST requests with, shaped as Asterisk shapes them: an HTTP status
//! and a JSON body `{"message": "…"}` (`{"error": "Allocation failed"}` for a channel that
//! cannot be allocated).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A refused ARI request: the status and message real Asterisk gives for the same mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct AriError {
    /// HTTP status code (400, 401, 404, 409, 412, 422, 500, 503).
    pub status: u16,
    /// Human-readable message, as in Asterisk's `{"message": …}` body.
    pub message: String,
}

impl AriError {
    /// An error with any status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400: a missing or malformed parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 404: the resource does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// 409: the resource is in the wrong state, or an id is taken.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }

    /// 404 for a channel id that is not on this node.
    pub fn channel_not_found() -> Self {
        Self::not_found("Channel not found")
    }

    /// 409 for a channel that exists but is not in a Stasis application.
    pub fn not_in_stasis() -> Self {
        Self::conflict("Channel not in Stasis application")
    }

    /// 500 when a channel cannot be allocated (unknown technology, unreachable endpoint).
    /// Asterisk answers this one with `{"error": "Allocation failed"}`, not `{"message"}`
    /// (`ast_ari_response_alloc_failed` in `res/res_ari.c`).
    pub fn allocation_failed() -> Self {
        Self::new(500, ALLOCATION_FAILED)
    }

    /// 404 for a bridge id that is not on this node.
    pub fn bridge_not_found() -> Self {
        Self::not_found("Bridge not found")
    }
}

/// The message of [`AriError::allocation_failed`].
pub const ALLOCATION_FAILED: &str = "Allocation failed";

impl IntoResponse for AriError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let key = if self.status == 500 && self.message == ALLOCATION_FAILED {
            "error"
        } else {
            "message"
        };
        let body = serde_json::json!({ key: self.message });
        (status, axum::Json(body)).into_response()
    }
}
