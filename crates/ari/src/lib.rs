//! starq's only contact with Asterisk: the ARI data model, a REST client and the event
//! WebSocket. It knows nothing about queues.
#![forbid(unsafe_code)]

pub mod model;

pub use model::{DecodeError, Event, decode_event};
