//! # starq-report: reports from the journal, exactly once, never in the way of a call
//!
//! The store appends a journal record for every state change, in the same atomic step as the
//! change. This crate turns those records into what call centers judge a queue by:
//!
//! - [`queue_log`]: Asterisk's `queue_log`, field for field as `app_queue` writes it, so
//!   existing reporting tools keep working; to a file ([`mod@file`]) and/or the realtime SQL table.
//! - [`records`]: one call record per caller (`queue_calls`) and agent login/pause intervals
//!   (`agent_sessions`).
//! - [`presence`]: agents' presence (logged in, paused and why) as the journal last left it,
//!   read back by [`PresenceTable`] for a starq that finds its store without state.
//! - [`sql`]: MySQL/MariaDB, PostgreSQL and SQLite, with the schema migrated at start.
//! - [`queries`]: service level (SL, SL2), abandon rate, ASA and AHT per queue and interval.
//! - [`reporter`]: the task that reads the journal through a consumer group, writes each batch
//!   to every sink and acknowledges it after commit. Replays are no-ops, a slow or absent
//!   database only makes the journal wait.
//! - [`config`]: the `[report]` section of `starq.toml`.
//! - [`catalog`]: the call center's configuration (queues, agents, memberships, contacts) in
//!   SQL, shared by every instance, with a revision that moves on every change.
//!
//! The rendering and the record changes are pure (no I/O, no clock); the sinks and the
//! reporter are the shell around them. Tables, events and queries are documented for users in
//! `docs/reports.md`.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod file;
pub mod presence;
pub mod queries;
pub mod queue_log;
pub mod records;
pub mod reporter;
pub mod sql;

pub use config::ReportConfig;
pub use presence::PresenceTable;
pub use queue_log::{QueueLogLine, QueueLogRenderer};
pub use reporter::{ReportStatus, Reporter, Sinks, StatusHandle};
