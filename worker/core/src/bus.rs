//! The messages tabs exchange on a scope's `BroadcastChannel`.
//!
//! Every message names its protocol version, sender and epoch. A tab ignores
//! messages of another version (and anything that does not decode at all), so
//! tabs running incompatible versions never take part in the same election.

use super::{CloseInfo, TabId};

/// The bus protocol version. Bump it on any incompatible change, to these
/// types or to their shape on the channel (the worker's `web/bus_codec.rs`).
pub const PROTOCOL_VERSION: u32 = 5;

/// One message on a scope's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage<P> {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub v: u32,
    /// The sending tab.
    pub from: TabId,
    /// The leadership the message belongs to: the sender's own epoch for a
    /// leader or candidate, the epoch of the leader addressed for a follower.
    pub epoch: u64,
    /// What it says.
    pub body: Body<P>,
}

/// The shared connection's state, as the leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedState {
    /// The leader's socket is connecting.
    Connecting,
    /// The leader's socket is open.
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
}

/// What a leader's heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The socket's state.
    pub state: SharedState,
    /// Tabs with live instances in the scope, the leader's included.
    pub tabs: u32,
    /// Per tab, the last of its sends (`Out::seq`) this leadership handed to
    /// its socket: the tab need not keep them any longer.
    pub handed: Vec<(TabId, u64)>,
    /// The reconnect loop's progress, which a tab that takes over carries on.
    pub retry: Retry,
}

/// The progress of a scope's reconnect loop (see the core's scope/reconnect.rs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retry {
    /// Failed attempts in a row.
    pub count: u32,
    /// When the next attempt is due, on the tabs' shared time base.
    pub at: u64,
}

/// The content of a bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<P> {
    /// A tab joined the scope: a leader answers with a heartbeat at once.
    Hello,
    /// The leader is alive; a snapshot of the shared connection.
    Heartbeat(Heartbeat),
    /// A follower's live instance count, sent on change and with every
    /// heartbeat period. Zero means the tab leaves; `close` is the code and
    /// reason of its last `close()`, for the leader to close the socket with
    /// if that was the last instance anywhere.
    Presence {
        /// Live instances in the sending tab.
        instances: u32,
        /// The code and reason of the last instance's `close()`.
        close: Option<(Option<u16>, String)>,
    },
    /// Lease backend: the sender claims leadership with `epoch`.
    Claim,
    /// A follower's `send()`, for the leader of `epoch` to put on the socket.
    /// It names that leader too: epochs are milliseconds, and two tabs
    /// leading in the same one (across a healed partition) must not both send it.
    Out {
        /// The leader addressed.
        leader: TabId,
        /// The send's number in its tab: it grows by one with each send of
        /// the tab, whichever leader it goes through.
        seq: u64,
        /// The payload.
        payload: P,
    },
    /// The sender no longer leads with `epoch`, and puts nothing more on a
    /// socket for it. Per tab, the last send addressed to that leadership it
    /// handed to its socket (none for a tab not listed): the later ones are
    /// refused, and go again through the next leader.
    Refused {
        /// `(tab, seq)` pairs, as in `Heartbeat::handed`.
        handed: Vec<(TabId, u64)>,
        /// The tab that leads next, where the sender knows: the tab whose
        /// `forceLeader()` it yields to, which takes over now (see `Yield`),
        /// or the sender itself, leading on with its next socket (see the
        /// core's scope/reconnect.rs).
        to: Option<TabId>,
    },
    /// A follower's `reconnect(code, reason)`, for the leader of `epoch`:
    /// close the socket with that code and reason and open a new one.
    Reconnect {
        /// The leader addressed (see `Out::leader`).
        leader: TabId,
        /// The close code, if any.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// A follower's `forceLeader()`, where the socket runs on the page: the
    /// leader of `epoch` yields once its page answers, and the sender takes
    /// over when the leader's `Refused` names it.
    Yield {
        /// The leader addressed (see `Out::leader`).
        leader: TabId,
    },
    /// Server messages relayed by the leader of `epoch`, in the order they
    /// came: the core relays each as it comes, and a bus may gather a burst
    /// of them into one post (see [`crate::seams::Bus`]). Never empty.
    In(Vec<P>),
    /// The leader's socket failed; `Closed` follows.
    Error,
    /// The leader's socket closed: final for every instance of the scope.
    Closed(CloseInfo),
    /// The sender's page went away for good. Posted from the page itself (in
    /// `pagehide`), as its worker may already be gone, or may live on a
    /// moment: it may even be granted a lock and fail a socket as the page
    /// goes. Tabs forget the sender and ignore anything more from it; if it
    /// led, they hand over at once instead of waiting for the timeout.
    Left,
}

impl<P> BusMessage<P> {
    /// A message of this protocol version.
    pub fn new(from: TabId, epoch: u64, body: Body<P>) -> Self {
        BusMessage {
            v: PROTOCOL_VERSION,
            from,
            epoch,
            body,
        }
    }
}
