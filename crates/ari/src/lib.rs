//! starq's only contact with Asterisk (ARI, Asterisk 22 LTS). It knows nothing about queues.
//!
//! | module | owns |
//! |---|---|
//! | [`model`] | events and resources (`Serialize` + `Deserialize`), [`decode_event`] |
//! | [`rest`] | pure request builders, [`AriClient`] (pool, timeouts, in-flight cap) |
//! | [`events`] | the event WebSocket: ping, liveness, reconnect, bounded ordered delivery |
//! | [`config`] | how to reach a node; credentials that never print |
//! | [`error`] | [`AriError`], one variant per decision a caller makes |
//!
//! # Using it for one node
//!
//! ```no_run
//! use starq_ari::{AriClient, Credentials, EventStreamConfig, NodeConfig, RestLimits};
//! use starq_ari::{ConnectionState, Event, StreamItem, connect_events};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = NodeConfig {
//!     ari_url: "http://10.0.0.5:8088/ari".into(),
//!     credentials: Credentials::new("starq", "secret"),
//!     app: "starq".into(),
//! };
//! let client = AriClient::new(&node, RestLimits::default())?;
//! let (mut events, handle) = connect_events(EventStreamConfig::new(node, 42))?;
//! while let Some(item) = events.recv().await {
//!     match item {
//!         StreamItem::State(ConnectionState::Connected) => {
//!             // Reconcile: nothing missed while disconnected is replayed.
//!             let app = client.get_application().await?;
//!             let channels = client.list_channels().await?;
//!             let _ = (app, channels);
//!         }
//!         StreamItem::Event(Event::StasisStart(start)) => client.answer(&start.channel.id).await?,
//!         StreamItem::Replaced => break, // another instance owns this node now
//!         StreamItem::Lost { .. } => { /* fell behind: reconcile */ }
//!         _ => {}
//!     }
//! }
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Contracts the engine relies on
//! - Decoding: a modelled event type becomes its typed variant; any other type becomes
//!   [`Event::Unknown`] with its raw JSON; unknown fields are ignored; a malformed frame is a
//!   [`DecodeError`] naming the event type and the field, and the stream goes on.
//! - REST: ids are client-chosen wherever ARI allows, so a retried create answers
//!   [`AriError::Conflict`]; [`AriError::Timeout`] says whether the request was sent. Requests
//!   wait for one of `max_in_flight` slots per node (at most `slot_timeout`).
//! - Events: see [`events`]: in order, never stalling the reader, `Lost` markers when the
//!   consumer falls behind, `Replaced` as its own signal that ends the stream.
//! - Credentials travel only in an `Authorization` header marked sensitive; they appear in no
//!   URL, log line, `Debug` output or error text.
//!
//! # Tests and the ARI specification
//! The ARI spec (Swagger JSON of Asterisk 22.10.1) and the recorded events are GPL-2 reference
//! data kept outside the repository. Tests read them at run time from `STARQ_ARI_SPEC_DIR` /
//! `STARQ_ARI_SAMPLES_DIR`, or else from `../shared/ari/{api-docs,samples}` beside the
//! workspace root; when missing they say so loudly and fail under `CI=true`. They check every
//! request against the spec (method, path, parameter names, placement, types, required ones),
//! every typed call against the spec's response class, every model against the spec's
//! properties, and every recorded event's decoding and re-encoding.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod events;
pub mod model;
pub mod rest;

pub use config::{ConfigError, Credentials, NodeConfig};
pub use error::AriError;
pub use events::{
    AcceptedConnections, AcceptedSocket, ConnectionState, EventReceiver, EventStreamConfig,
    EventStreamHandle, StreamItem, accept_events, connect_events,
};
pub use model::{DecodeError, Event, decode_event};
pub use rest::{AriClient, RestLimits};
