//! The ARI REST client: pure request builders (one module per resource), the [`Request`] they
//! produce, and [`AriClient`] which sends them with a pool, timeouts and an in-flight cap.
//!
//! Use the typed methods on [`AriClient`]; the builders are public so that tests (and the
//! simulator) can see exactly what would be sent.

mod api;
pub mod bridges;
pub mod channels;
mod client;
pub mod node;
mod request;

pub use bridges::{BridgeFeature, BridgeRole};
pub use channels::{CreateChannel, DialplanTarget, HangupReason, Originate};
pub use client::{AriClient, RestLimits};
pub use node::EventSource;
pub use request::{Method, Op, Request};
