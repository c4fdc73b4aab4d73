//! The oracle: the invariants the world checks besides those of each call,
//! on every post on the bus, after every step (takeovers within their
//! bound) and on demand once faults are gone (`check_settled`: one leader
//! per scope, every instance open through it; `check_traffic`: every
//! message both ways exactly once, in order).

use std::collections::{BTreeMap, BTreeSet};

use bws_core::{Backend, Body, BusMessage, Event};

use super::instances::Phase;
use super::world::{Lead, World};
use super::{InstanceId, Pl};

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub takeovers: u64,
    pub max_takeover_ms: u64,
    pub clean_takeovers: u64,
    pub max_clean_takeover_ms: u64,
    pub steals: u64,
    pub claims: u64,
    pub epoch_collisions: u64,
    pub stale_reorders: u64,
    pub partition_duplicates: u64,
    pub bus_messages: u64,
    pub events: u64,
}

/// The instances a socket's end must finish.
#[derive(Debug, Clone)]
pub(super) struct ServerEnd {
    /// With their session then.
    instances: Vec<(InstanceId, u32)>,
    pub(super) clean: bool,
}

/// A leader death being watched until someone takes over.
#[derive(Debug, Clone)]
pub(super) struct Takeover {
    pub(super) scope: String,
    pub(super) died_at: u64,
    /// No other fault happened since: the bound applies.
    pub(super) clean: bool,
}

impl World {
    // ------------------------------------------------------------ bus

    /// The rules a tab's post on the bus must follow, by kind of message:
    /// one leader per epoch, relays only by the leader of their epoch,
    /// sends only to the leader their instance follows, claims only
    /// with the lease.
    pub(super) fn check_post(&mut self, tab: usize, scope: &str, message: &BusMessage<Pl>) {
        let id = self.tabs[tab].id.clone();
        let epoch = message.epoch;
        match &message.body {
            Body::Heartbeat(_) => {
                // One leader per epoch. Epochs are milliseconds: a grant
                // stolen before it was heard of, or two claims on both sides
                // of a partition, may share one; but two tabs that hear each
                // other never lead with the same epoch at the same time.
                let key = (scope.to_owned(), epoch);
                if let Some(&other) = self.epoch_leaders.get(&key).filter(|&&other| other != tab) {
                    self.stats.epoch_collisions += 1;
                    let lead = self.tabs[other].leading.get(scope);
                    let both = self.tabs[other].alive
                        && lead.is_some_and(|l| !l.closing && l.epoch == Some(epoch));
                    if both && !self.is_faulty() {
                        let other = self.tabs[other].id.clone();
                        self.fail(format!(
                            "{id} and {other} both lead {scope} with epoch {epoch}"
                        ));
                    }
                }
                self.epoch_leaders.insert(key, tab);
                let max = self.max_epoch.entry(scope.to_owned()).or_insert(0);
                *max = (*max).max(epoch);
                // The reconnect loop leads again with a new epoch for each
                // socket, and heartbeats between attempts without one; a
                // leader waiting for its page to give the URL has none yet.
                let relead = |lead: &Lead| {
                    lead.closing || (lead.socket.is_none() && lead.epoch.is_some_and(|e| e < epoch))
                };
                let socketless =
                    self.cfg.reconnect.is_some() || self.cfg.resolve || self.cfg.no_server;
                let reconnecting =
                    socketless && self.tabs[tab].leading.get(scope).is_none_or(relead);
                if reconnecting {
                    let lead = Lead {
                        socket: None,
                        epoch: Some(epoch),
                        beat_at: self.now,
                        closing: false,
                    };
                    self.tabs[tab].leading.insert(scope.to_owned(), lead);
                }
                let Some(lead) = self.tabs[tab].leading.get_mut(scope) else {
                    self.fail(format!("{id} heartbeats {scope} without a socket"));
                };
                lead.beat_at = self.now;
                match lead.epoch {
                    None => lead.epoch = Some(epoch),
                    Some(e) if e != epoch => {
                        self.fail(format!("{id} heartbeats epoch {epoch}, leads {e}"))
                    }
                    Some(_) => {}
                }
                if self.cfg.backend == Backend::Locks {
                    // A leader holds the lock, or has yet to hear it lost it.
                    let holds = self.locks.get(scope).and_then(|q| q.holder)
                        == self.tabs[tab].lock_request.get(scope).map(|&r| (tab, r));
                    if !holds && !self.tabs[tab].lost_pending.contains(scope) {
                        self.fail(format!("{id} heartbeats {scope} without the lock"));
                    }
                }
            }
            Body::In(_) | Body::Error | Body::Closed(_) => {
                self.check_awake(tab, scope, "relays");
                let lead_epoch = self.tabs[tab].leading.get(scope).and_then(|l| l.epoch);
                // A socket's close, and with `reconnect` the error before a
                // final one, are told once the socket is gone.
                let closed = matches!(message.body, Body::Closed(_))
                    || (matches!(message.body, Body::Error) && self.cfg.reconnect.is_some());
                if lead_epoch != Some(epoch) && !closed {
                    self.fail(format!(
                        "{id} relays for epoch {epoch}, leads {lead_epoch:?}"
                    ));
                }
            }
            Body::Out {
                payload: Pl::Up { instance, .. },
                ..
            } => {
                // To the leader its instance follows; an instance that
                // closed since follows no one, yet its tab still owes the
                // server the sends it made while open.
                let i = &self.instances[instance];
                let following = i
                    .leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch));
                let live = matches!(i.phase, Phase::Connecting | Phase::Open);
                if i.tab != tab
                    || live
                        && (following.as_ref().map(|f| f.1) != Some(epoch)
                            || following.unwrap().0 == Some(id.clone()))
                {
                    self.fail(format!("{id} posts #{instance}'s send to epoch {epoch}"));
                }
            }
            Body::Refused { .. } => {
                // A leader between reconnect attempts stops leading: it has
                // no socket to close.
                let leads = self.tabs[tab].leading.get(scope);
                if leads.is_some_and(|l| l.socket.is_none() && l.epoch == Some(epoch)) {
                    self.tabs[tab].leading.remove(scope);
                }
            }
            Body::Claim => {
                self.stats.claims += 1;
                if self.cfg.backend != Backend::Lease {
                    self.fail(format!(
                        "{id} claims with the {:?} backend",
                        self.cfg.backend
                    ));
                }
            }
            _ => {}
        }
    }

    /// A leader silent for a whole timeout has been presumed dead: it must
    /// not act before it heartbeats again (or steps down).
    pub(super) fn check_awake(&self, tab: usize, scope: &str, what: &str) {
        let Some(lead) = self.tabs[tab].leading.get(scope) else {
            return;
        };
        let silent = self.now - lead.beat_at;
        if silent >= self.cfg.timing.leader_timeout_ms && !self.tabs[tab].zombie.contains(scope) {
            self.fail(format!(
                "{} {what} after {silent} ms of silence",
                self.tabs[tab].id
            ));
        }
    }

    // ------------------------------------------------------------ server

    /// The end of the socket is final for every instance open on it: none
    /// of them may open again (checked by `check_settled`, if no fault came
    /// in between to lose the news).
    pub(super) fn watch_server_end(&mut self, scope: &str) {
        if self.server.open_conns(scope).len() != 1 {
            return;
        }
        let instances = self
            .live_instances(scope)
            .into_iter()
            .filter(|&i| self.instances[&i].phase == Phase::Open)
            .map(|i| (i, self.instances[&i].session))
            .collect();
        // With Web Locks the lock the leader lets go reaches the next in line
        // at once, the news over the bus later: if the bus is slower than a
        // socket's opening, instances there open again before the news ends
        // them (a race the core leaves open; a browser's bus is far faster).
        let net = &self.cfg.net;
        let racy = self.cfg.backend == Backend::Locks
            && net.bus_latency.1 + net.lock_latency.1 >= 2 * net.socket_latency.0;
        self.server_ends.push(ServerEnd {
            instances,
            clean: !self.is_faulty() && !racy,
        });
    }

    // ------------------------------------------------------------ takeovers

    fn took_over(&mut self, scope: &str) {
        let now = self.now;
        let bound = self.cfg.takeover_bound();
        let mut done = Vec::new();
        for (index, takeover) in self.takeovers.iter().enumerate() {
            if takeover.scope == scope {
                done.push(index);
                let took = now - takeover.died_at;
                self.stats.takeovers += 1;
                self.stats.max_takeover_ms = self.stats.max_takeover_ms.max(took);
                if takeover.clean {
                    self.stats.clean_takeovers += 1;
                    self.stats.max_clean_takeover_ms = self.stats.max_clean_takeover_ms.max(took);
                    if took > bound {
                        self.fail(format!("takeover of {scope} took {took} ms, bound {bound}"));
                    }
                }
            }
        }
        for index in done.into_iter().rev() {
            self.takeovers.remove(index);
        }
    }

    pub(super) fn check_takeovers(&mut self) {
        let done: Vec<String> = self
            .takeovers
            .iter()
            .map(|t| t.scope.clone())
            .filter(|scope| {
                // With `reconnect`, during an outage: a tab leads the loop;
                // with no server, a leader has no socket at all.
                let socketless = self.cfg.reconnect.is_some() || self.cfg.no_server;
                let looping = socketless && !self.leading_tabs(scope).is_empty();
                looping || !self.leaders(scope).is_empty()
            })
            .collect();
        for scope in done {
            self.took_over(&scope);
        }
        let bound = self.cfg.takeover_bound();
        let overdue: Vec<String> = self
            .takeovers
            .iter()
            .filter(|t| t.clean && self.now > t.died_at + bound)
            .map(|t| t.scope.clone())
            .collect();
        for scope in overdue {
            if self.is_faulty() {
                self.void_takeovers(&scope);
            } else if self
                .live_instances(&scope)
                .iter()
                .any(|&i| self.instances[&i].closing.is_none())
            {
                self.fail(format!("no takeover of {scope} within {bound} ms"));
            } else {
                self.takeovers.retain(|t| t.scope != scope);
            }
        }
    }

    // ------------------------------------------------------------ convergence

    /// With faults gone and the election settled: one leader per scope with
    /// instances, every instance open through it, nothing left behind where
    /// no instance is. Returns the leader per scope.
    pub fn check_settled(&self, scopes: &[&str]) -> BTreeMap<String, usize> {
        for end in self.server_ends.iter().filter(|end| end.clean) {
            for &(i, session) in &end.instances {
                let instance = &self.instances[&i];
                let finished = matches!(instance.phase, Phase::Closed | Phase::Gone)
                    || instance.closing.is_some();
                if !finished && self.tabs[instance.tab].alive || instance.session != session {
                    self.fail(format!(
                        "#{i} went on after the socket's end: {:?}",
                        instance.phase
                    ));
                }
            }
        }
        let mut leaders = BTreeMap::new();
        for &scope in scopes {
            let live = self.live_instances(scope);
            let waiting: Vec<InstanceId> = live
                .iter()
                .copied()
                .filter(|&i| self.instances[&i].closing.is_some())
                .collect();
            if !waiting.is_empty() {
                self.fail(format!(
                    "{scope}: closed instances without their final close: {waiting:?}"
                ));
            }
            let active: Vec<InstanceId> = live
                .into_iter()
                .filter(|&i| !self.tabs[self.instances[&i].tab].zombie.contains(scope))
                .collect();
            let leading = self.leading_tabs(scope);
            if active.is_empty() {
                let lingering: Vec<usize> = (0..self.tabs.len())
                    .filter(|&t| self.tabs[t].alive && self.in_scope(t, scope))
                    .collect();
                if !lingering.is_empty()
                    || !leading.is_empty()
                    || !self.server.open_conns(scope).is_empty()
                {
                    self.fail(format!(
                        "{scope}: no instance left, yet tabs {lingering:?} stay, {leading:?} lead, conns {:?} are open",
                        self.server.open_conns(scope)
                    ));
                }
                continue;
            }
            // A zombie cannot tell a lesser leader (the other side of a
            // healed partition) to step down: it may linger, silent.
            let open: Vec<usize> = self
                .leaders(scope)
                .into_iter()
                .filter(|&t| !self.tabs[t].zombie.contains(scope))
                .collect();
            let [leader] = open.as_slice() else {
                self.fail(format!(
                    "{scope}: leaders {open:?} (leading {leading:?}) for instances {active:?}"
                ));
            };
            let leader_id = self.tabs[*leader].id.clone();
            let epoch = self.tabs[*leader].leading[scope].epoch;
            for &i in &active {
                let instance = &self.instances[&i];
                let follows = instance
                    .leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch));
                if instance.phase != Phase::Open
                    || follows != Some((Some(leader_id.clone()), epoch.unwrap_or(0)))
                {
                    self.fail(format!(
                        "{scope}: #{i} is {:?} following {follows:?}, leader {leader_id} e{epoch:?}",
                        instance.phase
                    ));
                }
            }
            if self.cfg.backend == Backend::Locks {
                if self.lock_holder(scope) != Some(*leader) {
                    self.fail(format!(
                        "{scope}: leader {leader_id} does not hold the lock"
                    ));
                }
                // Every other tab of the scope waits, once.
                let mut waiters = self.lock_waiters(scope);
                waiters.sort_unstable();
                let others: Vec<usize> = (0..self.tabs.len())
                    .filter(|&t| t != *leader && self.tabs[t].alive && self.in_scope(t, scope))
                    .collect();
                if waiters != others {
                    self.fail(format!(
                        "{scope}: lock waiters {waiters:?}, tabs in scope {others:?}"
                    ));
                }
            }
            // Everyone agrees on how many tabs have instances.
            let tabs: BTreeSet<usize> = active.iter().map(|&i| self.instances[&i].tab).collect();
            for &i in &active {
                let reported = self.instances[&i].leadership.as_ref().map_or(0, |l| l.tabs);
                if reported as usize != tabs.len() {
                    self.fail(format!(
                        "{scope}: #{i} is told of {reported} tabs, {} have instances",
                        tabs.len()
                    ));
                }
            }
            leaders.insert(scope.to_owned(), *leader);
        }
        leaders
    }

    /// On a settled world: the server broadcasts `count` messages and every
    /// active instance sends `count`; all arrive exactly once, in order.
    pub fn check_traffic(&mut self, scopes: &[&str], count: u32) {
        let mut expect_down = Vec::new();
        let mut expect_up = Vec::new();
        for &scope in scopes {
            let active: Vec<InstanceId> = self
                .live_instances(scope)
                .into_iter()
                .filter(|&i| !self.tabs[self.instances[&i].tab].zombie.contains(scope))
                .collect();
            let first = self.next_down(scope);
            for &i in &active {
                let instance = &self.instances[&i];
                expect_down.push((i, instance.session, first));
                expect_up.push((i, instance.sent));
            }
        }
        let spacing = 1 + self.cfg.net.bus_latency.1;
        for _ in 0..count {
            for &scope in scopes {
                self.server_broadcast(scope);
            }
            for &(i, _) in &expect_up {
                if !self.send(i) {
                    self.fail(format!("#{i} is open yet its send was refused"));
                }
            }
            self.run_for(spacing);
        }
        let net = &self.cfg.net;
        self.run_for(10 * (net.bus_latency.1 + net.socket_latency.1) + 10);
        for (i, session, first) in expect_down {
            let instance = &self.instances[&i];
            let mut got: Vec<u32> = instance
                .received
                .iter()
                .filter(|(s, seq)| *s == session && *seq >= first)
                .map(|(_, seq)| *seq)
                .collect();
            if self.cfg.net.full_reorder {
                got.sort_unstable();
            }
            let want: Vec<u32> = (first..first + count).collect();
            if got != want || instance.session != session {
                self.fail(format!(
                    "#{i} (tab {}) got server messages {got:?}, want {want:?} (session {} -> {})",
                    self.tabs[instance.tab].id, session, instance.session
                ));
            }
        }
        for (i, from) in expect_up {
            let mut got: Vec<u32> = self
                .server
                .ups_of(i)
                .into_iter()
                .filter(|&s| s >= from)
                .collect();
            if self.cfg.net.full_reorder {
                got.sort_unstable();
            }
            let want: Vec<u32> = (from..from + count).collect();
            if got != want {
                self.fail(format!("server got #{i}'s sends {got:?}, want {want:?}"));
            }
        }
    }

    /// On a bus that loses and reorders nothing: every send reached the
    /// server, or its instance saw the connection end after it (a leader
    /// change, 1006, or a final close) before the server got any later
    /// send of its tab in that scope; and a send no tab put on a socket,
    /// lost while its instance stayed in the scope, is one the tab counted
    /// in doubt (one put on a socket that then dropped is lost as a native
    /// socket's is). (Once: the server checks.) Sends of tabs that crashed
    /// may be lost with them.
    pub fn check_sends(&self) {
        let mut later_of_tab: BTreeMap<(usize, String), Vec<(u64, u64)>> = BTreeMap::new();
        let arrivals: BTreeMap<(InstanceId, u32), u64> = self
            .server
            .received
            .iter()
            .filter_map(|r| match r.payload {
                Pl::Up { instance, seq } => Some(((instance, seq), r.at)),
                _ => None,
            })
            .collect();
        for (&id, instance) in &self.instances {
            for (seq, &(at, _)) in instance.sent_at.iter().enumerate() {
                if let Some(&arrived) = arrivals.get(&(id, seq as u32)) {
                    later_of_tab
                        .entry((instance.tab, instance.scope.clone()))
                        .or_default()
                        .push((at, arrived));
                }
            }
        }
        for (&id, instance) in &self.instances {
            if !self.tabs[instance.tab].alive || instance.phase == Phase::Gone {
                continue;
            }
            let in_doubt = instance.leadership.as_ref().map_or(0, |l| l.sends_in_doubt);
            for (seq, &(at, in_doubt_then)) in instance.sent_at.iter().enumerate() {
                if arrivals.contains_key(&(id, seq as u32)) {
                    continue;
                }
                let key = (instance.tab, instance.scope.clone());
                let next_arrival = later_of_tab
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|(sent, _)| *sent > at)
                    .map(|(_, arrived)| *arrived)
                    .min()
                    .unwrap_or(u64::MAX);
                let ended_at = instance
                    .events
                    .iter()
                    .find(|(t, event)| *t >= at && matches!(event, Event::Closed { .. }))
                    .map(|(t, _)| *t);
                if ended_at.is_none_or(|t| t > next_arrival) {
                    self.fail(format!(
                        "#{id}'s send {seq} (at {at}) never reached the server, and its \
                         instance saw no close before a later send of its tab did (at {next_arrival})"
                    ));
                }
                let final_close = instance.final_close.is_some();
                let on_a_socket = self.transmitted.contains(&(id, seq as u32));
                if !final_close && !on_a_socket && in_doubt <= in_doubt_then {
                    self.fail(format!(
                        "#{id}'s send {seq} (at {at}) never reached the server, yet its tab \
                         counts no send in doubt since"
                    ));
                }
            }
        }
    }
}
