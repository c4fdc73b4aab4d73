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
                self.error_for_all(ctx);
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
        self.lead_again(ctx, "reconnecting");
    }

    /// An instance's `reconnect(code, reason)`: the scope's connection
    /// closes with that code and reason and opens again at once, the count
    /// of failed attempts back at zero, with or without the option
    /// `reconnect`. A follower asks its leader.
    pub fn reconnect_now(&mut self, ctx: &mut Ctx<I, P>, code: Option<u16>, reason: String) {
        if self.leading() {
            self.reopen(ctx, code, reason);
        } else if let Some((leader, epoch)) = self.leader.clone() {
            let body = Body::Reconnect {
                leader,
                code,
                reason,
            };
            self.broadcast(ctx, epoch, body);
        }
    }

    /// The network came back (`online`): a leader waiting for its next
    /// attempt makes it now.
    pub fn network_back(&mut self, ctx: &mut Ctx<I, P>) {
        let waiting = self.leading() && self.socket().is_none() && self.retry.at > ctx.now;
        if self.reconnect.is_some() && waiting {
            self.log(ctx, "online: attempting now".to_owned());
            self.retry.at = ctx.now;
            self.attempt(ctx);
            self.heartbeat(ctx);
        }
    }

    /// The machine slept for `jump_ms` (see `Tab::handle_wall_clock_jump`).
    /// An open socket may have died meanwhile without a word (the server
    /// gave up on it, the network changed): a leader that slept longer than
    /// its timeout replaces it with a new one, as `reconnect()` does. Without
    /// `reconnect` it keeps it: a dead socket closes when the browser finds
    /// out, and that close is final, as natively.
    pub fn slept(&mut self, ctx: &mut Ctx<I, P>, jump_ms: u64) {
        let open = matches!(self.shared, Some(SharedState::Open { .. }));
        let long = jump_ms > self.timing.leader_timeout_ms;
        if self.reconnect.is_some() && self.leading() && open && long {
            self.log(ctx, format!("slept {jump_ms} ms: reconnecting"));
            self.reopen(ctx, None, String::new());
        }
    }

    /// The leader closes its socket with `code` and `reason` and opens a
    /// new one at once.
    pub(super) fn reopen(&mut self, ctx: &mut Ctx<I, P>, code: Option<u16>, reason: String) {
        if let Some(socket) = self.take_socket() {
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code,
                reason,
            });
        }
        self.retry = Retry {
            count: 0,
            at: ctx.now,
        };
        self.lead_again(ctx, "asked to reconnect");
    }

    /// The next socket is a leadership of its own: the leader refuses the
    /// sends it did not hand to the last one, and leads with a new epoch.
    fn lead_again(&mut self, ctx: &mut Ctx<I, P>, why: &str) {
        let handed = match &mut self.role {
            Role::Leader(leading) => std::mem::take(&mut leading.handed),
            _ => Map::new(),
        };
        // It leads next itself (see `Body::Refused::to`).
        self.refuse(ctx, self.epoch(), handed, Some(ctx.me.to_owned()));
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.lead(ctx, epoch, why);
    }

    /// Opens the leader's socket now, or leaves it to the loop's timer if
    /// the next attempt is not due yet.
    /// Where the page gives the URL (`url` a function), it asks the page
    /// first, through the tab's first instance; a leader tab without
    /// instances connects to the URL its page gave last.
    pub(super) fn attempt(&mut self, ctx: &mut Ctx<I, P>) {
        let connect_by = match &self.reconnect {
            Some(_) if self.retry.at > ctx.now => return,
            Some(policy) => Some(ctx.now + policy.connection_timeout_ms),
            None => None,
        };
        let via = self.instances.first().map(|joined| joined.id);
        if let (true, Some(via), Role::Leader(leading)) = (self.resolve, via, &mut self.role) {
            leading.resolving = true;
            leading.connect_by = connect_by;
            self.asked = Some(via);
            ctx.out.push_back(Output::Resolve { via });
            return;
        }
        self.open_socket(ctx, connect_by);
    }

    /// An instance left the tab: if the page was asked for the URL through
    /// it, its answer will not come, and the leader asks again (through
    /// another instance, or connects to the URL the page gave last).
    pub(super) fn instance_gone(&mut self, ctx: &mut Ctx<I, P>, instance: I) {
        if self.asked != Some(instance) {
            return;
        }
        self.asked = None;
        if let Role::Leader(leading) = &mut self.role {
            if std::mem::take(&mut leading.resolving) {
                let connect_by = leading.connect_by;
                self.attempt(ctx);
                // The attempt's deadline stands.
                if let Role::Leader(leading) = &mut self.role {
                    leading.connect_by = connect_by;
                }
            }
        }
    }

    /// The page's answer to `Output::Resolve`: the URL and protocols to
    /// connect with, or the provider's failure, which fails the attempt.
    pub fn resolved(&mut self, ctx: &mut Ctx<I, P>, answer: Result<(String, Vec<String>), String>) {
        let Role::Leader(leading) = &mut self.role else {
            return;
        };
        if !std::mem::take(&mut leading.resolving) {
            return;
        }
        self.asked = None;
        let connect_by = leading.connect_by;
        match answer {
            Ok((url, protocols)) => {
                self.url = url;
                self.protocols = protocols;
                self.open_socket(ctx, connect_by);
            }
            Err(why) => {
                leading.connect_by = None;
                self.log(ctx, format!("the URL provider failed: {why}"));
                if self.reconnect.is_none() {
                    // A connection that fails errors before it closes, as
                    // natively (`socket_lost` does so for the loop's last).
                    self.error_for_all(ctx);
                }
                self.socket_lost(ctx, CloseInfo::abnormal());
            }
        }
    }

    fn open_socket(&mut self, ctx: &mut Ctx<I, P>, connect_by: Option<u64>) {
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
        let due = (self.reconnect.is_some() && leading.between_attempts()).then_some(self.retry.at);
        [due, leading.connect_by, leading.reset_retries_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the leader's loop timers. Returns whether the leadership ended.
    pub(super) fn run_reconnect_timers(&mut self, ctx: &mut Ctx<I, P>) -> bool {
        let now = ctx.now;
        let reconnecting = self.reconnect.is_some();
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
            leading.resolving = false;
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
        if reconnecting && leading.between_attempts() && now >= self.retry.at {
            self.attempt(ctx);
            self.heartbeat(ctx);
        }
        false
    }
}

impl<P> Leading<P> {
    /// Between two attempts: no socket, and no answer awaited from the page.
    fn between_attempts(&self) -> bool {
        self.socket.is_none() && !self.resolving
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
