//! # starq-sim: simulated Asterisk nodes speaking real ARI
//!
//! There is no Asterisk on the machines that build and test starq, so this crate stands in for
//! Asterisk 22.10.1 in every test, the demo and the benchmarks. Each simulated node serves ARI
//! REST and the event WebSocket over real HTTP on its own port, with its own `asterisk_id`,
//! and reproduces the event sequences, causes and states recorded from a real Asterisk
//! (`../shared/ari/samples/`; `tests/conformance.rs` replays every recording). It does not
//! depend on `starq-core`, so it cannot share the engine's bugs; resources are serialized with
//! `starq-ari`'s model types.
//!
//! ## Contract
//!
//! - **Start**: [`Sim::start`] with a [`SimConfig`] ([`SimConfig::local`]: N nodes on
//!   ephemeral loopback ports). Each [`server::NodeHandle`] gives its
//!   [`base_url`](server::NodeHandle::base_url) (`http://127.0.0.1:<port>/ari`),
//!   [`events_url`](server::NodeHandle::events_url), credentials (Basic auth or `api_key`)
//!   and `asterisk_id` (`02:fc:00:00:00:01` for node 0, then …:02, …).
//! - **Callers**: [`server::NodeHandle::place_call`] with a [`CallSpec`] runs the samples'
//!   `[to-q]` dialplan: a Local pair `<id>` / `<id>;2` whose `;2` half enters
//!   `Stasis(app, args…)` in state `Ring` with the caller id. If no WebSocket holds the app,
//!   `Stasis()` fails (`STASISSTATUS=FAILED`, ground-truth outcome `stasis_failed`) and the
//!   call is gone. Patience (abandon unless connected), a hard talk limit and key presses are
//!   scripted in the spec; [`caller_hangup`](server::NodeHandle::caller_hangup) and
//!   [`caller_dtmf`](server::NodeHandle::caller_dtmf) act at once.
//! - **Agent legs**: `POST /channels/create` + `/dial` or `POST /channels` (originate) to
//!   `Local/<n>@agents` (answers at once, hangs up after 30 s), `Local/<n>@noanswer` (rings,
//!   its dialplan runs out after 10 s: hangup request cause 0), `Local/<n>@busy`
//!   (`Busy(5)`), `Local/<n>@busyhangup` (`Hangup(17)`: no `Dial BUSY`), any other Local
//!   context, or none (`[default]`), is a missing extension (cause 0 for originate, 16 for
//!   create+dial); the leg variables `AGENT_TALK`, `NOANSWER_WAIT` and `BUSY_HOLD` (seconds)
//!   override those timings as the reference dialplan does (`docs/fidelity.md`). Or a
//!   scripted phone by endpoint
//!   ([`phones::PhoneScript`]: answer probability and delay, talk time, busy, unreachable,
//!   which nodes reach it, calls at once — a second call to a phone in a call is busy). An
//!   unreachable or unknown endpoint answers `500 {"error": "Allocation failed"}`. As in
//!   Asterisk, a created channel is subscribed at once (a `ChannelVarset` per request
//!   variable) but enters Stasis a moment *after* `create` answers
//!   ([`NodeConfig::stasis_entry_delay`]); a `/dial` before its `StasisStart` answers `409
//!   Channel not in Stasis application`. A `/dial` with an unknown `caller` dials anyway.
//!   `Busy()` with no timeout (`busy_hold: None`) signals `Dial BUSY` and leaves the leg up
//!   until the dial timeout (cause 19), which ends any leg not up; `/continue` leaves music
//!   on hold playing (ground truth: `moh_after_stasis`).
//! - **REST surface**: `/asterisk/{info,ping}`, `/applications[/{app}[/subscription]]`
//!   (`channel:`, `bridge:`, `endpoint:` sources), `/channels` (list, originate with or
//!   without id, create, get, hangup with `reason`/`reason_code`, answer, ring, progress,
//!   silence, moh, play[/{id}], dial, continue, move, variable, dtmf), `/bridges` (create with
//!   or without id, get, delete, addChannel, removeChannel, moh, play[/{id}]),
//!   `/playbacks/{id}`, `/endpoints[/{tech}[/{resource}]]`. Errors carry Asterisk's status and a
//!   `{"message"}` body.
//! - **Faults**: [`server::NodeHandle::drop_websockets`], [`kill`](server::NodeHandle::kill)
//!   (connections reset, port closed, every channel gone, callers `node_lost`) and
//!   [`restore`](server::NodeHandle::restore) (same port and id, empty),
//!   [`set_rest_faults`](server::NodeHandle::set_rest_faults) (delay, failure status, path
//!   filter, hung WebSocket upgrades as in Asterisk issue #2170),
//!   [`pause_events`](server::NodeHandle::pause_events) (held, then flushed in order), and
//!   phone changes through [`Sim::update_phone`] / [`Sim::set_unreachable`]
//!   (subscribers get `EndpointStateChange`).
//! - **Ground truth**: [`Sim::truth`] ([`truth::Truth`]: per caller — entered, Stasis status,
//!   MOH starts and time, ringback, announcements heard, keys, agents rung, connected when and
//!   to whom, whether the agent hung up first, ended when and how; per agent ring — node,
//!   leg, busy-at-ring, result, answered, ended, caller) and [`Sim::dump_truth`] (JSON
//!   lines, `"record": "caller" | "agent_ring"`).
//! - **Traffic**: [`traffic::run_traffic`] with a [`traffic::TrafficProfile`] (per queue:
//!   Poisson rate, bursts, 24-hour curve compressed into `day_length_s`, patience, talk
//!   limit, DTMF, nodes). `starq sim` is [`cli::SimArgs`] + [`cli::run`].
//! - **Asterisk's own limits**: `sessionlimit` (100 HTTP sessions, WebSockets included;
//!   excess connections are closed at once) and `websocket_write_timeout` (100 ms; a slower
//!   reader is closed, as is one whose queue of [`NodeConfig::ws_queue`] events fills up).
//!   ARI never pings; the node answers pings.
//! - **Outbound WebSocket and REST over WebSocket** (sample 06): with
//!   [`NodeConfig::outbound`] set the node connects to the application (subprotocol `ari`),
//!   sends `ApplicationRegistered`, keeps the apps registered and queues events while down,
//!   reconnects every `reconnect_interval`; `RESTRequest` frames on any event WebSocket get a
//!   `RESTResponse`, served one at a time per socket.
//! - **Consistency**: [`server::NodeHandle::check_invariants`] checks bridge membership,
//!   Local pairs, playback queues and ground-truth outcomes (chaos tests can call it).
//!
//! Randomness comes only from ChaCha streams derived from the seed. Decisions are seeded;
//! their interleaving with real time (this is a real-time server) is not replayable. Steps due
//! by the time a request arrives run before it, whatever the timer's resolution.
//!
//! The simulator is trusted only as far as a suite shows: `tests/fidelity.rs` runs the same
//! scripted exchanges against a node and, given `STARQ_TEST_ASTERISK`, a real Asterisk, and
//! compares them; `docs/fidelity.md` records what matched, what differed and why.
//!
//! ## Differences from Asterisk worth knowing
//!
//! - No media: playbacks last the length the [`MediaCatalog`] gives each item; unknown
//!   `sound:` names fail (`PlaybackFinished` with state `failed`) like missing files.
//! - Dialplan-mode originates (no `app`) are simulated only to `Local/<n>@to-<app>` (the `;2`
//!   half runs `Stasis(<app>, inbound, <n>)`, as sample 06's `[to-qout]`); others get 400.
//!   `/continue` to any target runs `Wait(continue_wait)` then `Hangup()`.
//! - A mixing bridge without `dtmf_events` holding two channels does not pass DTMF to the
//!   app (native bridging), as with RTP channels.
//! - The ground truth keeps every record in memory (a few hundred bytes per caller and per
//!   ring): fine for tests and demos; a very long `starq sim` run grows with its traffic.
//! - Not simulated: recordings, snoop, device states, `subscribeAll`, event filters, bridge
//!   variables, per-call outbound WebSockets.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod control;
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
/// Node settings, including the outbound WebSocket.
pub mod node_config {
    pub use crate::node::config::{MediaCatalog, NodeConfig, OutboundWs};
}
pub use sim::{Sim, SimConfig, SimError};
