//! The engine of broadcast-websocket: one per tab, in a dedicated Web Worker.
//!
//! [`Engine`] is the gloo-worker `Worker`: it turns facade requests, socket
//! events, bus messages, lock grants and timer ticks into calls on the pure
//! [`core::Tab`] and executes what the tab returns. Every `BroadcastWebsocket`
//! instance of the page is one gloo bridge (a `HandlerId`) of this worker.

pub mod core;
pub mod web;

use std::collections::HashMap;

use gloo_worker::{HandlerId, Worker, WorkerScope};
use wasm_bindgen::JsValue;

use crate::core::{
    Backend, BusMessage, CloseInfo, Event, JoinRequest, Output, SocketId, Tab, Timing,
};
use crate::web::bus::Bus;
use crate::web::locks::{leader_lock_name, LockEvent, LockManager, LockRequest};
use crate::web::socket::{Socket, SocketEvent};
use crate::web::timer::Timer;
use bws_facade::{Election, Leadership, OpenRequest, Opened, Payload, Reply, Request};

/// The worker: the tab's core plus the sockets, channels, locks and timer it
/// asked for.
#[derive(Debug)]
pub struct Engine {
    /// Created by the first instance, which brings the tab's id.
    tab: Option<Tab<HandlerId, Payload>>,
    sockets: HashMap<SocketId, Socket>,
    buses: HashMap<String, Bus>,
    /// The scope's lock request, with the generation its events carry.
    locks: HashMap<String, (u64, LockRequest)>,
    lock_generation: u64,
    lock_manager: Option<LockManager>,
    timer: Timer,
}

/// Events the engine sends itself.
#[derive(Debug)]
pub enum EngineMessage {
    /// A native socket reported something.
    Socket(SocketId, SocketEvent),
    /// A message arrived on a scope's channel.
    Bus(String, JsValue),
    /// A lock request of a scope, of a generation, changed state.
    Lock(String, u64, LockEvent),
    /// The timer fired.
    Tick,
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

impl Worker for Engine {
    type Message = EngineMessage;
    type Input = Request;
    type Output = Reply;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let ticks = scope.clone();
        Engine {
            tab: None,
            sockets: HashMap::new(),
            buses: HashMap::new(),
            locks: HashMap::new(),
            lock_generation: 0,
            lock_manager: LockManager::find(),
            timer: Timer::new(move || ticks.send_message(EngineMessage::Tick)),
        }
    }

    fn update(&mut self, scope: &WorkerScope<Self>, message: EngineMessage) {
        let now = now();
        let Some(tab) = self.tab.as_mut() else {
            return;
        };
        match message {
            EngineMessage::Socket(socket, event) => match event {
                SocketEvent::Open {
                    protocol,
                    extensions,
                } => tab.handle_socket_open(now, socket, protocol, extensions),
                SocketEvent::Message(data) => tab.handle_socket_message(now, socket, Payload(data)),
                SocketEvent::Error => tab.handle_socket_error(now, socket),
                SocketEvent::Closed(info) => {
                    self.sockets.remove(&socket);
                    tab.handle_socket_closed(now, socket, info);
                }
            },
            EngineMessage::Bus(name, data) => {
                // Anything that is not a message of this protocol is ignored:
                // other libraries, other versions, junk.
                if let Ok(message) = serde_wasm_bindgen::from_value::<BusMessage<Payload>>(data) {
                    tab.handle_bus(now, &name, message);
                }
            }
            EngineMessage::Lock(name, generation, event) => {
                if self.locks.get(&name).map(|(current, _)| *current) == Some(generation) {
                    match event {
                        LockEvent::Acquired => tab.handle_lock_acquired(now, &name),
                        LockEvent::Lost => tab.handle_lock_lost(now, &name),
                    }
                }
            }
            EngineMessage::Tick => {
                self.timer.fired();
                tab.handle_timeout(now);
            }
        }
        self.run(scope);
    }

    fn received(&mut self, scope: &WorkerScope<Self>, request: Request, instance: HandlerId) {
        let now = now();
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
            }) => {
                let backend = match (election, &self.lock_manager) {
                    (Election::Auto | Election::Locks, Some(_)) => Backend::Locks,
                    (Election::Locks, None) => {
                        web_sys::console::warn_1(
                            &"broadcast-websocket: navigator.locks is missing here; using the lease election".into(),
                        );
                        Backend::Lease
                    }
                    (Election::Auto | Election::Lease, _) => Backend::Lease,
                };
                let request = JoinRequest {
                    scope: name,
                    url,
                    protocols,
                    backend,
                    timing: Timing::with_leader_timeout(leader_timeout_ms),
                    grace_ms,
                    debug,
                };
                self.tab
                    .get_or_insert_with(|| Tab::new(tab_id))
                    .handle_join(now, instance, request);
            }
            Request::Send(payload) => self.with_tab(|tab| tab.handle_send(now, instance, payload)),
            Request::Close(close) => {
                self.with_tab(|tab| tab.handle_close(now, instance, close.code, close.reason))
            }
            Request::Zombie => self.with_tab(|tab| tab.handle_zombie(now, instance)),
        }
        self.run(scope);
    }

    fn disconnected(&mut self, scope: &WorkerScope<Self>, instance: HandlerId) {
        self.with_tab(|tab| tab.handle_disconnect(now(), instance));
        self.run(scope);
    }
}

impl Engine {
    fn with_tab(&mut self, step: impl FnOnce(&mut Tab<HandlerId, Payload>)) {
        if let Some(tab) = self.tab.as_mut() {
            step(tab);
        }
    }

    /// Executes everything the core asks for, until it has nothing left,
    /// then arms the timer for its next deadline.
    fn run(&mut self, scope: &WorkerScope<Self>) {
        let Some(tab) = self.tab.as_mut() else {
            return;
        };
        while let Some(output) = tab.poll_output() {
            match output {
                Output::OpenSocket {
                    socket,
                    url,
                    protocols,
                } => {
                    let events = scope.clone();
                    let on_event =
                        move |event| events.send_message(EngineMessage::Socket(socket, event));
                    match Socket::open(&url, &protocols, on_event) {
                        Ok(native) => {
                            self.sockets.insert(socket, native);
                        }
                        Err(_) => {
                            // The facade validates what the constructor checks; if the
                            // browser still refuses, the instances see a failed connection.
                            tab.handle_socket_error(now(), socket);
                            tab.handle_socket_closed(now(), socket, CloseInfo::abnormal());
                        }
                    }
                }
                Output::Transmit { socket, payload } => {
                    if let Some(native) = self.sockets.get(&socket) {
                        // The socket is open (the core checked), so send cannot throw.
                        let _ = native.send(&payload.0);
                    }
                }
                Output::CloseSocket {
                    socket,
                    code,
                    reason,
                } => {
                    if let Some(native) = self.sockets.get(&socket) {
                        let _ = native.close(code, &reason);
                    }
                }
                Output::Ack { to } => scope.respond(to, Reply::Sent),
                Output::Deliver { to, event } => scope.respond(to, reply(event)),
                Output::OpenBus { scope: name } => {
                    let events = scope.clone();
                    let channel = name.clone();
                    let on_message =
                        move |data| events.send_message(EngineMessage::Bus(channel.clone(), data));
                    if let Ok(bus) = Bus::open(&name, on_message) {
                        self.buses.insert(name, bus);
                    }
                }
                Output::Broadcast {
                    scope: name,
                    message,
                } => {
                    if let (Some(bus), Ok(data)) = (
                        self.buses.get(&name),
                        serde_wasm_bindgen::to_value(&message),
                    ) {
                        let _ = bus.post(&data);
                    }
                }
                Output::CloseBus { scope: name } => {
                    self.buses.remove(&name);
                }
                Output::RequestLock { scope: name, steal } => {
                    // Replacing the previous request withdraws it.
                    self.locks.remove(&name);
                    if let Some(manager) = &self.lock_manager {
                        self.lock_generation += 1;
                        let generation = self.lock_generation;
                        let events = scope.clone();
                        let lock_name = leader_lock_name(&name);
                        let scope_name = name.clone();
                        let request = LockRequest::new(manager, &lock_name, steal, move |event| {
                            events.send_message(EngineMessage::Lock(
                                scope_name.clone(),
                                generation,
                                event,
                            ))
                        });
                        self.locks.insert(name, (generation, request));
                    }
                }
                Output::ReleaseLock { scope: name } => {
                    self.locks.remove(&name);
                }
                Output::Log { scope: name, line } => {
                    let text = format!("[broadcast-websocket tab {} · {name}] {line}", tab.id());
                    web_sys::console::debug_1(&text.into());
                }
            }
        }
        self.timer.arm(tab.poll_timeout(), now());
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
        }),
        Event::Open {
            protocol,
            extensions,
        } => Reply::Open(Opened {
            protocol,
            extensions,
        }),
        Event::Message(payload) => Reply::Message(payload),
        Event::Error => Reply::Error,
        Event::Closed { info, reconnecting } => Reply::Closed(bws_facade::Closed {
            code: info.code,
            reason: info.reason,
            was_clean: info.was_clean,
            reconnecting,
        }),
    }
}

/// Announces the protocol this worker speaks, then registers the engine as
/// this worker's gloo-worker (which posts `"WorkerLoaded"`). Only the worker
/// build (feature `entry`) has it: see `Cargo.toml`.
#[cfg(feature = "entry")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    use bws_facade::{Announcement, JsCodec, WorkerHello, PROTOCOL_VERSION, RELEASE};
    use gloo_worker::{Codec, Registrable};
    use wasm_bindgen::JsCast;

    let hello = Announcement::BroadcastWebsocketWorker(WorkerHello {
        protocol: PROTOCOL_VERSION,
        release: RELEASE.to_owned(),
    });
    let global: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    // Posting to the page cannot fail for a plain object.
    let _ = global.post_message(&JsCodec::encode(hello));
    Engine::registrar().encoding::<JsCodec>().register();
}
