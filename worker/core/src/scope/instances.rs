//! The tab's instances of the scope and what they are told: joining,
//! sending, closing, their connection state through leader changes, the
//! `Leadership` reports, and presence (how many instances each tab has).

use super::*;

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
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
            Some(_) => InstanceState::Open,
            None => InstanceState::Connecting,
        };
        self.instances.push(Instance {
            id: instance,
            state,
            queued: Vec::new(),
            opened: state == InstanceState::Open,
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
        if !self.leading() {
            self.announce(ctx);
        }
    }

    pub fn send(&mut self, ctx: &mut Ctx<I, P>, instance: I, payload: P) {
        let queue = self.reconnect.as_ref().is_some_and(|policy| policy.queue);
        let reconnects = self.reconnect.is_some();
        let Some(joined) = self
            .instances
            .iter_mut()
            .find(|joined| joined.id == instance)
        else {
            return;
        };
        match joined.state {
            InstanceState::Open => {
                self.send_out(ctx, payload);
                ctx.out.push_back(Output::Ack { to: instance });
            }
            // With `reconnect`, a send while connecting waits for the next
            // `open` (the page bounds how many); one that raced a leader
            // change's close too.
            InstanceState::Connecting if queue => joined.queued.push(payload),
            // The facade refuses sends while connecting, so this one was made
            // while the page still saw the instance open: it raced a leader
            // change, whose close is on its way to the page. Made before the
            // page saw the change, it goes through the next leader, as the
            // sends the old leader did not put on its socket do (`outbox`).
            InstanceState::Connecting if joined.opened && !reconnects => {
                self.send_out(ctx, payload);
                ctx.out.push_back(Output::Ack { to: instance });
            }
            // Before the first open the facade refuses sends (this one raced
            // nothing); otherwise it raced a final close, or a reconnection
            // that queues nothing (`maxEnqueuedMessages: 0`): lost with the
            // connection, as a native socket's send is.
            _ => {}
        }
    }

    pub fn close(&mut self, ctx: &mut Ctx<I, P>, instance: I, code: Option<u16>, reason: String) {
        let Some(index) = self
            .instances
            .iter()
            .position(|joined| joined.id == instance && joined.state != InstanceState::Leaving)
        else {
            return;
        };
        self.last_close = Some((code, reason.clone()));
        let last_anywhere =
            self.leading() && self.live_instances() == 1 && self.interest_elsewhere() == 0;
        if let (true, 0, Some(socket)) = (last_anywhere, self.grace_ms, self.socket()) {
            // The socket closes with this instance, which gets its real close.
            self.instances[index].state = InstanceState::Leaving;
            self.log(
                ctx,
                "last instance anywhere closed: closing the socket".to_owned(),
            );
            self.release_held(ctx);
            ctx.out.push_back(Output::CloseSocket {
                socket,
                code,
                reason,
            });
            return;
        }
        let joined = self.instances.remove(index);
        self.instance_gone(ctx, instance);
        if joined.state == InstanceState::Connecting {
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
        let before = self.instances.len();
        self.instances.retain(|joined| joined.id != instance);
        self.instance_gone(ctx, instance);
        if self.instances.len() != before {
            self.after_local_change(ctx);
        }
    }

    pub(super) fn live_instances(&self) -> usize {
        self.instances
            .iter()
            .filter(|joined| joined.state != InstanceState::Leaving)
            .count()
    }

    pub(super) fn interest_elsewhere(&self) -> u32 {
        self.peers.values().map(|peer| peer.instances).sum()
    }

    /// The connection through the previous leader is gone: open instances
    /// see a reconnect.
    pub(super) fn lose_connection(&mut self, ctx: &mut Ctx<I, P>) {
        self.shared = None;
        let reconnect = Event::Closed {
            info: CloseInfo::abnormal(),
            reconnecting: true,
        };
        for index in 0..self.instances.len() {
            if self.instances[index].state == InstanceState::Open {
                self.instances[index].state = InstanceState::Connecting;
                let to = self.instances[index].id;
                self.deliver(ctx, to, reconnect.clone());
            }
        }
    }

    pub(super) fn apply_shared(&mut self, ctx: &mut Ctx<I, P>, state: SharedState) {
        if let SharedState::Open {
            protocol,
            extensions,
        } = &state
        {
            for index in 0..self.instances.len() {
                if self.instances[index].state == InstanceState::Connecting {
                    self.instances[index].state = InstanceState::Open;
                    self.instances[index].opened = true;
                    let to = self.instances[index].id;
                    // Its queued sends go first, in order, before any it
                    // makes once open (see `send`).
                    for payload in std::mem::take(&mut self.instances[index].queued) {
                        self.send_out(ctx, payload);
                        ctx.out.push_back(Output::Ack { to });
                    }
                    let event = Event::Open {
                        protocol: protocol.clone(),
                        extensions: extensions.clone(),
                    };
                    self.deliver(ctx, to, event);
                }
            }
        }
        self.was_open |= matches!(state, SharedState::Open { .. });
        self.shared = Some(state);
        self.flush_outbox(ctx);
    }

    /// A follower's presence: its live instance count.
    pub(super) fn announce(&mut self, ctx: &mut Ctx<I, P>) {
        self.next_beat_at = ctx.now + self.timing.heartbeat_ms;
        let instances = self.live_instances() as u32;
        let close = if instances == 0 {
            self.last_close.clone()
        } else {
            None
        };
        self.broadcast(ctx, self.epoch(), Body::Presence { instances, close });
        if instances == 0
            && !self
                .instances
                .iter()
                .any(|m| m.state == InstanceState::Leaving)
        {
            self.leave(ctx);
        }
    }

    pub(super) fn after_local_change(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading() {
            self.check_idle(ctx);
        } else {
            self.announce(ctx);
        }
    }

    /// A leader with no instance anywhere closes the socket after the grace period.
    pub(super) fn check_idle(&mut self, ctx: &mut Ctx<I, P>) {
        if !self.leading()
            || self
                .instances
                .iter()
                .any(|m| m.state == InstanceState::Leaving)
        {
            return;
        }
        if !self.instances.is_empty() || self.interest_elsewhere() > 0 {
            self.idle_since = None;
            return;
        }
        let since = *self.idle_since.get_or_insert(ctx.now);
        if ctx.now >= since + self.grace_ms {
            self.log(
                ctx,
                "no instance left anywhere: closing the socket".to_owned(),
            );
            self.release_held(ctx);
            if let Some(socket) = self.take_socket() {
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
    pub(super) fn leave(&mut self, ctx: &mut Ctx<I, P>) {
        self.log(ctx, "no instance left in this tab: leaving".to_owned());
        self.end(ctx, None);
    }

    pub(super) fn tab_count(&self) -> u32 {
        let followers = self
            .peers
            .values()
            .filter(|peer| peer.instances > 0)
            .count() as u32;
        followers + u32::from(!self.instances.is_empty())
    }

    pub(super) fn leadership(&self) -> Leadership {
        Leadership {
            leader_id: self.leader.as_ref().map(|(id, _)| id.clone()),
            epoch: self.epoch(),
            backend: self.backend,
            tabs: if self.leading() {
                self.tab_count().max(1)
            } else {
                self.leader_tabs
            },
            sends_in_doubt: self.outbox.in_doubt,
            retries: self.retry.count,
        }
    }

    /// Tells every instance when who leads (or how many tabs) changed.
    pub(super) fn report(&mut self, ctx: &mut Ctx<I, P>) {
        self.outbox.follow(self.leader.as_ref(), ctx.now);
        let leadership = self.leadership();
        if self.reported.as_ref() == Some(&leadership) {
            return;
        }
        self.reported = Some(leadership.clone());
        self.deliver_all(ctx, Event::Leadership(leadership));
    }

    pub(super) fn deliver(&self, ctx: &mut Ctx<I, P>, to: I, event: Event<P>) {
        ctx.out.push_back(Output::Deliver { to, event });
    }

    pub(super) fn deliver_all(&self, ctx: &mut Ctx<I, P>, event: Event<P>) {
        for joined in &self.instances {
            self.deliver(ctx, joined.id, event.clone());
        }
    }

    pub(super) fn deliver_open(&self, ctx: &mut Ctx<I, P>, payload: &P) {
        for joined in &self.instances {
            if joined.state == InstanceState::Open {
                self.deliver(ctx, joined.id, Event::Message(payload.clone()));
            }
        }
    }
}
