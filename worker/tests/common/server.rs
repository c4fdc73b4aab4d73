//! The WebSocket server every tab's socket connects to: it accepts (or
//! refuses), numbers its broadcasts per scope, echoes on request, closes
//! and drops connections, and checks that each instance's sends reach it
//! once and in order.

use std::collections::HashMap;

use bws_core::{CloseInfo, SocketId};

use super::scheduler::{Ev, Input};
use super::world::World;
use super::{InstanceId, Pl};

#[derive(Debug)]
pub(super) enum ServerEv {
    Accept(usize),
    /// With whether the sender had been superseded when it transmitted, and
    /// whether another tab led with the same epoch (a partition).
    Receive(usize, Pl, bool, bool),
    /// The client's close frame reached the server.
    ClientClose(usize, Option<u16>, String),
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
    /// When the tab asked for it.
    pub requested_at: u64,
    pub opened_at: Option<u64>,
    pub(super) down_last: u64,
    pub(super) up_last: u64,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub conn: usize,
    pub at: u64,
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
    /// Never answer a connection attempt (a black hole).
    pub hang: bool,
    /// The pages' URL providers fail (see `Config::resolve`).
    pub provider_fails: bool,
    /// How many times a page was asked for the URL.
    pub resolves: u32,
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

    /// Up payloads of `instance` that came on `conn`, in order.
    pub fn ups_on(&self, instance: InstanceId, conn: usize) -> Vec<u32> {
        self.received
            .iter()
            .filter(|r| r.conn == conn)
            .filter_map(|r| match r.payload {
                Pl::Up { instance: i, seq } if i == instance => Some(seq),
                _ => None,
            })
            .collect()
    }

    /// Up payloads of `instance` in the order the server got them.
    pub fn ups_of(&self, instance: InstanceId) -> Vec<u32> {
        self.received
            .iter()
            .filter_map(|r| match r.payload {
                Pl::Up { instance: i, seq } if i == instance => Some(seq),
                _ => None,
            })
            .collect()
    }
}

impl World {
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
        for (at, tab, socket) in self.end_conns(scope, code) {
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
        for (at, tab, socket) in self.end_conns(scope, 1006) {
            self.schedule(at, Ev::Tab(tab, Input::SocketError(socket)));
            self.schedule(
                at,
                Ev::Tab(tab, Input::SocketClosed(socket, CloseInfo::abnormal())),
            );
        }
    }

    /// Ends every open connection of `scope` on the server side with `code`;
    /// returns, for each, when its tab hears of it, the tab and the socket.
    fn end_conns(&mut self, scope: &str, code: u16) -> Vec<(u64, usize, SocketId)> {
        self.void_takeovers(scope);
        // The end of the scope, unless the reconnect loop goes on.
        if self
            .cfg
            .reconnect
            .as_ref()
            .is_none_or(|policy| policy.is_final(code))
        {
            self.watch_server_end(scope);
        }
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

    pub(super) fn socket_arrival(&mut self, conn: usize, down: bool) -> u64 {
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

    pub(super) fn server_event(&mut self, ev: ServerEv) {
        match ev {
            ServerEv::Accept(conn) => {
                if self.server.conns[conn].state != ConnState::Connecting {
                    return;
                }
                let (tab, socket) = (self.server.conns[conn].tab, self.server.conns[conn].socket);
                let at = self.now + self.rng.range(self.cfg.net.socket_latency);
                if self.server.hang {
                    return;
                }
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
                if let Pl::Up { instance, seq } = payload {
                    // Per instance, sends reach the server in order, once. A
                    // superseded leader (thawed before it knew) may still put
                    // older sends on its old connection: in order there, and
                    // never twice.
                    let ups = self.server.ups_of(instance);
                    let on_conn = self.server.ups_on(instance, conn);
                    let reordered = on_conn.last().is_some_and(|&last| last >= seq)
                        && !self.cfg.net.full_reorder;
                    if contested && ups.contains(&seq) {
                        // Both sides of a partition took the send: a newcomer
                        // bridged them, which a real bus cannot.
                        self.stats.partition_duplicates += 1;
                    } else if ups.contains(&seq) || reordered {
                        self.fail(format!("server got #{instance} send {seq} after {ups:?}"));
                    }
                    let ordered = !self.cfg.net.full_reorder;
                    if ordered
                        && !stale
                        && !contested
                        && ups.last().is_some_and(|&last| last >= seq)
                    {
                        self.fail(format!("server got #{instance} send {seq} after {ups:?}"));
                    }
                    if stale && ups.last().is_some_and(|&last| last >= seq) {
                        self.stats.stale_reorders += 1;
                    }
                }
                self.note(format!("server: got {payload:?} on conn {conn}"));
                self.server.received.push(Received {
                    conn,
                    at: self.now,
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
}
