//! One scope as one tab sees it: the tab's instances of the scope, the
//! election (who holds the socket), and the relay between socket, bus and
//! instances.
//!
//! Rules, in short:
//! - Exactly one tab leads: with Web Locks, the holder of the scope's lock;
//!   with the lease, the claimant no better claim or live leader contested.
//!   Leaderships are ordered by epoch (milliseconds on the tabs' shared
//!   time base, and above any epoch seen, so a later one is always larger), ties broken by the lower tab id; traffic of any other
//!   leadership than the accepted one is dropped.
//! - The leader heartbeats; followers report their instance counts. A leader
//!   silent past the timeout is replaced (Web Locks: a staggered, rate-limited
//!   steal; lease: a claim). A superseded leader closes its socket at once.
//! - A leader change is a reconnect for the instances: `Closed` with
//!   `reconnecting`, then `Open` when the new socket is. The socket's own
//!   close or failure is final for every instance of every tab.
//! - The socket closes when the last instance anywhere closes (after the
//!   grace period); a leader tab without instances keeps relaying for others.
//!
//! This module holds the scope's state, its timers and its end; `election`
//! decides who leads, `instances` keeps the instances and tells them what
//! happened, `dispatch` routes socket and bus inputs to both, `outbox` gets
//! the tab's sends to the socket once each and in order across leader
//! changes, `page` watches a leader's page where its socket depends on it,
//! and `reconnect` runs the leader's reconnect loop (option `reconnect`).

mod dispatch;
mod election;
mod instances;
mod outbox;
mod page;
mod reconnect;

use std::collections::VecDeque;

use outbox::Outbox;
use page::PageWatch;

use super::{
    Backend, Body, BusMessage, CloseInfo, Event, Heartbeat, JoinRequest, Leadership, Map, Output,
    ReconnectPolicy, Retry, SharedState, SocketId, TabId, Timing, PROTOCOL_VERSION,
};

/// What a scope needs from its tab while handling an input.
pub(crate) struct Ctx<'a, I, P> {
    pub now: u64,
    pub me: &'a str,
    pub out: &'a mut VecDeque<Output<I, P>>,
    pub next_socket: &'a mut u64,
    pub next_send: &'a mut u64,
    pub sockets: &'a mut Map<SocketId, String>,
    /// The tab's random generator's state (see `reconnect`).
    pub random: &'a mut u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstanceState {
    Connecting,
    Open,
    /// Called `close()` as the last instance anywhere: waits for the socket's real close.
    Leaving,
}

#[derive(Debug)]
struct Instance<I, P> {
    id: I,
    state: InstanceState,
    /// Sends made while connecting, for the next `open` (option `reconnect`).
    queued: Vec<P>,
    /// It was open once: while connecting again, a send from its page raced
    /// the close that began it (see `send`).
    opened: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockState {
    None,
    Waiting,
    Stealing,
    Held,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    instances: u32,
    heard_at: u64,
}

#[derive(Debug, Clone, Copy)]
struct Candidacy {
    epoch: u64,
    until: u64,
}

/// What a tab is in a scope. Each role resets with it what only it has.
// One per scope: a leader's larger state costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Role<P> {
    /// Follows the accepted leader, or waits for one.
    Follower,
    /// Lease: claimed leadership; leads if the claim stands until `until`.
    Candidate(Candidacy),
    /// Holds the socket.
    Leader(Leading<P>),
    /// The scope ended in this tab: nothing more happens.
    Ended,
}

/// What a leader has.
#[derive(Debug)]
struct Leading<P> {
    /// The socket, until it closes or this tab closes it.
    socket: Option<SocketId>,
    /// The leader followed when this tab took over.
    superseded: Option<(TabId, u64)>,
    /// The socket closed with 1001 ("going away"): final for all at the
    /// time given, unless this tab's page is going away first (see
    /// `Timing::going_away_hold_ms`).
    going_away: Option<(CloseInfo, u64)>,
    /// The leader's watch on its page, where its socket depends on the page
    /// (see `Timing::page_silence_ms`).
    page: Option<PageWatch<P>>,
    /// Per tab, the last of its sends handed to the socket (see `outbox`).
    handed: Map<TabId, u64>,
    /// When the socket's attempt to connect times out (see `reconnect`).
    connect_by: Option<u64>,
    /// When the open socket has stayed open long enough for the reconnect
    /// loop's count to start from zero again.
    reset_retries_at: Option<u64>,
    /// The page was asked for the URL to connect to (see `attempt`).
    resolving: bool,
}

/// A tab's send, for the leader to put on its socket.
#[derive(Debug)]
struct Outgoing<P> {
    from: TabId,
    /// Its number in its tab (see `Body::Out`).
    seq: u64,
    payload: P,
}

/// `(epoch, tab)` of `a` outranks that of `b`: a later epoch, or the lower id.
fn outranks(a: (u64, &str), b: (u64, &str)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

#[derive(Debug)]
pub(crate) struct Scope<I, P> {
    me: TabId,
    name: String,
    url: String,
    protocols: Vec<String>,
    backend: Backend,
    timing: Timing,
    grace_ms: u64,
    debug: bool,
    /// How the leader reconnects, if it does (see `reconnect`).
    reconnect: Option<ReconnectPolicy>,
    /// The page gives the URL and protocols before every connection.
    resolve: bool,
    /// The instance the page was last asked for the URL through.
    asked: Option<I>,
    /// The reconnect loop's progress, as this tab last ran or heard it.
    retry: Retry,
    instances: Vec<Instance<I, P>>,
    /// The accepted leader, this tab included when it leads.
    leader: Option<(TabId, u64)>,
    /// What this tab is in the scope, with what only that role has.
    role: Role<P>,
    /// The highest epoch seen on the bus or held.
    max_epoch: u64,
    /// The shared connection's state as this tab knows it.
    shared: Option<SharedState>,
    /// The shared connection has been open while this tab was in the scope:
    /// a socket of this tab that then fails to open is one tab's failed
    /// reconnection, not the scope's (see `socket_closed`).
    was_open: bool,
    leader_heard_at: u64,
    /// When this tab's page last answered a ping (see `page`).
    page_heard_at: u64,
    /// When the page's current run of answers began: a gap longer than two
    /// ping periods (the page was busy) starts a new one.
    page_answers_since: u64,
    /// When a follower pings its page next (see `page`).
    page_ping_at: u64,
    /// Other tabs heard on the bus, with their live instance counts.
    peers: Map<TabId, Peer>,
    /// Tabs whose page said it went away, and when: what their workers
    /// still say is ignored, until they are surely gone too.
    departed: Map<TabId, u64>,
    /// Tabs in the scope, as the leader last reported.
    leader_tabs: u32,
    lock: LockState,
    next_beat_at: u64,
    last_steal_at: Option<u64>,
    /// Lease: the earliest time this tab may claim while no leader is known.
    claim_not_before: u64,
    /// Code and reason of the last `close()`, for the socket's close.
    last_close: Option<(Option<u16>, String)>,
    idle_since: Option<u64>,
    /// Set when the scope ended holding the lock it must keep a little longer.
    release_lock_at: Option<u64>,
    reported: Option<Leadership>,
    /// This tab's sends until a socket has them.
    outbox: Outbox<P>,
    /// The leadership this tab's `forceLeader()` asked to yield, until this
    /// tab leads (see `force_lead`).
    forcing: Option<(TabId, u64)>,
}

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    pub fn new(ctx: &mut Ctx<I, P>, request: JoinRequest) -> Self {
        let mut scope = Scope {
            me: ctx.me.to_owned(),
            name: request.scope,
            url: request.url,
            protocols: request.protocols,
            backend: request.backend,
            timing: request.timing,
            grace_ms: request.grace_ms,
            debug: request.debug,
            reconnect: request.reconnect,
            resolve: request.resolve,
            asked: None,
            retry: Retry::default(),
            instances: Vec::new(),
            leader: None,
            role: Role::Follower,
            max_epoch: 0,
            shared: None,
            was_open: false,
            leader_heard_at: ctx.now,
            page_heard_at: ctx.now,
            page_answers_since: ctx.now,
            page_ping_at: ctx.now,
            peers: Map::new(),
            departed: Map::new(),
            leader_tabs: 0,
            lock: LockState::None,
            next_beat_at: ctx.now,
            last_steal_at: None,
            claim_not_before: ctx.now + request.timing.discovery_ms,
            last_close: None,
            idle_since: None,
            release_lock_at: None,
            reported: None,
            outbox: Outbox::new(),
            forcing: None,
        };
        ctx.out.push_back(Output::OpenBus {
            scope: scope.name.clone(),
        });
        scope.broadcast(ctx, 0, Body::Hello);
        if scope.backend == Backend::Locks {
            scope.request_lock(ctx, false);
        }
        scope.log(ctx, format!("joined ({:?} backend)", scope.backend));
        scope
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.role, Role::Ended)
    }

    fn leading(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The leader's socket.
    fn socket(&self) -> Option<SocketId> {
        match &self.role {
            Role::Leader(leading) => leading.socket,
            _ => None,
        }
    }

    /// The close with 1001 a leader holds back, and until when.
    fn going_away(&self) -> Option<&(CloseInfo, u64)> {
        match &self.role {
            Role::Leader(leading) => leading.going_away.as_ref(),
            _ => None,
        }
    }

    /// The leader's socket, which it no longer has.
    fn take_socket(&mut self) -> Option<SocketId> {
        match &mut self.role {
            Role::Leader(leading) => leading.socket.take(),
            _ => None,
        }
    }

    /// When an ended scope's tab gives its leader lock back, if it kept it
    /// past the end (see `end`).
    pub fn release_lock_at(&self) -> Option<u64> {
        self.release_lock_at
    }

    pub fn has_instance(&self, instance: I) -> bool {
        self.instances.iter().any(|joined| joined.id == instance)
    }

    /// The next time [`Scope::timeout`] has work to do.
    pub fn next_timeout(&self) -> Option<u64> {
        if self.is_ended() {
            return None;
        }
        // A leader holding back its socket's close waits for nothing else.
        if let Some((_, until)) = self.going_away() {
            return Some(*until);
        }
        let mut next = self.next_beat_at;
        // Silent tabs expire on time: heartbeats the leader sends early (on
        // every presence) keep pushing `next_beat_at` back, and a dead tab
        // would otherwise count as interest forever.
        let expiry = self.timing.leader_timeout_ms + 1;
        if let Some(first) = self.peers.values().map(|peer| peer.heard_at + expiry).min() {
            next = next.min(first);
        }
        if let Some(give_up) = self.give_up_at() {
            next = next.min(give_up);
        }
        if let Role::Leader(leading) = &self.role {
            if let Some(at) = self.reconnect_timer() {
                next = next.min(at);
            }
            if let Some(since) = self.idle_since {
                next = next.min(since + self.grace_ms);
            }
            if let Some(watch) = &leading.page {
                next = next.min(watch.next_ping_at);
            }
            return Some(next);
        }
        if let Some(ping_at) = self.follower_ping_at() {
            next = next.min(ping_at);
        }
        if let Role::Candidate(candidacy) = self.role {
            return Some(next.min(candidacy.until));
        }
        match self.backend {
            Backend::Lease => next = next.min(self.lease_claim_at()),
            Backend::Locks if self.lock == LockState::Waiting => next = next.min(self.steal_at()),
            Backend::Locks => {}
        }
        Some(next)
    }

    /// Called before every input. A leader silent for a whole timeout (its
    /// worker was frozen or starved) has been presumed dead and likely
    /// replaced: it steps down before acting on what queued up meanwhile, so
    /// that it neither puts stale sends on its socket nor relays to tabs that
    /// moved on. With Web Locks it queues again for the lock, which it gets
    /// back at once if no one else wants it.
    pub fn wake(&mut self, ctx: &mut Ctx<I, P>) {
        if !self.leading() {
            return;
        }
        let last_beat = self.next_beat_at.saturating_sub(self.timing.heartbeat_ms);
        if ctx.now < last_beat + self.timing.leader_timeout_ms {
            return;
        }
        self.step_down(
            ctx,
            format!("silent for {} ms: presumed replaced", ctx.now - last_beat),
        );
        if self.lock == LockState::Held {
            // Replacing the request gives the held lock back.
            self.request_lock(ctx, false);
        }
    }

    /// Called after every input. A leader busy with a flood of inputs may see
    /// its timer starved by them: any input that leaves a heartbeat overdue
    /// sends it, so followers do not take a busy leader for a dead one.
    pub fn after_input(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading() && self.going_away().is_none() && ctx.now >= self.next_beat_at {
            self.heartbeat(ctx);
        }
    }

    pub fn timeout(&mut self, ctx: &mut Ctx<I, P>) {
        if self.is_ended() {
            return;
        }
        let now = ctx.now;
        let expiry = self.timing.leader_timeout_ms;
        let before = self.peers.len();
        self.peers.retain(|_, peer| peer.heard_at + expiry >= now);
        // A worker outlives its page by moments, never by a whole timeout.
        self.departed.retain(|_, left_at| *left_at + expiry >= now);
        if self.peers.len() != before {
            self.log(ctx, "silent tabs expired".to_owned());
        }
        self.give_up_in_doubt(ctx);
        if let Some((info, until)) = self.going_away() {
            // Silent meanwhile: its socket is gone, and the hold is shorter
            // than the timeout.
            if now >= *until {
                let info = info.clone();
                self.socket_lost(ctx, info);
            }
            return;
        }
        if self.leading() {
            if self.run_reconnect_timers(ctx) || self.watch_page(ctx) {
                return;
            }
            if now >= self.next_beat_at {
                self.heartbeat(ctx);
            }
            self.check_idle(ctx);
            return;
        }
        if now >= self.next_beat_at {
            self.announce(ctx);
        }
        self.ping_own_page(ctx);
        if let Role::Candidate(candidacy) = self.role {
            if now >= candidacy.until {
                self.lead(ctx, candidacy.epoch, "claim stood");
            }
            return;
        }
        match self.backend {
            Backend::Lease => {
                if now >= self.lease_claim_at() {
                    self.claim(ctx);
                }
            }
            Backend::Locks => {
                if self.lock == LockState::Waiting && now >= self.steal_at() {
                    self.log(ctx, "leader silent: stealing the lock".to_owned());
                    self.last_steal_at = Some(now);
                    self.request_lock(ctx, true);
                }
            }
        }
    }

    fn epoch(&self) -> u64 {
        self.leader.as_ref().map_or(0, |(_, epoch)| *epoch)
    }

    /// This tab follows `tab`, whatever its epoch.
    fn follows(&self, tab: &str) -> bool {
        !self.leading() && self.leader.as_ref().is_some_and(|(id, _)| id == tab)
    }

    /// The leader this tab followed is gone: its instances reconnect, and
    /// with the lease it claims after `wait` ms if no one heartbeats first.
    fn lose_leader(&mut self, ctx: &mut Ctx<I, P>, wait: u64) {
        self.lose_connection(ctx);
        self.leader = None;
        self.claim_not_before = self.claim_not_before.max(ctx.now + wait);
        self.report(ctx);
    }

    fn is_leader(&self, tab: &str, epoch: u64) -> bool {
        matches!(&self.leader, Some((id, current)) if id == tab && *current == epoch)
    }

    /// This tab leads in place of that leadership. A leader's socket closing
    /// is final for all, yet the lock it then releases can reach the next in
    /// line before the message that says so: that message still counts.
    fn took_over_from(&self, tab: &str, epoch: u64) -> bool {
        matches!(&self.role, Role::Leader(Leading { superseded: Some((id, current)), .. })
            if id == tab && *current == epoch)
    }

    /// Tells this tab's followers, who may have come over from the
    /// superseded leader already, what that one said.
    fn broadcast_as_leader(&mut self, ctx: &mut Ctx<I, P>, body: Body<P>) {
        if self.leading() {
            self.broadcast(ctx, self.epoch(), body);
        }
    }

    fn hear(&mut self, now: u64, tab: &str, instances: Option<u32>) {
        let peer = self.peers.get_or_insert_with(tab.to_owned(), || Peer {
            instances: 0,
            heard_at: now,
        });
        peer.heard_at = now;
        if let Some(instances) = instances {
            peer.instances = instances;
        }
    }

    /// The scope ends in this tab: instances still here get `info` as their
    /// final close; the lock and the bus are let go.
    fn end(&mut self, ctx: &mut Ctx<I, P>, info: Option<CloseInfo>) {
        let final_close_of_socket = info.is_some();
        if let Some(info) = info {
            for joined in std::mem::take(&mut self.instances) {
                self.deliver(ctx, joined.id, final_close(info.clone()));
            }
        }
        self.instances.clear();
        self.outbox.clear();
        if let Some(socket) = self.take_socket() {
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code: None,
                reason: String::new(),
            });
        }
        if self.lock == LockState::Held && self.leading() && final_close_of_socket {
            // The socket's final close: followers must hear it before anyone
            // can take the lock. A lock grant can overtake bus messages, and a
            // follower granted the lock first would drop the last relayed
            // messages and reconnect everyone instead of closing. The tab
            // gives the lock back one heartbeat period later.
            self.release_lock_at = Some(ctx.now + self.timing.heartbeat_ms);
        } else if self.lock != LockState::None {
            ctx.out.push_back(Output::ReleaseLock {
                scope: self.name.clone(),
            });
        }
        self.lock = LockState::None;
        ctx.out.push_back(Output::CloseBus {
            scope: self.name.clone(),
        });
        self.role = Role::Ended;
    }

    fn broadcast(&mut self, ctx: &mut Ctx<I, P>, epoch: u64, body: Body<P>) {
        ctx.out.push_back(Output::Broadcast {
            scope: self.name.clone(),
            message: BusMessage::new(ctx.me.to_owned(), epoch, body),
        });
    }

    fn log(&self, ctx: &mut Ctx<I, P>, line: String) {
        if self.debug {
            ctx.out.push_back(Output::Log {
                scope: self.name.clone(),
                line,
            });
        }
    }
}

fn final_close<P>(info: CloseInfo) -> Event<P> {
    Event::Closed {
        info,
        reconnecting: false,
    }
}
