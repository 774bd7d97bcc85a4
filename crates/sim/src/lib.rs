//! # starq-sim: simulated Asterisk nodes speaking real ARI
//!
//! There is no Asterisk on the machines that build and test starq, so this crate stands in for
//! Asterisk 22.10.1 in every test, the demo and the benchmarks. Each simulated node serves
//! ARI REST and the event WebSocket over real HTTP on its own port, with its own
//! `asterisk_id`, and reproduces the event sequences, causes and states recorded from a real
//! Asterisk (`../shared/ari/samples/`). It does not depend on `starq-core`, so it cannot share
//! the engine's bugs.
//!
//! ## Contract
//!
//! - Start nodes with [`Sim::start`] ([`SimConfig::local`] gives N nodes on ephemeral loopback
//!   ports). Each [`server::NodeHandle`] gives its [`base_url`](server::NodeHandle::base_url)
//!   (`http://127.0.0.1:<port>/ari`), [`events_url`](server::NodeHandle::events_url),
//!   credentials and `asterisk_id`.
//! - Callers: [`server::NodeHandle::place_call`] with a [`CallSpec`] runs the samples'
//!   `[to-q]` dialplan: a Local pair whose `;2` half enters `Stasis(app, args…)` with the
//!   caller id. If no WebSocket holds the app, `Stasis()` fails (`STASISSTATUS=FAILED`, ground
//!   truth outcome `stasis_failed`). Patience, a talk limit and key presses are scripted in the
//!   spec.
//! - Agent legs: `POST /channels/create` + `/dial` or `POST /channels` to
//!   `Local/<n>@agents` (answers at once, hangs up after 30 s), `Local/<n>@noanswer` (rings
//!   10 s), `Local/<n>@busy` (`Busy(5)`), any other Local context (missing extension), or a
//!   scripted phone by endpoint name ([`phones::PhoneScript`]: answer probability and delay,
//!   talk time, busy, unreachable, the nodes that reach it, calls at once). An unreachable
//!   phone answers `500 Allocation failed`.
//! - Faults: [`server::NodeHandle::drop_websockets`], [`kill`](server::NodeHandle::kill) and
//!   [`restore`](server::NodeHandle::restore), [`set_rest_faults`](server::NodeHandle::set_rest_faults)
//!   (delay, failure status, path filter), [`pause_events`](server::NodeHandle::pause_events),
//!   and phone changes through [`Sim::update_phone`].
//! - Ground truth: [`Sim::truth`] ([`truth::Truth`]: per caller and per agent ring) and
//!   [`Sim::dump_truth`] (JSON lines).
//! - Traffic: [`traffic::run_traffic`] with a [`traffic::TrafficProfile`] (Poisson rate,
//!   bursts, day curve, patience, DTMF); `starq sim` is [`cli::SimArgs`] + [`cli::run`].
//! - Limits like Asterisk's: `sessionlimit` (100 HTTP sessions, WebSockets included; excess
//!   connections are closed at once), `websocket_write_timeout` (100 ms; a slower reader is
//!   closed, as is one whose queue of [`NodeConfig::ws_queue`] events fills up).
//!
//! ## Differences from Asterisk worth knowing
//!
//! - No media: playbacks last the length the [`MediaCatalog`] gives each item; unknown
//!   `sound:` names fail like missing files.
//! - Dialplan-only originates (`extension` without `app`) are refused with 400.
//! - A mixing bridge without `dtmf_events` holding two channels does not pass DTMF to the
//!   app (native bridging), as Asterisk with RTP channels.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod error;
pub(crate) mod http;
pub(crate) mod node;
pub mod phones;
pub mod rng;
pub mod server;
pub mod sim;
pub mod traffic;
pub mod truth;
pub mod wire;

pub use node::callers::{CallSpec, PlacedCall};
pub use node::config::{MediaCatalog, NodeConfig};
pub use sim::{Sim, SimConfig, SimError};
