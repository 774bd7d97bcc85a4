//! One simulated Asterisk node: its state machine (channels, bridges, playbacks, apps) and
//! the timer driver that runs its deferred steps.

pub(crate) mod apps;
pub(crate) mod bridges;
pub(crate) mod callers;
pub(crate) mod config;
pub(crate) mod control;
pub(crate) mod hangup;
pub(crate) mod invariants;
pub(crate) mod legs;
pub(crate) mod media;
pub(crate) mod model;
#[cfg(test)]
mod simulation;
pub(crate) mod state;
pub(crate) mod steps;
