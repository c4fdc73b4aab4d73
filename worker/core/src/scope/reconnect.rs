//! The scope's reconnect loop (option `reconnect`): one per scope, run by its
//! leader for every tab.
//!
//! - A leader whose socket is lost (not closed for the application, not with
//!   a final code, see `ReconnectPolicy::is_final`) opens a new one after a
//!   delay: a random time up to the policy's bound for that attempt (full
//!   jitter, so that scopes of many browsers do not retry in step).
//! - Each socket is a leadership of its own: the leader refuses the sends it
//!   did not hand to the lost socket and leads again with a new epoch, so no
//!   send meant for the lost socket reaches the next one, and the refused
//!   ones go again in order (see `outbox`). Every instance sees what a leader
//!   change shows: `close` 1006, `CONNECTING`, then `open`.
//! - Heartbeats carry the loop's progress (`Retry`): a tab that takes over
//!   during an outage goes on with the same count and the same next attempt.
//! - An attempt not open within the connection timeout fails; a connection
//!   open for the minimum uptime sets the count back to zero; after
//!   `max_retries` failed attempts in a row the close is final for all.

use super::*;

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    /// The leader's socket closed, or an attempt timed out: the loop goes
    /// on, or the close is final for all.
    pub(super) fn socket_lost(&mut self, ctx: &mut Ctx<I, P>, info: CloseInfo) {
        let Some(policy) = self.reconnect.clone() else {
            self.close_for_all(ctx, info);
            return;
        };
        let asked = self
            .instances
            .iter()
            .any(|joined| joined.state == InstanceState::Leaving);
        if asked || policy.is_final(info.code) || self.retry.count >= policy.max_retries {
            if !info.was_clean {
                // A failed connection errors before it closes, as natively.
                self.deliver_all(ctx, Event::Error);
                self.broadcast(ctx, self.epoch(), Body::Error);
            }
            self.close_for_all(ctx, info);
            return;
        }
        self.retry.count += 1;
        let bound = policy.delay_bound_ms(self.retry.count);
        self.retry.at = ctx.now + random(ctx) % (bound + 1);
        self.log(
            ctx,
            format!(
                "socket lost ({}): attempt {} in {} ms",
                info.code,
                self.retry.count,
                self.retry.at - ctx.now
            ),
        );
        let handed = match &mut self.role {
            Role::Leader(leading) => std::mem::take(&mut leading.handed),
            _ => HashMap::new(),
        };
        self.refuse(ctx, self.epoch(), handed);
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.lead(ctx, epoch, "reconnecting");
    }

    /// Opens the leader's socket now, or leaves it to the loop's timer if
    /// the next attempt is not due yet.
    pub(super) fn attempt(&mut self, ctx: &mut Ctx<I, P>) {
        let connect_by = match &self.reconnect {
            Some(_) if self.retry.at > ctx.now => return,
            Some(policy) => Some(ctx.now + policy.connection_timeout_ms),
            None => None,
        };
        let socket = SocketId(*ctx.next_socket);
        *ctx.next_socket += 1;
        ctx.sockets.insert(socket, self.name.clone());
        if let Role::Leader(leading) = &mut self.role {
            leading.socket = Some(socket);
            leading.connect_by = connect_by;
        }
        ctx.out.push_back(Output::OpenSocket {
            socket,
            url: self.url.clone(),
            protocols: self.protocols.clone(),
        });
    }

    /// The leader's socket opened: the count goes back to zero once the
    /// connection has stayed open the minimum uptime.
    pub(super) fn connected(&mut self, ctx: &mut Ctx<I, P>) {
        let uptime = self.reconnect.as_ref().map(|policy| policy.min_uptime_ms);
        if let (Role::Leader(leading), Some(uptime)) = (&mut self.role, uptime) {
            leading.connect_by = None;
            leading.reset_retries_at = Some(ctx.now + uptime);
        }
    }

    /// When the leader's loop has something to do: an attempt due, an
    /// attempt timing out, or the count to set back to zero.
    pub(super) fn reconnect_timer(&self) -> Option<u64> {
        let Role::Leader(leading) = &self.role else {
            return None;
        };
        let due = (leading.socket.is_none() && self.reconnect.is_some()).then_some(self.retry.at);
        [due, leading.connect_by, leading.reset_retries_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the leader's loop timers. Returns whether the leadership ended.
    pub(super) fn run_reconnect_timers(&mut self, ctx: &mut Ctx<I, P>) -> bool {
        let now = ctx.now;
        let Role::Leader(leading) = &mut self.role else {
            return false;
        };
        if leading.reset_retries_at.is_some_and(|at| now >= at) {
            leading.reset_retries_at = None;
            self.retry.count = 0;
            self.heartbeat(ctx);
            return false;
        }
        if leading.connect_by.is_some_and(|at| now >= at) {
            leading.connect_by = None;
            if let Some(socket) = leading.socket.take() {
                ctx.out.push_back(Output::CloseSocket {
                    socket,
                    code: None,
                    reason: String::new(),
                });
            }
            self.log(ctx, "the attempt timed out".to_owned());
            self.socket_lost(ctx, CloseInfo::abnormal());
            return self.is_ended();
        }
        if leading.socket.is_none() && self.reconnect.is_some() && now >= self.retry.at {
            self.attempt(ctx);
            self.heartbeat(ctx);
        }
        false
    }
}

/// A pseudo-random number from the tab's generator (xorshift64*): jitter
/// needs no more, and the core stays deterministic for a given tab id.
fn random<I, P>(ctx: &mut Ctx<I, P>) -> u64 {
    let mut x = *ctx.random;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *ctx.random = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
