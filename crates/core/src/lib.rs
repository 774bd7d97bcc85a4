//! # starq-core: the routing core
//!
//! The part of starq that decides. It is a deterministic state machine: it never does I/O,
//! never reads a clock and never draws from global randomness. Inputs carry the time (`now`),
//! outputs are commands for the shell to carry out, timers are data ([`engine::Engine::poll_timeout`]).
//! Given the same seed and the same inputs it makes the same decisions, which is what lets the
//! simulation tests replay any failing run exactly.
//!
//! ## Layout
//! - [`config`]: queue and agent settings as types, parsed once at the boundary.
//! - [`strategy`]: what each ring strategy means, as a score and a selection rule.
//! - [`shared`]: the protocol with the shared store (requests, replies, offers).
//! - [`journal`]: the records every shared state change appends.
//! - [`engine`]: the call and agent state machines one instance runs for the nodes it owns.
//! - [`estimate`]: estimated wait for announcements.
//!
//! ## Glossary
//! One word per concept, used the same way in every crate.
//! - **queue**: a named line callers wait in, with its settings ([`config::QueueConfig`]).
//! - **caller**: one call's stay in one queue (a *queue entry*), from entry to its outcome.
//! - **agent**: a person who takes calls; a *member* of queues with a *penalty* in each.
//! - **contact**: a phone (ARI endpoint) that reaches an agent from some nodes.
//! - **node**: one Asterisk server of the cluster, reached over ARI.
//! - **leg**: a channel starq creates to ring an agent for a caller.
//! - **reservation**: the store's hold on an agent for one caller while the agent's leg rings;
//!   an **offer** is that reservation as the engine sees it.
//! - **tier**: the agents of a queue with the same penalty.
//! - **window**: the penalties a caller may currently be offered to.
//! - **outcome**: how a caller's stay ended ([`outcome::Outcome`]), exactly one per caller.
//! - **epoch**: a node lease's fencing token; stale epochs are refused by the store.
//! - **wrap-up**: after-call time before an agent is offered the next call.
//! - **rest**: any time an agent is held back from offers: wrap-up, the *retry* after a missed
//!   offer, or the *leg teardown* (at least [`shared::LEG_TEARDOWN`]) while starq hangs up a leg
//!   the agent may still have.
//! - **journal**: the append-only record of shared state changes.

#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod estimate;
pub mod ids;
pub mod journal;
pub mod outcome;
pub mod rng;
pub mod shared;
pub mod strategy;
pub mod time;

pub use ids::{
    AgentId, CallId, Epoch, Fence, LegId, NodeId, QueueId, ReservationId, bridge_of,
    bridged_channel,
};
pub use outcome::Outcome;
pub use time::Time;
