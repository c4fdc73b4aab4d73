//! A simulated world for the core: tabs on a virtual clock, a
//! `BroadcastChannel` per scope, Web Locks, a WebSocket server, tab crashes,
//! freezes and bus partitions, all driven by a seeded PRNG.
//!
//! Each tab is the core's own `Driver` on the simulated seams of `seams`:
//! every call it makes on them is carried out the way the browser would, and
//! checked on the way: a broken rule panics with the recent trace (set
//! `SIM_TRACE=1` to print the whole trace as it happens).
//!
//! - `world`: the tabs, what a test does to them and the faults it throws;
//! - `scheduler`: the event queue and the run loop on the virtual clock;
//! - `seams`: the simulated seams, which record each call of a driver;
//! - `browser`: how the browser carries those calls out (sockets, bus, locks);
//! - `server`: the WebSocket server;
//! - `instances`: what each instance is told, checked and recorded;
//! - `oracle`: the invariants, and the checks of a settled world;
//! - `config`: seed, latencies, faults and timing;
//! - `scenario`: what scenario tests share (worlds of named tabs, expected events).
#![allow(dead_code)]

mod browser;
mod config;
mod instances;
mod oracle;
mod scenario;
mod scheduler;
mod seams;
mod server;
mod world;

// Each test crate uses its part.
#[allow(unused_imports)]
pub use self::{
    config::{Config, Net, Rng},
    instances::{Instance, Phase},
    oracle::Stats,
    scenario::*,
    scheduler::Input,
    seams::{Alarm, Call, Calls, SimClock, SimDriver, Wire},
    server::{Conn, ConnState, Received, Server},
    world::{url_of, Lead, SimTab, World},
};

/// An instance, across the whole world.
pub type InstanceId = u32;

/// What travels on sockets and the bus. The core never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pl {
    /// An instance's `send()`, numbered per instance from 0.
    Up { instance: InstanceId, seq: u32 },
    /// A server broadcast, numbered per scope from 0.
    Down { seq: u32 },
    /// Anything else (echoes, test payloads).
    Other(String),
}
