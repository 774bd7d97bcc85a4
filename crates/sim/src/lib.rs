//! starq-sim
#![forbid(unsafe_code)]

pub mod clock;
pub mod error;
pub(crate) mod node;
pub mod phones;
pub mod rng;
pub mod truth;
pub mod wire;
