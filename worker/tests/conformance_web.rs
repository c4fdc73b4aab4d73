//! The conformance suites of `conformance` over the web seams, in a dedicated
//! worker of headless Chromium (where the engine runs them). Several "tabs"
//! are several seam instances in one worker: Web Locks and BroadcastChannel
//! treat each request and each channel object on its own, as they would in
//! separate workers. `npm test` starts the server and passes its address as
//! BWS_TEST_SERVER_WS at compile time.
#![cfg(target_arch = "wasm32")]

mod conformance;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use bws_core::{Body, Bus, BusMessage, Clock, LockEvent, Locks, SocketEvent, SocketId, Transport};
use bws_facade::Payload;
use bws_worker::web::bus::WebBus;
use bws_worker::web::clock::WebClock;
use bws_worker::web::locks::WebLocks;
use bws_worker::web::socket::WebSockets;
use conformance::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const SERVER: &str = match option_env!("BWS_TEST_SERVER_WS") {
    Some(server) => server,
    None => "ws://127.0.0.1:8080",
};

/// Waits `ms` milliseconds: long enough, on a loaded machine, for what the
/// browser does in its own time (lock grants, channel deliveries, the echo).
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = global.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A name no other test run shares: locks and channels are the origin's.
fn unique(scope: &str) -> String {
    format!("conformance-{}-{scope}", js_sys::Math::random())
}

// ---------------------------------------------------------------- locks

type Heard<T> = Rc<RefCell<Vec<T>>>;

struct Locks3 {
    tabs: Vec<(WebLocks, Heard<(u64, LockEvent)>)>,
    prefix: String,
}

impl Locks3 {
    fn new() -> Self {
        let tabs = (0..3)
            .map(|_| {
                let heard: Heard<(u64, LockEvent)> = Rc::default();
                let sink = heard.clone();
                let locks = WebLocks::new(move |_scope, ticket, event| {
                    sink.borrow_mut().push((ticket, event))
                });
                assert!(locks.available(), "a worker of localhost has Web Locks");
                (locks, heard)
            })
            .collect();
        Locks3 {
            tabs,
            prefix: unique("lock"),
        }
    }
}

impl LockHarness for Locks3 {
    fn request(&mut self, tab: usize, scope: &str, ticket: u64, steal: bool) {
        let scope = format!("{}-{scope}", self.prefix);
        self.tabs[tab].0.request(&scope, ticket, steal);
    }

    fn release(&mut self, tab: usize, scope: &str) {
        let scope = format!("{}-{scope}", self.prefix);
        self.tabs[tab].0.release(&scope);
    }

    async fn settle(&mut self) {
        sleep(100).await;
    }

    fn take(&mut self, tab: usize) -> Vec<(u64, LockEvent)> {
        std::mem::take(&mut *self.tabs[tab].1.borrow_mut())
    }
}

#[wasm_bindgen_test]
async fn lock_is_exclusive_and_queues() {
    conformance::lock_is_exclusive_and_queues(&mut Locks3::new()).await;
}

#[wasm_bindgen_test]
async fn lock_a_replaced_request_withdraws_the_old_one() {
    conformance::a_replaced_request_withdraws_the_old_one(&mut Locks3::new()).await;
}

#[wasm_bindgen_test]
async fn lock_a_steal_grants_at_once_and_the_holder_learns_it_lost() {
    conformance::a_steal_grants_at_once_and_the_holder_learns_it_lost(&mut Locks3::new()).await;
}

#[wasm_bindgen_test]
async fn lock_releasing_a_waiter_dequeues_it() {
    conformance::releasing_a_waiter_dequeues_it(&mut Locks3::new()).await;
}

// ---------------------------------------------------------------- bus

struct Buses3 {
    tabs: Vec<(WebBus, Heard<JsValue>)>,
    prefix: String,
}

impl Buses3 {
    fn new() -> Self {
        let tabs = (0..3)
            .map(|_| {
                let heard: Heard<JsValue> = Rc::default();
                let sink = heard.clone();
                let bus = WebBus::new(move |_scope, data| sink.borrow_mut().push(data));
                (bus, heard)
            })
            .collect();
        Buses3 {
            tabs,
            prefix: unique("bus"),
        }
    }

    fn scope(&self, scope: &str) -> String {
        format!("{}-{scope}", self.prefix)
    }
}

impl BusHarness for Buses3 {
    fn open(&mut self, tab: usize, scope: &str) {
        let scope = self.scope(scope);
        self.tabs[tab].0.open(&scope);
    }

    fn close(&mut self, tab: usize, scope: &str) {
        let scope = self.scope(scope);
        self.tabs[tab].0.close(&scope);
    }

    fn post(&mut self, tab: usize, scope: &str, seq: u64) {
        let scope = self.scope(scope);
        let message: BusMessage<Payload> = BusMessage::new(format!("tab-{tab}"), seq, Body::Hello);
        self.tabs[tab].0.post(&scope, &message);
    }

    fn relay(&mut self, tab: usize, scope: &str, seq: u64) {
        let scope = self.scope(scope);
        let payload = Payload(JsValue::from_str(&seq.to_string()));
        let message = BusMessage::new(format!("tab-{tab}"), 1, Body::In(vec![payload]));
        self.tabs[tab].0.post(&scope, &message);
    }

    async fn settle(&mut self) {
        sleep(100).await;
    }

    fn take(&mut self, tab: usize) -> Vec<(usize, u64)> {
        let raw = std::mem::take(&mut *self.tabs[tab].1.borrow_mut());
        let bus = &self.tabs[tab].0;
        raw.into_iter()
            .map(|data| bus.decode(data).expect("a message of this protocol"))
            .flat_map(|message| {
                let sender: usize = message.from["tab-".len()..].parse().unwrap();
                match message.body {
                    Body::In(payloads) => payloads
                        .iter()
                        .map(|payload| (sender, payload.0.as_string().unwrap().parse().unwrap()))
                        .collect(),
                    _ => vec![(sender, message.epoch)],
                }
            })
            .collect()
    }
}

#[wasm_bindgen_test]
async fn bus_a_post_reaches_every_other_tab_in_order() {
    conformance::a_post_reaches_every_other_tab_in_order(&mut Buses3::new()).await;
}

#[wasm_bindgen_test]
async fn bus_relays_keep_their_order_with_other_posts() {
    conformance::relays_keep_their_order_with_other_posts(&mut Buses3::new()).await;
}

#[wasm_bindgen_test]
async fn bus_a_closed_channel_delivers_nothing() {
    conformance::a_closed_channel_delivers_nothing(&mut Buses3::new()).await;
}

#[wasm_bindgen_test]
fn bus_junk_does_not_decode() {
    let bus = WebBus::new(|_, _| {});
    assert!(bus.decode(JsValue::from_str("junk")).is_none());
    assert!(bus.decode(js_sys::Object::new().into()).is_none());
}

// ---------------------------------------------------------------- sockets

struct Sockets {
    transport: WebSockets,
    heard: Heard<(SocketId, Seen)>,
}

impl Sockets {
    fn new() -> Self {
        let heard: Heard<(SocketId, Seen)> = Rc::default();
        let sink = heard.clone();
        let transport = WebSockets::new(move |socket, event: SocketEvent<Payload>| {
            let seen = match event {
                SocketEvent::Open { .. } => Seen::Open,
                SocketEvent::Message(_) => Seen::Message,
                SocketEvent::Error => Seen::Error,
                SocketEvent::Closed(info) => Seen::Closed {
                    code: info.code,
                    clean: info.was_clean,
                },
            };
            sink.borrow_mut().push((socket, seen));
        });
        Sockets { transport, heard }
    }
}

impl SocketHarness for Sockets {
    fn open(&mut self, socket: SocketId, refused: bool) {
        // Port 9 (discard) on localhost: nothing listens, the connection fails.
        let url = if refused {
            "ws://127.0.0.1:9/".to_owned()
        } else {
            format!("{SERVER}/echo")
        };
        self.transport
            .open(socket, &url, &[])
            .expect("the URL is valid");
    }

    fn send(&mut self, socket: SocketId, text: &str) {
        self.transport
            .send(socket, Payload(JsValue::from_str(text)));
    }

    fn close(&mut self, socket: SocketId, code: Option<u16>) {
        self.transport.close(socket, code, "");
    }

    async fn settle(&mut self) {
        sleep(300).await;
    }

    fn take(&mut self, socket: SocketId) -> Vec<Seen> {
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut *self.heard.borrow_mut())
            .into_iter()
            .partition(|(s, _)| *s == socket);
        *self.heard.borrow_mut() = others;
        mine.into_iter().map(|(_, seen)| seen).collect()
    }
}

#[wasm_bindgen_test]
async fn socket_events_come_in_native_order() {
    conformance::socket_events_come_in_native_order(&mut Sockets::new()).await;
}

#[wasm_bindgen_test]
async fn socket_a_failed_open_reports_once() {
    conformance::a_failed_open_reports_once(&mut Sockets::new()).await;
}

#[wasm_bindgen_test]
async fn socket_closing_while_connecting_fails_the_socket() {
    conformance::closing_while_connecting_fails_the_socket(&mut Sockets::new()).await;
}

#[wasm_bindgen_test]
fn socket_a_url_the_constructor_refuses_is_refused() {
    let mut sockets = Sockets::new();
    assert!(sockets
        .transport
        .open(SocketId(9), "ftp://127.0.0.1/", &[])
        .is_err());
}

// ---------------------------------------------------------------- clock

struct Clocks {
    tabs: Vec<(Rc<RefCell<WebClock>>, Heard<u64>)>,
}

impl Clocks {
    fn new() -> Self {
        let tabs = (0..2)
            .map(|_| {
                let heard: Heard<u64> = Rc::default();
                let sink = heard.clone();
                // A wake-up reads the time on the clock that rang.
                let clock = Rc::new_cyclic(|me: &Weak<RefCell<WebClock>>| {
                    let me = me.clone();
                    RefCell::new(WebClock::new(move || {
                        let clock = me.upgrade().expect("a dropped clock never rings");
                        let now = clock.borrow().now();
                        sink.borrow_mut().push(now);
                    }))
                });
                (clock, heard)
            })
            .collect();
        Clocks { tabs }
    }
}

impl ClockHarness for Clocks {
    fn now(&self, tab: usize) -> u64 {
        self.tabs[tab].0.borrow().now()
    }

    fn wake_at(&mut self, tab: usize, at: Option<u64>) {
        self.tabs[tab].0.borrow_mut().wake_at(at);
    }

    async fn sleep(&mut self, ms: u64) {
        sleep(ms as i32).await;
    }

    fn take(&mut self, tab: usize) -> Vec<u64> {
        std::mem::take(&mut *self.tabs[tab].1.borrow_mut())
    }
}

#[wasm_bindgen_test]
async fn clock_now_never_goes_back_and_moves_on() {
    conformance::now_never_goes_back_and_moves_on(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_tabs_read_one_time_base() {
    conformance::tabs_read_one_time_base(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_an_alarm_goes_off_once_never_before_its_deadline() {
    conformance::an_alarm_goes_off_once_never_before_its_deadline(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_arming_again_replaces_the_alarm() {
    conformance::arming_again_replaces_the_alarm(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_arming_twice_for_one_deadline_wakes_once() {
    conformance::arming_twice_for_one_deadline_wakes_once(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_none_disarms_the_alarm() {
    conformance::none_disarms_the_alarm(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_a_deadline_already_past_goes_off_at_once() {
    conformance::a_deadline_already_past_goes_off_at_once(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_an_alarm_that_went_off_can_be_armed_again() {
    conformance::an_alarm_that_went_off_can_be_armed_again(&mut Clocks::new()).await;
}

#[wasm_bindgen_test]
async fn clock_each_tab_has_its_own_alarm() {
    conformance::each_tab_has_its_own_alarm(&mut Clocks::new()).await;
}

/// Workers started at different times share a base because it is the wall
/// clock's: `now` starts out close to `Date.now()`.
#[wasm_bindgen_test]
fn clock_is_on_the_wall_clocks_base() {
    let now = Clocks::new().now(0) as f64;
    let wall = js_sys::Date::now();
    assert!(
        (now - wall).abs() < 1000.0,
        "now {now} is {} ms off the wall clock",
        now - wall
    );
}
