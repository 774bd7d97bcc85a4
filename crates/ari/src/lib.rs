//! starq's only contact with Asterisk: the ARI data model, a REST client and the event
//! WebSocket. It knows nothing about queues.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod events;
pub mod model;
pub mod rest;

pub use config::{ConfigError, Credentials, NodeConfig};
pub use error::AriError;
pub use events::{
    ConnectionState, EventReceiver, EventStreamConfig, EventStreamHandle, StreamItem,
    connect_events,
};
pub use model::{DecodeError, Event, decode_event};
pub use rest::{AriClient, RestLimits};
