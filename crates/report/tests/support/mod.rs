//! Shared by the report tests: real databases created per test run, a TCP proxy that can cut a
//! database off, seeded traffic through a store with its ground truth, and checks of what the
//! reporter wrote against both.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

/// Runs each named test, an `async fn(Dialect)`, once per database: in modules `mysql`,
/// `postgres` and `sqlite`.
#[allow(unused_macros)] // not every test binary runs on every database
macro_rules! on_every_database {
    ($($name:ident),* $(,)?) => {
        mod mysql {$(
            #[tokio::test]
            async fn $name() {
                super::$name(starq_report::sql::Dialect::MySql).await
            }
        )*}
        mod postgres {$(
            #[tokio::test]
            async fn $name() {
                super::$name(starq_report::sql::Dialect::Postgres).await
            }
        )*}
        mod sqlite {$(
            #[tokio::test]
            async fn $name() {
                super::$name(starq_report::sql::Dialect::Sqlite).await
            }
        )*}
    };
}

pub mod db;
pub mod proxy;
pub mod redis;
pub mod traffic;
pub mod verify;
