//! One scope as one tab sees it: the tab's instances of the scope, the
//! election (who holds the socket), and the relay between socket, bus and
//! instances.
//!
//! Rules, in short:
//! - Exactly one tab leads: with Web Locks, the holder of the scope's lock;
//!   with the lease, the claimant no better claim or live leader contested.
//!   Leaderships are ordered by epoch (wall-clock based, so a later one is
//!   always larger), ties broken by the lower tab id; traffic of any other
//!   leadership than the accepted one is dropped.
//! - The leader heartbeats; followers report their instance counts. A leader
//!   silent past the timeout is replaced (Web Locks: a staggered, rate-limited
//!   steal; lease: a claim). A superseded leader closes its socket at once.
//! - A leader change is a reconnect for the instances: `Closed` with
//!   `reconnecting`, then `Open` when the new socket is. The socket's own
//!   close or failure is final for every instance of every tab.
//! - The socket closes when the last instance anywhere closes (after the
//!   grace period); a leader tab without instances keeps relaying for others.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::marker::PhantomData;

use super::{
    Backend, Body, BusMessage, CloseInfo, Event, JoinRequest, Leadership, Output, SharedState,
    SocketId, TabId, Timing, PROTOCOL_VERSION,
};

/// What a scope needs from its tab while handling an input.
pub(crate) struct Ctx<'a, I, P> {
    pub now: u64,
    pub me: &'a str,
    pub out: &'a mut VecDeque<Output<I, P>>,
    pub next_socket: &'a mut u64,
    pub sockets: &'a mut HashMap<SocketId, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberState {
    Connecting,
    Open,
    /// Called `close()` as the last instance anywhere: waits for the socket's real close.
    Leaving,
}

#[derive(Debug)]
struct Member<I> {
    id: I,
    state: MemberState,
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
    members: Vec<Member<I>>,
    /// The accepted leader, this tab included when it leads.
    leader: Option<(TabId, u64)>,
    leading: bool,
    /// The highest epoch seen on the bus or held.
    max_epoch: u64,
    /// The shared connection's state as this tab knows it.
    shared: Option<SharedState>,
    leader_heard_at: u64,
    /// Other tabs heard on the bus, with their live instance counts.
    peers: BTreeMap<TabId, Peer>,
    /// Tabs in the scope, as the leader last reported.
    leader_tabs: u32,
    lock: LockState,
    next_beat_at: u64,
    last_steal_at: Option<u64>,
    candidacy: Option<Candidacy>,
    /// The leader followed when this tab took over, while it leads.
    superseded: Option<(TabId, u64)>,
    /// Lease: the earliest time this tab may claim while no leader is known.
    claim_not_before: u64,
    socket: Option<SocketId>,
    /// Code and reason of the last `close()`, for the socket's close.
    last_close: Option<(Option<u16>, String)>,
    idle_since: Option<u64>,
    /// Set when the scope ended holding the lock it must keep a little longer.
    release_lock_at: Option<u64>,
    zombie: bool,
    reported: Option<Leadership>,
    ended: bool,
    _payload: PhantomData<P>,
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
            members: Vec::new(),
            leader: None,
            leading: false,
            max_epoch: 0,
            shared: None,
            leader_heard_at: ctx.now,
            peers: BTreeMap::new(),
            leader_tabs: 0,
            lock: LockState::None,
            next_beat_at: ctx.now,
            last_steal_at: None,
            candidacy: None,
            superseded: None,
            claim_not_before: ctx.now + request.timing.discovery_ms,
            socket: None,
            last_close: None,
            idle_since: None,
            release_lock_at: None,
            zombie: false,
            reported: None,
            ended: false,
            _payload: PhantomData,
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
        self.ended
    }

    /// When an ended scope's tab gives its leader lock back, if it kept it
    /// past the end (see `end`).
    pub fn release_lock_at(&self) -> Option<u64> {
        self.release_lock_at
    }

    pub fn has_member(&self, instance: I) -> bool {
        self.members.iter().any(|member| member.id == instance)
    }

    /// The next time [`Scope::timeout`] has work to do.
    pub fn next_timeout(&self) -> Option<u64> {
        if self.ended {
            return None;
        }
        let mut next = self.next_beat_at;
        // Silent tabs expire on time: heartbeats the leader sends early (on
        // every presence) keep pushing `next_beat_at` back, and a dead tab
        // would otherwise count as interest forever.
        let expiry = self.timing.leader_timeout_ms + 1;
        if let Some(first) = self.peers.values().map(|peer| peer.heard_at + expiry).min() {
            next = next.min(first);
        }
        if self.leading {
            if let Some(since) = self.idle_since {
                next = next.min(since + self.grace_ms);
            }
            return Some(next);
        }
        if let Some(candidacy) = self.candidacy {
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
        if !self.leading || self.ended {
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
        if self.leading && !self.ended && ctx.now >= self.next_beat_at {
            self.heartbeat(ctx);
        }
    }

    // ---- instances ----

    pub fn join(&mut self, ctx: &mut Ctx<I, P>, instance: I) {
        self.idle_since = None;
        let open = match (&self.leader, &self.shared) {
            (
                Some(_),
                Some(SharedState::Open {
                    protocol,
                    extensions,
                }),
            ) => Some(Event::Open {
                protocol: protocol.clone(),
                extensions: extensions.clone(),
            }),
            _ => None,
        };
        let state = match open {
            Some(_) => MemberState::Open,
            None => MemberState::Connecting,
        };
        self.members.push(Member {
            id: instance,
            state,
        });
        // Who leads first, so the instance's status is right when it opens.
        // If that changed since the last report (the tab count may have, with
        // this instance), everyone hears of it: the last report must stay
        // what every instance knows, or a later change back goes unreported.
        let leadership = self.leadership();
        if self.reported.as_ref() == Some(&leadership) {
            self.deliver(ctx, instance, Event::Leadership(leadership));
        } else {
            self.report(ctx);
        }
        if let Some(event) = open {
            self.deliver(ctx, instance, event);
        }
        if !self.leading {
            self.announce(ctx);
        }
    }

    pub fn send(&mut self, ctx: &mut Ctx<I, P>, instance: I, payload: P) {
        let open = self
            .members
            .iter()
            .any(|member| member.id == instance && member.state == MemberState::Open);
        if !open {
            // The facade refuses sends before open; this one raced a close or
            // a leader change, whose event the instance is about to get.
            return;
        }
        if self.leading {
            if let (Some(socket), false) = (self.socket, self.zombie) {
                ctx.out.push_back(Output::Transmit { socket, payload });
            }
        } else if let Some((leader, epoch)) = self.leader.clone() {
            self.broadcast(ctx, epoch, Body::Out { leader, payload });
        }
        ctx.out.push_back(Output::Ack { to: instance });
    }

    pub fn close(&mut self, ctx: &mut Ctx<I, P>, instance: I, code: Option<u16>, reason: String) {
        let Some(index) = self
            .members
            .iter()
            .position(|member| member.id == instance && member.state != MemberState::Leaving)
        else {
            return;
        };
        self.last_close = Some((code, reason.clone()));
        let last_anywhere =
            self.leading && self.live_members() == 1 && self.interest_elsewhere() == 0;
        if let (true, 0, Some(socket)) = (last_anywhere, self.grace_ms, self.socket) {
            // The socket closes with this instance, which gets its real close.
            self.members[index].state = MemberState::Leaving;
            self.log(
                ctx,
                "last instance anywhere closed: closing the socket".to_owned(),
            );
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code,
                reason,
            });
            return;
        }
        let member = self.members.remove(index);
        if member.state == MemberState::Connecting {
            // A native socket closed while connecting fails: error, then 1006.
            self.deliver(ctx, instance, Event::Error);
            self.deliver(ctx, instance, final_close(CloseInfo::abnormal()));
        } else {
            let info = CloseInfo {
                code: code.unwrap_or(1005),
                reason,
                was_clean: true,
            };
            self.deliver(ctx, instance, final_close(info));
        }
        self.after_local_change(ctx);
    }

    pub fn disconnect(&mut self, ctx: &mut Ctx<I, P>, instance: I) {
        let before = self.members.len();
        self.members.retain(|member| member.id != instance);
        if self.members.len() != before {
            self.after_local_change(ctx);
        }
    }

    /// Test switch: stop heartbeating and relaying, keep the lock and socket.
    pub fn become_zombie(&mut self, ctx: &mut Ctx<I, P>) {
        self.zombie = true;
        self.log(
            ctx,
            "test switch: zombie (silent, keeps the lock)".to_owned(),
        );
    }

    // ---- the leader's socket ----

    pub fn socket_open(
        &mut self,
        ctx: &mut Ctx<I, P>,
        socket: SocketId,
        protocol: String,
        extensions: String,
    ) {
        if self.socket != Some(socket) {
            return;
        }
        self.apply_shared(
            ctx,
            SharedState::Open {
                protocol,
                extensions,
            },
        );
        self.heartbeat(ctx);
    }

    pub fn socket_message(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, payload: P) {
        if self.socket != Some(socket) {
            return;
        }
        self.deliver_open(ctx, &payload);
        if !self.peers.is_empty() {
            self.broadcast(ctx, self.epoch(), Body::In(payload));
        }
    }

    pub fn socket_error(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId) {
        if self.socket != Some(socket) {
            return;
        }
        self.deliver_all(ctx, Event::Error);
        self.broadcast(ctx, self.epoch(), Body::Error);
    }

    pub fn socket_closed(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, info: CloseInfo) {
        if self.socket != Some(socket) {
            return;
        }
        self.log(
            ctx,
            format!(
                "socket closed ({} {:?}): final for all",
                info.code, info.reason
            ),
        );
        self.broadcast(ctx, self.epoch(), Body::Closed(info.clone()));
        self.socket = None;
        self.end(ctx, Some(info));
    }

    // ---- the bus ----

    pub fn bus(&mut self, ctx: &mut Ctx<I, P>, message: BusMessage<P>) {
        if message.v != PROTOCOL_VERSION || message.from == ctx.me {
            return;
        }
        let BusMessage {
            from, epoch, body, ..
        } = message;
        if matches!(body, Body::Heartbeat { .. } | Body::Claim) {
            self.max_epoch = self.max_epoch.max(epoch);
        }
        match body {
            Body::Hello => {
                self.hear(ctx.now, &from, None);
                if self.leading {
                    self.heartbeat(ctx);
                }
            }
            Body::Presence { instances, close } => {
                if !self.leading && self.leader.as_ref().is_some_and(|(id, _)| *id == from) {
                    // The leader this tab follows reports as a follower: it
                    // stepped down. Follow whoever heartbeats next, whatever
                    // its epoch; claim only if no one does.
                    self.log(ctx, format!("{from} stepped down"));
                    self.lose_connection(ctx);
                    self.leader = None;
                    self.claim_not_before = self
                        .claim_not_before
                        .max(ctx.now + self.timing.discovery_ms);
                    self.report(ctx);
                }
                let tabs_before = self.tab_count();
                if instances == 0 {
                    self.peers.remove(&from);
                    if close.is_some() {
                        self.last_close = close;
                    }
                } else {
                    self.hear(ctx.now, &from, Some(instances));
                }
                if self.leading {
                    // Only news is worth a heartbeat: one per presence would
                    // cost every tab a message per follower per period.
                    if self.tab_count() != tabs_before {
                        self.heartbeat(ctx);
                    }
                    self.check_idle(ctx);
                }
            }
            Body::Heartbeat { state, tabs } => self.heard_leader(ctx, from, epoch, state, tabs),
            Body::Claim => self.heard_claim(ctx, &from, epoch),
            Body::Out { leader, payload } => {
                self.hear(ctx.now, &from, None);
                if let (true, false, Some(socket)) = (
                    self.leading && epoch == self.epoch() && leader == ctx.me,
                    self.zombie,
                    self.socket,
                ) {
                    ctx.out.push_back(Output::Transmit { socket, payload });
                }
            }
            Body::In(payload) => {
                if self.is_leader(&from, epoch) {
                    // Relayed traffic proves the leader alive as well as a
                    // heartbeat does, and may queue ahead of it under load.
                    self.leader_heard_at = ctx.now;
                    self.deliver_open(ctx, &payload);
                }
            }
            Body::Error => {
                if self.is_leader(&from, epoch) || self.took_over_from(&from, epoch) {
                    self.broadcast_as_leader(ctx, Body::Error);
                    self.deliver_all(ctx, Event::Error);
                }
            }
            Body::Closed(info) => {
                if self.is_leader(&from, epoch) || self.took_over_from(&from, epoch) {
                    self.log(
                        ctx,
                        format!("leader's socket closed ({}): final for all", info.code),
                    );
                    self.broadcast_as_leader(ctx, Body::Closed(info.clone()));
                    self.end(ctx, Some(info));
                }
            }
        }
    }

    fn heard_leader(
        &mut self,
        ctx: &mut Ctx<I, P>,
        from: TabId,
        epoch: u64,
        state: SharedState,
        tabs: u32,
    ) {
        if self.leading {
            if !outranks((epoch, &from), (self.epoch(), ctx.me)) {
                // A lesser leader: tell it who leads, so it steps down.
                self.heartbeat(ctx);
                return;
            }
            if self.lock == LockState::Held {
                // With Web Locks the lock decides, not the epoch: that tab
                // led on a grant it has lost since (it was frozen, say) and
                // steps down when it hears so. Followers it misled come back
                // when it reports its presence.
                return;
            }
            self.step_down(ctx, format!("outranked by {from} (epoch {epoch})"));
        }
        // A leader silent past the timeout is presumed dead: any live leader
        // replaces it, even a lesser one (say, the other side of a healed
        // split, or the later of two locks taken in the same millisecond).
        // Otherwise a follower would wait for a dead leader forever.
        let accept = match &self.leader {
            None => true,
            Some((id, current)) => {
                *id == from && *current == epoch
                    || outranks((epoch, &from), (*current, id))
                    || ctx.now >= self.leader_deadline()
            }
        };
        if !accept {
            // Not a leader this tab would follow: a claim stands regardless.
            return;
        }
        if self.candidacy.take().is_some() {
            self.log(ctx, format!("withdrew claim: {from} leads"));
        }
        if self.leader.as_ref() != Some(&(from.clone(), epoch)) {
            self.follow(ctx, from, epoch);
        }
        self.leader_heard_at = ctx.now;
        self.leader_tabs = tabs;
        // Who leads first, so instances' status is right when they open.
        self.report(ctx);
        self.apply_shared(ctx, state);
    }

    fn heard_claim(&mut self, ctx: &mut Ctx<I, P>, from: &str, epoch: u64) {
        if self.leading {
            // A live leader answers a claim; the claimant withdraws.
            self.heartbeat(ctx);
        } else if let Some(candidacy) = self.candidacy {
            if outranks((epoch, from), (candidacy.epoch, ctx.me)) {
                self.candidacy = None;
                // Give the better claimant time to lead and heartbeat.
                self.claim_not_before = ctx.now + self.timing.leader_timeout_ms;
                self.log(ctx, format!("withdrew claim: {from} claims epoch {epoch}"));
            }
        } else {
            // Let a pending claim stand rather than claim over it: a later
            // claim outranks it, and tabs whose timeouts fall a little apart
            // would depose one another's claims in turn, forever.
            let stands_by = ctx.now + self.timing.claim_window_ms + self.timing.discovery_ms;
            self.claim_not_before = self.claim_not_before.max(stands_by);
        }
    }

    // ---- the lock ----

    pub fn lock_acquired(&mut self, ctx: &mut Ctx<I, P>) {
        if !matches!(self.lock, LockState::Waiting | LockState::Stealing) {
            return;
        }
        self.lock = LockState::Held;
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.lead(ctx, epoch, "acquired the lock");
    }

    pub fn lock_lost(&mut self, ctx: &mut Ctx<I, P>) {
        if self.lock != LockState::Held {
            return;
        }
        self.lock = LockState::None;
        if self.leading {
            self.step_down(ctx, "the lock was taken".to_owned());
        }
        if !self.ended {
            self.request_lock(ctx, false);
        }
    }

    // ---- time ----

    pub fn timeout(&mut self, ctx: &mut Ctx<I, P>) {
        if self.ended {
            return;
        }
        let now = ctx.now;
        let expiry = self.timing.leader_timeout_ms;
        let before = self.peers.len();
        self.peers.retain(|_, peer| peer.heard_at + expiry >= now);
        if self.peers.len() != before {
            self.log(ctx, "silent tabs expired".to_owned());
        }
        if self.leading {
            if now >= self.next_beat_at {
                self.heartbeat(ctx);
            }
            self.check_idle(ctx);
            return;
        }
        if now >= self.next_beat_at {
            self.announce(ctx);
        }
        if let Some(candidacy) = self.candidacy {
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

    // ---- internals ----

    fn epoch(&self) -> u64 {
        self.leader.as_ref().map_or(0, |(_, epoch)| *epoch)
    }

    fn is_leader(&self, tab: &str, epoch: u64) -> bool {
        matches!(&self.leader, Some((id, current)) if id == tab && *current == epoch)
    }

    /// This tab leads in place of that leadership. A leader's socket closing
    /// is final for all, yet the lock it then releases can reach the next in
    /// line before the message that says so: that message still counts.
    fn took_over_from(&self, tab: &str, epoch: u64) -> bool {
        self.leading
            && matches!(&self.superseded, Some((id, current)) if id == tab && *current == epoch)
    }

    /// Tells this tab's followers, who may have come over from the
    /// superseded leader already, what that one said.
    fn broadcast_as_leader(&mut self, ctx: &mut Ctx<I, P>, body: Body<P>) {
        if self.leading {
            self.broadcast(ctx, self.epoch(), body);
        }
    }

    fn live_members(&self) -> usize {
        self.members
            .iter()
            .filter(|member| member.state != MemberState::Leaving)
            .count()
    }

    fn interest_elsewhere(&self) -> u32 {
        self.peers.values().map(|peer| peer.instances).sum()
    }

    fn leader_deadline(&self) -> u64 {
        self.leader_heard_at + self.timing.leader_timeout_ms
    }

    /// Lease: when this follower claims. Never before `claim_not_before`
    /// (after a withdrawn claim, the better claimant gets time to lead), and
    /// while a leader is known, not before it has been silent past the timeout.
    fn lease_claim_at(&self) -> u64 {
        match self.leader {
            Some(_) => self.claim_not_before.max(self.leader_deadline()),
            None => self.claim_not_before,
        }
    }

    /// When this follower steals a silent leader's lock: after the timeout,
    /// staggered by its rank among the followers, at most once per timeout.
    fn steal_at(&self) -> u64 {
        let leader = self.leader.as_ref().map(|(id, _)| id.as_str());
        let rank = self
            .peers
            .keys()
            .filter(|id| Some(id.as_str()) != leader && self.is_ranked_before(id))
            .count() as u64;
        let at = self.leader_deadline() + rank * self.timing.steal_stagger_ms;
        match self.last_steal_at {
            Some(last) => at.max(last + self.timing.leader_timeout_ms),
            None => at,
        }
    }

    fn is_ranked_before(&self, id: &str) -> bool {
        id < self.me.as_str()
    }

    fn hear(&mut self, now: u64, tab: &str, instances: Option<u32>) {
        let peer = self.peers.entry(tab.to_owned()).or_insert(Peer {
            instances: 0,
            heard_at: now,
        });
        peer.heard_at = now;
        if let Some(instances) = instances {
            peer.instances = instances;
        }
    }

    fn request_lock(&mut self, ctx: &mut Ctx<I, P>, steal: bool) {
        self.lock = if steal {
            LockState::Stealing
        } else {
            LockState::Waiting
        };
        ctx.out.push_back(Output::RequestLock {
            scope: self.name.clone(),
            steal,
        });
    }

    fn claim(&mut self, ctx: &mut Ctx<I, P>) {
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.max_epoch = epoch;
        self.candidacy = Some(Candidacy {
            epoch,
            until: ctx.now + self.timing.claim_window_ms,
        });
        self.log(ctx, format!("no leader: claiming epoch {epoch}"));
        self.broadcast(ctx, epoch, Body::Claim);
    }

    /// This tab leads from now on, with `epoch`: it opens the socket.
    fn lead(&mut self, ctx: &mut Ctx<I, P>, epoch: u64, why: &str) {
        self.candidacy = None;
        self.lose_connection(ctx);
        self.superseded = self.leader.take();
        self.leading = true;
        self.leader = Some((ctx.me.to_owned(), epoch));
        self.max_epoch = self.max_epoch.max(epoch);
        self.shared = Some(SharedState::Connecting);
        let socket = SocketId(*ctx.next_socket);
        *ctx.next_socket += 1;
        ctx.sockets.insert(socket, self.name.clone());
        self.socket = Some(socket);
        self.log(ctx, format!("leads with epoch {epoch} ({why})"));
        self.report(ctx);
        ctx.out.push_back(Output::OpenSocket {
            socket,
            url: self.url.clone(),
            protocols: self.protocols.clone(),
        });
        self.heartbeat(ctx);
    }

    /// This tab stops leading: its socket closes (fencing) and its instances
    /// reconnect through whoever leads next.
    fn step_down(&mut self, ctx: &mut Ctx<I, P>, why: String) {
        self.log(ctx, format!("steps down: {why}"));
        self.leading = false;
        if let Some(socket) = self.socket.take() {
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code: None,
                reason: String::new(),
            });
        }
        self.lose_connection(ctx);
        // A last instance waiting for the socket's real close will not get it
        // from a socket this tab has let go of: it gets the close it asked for.
        let (code, reason) = self.last_close.clone().unwrap_or((None, String::new()));
        let info = CloseInfo {
            code: code.unwrap_or(1005),
            reason,
            was_clean: true,
        };
        for member in std::mem::take(&mut self.members) {
            if member.state == MemberState::Leaving {
                self.deliver(ctx, member.id, final_close(info.clone()));
            } else {
                self.members.push(member);
            }
        }
        self.leader = None;
        self.leader_heard_at = ctx.now;
        self.claim_not_before = ctx.now + self.timing.leader_timeout_ms;
        self.next_beat_at = ctx.now;
        self.report(ctx);
    }

    fn follow(&mut self, ctx: &mut Ctx<I, P>, leader: TabId, epoch: u64) {
        self.log(ctx, format!("follows {leader} (epoch {epoch})"));
        self.lose_connection(ctx);
        self.leader = Some((leader, epoch));
    }

    /// The connection through the previous leader is gone: open instances
    /// see a reconnect.
    fn lose_connection(&mut self, ctx: &mut Ctx<I, P>) {
        self.shared = None;
        let reconnect = Event::Closed {
            info: CloseInfo::abnormal(),
            reconnecting: true,
        };
        for index in 0..self.members.len() {
            if self.members[index].state == MemberState::Open {
                self.members[index].state = MemberState::Connecting;
                let to = self.members[index].id;
                self.deliver(ctx, to, reconnect.clone());
            }
        }
    }

    fn apply_shared(&mut self, ctx: &mut Ctx<I, P>, state: SharedState) {
        if let SharedState::Open {
            protocol,
            extensions,
        } = &state
        {
            for index in 0..self.members.len() {
                if self.members[index].state == MemberState::Connecting {
                    self.members[index].state = MemberState::Open;
                    let event = Event::Open {
                        protocol: protocol.clone(),
                        extensions: extensions.clone(),
                    };
                    let to = self.members[index].id;
                    self.deliver(ctx, to, event);
                }
            }
        }
        self.shared = Some(state);
    }

    fn heartbeat(&mut self, ctx: &mut Ctx<I, P>) {
        self.next_beat_at = ctx.now + self.timing.heartbeat_ms;
        let state = self.shared.clone().unwrap_or(SharedState::Connecting);
        let tabs = self.tab_count();
        self.broadcast(ctx, self.epoch(), Body::Heartbeat { state, tabs });
        self.report(ctx);
    }

    /// A follower's presence: its live instance count.
    fn announce(&mut self, ctx: &mut Ctx<I, P>) {
        self.next_beat_at = ctx.now + self.timing.heartbeat_ms;
        let instances = self.live_members() as u32;
        let close = if instances == 0 {
            self.last_close.clone()
        } else {
            None
        };
        self.broadcast(ctx, self.epoch(), Body::Presence { instances, close });
        if instances == 0 && !self.members.iter().any(|m| m.state == MemberState::Leaving) {
            self.leave(ctx);
        }
    }

    fn after_local_change(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading {
            self.check_idle(ctx);
        } else {
            self.announce(ctx);
        }
    }

    /// A leader with no instance anywhere closes the socket after the grace period.
    fn check_idle(&mut self, ctx: &mut Ctx<I, P>) {
        if !self.leading || self.members.iter().any(|m| m.state == MemberState::Leaving) {
            return;
        }
        if !self.members.is_empty() || self.interest_elsewhere() > 0 {
            self.idle_since = None;
            return;
        }
        let since = *self.idle_since.get_or_insert(ctx.now);
        if ctx.now >= since + self.grace_ms {
            self.log(
                ctx,
                "no instance left anywhere: closing the socket".to_owned(),
            );
            if let Some(socket) = self.socket.take() {
                let (code, reason) = self.last_close.clone().unwrap_or((None, String::new()));
                ctx.out.push_back(Output::CloseSocket {
                    socket,
                    code,
                    reason,
                });
            }
            self.end(ctx, None);
        }
    }

    /// A follower without instances leaves the scope.
    fn leave(&mut self, ctx: &mut Ctx<I, P>) {
        self.log(ctx, "no instance left in this tab: leaving".to_owned());
        self.end(ctx, None);
    }

    /// The scope ends in this tab: instances still here get `info` as their
    /// final close; the lock and the bus are let go.
    fn end(&mut self, ctx: &mut Ctx<I, P>, info: Option<CloseInfo>) {
        let final_close_of_socket = info.is_some();
        if let Some(info) = info {
            for member in std::mem::take(&mut self.members) {
                self.deliver(ctx, member.id, final_close(info.clone()));
            }
        }
        self.members.clear();
        if let Some(socket) = self.socket.take() {
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code: None,
                reason: String::new(),
            });
        }
        if self.lock == LockState::Held && self.leading && final_close_of_socket {
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
        self.leading = false;
        self.ended = true;
    }

    fn tab_count(&self) -> u32 {
        let followers = self
            .peers
            .values()
            .filter(|peer| peer.instances > 0)
            .count() as u32;
        followers + u32::from(!self.members.is_empty())
    }

    fn leadership(&self) -> Leadership {
        Leadership {
            leader_id: self.leader.as_ref().map(|(id, _)| id.clone()),
            epoch: self.epoch(),
            backend: self.backend,
            tabs: if self.leading {
                self.tab_count().max(1)
            } else {
                self.leader_tabs
            },
        }
    }

    /// Tells every instance when who leads (or how many tabs) changed.
    fn report(&mut self, ctx: &mut Ctx<I, P>) {
        let leadership = self.leadership();
        if self.reported.as_ref() == Some(&leadership) {
            return;
        }
        self.reported = Some(leadership.clone());
        self.deliver_all(ctx, Event::Leadership(leadership));
    }

    fn broadcast(&mut self, ctx: &mut Ctx<I, P>, epoch: u64, body: Body<P>) {
        if self.zombie {
            return;
        }
        ctx.out.push_back(Output::Broadcast {
            scope: self.name.clone(),
            message: BusMessage::new(ctx.me.to_owned(), epoch, body),
        });
    }

    fn deliver(&self, ctx: &mut Ctx<I, P>, to: I, event: Event<P>) {
        ctx.out.push_back(Output::Deliver { to, event });
    }

    fn deliver_all(&self, ctx: &mut Ctx<I, P>, event: Event<P>) {
        for member in &self.members {
            self.deliver(ctx, member.id, event.clone());
        }
    }

    fn deliver_open(&self, ctx: &mut Ctx<I, P>, payload: &P) {
        for member in &self.members {
            if member.state == MemberState::Open {
                self.deliver(ctx, member.id, Event::Message(payload.clone()));
            }
        }
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
