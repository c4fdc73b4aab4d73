//! The pure, sans-IO engine of one tab's worker.
//!
//! It decides which instances share which connection and what the socket
//! adapter and each instance must be told. It owns no socket, no timer and no
//! I/O: callers feed it with `handle_*` methods and then drain
//! [`Hub::poll_output`] until it returns `None`, executing each [`Output`].
//! Payloads are opaque (`P`): the hub routes them and never looks inside.

mod hub;

pub use hub::Hub;

/// Identifies one native socket for the lifetime of the hub. A scope gets a
/// fresh id each time it needs a new socket, so late events from a socket that
/// is being torn down can never be mistaken for events of its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// What an instance asks for when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The name of the shared connection; instances with the same scope share one socket.
    pub scope: String,
    /// The absolute, normalised `ws:`/`wss:` URL to open.
    pub url: String,
    /// The subprotocols to offer, in order.
    pub protocols: Vec<String>,
}

/// The outcome of a closing handshake, as a `CloseEvent` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code (1005 when the peer sent none, 1006 when the connection failed).
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

impl CloseInfo {
    /// The close of a connection that failed or was dropped without a handshake.
    pub fn abnormal() -> Self {
        CloseInfo {
            code: 1006,
            reason: String::new(),
            was_clean: false,
        }
    }
}

/// What happened, from one instance's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// The shared socket is open (or already was when the instance joined).
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message from the server.
    Message(P),
    /// The connection failed or was dropped; a `Closed` follows.
    Error,
    /// The instance is closed; nothing follows.
    Closed(CloseInfo),
}

/// What the caller must do, in the order the hub returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<I, P> {
    /// Open a native socket and report its events with this id.
    OpenSocket {
        /// The id the socket's events must carry.
        socket: SocketId,
        /// The URL to open.
        url: String,
        /// The subprotocols to offer.
        protocols: Vec<String>,
    },
    /// Send a payload on a socket, then acknowledge the send to `from`.
    Transmit {
        /// The socket to send on.
        socket: SocketId,
        /// The instance whose `send()` this is.
        from: I,
        /// The payload, untouched.
        payload: P,
    },
    /// Start closing a socket (or abort it while it is connecting).
    CloseSocket {
        /// The socket to close.
        socket: SocketId,
        /// The close code to send, if any.
        code: Option<u16>,
        /// The close reason to send.
        reason: String,
    },
    /// Tell an instance what happened.
    Deliver {
        /// The instance.
        to: I,
        /// What happened.
        event: Event<P>,
    },
}
