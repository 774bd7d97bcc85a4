//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod rest_server;
pub mod shared;
pub mod ws_server;
