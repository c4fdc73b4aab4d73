//! The engine of broadcast-websocket: one per tab, in a dedicated Web Worker.
//!
//! [`Engine`] is the gloo-worker `Worker`: it runs the core's [`Driver`] on
//! the web seams of [`web`], feeding it the page's requests and what the
//! browser reports. Every `BroadcastWebsocket` instance of the page is one
//! gloo bridge (a `HandlerId`) of this worker.

pub mod web;

use bws_core::{
    Backend, Driver, Event, Instances, JoinRequest, LockEvent, ReconnectPolicy, Seams, SocketEvent,
};
use bws_core::{SocketId, Timing};
use gloo_worker::{HandlerId, Worker, WorkerScope};
use wasm_bindgen::JsValue;

use crate::web::burst::{Burst, Gathered};
use crate::web::bus::WebBus;
use crate::web::clock::WebClock;
use crate::web::engine::PageBound;
use crate::web::locks::WebLocks;
use crate::web::network::MachineWatch;
use crate::web::socket::WebSockets;
use bws_facade::{
    Election, JsMessage, Leadership, OpenRequest, Opened, Payload, Reconnect, Reply, Request,
    Resolved,
};

/// The worker's allocator (see `Cargo.toml`), growing WASM memory as it needs.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The web seams the driver runs on.
#[derive(Debug)]
pub enum Web {}

impl Seams<HandlerId, Payload> for Web {
    type Transport = WebSockets;
    type Bus = WebBus;
    type Locks = WebLocks;
    type Clock = WebClock;
    type Instances = Replies;
}

/// The worker: the tab's driver, created by the first instance, which
/// brings the tab's id.
#[derive(Debug)]
pub struct Engine {
    driver: Option<Driver<HandlerId, Payload, Web>>,
    /// `online` events and the wall clock's jumps, watched once the driver runs.
    machine: Option<MachineWatch>,
    /// Whether this context has Web Locks, for the first instance's choice
    /// of election.
    has_locks: bool,
}

/// Events the engine's seams send it.
#[derive(Debug)]
pub enum EngineMessage {
    /// A native socket reported something.
    Socket(SocketId, SocketEvent<Payload>),
    /// A message arrived on a scope's channel.
    Bus(String, JsValue),
    /// A lock request of a scope, of a ticket, changed state.
    Lock(String, u64, LockEvent),
    /// The clock's alarm went off.
    Tick,
    /// The worker saw `online`: the network came back.
    Online,
}

impl Worker for Engine {
    type Message = EngineMessage;
    type Input = JsMessage;
    type Output = JsMessage;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        Engine {
            driver: None,
            machine: None,
            has_locks: web::locks::LockManager::find().is_some(),
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, message: EngineMessage) {
        let Some(driver) = self.driver.as_mut() else {
            return;
        };
        match message {
            EngineMessage::Socket(socket, event) => driver.handle_socket(socket, event),
            EngineMessage::Bus(scope, data) => driver.handle_bus(&scope, data),
            EngineMessage::Lock(scope, ticket, event) => driver.handle_lock(&scope, ticket, event),
            EngineMessage::Tick => {
                if let Some(jump) = self
                    .machine
                    .as_ref()
                    .and_then(MachineWatch::wall_clock_jump)
                {
                    driver.handle_wall_clock_jump(jump);
                }
                driver.handle_timeout();
            }
            EngineMessage::Online => driver.handle_online(),
        }
    }

    fn received(&mut self, scope: &WorkerScope<Self>, message: JsMessage, instance: HandlerId) {
        let Some(request) = Request::from_js(&message.0) else {
            // Only the page's bridge posts here, after the handshake: its bug.
            // Said, not thrown: a throw here would leave gloo-worker's state
            // borrowed, and the worker dead for every instance.
            web_sys::console::error_2(
                &"broadcast-websocket's worker: a request it does not read:".into(),
                &message.0,
            );
            return;
        };
        match request {
            Request::Open(OpenRequest {
                tab_id,
                scope: name,
                url,
                protocols,
                election,
                leader_timeout_ms,
                grace_ms,
                debug,
                reconnect,
                resolve,
            }) => {
                let backend = match (election, self.has_locks) {
                    (Election::Auto | Election::Locks, true) => Backend::Locks,
                    (Election::Locks, false) => {
                        web_sys::console::warn_1(
                            &"broadcast-websocket: navigator.locks is missing here; using the lease election".into(),
                        );
                        Backend::Lease
                    }
                    (Election::Auto | Election::Lease, _) => Backend::Lease,
                };
                let farewell = web::bus::farewell(&tab_id, &name);
                let timing = Timing::with_leader_timeout(leader_timeout_ms);
                let timing = match web::engine::page_bound() {
                    PageBound::Nothing => timing,
                    PageBound::Socket => timing.with_page_bound_socket(),
                    PageBound::SocketAndBus => timing.with_page_bound_bus(),
                };
                let request = JoinRequest {
                    scope: name,
                    url,
                    protocols,
                    backend,
                    timing,
                    grace_ms,
                    debug,
                    reconnect: reconnect.map(reconnect_policy),
                    resolve,
                };
                if self.machine.is_none() {
                    let scope = scope.clone();
                    self.machine = Some(MachineWatch::new(move || {
                        scope.send_message(EngineMessage::Online)
                    }));
                }
                self.driver
                    .get_or_insert_with(|| web_driver(scope, tab_id))
                    .handle_join(instance, request);
                respond(scope, instance, Reply::Farewell(farewell));
            }
            Request::Send(payload) => self.with_driver(|d| d.handle_send(instance, payload)),
            Request::Pong => self.with_driver(|d| d.handle_page_answer(instance)),
            Request::ForceLeader => self.with_driver(|d| d.handle_force_leader(instance)),
            Request::Relinquish => self.with_driver(|d| d.handle_relinquish(instance)),
            Request::Resolved(Resolved { url, protocols }) => {
                self.with_driver(|d| d.handle_resolved(instance, Ok((url, protocols))))
            }
            Request::ResolveFailed(why) => {
                self.with_driver(|d| d.handle_resolved(instance, Err(why)))
            }
            Request::Reconnect(close) => {
                self.with_driver(|d| d.handle_reconnect(instance, close.code, close.reason))
            }
            Request::Close(close) => {
                self.with_driver(|d| d.handle_close(instance, close.code, close.reason))
            }
            #[cfg(feature = "test-switches")]
            Request::Zombie => self.with_driver(|d| d.handle_zombie(instance)),
        }
    }

    fn disconnected(&mut self, _scope: &WorkerScope<Self>, instance: HandlerId) {
        self.with_driver(|d| d.handle_disconnect(instance));
    }
}

impl Engine {
    fn with_driver(&mut self, step: impl FnOnce(&mut Driver<HandlerId, Payload, Web>)) {
        if let Some(driver) = self.driver.as_mut() {
            step(driver);
        }
    }
}

/// The driver of tab `id`, on seams that report back to this worker.
fn web_driver(scope: &WorkerScope<Engine>, id: String) -> Driver<HandlerId, Payload, Web> {
    let to_engine = |scope: &WorkerScope<Engine>| {
        let scope = scope.clone();
        move |message| scope.send_message(message)
    };
    let (sockets, bus, locks, tick) = (
        to_engine(scope),
        to_engine(scope),
        to_engine(scope),
        to_engine(scope),
    );
    Driver::new(
        id,
        WebSockets::new(move |socket, event| sockets(EngineMessage::Socket(socket, event))),
        WebBus::new(move |name, data| bus(EngineMessage::Bus(name, data))),
        WebLocks::new(move |name, ticket, event| locks(EngineMessage::Lock(name, ticket, event))),
        WebClock::new(move || tick(EngineMessage::Tick)),
        Replies::new(scope),
    )
}

/// The instances of this worker: each is a gloo bridge of the page. The
/// messages of a burst go to each in few posts ([`web::burst`]).
#[derive(Debug)]
pub struct Replies {
    scope: WorkerScope<Engine>,
    messages: Burst<Messages>,
}

impl Replies {
    fn new(scope: &WorkerScope<Engine>) -> Self {
        Replies {
            scope: scope.clone(),
            messages: Burst::new(Messages {
                scope: scope.clone(),
                gathered: Vec::new(),
            }),
        }
    }

    /// Posts `reply` after the messages gathered before it.
    fn respond(&self, to: HandlerId, reply: Reply) {
        self.messages.post_gathered();
        respond(&self.scope, to, reply);
    }
}

impl Instances<HandlerId, Payload> for Replies {
    fn deliver(&mut self, to: HandlerId, event: Event<Payload>) {
        let Event::Message(payload) = event else {
            return self.respond(to, reply(event));
        };
        if self.messages.on() {
            self.messages.gathered().add(to, payload);
        } else {
            self.messages.start();
            respond(&self.scope, to, Reply::Messages(vec![payload]));
        }
    }

    fn ack(&mut self, to: HandlerId) {
        self.respond(to, Reply::Sent);
    }

    fn ping_page(&mut self, via: HandlerId) {
        self.respond(via, Reply::Ping);
    }

    fn resolve(&mut self, via: HandlerId) {
        self.respond(via, Reply::Resolve);
    }

    fn log(&mut self, tab: &str, scope: &str, line: &str) {
        let text = format!("[broadcast-websocket tab {tab} · {scope}] {line}");
        web_sys::console::debug_1(&text.into());
    }
}

/// The messages of a burst, per instance in turn: consecutive messages to
/// one instance go in one reply. (Not `Debug`: a payload's `Debug` would
/// bring wasm-bindgen's value formatting into the WASM for nothing.)
struct Messages {
    scope: WorkerScope<Engine>,
    gathered: Vec<(HandlerId, Vec<Payload>)>,
}

impl Messages {
    fn add(&mut self, to: HandlerId, payload: Payload) {
        match self.gathered.last_mut() {
            Some((last, payloads)) if *last == to => payloads.push(payload),
            _ => self.gathered.push((to, vec![payload])),
        }
    }
}

impl Gathered for Messages {
    fn post(&mut self) -> bool {
        let any = !self.gathered.is_empty();
        for (to, payloads) in self.gathered.drain(..) {
            respond(&self.scope, to, Reply::Messages(payloads));
        }
        any
    }
}

/// Posts `reply` to the instance `to`.
fn respond(scope: &WorkerScope<Engine>, to: HandlerId, reply: Reply) {
    scope.respond(to, JsMessage(reply.into_js()));
}

fn reconnect_policy(options: Reconnect) -> ReconnectPolicy {
    ReconnectPolicy {
        min_delay_ms: options.min_reconnection_delay,
        max_delay_ms: options.max_reconnection_delay,
        grow_factor: options.reconnection_delay_grow_factor,
        min_uptime_ms: options.min_uptime,
        connection_timeout_ms: options.connection_timeout,
        max_retries: options.max_retries,
        queue: options.queue,
        reconnect_on_codes: options.reconnect_on_codes,
    }
}

fn reply(event: Event<Payload>) -> Reply {
    match event {
        Event::Leadership(leadership) => Reply::Leadership(Leadership {
            leader_id: leadership.leader_id,
            epoch: leadership.epoch,
            backend: match leadership.backend {
                Backend::Locks => bws_facade::Backend::Locks,
                Backend::Lease => bws_facade::Backend::Lease,
            },
            tabs: leadership.tabs,
            sends_in_doubt: leadership.sends_in_doubt,
            retries: leadership.retries,
        }),
        Event::Open {
            protocol,
            extensions,
        } => Reply::Open(Opened {
            protocol,
            extensions,
        }),
        Event::Message(payload) => Reply::Messages(vec![payload]),
        Event::Error => Reply::Error,
        Event::Closed { info, reconnecting } => Reply::Closed(bws_facade::Closed {
            code: info.code,
            reason: info.reason,
            was_clean: info.was_clean,
            reconnecting,
        }),
    }
}

/// Registers the engine as this worker's gloo-worker (which posts
/// `"WorkerLoaded"`). The worker script's loader has announced the protocol
/// already (`scripts/build.mjs`). Only the worker build (feature `entry`)
/// has it: see `Cargo.toml`.
#[cfg(feature = "entry")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    use bws_facade::JsCodec;
    use gloo_worker::Registrable;

    Engine::registrar().encoding::<JsCodec>().register();
}
