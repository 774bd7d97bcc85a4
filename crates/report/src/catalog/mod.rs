//! The catalog: the call center's configuration (queues and their settings, agents, their
//! memberships and contacts) kept in SQL, shared by every instance, read and written here.
//!
//! This module owns the catalog's tables (migration `0004_catalog`), reading them into the
//! shapes of `starq.toml` ([`CatalogRows`]: a `[queues.<name>]` table per queue, an
//! `[[agents]]` table per agent, so `starq-engine` validates them with the file's own rules),
//! and writing them, each [`Change`] in one transaction. It does not validate settings: a
//! writer loads the rows, applies its change in memory ([`CatalogRows::apply`]), validates the
//! result with the engine, and writes the change with the revision it read, so that a change
//! made meanwhile by someone else is refused ([`CatalogError::Conflict`]) rather than
//! overwritten.
//!
//! ## Tables
//! - `starq_queues(name)`; `starq_queue_settings(queue, setting, value)`: `setting` a key of a
//!   queue in `starq.toml`, dotted when nested (`on_timeout.queue`, `announce.frequency`);
//!   `value` text, read as a TOML value when it is one (`15`, `true`, `["a", "b"]`), otherwise
//!   as a string (`rrmemory`); see [`decode_value`].
//! - `starq_agents(id, name, wrapuptime)`, `starq_memberships(agent, queue, penalty)`,
//!   `starq_contacts(agent, position, endpoint, nodes)`: `nodes` comma-separated, empty for
//!   every node.
//! - `starq_config_revision(id = 1, revision)`: moved by triggers on every insert, update and
//!   delete of the tables above, whoever makes it (starq or an operator's own tools), so that
//!   instances notice a change by reading one number ([`CatalogDb::revision`]) and reload the
//!   tables only then.
//!
//! Rows that cannot be shaped into a configuration (a setting of no queue, a setting set both
//! as a value and as the parent of dotted ones) are refused at [`load`](CatalogDb::load) with
//! an error naming the row, as the engine names the rows it refuses.

mod exec;
mod rows;

use std::collections::BTreeMap;

use thiserror::Error;

pub use rows::{
    AgentRow, CatalogRows, Change, ContactRow, decode_value, encode_value, settings_of,
};

use crate::sql::{AnyPool, SqlError};

/// Why the catalog could not be read or written.
#[derive(Debug, Error)]
pub enum CatalogError {
    /// A row cannot be read into a configuration.
    #[error("{table}: {row}, {field}: {reason}")]
    Row {
        /// The table.
        table: &'static str,
        /// The row by its key (`queue "sales"`).
        row: String,
        /// The column or the setting (`setting "timeout"`).
        field: String,
        /// Why.
        reason: String,
    },
    /// The change names something the catalog does not hold.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The change adds something the catalog holds already.
    #[error("{0} exists already")]
    Exists(String),
    /// The catalog changed since it was read: the change was not written.
    #[error(
        "the catalog changed meanwhile (revision {found}, read at {expected}): nothing written, \
         read it again and retry"
    )]
    Conflict {
        /// The revision the change was prepared on.
        expected: u64,
        /// The revision found.
        found: u64,
    },
    /// The catalog changed during every attempt to read it whole.
    #[error("the catalog kept changing while it was read; try again")]
    Unsettled,
    /// `starq_config_revision` has lost its row.
    #[error("starq_config_revision has no row with id 1: insert (1, 0) back")]
    NoRevision,
    /// The database could not be reached, refused a statement or could not be migrated.
    #[error(transparent)]
    Sql(#[from] SqlError),
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Sql(SqlError::Database(e))
    }
}

/// What [`CatalogDb::seed_if_empty`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seeded {
    /// The catalog was empty: the queues and agents given were written.
    Written {
        /// The revision after the write.
        revision: u64,
    },
    /// The catalog already held queues or agents: nothing was written.
    AlreadyHeld {
        /// Queues it holds.
        queues: u64,
        /// Agents it holds.
        agents: u64,
    },
}

/// The catalog in one database.
#[derive(Clone, Debug)]
pub struct CatalogDb {
    pool: AnyPool,
}

impl CatalogDb {
    /// The catalog in the database of `pool` (migrate it first: [`migrate`](Self::migrate)).
    pub fn new(pool: AnyPool) -> Self {
        CatalogDb { pool }
    }

    /// The catalog at `url`, connected lazily (nothing is contacted yet).
    pub fn connect_lazy(url: &str) -> Result<Self, CatalogError> {
        Ok(CatalogDb::new(AnyPool::connect_lazy(url)?))
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Creates the tables and triggers not yet there (the report schema's migrations, which
    /// include the catalog's).
    pub async fn migrate(&self) -> Result<(), CatalogError> {
        Ok(self.pool.migrate().await?)
    }

    /// The revision: one read of one row, cheap enough to poll every second.
    pub async fn revision(&self) -> Result<u64, CatalogError> {
        exec::revision(&self.pool).await
    }

    /// Every row, read in one transaction, with the revision they are at.
    pub async fn load(&self) -> Result<CatalogRows, CatalogError> {
        exec::load(&self.pool).await
    }

    /// Writes one change in one transaction; the revision after it. With `expected`, the
    /// change is written only if the catalog is still at that revision
    /// ([`CatalogError::Conflict`] otherwise).
    pub async fn apply(&self, change: &Change, expected: Option<u64>) -> Result<u64, CatalogError> {
        let steps = exec::plan(self.pool.dialect(), change)?;
        exec::write(&self.pool, expected, false, &steps).await.map(|done| done.revision())
    }

    /// Replaces every queue and agent by these, in one transaction; the revision after it.
    pub async fn replace_all(
        &self,
        queues: &BTreeMap<String, toml::Table>,
        agents: &[AgentRow],
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        let steps = exec::replace_all(self.pool.dialect(), queues, agents)?;
        exec::write(&self.pool, expected, false, &steps).await.map(|done| done.revision())
    }

    /// Writes these queues and agents if the catalog holds no queue and no agent, in one
    /// transaction (two instances starting together write once).
    pub async fn seed_if_empty(
        &self,
        queues: &BTreeMap<String, toml::Table>,
        agents: &[AgentRow],
    ) -> Result<Seeded, CatalogError> {
        let steps = exec::replace_all(self.pool.dialect(), queues, agents)?;
        exec::write(&self.pool, None, true, &steps).await
    }
}
