//! The one loop that runs a [`Tab`] on its seams: every input goes in with
//! the clock's time, every output the tab returns is executed on a seam,
//! until none is left, then the clock is armed for the tab's next deadline.
//! The worker and the simulation both run this loop, so what the simulation
//! proves about it holds for the worker.

use std::fmt;

use crate::seams::{Bus, Clock, Instances, LockEvent, Locks, Seams, SocketEvent, Transport};
use crate::{CloseInfo, JoinRequest, Output, SocketId, Tab, NO_SERVER};

/// A tab and the seams it runs on.
pub struct Driver<I, P, S: Seams<I, P>> {
    tab: Tab<I, P>,
    transport: S::Transport,
    bus: S::Bus,
    locks: S::Locks,
    clock: S::Clock,
    instances: S::Instances,
    /// The ticket of each scope's current lock request: events of a request
    /// replaced or released since are stale and dropped. (A tab has a scope
    /// or two: a list is smaller in WASM than another map.)
    tickets: Vec<(String, u64)>,
    last_ticket: u64,
    /// The open connections to [`NO_SERVER`], which no transport holds.
    serverless: Vec<SocketId>,
    /// Test switch: scopes fallen silent in this tab (see `handle_zombie`).
    #[cfg(feature = "test-switches")]
    zombies: Vec<String>,
}

impl<I, P, S: Seams<I, P>> fmt::Debug for Driver<I, P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl<I, P, S> Driver<I, P, S>
where
    I: Copy + Eq,
    P: Clone,
    S: Seams<I, P>,
{
    /// The tab `id`, with no instances yet, on these seams.
    pub fn new(
        id: String,
        transport: S::Transport,
        bus: S::Bus,
        locks: S::Locks,
        clock: S::Clock,
        instances: S::Instances,
    ) -> Self {
        Driver {
            tab: Tab::new(id),
            transport,
            bus,
            locks,
            clock,
            instances,
            tickets: Vec::new(),
            last_ticket: 0,
            serverless: Vec::new(),
            #[cfg(feature = "test-switches")]
            zombies: Vec::new(),
        }
    }

    /// The tab.
    pub fn tab(&self) -> &Tab<I, P> {
        &self.tab
    }

    /// An instance joins a scope.
    pub fn handle_join(&mut self, instance: I, request: JoinRequest) {
        let now = self.clock.now();
        self.tab.handle_join(now, instance, request);
        self.run();
    }

    /// An instance's `send()`.
    pub fn handle_send(&mut self, instance: I, payload: P) {
        let now = self.clock.now();
        self.tab.handle_send(now, instance, payload);
        self.run();
    }

    /// An instance's `close(code, reason)`.
    pub fn handle_close(&mut self, instance: I, code: Option<u16>, reason: String) {
        let now = self.clock.now();
        self.tab.handle_close(now, instance, code, reason);
        self.run();
    }

    /// An instance's `forceLeader()`.
    pub fn handle_force_leader(&mut self, instance: I) {
        let now = self.clock.now();
        self.tab.handle_force_leader(now, instance);
        self.run();
    }

    /// An instance's `relinquish()`.
    pub fn handle_relinquish(&mut self, instance: I) {
        let now = self.clock.now();
        self.tab.handle_relinquish(now, instance);
        self.run();
    }

    /// An instance's `reconnect(code, reason)`.
    pub fn handle_reconnect(&mut self, instance: I, code: Option<u16>, reason: String) {
        let now = self.clock.now();
        self.tab.handle_reconnect(now, instance, code, reason);
        self.run();
    }

    /// The page's answer to a [`Instances::resolve`].
    pub fn handle_resolved(&mut self, instance: I, answer: Result<(String, Vec<String>), String>) {
        let now = self.clock.now();
        self.tab.handle_resolved(now, instance, answer);
        self.run();
    }

    /// The network came back (`online`).
    pub fn handle_online(&mut self) {
        let now = self.clock.now();
        self.tab.handle_online(now);
        self.run();
    }

    /// The wall clock jumped `jump_ms` ahead of the monotonic one: the
    /// machine slept.
    pub fn handle_wall_clock_jump(&mut self, jump_ms: u64) {
        let now = self.clock.now();
        self.tab.handle_wall_clock_jump(now, jump_ms);
        self.run();
    }

    /// An instance is gone without closing.
    pub fn handle_disconnect(&mut self, instance: I) {
        let now = self.clock.now();
        self.tab.handle_disconnect(now, instance);
        self.run();
    }

    /// Test switch (feature `test-switches`, never in a release build): the
    /// scope of `instance` falls silent in this tab, as a leader whose worker
    /// hangs while its page lives on: nothing goes on its bus or its socket
    /// any more, yet it keeps its lock and socket, until the scope ends.
    #[cfg(feature = "test-switches")]
    pub fn handle_zombie(&mut self, instance: I) {
        if let Some(scope) = self.tab.scope_of(instance).map(str::to_owned) {
            let line = "test switch: zombie (silent, keeps the lock)";
            self.instances.log(self.tab.id(), &scope, line);
            self.zombies.push(scope);
        }
    }

    #[cfg(feature = "test-switches")]
    fn is_zombie(&self, scope: Option<&str>) -> bool {
        scope.is_some_and(|scope| self.zombies.iter().any(|z| z == scope))
    }

    #[cfg(not(feature = "test-switches"))]
    fn is_zombie(&self, _scope: Option<&str>) -> bool {
        false
    }

    /// A socket reported an event.
    pub fn handle_socket(&mut self, socket: SocketId, event: SocketEvent<P>) {
        let now = self.clock.now();
        match event {
            SocketEvent::Open {
                protocol,
                extensions,
            } => self
                .tab
                .handle_socket_open(now, socket, protocol, extensions),
            SocketEvent::Message(payload) => self.tab.handle_socket_message(now, socket, payload),
            SocketEvent::Error => self.tab.handle_socket_error(now, socket),
            SocketEvent::Closed(info) => {
                self.transport.forget(socket);
                self.tab.handle_socket_closed(now, socket, info);
            }
        }
        self.run();
    }

    /// Something arrived on a scope's bus channel. Anything that is not a
    /// message of this protocol is ignored: other libraries, versions, junk.
    pub fn handle_bus(&mut self, scope: &str, raw: <S::Bus as Bus<P>>::Raw) {
        if let Some(message) = self.bus.decode(raw) {
            let now = self.clock.now();
            self.tab.handle_bus(now, scope, message);
            self.run();
        }
    }

    /// A lock request of a scope, of `ticket`, changed state.
    pub fn handle_lock(&mut self, scope: &str, ticket: u64, event: LockEvent) {
        if !self.tickets.iter().any(|(s, t)| s == scope && *t == ticket) {
            return;
        }
        let now = self.clock.now();
        match event {
            LockEvent::Acquired => self.tab.handle_lock_acquired(now, scope),
            LockEvent::Lost => self.tab.handle_lock_lost(now, scope),
        }
        self.run();
    }

    /// The page answered a ping through `instance`.
    pub fn handle_page_answer(&mut self, instance: I) {
        let now = self.clock.now();
        self.tab.handle_page_answer(now, instance);
        self.run();
    }

    /// The clock's alarm went off.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        self.tab.handle_timeout(now);
        self.run();
    }

    /// Executes everything the tab asks for until it has nothing left, then
    /// arms the clock for its next deadline.
    fn run(&mut self) {
        while let Some(output) = self.tab.poll_output() {
            self.execute(output);
        }
        self.clock.wake_at(self.tab.poll_timeout());
    }

    fn execute(&mut self, output: Output<I, P>) {
        match output {
            Output::OpenSocket {
                socket,
                url,
                protocols,
            } => {
                if url == NO_SERVER {
                    self.serverless.push(socket);
                    let now = self.clock.now();
                    self.tab
                        .handle_socket_open(now, socket, String::new(), String::new());
                } else if self.transport.open(socket, &url, &protocols).is_err() {
                    // The page validates what the constructor checks; if the
                    // browser still refuses, the instances see a failed connection.
                    let now = self.clock.now();
                    self.tab.handle_socket_error(now, socket);
                    self.tab
                        .handle_socket_closed(now, socket, CloseInfo::abnormal());
                }
            }
            Output::Transmit { socket, payload } => {
                if !self.serverless.contains(&socket)
                    && !self.is_zombie(self.tab.socket_scope(socket))
                {
                    self.transport.send(socket, payload);
                }
            }
            Output::CloseSocket {
                socket,
                code,
                reason,
            } => {
                if let Some(at) = self.serverless.iter().position(|s| *s == socket) {
                    // A clean close, as if a server had echoed the code.
                    self.serverless.swap_remove(at);
                    let now = self.clock.now();
                    let info = CloseInfo {
                        code: code.unwrap_or(1005),
                        reason,
                        was_clean: true,
                    };
                    self.tab.handle_socket_closed(now, socket, info);
                } else {
                    self.transport.close(socket, code, &reason);
                }
            }
            Output::Ack { to } => self.instances.ack(to),
            Output::Deliver { to, event } => self.instances.deliver(to, event),
            Output::OpenBus { scope } => self.bus.open(&scope),
            Output::Broadcast { scope, message } => {
                if !self.is_zombie(Some(&scope)) {
                    self.bus.post(&scope, &message);
                }
            }
            Output::CloseBus { scope } => {
                // The scope ended in this tab: a later join starts afresh.
                #[cfg(feature = "test-switches")]
                self.zombies.retain(|zombie| *zombie != scope);
                self.bus.close(&scope);
            }
            Output::RequestLock { scope, steal } => {
                self.last_ticket += 1;
                self.locks.request(&scope, self.last_ticket, steal);
                self.tickets.retain(|(s, _)| *s != scope);
                self.tickets.push((scope, self.last_ticket));
            }
            Output::ReleaseLock { scope } => {
                self.tickets.retain(|(s, _)| *s != scope);
                self.locks.release(&scope);
            }
            Output::PingPage { via } => self.instances.ping_page(via),
            Output::Resolve { via } => self.instances.resolve(via),
            Output::Log { scope, line } => self.instances.log(self.tab.id(), &scope, &line),
        }
    }
}
