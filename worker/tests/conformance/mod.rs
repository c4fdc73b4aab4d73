//! Conformance suites, one per seam: the behaviour every implementation of
//! the seam must have, the web one (`conformance_web.rs`, in a dedicated
//! worker of headless Chromium) and the simulated one
//! (`conformance_sim.rs`, natively). Each suite drives its seam through a
//! small harness, lets events arrive (`settle`, or time pass: `sleep`), and
//! checks what came back.
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
    /// `Bus::post` on tab `tab` of a relayed server message (`Body::In`) whose
    /// payload is numbered `seq`.
    fn relay(&mut self, tab: usize, scope: &str, seq: u64);
    /// Lets every pending message arrive.
    async fn settle(&mut self);
    /// The `(sender tab, seq)` of what tab `tab` received and decoded since
    /// last asked: one for each relayed payload.
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

/// Tabs with a clock each.
pub trait ClockHarness {
    /// `Clock::now` on tab `tab`.
    fn now(&self, tab: usize) -> u64;
    /// `Clock::wake_at` on tab `tab`.
    fn wake_at(&mut self, tab: usize, at: Option<u64>);
    /// Lets `ms` milliseconds pass, and every alarm due meanwhile go off.
    async fn sleep(&mut self, ms: u64);
    /// What tab `tab`'s clock read (`now`) at each of its wake-ups since
    /// last asked.
    fn take(&mut self, tab: usize) -> Vec<u64>;
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

/// Relayed server messages posted in a row, which a bus may gather into one
/// message, arrive whole and in order, before what the sender posts next,
/// and before its channel closes.
pub async fn relays_keep_their_order_with_other_posts(h: &mut impl BusHarness) {
    h.open(0, "r");
    h.open(1, "r");
    h.settle().await;
    h.post(0, "r", 0);
    for seq in 1..=5 {
        h.relay(0, "r", seq);
    }
    h.post(0, "r", 6);
    h.relay(0, "r", 7);
    h.relay(0, "r", 8);
    h.settle().await;
    h.relay(0, "r", 9);
    h.relay(0, "r", 10);
    h.close(0, "r");
    h.settle().await;
    let heard: Vec<u64> = h.take(1).into_iter().map(|(_, seq)| seq).collect();
    assert_eq!(heard, (0..=10).collect::<Vec<_>>());
    h.close(1, "r");
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

// ---------------------------------------------------------------- clock

/// `now` never goes back, and moves on with time: across a wait of 100 ms
/// it advances by 100 ms (less a millisecond of timer and clock
/// resolution).
pub async fn now_never_goes_back_and_moves_on(h: &mut impl ClockHarness) {
    let mut last = h.now(0);
    for _ in 0..5 {
        for _ in 0..100 {
            let now = h.now(0);
            assert!(now >= last, "now went back from {last} to {now}");
            last = now;
        }
        h.sleep(10).await;
    }
    let before = h.now(0);
    h.sleep(100).await;
    let after = h.now(0);
    assert!(
        after >= before + 99,
        "100 ms later, now moved from {before} to {after}"
    );
}

/// Tabs read one time base: epochs are compared across tabs.
pub async fn tabs_read_one_time_base(h: &mut impl ClockHarness) {
    h.sleep(10).await;
    let (first, other, last) = (h.now(0), h.now(1), h.now(0));
    assert!(
        first <= other && other <= last,
        "tab 1 read {other} between tab 0's {first} and {last}"
    );
}

/// An armed alarm goes off once, at its deadline or after it, never before.
pub async fn an_alarm_goes_off_once_never_before_its_deadline(h: &mut impl ClockHarness) {
    let at = h.now(0) + 50;
    h.wake_at(0, Some(at));
    h.sleep(200).await;
    let woke = h.take(0);
    assert_eq!(woke.len(), 1, "one wake-up for one alarm: {woke:?}");
    assert!(woke[0] >= at, "woke at {} for a deadline of {at}", woke[0]);
    h.sleep(100).await;
    assert_eq!(h.take(0), Vec::<u64>::new(), "an alarm goes off once");
}

/// Arming again replaces the alarm, for a sooner deadline or a later one:
/// one wake-up, for the last deadline armed.
pub async fn arming_again_replaces_the_alarm(h: &mut impl ClockHarness) {
    let now = h.now(0);
    h.wake_at(0, Some(now + 300));
    h.wake_at(0, Some(now + 30));
    h.sleep(500).await;
    let woke = h.take(0);
    assert_eq!(
        woke.len(),
        1,
        "the sooner alarm replaced the later: {woke:?}"
    );
    assert!(woke[0] >= now + 30);

    let now = h.now(0);
    h.wake_at(0, Some(now + 30));
    h.wake_at(0, Some(now + 150));
    h.sleep(400).await;
    let woke = h.take(0);
    assert_eq!(
        woke.len(),
        1,
        "the later alarm replaced the sooner: {woke:?}"
    );
    assert!(
        woke[0] >= now + 150,
        "woke at {} for the later deadline {}",
        woke[0],
        now + 150
    );
}

/// Arming again for the same deadline keeps one alarm.
pub async fn arming_twice_for_one_deadline_wakes_once(h: &mut impl ClockHarness) {
    let at = h.now(0) + 30;
    h.wake_at(0, Some(at));
    h.wake_at(0, Some(at));
    h.sleep(200).await;
    let woke = h.take(0);
    assert_eq!(woke.len(), 1, "{woke:?}");
    assert!(woke[0] >= at);
}

/// `None` disarms: nothing goes off.
pub async fn none_disarms_the_alarm(h: &mut impl ClockHarness) {
    let now = h.now(0);
    h.wake_at(0, Some(now + 30));
    h.wake_at(0, None);
    h.sleep(200).await;
    assert_eq!(h.take(0), Vec::<u64>::new());
}

/// A deadline already past goes off at once: the driver arms the core's
/// next deadline, which may be due already.
pub async fn a_deadline_already_past_goes_off_at_once(h: &mut impl ClockHarness) {
    let now = h.now(0);
    h.wake_at(0, Some(now - 10));
    h.sleep(50).await;
    assert_eq!(h.take(0).len(), 1);
}

/// An alarm that went off can be armed again, for the same deadline too
/// (the core may not have acted on it yet).
pub async fn an_alarm_that_went_off_can_be_armed_again(h: &mut impl ClockHarness) {
    let at = h.now(0) + 20;
    h.wake_at(0, Some(at));
    h.sleep(100).await;
    assert_eq!(h.take(0).len(), 1);
    h.wake_at(0, Some(at));
    h.sleep(50).await;
    assert_eq!(h.take(0).len(), 1, "armed again, it goes off again");
}

/// Each tab's clock has its own alarm: arming one replaces no other.
pub async fn each_tab_has_its_own_alarm(h: &mut impl ClockHarness) {
    let now = h.now(0);
    h.wake_at(0, Some(now + 30));
    h.wake_at(1, Some(now + 60));
    h.sleep(200).await;
    let (zero, one) = (h.take(0), h.take(1));
    assert_eq!((zero.len(), one.len()), (1, 1), "{zero:?} {one:?}");
    assert!(zero[0] >= now + 30 && one[0] >= now + 60);
}
