//! The election, as one tab takes part in it: following a leader, claiming
//! (lease), waiting for and stealing the lock (Web Locks), leading, stepping
//! down. Who leads is decided here; what the instances see of it is
//! `instances`'s job.

use super::*;

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    pub(super) fn heard_leader(
        &mut self,
        ctx: &mut Ctx<I, P>,
        from: TabId,
        epoch: u64,
        heartbeat: Heartbeat,
    ) {
        let Heartbeat {
            state,
            tabs,
            handed,
            retry,
        } = heartbeat;
        if self.leading() {
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
        if let Role::Candidate(_) = self.role {
            self.role = Role::Follower;
            self.log(ctx, format!("withdrew claim: {from} leads"));
        }
        if self.leader.as_ref() != Some(&(from.clone(), epoch)) {
            self.follow(ctx, from.clone(), epoch);
        }
        self.leader_heard_at = ctx.now;
        self.leader_tabs = tabs;
        self.retry = retry;
        self.heard_handed(ctx, from, epoch, &handed);
        // Who leads first, so instances' status is right when they open.
        self.report(ctx);
        self.apply_shared(ctx, state);
    }

    pub(super) fn heard_claim(&mut self, ctx: &mut Ctx<I, P>, from: &str, epoch: u64) {
        if self.leading() {
            // A live leader answers a claim; the claimant withdraws.
            self.heartbeat(ctx);
        } else if let Role::Candidate(candidacy) = self.role {
            if outranks((epoch, from), (candidacy.epoch, ctx.me)) {
                self.role = Role::Follower;
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

    pub fn lock_acquired(&mut self, ctx: &mut Ctx<I, P>) {
        if !matches!(self.lock, LockState::Waiting | LockState::Stealing) {
            return;
        }
        self.lock = LockState::Held;
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.lead(ctx, epoch, "acquired the lock");
    }

    /// `forceLeader()`: this tab leads now. With Web Locks it steals the
    /// lock, and the holder steps down as it loses it; with the lease it
    /// leads with a later epoch, and the leader steps down when it hears it.
    /// Either way every instance sees one leader change.
    /// Where the socket runs on the page (Gecko, WebKit), it asks the leader
    /// to yield first, and takes over once it has (see `asked_to_yield`).
    pub fn force_lead(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading() {
            return;
        }
        if let (Some((leader, epoch)), Some(_)) = (self.leader.clone(), self.timing.page_silence_ms)
        {
            self.log(ctx, format!("forced to lead: asks {leader} to yield"));
            self.forcing = Some((leader.clone(), epoch));
            self.broadcast(ctx, epoch, Body::Yield { leader });
            return;
        }
        self.take_leadership(ctx);
    }

    /// Leads now, unless it does already: with Web Locks by stealing the
    /// lock, with the lease with a later epoch.
    pub(super) fn take_leadership(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading() {
            return;
        }
        match self.backend {
            Backend::Locks => {
                self.log(ctx, "forced to lead: stealing the lock".to_owned());
                self.request_lock(ctx, true);
            }
            Backend::Lease => {
                let epoch = ctx.now.max(self.max_epoch + 1);
                self.lead(ctx, epoch, "forced to lead");
            }
        }
    }

    /// `relinquish()`: a leader hands the socket to another tab of the
    /// scope, if one is there to take it; alone, it keeps leading.
    pub fn relinquish(&mut self, ctx: &mut Ctx<I, P>) {
        if self.leading() && !self.peers.is_empty() {
            self.hand_over(ctx, "relinquished".to_owned());
        }
    }

    /// Steps down so that another tab leads at once: with Web Locks it gives
    /// the lock back (and queues again behind the others), and it reports
    /// as a follower.
    pub(super) fn hand_over(&mut self, ctx: &mut Ctx<I, P>, why: String) {
        self.step_down(ctx, why);
        if self.lock == LockState::Held {
            // Replacing the request gives the held lock back.
            self.request_lock(ctx, false);
        }
        self.announce(ctx);
    }

    pub fn lock_lost(&mut self, ctx: &mut Ctx<I, P>) {
        if self.lock != LockState::Held {
            return;
        }
        self.lock = LockState::None;
        if self.leading() {
            self.step_down(ctx, "the lock was taken".to_owned());
        }
        if !self.is_ended() {
            self.request_lock(ctx, false);
        }
    }

    /// When the leader followed counts as gone: silent for the timeout.
    /// Where the bus runs on the page (WebKit), silence counts only while
    /// this tab's own page answers its pings, so that its bus runs: from the
    /// later of the leader's last word and the start of the page's current
    /// run of answers, and only once the page has answered past the bound;
    /// and the bound is shorter, as the leader's page is then busy and its
    /// followers are not served.
    pub(super) fn leader_deadline(&self) -> u64 {
        let bound = match self.timing.leader_silence_ms() {
            Some(silence) => silence.min(self.timing.leader_timeout_ms),
            None => self.timing.leader_timeout_ms,
        };
        self.heard_through(self.leader_heard_at + bound, bound)
    }

    /// `at`, where the bus runs on the page (WebKit) only if this tab's page
    /// answered since, so that the tab heard what was said until then, and no
    /// earlier than `listen` ms into the page's current run of answers: a tab
    /// whose page was busy heard nothing meanwhile. Elsewhere, `at`.
    fn heard_through(&self, at: u64, listen: u64) -> u64 {
        if !self.timing.bus_on_page {
            return at;
        }
        let at = at.max(self.page_answers_since + listen);
        if self.page_heard_at >= at {
            at
        } else {
            // Not before the page answers again.
            u64::MAX / 2
        }
    }

    /// Lease: when this follower claims. Never before `claim_not_before`
    /// (after a withdrawn claim, the better claimant gets time to lead), and
    /// while a leader is known, not before it has been silent past the timeout.
    pub(super) fn lease_claim_at(&self) -> u64 {
        match self.leader {
            Some(_) => self.claim_not_before.max(self.leader_deadline()),
            None => self.heard_through(self.claim_not_before, self.timing.discovery_ms),
        }
    }

    /// When this follower steals a silent leader's lock: after the timeout,
    /// staggered by its rank among the followers, at most once per timeout.
    pub(super) fn steal_at(&self) -> u64 {
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

    /// The leader this tab followed left (its farewell). With Web Locks, the
    /// lock comes to the next in line when it is freed. With the lease, the
    /// first tab by rank among those heard leads at once, without a claim:
    /// every follower ranks the same tabs, so one leads and the others wait
    /// for its heartbeat (a discovery period) before they claim. Should two
    /// disagree, the lesser steps down on hearing the other, as ever.
    pub(super) fn succeed(&mut self, ctx: &mut Ctx<I, P>) {
        let first = !self.peers.keys().any(|id| self.is_ranked_before(id));
        if self.backend == Backend::Lease && first {
            let epoch = ctx.now.max(self.max_epoch + 1);
            self.lead(ctx, epoch, "its predecessor left");
        } else {
            self.lose_leader(ctx, self.timing.discovery_ms);
        }
    }

    pub(super) fn is_ranked_before(&self, id: &str) -> bool {
        id < self.me.as_str()
    }

    pub(super) fn request_lock(&mut self, ctx: &mut Ctx<I, P>, steal: bool) {
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

    pub(super) fn claim(&mut self, ctx: &mut Ctx<I, P>) {
        let epoch = ctx.now.max(self.max_epoch + 1);
        self.max_epoch = epoch;
        self.role = Role::Candidate(Candidacy {
            epoch,
            until: ctx.now + self.timing.claim_window_ms,
        });
        self.log(ctx, format!("no leader: claiming epoch {epoch}"));
        self.broadcast(ctx, epoch, Body::Claim);
    }

    /// This tab leads from now on, with `epoch`: it opens the socket, or
    /// waits for the reconnect loop's next attempt (see `reconnect`).
    pub(super) fn lead(&mut self, ctx: &mut Ctx<I, P>, epoch: u64, why: &str) {
        self.forcing = None;
        self.lose_connection(ctx);
        let superseded = self.leader.take();
        self.leader = Some((ctx.me.to_owned(), epoch));
        self.max_epoch = self.max_epoch.max(epoch);
        self.shared = Some(SharedState::Connecting);
        self.role = Role::Leader(Leading {
            socket: None,
            superseded,
            going_away: None,
            page: self.timing.page_silence_ms.map(|_| PageWatch::new(ctx.now)),
            handed: Map::new(),
            connect_by: None,
            reset_retries_at: None,
            resolving: false,
        });
        self.log(ctx, format!("leads with epoch {epoch} ({why})"));
        self.report(ctx);
        self.attempt(ctx);
        self.heartbeat(ctx);
    }

    /// This tab stops leading: its socket closes (fencing) and its instances
    /// reconnect through whoever leads next.
    pub(super) fn step_down(&mut self, ctx: &mut Ctx<I, P>, why: String) {
        self.log(ctx, format!("steps down: {why}"));
        if let Role::Leader(leading) = std::mem::replace(&mut self.role, Role::Follower) {
            if let Some(socket) = leading.socket {
                ctx.out.push_back(Output::CloseSocket {
                    socket,
                    code: None,
                    reason: String::new(),
                });
            }
            // Stepping down with a yield pending (see `asked_to_yield`), it
            // names the tab to lead next.
            let to = leading.page.and_then(|watch| watch.yield_to);
            self.refuse(ctx, self.epoch(), leading.handed, to);
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
        for joined in std::mem::take(&mut self.instances) {
            if joined.state == InstanceState::Leaving {
                self.deliver(ctx, joined.id, final_close(info.clone()));
            } else {
                self.instances.push(joined);
            }
        }
        self.leader = None;
        self.leader_heard_at = ctx.now;
        self.claim_not_before = ctx.now + self.timing.leader_timeout_ms;
        self.next_beat_at = ctx.now;
        self.report(ctx);
    }

    pub(super) fn follow(&mut self, ctx: &mut Ctx<I, P>, leader: TabId, epoch: u64) {
        self.log(ctx, format!("follows {leader} (epoch {epoch})"));
        self.lose_connection(ctx);
        self.leader = Some((leader, epoch));
    }

    pub(super) fn heartbeat(&mut self, ctx: &mut Ctx<I, P>) {
        self.next_beat_at = ctx.now + self.timing.heartbeat_ms;
        let state = self.shared.clone().unwrap_or(SharedState::Connecting);
        let tabs = self.tab_count();
        let handed = match &self.role {
            Role::Leader(leading) => leading.handed.clone().into_iter().collect(),
            _ => Vec::new(),
        };
        let body = Body::Heartbeat(Heartbeat {
            state,
            tabs,
            handed,
            retry: self.retry,
        });
        self.broadcast(ctx, self.epoch(), body);
        self.report(ctx);
    }
}
