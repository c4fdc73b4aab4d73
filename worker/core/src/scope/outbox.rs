//! A tab's sends on their way to the socket, across leader changes.
//!
//! Every send of the tab is numbered and kept until the leadership it was
//! given to says it handed it to its socket (a leader's heartbeat lists what
//! it handed, per tab). A leader that stops leading says what it handed and
//! refuses the rest (`Body::Refused`): those go again, through the next
//! leader, before any later send of the tab, so the server gets each send
//! once and in the tab's order. While the fate of an earlier send is not
//! known, later sends wait. A leadership that vanishes without a word (its
//! tab crashed, or went away) leaves its sends in doubt: they are given up,
//! as a native socket's sends are on an abnormal closure, and counted.
//!
//! What a leader says it handed is the last of each tab's sends it put on
//! its socket: that tells which it did not only because a tab's messages
//! reach it in the order the tab posted them, as BroadcastChannel delivers
//! them.

use std::collections::VecDeque;

use super::*;

/// A leadership: the leader's tab and its epoch.
pub(super) type LeadershipId = (TabId, u64);

#[derive(Debug)]
struct Entry<P> {
    seq: u64,
    payload: P,
    /// The leadership it was given to; `None` while it waits to be given.
    given_to: Option<LeadershipId>,
}

#[derive(Debug)]
pub(super) struct Outbox<P> {
    /// Sends not yet known to be on a socket, oldest first.
    entries: VecDeque<Entry<P>>,
    /// Leaderships this tab no longer follows that hold some of its sends,
    /// with when it stopped following each.
    abandoned: Vec<(LeadershipId, u64)>,
    /// Sends given up: their leadership vanished without saying whether it
    /// handed them to its socket.
    pub(super) in_doubt: u32,
}

impl<P: Clone> Outbox<P> {
    pub(super) fn new() -> Self {
        Outbox {
            entries: VecDeque::new(),
            abandoned: Vec::new(),
            in_doubt: 0,
        }
    }

    /// A new send, numbered `seq`, to be given to a leader in its turn.
    pub(super) fn push(&mut self, seq: u64, payload: P) {
        self.entries.push_back(Entry {
            seq,
            payload,
            given_to: None,
        });
    }

    /// The sends that may go to `current` now, in order, marked as given to
    /// it: those waiting, up to the first still held by another leadership.
    pub(super) fn give(&mut self, current: &LeadershipId) -> Vec<(u64, P)> {
        let mut given = Vec::new();
        for entry in &mut self.entries {
            match &entry.given_to {
                Some(to) if to == current => {}
                Some(_) => break,
                None => {
                    entry.given_to = Some(current.clone());
                    given.push((entry.seq, entry.payload.clone()));
                }
            }
        }
        given
    }

    /// `to` handed this tab's sends up to `through` to its socket.
    pub(super) fn handed(&mut self, to: &LeadershipId, through: u64) {
        self.entries
            .retain(|entry| entry.given_to.as_ref() != Some(to) || entry.seq > through);
    }

    /// `to` no longer leads: it handed this tab's sends up to `through` to
    /// its socket, and none of the others, which wait to go again.
    pub(super) fn refused(&mut self, to: &LeadershipId, through: u64) {
        self.handed(to, through);
        for entry in &mut self.entries {
            if entry.given_to.as_ref() == Some(to) {
                entry.given_to = None;
            }
        }
        self.abandoned.retain(|(abandoned, _)| abandoned != to);
    }

    /// This tab follows `current` (or no one) from `now`: leaderships that
    /// hold its sends and are not `current` are abandoned from then.
    pub(super) fn follow(&mut self, current: Option<&LeadershipId>, now: u64) {
        for entry in &self.entries {
            let Some(to) = &entry.given_to else { continue };
            if Some(to) != current && !self.abandoned.iter().any(|(a, _)| a == to) {
                self.abandoned.push((to.clone(), now));
            }
        }
        self.abandoned
            .retain(|(abandoned, _)| Some(abandoned) != current);
    }

    /// When the sends held by an abandoned leadership are given up, if any
    /// are: `patience` ms after this tab stopped following it, or at once if
    /// its tab is `gone`.
    pub(super) fn give_up_at(&self, patience: u64, gone: impl Fn(&str) -> bool) -> Option<u64> {
        self.abandoned
            .iter()
            .map(|abandoned| due_at(abandoned, patience, &gone))
            .min()
    }

    /// Gives up the sends of abandoned leaderships whose time came (see
    /// `give_up_at`); returns how many.
    pub(super) fn give_up(&mut self, now: u64, patience: u64, gone: impl Fn(&str) -> bool) -> u32 {
        let due: Vec<LeadershipId> = self
            .abandoned
            .iter()
            .filter(|abandoned| due_at(abandoned, patience, &gone) <= now)
            .map(|(to, _)| to.clone())
            .collect();
        let before = self.entries.len();
        self.entries
            .retain(|entry| !due.iter().any(|to| entry.given_to.as_ref() == Some(to)));
        self.abandoned.retain(|(to, _)| !due.contains(to));
        let given_up = (before - self.entries.len()) as u32;
        self.in_doubt += given_up;
        given_up
    }

    /// Forgets every send: the connection ended for good.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.abandoned.clear();
    }
}

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    /// A send of one of this tab's open instances.
    pub(super) fn send_out(&mut self, ctx: &mut Ctx<I, P>, payload: P) {
        // Numbered by the tab, not the scope: a leader that handed sends of
        // this tab's earlier time in the scope must not take a new one's
        // for those.
        let seq = *ctx.next_send;
        *ctx.next_send += 1;
        self.outbox.push(seq, payload);
        self.flush_outbox(ctx);
    }

    /// Gives the leader, once its socket is open, the sends whose turn came.
    pub(super) fn flush_outbox(&mut self, ctx: &mut Ctx<I, P>) {
        let (Some(current), Some(SharedState::Open { .. })) = (self.leader.clone(), &self.shared)
        else {
            return;
        };
        let given = self.outbox.give(&current);
        if self.leading() {
            let Some(socket) = self.socket() else { return };
            for (seq, payload) in given {
                let from = ctx.me.to_owned();
                self.transmit(ctx, socket, Outgoing { from, seq, payload });
            }
        } else {
            let (leader, epoch) = current;
            for (seq, payload) in given {
                let leader = leader.clone();
                self.broadcast(
                    ctx,
                    epoch,
                    Body::Out {
                        leader,
                        seq,
                        payload,
                    },
                );
            }
        }
    }

    /// What the leader of `epoch` says it handed to its socket.
    pub(super) fn heard_handed(
        &mut self,
        ctx: &Ctx<I, P>,
        from: TabId,
        epoch: u64,
        handed: &[(TabId, u64)],
    ) {
        if let Some(through) = mine(ctx, handed) {
            self.outbox.handed(&(from, epoch), through);
        }
    }

    /// The leader of `epoch` no longer leads (see `Body::Refused`).
    pub(super) fn heard_refused(
        &mut self,
        ctx: &mut Ctx<I, P>,
        from: TabId,
        epoch: u64,
        handed: &[(TabId, u64)],
        to: Option<&str>,
    ) {
        if self.is_leader(&from, epoch) {
            self.log(ctx, format!("{from} stepped down"));
            self.lose_leader(ctx, self.timing.discovery_ms);
        }
        let through = mine(ctx, handed).unwrap_or(0);
        // The leadership this tab's `forceLeader()` asked to yield ended, by
        // yielding to it or otherwise (a busy page's hand-over may come
        // first), unless its tab leads on (see `force_lead`).
        let forced = self.forcing.as_ref() == Some(&(from.clone(), epoch));
        let yielded = to == Some(ctx.me) || (forced && to != Some(from.as_str()));
        self.outbox.refused(&(from, epoch), through);
        self.flush_outbox(ctx);
        if yielded {
            self.take_leadership(ctx);
        }
    }

    /// A leader stepping down refuses what it did not hand to its socket,
    /// its own tab's sends included.
    /// It names the tab it yields to, if it does (see `force_lead`).
    pub(super) fn refuse(
        &mut self,
        ctx: &mut Ctx<I, P>,
        epoch: u64,
        handed: Map<TabId, u64>,
        to: Option<TabId>,
    ) {
        let handed: Vec<(TabId, u64)> = handed.into_iter().collect();
        let own = mine(ctx, &handed).unwrap_or(0);
        self.outbox.refused(&(ctx.me.to_owned(), epoch), own);
        self.broadcast(ctx, epoch, Body::Refused { handed, to });
    }

    /// When sends in doubt are next given up, if any wait for it.
    pub(super) fn give_up_at(&self) -> Option<u64> {
        let patience = self.timing.in_doubt_after_ms();
        self.outbox
            .give_up_at(patience, |tab| self.departed.contains_key(tab))
    }

    /// Gives up the sends held by leaderships that vanished: long after this
    /// tab stopped following them (`Timing::in_doubt_after_ms`), they have
    /// not said what they did with them (a leader that was only slow says it
    /// when it wakes up), or their tab went away.
    pub(super) fn give_up_in_doubt(&mut self, ctx: &mut Ctx<I, P>) {
        let patience = self.timing.in_doubt_after_ms();
        let departed = &self.departed;
        let given_up = self
            .outbox
            .give_up(ctx.now, patience, |tab| departed.contains_key(tab));
        if given_up > 0 {
            self.log(
                ctx,
                format!("{given_up} sends in doubt: their leader vanished"),
            );
            self.report(ctx);
            self.flush_outbox(ctx);
        }
    }
}

/// When the sends held by an abandoned leadership, abandoned `since`, are
/// given up (see `Outbox::give_up_at`).
fn due_at(
    ((tab, _), since): &(LeadershipId, u64),
    patience: u64,
    gone: &impl Fn(&str) -> bool,
) -> u64 {
    if gone(tab) {
        0
    } else {
        since + patience
    }
}

/// This tab's entry in a leader's `handed` list.
fn mine<I, P>(ctx: &Ctx<I, P>, handed: &[(TabId, u64)]) -> Option<u64> {
    handed
        .iter()
        .find(|(tab, _)| tab == ctx.me)
        .map(|(_, seq)| *seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leadership(tab: &str, epoch: u64) -> LeadershipId {
        (tab.to_owned(), epoch)
    }

    #[test]
    fn refused_sends_go_again_before_later_ones_and_handed_ones_never() {
        let (a, b) = (leadership("a", 1), leadership("b", 2));
        let mut outbox = Outbox::new();
        outbox.push(1, "1");
        outbox.push(2, "2");
        outbox.push(3, "3");
        assert_eq!(outbox.give(&a), vec![(1, "1"), (2, "2"), (3, "3")]);
        outbox.follow(Some(&b), 10);
        outbox.push(4, "4");
        // 1 to 3 are with a, of unknown fate: 4 waits.
        assert_eq!(outbox.give(&b), vec![]);
        outbox.refused(&a, 1);
        assert_eq!(outbox.give(&b), vec![(2, "2"), (3, "3"), (4, "4")]);
        outbox.handed(&b, 4);
        assert_eq!(outbox.give(&b), vec![]);
        assert_eq!(outbox.in_doubt, 0);
    }

    #[test]
    fn a_leadership_that_vanishes_leaves_its_sends_in_doubt() {
        let (a, b) = (leadership("a", 1), leadership("b", 2));
        let mut outbox = Outbox::new();
        outbox.push(1, "1");
        outbox.give(&a);
        outbox.follow(Some(&b), 100);
        outbox.push(2, "2");
        let alive = |_: &str| false;
        assert_eq!(outbox.give_up_at(1000, alive), Some(1100));
        assert_eq!(outbox.give_up(1099, 1000, alive), 0);
        assert_eq!(outbox.give_up(1100, 1000, alive), 1);
        assert_eq!(outbox.in_doubt, 1);
        assert_eq!(outbox.give(&b), vec![(2, "2")]);
        // Known gone: at once.
        outbox.follow(None, 2000);
        assert_eq!(outbox.give_up_at(1000, |_| true), Some(0));
    }
}
