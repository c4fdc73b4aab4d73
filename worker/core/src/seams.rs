//! The seams between the core and the browser: one small trait per browser
//! facility the core needs — the socket [`Transport`], the [`Bus`], the
//! [`Locks`] manager and the [`Clock`] — plus the [`Instances`] that hear what
//! happened. The worker implements them over web APIs (`worker/src/web`),
//! the simulation over a virtual browser (`worker/tests/common`); the same
//! conformance suites run over both, so the simulation's picture of the
//! browser is proven, not assumed.
//!
//! Seams report asynchronously: what a browser API later says (a socket
//! event, a bus message, a lock grant, a timer) comes back as a
//! `Driver::handle_*` call.

use crate::{BusMessage, CloseInfo, Event, SocketId};

/// What a native socket reports, in the order the browser fires it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent<P> {
    /// The handshake completed.
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message, untouched.
    Message(P),
    /// The connection failed; `Closed` follows.
    Error,
    /// The connection is closed; nothing follows.
    Closed(CloseInfo),
}

/// The socket's constructor refused to open it (`new WebSocket` threw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// Native sockets, each known by the id the core gave it. Its events come
/// back as `Driver::handle_socket(id, event)`.
pub trait Transport<P> {
    /// Opens a socket to `url` offering `protocols`. A refusal reports no
    /// event: the driver turns it into the failed connection it is.
    fn open(&mut self, socket: SocketId, url: &str, protocols: &[String]) -> Result<(), Refused>;
    /// Sends a payload on an open socket.
    fn send(&mut self, socket: SocketId, payload: P);
    /// Starts the closing handshake, or aborts a socket still connecting.
    fn close(&mut self, socket: SocketId, code: Option<u16>, reason: &str);
    /// The socket's `Closed` was handled: whatever it holds can go.
    fn forget(&mut self, socket: SocketId);
}

/// One broadcast channel per scope, shared by every tab of the origin. A
/// message reaches every other open channel of the scope, in the order its
/// sender posted; never the sender itself. It comes back as
/// `Driver::handle_bus(scope, raw)`.
///
/// A bus may gather the relayed server messages (`Body::In`) that a scope
/// posts in a burst into one message, as long as the order holds: what the
/// scope posts next, of any other kind, goes after them, and closing the
/// scope's channel posts them first.
pub trait Bus<P> {
    /// A message as it arrived, before decoding.
    type Raw;
    /// Opens the scope's channel.
    fn open(&mut self, scope: &str);
    /// Posts a message to every other tab's channel of the scope.
    fn post(&mut self, scope: &str, message: &BusMessage<P>);
    /// Closes the scope's channel: nothing arrives on it any more.
    fn close(&mut self, scope: &str);
    /// The message, if it is one of this protocol at all. Other libraries,
    /// other versions and junk share the channel.
    fn decode(&self, raw: Self::Raw) -> Option<BusMessage<P>>;
}

/// What happened to a lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock was granted and is held.
    Acquired,
    /// The held lock was taken by another request's steal.
    Lost,
}

/// Exclusive locks, one request per scope (the scope's leader lock). The
/// events of a request come back as `Driver::handle_lock(scope, ticket,
/// event)`; a request that was replaced or released may still report, which
/// is why each carries its ticket.
pub trait Locks {
    /// Requests the scope's lock, replacing (withdrawing, or releasing if
    /// held) the scope's previous request. `steal` takes it from its holder
    /// at once, and the holder learns it lost it.
    fn request(&mut self, scope: &str, ticket: u64, steal: bool);
    /// Gives the scope's lock back, or stops waiting for it.
    fn release(&mut self, scope: &str);
}

/// Time. `now` is monotonic, in milliseconds, on a base every tab of the
/// origin shares: epochs are compared across tabs, and a step of the wall
/// clock must not make a healthy leader step down or silence its heartbeats.
pub trait Clock {
    /// The current time.
    fn now(&self) -> u64;
    /// Call `Driver::handle_timeout` at `at`, replacing the previous alarm;
    /// `None` disarms it.
    fn wake_at(&mut self, at: Option<u64>);
}

/// The tab's instances, as the core addresses them.
pub trait Instances<I, P> {
    /// Tells an instance what happened.
    fn deliver(&mut self, to: I, event: Event<P>);
    /// One `send()` of the instance has left the tab.
    fn ack(&mut self, to: I);
    /// Asks the page of an instance to answer, through that instance.
    fn ping_page(&mut self, via: I);
    /// Asks the page of an instance for the URL and protocols to connect with.
    fn resolve(&mut self, via: I);
    /// A line for the debug log of a scope.
    fn log(&mut self, tab: &str, scope: &str, line: &str);
}

/// The implementations a [`crate::Driver`] runs on, named once.
pub trait Seams<I, P> {
    /// The native sockets.
    type Transport: Transport<P>;
    /// The bus.
    type Bus: Bus<P>;
    /// The lock manager.
    type Locks: Locks;
    /// The clock.
    type Clock: Clock;
    /// The instances.
    type Instances: Instances<I, P>;
}
