//! The engine of broadcast-websocket: one per tab, in a dedicated Web Worker.
//!
//! [`Engine`] is the gloo-worker `Worker`: it turns facade requests and socket
//! events into calls on the pure [`core::Hub`] and executes what the hub
//! returns. Every `BroadcastWebsocket` instance of the page is one gloo bridge
//! (a `HandlerId`) of this worker.
#![deny(clippy::all, missing_docs, missing_debug_implementations)]

pub mod core;
pub mod web;
pub mod wire;

use std::collections::HashMap;

use gloo_worker::{HandlerId, Worker, WorkerScope};
use wasm_bindgen::JsValue;

use crate::core::{CloseInfo, Event, Hub, JoinRequest, Output, SocketId};
use crate::web::socket::{Socket, SocketEvent};
use crate::wire::{Reply, Request};

/// The worker: the hub plus the native sockets it asked for.
#[derive(Debug)]
pub struct Engine {
    hub: Hub<HandlerId, JsValue>,
    sockets: HashMap<SocketId, Socket>,
    /// The id of this tab, learned from the first instance that joins.
    tab_id: Option<String>,
}

/// Events the engine sends itself.
#[derive(Debug)]
pub enum EngineMessage {
    /// A native socket reported something.
    Socket(SocketId, SocketEvent),
}

impl Worker for Engine {
    type Message = EngineMessage;
    type Input = Request;
    type Output = Reply;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        Engine {
            hub: Hub::new(),
            sockets: HashMap::new(),
            tab_id: None,
        }
    }

    fn update(&mut self, scope: &WorkerScope<Self>, message: EngineMessage) {
        let EngineMessage::Socket(socket, event) = message;
        match event {
            SocketEvent::Open {
                protocol,
                extensions,
            } => self.hub.handle_socket_open(socket, protocol, extensions),
            SocketEvent::Message(payload) => self.hub.handle_socket_message(socket, payload),
            SocketEvent::Error => self.hub.handle_socket_error(socket),
            SocketEvent::Closed(info) => {
                self.sockets.remove(&socket);
                self.hub.handle_socket_closed(socket, info);
            }
        }
        self.run(scope);
    }

    fn received(&mut self, scope: &WorkerScope<Self>, request: Request, instance: HandlerId) {
        match request {
            Request::Open {
                tab_id,
                scope: name,
                url,
                protocols,
            } => {
                let tab_id = self.tab_id.get_or_insert(tab_id).clone();
                scope.respond(instance, Reply::Joined { leader_id: tab_id });
                let request = JoinRequest {
                    scope: name,
                    url,
                    protocols,
                };
                self.hub.handle_join(instance, request);
            }
            Request::Send(payload) => self.hub.handle_send(instance, payload),
            Request::Close { code, reason } => self.hub.handle_close(instance, code, reason),
        }
        self.run(scope);
    }

    fn disconnected(&mut self, scope: &WorkerScope<Self>, instance: HandlerId) {
        self.hub.handle_disconnect(instance);
        self.run(scope);
    }
}

impl Engine {
    /// Executes everything the hub asks for, until it has nothing left.
    fn run(&mut self, scope: &WorkerScope<Self>) {
        while let Some(output) = self.hub.poll_output() {
            match output {
                Output::OpenSocket {
                    socket,
                    url,
                    protocols,
                } => self.open_socket(scope, socket, &url, &protocols),
                Output::Transmit {
                    socket,
                    from,
                    payload,
                } => {
                    if let Some(native) = self.sockets.get(&socket) {
                        // The socket is open (the hub checked), so send cannot throw.
                        let _ = native.send(&payload);
                    }
                    scope.respond(from, Reply::Sent);
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
                Output::Deliver { to, event } => scope.respond(to, reply(event)),
            }
        }
    }

    fn open_socket(
        &mut self,
        scope: &WorkerScope<Self>,
        socket: SocketId,
        url: &str,
        protocols: &[String],
    ) {
        let events = scope.clone();
        let on_event = move |event| events.send_message(EngineMessage::Socket(socket, event));
        match Socket::open(url, protocols, on_event) {
            Ok(native) => {
                self.sockets.insert(socket, native);
            }
            Err(_) => {
                // The facade validates what the constructor checks; if the
                // browser still refuses, the instances see a failed connection.
                self.hub.handle_socket_error(socket);
                self.hub.handle_socket_closed(socket, CloseInfo::abnormal());
            }
        }
    }
}

fn reply(event: Event<JsValue>) -> Reply {
    match event {
        Event::Open {
            protocol,
            extensions,
        } => Reply::Open {
            protocol,
            extensions,
        },
        Event::Message(payload) => Reply::Message(payload),
        Event::Error => Reply::Error,
        Event::Closed(info) => Reply::Closed {
            code: info.code,
            reason: info.reason,
            was_clean: info.was_clean,
        },
    }
}

/// Registers the engine as this worker's gloo-worker. Only the worker build
/// (feature `entry`) has it: see `Cargo.toml`.
#[cfg(feature = "entry")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    use gloo_worker::Registrable;
    Engine::registrar().encoding::<wire::JsCodec>().register();
}
