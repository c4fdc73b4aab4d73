//! The conformance suites of `conformance` over the simulated seams: each
//! call goes through the simulated seam into the simulated browser of
//! `common`, and what the browser then delivers is what the suite sees.

mod common;
mod conformance;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bws_core::{Backend, Body, BusMessage, Clock, LockEvent, SocketId};
use common::*;
use conformance::*;

/// Runs a suite to its end: the simulated harnesses never wait on anything
/// but the world's clock, so every future is ready when polled.
fn run(suite: impl Future<Output = ()>) {
    /// Nothing to wake: the suite is polled once.
    struct Nobody;
    impl Wake for Nobody {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Nobody));
    let mut suite = pin!(suite);
    match suite.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(()) => {}
        Poll::Pending => panic!("a simulated suite waited on something other than the world"),
    }
}

fn world(backend: Backend, tabs: usize) -> World {
    let mut config = Config::new(backend);
    config.net = Net::fixed(1, 5);
    config.seams_only = true;
    let mut w = World::new(config);
    for index in 0..tabs {
        w.add_tab_named(&format!("tab-{index}"));
    }
    w.record = true;
    w
}

/// Lets everything scheduled happen.
fn settle(w: &mut World) {
    w.run_for(100);
}

// ---------------------------------------------------------------- locks

struct Locks(World);

impl LockHarness for Locks {
    fn request(&mut self, tab: usize, scope: &str, ticket: u64, steal: bool) {
        // The world checks that a tab asks only for the lock of a scope it is in.
        if !self.0.in_scope(tab, scope) {
            let scope = scope.to_owned();
            self.0.call(tab, Call::OpenBus { scope });
        }
        let scope = scope.to_owned();
        self.0.call(
            tab,
            Call::RequestLock {
                scope,
                ticket,
                steal,
            },
        );
    }

    fn release(&mut self, tab: usize, scope: &str) {
        let scope = scope.to_owned();
        self.0.call(tab, Call::ReleaseLock { scope });
    }

    async fn settle(&mut self) {
        settle(&mut self.0);
    }

    fn take(&mut self, tab: usize) -> Vec<(u64, LockEvent)> {
        take(&mut self.0, tab, |input| match input {
            Input::LockAcquired { request, .. } => Some((*request, LockEvent::Acquired)),
            Input::LockLost { request, .. } => Some((*request, LockEvent::Lost)),
            _ => None,
        })
    }
}

/// Takes the recorded inputs of `tab` that `pick` keeps.
fn take<T>(w: &mut World, tab: usize, pick: impl Fn(&Input) -> Option<T>) -> Vec<T> {
    let (mine, others) = std::mem::take(&mut w.recorded)
        .into_iter()
        .partition(|(to, _)| *to == tab);
    w.recorded = others;
    mine.iter().filter_map(|(_, input)| pick(input)).collect()
}

fn locks() -> Locks {
    Locks(world(Backend::Locks, 3))
}

#[test]
fn lock_is_exclusive_and_queues() {
    run(conformance::lock_is_exclusive_and_queues(&mut locks()));
}

#[test]
fn lock_a_replaced_request_withdraws_the_old_one() {
    run(conformance::a_replaced_request_withdraws_the_old_one(
        &mut locks(),
    ));
}

#[test]
fn lock_a_steal_grants_at_once_and_the_holder_learns_it_lost() {
    run(conformance::a_steal_grants_at_once_and_the_holder_learns_it_lost(&mut locks()));
}

#[test]
fn lock_releasing_a_waiter_dequeues_it() {
    run(conformance::releasing_a_waiter_dequeues_it(&mut locks()));
}

// ---------------------------------------------------------------- bus

struct Buses(World);

impl BusHarness for Buses {
    fn open(&mut self, tab: usize, scope: &str) {
        let scope = scope.to_owned();
        self.0.call(tab, Call::OpenBus { scope });
    }

    fn close(&mut self, tab: usize, scope: &str) {
        let scope = scope.to_owned();
        self.0.call(tab, Call::CloseBus { scope });
    }

    fn post(&mut self, tab: usize, scope: &str, seq: u64) {
        let message = BusMessage::new(self.0.id(tab).to_owned(), seq, Body::Hello);
        let scope = scope.to_owned();
        self.0.call(tab, Call::Post { scope, message });
    }

    fn relay(&mut self, tab: usize, scope: &str, seq: u64) {
        let payload = Pl::Other(seq.to_string());
        let message = BusMessage::new(self.0.id(tab).to_owned(), 1, Body::In(vec![payload]));
        let scope = scope.to_owned();
        self.0.call(tab, Call::Post { scope, message });
    }

    async fn settle(&mut self) {
        settle(&mut self.0);
    }

    fn take(&mut self, tab: usize) -> Vec<(usize, u64)> {
        let ids: Vec<String> = (0..3).map(|t| self.0.id(t).to_owned()).collect();
        let heard = take(&mut self.0, tab, |input| match input {
            Input::Bus {
                message: Wire::Message(message),
                ..
            } => {
                let sender = ids.iter().position(|id| *id == message.from)?;
                Some(match &message.body {
                    Body::In(payloads) => payloads
                        .iter()
                        .map(|payload| match payload {
                            Pl::Other(seq) => (sender, seq.parse().unwrap()),
                            other => panic!("a relay of this suite: {other:?}"),
                        })
                        .collect(),
                    _ => vec![(sender, message.epoch)],
                })
            }
            _ => None,
        });
        heard.into_iter().flatten().collect()
    }
}

fn buses() -> Buses {
    Buses(world(Backend::Lease, 3))
}

#[test]
fn bus_a_post_reaches_every_other_tab_in_order() {
    run(conformance::a_post_reaches_every_other_tab_in_order(
        &mut buses(),
    ));
}

#[test]
fn bus_relays_keep_their_order_with_other_posts() {
    run(conformance::relays_keep_their_order_with_other_posts(
        &mut buses(),
    ));
}

#[test]
fn bus_a_closed_channel_delivers_nothing() {
    run(conformance::a_closed_channel_delivers_nothing(&mut buses()));
}

// ---------------------------------------------------------------- sockets

struct Sockets(World);

impl SocketHarness for Sockets {
    fn open(&mut self, socket: SocketId, refused: bool) {
        self.0.server.refuse = refused;
        // One scope per socket: the world allows one socket per scope and tab.
        let url = url_of(&format!("socket-{}", socket.0));
        self.0.call(0, Call::OpenSocket { socket, url });
    }

    fn send(&mut self, socket: SocketId, text: &str) {
        let payload = Pl::Other(text.to_owned());
        self.0.call(0, Call::Transmit { socket, payload });
    }

    fn close(&mut self, socket: SocketId, code: Option<u16>) {
        let reason = String::new();
        self.0.call(
            0,
            Call::CloseSocket {
                socket,
                code,
                reason,
            },
        );
    }

    async fn settle(&mut self) {
        settle(&mut self.0);
    }

    fn take(&mut self, socket: SocketId) -> Vec<Seen> {
        take(&mut self.0, 0, |input| match input {
            Input::SocketOpen(s) if *s == socket => Some(Seen::Open),
            Input::SocketMessage(s, _) if *s == socket => Some(Seen::Message),
            Input::SocketError(s) if *s == socket => Some(Seen::Error),
            Input::SocketClosed(s, info) if *s == socket => Some(Seen::Closed {
                code: info.code,
                clean: info.was_clean,
            }),
            _ => None,
        })
    }
}

fn sockets() -> Sockets {
    let mut w = world(Backend::Lease, 1);
    w.server.echo = true;
    Sockets(w)
}

#[test]
fn socket_events_come_in_native_order() {
    run(conformance::socket_events_come_in_native_order(
        &mut sockets(),
    ));
}

#[test]
fn socket_a_failed_open_reports_once() {
    run(conformance::a_failed_open_reports_once(&mut sockets()));
}

#[test]
fn socket_closing_while_connecting_fails_the_socket() {
    run(conformance::closing_while_connecting_fails_the_socket(
        &mut sockets(),
    ));
}

// ---------------------------------------------------------------- clock

/// Each tab's clock as its driver has it; the world's run loop rings the
/// alarms.
struct Clocks(World, Vec<SimClock>);

impl ClockHarness for Clocks {
    fn now(&self, tab: usize) -> u64 {
        self.1[tab].now()
    }

    fn wake_at(&mut self, tab: usize, at: Option<u64>) {
        self.1[tab].wake_at(at);
    }

    async fn sleep(&mut self, ms: u64) {
        self.0.run_for(ms);
    }

    fn take(&mut self, tab: usize) -> Vec<u64> {
        let (mine, others) = std::mem::take(&mut self.0.alarms)
            .into_iter()
            .partition(|(to, _)| *to == tab);
        self.0.alarms = others;
        mine.into_iter().map(|(_, now)| now).collect()
    }
}

fn clocks() -> Clocks {
    let w = world(Backend::Lease, 2);
    let clocks = (0..2).map(|tab| w.clock_of(tab)).collect();
    Clocks(w, clocks)
}

#[test]
fn clock_now_never_goes_back_and_moves_on() {
    run(conformance::now_never_goes_back_and_moves_on(&mut clocks()));
}

#[test]
fn clock_tabs_read_one_time_base() {
    run(conformance::tabs_read_one_time_base(&mut clocks()));
}

#[test]
fn clock_an_alarm_goes_off_once_never_before_its_deadline() {
    run(conformance::an_alarm_goes_off_once_never_before_its_deadline(&mut clocks()));
}

#[test]
fn clock_arming_again_replaces_the_alarm() {
    run(conformance::arming_again_replaces_the_alarm(&mut clocks()));
}

#[test]
fn clock_arming_twice_for_one_deadline_wakes_once() {
    run(conformance::arming_twice_for_one_deadline_wakes_once(
        &mut clocks(),
    ));
}

#[test]
fn clock_none_disarms_the_alarm() {
    run(conformance::none_disarms_the_alarm(&mut clocks()));
}

#[test]
fn clock_a_deadline_already_past_goes_off_at_once() {
    run(conformance::a_deadline_already_past_goes_off_at_once(
        &mut clocks(),
    ));
}

#[test]
fn clock_an_alarm_that_went_off_can_be_armed_again() {
    run(conformance::an_alarm_that_went_off_can_be_armed_again(
        &mut clocks(),
    ));
}

#[test]
fn clock_each_tab_has_its_own_alarm() {
    run(conformance::each_tab_has_its_own_alarm(&mut clocks()));
}
