//! # starq-dst: deterministic simulation
//!
//! Seeded worlds ([`world::World`]) drive the real [`starq_core::engine::Engine`] against the
//! real [`starq_store::MemoryStore`] through simulated time, checking every invariant after
//! every step, then a liveness phase that must drain every queue. Cluster worlds
//! ([`cluster::World`]) do the same one level up: whole [`starq_engine::Instance`] machines,
//! a shared store and simulated Asterisk nodes at the ARI level, with faults drawn by seed. A
//! failing seed replays exactly with `STARQ_SEED=<n>`.

#![forbid(unsafe_code)]

pub mod cluster;
pub mod config;
pub mod world;
