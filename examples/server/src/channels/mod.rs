//! The broadcast service: named channels over the `/ws` WebSocket and
//! `POST /broadcast`, with acks, deduplication, resume, history on
//! persistent channels, and optional fan-out across instances via Redis.
//!
//! Layout: `protocol` (wire format, pure), `limits` (rate and dedup, pure),
//! `id` (message ids), `hub` (local subscribers), `memory` / `redis`
//! (backends), `broker` (the delivery path), `resume` (client-id hand-over),
//! `session` (one connection), `routes` (HTTP handlers).

pub mod broker;
pub mod hub;
pub mod id;
pub mod limits;
pub mod memory;
pub mod protocol;
pub mod redis;
pub mod resume;
pub mod routes;
pub mod session;
