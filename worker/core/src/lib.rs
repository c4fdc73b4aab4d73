//! The pure, sans-IO core of broadcast-websocket: one tab's election,
//! routing and lifecycle, the seams it is driven through, and the one driver
//! loop that joins them.
//!
//! A [`Tab`] knows this tab's instances and, per scope, whether this tab leads
//! (holds the socket) or follows (reaches the socket over the bus), who the
//! leader is, and what the shared connection looks like. It owns no socket,
//! no channel, no lock and no timer: callers feed it with `handle_*` methods
//! (each takes `now`: monotonic milliseconds on a time base every tab of the
//! origin shares, see [`Clock`]), then drain [`Tab::poll_output`] until it
//! returns `None`, execute each [`Output`], and call [`Tab::handle_timeout`]
//! at [`Tab::poll_timeout`]. [`Driver`] is that loop, written once over the
//! [`seams`]; the worker and the simulation both run it.
//! Payloads are opaque (`P`): the core routes them and never looks inside.

mod bus;
mod driver;
mod map;
mod scope;
pub mod seams;
mod tab;

pub use bus::{Body, BusMessage, Heartbeat, Retry, SharedState, PROTOCOL_VERSION};
pub use driver::Driver;
pub use map::Map;
pub use seams::{Bus, Clock, Instances, LockEvent, Locks, Seams, SocketEvent, Transport};
pub use tab::Tab;

/// A tab's id: random, chosen by the page.
pub type TabId = String;

/// Identifies one native socket for the lifetime of the tab. A scope gets a
/// fresh id each time it needs a new socket, so late events from a socket that
/// is being torn down can never be mistaken for events of its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// How tabs of a scope agree on a leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Web Locks: the leader holds an exclusive lock; waiters queue for it.
    Locks,
    /// A lease over the bus: heartbeats, timeout, claims with a tie-break.
    Lease,
}

/// The timings of the election protocol, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often a leader heartbeats and a follower reports its presence.
    pub heartbeat_ms: u64,
    /// How long a leader (or a follower's presence) may stay silent before it
    /// is presumed dead.
    pub leader_timeout_ms: u64,
    /// Lease: how long a joining tab waits for a leader to answer its hello.
    pub discovery_ms: u64,
    /// Lease: how long a claim stands before the claimant leads.
    pub claim_window_ms: u64,
    /// Web Locks: the delay between the steals of successive followers, so
    /// that one follower, not all of them, replaces a silent leader.
    pub steal_stagger_ms: u64,
    /// How long a leader holds back its socket's close with 1001 ("going
    /// away") before it is final for all: Firefox closes the socket of a
    /// page that navigates away with 1001 before the page's `pagehide`, and
    /// the farewell posted there must win, so that the others hand over.
    pub going_away_hold_ms: u64,
    /// Where the engine runs a worker's socket on its page's main thread
    /// (Gecko, WebKit), how long a leader's page may leave its worker's pings
    /// unanswered before the leader hands the socket to another tab: a busy
    /// page stalls the socket, and every follower with it. `None` where the
    /// socket does not depend on the page (a busy page then costs nothing).
    pub page_silence_ms: Option<u64>,
    /// The engine runs a worker's `BroadcastChannel` on its page's main
    /// thread too (WebKit): a busy leader page silences its worker's
    /// heartbeats, and its followers must tell that apart from their own
    /// busy page (see `Timing::leader_silence_ms`).
    pub bus_on_page: bool,
}

impl Timing {
    /// The defaults for a leader timeout of `leader_timeout_ms`.
    pub fn with_leader_timeout(leader_timeout_ms: u64) -> Self {
        let leader_timeout_ms = leader_timeout_ms.max(100);
        Timing {
            heartbeat_ms: (leader_timeout_ms / 6).max(20),
            leader_timeout_ms,
            // A live leader answers a hello at once from its worker; these
            // leave room for a loaded machine before a second claim races it.
            discovery_ms: 250,
            claim_window_ms: 150,
            steal_stagger_ms: (leader_timeout_ms / 4).max(20),
            // Firefox's pagehide came 15 ms after that close here; the rest
            // is room for a loaded machine. Shorter than the timeout, as the
            // leader is silent meanwhile.
            going_away_hold_ms: 300.min(leader_timeout_ms / 2),
            page_silence_ms: None,
            bus_on_page: false,
        }
    }

    /// These timings, for an engine that runs a worker's socket on its
    /// page's main thread: a leader whose page is busy for longer than a
    /// long task hands over, well before the followers would notice.
    pub fn with_page_bound_socket(self) -> Self {
        Timing {
            // A third of what followers would tolerate, and more than the
            // longest task a responsive page runs (see README, Engines).
            page_silence_ms: Some(300.min(self.leader_timeout_ms / 3)),
            ..self
        }
    }

    /// These timings, for an engine that runs a worker's socket and its bus
    /// on its page's main thread: as `with_page_bound_socket`, and the
    /// leader heartbeats as often as it pings its page, so that its
    /// followers notice its busy page as soon as it does itself.
    pub fn with_page_bound_bus(self) -> Self {
        let timing = self.with_page_bound_socket();
        Timing {
            heartbeat_ms: timing
                .heartbeat_ms
                .min(timing.page_ping_ms().unwrap_or(u64::MAX)),
            bus_on_page: true,
            ..timing
        }
    }

    /// Where the bus runs on the page (WebKit), how long a leader may stay
    /// silent before a follower whose own page answered meanwhile (so its
    /// bus ran) takes it for a busy page and replaces it: a heartbeat period
    /// over the leader's own bound. `None` elsewhere: followers wait for
    /// `leader_timeout_ms`, as a busy page does not silence a leader there.
    pub fn leader_silence_ms(&self) -> Option<u64> {
        match (self.bus_on_page, self.page_silence_ms) {
            (true, Some(silence)) => Some(silence + self.heartbeat_ms),
            _ => None,
        }
    }

    /// How often a leader watching its page pings it.
    pub fn page_ping_ms(&self) -> Option<u64> {
        self.page_silence_ms.map(|silence| (silence / 3).max(10))
    }

    /// How long a tab waits, after it stopped following a leader, for that
    /// leader to say what it did with the tab's sends before it gives them
    /// up as in doubt (see the core's scope/outbox.rs). Two timeouts: a
    /// leader replaced after a timeout's silence whose page stays busy as
    /// long again still answers in time (WebKit stalls a busy page's bus).
    pub fn in_doubt_after_ms(&self) -> u64 {
        2 * self.leader_timeout_ms
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::with_leader_timeout(3000)
    }
}

/// How a scope's leader reconnects when its socket is lost (see the core's
/// scope/reconnect.rs). Delays are partysocket's, with full jitter: the
/// `n`th attempt in a row waits a random time up to
/// `min_delay_ms × grow_factor^(n−1)`, at most `max_delay_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// The bound on the delay before the first attempt.
    pub min_delay_ms: u64,
    /// The bound on any delay.
    pub max_delay_ms: u64,
    /// How much the bound grows with each failed attempt.
    pub grow_factor: f64,
    /// How long a connection must stay open before the attempts count from
    /// zero again.
    pub min_uptime_ms: u64,
    /// How long an attempt may take to open before it counts as failed.
    pub connection_timeout_ms: u64,
    /// Failed attempts in a row after which the close is final for all.
    pub max_retries: u32,
    /// Whether sends of connecting instances wait for the next `open`
    /// (the page bounds how many).
    pub queue: bool,
    /// Close codes that end the connection for good unless listed here: by
    /// default the server's 1008 (policy violation) and 4000–4999 are final.
    pub reconnect_on_codes: Vec<u16>,
}

impl ReconnectPolicy {
    /// partysocket 1.3.0's defaults, with a queue.
    pub fn new() -> Self {
        ReconnectPolicy {
            min_delay_ms: 3000,
            max_delay_ms: 10_000,
            grow_factor: 1.3,
            min_uptime_ms: 5000,
            connection_timeout_ms: 4000,
            max_retries: u32::MAX,
            queue: true,
            reconnect_on_codes: Vec::new(),
        }
    }

    /// Whether a socket closed with `code` stays closed: a policy violation
    /// or an application's code (4000–4999) from the server says retrying
    /// would not help, unless the application says otherwise.
    pub fn is_final(&self, code: u16) -> bool {
        (code == 1008 || (4000..=4999).contains(&code)) && !self.reconnect_on_codes.contains(&code)
    }

    /// The bound on the delay before the `attempt`th attempt in a row (from 1).
    pub fn delay_bound_ms(&self, attempt: u32) -> u64 {
        let exponent = attempt.saturating_sub(1).min(1000) as i32;
        let bound = self.min_delay_ms as f64 * self.grow_factor.powi(exponent);
        (bound as u64).min(self.max_delay_ms)
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy::new()
    }
}

/// The URL of a scope with no server: its tabs elect a leader, whose
/// connection opens at once and sends nowhere. What an application
/// coordinates without a socket (`broadcast-websocket/sync`) runs on it.
pub const NO_SERVER: &str = "bws:no-server";

/// What an instance asks for when it joins. The first instance of a scope in a
/// tab sets the scope's URL, protocols and settings for that tab.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// The name of the shared connection; instances with the same scope share one socket.
    pub scope: String,
    /// The absolute, normalised `ws:`/`wss:` URL to open.
    pub url: String,
    /// The subprotocols to offer, in order.
    pub protocols: Vec<String>,
    /// The election backend.
    pub backend: Backend,
    /// The election timings.
    pub timing: Timing,
    /// How long the socket stays open after the last instance anywhere closed.
    pub grace_ms: u64,
    /// Whether to log election and routing decisions.
    pub debug: bool,
    /// How the leader reconnects; `None`: a lost socket is final for all,
    /// as a native socket's close is.
    pub reconnect: Option<ReconnectPolicy>,
    /// The page gives the URL and protocols before every connection (the
    /// application passed a function): `url` and `protocols` are only the
    /// last ones it gave (see [`Output::Resolve`]).
    pub resolve: bool,
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

/// Who leads a scope, as one tab sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// The leader's tab id, if one is known.
    pub leader_id: Option<TabId>,
    /// The leader's epoch (0 while none is known).
    pub epoch: u64,
    /// The election backend in use.
    pub backend: Backend,
    /// Tabs with live instances in the scope, as last reported by the leader.
    pub tabs: u32,
    /// This tab's sends given up so far: the leader they went through
    /// vanished (crashed, or its page went away) before it said whether it
    /// put them on its socket. They may or may not have reached the server.
    pub sends_in_doubt: u32,
    /// Failed connection attempts in a row (option `reconnect`): zero once a
    /// connection stayed open `min_uptime_ms`.
    pub retries: u32,
}

/// What happened, from one instance's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// Who leads changed, or the number of tabs did.
    Leadership(Leadership),
    /// The shared socket is open (or already was when the instance joined).
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message from the server.
    Message(P),
    /// The connection failed; a `Closed` follows.
    Error,
    /// The instance's connection closed. With `reconnecting`, the leader
    /// changed: the instance is connecting again and an `Open` will follow
    /// once the new leader's socket is open. Without it, nothing follows.
    Closed {
        /// How it closed.
        info: CloseInfo,
        /// Whether the instance goes on, through a new leader.
        reconnecting: bool,
    },
}

/// What the caller must do, in the order the core returns it.
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
    /// Send a payload on a socket.
    Transmit {
        /// The socket to send on.
        socket: SocketId,
        /// The payload, untouched.
        payload: P,
    },
    /// Start closing a socket (or abort it while it is connecting). Its
    /// events are of no more interest unless it is the scope's last socket.
    CloseSocket {
        /// The socket to close.
        socket: SocketId,
        /// The close code to send, if any.
        code: Option<u16>,
        /// The close reason to send.
        reason: String,
    },
    /// One `send()` of this instance has left the tab (on the socket or the bus).
    Ack {
        /// The instance.
        to: I,
    },
    /// Tell an instance what happened.
    Deliver {
        /// The instance.
        to: I,
        /// What happened.
        event: Event<P>,
    },
    /// Open the scope's bus channel and deliver its messages.
    OpenBus {
        /// The scope.
        scope: String,
    },
    /// Post a message on the scope's bus channel.
    Broadcast {
        /// The scope.
        scope: String,
        /// The message.
        message: BusMessage<P>,
    },
    /// Close the scope's bus channel.
    CloseBus {
        /// The scope.
        scope: String,
    },
    /// Ask for the scope's leader lock; `steal` takes it from its holder.
    RequestLock {
        /// The scope.
        scope: String,
        /// Whether to take it from its holder at once.
        steal: bool,
    },
    /// Give the scope's leader lock back, or stop waiting for it.
    ReleaseLock {
        /// The scope.
        scope: String,
    },
    /// Ask the page of this instance to answer (see
    /// [`Timing::page_silence_ms`]); the answer comes to
    /// [`Tab::handle_page_answer`].
    PingPage {
        /// An instance of the page.
        via: I,
    },
    /// Ask the page of this instance for the URL and protocols to connect
    /// with; the answer comes to [`Tab::handle_resolved`].
    Resolve {
        /// An instance of the page.
        via: I,
    },
    /// A line for the debug log.
    Log {
        /// The scope.
        scope: String,
        /// What was decided, and why.
        line: String,
    },
}
