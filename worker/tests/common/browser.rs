//! The browser's side of the seams: every call a tab's driver makes is
//! carried out as a browser would (sockets to the server, posts on the bus
//! to the other tabs, the origin's lock manager), and checked on the way:
//! a call no browser would accept, or one that breaks a rule of the
//! protocol, fails the world.

use std::collections::VecDeque;

use bws_core::{Backend, Body, BusMessage, CloseInfo, Heartbeat, SocketId};

use super::instances::Phase;
use super::scheduler::{Ev, Input};
use super::seams::{Call, SimDriver, Wire};
use super::server::{Conn, ConnState, ServerEv};
use super::world::{scope_of, url_of, Lead, World};
use super::{InstanceId, Pl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockState {
    Connecting,
    Open,
    Closing,
    Closed,
}

#[derive(Debug)]
pub(super) struct ClientSocket {
    pub(super) scope: String,
    pub(super) conn: usize,
    pub(super) state: SockState,
}

#[derive(Debug, Default)]
pub(super) struct LockQueue {
    pub(super) holder: Option<(usize, u64)>,
    waiting: VecDeque<(usize, u64)>,
}

/// Why a tab is producing outputs.
#[derive(Debug, Clone)]
pub(super) enum Cause {
    User,
    Timeout,
    Bus {
        from: String,
        epoch: u64,
        body: &'static str,
    },
    Socket(SocketId),
    Lock,
    /// The page answered a ping.
    Page,
}

pub(super) fn body_name<P>(body: &Body<P>) -> &'static str {
    match body {
        Body::Hello => "Hello",
        Body::Heartbeat(_) => "Heartbeat",
        Body::Presence { .. } => "Presence",
        Body::Claim => "Claim",
        Body::Out { .. } => "Out",
        Body::Reconnect { .. } => "Reconnect",
        Body::Yield { .. } => "Yield",
        Body::Refused { .. } => "Refused",
        Body::In(_) => "In",
        Body::Error => "Error",
        Body::Closed(_) => "Closed",
        Body::Left => "Left",
    }
}

pub(super) fn short(body: &Body<Pl>) -> String {
    match body {
        Body::Heartbeat(Heartbeat {
            state,
            tabs,
            handed,
            retry,
        }) => format!("Heartbeat({state:?}, {tabs}, handed {handed:?}, {retry:?})"),
        Body::Refused { handed, to } => format!("Refused(handed {handed:?}, to {to:?})"),
        Body::Presence { instances, close } => format!("Presence({instances}, {close:?})"),
        Body::Out {
            leader,
            seq,
            payload,
        } => format!("Out(to {leader}: #{seq} {payload:?})"),
        Body::In(p) => format!("In({p:?})"),
        Body::Closed(info) => format!("Closed({})", info.code),
        other => body_name(other).to_owned(),
    }
}

impl World {
    // ------------------------------------------------------------ calls

    /// Carries out a call on a tab's seams made outside its driver (the
    /// conformance suites call the seams directly).
    pub fn call(&mut self, tab: usize, call: Call) {
        self.clock.set(self.now);
        self.exec(tab, call, &Cause::User);
    }

    /// Runs one input through the tab's driver, then carries out and checks
    /// every call it made on the seams; returns the acks.
    pub(super) fn drive(
        &mut self,
        tab: usize,
        cause: Cause,
        input: impl FnOnce(&mut SimDriver),
    ) -> Vec<InstanceId> {
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
            .instances
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
                let lead = self.tabs[tab].leading.get(&scope).filter(|l| !l.closing);
                if let Some(lead) = lead.filter(|l| l.socket.is_some()) {
                    let lead = lead.clone();
                    self.fail(format!(
                        "{id} opens a second socket while leading with {lead:?}"
                    ));
                }
                // The reconnect loop's next attempt: the leadership heartbeat
                // already. A new leadership heartbeats once it has opened.
                let epoch = lead.and_then(|l| l.epoch);
                // One reconnect loop per scope: at most one attempt in flight.
                let in_flight = self.server.conns.iter().find(|conn| {
                    conn.scope == scope
                        && conn.state == ConnState::Connecting
                        && self.tabs[conn.tab].alive
                });
                if let (Some(conn), true) = (in_flight, self.cfg.reconnect.is_some()) {
                    if !self.is_faulty() {
                        let other = self.tabs[conn.tab].id.clone();
                        self.fail(format!(
                            "{id} connects {scope} while {other}'s attempt is in flight"
                        ));
                    }
                }
                let conn = self.server.conns.len();
                self.server.conns.push(Conn {
                    tab,
                    socket,
                    scope: scope.clone(),
                    state: ConnState::Connecting,
                    requested_at: self.now,
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
                        socket: Some(socket),
                        epoch,
                        beat_at: self.now,
                        closing: false,
                    },
                );
                let at = self.now.max(self.tabs[tab].page_busy_until)
                    + self.rng.range(self.cfg.net.socket_latency);
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
                        socket: Some(socket),
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
                if lead.as_ref().and_then(|l| l.socket) != Some(socket) {
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
                    (Cause::User, Pl::Up { instance, .. }) => {
                        // The tab's own; or, where a leader holds sends for
                        // its page, relayed ones it releases before the
                        // application's close (see the core's scope/page.rs).
                        let held = self.cfg.timing.page_silence_ms.is_some();
                        if self.instances[instance].tab != tab && !held {
                            self.fail(format!(
                                "{id} transmits a send of another tab's #{instance}"
                            ));
                        }
                    }
                    (Cause::User, _) => {}
                    // Sends held until the page answered (Gecko: see the
                    // core's scope/page.rs), the tab's own and relayed ones,
                    // or until its last instance left (a timeout sees it).
                    (Cause::Page | Cause::Timeout, _) => {}
                    // The tab's own sends, when their turn comes (see the
                    // core's scope/outbox.rs): refused by a former leader,
                    // or waiting behind sends whose fate was not known yet.
                    (_, Pl::Up { instance, .. }) if self.instances[instance].tab == tab => {}
                    _ => self.fail(format!("{id} transmits on {cause:?}")),
                }
                self.note(format!("[{id}] TRANSMIT {payload:?} on {}", socket.0));
                if let Pl::Up { instance, seq } = payload {
                    self.transmitted.insert((instance, seq));
                }
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
                self.wait_for_page(tab, conn);
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
                    .filter(|l| l.socket == Some(socket))
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
                            self.wait_for_page(tab, conn);
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
            Call::PingPage { via } => {
                if self.instances.get(&via).is_none_or(|i| i.tab != tab) {
                    self.fail(format!(
                        "{id} pings its page through #{via}, not one of its instances"
                    ));
                }
                // A page and its worker are a message apart.
                self.schedule(self.now + 1, Ev::Tab(tab, Input::PageAnswer(via)));
            }
            Call::Resolve { via } => {
                let Some(instance) = self.instances.get(&via).filter(|i| i.tab == tab) else {
                    self.fail(format!(
                        "{id} asks its page through #{via}, not one of its instances"
                    ));
                };
                // The page's provider: the scope's URL, or its failure.
                self.server.resolves += 1;
                let answer = match self.server.provider_fails {
                    false => Ok((url_of(&instance.scope), vec!["sim".to_owned()])),
                    true => Err("the provider rejected".to_owned()),
                };
                self.schedule(self.now + 1, Ev::Tab(tab, Input::Resolved(via, answer)));
            }
            Call::Ack { to } => {
                if self.instances.get(&to).is_none_or(|i| i.tab != tab) {
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
                // Only the leader's socket survives a scope's end if it is
                // closing; a leader between reconnect attempts has none.
                match self.tabs[tab].leading.get(&scope).cloned() {
                    Some(lead) if lead.socket.is_none() => {
                        self.tabs[tab].leading.remove(&scope);
                    }
                    Some(lead) if !lead.closing => {
                        self.fail(format!("{id} left {scope} while leading with {lead:?}"));
                    }
                    _ => {}
                }
            }
            Call::Post { scope, message } => self.post(tab, scope, message),
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

    /// What a tab's socket sends leaves after its busy page is free (see
    /// [`World::busy_page`]).
    fn wait_for_page(&mut self, tab: usize, conn: usize) {
        let until = self.tabs[tab].page_busy_until;
        let up = &mut self.server.conns[conn].up_last;
        *up = (*up).max(until);
    }

    // ------------------------------------------------------------ bus

    pub(super) fn post(&mut self, tab: usize, scope: String, message: BusMessage<Pl>) {
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
        if !self.cfg.seams_only {
            self.check_post(tab, &scope, &message);
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
            if self.cfg.timing.bus_on_page {
                // WebKit: what the worker posts leaves once its page is free.
                at = at.max(self.tabs[tab].page_busy_until);
            }
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

    pub(super) fn lock_release(&mut self, tab: usize, scope: &str) {
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
}
