//! The tab: routes inputs to the scope they concern and collects outputs.

use std::collections::VecDeque;

use super::scope::{Ctx, Scope};
use super::{BusMessage, CloseInfo, JoinRequest, Map, Output, SocketId, TabId};

/// All the scopes of one tab. `I` names an instance, `P` is an opaque payload.
#[derive(Debug)]
pub struct Tab<I, P> {
    me: TabId,
    scopes: Map<String, Scope<I, P>>,
    instances: Map<I, String>,
    sockets: Map<SocketId, String>,
    /// Leader locks of ended scopes, kept until the given time.
    kept_locks: Vec<(u64, String)>,
    next_socket: u64,
    /// The number of the tab's next send, in any scope (see `Body::Out`).
    next_send: u64,
    /// The state of the tab's random generator (reconnect delays' jitter).
    random: u64,
    outputs: VecDeque<Output<I, P>>,
}

impl<I, P> Tab<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    /// A tab with no instances.
    pub fn new(me: TabId) -> Self {
        // Seeded by the tab's own id (random, chosen by the page), so that
        // tabs draw apart and a simulated tab draws the same every run: its
        // FNV-1a hash.
        let random = me.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        }) | 1;
        Tab {
            me,
            scopes: Map::new(),
            instances: Map::new(),
            sockets: Map::new(),
            kept_locks: Vec::new(),
            next_socket: 0,
            next_send: 1,
            random,
            outputs: VecDeque::new(),
        }
    }

    /// This tab's id.
    pub fn id(&self) -> &str {
        &self.me
    }

    /// The next thing to do, or `None` when everything is done.
    pub fn poll_output(&mut self) -> Option<Output<I, P>> {
        self.outputs.pop_front()
    }

    /// When [`Tab::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        let kept = self.kept_locks.iter().map(|(at, _)| *at);
        self.scopes
            .values()
            .filter_map(Scope::next_timeout)
            .chain(kept)
            .min()
    }

    /// How many instances the tab has.
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// How many scopes the tab takes part in.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// An instance joins the shared connection of `request.scope`. A second
    /// join of the same instance is ignored.
    pub fn handle_join(&mut self, now: u64, instance: I, request: JoinRequest) {
        if self.instances.contains_key(&instance) {
            return;
        }
        let name = request.scope.clone();
        if !self.scopes.contains_key(&name) {
            let Tab {
                me,
                scopes,
                outputs,
                next_socket,
                next_send,
                sockets,
                random,
                ..
            } = self;
            let mut ctx = Ctx {
                now,
                me,
                out: outputs,
                next_socket,
                next_send,
                sockets,
                random,
            };
            scopes.insert(name.clone(), Scope::new(&mut ctx, request));
        }
        self.instances.insert(instance, name.clone());
        self.with_scope(now, &name, |scope, ctx| scope.join(ctx, instance));
    }

    /// An instance's `send()`.
    pub fn handle_send(&mut self, now: u64, instance: I, payload: P) {
        self.with_instance(now, instance, |scope, ctx| {
            scope.send(ctx, instance, payload)
        });
    }

    /// An instance's `close(code, reason)`.
    pub fn handle_close(&mut self, now: u64, instance: I, code: Option<u16>, reason: String) {
        self.with_instance(now, instance, |scope, ctx| {
            scope.close(ctx, instance, code, reason)
        });
    }

    /// An instance's `forceLeader()`: its tab leads the scope now.
    pub fn handle_force_leader(&mut self, now: u64, instance: I) {
        self.with_instance(now, instance, |scope, ctx| scope.force_lead(ctx));
    }

    /// An instance's `relinquish()`: its tab, if it leads, lets another lead.
    pub fn handle_relinquish(&mut self, now: u64, instance: I) {
        self.with_instance(now, instance, |scope, ctx| scope.relinquish(ctx));
    }

    /// An instance's `reconnect(code, reason)`: its scope's connection
    /// closes and opens again at once.
    pub fn handle_reconnect(&mut self, now: u64, instance: I, code: Option<u16>, reason: String) {
        self.with_instance(now, instance, |scope, ctx| {
            scope.reconnect_now(ctx, code, reason)
        });
    }

    /// The page's answer to [`Output::Resolve`]: the URL and protocols to
    /// connect with, or why its provider failed.
    pub fn handle_resolved(
        &mut self,
        now: u64,
        instance: I,
        answer: Result<(String, Vec<String>), String>,
    ) {
        self.with_instance(now, instance, |scope, ctx| scope.resolved(ctx, answer));
    }

    /// The network came back (`online`): leaders waiting for their next
    /// reconnect attempt make it now.
    pub fn handle_online(&mut self, now: u64) {
        for name in self.scope_names() {
            self.with_scope(now, &name, |scope, ctx| scope.network_back(ctx));
        }
    }

    /// The wall clock jumped `jump_ms` ahead of the monotonic one (the
    /// machine slept): leaders check their sockets.
    pub fn handle_wall_clock_jump(&mut self, now: u64, jump_ms: u64) {
        for name in self.scope_names() {
            self.with_scope(now, &name, |scope, ctx| scope.slept(ctx, jump_ms));
        }
    }

    fn scope_names(&self) -> Vec<String> {
        self.scopes.keys().cloned().collect()
    }

    /// An instance is gone without closing (its bridge went away).
    pub fn handle_disconnect(&mut self, now: u64, instance: I) {
        self.with_instance(now, instance, |scope, ctx| scope.disconnect(ctx, instance));
    }

    /// The scope an instance is in.
    pub fn scope_of(&self, instance: I) -> Option<&str> {
        self.instances.get(&instance).map(String::as_str)
    }

    /// The scope a socket belongs to.
    pub fn socket_scope(&self, socket: SocketId) -> Option<&str> {
        self.sockets.get(&socket).map(String::as_str)
    }

    /// A socket's handshake completed.
    pub fn handle_socket_open(
        &mut self,
        now: u64,
        socket: SocketId,
        protocol: String,
        extensions: String,
    ) {
        self.with_socket(now, socket, |scope, ctx| {
            scope.socket_open(ctx, socket, protocol, extensions)
        });
    }

    /// A message arrived on a socket.
    pub fn handle_socket_message(&mut self, now: u64, socket: SocketId, payload: P) {
        self.with_socket(now, socket, |scope, ctx| {
            scope.socket_message(ctx, socket, payload)
        });
    }

    /// A socket failed; its close follows.
    pub fn handle_socket_error(&mut self, now: u64, socket: SocketId) {
        self.with_socket(now, socket, |scope, ctx| scope.socket_error(ctx, socket));
    }

    /// A socket closed.
    pub fn handle_socket_closed(&mut self, now: u64, socket: SocketId, info: CloseInfo) {
        self.with_socket(now, socket, |scope, ctx| {
            scope.socket_closed(ctx, socket, info)
        });
        self.sockets.remove(&socket);
    }

    /// A message arrived on a scope's bus channel.
    pub fn handle_bus(&mut self, now: u64, scope: &str, message: BusMessage<P>) {
        self.with_scope(now, scope, |scope, ctx| scope.bus(ctx, message));
    }

    /// The scope's leader lock was granted. A grant for a scope this tab has
    /// left is given back at once.
    pub fn handle_lock_acquired(&mut self, now: u64, scope: &str) {
        if !self.scopes.contains_key(scope) {
            self.outputs.push_back(Output::ReleaseLock {
                scope: scope.to_owned(),
            });
            return;
        }
        self.with_scope(now, scope, |scope, ctx| scope.lock_acquired(ctx));
    }

    /// The scope's leader lock was taken from this tab.
    pub fn handle_lock_lost(&mut self, now: u64, scope: &str) {
        self.with_scope(now, scope, |scope, ctx| scope.lock_lost(ctx));
    }

    /// The page answered a ping of the scope of `instance`.
    pub fn handle_page_answer(&mut self, now: u64, instance: I) {
        self.with_instance(now, instance, |scope, ctx| scope.page_answered(ctx));
    }

    /// Time passed: heartbeats, timeouts, the grace period.
    pub fn handle_timeout(&mut self, now: u64) {
        let (due, kept): (Vec<_>, Vec<_>) =
            self.kept_locks.drain(..).partition(|(at, _)| *at <= now);
        self.kept_locks = kept;
        for (_, name) in due {
            // A scope of that name joined since holds its own lock request.
            if !self.scopes.contains_key(&name) {
                self.outputs.push_back(Output::ReleaseLock { scope: name });
            }
        }
        let names: Vec<String> = self.scopes.keys().cloned().collect();
        for name in names {
            self.with_scope(now, &name, |scope, ctx| scope.timeout(ctx));
        }
    }

    fn with_instance(
        &mut self,
        now: u64,
        instance: I,
        step: impl FnOnce(&mut Scope<I, P>, &mut Ctx<I, P>),
    ) {
        if let Some(name) = self.instances.get(&instance).cloned() {
            self.with_scope(now, &name, step);
        }
    }

    fn with_socket(
        &mut self,
        now: u64,
        socket: SocketId,
        step: impl FnOnce(&mut Scope<I, P>, &mut Ctx<I, P>),
    ) {
        if let Some(name) = self.sockets.get(&socket).cloned() {
            self.with_scope(now, &name, step);
        }
    }

    fn with_scope(
        &mut self,
        now: u64,
        name: &str,
        step: impl FnOnce(&mut Scope<I, P>, &mut Ctx<I, P>),
    ) {
        let Tab {
            me,
            scopes,
            outputs,
            next_socket,
            next_send,
            sockets,
            instances,
            kept_locks,
            random,
        } = self;
        let Some(scope) = scopes.get_mut(name) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            me,
            out: outputs,
            next_socket,
            next_send,
            sockets,
            random,
        };
        scope.wake(&mut ctx);
        step(scope, &mut ctx);
        scope.after_input(&mut ctx);
        if scope.is_ended() {
            if let Some(at) = scope.release_lock_at() {
                kept_locks.push((at, name.to_owned()));
            }
            scopes.remove(name);
            instances.retain(|_, scope| scope != name);
        } else {
            // Instances can get their final close from any input (a leader
            // stepping down, say), not only from their own calls.
            instances.retain(|id, name_of| name_of != name || scope.has_instance(*id));
        }
    }
}
