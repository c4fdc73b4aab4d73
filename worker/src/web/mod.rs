//! The web implementations of the core's seams: browser callbacks become
//! driver inputs, seam calls become browser calls. Logic belongs in the core.

pub mod burst;
pub mod bus;
pub mod bus_codec;
pub mod clock;
pub mod engine;
pub mod locks;
pub mod network;
pub mod socket;
