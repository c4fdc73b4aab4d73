//! Conformance suites, one per seam: the behaviour every implementation of
//! the seam must have, the web one (`conformance_web.rs`, in a dedicated
//! worker of headless Chromium) and the simulated one
//! (`conformance_sim.rs`, natively). Each suite drives its seam through a
//! small harness, lets events arrive (`settle`), and checks what came back.
#![allow(dead_code)]

use bws_core::{LockEvent, SocketId};

/// Tabs with a lock manager each, sharing the origin's locks.
pub trait LockHarness {
    /// `Locks::request` on tab `tab`.
    fn request(&mut self, tab: usize, scope: &str, ticket: u64, steal: bool);
    /// `Locks::release` on tab `tab`.
    fn release(&mut self, tab: usize, scope: &str);
    /// Lets every pending event arrive.
    async fn settle(&mut self);
    /// The `(ticket, event)`s tab `tab` received since last asked.
    fn take(&mut self, tab: usize) -> Vec<(u64, LockEvent)>;
}

/// Tabs with a bus each.
pub trait BusHarness {
    /// `Bus::open` on tab `tab`.
    fn open(&mut self, tab: usize, scope: &str);
    /// `Bus::close` on tab `tab`.
    fn close(&mut self, tab: usize, scope: &str);
    /// `Bus::post` on tab `tab` of a message numbered `seq`.
    fn post(&mut self, tab: usize, scope: &str, seq: u64);
    /// Lets every pending message arrive.
    async fn settle(&mut self);
    /// The `(sender tab, seq)` of what tab `tab` received and decoded since
    /// last asked.
    fn take(&mut self, tab: usize) -> Vec<(usize, u64)>;
}

/// What a socket reported, without its payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Open,
    Message,
    Error,
    Closed { code: u16, clean: bool },
}

/// One tab's sockets, to a server that echoes.
pub trait SocketHarness {
    /// `Transport::open` of a socket to the echo endpoint (or, with
    /// `refused`, to a server that refuses connections).
    fn open(&mut self, socket: SocketId, refused: bool);
    /// `Transport::send` of a text.
    fn send(&mut self, socket: SocketId, text: &str);
    /// `Transport::close`.
    fn close(&mut self, socket: SocketId, code: Option<u16>);
    /// Lets every pending event arrive.
    async fn settle(&mut self);
    /// What the socket reported since last asked.
    fn take(&mut self, socket: SocketId) -> Vec<Seen>;
}

// ---------------------------------------------------------------- locks

/// A free lock is granted; a second request waits until the first lets go.
pub async fn lock_is_exclusive_and_queues(h: &mut impl LockHarness) {
    h.request(0, "q", 1, false);
    h.settle().await;
    h.request(1, "q", 1, false);
    h.settle().await;
    assert_eq!(h.take(0), vec![(1, LockEvent::Acquired)]);
    assert_eq!(h.take(1), vec![], "a held lock makes others wait");
    h.release(0, "q");
    h.settle().await;
    assert_eq!(h.take(1), vec![(1, LockEvent::Acquired)]);
    assert_eq!(h.take(0), vec![], "letting go is no loss");
    h.release(1, "q");
}

/// A replaced request withdraws the old one: a waiting request replaced
/// by a new one is granted once, as the new one; replacing a held request
/// gives the lock back.
pub async fn a_replaced_request_withdraws_the_old_one(h: &mut impl LockHarness) {
    h.request(0, "r", 1, false);
    h.settle().await;
    assert_eq!(h.take(0), vec![(1, LockEvent::Acquired)]);
    h.request(1, "r", 1, false);
    h.request(1, "r", 2, false);
    h.settle().await;
    h.release(0, "r");
    h.settle().await;
    assert_eq!(h.take(1), vec![(2, LockEvent::Acquired)]);
    h.request(0, "r", 2, false);
    h.settle().await;
    h.request(1, "r", 3, false);
    h.settle().await;
    assert_eq!(h.take(0), vec![(2, LockEvent::Acquired)]);
    assert_eq!(h.take(1), vec![], "the replacement waits behind tab 0");
    h.release(0, "r");
    h.settle().await;
    assert_eq!(h.take(1), vec![(3, LockEvent::Acquired)]);
    h.release(1, "r");
}

/// A steal is granted at once, and the holder learns it lost the lock.
pub async fn a_steal_grants_at_once_and_the_holder_learns_it_lost(h: &mut impl LockHarness) {
    h.request(0, "s", 1, false);
    h.settle().await;
    h.request(1, "s", 1, true);
    h.settle().await;
    assert_eq!(
        h.take(0),
        vec![(1, LockEvent::Acquired), (1, LockEvent::Lost)]
    );
    assert_eq!(h.take(1), vec![(1, LockEvent::Acquired)]);
    h.release(1, "s");
    h.release(0, "s");
}

/// Releasing a waiting request dequeues it: it is never granted.
pub async fn releasing_a_waiter_dequeues_it(h: &mut impl LockHarness) {
    h.request(0, "w", 1, false);
    h.settle().await;
    h.request(1, "w", 1, false);
    h.request(2, "w", 1, false);
    h.settle().await;
    h.release(1, "w");
    h.release(0, "w");
    h.settle().await;
    assert_eq!(h.take(1), vec![], "a withdrawn request is never granted");
    assert_eq!(h.take(2), vec![(1, LockEvent::Acquired)]);
    h.release(2, "w");
}

// ---------------------------------------------------------------- bus

/// Every other open channel of the scope hears a post, in the order its
/// sender posted; the sender never hears itself.
pub async fn a_post_reaches_every_other_tab_in_order(h: &mut impl BusHarness) {
    for tab in 0..3 {
        h.open(tab, "b");
    }
    h.settle().await;
    for seq in 0..5 {
        h.post(0, "b", seq);
        h.post(1, "b", 100 + seq);
    }
    h.settle().await;
    let from = |heard: &[(usize, u64)], tab| -> Vec<u64> {
        heard
            .iter()
            .filter(|(sender, _)| *sender == tab)
            .map(|(_, seq)| *seq)
            .collect()
    };
    let (zero, one, two) = (h.take(0), h.take(1), h.take(2));
    assert_eq!(
        from(&zero, 0),
        Vec::<u64>::new(),
        "a sender never hears itself"
    );
    assert_eq!(from(&zero, 1), vec![100, 101, 102, 103, 104]);
    assert_eq!(from(&one, 0), vec![0, 1, 2, 3, 4]);
    assert_eq!(
        from(&one, 1),
        Vec::<u64>::new(),
        "a sender never hears itself"
    );
    assert_eq!(from(&two, 0), vec![0, 1, 2, 3, 4]);
    assert_eq!(from(&two, 1), vec![100, 101, 102, 103, 104]);
    for tab in 0..3 {
        h.close(tab, "b");
    }
}

/// A closed channel hears nothing; other scopes' channels hear nothing.
pub async fn a_closed_channel_delivers_nothing(h: &mut impl BusHarness) {
    h.open(0, "c");
    h.open(1, "c");
    h.open(2, "other");
    h.settle().await;
    h.close(1, "c");
    h.post(0, "c", 1);
    h.settle().await;
    assert_eq!(h.take(1), vec![]);
    assert_eq!(h.take(2), vec![]);
    h.close(0, "c");
    h.close(2, "other");
}

// ---------------------------------------------------------------- sockets

/// Events come in the native order: open, messages, then the close.
pub async fn socket_events_come_in_native_order(h: &mut impl SocketHarness) {
    let socket = SocketId(1);
    h.open(socket, false);
    h.settle().await;
    assert_eq!(h.take(socket), vec![Seen::Open]);
    h.send(socket, "one");
    h.send(socket, "two");
    h.settle().await;
    assert_eq!(h.take(socket), vec![Seen::Message, Seen::Message]);
    h.close(socket, Some(1000));
    h.settle().await;
    assert_eq!(
        h.take(socket),
        vec![Seen::Closed {
            code: 1000,
            clean: true
        }]
    );
}

/// A connection that fails reports one error, then one close (1006).
pub async fn a_failed_open_reports_once(h: &mut impl SocketHarness) {
    let socket = SocketId(2);
    h.open(socket, true);
    h.settle().await;
    h.settle().await;
    assert_eq!(
        h.take(socket),
        vec![
            Seen::Error,
            Seen::Closed {
                code: 1006,
                clean: false
            }
        ]
    );
}

/// Closing a socket that is still connecting fails it: error, then 1006.
pub async fn closing_while_connecting_fails_the_socket(h: &mut impl SocketHarness) {
    let socket = SocketId(3);
    h.open(socket, false);
    h.close(socket, None);
    h.settle().await;
    assert_eq!(
        h.take(socket),
        vec![
            Seen::Error,
            Seen::Closed {
                code: 1006,
                clean: false
            }
        ]
    );
}
