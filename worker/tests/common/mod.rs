//! A simulated world for the core: tabs on a virtual clock, a
//! `BroadcastChannel` per scope, Web Locks, a WebSocket server, tab crashes,
//! freezes and bus partitions, all driven by a seeded PRNG.
//!
//! Each tab is the core's own `Driver` on the simulated seams of `seams`:
//! every call it makes on them is carried out the way the browser would, and
//! checked on the way: a broken rule panics with the recent trace (set
//! `SIM_TRACE=1` to print the whole trace as it happens).
#![allow(dead_code)]

mod seams;

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use bws_core::{
    Backend, Body, BusMessage, CloseInfo, Event, JoinRequest, Leadership, LockEvent, SocketEvent,
    SocketId, Tab, Timing,
};
pub use seams::{Alarm, Call, Calls, SimDriver, Wire};

/// An instance, across the whole world.
pub type Inst = u32;

/// What travels on sockets and the bus. The core never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pl {
    /// An instance's `send()`, numbered per instance from 0.
    Up { inst: Inst, seq: u32 },
    /// A server broadcast, numbered per scope from 0.
    Down { seq: u32 },
    /// Anything else (echoes, test payloads).
    Other(String),
}

// ---------------------------------------------------------------- rng

/// xorshift64*: small, seedable, good enough for schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng((seed ^ 0x9E37_79B9_7F4A_7C15).max(1));
        for _ in 0..4 {
            rng.next();
        }
        rng
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

// ---------------------------------------------------------------- config

/// Latencies (inclusive ranges, ms) and faults.
#[derive(Debug, Clone)]
pub struct Net {
    pub bus_latency: (u64, u64),
    pub socket_latency: (u64, u64),
    pub lock_latency: (u64, u64),
    /// Bus messages may overtake earlier ones of the same sender.
    pub full_reorder: bool,
    /// Probability that a bus message is lost.
    pub drop: f64,
}

impl Net {
    /// Fixed latencies, no faults: runs are reproducible by reasoning.
    pub fn fixed(bus: u64, socket: u64) -> Self {
        Net {
            bus_latency: (bus, bus),
            socket_latency: (socket, socket),
            lock_latency: (0, 0),
            full_reorder: false,
            drop: 0.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub backend: Backend,
    pub timing: Timing,
    pub grace_ms: u64,
    pub net: Net,
}

impl Config {
    pub fn new(backend: Backend) -> Self {
        Config {
            seed: 1,
            backend,
            timing: Timing::with_leader_timeout(600),
            grace_ms: 0,
            net: Net::fixed(1, 5),
        }
    }

    /// The longest a takeover may take once the leader is dead, on a clean
    /// network: Locks hands the lock over at once; the lease waits out the
    /// timeout and a claim window.
    pub fn takeover_bound(&self) -> u64 {
        let net = &self.net;
        let margin = 4 * net.bus_latency.1 + 2 * net.socket_latency.1 + net.lock_latency.1 + 5;
        match self.backend {
            Backend::Locks => margin,
            Backend::Lease => self.timing.leader_timeout_ms + self.timing.claim_window_ms + margin,
        }
    }

    /// Long enough for any election to settle once faults are gone.
    pub fn settle_ms(&self, tabs: usize) -> u64 {
        let t = &self.timing;
        let net = &self.net;
        4 * t.leader_timeout_ms
            + (tabs as u64 + 1) * t.steal_stagger_ms
            + 2 * (t.claim_window_ms + t.discovery_ms)
            + self.grace_ms
            + 20 * (net.bus_latency.1 + net.socket_latency.1 + net.lock_latency.1)
    }
}

// ---------------------------------------------------------------- state

/// What a tab's worker is fed.
#[derive(Debug, Clone)]
pub enum Input {
    Bus {
        scope: String,
        /// The generation of the receiving channel when the message was posted.
        channel: u64,
        message: Wire,
    },
    SocketOpen(SocketId),
    SocketMessage(SocketId, Pl),
    SocketError(SocketId),
    SocketClosed(SocketId, CloseInfo),
    LockAcquired {
        scope: String,
        request: u64,
    },
    LockLost {
        scope: String,
        request: u64,
    },
}

#[derive(Debug)]
enum ServerEv {
    Accept(usize),
    /// With whether the sender had been superseded when it transmitted, and
    /// whether another tab led with the same epoch (a partition).
    Receive(usize, Pl, bool, bool),
    /// The client's close frame reached the server.
    ClientClose(usize, Option<u16>, String),
}

#[derive(Debug)]
enum Ev {
    Tab(usize, Input),
    Server(ServerEv),
    Thaw(usize),
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // A min-heap on (at, seq).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockState {
    Connecting,
    Open,
    Closing,
    Closed,
}

#[derive(Debug)]
struct ClientSocket {
    scope: String,
    conn: usize,
    state: SockState,
}

/// A tab leading a scope, as seen from its outputs.
#[derive(Debug, Clone)]
pub struct Lead {
    pub socket: SocketId,
    /// Known from its first heartbeat (a zombie never says).
    pub epoch: Option<u64>,
    /// When it last heartbeat.
    pub beat_at: u64,
    /// The tab asked to close it: a fenced leader, or the last instance
    /// anywhere waiting for the real close.
    pub closing: bool,
}

pub struct SimTab {
    pub id: String,
    pub driver: SimDriver,
    /// What the driver asked of the browser, not yet carried out.
    calls: Calls,
    pub alive: bool,
    pub frozen: bool,
    backlog: VecDeque<Input>,
    /// Open bus channels per scope, with their generation.
    bus: HashMap<String, u64>,
    bus_generation: u64,
    sockets: HashMap<SocketId, ClientSocket>,
    pub leading: HashMap<String, Lead>,
    /// The ticket of the current lock request per scope.
    lock_request: HashMap<String, u64>,
    /// Scopes whose lock was stolen from this tab, the news not yet processed.
    lost_pending: HashSet<String>,
    pub zombie: HashSet<String>,
    /// When the tab's clock wakes it.
    timer: Alarm,
}

impl SimTab {
    /// The tab's core.
    pub fn core(&self) -> &Tab<Inst, Pl> {
        self.driver.tab()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Open,
    /// Got its final close.
    Closed,
    /// Disconnected, or its tab died.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub tab: usize,
    pub scope: String,
    pub phase: Phase,
    /// `close()` was called, with this code and reason.
    pub closing: Option<(Option<u16>, String)>,
    pub leadership: Option<Leadership>,
    /// How many times it opened.
    pub session: u32,
    /// Server broadcasts received, with the session they arrived in.
    pub received: Vec<(u32, u32)>,
    pub other_received: Vec<Pl>,
    /// Sends acknowledged (the next send's number).
    pub sent: u32,
    pub reconnects: u32,
    pub errors: u32,
    pub final_close: Option<CloseInfo>,
    pub events: Vec<(u64, Event<Pl>)>,
}

impl Instance {
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Open,
    Closed,
}

#[derive(Debug, Clone)]
pub struct Conn {
    pub tab: usize,
    pub socket: SocketId,
    pub scope: String,
    pub state: ConnState,
    pub opened_at: Option<u64>,
    down_last: u64,
    up_last: u64,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub conn: usize,
    pub payload: Pl,
}

#[derive(Debug, Default)]
pub struct Server {
    pub conns: Vec<Conn>,
    pub received: Vec<Received>,
    /// Send every received payload back on its connection.
    pub echo: bool,
    /// Fail every connection attempt.
    pub refuse: bool,
    next_down: HashMap<String, u32>,
    /// The close frames clients sent: (conn, code, reason).
    pub client_closes: Vec<(usize, Option<u16>, String)>,
}

impl Server {
    pub fn open_conns(&self, scope: &str) -> Vec<usize> {
        (0..self.conns.len())
            .filter(|&c| self.conns[c].scope == scope && self.conns[c].state == ConnState::Open)
            .collect()
    }

    /// Up payloads of `inst` that came on `conn`, in order.
    pub fn ups_on(&self, inst: Inst, conn: usize) -> Vec<u32> {
        self.received
            .iter()
            .filter(|r| r.conn == conn)
            .filter_map(|r| match r.payload {
                Pl::Up { inst: i, seq } if i == inst => Some(seq),
                _ => None,
            })
            .collect()
    }

    /// Up payloads of `inst` in the order the server got them.
    pub fn ups_of(&self, inst: Inst) -> Vec<u32> {
        self.received
            .iter()
            .filter_map(|r| match r.payload {
                Pl::Up { inst: i, seq } if i == inst => Some(seq),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct LockQueue {
    holder: Option<(usize, u64)>,
    waiting: VecDeque<(usize, u64)>,
}

/// The instances a socket's end must finish.
#[derive(Debug, Clone)]
struct ServerEnd {
    /// With their session then.
    insts: Vec<(Inst, u32)>,
    clean: bool,
}

/// A leader death being watched until someone takes over.
#[derive(Debug, Clone)]
struct Takeover {
    scope: String,
    died_at: u64,
    /// No other fault happened since: the bound applies.
    clean: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub takeovers: u64,
    pub max_takeover_ms: u64,
    pub clean_takeovers: u64,
    pub max_clean_takeover_ms: u64,
    pub steals: u64,
    pub claims: u64,
    pub epoch_collisions: u64,
    pub stale_reorders: u64,
    pub partition_duplicates: u64,
    pub bus_messages: u64,
    pub events: u64,
}

/// Why a tab is producing outputs.
#[derive(Debug, Clone)]
enum Cause {
    User,
    Timeout,
    Bus {
        from: String,
        epoch: u64,
        body: &'static str,
    },
    Socket(SocketId),
    Lock,
}

fn body_name<P>(body: &Body<P>) -> &'static str {
    match body {
        Body::Hello => "Hello",
        Body::Heartbeat { .. } => "Heartbeat",
        Body::Presence { .. } => "Presence",
        Body::Claim => "Claim",
        Body::Out { .. } => "Out",
        Body::In(_) => "In",
        Body::Error => "Error",
        Body::Closed(_) => "Closed",
        Body::Left => "Left",
    }
}

pub fn url_of(scope: &str) -> String {
    format!("wss://sim.invalid/{scope}")
}

fn scope_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------- world

pub struct World {
    pub cfg: Config,
    pub now: u64,
    /// `now`, as the tabs' clocks read it.
    clock: Rc<Cell<u64>>,
    pub rng: Rng,
    pub tabs: Vec<SimTab>,
    pub insts: BTreeMap<Inst, Instance>,
    next_inst: Inst,
    pub server: Server,
    locks: HashMap<String, LockQueue>,
    /// When each granted request (tab, ticket) hears of its grant.
    granted_at: HashMap<(usize, u64), u64>,
    queue: BinaryHeap<Queued>,
    next_seq: u64,
    /// Per (sender, receiver, scope): the arrival time of the last message.
    bus_last: HashMap<(usize, usize, String), u64>,
    /// Tab pairs that cannot hear each other.
    cuts: HashSet<(usize, usize)>,
    /// Who led each (scope, epoch).
    epoch_leaders: HashMap<(String, u64), usize>,
    takeovers: Vec<Takeover>,
    pub stats: Stats,
    /// Faults that void the takeover bound: a frozen tab, a partition, drops.
    trace: VecDeque<String>,
    print_trace: bool,
    spin: (usize, u64, u32),
    settling_until: u64,
    steps: u64,
    server_ends: Vec<ServerEnd>,
    /// The highest epoch any tab led each scope with.
    max_epoch: HashMap<String, u64>,
    /// With `record`, every input the browser delivers to a tab, in order
    /// (for the seams' conformance suites).
    pub record: bool,
    pub recorded: Vec<(usize, Input)>,
}

impl World {
    pub fn new(cfg: Config) -> Self {
        let rng = Rng::new(cfg.seed);
        World {
            now: 1_000_000,
            clock: Rc::new(Cell::new(1_000_000)),
            rng,
            cfg,
            tabs: Vec::new(),
            insts: BTreeMap::new(),
            next_inst: 1,
            server: Server::default(),
            locks: HashMap::new(),
            granted_at: HashMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            bus_last: HashMap::new(),
            cuts: HashSet::new(),
            epoch_leaders: HashMap::new(),
            takeovers: Vec::new(),
            stats: Stats::default(),
            trace: VecDeque::new(),
            print_trace: std::env::var_os("SIM_TRACE").is_some(),
            spin: (usize::MAX, 0, 0),
            settling_until: 0,
            steps: 0,
            server_ends: Vec::new(),
            max_epoch: HashMap::new(),
            record: false,
            recorded: Vec::new(),
        }
    }

    // ------------------------------------------------------------ tracing

    fn note(&mut self, line: String) {
        if self.print_trace {
            eprintln!("{:>8} {line}", self.now);
        }
        if self.trace.len() == 400 {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>8} {line}", self.now));
    }

    /// Panics with the recent trace.
    #[track_caller]
    pub fn fail(&self, what: impl AsRef<str>) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(String::as_str).collect();
        panic!(
            "seed {} ({:?}) at t={}: {}\n--- last events ---\n{}",
            self.cfg.seed,
            self.cfg.backend,
            self.now,
            what.as_ref(),
            trace.join("\n")
        );
    }

    // ------------------------------------------------------------ setup

    pub fn add_tab(&mut self) -> usize {
        let index = self.tabs.len();
        // Random-looking ids, so that id order is not creation order.
        let id = format!("t{:04x}-{index}", self.rng.below(0x10000));
        let (driver, calls, timer) = seams::sim_driver(id.clone(), &self.clock);
        self.tabs.push(SimTab {
            id,
            driver,
            calls,
            alive: true,
            frozen: false,
            backlog: VecDeque::new(),
            bus: HashMap::new(),
            bus_generation: 0,
            sockets: HashMap::new(),
            leading: HashMap::new(),
            lock_request: HashMap::new(),
            lost_pending: HashSet::new(),
            zombie: HashSet::new(),
            timer,
        });
        index
    }

    /// Adds a tab with a chosen id (ids order the tie-breaks).
    pub fn add_tab_named(&mut self, id: &str) -> usize {
        let index = self.add_tab();
        let (driver, calls, timer) = seams::sim_driver(id.to_owned(), &self.clock);
        let t = &mut self.tabs[index];
        (t.id, t.driver, t.calls, t.timer) = (id.to_owned(), driver, calls, timer);
        index
    }

    pub fn request(&self, scope: &str) -> JoinRequest {
        JoinRequest {
            scope: scope.to_owned(),
            url: url_of(scope),
            protocols: vec!["sim".to_owned()],
            backend: self.cfg.backend,
            timing: self.cfg.timing,
            grace_ms: self.cfg.grace_ms,
            debug: true,
        }
    }

    // ------------------------------------------------------------ user actions

    pub fn join(&mut self, tab: usize, scope: &str) -> Inst {
        let request = self.request(scope);
        self.join_with(tab, request)
    }

    pub fn join_with(&mut self, tab: usize, request: JoinRequest) -> Inst {
        self.check_user_action(tab);
        let inst = self.next_inst;
        self.next_inst += 1;
        self.insts.insert(
            inst,
            Instance {
                tab,
                scope: request.scope.clone(),
                phase: Phase::Connecting,
                closing: None,
                leadership: None,
                session: 0,
                received: Vec::new(),
                other_received: Vec::new(),
                sent: 0,
                reconnects: 0,
                errors: 0,
                final_close: None,
                events: Vec::new(),
            },
        );
        self.note(format!(
            "[{}] user: join #{inst} to {}",
            self.tabs[tab].id, request.scope
        ));
        self.drive(tab, Cause::User, |d| d.handle_join(inst, request));
        if self.insts[&inst].leadership.is_none() {
            self.fail(format!("#{inst} joined without a Leadership event"));
        }
        inst
    }

    /// The instance's next `send()`; true when it was accepted (acked).
    pub fn send(&mut self, inst: Inst) -> bool {
        let (tab, seq, expect) = {
            let i = &self.insts[&inst];
            (i.tab, i.sent, i.phase == Phase::Open && i.closing.is_none())
        };
        self.check_user_action(tab);
        self.note(format!("[{}] user: #{inst} send {seq}", self.tabs[tab].id));
        let acked = self.drive(tab, Cause::User, |d| {
            d.handle_send(inst, Pl::Up { inst, seq })
        });
        let acks = acked.iter().filter(|&&i| i == inst).count();
        if acks != usize::from(expect) {
            self.fail(format!(
                "#{inst} send: {acks} acks, expected {}",
                usize::from(expect)
            ));
        }
        if expect {
            self.insts.get_mut(&inst).unwrap().sent += 1;
        }
        expect
    }

    pub fn close(&mut self, inst: Inst, code: Option<u16>, reason: &str) {
        let tab = self.insts[&inst].tab;
        self.check_user_action(tab);
        self.note(format!(
            "[{}] user: #{inst} close({code:?}, {reason:?})",
            self.tabs[tab].id
        ));
        if self.insts[&inst].phase != Phase::Closed {
            self.insts.get_mut(&inst).unwrap().closing = Some((code, reason.to_owned()));
        }
        let reason = reason.to_owned();
        self.drive(tab, Cause::User, |d| d.handle_close(inst, code, reason));
    }

    pub fn disconnect(&mut self, inst: Inst) {
        let tab = self.insts[&inst].tab;
        self.check_user_action(tab);
        self.note(format!("[{}] user: #{inst} disconnects", self.tabs[tab].id));
        self.insts.get_mut(&inst).unwrap().phase = Phase::Gone;
        self.drive(tab, Cause::User, |d| d.handle_disconnect(inst));
    }

    pub fn zombie(&mut self, inst: Inst) {
        let (tab, scope) = (self.insts[&inst].tab, self.insts[&inst].scope.clone());
        self.check_user_action(tab);
        self.note(format!("[{}] user: #{inst} zombie", self.tabs[tab].id));
        self.tabs[tab].zombie.insert(scope.clone());
        self.void_takeovers(&scope);
        self.drive(tab, Cause::User, |d| d.handle_zombie(inst));
    }

    fn check_user_action(&self, tab: usize) {
        if !self.tabs[tab].alive || self.tabs[tab].frozen {
            self.fail(format!(
                "user action on a dead or frozen tab {}",
                self.tabs[tab].id
            ));
        }
    }

    // ------------------------------------------------------------ faults

    /// The tab vanishes: lock released, sockets dropped, bus left.
    pub fn crash(&mut self, tab: usize) {
        if !self.tabs[tab].alive {
            return;
        }
        self.note(format!("[{}] CRASH", self.tabs[tab].id));
        self.void_all_takeovers();
        let led: Vec<String> = self.tabs[tab].leading.keys().cloned().collect();
        for scope in led {
            // Watched when others need a leader and none is left.
            let watched = self
                .live_instances(&scope)
                .iter()
                .any(|&i| self.insts[&i].tab != tab)
                && self.leaders(&scope).iter().all(|&t| t == tab);
            if watched {
                self.takeovers.push(Takeover {
                    scope,
                    died_at: self.now,
                    clean: !self.is_faulty(),
                });
            }
        }
        let t = &mut self.tabs[tab];
        t.alive = false;
        t.frozen = false;
        t.backlog.clear();
        t.bus.clear();
        t.leading.clear();
        t.calls.borrow_mut().clear();
        t.timer.set(None);
        let scopes: Vec<String> = t.lock_request.keys().cloned().collect();
        for scope in scopes {
            self.lock_release(tab, &scope);
        }
        for socket in self.tabs[tab].sockets.values() {
            self.server.conns[socket.conn].state = ConnState::Closed;
        }
        for inst in self.insts.values_mut() {
            if inst.tab == tab {
                inst.phase = Phase::Gone;
            }
        }
    }

    /// The tab's page goes away: it says so on the bus of every scope it is
    /// in, from the page (as ts/bridge.ts does in `pagehide`), while its
    /// worker lives on until `crash`.
    pub fn leave(&mut self, tab: usize) {
        self.note(format!("[{}] PAGE LEAVES", self.tabs[tab].id));
        let id = self.tabs[tab].id.clone();
        let scopes: Vec<String> = self.tabs[tab].bus.keys().cloned().collect();
        for scope in scopes {
            self.broadcast(tab, scope, BusMessage::new(id.clone(), 0, Body::Left));
        }
    }

    /// The tab stops processing: its inputs queue up, its timers wait.
    pub fn freeze(&mut self, tab: usize) {
        if self.tabs[tab].alive && !self.tabs[tab].frozen {
            self.note(format!("[{}] FREEZE", self.tabs[tab].id));
            self.void_all_takeovers();
            self.tabs[tab].frozen = true;
        }
    }

    pub fn freeze_for(&mut self, tab: usize, ms: u64) {
        self.freeze(tab);
        self.schedule(self.now + ms, Ev::Thaw(tab));
    }

    /// The tab runs again: what queued up is processed now, in order.
    pub fn thaw(&mut self, tab: usize) {
        if !self.tabs[tab].alive || !self.tabs[tab].frozen {
            return;
        }
        self.note(format!(
            "[{}] THAW ({} queued)",
            self.tabs[tab].id,
            self.tabs[tab].backlog.len()
        ));
        self.tabs[tab].frozen = false;
        self.unsettled();
        while let Some(input) = self.tabs[tab].backlog.pop_front() {
            self.apply(tab, input);
            if !self.tabs[tab].alive {
                return;
            }
        }
    }

    /// `a` and `b` no longer hear each other on the bus.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.note(format!("CUT {} / {}", self.tabs[a].id, self.tabs[b].id));
        self.void_all_takeovers();
        self.cuts.insert((a, b));
        self.cuts.insert((b, a));
    }

    /// `a` hears no one on the bus, and no one hears it.
    pub fn isolate(&mut self, a: usize) {
        for b in 0..self.tabs.len() {
            if a != b {
                self.cut(a, b);
            }
        }
    }

    pub fn recover(&mut self) {
        if !self.cuts.is_empty() {
            self.note("RECOVER".to_owned());
            self.unsettled();
        }
        self.cuts.clear();
    }

    /// A fault just ended: tabs need a heartbeat or so to sort things out,
    /// and claims made meanwhile (unheard by the other side) stand first.
    fn unsettled(&mut self) {
        let timing = &self.cfg.timing;
        let until = self.now
            + timing.claim_window_ms
            + timing.heartbeat_ms
            + 2 * self.cfg.net.bus_latency.1
            + 5;
        self.settling_until = self.settling_until.max(until);
    }

    fn is_faulty(&self) -> bool {
        self.now < self.settling_until
            || !self.cuts.is_empty()
            || self.cfg.net.drop > 0.0
            || self.tabs.iter().any(|t| t.frozen)
            || self.tabs.iter().any(|t| !t.zombie.is_empty() && t.alive)
    }

    fn void_all_takeovers(&mut self) {
        for takeover in &mut self.takeovers {
            takeover.clean = false;
        }
        for end in &mut self.server_ends {
            end.clean = false;
        }
    }

    fn void_takeovers(&mut self, scope: &str) {
        for takeover in self.takeovers.iter_mut().filter(|t| t.scope == scope) {
            takeover.clean = false;
        }
    }

    // ------------------------------------------------------------ server

    /// The server sends the next numbered message on every open connection
    /// of `scope`; returns its number.
    pub fn server_broadcast(&mut self, scope: &str) -> u32 {
        let seq = {
            let next = self.server.next_down.entry(scope.to_owned()).or_insert(0);
            *next += 1;
            *next - 1
        };
        self.note(format!("server: broadcast {seq} on {scope}"));
        for conn in self.server.open_conns(scope) {
            self.server_send(conn, Pl::Down { seq });
        }
        seq
    }

    /// The next number `server_broadcast` will use.
    pub fn next_down(&self, scope: &str) -> u32 {
        self.server.next_down.get(scope).copied().unwrap_or(0)
    }

    pub fn server_send(&mut self, conn: usize, payload: Pl) {
        let at = self.socket_arrival(conn, true);
        let (tab, socket) = (self.server.conns[conn].tab, self.server.conns[conn].socket);
        self.schedule(at, Ev::Tab(tab, Input::SocketMessage(socket, payload)));
    }

    /// The server closes every open connection of `scope` cleanly.
    pub fn server_close(&mut self, scope: &str, code: u16, reason: &str) {
        self.note(format!("server: closes {scope} with {code}"));
        for (at, tab, socket) in self.end_conns(scope) {
            let info = CloseInfo {
                code,
                reason: reason.to_owned(),
                was_clean: true,
            };
            self.schedule(at, Ev::Tab(tab, Input::SocketClosed(socket, info)));
        }
    }

    /// Every open connection of `scope` drops: error, then 1006.
    pub fn server_drop(&mut self, scope: &str) {
        self.note(format!("server: drops {scope}"));
        for (at, tab, socket) in self.end_conns(scope) {
            self.schedule(at, Ev::Tab(tab, Input::SocketError(socket)));
            self.schedule(
                at,
                Ev::Tab(tab, Input::SocketClosed(socket, CloseInfo::abnormal())),
            );
        }
    }

    /// Ends every open connection of `scope` on the server side; returns, for
    /// each, when its tab hears of it, the tab and the socket.
    fn end_conns(&mut self, scope: &str) -> Vec<(u64, usize, SocketId)> {
        self.void_takeovers(scope);
        self.watch_server_end(scope);
        let mut ended = Vec::new();
        for conn in self.server.open_conns(scope) {
            self.server.conns[conn].state = ConnState::Closed;
            let at = self.socket_arrival(conn, true);
            ended.push((
                at,
                self.server.conns[conn].tab,
                self.server.conns[conn].socket,
            ));
        }
        ended
    }

    /// The end of the socket is final for every instance open on it: none
    /// of them may open again (checked by `check_settled`, if no fault came
    /// in between to lose the news).
    fn watch_server_end(&mut self, scope: &str) {
        if self.server.open_conns(scope).len() != 1 {
            return;
        }
        let insts = self
            .live_instances(scope)
            .into_iter()
            .filter(|&i| self.insts[&i].phase == Phase::Open)
            .map(|i| (i, self.insts[&i].session))
            .collect();
        // With Web Locks the lock the leader lets go reaches the next in line
        // at once, the news over the bus later: if the bus is slower than a
        // socket's opening, instances there open again before the news ends
        // them (a race the core leaves open; a browser's bus is far faster).
        let net = &self.cfg.net;
        let racy = self.cfg.backend == Backend::Locks
            && net.bus_latency.1 + net.lock_latency.1 >= 2 * net.socket_latency.0;
        self.server_ends.push(ServerEnd {
            insts,
            clean: !self.is_faulty() && !racy,
        });
    }

    fn socket_arrival(&mut self, conn: usize, down: bool) -> u64 {
        let latency = self.rng.range(self.cfg.net.socket_latency);
        let c = &mut self.server.conns[conn];
        let last = if down {
            &mut c.down_last
        } else {
            &mut c.up_last
        };
        *last = (*last).max(self.now + latency);
        *last
    }

    fn server_event(&mut self, ev: ServerEv) {
        match ev {
            ServerEv::Accept(conn) => {
                if self.server.conns[conn].state != ConnState::Connecting {
                    return;
                }
                let (tab, socket) = (self.server.conns[conn].tab, self.server.conns[conn].socket);
                let at = self.now + self.rng.range(self.cfg.net.socket_latency);
                if self.server.refuse {
                    self.server.conns[conn].state = ConnState::Closed;
                    self.schedule(at, Ev::Tab(tab, Input::SocketError(socket)));
                    self.schedule(
                        at,
                        Ev::Tab(tab, Input::SocketClosed(socket, CloseInfo::abnormal())),
                    );
                    return;
                }
                let c = &mut self.server.conns[conn];
                c.state = ConnState::Open;
                c.opened_at = Some(self.now);
                c.down_last = at;
                self.schedule(at, Ev::Tab(tab, Input::SocketOpen(socket)));
            }
            ServerEv::Receive(conn, payload, stale, contested) => {
                if self.server.conns[conn].state != ConnState::Open {
                    return;
                }
                if let Pl::Up { inst, seq } = payload {
                    // Per instance, sends reach the server in order, once. A
                    // superseded leader (thawed before it knew) may still put
                    // older sends on its old connection: in order there, and
                    // never twice.
                    let ups = self.server.ups_of(inst);
                    let on_conn = self.server.ups_on(inst, conn);
                    let reordered = on_conn.last().is_some_and(|&last| last >= seq)
                        && !self.cfg.net.full_reorder;
                    if contested && ups.contains(&seq) {
                        // Both sides of a partition took the send: a newcomer
                        // bridged them, which a real bus cannot.
                        self.stats.partition_duplicates += 1;
                    } else if ups.contains(&seq) || reordered {
                        self.fail(format!("server got #{inst} send {seq} after {ups:?}"));
                    }
                    let ordered = !self.cfg.net.full_reorder;
                    if ordered
                        && !stale
                        && !contested
                        && ups.last().is_some_and(|&last| last >= seq)
                    {
                        self.fail(format!("server got #{inst} send {seq} after {ups:?}"));
                    }
                    if stale && ups.last().is_some_and(|&last| last >= seq) {
                        self.stats.stale_reorders += 1;
                    }
                }
                self.note(format!("server: got {payload:?} on conn {conn}"));
                self.server.received.push(Received {
                    conn,
                    payload: payload.clone(),
                });
                if self.server.echo {
                    self.server_send(conn, Pl::Other(format!("echo {payload:?}")));
                }
            }
            ServerEv::ClientClose(conn, code, reason) => {
                self.server.client_closes.push((conn, code, reason.clone()));
                if self.server.conns[conn].state != ConnState::Open {
                    return;
                }
                self.server.conns[conn].state = ConnState::Closed;
                // The server echoes the close frame.
                let at = self.socket_arrival(conn, true);
                let (tab, socket) = (self.server.conns[conn].tab, self.server.conns[conn].socket);
                let info = CloseInfo {
                    code: code.unwrap_or(1005),
                    reason,
                    was_clean: true,
                };
                self.schedule(at, Ev::Tab(tab, Input::SocketClosed(socket, info)));
            }
        }
    }

    // ------------------------------------------------------------ locks

    fn lock_request(&mut self, tab: usize, scope: &str, request: u64, steal: bool) {
        // A new request replaces the previous one.
        self.lock_release(tab, scope);
        self.tabs[tab]
            .lock_request
            .insert(scope.to_owned(), request);
        let queue = self.locks.entry(scope.to_owned()).or_default();
        if steal {
            self.stats.steals += 1;
            if let Some((holder, held)) = queue.holder.take() {
                // The loss of a grant is reported after the grant itself.
                let granted_at = self.granted_at.get(&(holder, held)).copied().unwrap_or(0);
                let at = granted_at.max(self.now + self.rng.range(self.cfg.net.lock_latency));
                self.tabs[holder].lost_pending.insert(scope.to_owned());
                self.schedule(
                    at,
                    Ev::Tab(
                        holder,
                        Input::LockLost {
                            scope: scope.to_owned(),
                            request: held,
                        },
                    ),
                );
            }
            self.grant(tab, scope, request);
        } else {
            queue.waiting.push_back((tab, request));
            self.grant_next(scope);
        }
    }

    fn lock_release(&mut self, tab: usize, scope: &str) {
        let Some(request) = self.tabs[tab].lock_request.remove(scope) else {
            return;
        };
        let queue = self.locks.entry(scope.to_owned()).or_default();
        if queue.holder == Some((tab, request)) {
            queue.holder = None;
            self.grant_next(scope);
        } else {
            queue.waiting.retain(|&w| w != (tab, request));
        }
    }

    fn grant_next(&mut self, scope: &str) {
        let queue = self.locks.entry(scope.to_owned()).or_default();
        if queue.holder.is_none() {
            if let Some((tab, request)) = queue.waiting.pop_front() {
                self.grant(tab, scope, request);
            }
        }
    }

    fn grant(&mut self, tab: usize, scope: &str, request: u64) {
        self.locks.get_mut(scope).unwrap().holder = Some((tab, request));
        let at = self.now + self.rng.range(self.cfg.net.lock_latency);
        self.granted_at.insert((tab, request), at);
        self.schedule(
            at,
            Ev::Tab(
                tab,
                Input::LockAcquired {
                    scope: scope.to_owned(),
                    request,
                },
            ),
        );
    }

    pub fn lock_holder(&self, scope: &str) -> Option<usize> {
        self.locks
            .get(scope)
            .and_then(|q| q.holder.map(|(tab, _)| tab))
    }

    pub fn lock_waiters(&self, scope: &str) -> Vec<usize> {
        self.locks
            .get(scope)
            .map(|q| q.waiting.iter().map(|(tab, _)| *tab).collect())
            .unwrap_or_default()
    }

    // ------------------------------------------------------------ running

    fn schedule(&mut self, at: u64, ev: Ev) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Queued { at, seq, ev });
    }

    /// Runs everything due up to `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: u64) {
        while let Some(at) = self.next_due() {
            if at > t {
                break;
            }
            self.step();
        }
        self.now = self.now.max(t);
    }

    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Runs until `done` holds (checked after every step), at most `ms`.
    /// Returns how long it took.
    pub fn run_until_cond(&mut self, ms: u64, mut done: impl FnMut(&World) -> bool) -> Option<u64> {
        let start = self.now;
        let end = self.now + ms;
        loop {
            if done(self) {
                return Some(self.now - start);
            }
            match self.next_due() {
                Some(at) if at <= end => self.step(),
                _ => {
                    self.now = end;
                    return done(self).then(|| self.now - start);
                }
            }
        }
    }

    fn next_timer(&self) -> Option<(u64, usize)> {
        self.tabs
            .iter()
            .enumerate()
            .filter(|(_, t)| t.alive && !t.frozen)
            .filter_map(|(i, t)| t.timer.get().map(|at| (at, i)))
            .min()
    }

    fn next_due(&self) -> Option<u64> {
        let event = self.queue.peek().map(|q| q.at);
        let timer = self.next_timer().map(|(at, _)| at);
        match (event, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn step(&mut self) {
        self.stats.events += 1;
        self.steps += 1;
        if self.steps > 3_000_000 {
            self.fail("event storm: over 3 million events in one world");
        }
        let event = self.queue.peek().map(|q| q.at);
        match (self.next_timer(), event) {
            (Some((at, tab)), event) if event.is_none_or(|e| at <= e) => {
                self.now = self.now.max(at);
                // A timer that keeps asking for the present is a livelock.
                if self.spin.0 == tab && self.spin.1 == self.now {
                    self.spin.2 += 1;
                    if self.spin.2 > 200 {
                        self.fail(format!("tab {} spins on its timer", self.tabs[tab].id));
                    }
                } else {
                    self.spin = (tab, self.now, 0);
                }
                self.drive(tab, Cause::Timeout, |d| d.handle_timeout());
            }
            _ => {
                let Some(q) = self.queue.pop() else { return };
                self.now = self.now.max(q.at);
                match q.ev {
                    Ev::Tab(tab, input) => self.input(tab, input),
                    Ev::Server(ev) => self.server_event(ev),
                    Ev::Thaw(tab) => self.thaw(tab),
                }
            }
        }
        self.check_takeovers();
    }

    fn input(&mut self, tab: usize, input: Input) {
        let t = &mut self.tabs[tab];
        if !t.alive {
            return;
        }
        if t.frozen {
            t.backlog.push_back(input);
            return;
        }
        self.apply(tab, input);
    }

    fn apply(&mut self, tab: usize, input: Input) {
        let id = self.tabs[tab].id.clone();
        match input {
            Input::Bus {
                scope,
                channel,
                message,
            } => {
                if self.tabs[tab].bus.get(&scope) != Some(&channel) {
                    return; // that channel was closed since
                }
                self.seen(tab, || Input::Bus {
                    scope: scope.clone(),
                    channel,
                    message: message.clone(),
                });
                let cause = match &message {
                    Wire::Message(message) => {
                        self.note(format!(
                            "[{id}] bus <- {} e{} {:?}",
                            message.from,
                            message.epoch,
                            short(&message.body)
                        ));
                        Cause::Bus {
                            from: message.from.clone(),
                            epoch: message.epoch,
                            body: body_name(&message.body),
                        }
                    }
                    Wire::Junk(what) => {
                        self.note(format!("[{id}] bus <- junk {what}"));
                        Cause::Bus {
                            from: String::new(),
                            epoch: 0,
                            body: "junk",
                        }
                    }
                };
                self.drive(tab, cause, |d| d.handle_bus(&scope, message));
            }
            Input::SocketOpen(socket) => {
                let Some(s) = self.tabs[tab].sockets.get_mut(&socket) else {
                    return;
                };
                if s.state != SockState::Connecting {
                    return;
                }
                s.state = SockState::Open;
                self.seen(tab, || Input::SocketOpen(socket));
                self.note(format!("[{id}] socket {} open", socket.0));
                let open = SocketEvent::Open {
                    protocol: "sim".to_owned(),
                    extensions: String::new(),
                };
                self.drive(tab, Cause::Socket(socket), |d| {
                    d.handle_socket(socket, open)
                });
            }
            Input::SocketMessage(socket, payload) => {
                match self.tabs[tab].sockets.get(&socket) {
                    Some(s) if s.state == SockState::Open => {}
                    _ => return, // not OPEN: the browser drops it
                }
                self.seen(tab, || Input::SocketMessage(socket, payload.clone()));
                self.note(format!("[{id}] socket {} message {payload:?}", socket.0));
                let message = SocketEvent::Message(payload);
                self.drive(tab, Cause::Socket(socket), |d| {
                    d.handle_socket(socket, message)
                });
            }
            Input::SocketError(socket) => {
                match self.tabs[tab].sockets.get(&socket) {
                    Some(s) if s.state != SockState::Closed => {}
                    _ => return,
                }
                self.seen(tab, || Input::SocketError(socket));
                self.note(format!("[{id}] socket {} error", socket.0));
                self.drive(tab, Cause::Socket(socket), |d| {
                    d.handle_socket(socket, SocketEvent::Error)
                });
            }
            Input::SocketClosed(socket, info) => {
                let Some(s) = self.tabs[tab].sockets.get_mut(&socket) else {
                    return;
                };
                if s.state == SockState::Closed {
                    return;
                }
                s.state = SockState::Closed;
                let scope = s.scope.clone();
                if self.tabs[tab]
                    .leading
                    .get(&scope)
                    .is_some_and(|l| l.socket == socket)
                {
                    self.tabs[tab].leading.remove(&scope);
                }
                self.seen(tab, || Input::SocketClosed(socket, info.clone()));
                self.note(format!("[{id}] socket {} closed {}", socket.0, info.code));
                let closed = SocketEvent::Closed(info);
                self.drive(tab, Cause::Socket(socket), |d| {
                    d.handle_socket(socket, closed)
                });
            }
            Input::LockAcquired { scope, request } => {
                self.seen(tab, || Input::LockAcquired {
                    scope: scope.clone(),
                    request,
                });
                self.note(format!("[{id}] lock acquired {scope} (ticket {request})"));
                self.drive(tab, Cause::Lock, |d| {
                    d.handle_lock(&scope, request, LockEvent::Acquired)
                });
            }
            Input::LockLost { scope, request } => {
                self.tabs[tab].lost_pending.remove(&scope);
                self.seen(tab, || Input::LockLost {
                    scope: scope.clone(),
                    request,
                });
                self.note(format!("[{id}] lock lost {scope} (ticket {request})"));
                self.drive(tab, Cause::Lock, |d| {
                    d.handle_lock(&scope, request, LockEvent::Lost)
                });
            }
        }
    }

    fn seen(&mut self, tab: usize, input: impl FnOnce() -> Input) {
        if self.record {
            self.recorded.push((tab, input()));
        }
    }

    // ------------------------------------------------------------ calls

    /// Carries out a call on a tab's seams made outside its driver (the
    /// conformance suites call the seams directly).
    pub fn call(&mut self, tab: usize, call: Call) {
        self.clock.set(self.now);
        self.exec(tab, call, &Cause::User);
    }

    /// Runs one input through the tab's driver, then carries out and checks
    /// every call it made on the seams; returns the acks.
    fn drive(&mut self, tab: usize, cause: Cause, input: impl FnOnce(&mut SimDriver)) -> Vec<Inst> {
        self.clock.set(self.now);
        input(&mut self.tabs[tab].driver);
        let mut acks = Vec::new();
        loop {
            let call = self.tabs[tab].calls.borrow_mut().pop_front();
            let Some(call) = call else { break };
            if let Call::Ack { to } = call {
                acks.push(to);
            }
            self.exec(tab, call, &cause);
        }
        let live = self
            .insts
            .values()
            .filter(|i| i.tab == tab && matches!(i.phase, Phase::Connecting | Phase::Open))
            .count();
        if self.tabs[tab].core().instance_count() != live {
            let count = self.tabs[tab].core().instance_count();
            self.fail(format!(
                "{} counts {count} instances, {live} are live",
                self.tabs[tab].id
            ));
        }
        acks
    }

    fn exec(&mut self, tab: usize, call: Call, cause: &Cause) {
        let id = self.tabs[tab].id.clone();
        match call {
            Call::Log { scope, line } => self.note(format!("[{id}] {scope}: {line}")),
            Call::OpenSocket { socket, url } => {
                let scope = scope_of(&url);
                self.note(format!("[{id}] OPEN socket {} for {scope}", socket.0));
                if self.tabs[tab].sockets.contains_key(&socket) {
                    self.fail(format!("{id} reused socket id {}", socket.0));
                }
                if let Some(lead) = self.tabs[tab].leading.get(&scope).filter(|l| !l.closing) {
                    let lead = lead.clone();
                    self.fail(format!(
                        "{id} opens a second socket while leading with {lead:?}"
                    ));
                }
                let conn = self.server.conns.len();
                self.server.conns.push(Conn {
                    tab,
                    socket,
                    scope: scope.clone(),
                    state: ConnState::Connecting,
                    opened_at: None,
                    down_last: 0,
                    up_last: 0,
                });
                self.tabs[tab].sockets.insert(
                    socket,
                    ClientSocket {
                        scope: scope.clone(),
                        conn,
                        state: SockState::Connecting,
                    },
                );
                self.tabs[tab].leading.insert(
                    scope,
                    Lead {
                        socket,
                        epoch: None,
                        beat_at: self.now,
                        closing: false,
                    },
                );
                let at = self.now + self.rng.range(self.cfg.net.socket_latency);
                self.schedule(at, Ev::Server(ServerEv::Accept(conn)));
            }
            Call::OpenRefused { socket, url } => {
                // The tab leads but has no socket: the driver reports the
                // failed connection, which ends the scope for all.
                let scope = scope_of(&url);
                self.note(format!(
                    "[{id}] OPEN socket {} for {scope}: refused",
                    socket.0
                ));
                self.tabs[tab].sockets.insert(
                    socket,
                    ClientSocket {
                        scope: scope.clone(),
                        conn: usize::MAX,
                        state: SockState::Closed,
                    },
                );
                self.tabs[tab].leading.insert(
                    scope,
                    Lead {
                        socket,
                        epoch: None,
                        beat_at: self.now,
                        closing: true,
                    },
                );
            }
            Call::Transmit { socket, payload } => {
                let Some(s) = self.tabs[tab].sockets.get(&socket) else {
                    self.fail(format!("{id} transmits on unknown socket {}", socket.0));
                };
                if s.state == SockState::Closing {
                    // The browser discards it; the close that follows tells.
                    self.note(format!(
                        "[{id}] TRANSMIT {payload:?} on closing {} (discarded)",
                        socket.0
                    ));
                    return;
                }
                if s.state != SockState::Open {
                    self.fail(format!(
                        "{id} transmits on socket {} in state {:?}",
                        socket.0, s.state
                    ));
                }
                let (scope, conn) = (s.scope.clone(), s.conn);
                let lead = self.tabs[tab].leading.get(&scope).cloned();
                if lead.as_ref().map(|l| l.socket) != Some(socket) {
                    self.fail(format!(
                        "{id} transmits on socket {} it does not lead with",
                        socket.0
                    ));
                }
                match (cause, &payload) {
                    (
                        Cause::Bus {
                            epoch, body: "Out", ..
                        },
                        _,
                    ) => {
                        if lead.as_ref().and_then(|l| l.epoch) != Some(*epoch) {
                            self.fail(format!("{id} transmits an Out addressed to epoch {epoch}"));
                        }
                    }
                    (Cause::User, Pl::Up { inst, .. }) => {
                        if self.insts[inst].tab != tab {
                            self.fail(format!("{id} transmits a send of another tab's #{inst}"));
                        }
                    }
                    (Cause::User, _) => {}
                    _ => self.fail(format!("{id} transmits on {cause:?}")),
                }
                self.note(format!("[{id}] TRANSMIT {payload:?} on {}", socket.0));
                self.check_awake(tab, &scope, "transmits");
                let epoch = lead.and_then(|l| l.epoch);
                let stale = epoch < self.max_epoch.get(&scope).copied();
                let contested = (0..self.tabs.len()).any(|t| {
                    t != tab
                        && self.tabs[t].alive
                        && self.tabs[t]
                            .leading
                            .get(&scope)
                            .is_some_and(|l| !l.closing && l.epoch == epoch)
                });
                if contested && !self.is_faulty() {
                    self.fail(format!(
                        "{id} transmits while another tab leads with its epoch {epoch:?}"
                    ));
                }
                let at = self.socket_arrival(conn, false);
                self.schedule(
                    at,
                    Ev::Server(ServerEv::Receive(conn, payload, stale, contested)),
                );
            }
            Call::CloseSocket {
                socket,
                code,
                reason,
            } => {
                self.note(format!("[{id}] CLOSE socket {} ({code:?})", socket.0));
                let Some(s) = self.tabs[tab].sockets.get_mut(&socket) else {
                    self.fail(format!("{id} closes unknown socket {}", socket.0));
                };
                let (scope, conn, state) = (s.scope.clone(), s.conn, s.state);
                if let Some(lead) = self.tabs[tab]
                    .leading
                    .get_mut(&scope)
                    .filter(|l| l.socket == socket)
                {
                    lead.closing = true;
                }
                let at = self.now + self.rng.range(self.cfg.net.socket_latency);
                match state {
                    SockState::Connecting => {
                        // close() while connecting fails the connection.
                        self.tabs[tab].sockets.get_mut(&socket).unwrap().state = SockState::Closing;
                        self.server.conns[conn].state = ConnState::Closed;
                        self.schedule(at, Ev::Tab(tab, Input::SocketError(socket)));
                        self.schedule(
                            at,
                            Ev::Tab(tab, Input::SocketClosed(socket, CloseInfo::abnormal())),
                        );
                    }
                    SockState::Open => {
                        self.tabs[tab].sockets.get_mut(&socket).unwrap().state = SockState::Closing;
                        if self.server.conns[conn].state == ConnState::Open {
                            let at = self.socket_arrival(conn, false);
                            self.schedule(
                                at,
                                Ev::Server(ServerEv::ClientClose(conn, code, reason)),
                            );
                        }
                    }
                    SockState::Closing | SockState::Closed => {}
                }
            }
            Call::Ack { to } => {
                if self.insts.get(&to).is_none_or(|i| i.tab != tab) {
                    self.fail(format!("{id} acks #{to}, not one of its instances"));
                }
            }
            Call::Deliver { to, event } => self.deliver(tab, to, event, cause),
            Call::OpenBus { scope } => {
                self.note(format!("[{id}] OPEN bus {scope}"));
                if self.tabs[tab].bus.contains_key(&scope) {
                    self.fail(format!("{id} opens the bus of {scope} twice"));
                }
                let t = &mut self.tabs[tab];
                t.bus_generation += 1;
                let generation = t.bus_generation;
                t.bus.insert(scope, generation);
            }
            Call::CloseBus { scope } => {
                self.note(format!("[{id}] CLOSE bus {scope}"));
                if self.tabs[tab].bus.remove(&scope).is_none() {
                    self.fail(format!("{id} closes the bus of {scope}, which is not open"));
                }
                // The scope ended in this tab: a later join starts afresh.
                self.tabs[tab].zombie.remove(&scope);
                // The population changed: a takeover may take longer (say, a
                // better claimant left during its claim window).
                self.void_takeovers(&scope);
                // Only the leader's socket survives a scope's end if it is closing.
                if let Some(lead) = self.tabs[tab]
                    .leading
                    .get(&scope)
                    .filter(|l| !l.closing)
                    .cloned()
                {
                    self.fail(format!("{id} left {scope} while leading with {lead:?}"));
                }
            }
            Call::Broadcast { scope, message } => self.broadcast(tab, scope, message),
            Call::RequestLock {
                scope,
                ticket,
                steal,
            } => {
                self.note(format!("[{id}] REQUEST lock {scope} steal={steal}"));
                if self.cfg.backend != Backend::Locks {
                    self.fail(format!(
                        "{id} requests a lock with the {:?} backend",
                        self.cfg.backend
                    ));
                }
                if !self.tabs[tab].bus.contains_key(&scope) {
                    self.fail(format!(
                        "{id} requests the lock of {scope}, which it is not in"
                    ));
                }
                self.lock_request(tab, &scope, ticket, steal);
            }
            Call::ReleaseLock { scope } => {
                self.note(format!("[{id}] RELEASE lock {scope}"));
                self.lock_release(tab, &scope);
            }
        }
    }

    fn deliver(&mut self, tab: usize, to: Inst, event: Event<Pl>, cause: &Cause) {
        let id = self.tabs[tab].id.clone();
        let Some(inst) = self.insts.get(&to) else {
            self.fail(format!("{id} delivers to unknown #{to}"));
        };
        if inst.tab != tab {
            self.fail(format!("{id} delivers to #{to} of another tab"));
        }
        let phase = inst.phase;
        let scope = inst.scope.clone();
        let leadership = inst.leadership.clone();
        self.note(format!("[{id}] #{to} <- {event:?}"));
        if matches!(phase, Phase::Closed | Phase::Gone) {
            self.fail(format!("#{to} gets {event:?} in phase {phase:?}"));
        }
        let mut next = phase;
        match &event {
            Event::Leadership(_) => {}
            Event::Open { .. } => {
                if phase != Phase::Connecting {
                    self.fail(format!("#{to} opens in phase {phase:?}"));
                }
                next = Phase::Open;
            }
            Event::Message(_) => {
                if phase != Phase::Open {
                    self.fail(format!("#{to} gets a message in phase {phase:?}"));
                }
                // The message comes from the leadership the instance knows.
                let (leader, epoch) = leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch))
                    .unwrap_or((None, 0));
                match cause {
                    Cause::Bus {
                        from,
                        epoch: e,
                        body,
                    } => {
                        if *body != "In" || leader.as_ref() != Some(from) || epoch != *e {
                            self.fail(format!(
                                "#{to} delivers {body} of {from} e{e} while following {leader:?} e{epoch}"
                            ));
                        }
                    }
                    Cause::Socket(socket) => {
                        let lead = self.tabs[tab].leading.get(&scope).cloned();
                        let ok = lead.as_ref().is_some_and(|l| l.socket == *socket)
                            && leader.as_deref() == Some(id.as_str())
                            && lead.and_then(|l| l.epoch).is_none_or(|e| e == epoch);
                        if !ok {
                            self.fail(format!(
                                "#{to} delivers a message of socket {} it does not lead",
                                socket.0
                            ));
                        }
                    }
                    _ => self.fail(format!("#{to} gets a message on {cause:?}")),
                }
            }
            Event::Error => {}
            Event::Closed {
                reconnecting: true, ..
            } => {
                if phase != Phase::Open {
                    self.fail(format!("#{to} reconnects in phase {phase:?}"));
                }
                next = Phase::Connecting;
            }
            Event::Closed {
                reconnecting: false,
                ..
            } => next = Phase::Closed,
        }
        let now = self.now;
        let inst = self.insts.get_mut(&to).unwrap();
        inst.phase = next;
        match &event {
            Event::Leadership(l) => inst.leadership = Some(l.clone()),
            Event::Open { .. } => inst.session += 1,
            Event::Message(Pl::Down { seq }) => {
                let session = inst.session;
                // Once per session, and in order unless the bus reorders.
                let mut seen = inst
                    .received
                    .iter()
                    .rev()
                    .take_while(|(s, _)| *s == session);
                let bad = if self.cfg.net.full_reorder {
                    seen.any(|(_, last)| last == seq)
                } else {
                    seen.next().is_some_and(|(_, last)| last >= seq)
                };
                if bad {
                    self.fail(format!(
                        "#{to} got server message {seq} again or out of order in one session"
                    ));
                }
                self.insts
                    .get_mut(&to)
                    .unwrap()
                    .received
                    .push((session, *seq));
            }
            Event::Message(other) => inst.other_received.push(other.clone()),
            Event::Error => inst.errors += 1,
            Event::Closed {
                reconnecting: true, ..
            } => inst.reconnects += 1,
            Event::Closed { info, .. } => inst.final_close = Some(info.clone()),
        }
        self.insts.get_mut(&to).unwrap().events.push((now, event));
    }

    fn broadcast(&mut self, tab: usize, scope: String, message: BusMessage<Pl>) {
        let id = self.tabs[tab].id.clone();
        self.stats.bus_messages += 1;
        self.note(format!(
            "[{id}] bus -> e{} {:?}",
            message.epoch,
            short(&message.body)
        ));
        let Some(_) = self.tabs[tab].bus.get(&scope) else {
            self.fail(format!("{id} posts on the closed bus of {scope}"));
        };
        if message.from != id {
            self.fail(format!("{id} posts as {}", message.from));
        }
        let epoch = message.epoch;
        match &message.body {
            Body::Heartbeat { .. } => {
                // One leader per epoch. Epochs are milliseconds: a grant
                // stolen before it was heard of, or two claims on both sides
                // of a partition, may share one; but two tabs that hear each
                // other never lead with the same epoch at the same time.
                let key = (scope.clone(), epoch);
                if let Some(&other) = self.epoch_leaders.get(&key).filter(|&&other| other != tab) {
                    self.stats.epoch_collisions += 1;
                    let lead = self.tabs[other].leading.get(&scope);
                    let both = self.tabs[other].alive
                        && lead.is_some_and(|l| !l.closing && l.epoch == Some(epoch));
                    if both && !self.is_faulty() {
                        let other = self.tabs[other].id.clone();
                        self.fail(format!(
                            "{id} and {other} both lead {scope} with epoch {epoch}"
                        ));
                    }
                }
                self.epoch_leaders.insert(key, tab);
                let max = self.max_epoch.entry(scope.clone()).or_insert(0);
                *max = (*max).max(epoch);
                let Some(lead) = self.tabs[tab].leading.get_mut(&scope) else {
                    self.fail(format!("{id} heartbeats {scope} without a socket"));
                };
                lead.beat_at = self.now;
                match lead.epoch {
                    None => lead.epoch = Some(epoch),
                    Some(e) if e != epoch => {
                        self.fail(format!("{id} heartbeats epoch {epoch}, leads {e}"))
                    }
                    Some(_) => {}
                }
                if self.cfg.backend == Backend::Locks {
                    // A leader holds the lock, or has yet to hear it lost it.
                    let holds = self.locks.get(&scope).and_then(|q| q.holder)
                        == self.tabs[tab].lock_request.get(&scope).map(|&r| (tab, r));
                    if !holds && !self.tabs[tab].lost_pending.contains(&scope) {
                        self.fail(format!("{id} heartbeats {scope} without the lock"));
                    }
                }
            }
            Body::In(_) | Body::Error | Body::Closed(_) => {
                self.check_awake(tab, &scope, "relays");
                let lead_epoch = self.tabs[tab].leading.get(&scope).and_then(|l| l.epoch);
                let closed = matches!(message.body, Body::Closed(_));
                if lead_epoch != Some(epoch) && !closed {
                    self.fail(format!(
                        "{id} relays for epoch {epoch}, leads {lead_epoch:?}"
                    ));
                }
            }
            Body::Out {
                payload: Pl::Up { inst, .. },
                ..
            } => {
                let i = &self.insts[inst];
                let following = i
                    .leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch));
                if i.tab != tab
                    || following.as_ref().map(|f| f.1) != Some(epoch)
                    || following.unwrap().0 == Some(id.clone())
                {
                    self.fail(format!("{id} posts #{inst}'s send to epoch {epoch}"));
                }
            }
            Body::Claim => {
                self.stats.claims += 1;
                if self.cfg.backend != Backend::Lease {
                    self.fail(format!(
                        "{id} claims with the {:?} backend",
                        self.cfg.backend
                    ));
                }
            }
            _ => {}
        }
        for to in 0..self.tabs.len() {
            if to == tab || !self.tabs[to].alive {
                continue;
            }
            let Some(&channel) = self.tabs[to].bus.get(&scope) else {
                continue;
            };
            if self.cuts.contains(&(tab, to)) {
                continue;
            }
            if self.cfg.net.drop > 0.0 && self.rng.chance(self.cfg.net.drop) {
                continue;
            }
            let mut at = self.now + self.rng.range(self.cfg.net.bus_latency);
            if !self.cfg.net.full_reorder {
                let last = self.bus_last.entry((tab, to, scope.clone())).or_insert(0);
                at = at.max(*last);
                *last = at;
            }
            let input = Input::Bus {
                scope: scope.clone(),
                channel,
                message: Wire::Message(message.clone()),
            };
            self.schedule(at, Ev::Tab(to, input));
        }
    }

    /// A leader silent for a whole timeout has been presumed dead: it must
    /// not act before it heartbeats again (or steps down).
    fn check_awake(&self, tab: usize, scope: &str, what: &str) {
        let Some(lead) = self.tabs[tab].leading.get(scope) else {
            return;
        };
        let silent = self.now - lead.beat_at;
        if silent >= self.cfg.timing.leader_timeout_ms && !self.tabs[tab].zombie.contains(scope) {
            self.fail(format!(
                "{} {what} after {silent} ms of silence",
                self.tabs[tab].id
            ));
        }
    }

    /// Feeds a tab any bus message (junk, other versions, forgeries).
    pub fn inject_bus(&mut self, tab: usize, scope: &str, message: BusMessage<Pl>) {
        self.inject_wire(tab, scope, Wire::Message(message));
    }

    /// Feeds a tab any input at once, as if the browser reported it now.
    pub fn inject(&mut self, tab: usize, input: Input) {
        self.apply(tab, input);
    }

    /// The ticket of a tab's current lock request of `scope`.
    pub fn lock_ticket(&self, tab: usize, scope: &str) -> Option<u64> {
        self.tabs[tab].lock_request.get(scope).copied()
    }

    /// Feeds a tab anything at all on the bus.
    pub fn inject_wire(&mut self, tab: usize, scope: &str, message: Wire) {
        let Some(&channel) = self.tabs[tab].bus.get(scope) else {
            return;
        };
        self.apply(
            tab,
            Input::Bus {
                scope: scope.to_owned(),
                channel,
                message,
            },
        );
    }

    // ------------------------------------------------------------ takeovers

    fn took_over(&mut self, scope: &str) {
        let now = self.now;
        let bound = self.cfg.takeover_bound();
        let mut done = Vec::new();
        for (index, takeover) in self.takeovers.iter().enumerate() {
            if takeover.scope == scope {
                done.push(index);
                let took = now - takeover.died_at;
                self.stats.takeovers += 1;
                self.stats.max_takeover_ms = self.stats.max_takeover_ms.max(took);
                if takeover.clean {
                    self.stats.clean_takeovers += 1;
                    self.stats.max_clean_takeover_ms = self.stats.max_clean_takeover_ms.max(took);
                    if took > bound {
                        self.fail(format!("takeover of {scope} took {took} ms, bound {bound}"));
                    }
                }
            }
        }
        for index in done.into_iter().rev() {
            self.takeovers.remove(index);
        }
    }

    fn check_takeovers(&mut self) {
        let done: Vec<String> = self
            .takeovers
            .iter()
            .map(|t| t.scope.clone())
            .filter(|scope| !self.leaders(scope).is_empty())
            .collect();
        for scope in done {
            self.took_over(&scope);
        }
        let bound = self.cfg.takeover_bound();
        let overdue: Vec<String> = self
            .takeovers
            .iter()
            .filter(|t| t.clean && self.now > t.died_at + bound)
            .map(|t| t.scope.clone())
            .collect();
        for scope in overdue {
            if self.is_faulty() {
                self.void_takeovers(&scope);
            } else if self
                .live_instances(&scope)
                .iter()
                .any(|&i| self.insts[&i].closing.is_none())
            {
                self.fail(format!("no takeover of {scope} within {bound} ms"));
            } else {
                self.takeovers.retain(|t| t.scope != scope);
            }
        }
    }

    // ------------------------------------------------------------ queries

    pub fn id(&self, tab: usize) -> &str {
        &self.tabs[tab].id
    }

    /// Instances whose tab is alive and that have not finished.
    pub fn live_instances(&self, scope: &str) -> Vec<Inst> {
        self.insts
            .iter()
            .filter(|(_, i)| i.scope == scope && matches!(i.phase, Phase::Connecting | Phase::Open))
            .filter(|(_, i)| self.tabs[i.tab].alive)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Live tabs leading `scope` with an open socket.
    pub fn leaders(&self, scope: &str) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&t| self.tabs[t].alive)
            .filter(|&t| {
                self.tabs[t].leading.get(scope).is_some_and(|l| {
                    !l.closing
                        && self.tabs[t].sockets.get(&l.socket).map(|s| s.state)
                            == Some(SockState::Open)
                })
            })
            .collect()
    }

    /// Live tabs leading `scope`, socket open or not.
    pub fn leading_tabs(&self, scope: &str) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&t| {
                self.tabs[t].alive && self.tabs[t].leading.get(scope).is_some_and(|l| !l.closing)
            })
            .collect()
    }

    pub fn leader(&self, scope: &str) -> Option<usize> {
        match self.leaders(scope).as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    pub fn in_scope(&self, tab: usize, scope: &str) -> bool {
        self.tabs[tab].bus.contains_key(scope)
    }

    pub fn events(&self, inst: Inst) -> &[(u64, Event<Pl>)] {
        &self.insts[&inst].events
    }

    /// The instance's events without leadership reports, for comparisons.
    pub fn lifecycle(&self, inst: Inst) -> Vec<Event<Pl>> {
        self.insts[&inst]
            .events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Leadership(_)))
            .map(|(_, e)| e.clone())
            .collect()
    }

    pub fn inst(&self, inst: Inst) -> &Instance {
        &self.insts[&inst]
    }

    // ------------------------------------------------------------ convergence

    /// With faults gone and the election settled: one leader per scope with
    /// instances, every instance open through it, nothing left behind where
    /// no instance is. Returns the leader per scope.
    pub fn check_settled(&self, scopes: &[&str]) -> BTreeMap<String, usize> {
        for end in self.server_ends.iter().filter(|end| end.clean) {
            for &(i, session) in &end.insts {
                let inst = &self.insts[&i];
                let finished =
                    matches!(inst.phase, Phase::Closed | Phase::Gone) || inst.closing.is_some();
                if !finished && self.tabs[inst.tab].alive || inst.session != session {
                    self.fail(format!(
                        "#{i} went on after the socket's end: {:?}",
                        inst.phase
                    ));
                }
            }
        }
        let mut leaders = BTreeMap::new();
        for &scope in scopes {
            let live = self.live_instances(scope);
            let waiting: Vec<Inst> = live
                .iter()
                .copied()
                .filter(|&i| self.insts[&i].closing.is_some())
                .collect();
            if !waiting.is_empty() {
                self.fail(format!(
                    "{scope}: closed instances without their final close: {waiting:?}"
                ));
            }
            let active: Vec<Inst> = live
                .into_iter()
                .filter(|&i| !self.tabs[self.insts[&i].tab].zombie.contains(scope))
                .collect();
            let leading = self.leading_tabs(scope);
            if active.is_empty() {
                let lingering: Vec<usize> = (0..self.tabs.len())
                    .filter(|&t| self.tabs[t].alive && self.in_scope(t, scope))
                    .collect();
                if !lingering.is_empty()
                    || !leading.is_empty()
                    || !self.server.open_conns(scope).is_empty()
                {
                    self.fail(format!(
                        "{scope}: no instance left, yet tabs {lingering:?} stay, {leading:?} lead, conns {:?} are open",
                        self.server.open_conns(scope)
                    ));
                }
                continue;
            }
            // A zombie cannot tell a lesser leader (the other side of a
            // healed partition) to step down: it may linger, silent.
            let open: Vec<usize> = self
                .leaders(scope)
                .into_iter()
                .filter(|&t| !self.tabs[t].zombie.contains(scope))
                .collect();
            let [leader] = open.as_slice() else {
                self.fail(format!(
                    "{scope}: leaders {open:?} (leading {leading:?}) for instances {active:?}"
                ));
            };
            let leader_id = self.tabs[*leader].id.clone();
            let epoch = self.tabs[*leader].leading[scope].epoch;
            for &i in &active {
                let inst = &self.insts[&i];
                let follows = inst
                    .leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch));
                if inst.phase != Phase::Open
                    || follows != Some((Some(leader_id.clone()), epoch.unwrap_or(0)))
                {
                    self.fail(format!(
                        "{scope}: #{i} is {:?} following {follows:?}, leader {leader_id} e{epoch:?}",
                        inst.phase
                    ));
                }
            }
            if self.cfg.backend == Backend::Locks {
                if self.lock_holder(scope) != Some(*leader) {
                    self.fail(format!(
                        "{scope}: leader {leader_id} does not hold the lock"
                    ));
                }
                // Every other tab of the scope waits, once.
                let mut waiters = self.lock_waiters(scope);
                waiters.sort_unstable();
                let others: Vec<usize> = (0..self.tabs.len())
                    .filter(|&t| t != *leader && self.tabs[t].alive && self.in_scope(t, scope))
                    .collect();
                if waiters != others {
                    self.fail(format!(
                        "{scope}: lock waiters {waiters:?}, tabs in scope {others:?}"
                    ));
                }
            }
            // Everyone agrees on how many tabs have instances.
            let tabs: BTreeSet<usize> = active.iter().map(|&i| self.insts[&i].tab).collect();
            for &i in &active {
                let reported = self.insts[&i].leadership.as_ref().map_or(0, |l| l.tabs);
                if reported as usize != tabs.len() {
                    self.fail(format!(
                        "{scope}: #{i} is told of {reported} tabs, {} have instances",
                        tabs.len()
                    ));
                }
            }
            leaders.insert(scope.to_owned(), *leader);
        }
        leaders
    }

    /// On a settled world: the server broadcasts `count` messages and every
    /// active instance sends `count`; all arrive exactly once, in order.
    pub fn check_traffic(&mut self, scopes: &[&str], count: u32) {
        let mut expect_down = Vec::new();
        let mut expect_up = Vec::new();
        for &scope in scopes {
            let active: Vec<Inst> = self
                .live_instances(scope)
                .into_iter()
                .filter(|&i| !self.tabs[self.insts[&i].tab].zombie.contains(scope))
                .collect();
            let first = self.next_down(scope);
            for &i in &active {
                let inst = &self.insts[&i];
                expect_down.push((i, inst.session, first));
                expect_up.push((i, inst.sent));
            }
        }
        let spacing = 1 + self.cfg.net.bus_latency.1;
        for _ in 0..count {
            for &scope in scopes {
                self.server_broadcast(scope);
            }
            for &(i, _) in &expect_up {
                if !self.send(i) {
                    self.fail(format!("#{i} is open yet its send was refused"));
                }
            }
            self.run_for(spacing);
        }
        let net = &self.cfg.net;
        self.run_for(10 * (net.bus_latency.1 + net.socket_latency.1) + 10);
        for (i, session, first) in expect_down {
            let inst = &self.insts[&i];
            let mut got: Vec<u32> = inst
                .received
                .iter()
                .filter(|(s, seq)| *s == session && *seq >= first)
                .map(|(_, seq)| *seq)
                .collect();
            if self.cfg.net.full_reorder {
                got.sort_unstable();
            }
            let want: Vec<u32> = (first..first + count).collect();
            if got != want || inst.session != session {
                self.fail(format!(
                    "#{i} (tab {}) got server messages {got:?}, want {want:?} (session {} -> {})",
                    self.tabs[inst.tab].id, session, inst.session
                ));
            }
        }
        for (i, from) in expect_up {
            let mut got: Vec<u32> = self
                .server
                .ups_of(i)
                .into_iter()
                .filter(|&s| s >= from)
                .collect();
            if self.cfg.net.full_reorder {
                got.sort_unstable();
            }
            let want: Vec<u32> = (from..from + count).collect();
            if got != want {
                self.fail(format!("server got #{i}'s sends {got:?}, want {want:?}"));
            }
        }
    }
}

fn short(body: &Body<Pl>) -> String {
    match body {
        Body::Heartbeat { state, tabs } => format!("Heartbeat({state:?}, {tabs})"),
        Body::Presence { instances, close } => format!("Presence({instances}, {close:?})"),
        Body::Out { leader, payload } => format!("Out(to {leader}: {payload:?})"),
        Body::In(p) => format!("In({p:?})"),
        Body::Closed(info) => format!("Closed({})", info.code),
        other => body_name(other).to_owned(),
    }
}
