//! The contract between a page and its worker.
//!
//! The page runs no WebAssembly: its TypeScript bridge exchanges these
//! messages with the worker over gloo-worker's protocol, and imports the
//! TypeScript declarations that tsify generates from these very types. The
//! worker reads and writes them by hand (`codec.rs`, through [`JsCodec`]),
//! and a test holds that codec to these types' serde shapes. So the two
//! sides cannot drift apart without a check noticing.

mod codec;
mod envelope;
pub mod js;
mod options;
mod wire;

pub use options::{Backend, BroadcastWebsocketOptions, Election, Protocols, Status};
pub use wire::{
    Announcement, CloseRequest, Closed, Farewell, JsCodec, JsMessage, Leadership, OpenRequest,
    Opened, Payload, Reconnect, Reply, Request, Resolved, WorkerHello,
};

/// The version of the page ↔ worker protocol. A page refuses a worker that
/// announces another one (a stale self-hosted `workerUrl`). Bump it whenever a
/// type of [`wire`] changes shape. `scripts/build.mjs` reads it from here.
pub const PROTOCOL_VERSION: u32 = 6;

/// This release, named in handshake errors.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");
