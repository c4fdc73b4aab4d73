//! Inputs from the leader's socket and the bus, sent where they belong:
//! relayed traffic to the instances, election messages to `election`.

use super::*;

/// The close code of an endpoint going away: a server shutting down, or a
/// browser closing the socket of a page that navigates away.
const GOING_AWAY: u16 = 1001;

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    pub fn socket_open(
        &mut self,
        ctx: &mut Ctx<I, P>,
        socket: SocketId,
        protocol: String,
        extensions: String,
    ) {
        if self.socket() != Some(socket) {
            return;
        }
        self.apply_shared(
            ctx,
            SharedState::Open {
                protocol,
                extensions,
            },
        );
        self.connected(ctx);
        self.heartbeat(ctx);
    }

    pub fn socket_message(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, payload: P) {
        if self.socket() != Some(socket) {
            return;
        }
        self.deliver_open(ctx, &payload);
        if !self.peers.is_empty() {
            self.broadcast(ctx, self.epoch(), Body::In(vec![payload]));
        }
    }

    pub fn socket_error(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId) {
        // With `reconnect`, a failed attempt errors only if it is the last
        // (see `socket_lost`).
        if self.socket() != Some(socket) || self.reconnect.is_some() {
            return;
        }
        if self.failed_reconnection() {
            self.deliver_all(ctx, Event::Error);
        } else {
            self.error_for_all(ctx);
        }
    }

    /// This tab took over an open connection and its socket has not opened.
    /// Should it fail, that is this tab's failure, not the scope's: a tab
    /// leads on a lock or a claim it got as its page went away, say, and its
    /// socket fails with the page. Its instances fail, as a native socket's
    /// would; the others stay `CONNECTING`, and the next in line tries.
    /// With `reconnect`, the loop retries instead.
    fn failed_reconnection(&self) -> bool {
        self.reconnect.is_none()
            && self.was_open
            && matches!(self.shared, Some(SharedState::Connecting))
    }

    pub fn socket_closed(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, info: CloseInfo) {
        if self.socket() != Some(socket) {
            return;
        }
        self.take_socket();
        if self.failed_reconnection() {
            self.log(
                ctx,
                format!("socket failed to open ({}): final for this tab", info.code),
            );
            for joined in std::mem::take(&mut self.instances) {
                self.deliver(ctx, joined.id, final_close(info.clone()));
            }
            // Its followers hear it stepped down, and follow the next leader.
            let gone = Body::Presence {
                instances: 0,
                close: None,
            };
            self.broadcast(ctx, self.epoch(), gone);
            // Not a final close for the scope: the lock goes to the next in
            // line at once (end's delay is for followers to hear a final one).
            self.end(ctx, None);
            return;
        }
        if info.code == GOING_AWAY {
            let until = ctx.now + self.timing.going_away_hold_ms;
            if let Role::Leader(leading) = &mut self.role {
                leading.going_away = Some((info, until));
            }
            self.log(
                ctx,
                "socket closed (1001): final for all unless this page is going away".to_owned(),
            );
            return;
        }
        self.socket_lost(ctx, info);
    }

    /// The leader's connection failed: every instance, in every tab, sees
    /// `error` (its close follows).
    pub(super) fn error_for_all(&mut self, ctx: &mut Ctx<I, P>) {
        self.deliver_all(ctx, Event::Error);
        self.broadcast(ctx, self.epoch(), Body::Error);
    }

    /// The leader's socket closed: the end of the scope, in every tab.
    pub(super) fn close_for_all(&mut self, ctx: &mut Ctx<I, P>, info: CloseInfo) {
        self.log(
            ctx,
            format!(
                "socket closed ({} '{}'): final for all",
                info.code, info.reason
            ),
        );
        self.broadcast(ctx, self.epoch(), Body::Closed(info.clone()));
        self.end(ctx, Some(info));
    }

    /// A tab left or changed its count: a leader tells the others if the
    /// count of tabs changed (only news is worth a heartbeat: one per presence
    /// would cost every tab a message per follower per period) and closes the
    /// socket if no interest is left anywhere.
    fn tabs_changed(&mut self, ctx: &mut Ctx<I, P>, tabs_before: u32) {
        if self.leading() {
            if self.tab_count() != tabs_before {
                self.heartbeat(ctx);
            }
            self.check_idle(ctx);
        }
    }

    pub fn bus(&mut self, ctx: &mut Ctx<I, P>, message: BusMessage<P>) {
        if message.v != PROTOCOL_VERSION
            || message.from == ctx.me
            || self.departed.contains_key(&message.from)
        {
            return;
        }
        let BusMessage {
            from, epoch, body, ..
        } = message;
        if matches!(body, Body::Heartbeat(_) | Body::Claim) {
            self.max_epoch = self.max_epoch.max(epoch);
        }
        match body {
            Body::Hello => {
                self.hear(ctx.now, &from, None);
                if self.leading() {
                    self.heartbeat(ctx);
                }
            }
            Body::Presence { instances, close } => {
                if self.follows(&from) {
                    // The leader this tab follows reports as a follower: it
                    // stepped down. Follow whoever heartbeats next, whatever
                    // its epoch; claim only if no one does.
                    self.log(ctx, format!("{from} stepped down"));
                    self.lose_leader(ctx, self.timing.discovery_ms);
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
                self.tabs_changed(ctx, tabs_before);
            }
            Body::Heartbeat(heartbeat) => self.heard_leader(ctx, from, epoch, heartbeat),
            Body::Refused { handed, to } => {
                self.heard_refused(ctx, from, epoch, &handed, to.as_deref())
            }
            Body::Claim => self.heard_claim(ctx, &from, epoch),
            Body::Left => {
                self.departed.insert(from.clone(), ctx.now);
                // Sends it did not say it handed to its socket are in doubt;
                // a leader need not report its sends any longer.
                self.give_up_in_doubt(ctx);
                if let Role::Leader(leading) = &mut self.role {
                    leading.handed.remove(&from);
                }
                let tabs_before = self.tab_count();
                self.peers.remove(&from);
                if self.follows(&from) {
                    self.log(ctx, format!("{from} left"));
                    self.succeed(ctx);
                }
                self.tabs_changed(ctx, tabs_before);
            }
            Body::Out {
                leader,
                seq,
                payload,
            } => {
                self.hear(ctx.now, &from, None);
                // Sends for another leadership of this tab were refused when
                // it stepped down (see `outbox`).
                if let (true, Some(socket)) = (
                    self.leading() && epoch == self.epoch() && leader == ctx.me,
                    self.socket(),
                ) {
                    self.transmit(ctx, socket, Outgoing { from, seq, payload });
                }
            }
            Body::Reconnect {
                leader,
                code,
                reason,
            } => {
                if self.leading() && epoch == self.epoch() && leader == ctx.me {
                    self.reopen(ctx, code, reason);
                }
            }
            Body::Yield { leader } => {
                if self.leading() && epoch == self.epoch() && leader == ctx.me {
                    self.asked_to_yield(ctx, from);
                }
            }
            Body::In(payloads) => {
                if self.is_leader(&from, epoch) {
                    // Relayed traffic proves the leader alive as well as a
                    // heartbeat does, and may queue ahead of it under load.
                    self.leader_heard_at = ctx.now;
                    for payload in &payloads {
                        self.deliver_open(ctx, payload);
                    }
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
}
