//! The world: tabs, each the core's own `Driver` on the simulated seams, on
//! a virtual clock shared by all; what a test does to them (join, send,
//! close...) and the faults it throws at them (crash, farewell, freeze,
//! cut); and what it can ask of them.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use bws_core::{Body, BusMessage, JoinRequest, SocketId, Tab, NO_SERVER};

use super::browser::{Cause, ClientSocket, LockQueue, SockState};
use super::config::{Config, Rng};
use super::instances::{Instance, Phase};
use super::oracle::{ServerEnd, Stats, Takeover};
use super::scheduler::{Ev, Input, Queued};
use super::seams::{self, Alarm, Calls, SimClock, SimDriver, Wire};
use super::server::{ConnState, Server};
use super::{InstanceId, Pl};

/// A tab leading a scope, as seen from its outputs.
#[derive(Debug, Clone)]
pub struct Lead {
    /// `None` between the attempts of the reconnect loop.
    pub socket: Option<SocketId>,
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
    pub(super) calls: Calls,
    pub alive: bool,
    pub frozen: bool,
    /// Until when the tab's page is busy: see [`World::busy_page`].
    pub page_busy_until: u64,
    /// What waits for the busy page, in order.
    pub(super) page_backlog: VecDeque<Input>,
    pub(super) backlog: VecDeque<Input>,
    /// Open bus channels per scope, with their generation.
    pub(super) bus: HashMap<String, u64>,
    pub(super) bus_generation: u64,
    pub(super) sockets: HashMap<SocketId, ClientSocket>,
    pub leading: HashMap<String, Lead>,
    /// The ticket of the current lock request per scope.
    pub(super) lock_request: HashMap<String, u64>,
    /// Scopes whose lock was stolen from this tab, the news not yet processed.
    pub(super) lost_pending: HashSet<String>,
    pub zombie: HashSet<String>,
    /// When the tab's clock wakes it.
    pub(super) timer: Alarm,
}

impl SimTab {
    /// The tab's core.
    pub fn core(&self) -> &Tab<InstanceId, Pl> {
        self.driver.tab()
    }
}

pub fn url_of(scope: &str) -> String {
    format!("wss://sim.invalid/{scope}")
}

pub(super) fn scope_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

pub struct World {
    pub cfg: Config,
    pub now: u64,
    /// `now`, as the tabs' clocks read it.
    pub(super) clock: Rc<Cell<u64>>,
    pub rng: Rng,
    pub tabs: Vec<SimTab>,
    pub instances: BTreeMap<InstanceId, Instance>,
    next_instance: InstanceId,
    pub server: Server,
    pub(super) locks: HashMap<String, LockQueue>,
    /// When each granted request (tab, ticket) hears of its grant.
    pub(super) granted_at: HashMap<(usize, u64), u64>,
    pub(super) queue: BinaryHeap<Queued>,
    pub(super) next_seq: u64,
    /// Per (sender, receiver, scope): the arrival time of the last message.
    pub(super) bus_last: HashMap<(usize, usize, String), u64>,
    /// Tab pairs that cannot hear each other.
    pub(super) cuts: HashSet<(usize, usize)>,
    /// Who led each (scope, epoch).
    pub(super) epoch_leaders: HashMap<(String, u64), usize>,
    pub(super) takeovers: Vec<Takeover>,
    pub stats: Stats,
    /// The last lines of the trace, for `fail`.
    trace: VecDeque<String>,
    print_trace: bool,
    pub(super) spin: (usize, u64, u32),
    settling_until: u64,
    pub(super) steps: u64,
    pub(super) server_ends: Vec<ServerEnd>,
    /// The highest epoch any tab led each scope with.
    pub(super) max_epoch: HashMap<String, u64>,
    /// Every send a tab put on an open socket, by instance and number.
    pub(super) transmitted: HashSet<(InstanceId, u32)>,
    /// With `record`, every input the browser delivers to a tab, in order
    /// (for the seams' conformance suites).
    pub record: bool,
    pub recorded: Vec<(usize, Input)>,
    /// With `record`, each tab's alarm as it went off: the tab and the time.
    pub alarms: Vec<(usize, u64)>,
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
            instances: BTreeMap::new(),
            next_instance: 1,
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
            transmitted: HashSet::new(),
            record: false,
            recorded: Vec::new(),
            alarms: Vec::new(),
        }
    }

    // ------------------------------------------------------------ tracing

    pub(super) fn note(&mut self, line: String) {
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
            page_busy_until: 0,
            page_backlog: VecDeque::new(),
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
            url: if self.cfg.no_server {
                NO_SERVER.to_owned()
            } else {
                url_of(scope)
            },
            protocols: if self.cfg.no_server {
                Vec::new()
            } else {
                vec!["sim".to_owned()]
            },
            backend: self.cfg.backend,
            timing: self.cfg.timing,
            grace_ms: self.cfg.grace_ms,
            debug: true,
            reconnect: self.cfg.reconnect.clone(),
            resolve: self.cfg.resolve,
        }
    }

    // ------------------------------------------------------------ user actions

    pub fn join(&mut self, tab: usize, scope: &str) -> InstanceId {
        let request = self.request(scope);
        self.join_with(tab, request)
    }

    pub fn join_with(&mut self, tab: usize, request: JoinRequest) -> InstanceId {
        self.check_user_action(tab);
        let instance = self.next_instance;
        self.next_instance += 1;
        self.instances.insert(
            instance,
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
                sent_at: Vec::new(),
                reconnects: 0,
                errors: 0,
                final_close: None,
                events: Vec::new(),
            },
        );
        self.note(format!(
            "[{}] user: join #{instance} to {}",
            self.tabs[tab].id, request.scope
        ));
        self.drive(tab, Cause::User, |d| d.handle_join(instance, request));
        if self.instances[&instance].leadership.is_none() {
            self.fail(format!("#{instance} joined without a Leadership event"));
        }
        instance
    }

    /// The instance's next `send()`; true when it was accepted (acked).
    pub fn send(&mut self, instance: InstanceId) -> bool {
        let queue = self
            .cfg
            .reconnect
            .as_ref()
            .is_some_and(|policy| policy.queue);
        let (tab, seq, expect, queued) = {
            let i = &self.instances[&instance];
            let live = i.closing.is_none();
            let expect = i.phase == Phase::Open && live;
            // With `reconnect`, a send while connecting waits for `open`,
            // and its ack with it.
            (
                i.tab,
                i.sent,
                expect,
                queue && i.phase == Phase::Connecting && live,
            )
        };
        self.check_user_action(tab);
        self.note(format!(
            "[{}] user: #{instance} send {seq}",
            self.tabs[tab].id
        ));
        let acked = self.drive(tab, Cause::User, |d| {
            d.handle_send(instance, Pl::Up { instance, seq })
        });
        let acks = acked.iter().filter(|&&i| i == instance).count();
        if acks != usize::from(expect) {
            self.fail(format!(
                "#{instance} send: {acks} acks, expected {}",
                usize::from(expect)
            ));
        }
        if expect || queued {
            self.record_send(instance);
        }
        expect || queued
    }

    /// Numbers an accepted send, noting when it was made and the sends in
    /// doubt its instance knew of then (see `check_sends`).
    fn record_send(&mut self, instance: InstanceId) {
        let now = self.now;
        let i = self.instances.get_mut(&instance).unwrap();
        let in_doubt = i.leadership.as_ref().map_or(0, |l| l.sends_in_doubt);
        i.sent += 1;
        i.sent_at.push((now, in_doubt));
    }

    /// A send the page made while its instance was still open, reaching the
    /// worker after a leader change made it connecting (the change's close
    /// was on its way to the page); true when it was accepted (acked).
    pub fn send_racing_close(&mut self, instance: InstanceId) -> bool {
        let (tab, seq, phase) = {
            let i = &self.instances[&instance];
            (i.tab, i.sent, i.phase)
        };
        if phase != Phase::Connecting {
            self.fail(format!("#{instance} races no close: it is {phase:?}"));
        }
        self.check_user_action(tab);
        self.note(format!(
            "[{}] user: #{instance} send {seq}, made before the close",
            self.tabs[tab].id
        ));
        let acked = self.drive(tab, Cause::User, |d| {
            d.handle_send(instance, Pl::Up { instance, seq })
        });
        let accepted = acked.contains(&instance);
        if accepted {
            self.record_send(instance);
        }
        accepted
    }

    pub fn close(&mut self, instance: InstanceId, code: Option<u16>, reason: &str) {
        let tab = self.user_action(instance, format!("close({code:?}, {reason:?})"));
        if self.instances[&instance].phase != Phase::Closed {
            self.instances.get_mut(&instance).unwrap().closing = Some((code, reason.to_owned()));
        }
        let reason = reason.to_owned();
        self.drive(tab, Cause::User, |d| d.handle_close(instance, code, reason));
    }

    pub fn disconnect(&mut self, instance: InstanceId) {
        let tab = self.user_action(instance, "disconnects");
        self.instances.get_mut(&instance).unwrap().phase = Phase::Gone;
        self.drive(tab, Cause::User, |d| d.handle_disconnect(instance));
    }

    /// The instance's `forceLeader()`.
    pub fn force_leader(&mut self, instance: InstanceId) {
        let tab = self.user_action(instance, "forceLeader()");
        self.drive(tab, Cause::User, |d| d.handle_force_leader(instance));
    }

    /// The instance's `reconnect(code, reason)`.
    pub fn reconnect(&mut self, instance: InstanceId, code: Option<u16>, reason: &str) {
        let tab = self.user_action(instance, format!("reconnect({code:?}, {reason:?})"));
        let reason = reason.to_owned();
        self.drive(tab, Cause::User, |d| {
            d.handle_reconnect(instance, code, reason)
        });
    }

    /// The tab's worker sees `online`.
    pub fn online(&mut self, tab: usize) {
        self.note(format!("[{}] ONLINE", self.tabs[tab].id));
        self.drive(tab, Cause::Timeout, |d| d.handle_online());
    }

    /// The tab's worker sees the wall clock jump `ms` ahead (the machine slept).
    pub fn wall_clock_jump(&mut self, tab: usize, ms: u64) {
        self.note(format!("[{}] WALL CLOCK +{ms} ms", self.tabs[tab].id));
        self.drive(tab, Cause::Timeout, |d| d.handle_wall_clock_jump(ms));
    }

    /// The instance's `relinquish()`.
    pub fn relinquish(&mut self, instance: InstanceId) {
        let tab = self.user_action(instance, "relinquish()");
        self.drive(tab, Cause::User, |d| d.handle_relinquish(instance));
    }

    pub fn zombie(&mut self, instance: InstanceId) {
        let (tab, scope) = (
            self.instances[&instance].tab,
            self.instances[&instance].scope.clone(),
        );
        self.check_user_action(tab);
        self.note(format!("[{}] user: #{instance} zombie", self.tabs[tab].id));
        self.tabs[tab].zombie.insert(scope.clone());
        self.void_takeovers(&scope);
        self.drive(tab, Cause::User, |d| d.handle_zombie(instance));
    }

    /// Checks that the instance's tab can act, and notes what it does:
    /// returns the tab.
    fn user_action(&mut self, instance: InstanceId, what: impl AsRef<str>) -> usize {
        let tab = self.instances[&instance].tab;
        self.check_user_action(tab);
        let line = format!(
            "[{}] user: #{instance} {}",
            self.tabs[tab].id,
            what.as_ref()
        );
        self.note(line);
        tab
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
        let led: BTreeSet<String> = self.tabs[tab].leading.keys().cloned().collect();
        for scope in led {
            // Watched when others need a leader and none is left.
            let watched = self
                .live_instances(&scope)
                .iter()
                .any(|&i| self.instances[&i].tab != tab)
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
        let scopes: BTreeSet<String> = t.lock_request.keys().cloned().collect();
        for scope in scopes {
            self.lock_release(tab, &scope);
        }
        for socket in self.tabs[tab].sockets.values() {
            self.server.conns[socket.conn].state = ConnState::Closed;
        }
        for instance in self.instances.values_mut() {
            if instance.tab == tab {
                instance.phase = Phase::Gone;
            }
        }
    }

    /// The tab's page goes away: it posts its farewell on the bus of every
    /// scope it is in, from the page (as ts/bridge.ts does in `pagehide`),
    /// while its worker lives on until `crash`.
    pub fn farewell(&mut self, tab: usize) {
        self.note(format!("[{}] FAREWELL", self.tabs[tab].id));
        let id = self.tabs[tab].id.clone();
        let scopes: BTreeSet<String> = self.tabs[tab].bus.keys().cloned().collect();
        for scope in scopes {
            self.post(tab, scope, BusMessage::new(id.clone(), 0, Body::Left));
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

    /// The tab's page is busy for `ms` (its main thread runs a long task), in
    /// an engine that runs a worker's socket on its page's main thread
    /// (Gecko): the worker runs on, but its socket's events and the page's
    /// answers wait until the page is free, and so do its socket's sends.
    /// Where the bus runs on the page too (WebKit, `Timing::bus_on_page`), so
    /// do what the worker posts and what is posted to it.
    pub fn busy_page(&mut self, tab: usize, ms: u64) {
        self.note(format!("[{}] PAGE BUSY for {ms} ms", self.tabs[tab].id));
        self.void_all_takeovers();
        let until = self.tabs[tab].page_busy_until.max(self.now + ms);
        self.tabs[tab].page_busy_until = until;
        self.schedule(until, Ev::PageFree(tab));
    }

    /// The page is free, unless it was made busy for longer since: what
    /// waited for it goes on, in order.
    pub(super) fn page_free(&mut self, tab: usize) {
        if self.now < self.tabs[tab].page_busy_until {
            return;
        }
        while let Some(input) = self.tabs[tab].page_backlog.pop_front() {
            if !self.tabs[tab].alive {
                return;
            }
            if self.tabs[tab].frozen {
                self.tabs[tab].backlog.push_back(input);
            } else {
                self.apply(tab, input);
            }
        }
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
            self.input(tab, input);
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

    pub(super) fn is_faulty(&self) -> bool {
        self.now < self.settling_until
            || !self.cuts.is_empty()
            || self.cfg.net.drop > 0.0
            || self
                .tabs
                .iter()
                .any(|t| t.frozen || self.now < t.page_busy_until)
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

    pub(super) fn void_takeovers(&mut self, scope: &str) {
        for takeover in self.takeovers.iter_mut().filter(|t| t.scope == scope) {
            takeover.clean = false;
        }
    }

    // ------------------------------------------------------------ injections

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

    // ------------------------------------------------------------ queries

    pub fn id(&self, tab: usize) -> &str {
        &self.tabs[tab].id
    }

    /// Live tabs leading `scope` with an open socket.
    pub fn leaders(&self, scope: &str) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&t| self.tabs[t].alive)
            .filter(|&t| {
                self.tabs[t].leading.get(scope).is_some_and(|l| {
                    !l.closing
                        && l.socket
                            .and_then(|s| self.tabs[t].sockets.get(&s))
                            .map(|s| s.state)
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

    /// A handle on a tab's clock, as its driver has: the world's time, the
    /// tab's alarm (for the clock's conformance suite).
    pub fn clock_of(&self, tab: usize) -> SimClock {
        SimClock {
            now: self.clock.clone(),
            alarm: self.tabs[tab].timer.clone(),
        }
    }

    pub fn in_scope(&self, tab: usize, scope: &str) -> bool {
        self.tabs[tab].bus.contains_key(scope)
    }
}
