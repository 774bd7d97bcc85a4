//! The ARI data model: events, resources and the values they carry, all `Serialize` and
//! `Deserialize` so the engine decodes them and the simulator emits them.

mod decode;
mod event;
mod resource;
mod values;

pub use decode::{DecodeError, decode_event, decode_value};
pub use event::*;
pub use resource::*;
pub use values::*;
