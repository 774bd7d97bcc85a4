//! Shared by the report tests: real databases created per test run, a TCP proxy that can cut a
//! database off, seeded traffic through a store with its ground truth, and checks of what the
//! reporter wrote against both.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

pub mod db;
pub mod proxy;
pub mod redis;
pub mod traffic;
pub mod verify;
