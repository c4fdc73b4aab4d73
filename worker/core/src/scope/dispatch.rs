//! Inputs from the leader's socket and the bus, sent where they belong:
//! relayed traffic to the instances, election messages to `election`.

use super::*;

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
        self.heartbeat(ctx);
    }

    pub fn socket_message(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, payload: P) {
        if self.socket() != Some(socket) {
            return;
        }
        self.deliver_open(ctx, &payload);
        if !self.peers.is_empty() {
            self.broadcast(ctx, self.epoch(), Body::In(payload));
        }
    }

    pub fn socket_error(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId) {
        if self.socket() != Some(socket) {
            return;
        }
        self.deliver_all(ctx, Event::Error);
        self.broadcast(ctx, self.epoch(), Body::Error);
    }

    pub fn socket_closed(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, info: CloseInfo) {
        if self.socket() != Some(socket) {
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
        self.take_socket();
        self.end(ctx, Some(info));
    }

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
                if self.leading() {
                    self.heartbeat(ctx);
                }
            }
            Body::Presence { instances, close } => {
                if !self.leading() && self.leader.as_ref().is_some_and(|(id, _)| *id == from) {
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
                if self.leading() {
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
                if let (true, Some(socket)) = (
                    self.leading() && epoch == self.epoch() && leader == ctx.me,
                    self.socket(),
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
}
