//! The run loop: one queue of timed events (what the browser delivers to
//! tabs, what reaches the server, thaws) and the tabs' alarms, run in order
//! on the world's virtual clock; each input is fed to its tab's driver as
//! the browser would, or held back while the tab is frozen.

use std::cmp::Ordering;

use bws_core::{CloseInfo, LockEvent, SocketEvent, SocketId};

use super::browser::{body_name, short, Cause, SockState};
use super::seams::Wire;
use super::server::ServerEv;
use super::world::World;
use super::{InstanceId, Pl};

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
    /// The page answered a ping through this instance.
    PageAnswer(InstanceId),
    /// The page gave the URL and protocols through this instance.
    Resolved(InstanceId, Result<(String, Vec<String>), String>),
}

impl Input {
    /// What reaches a worker through its page's main thread where the engine
    /// runs the worker's socket there (Gecko), and its bus too (WebKit,
    /// `bus_on_page`): held while the page is busy.
    fn through_page(&self, bus_on_page: bool) -> bool {
        match self {
            Input::PageAnswer(_)
            | Input::Resolved(..)
            | Input::SocketOpen(_)
            | Input::SocketMessage(..)
            | Input::SocketError(_)
            | Input::SocketClosed(..) => true,
            Input::Bus { .. } => bus_on_page,
            _ => false,
        }
    }
}

#[derive(Debug)]
pub(super) enum Ev {
    Tab(usize, Input),
    Server(ServerEv),
    Thaw(usize),
    /// A tab's busy page may be free (see `World::busy_page`).
    PageFree(usize),
}

pub(super) struct Queued {
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

impl World {
    pub(super) fn schedule(&mut self, at: u64, ev: Ev) {
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
        self.advance_to(t);
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
                    self.advance_to(end);
                    return done(self).then(|| self.now - start);
                }
            }
        }
    }

    /// Moves the world's time on to `t`, never back, and every tab's clock
    /// with it.
    fn advance_to(&mut self, t: u64) {
        self.now = self.now.max(t);
        self.clock.set(self.now);
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
                self.advance_to(at);
                // A timer that keeps asking for the present is a livelock.
                if self.spin.0 == tab && self.spin.1 == self.now {
                    self.spin.2 += 1;
                    if self.spin.2 > 200 {
                        self.fail(format!("tab {} spins on its timer", self.tabs[tab].id));
                    }
                } else {
                    self.spin = (tab, self.now, 0);
                }
                // A browser's timer goes off once; the driver arms the next.
                self.tabs[tab].timer.set(None);
                if self.record {
                    self.alarms.push((tab, self.now));
                }
                self.drive(tab, Cause::Timeout, |d| d.handle_timeout());
            }
            _ => {
                let Some(q) = self.queue.pop() else { return };
                self.advance_to(q.at);
                match q.ev {
                    Ev::Tab(tab, input) => self.input(tab, input),
                    Ev::Server(ev) => self.server_event(ev),
                    Ev::Thaw(tab) => self.thaw(tab),
                    Ev::PageFree(tab) => self.page_free(tab),
                }
            }
        }
        self.check_takeovers();
    }

    pub(super) fn input(&mut self, tab: usize, input: Input) {
        let t = &mut self.tabs[tab];
        if !t.alive {
            return;
        }
        if t.frozen {
            t.backlog.push_back(input);
            return;
        }
        let through_page = input.through_page(self.cfg.timing.bus_on_page);
        if through_page && (self.now < t.page_busy_until || !t.page_backlog.is_empty()) {
            t.page_backlog.push_back(input);
            return;
        }
        self.apply(tab, input);
    }

    pub(super) fn apply(&mut self, tab: usize, input: Input) {
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
                    .is_some_and(|l| l.socket == Some(socket))
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
            Input::PageAnswer(via) => {
                self.seen(tab, || Input::PageAnswer(via));
                self.drive(tab, Cause::Page, |d| d.handle_page_answer(via));
            }
            Input::Resolved(via, answer) => {
                self.seen(tab, || Input::Resolved(via, answer.clone()));
                self.note(format!("[{id}] page resolved {answer:?}"));
                self.drive(tab, Cause::Page, |d| d.handle_resolved(via, answer));
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
}
