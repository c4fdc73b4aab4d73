//! A leader's watch on its page, where the engine runs the worker's socket on
//! the page's main thread (Gecko, WebKit; see `Timing::page_silence_ms`). There a
//! busy page stalls the socket: what the worker hands it waits for the page,
//! and would reach the server after what a new leader sends meanwhile.
//!
//! So such a leader pings its page through one of its instances, and:
//! - holds every send until the page's next answer to a ping (one goes out
//!   with the first held send, unless one is on its way): a send then waits
//!   in a stalled socket only if the page's long task began within a round
//!   trip of that answer;
//! - hands over if the page has not answered for too long while another tab
//!   could lead: it steps down, gives the lock back and says so, and the next
//!   tab leads at once. The sends it held are refused, and go again through
//!   the next leader (see `outbox`).
//!
//! When the application closes the socket, the sends held go first, as a
//! native socket's would.
//!
//! A leader tab without instances cannot ask its page: it watches nothing
//! and hands the socket every send at once (see `watch_page`).
//!
//! Where the engine runs the worker's bus on the page as well (WebKit), a
//! busy leader page also silences the leader's heartbeats, and followers
//! ping their own pages: a follower whose page answers while the leader has
//! been silent past `Timing::leader_silence_ms` replaces it then, instead of
//! after `leader_timeout_ms` (see `leader_deadline`).

use super::*;

/// Since when a leader watches its page (its silence counts from then, or
/// from the page's last answer, `Scope::page_heard_at`, if later), what
/// waits for its next answer, and when to ping it next.
#[derive(Debug)]
pub(super) struct PageWatch<P> {
    since: u64,
    pub(super) next_ping_at: u64,
    /// Sends for the socket, in order, held until the page answers.
    held: Vec<(SocketId, Outgoing<P>)>,
    /// A ping is on its way, unanswered.
    pinged: bool,
    /// Another tab's `forceLeader()` asked this leader to yield, at the
    /// page's next answer (see `asked_to_yield`).
    pub(super) yield_to: Option<TabId>,
}

impl<P> PageWatch<P> {
    pub(super) fn new(now: u64) -> Self {
        PageWatch {
            since: now,
            next_ping_at: now,
            held: Vec::new(),
            pinged: false,
            yield_to: None,
        }
    }
}

impl<I, P> Scope<I, P>
where
    I: Copy + Eq,
    P: Clone,
{
    /// Puts a send on the leader's socket, or holds it for the page's answer.
    pub(super) fn transmit(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, send: Outgoing<P>) {
        let via = self.instances.first().map(|joined| joined.id);
        match (&mut self.role, via) {
            (
                Role::Leader(Leading {
                    page: Some(watch), ..
                }),
                Some(via),
            ) => {
                watch.held.push((socket, send));
                if !watch.pinged {
                    watch.pinged = true;
                    ctx.out.push_back(Output::PingPage { via });
                }
            }
            // No watch, or no instance to ask the page through (see `watch_page`).
            _ => {
                self.release_held(ctx);
                self.hand(ctx, socket, send);
            }
        }
    }

    /// Puts a send on the socket, and notes it handed (see `outbox`).
    fn hand(&mut self, ctx: &mut Ctx<I, P>, socket: SocketId, send: Outgoing<P>) {
        let epoch = self.epoch();
        if let Role::Leader(leading) = &mut self.role {
            let handed = leading.handed.get_or_insert_with(send.from.clone(), || 0);
            *handed = (*handed).max(send.seq);
        }
        if send.from == ctx.me {
            self.outbox.handed(&(send.from, epoch), send.seq);
        }
        ctx.out.push_back(Output::Transmit {
            socket,
            payload: send.payload,
        });
    }

    /// Pings the page when due, and hands over if it has been silent too
    /// long while another tab could lead. Returns whether it stepped down.
    pub(super) fn watch_page(&mut self, ctx: &mut Ctx<I, P>) -> bool {
        let (Some(silence), Some(ping)) = (self.timing.page_silence_ms, self.timing.page_ping_ms())
        else {
            return false;
        };
        let via = self.instances.first().map(|joined| joined.id);
        let Role::Leader(Leading {
            page: Some(watch), ..
        }) = &mut self.role
        else {
            return false;
        };
        let Some(via) = via else {
            // A leader tab without instances cannot ask its page: it keeps
            // the socket, as where the socket does not depend on the page,
            // and never hands over for a busy page, so that no send it put
            // on a stalled socket reaches the server after a successor's.
            watch.since = ctx.now;
            watch.next_ping_at = ctx.now + ping;
            self.release_held(ctx);
            return false;
        };
        let silent_for = ctx.now.saturating_sub(watch.since.max(self.page_heard_at));
        if silent_for > silence && !self.peers.is_empty() {
            let refused = watch.held.len();
            self.hand_over(
                ctx,
                format!(
                    "its page has not answered for {silent_for} ms: another tab takes the socket \
                     ({refused} sends refused)"
                ),
            );
            return true;
        }
        if ctx.now >= watch.next_ping_at {
            watch.next_ping_at = ctx.now + ping;
            watch.pinged = true;
            ctx.out.push_back(Output::PingPage { via });
        }
        false
    }

    /// When a follower pings its page next: only where the bus runs on the
    /// page (WebKit), and through one of its instances.
    pub(super) fn follower_ping_at(&self) -> Option<u64> {
        let watching = self.timing.bus_on_page
            && !self.leading()
            && !self.is_ended()
            && !self.instances.is_empty();
        watching.then_some(self.page_ping_at)
    }

    /// Where the bus runs on the page (WebKit), a follower pings its page as
    /// a leader does: a page that answered proves the tab's bus ran, so a
    /// leader silent meanwhile is busy or gone, not unheard (see
    /// `leader_deadline`).
    pub(super) fn ping_own_page(&mut self, ctx: &mut Ctx<I, P>) {
        let (Some(at), Some(ping), Some(via)) = (
            self.follower_ping_at(),
            self.timing.page_ping_ms(),
            self.instances.first().map(|joined| joined.id),
        ) else {
            return;
        };
        if ctx.now >= at {
            self.page_ping_at = ctx.now + ping;
            ctx.out.push_back(Output::PingPage { via });
        }
    }

    /// The page answered a ping: the sends held for it go to the socket.
    pub fn page_answered(&mut self, ctx: &mut Ctx<I, P>) {
        let ping = self.timing.page_ping_ms().unwrap_or(0);
        if ctx.now > self.page_heard_at + 2 * ping {
            self.page_answers_since = ctx.now;
        }
        self.page_heard_at = ctx.now;
        self.release_held(ctx);
        let yield_to = match &self.role {
            Role::Leader(Leading {
                page: Some(watch), ..
            }) => watch.yield_to.clone(),
            _ => None,
        };
        if let Some(to) = yield_to {
            // Its refusal names the tab, which steals the lock it keeps
            // meanwhile (see `force_lead`).
            self.step_down(ctx, format!("yields to {to}, which forced it"));
            self.announce(ctx);
        }
    }

    /// Another tab's `forceLeader()`, where the socket runs on the page: a
    /// send this leader handed to its socket may wait in it while the page is
    /// busy, and would reach the server after what the next leader sends. So
    /// the leader yields at its page's next answer, when every send it handed
    /// has passed the page. A leader tab without instances cannot ask its
    /// page, and keeps the socket (as it does when its page is busy).
    pub(super) fn asked_to_yield(&mut self, ctx: &mut Ctx<I, P>, from: TabId) {
        let via = self.instances.first().map(|joined| joined.id);
        let (
            Role::Leader(Leading {
                page: Some(watch), ..
            }),
            Some(via),
        ) = (&mut self.role, via)
        else {
            self.log(
                ctx,
                format!("{from} forces a leader change: kept (no page to ask)"),
            );
            return;
        };
        watch.yield_to = Some(from);
        if !watch.pinged {
            watch.pinged = true;
            ctx.out.push_back(Output::PingPage { via });
        }
    }

    /// Hands the socket the sends held for the page, in order. Also before
    /// the socket closes for the application: a native socket sends what it
    /// was given before its close frame, busy page or not.
    pub(super) fn release_held(&mut self, ctx: &mut Ctx<I, P>) {
        let Role::Leader(Leading {
            page: Some(watch),
            socket: current,
            ..
        }) = &mut self.role
        else {
            return;
        };
        watch.pinged = false;
        let current = *current;
        for (socket, send) in std::mem::take(&mut watch.held) {
            // Sends for a socket that closed meanwhile went with it.
            if Some(socket) == current {
                self.hand(ctx, socket, send);
            }
        }
    }
}
