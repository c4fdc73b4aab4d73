//! Thin adapters between browser APIs and the core: browser callbacks become
//! core inputs, core outputs become browser calls. Logic belongs in `core`.

pub mod bus;
pub mod locks;
pub mod socket;
pub mod timer;
