//! # starq-dst: deterministic simulation of the routing core
//!
//! Seeded worlds ([`world::World`]) drive the real [`starq_core::engine::Engine`] against the
//! real [`starq_store::MemoryStore`] through simulated time, checking every invariant after
//! every step, then a liveness phase that must drain every queue. A failing seed replays
//! exactly with `STARQ_SEED=<n>`.

#![forbid(unsafe_code)]

pub mod config;
pub mod world;
