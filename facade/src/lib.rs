//! The main-thread bridge of broadcast-websocket.
//!
//! It spawns one worker per page (per worker URL) with gloo-worker and gives
//! each `BroadcastWebsocket` instance a [`Link`]: a forked bridge whose replies
//! are handed to the instance's [`LinkHandler`]. It only converts; WebSocket
//! semantics live in the TypeScript class, routing in the worker.

mod types;

use std::cell::RefCell;
use std::collections::HashMap;

use bws_worker::wire::{self, JsCodec, Reply, Request};
use bws_worker::Engine;
use gloo_worker::{Spawnable, WorkerBridge};
use serde::Deserialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

pub use types::{BroadcastWebsocketOptions, Election, Protocols, Status};

thread_local! {
    /// The root bridge of each worker, by URL: it keeps the worker alive.
    static WORKERS: RefCell<HashMap<String, WorkerBridge<Engine>>> = RefCell::new(HashMap::new());
    static TAB_ID: String = new_tab_id();
}

#[wasm_bindgen(typescript_custom_section)]
const LINK_HANDLER: &str = r#"
/** Receives one instance's replies from the worker. Called inside the worker
 * bridge's message callback: implementations must defer their work. */
export interface LinkHandler {
  leadership(leaderId: string | undefined, epoch: number, backend: 'locks' | 'lease', tabs: number): void;
  open(protocol: string, extensions: string): void;
  message(data: string | ArrayBuffer): void;
  error(): void;
  closed(code: number, reason: string, wasClean: boolean, reconnecting: boolean): void;
  sent(): void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// See the TypeScript declaration above.
    #[wasm_bindgen(typescript_type = "LinkHandler")]
    #[derive(Debug, Clone)]
    pub type LinkHandler;
    #[wasm_bindgen(method)]
    fn leadership(
        this: &LinkHandler,
        leader_id: Option<String>,
        epoch: f64,
        backend: &str,
        tabs: u32,
    );
    #[wasm_bindgen(method)]
    fn open(this: &LinkHandler, protocol: &str, extensions: &str);
    #[wasm_bindgen(method)]
    fn message(this: &LinkHandler, data: JsValue);
    #[wasm_bindgen(method)]
    fn error(this: &LinkHandler);
    #[wasm_bindgen(method)]
    fn closed(this: &LinkHandler, code: u16, reason: &str, was_clean: bool, reconnecting: bool);
    #[wasm_bindgen(method)]
    fn sent(this: &LinkHandler);
}

/// Where and what an instance connects to, already validated by the caller.
#[derive(Debug, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// The URL of the worker script (an inline `blob:` URL by default).
    pub worker_url: String,
    /// The name of the shared connection.
    pub scope: String,
    /// The absolute, normalised `ws:`/`wss:` URL.
    pub url: String,
    /// The subprotocols to offer.
    pub protocols: Vec<String>,
    /// The election backend asked for.
    pub election: Election,
    /// How long a silent leader is trusted, in ms.
    pub leader_timeout_ms: u64,
    /// How long the socket outlives the last instance anywhere, in ms.
    pub grace_ms: u64,
    /// Whether the worker logs election and routing decisions.
    pub debug: bool,
}

/// One instance's line to the worker. Freeing it tells the worker the
/// instance is gone.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Link {
    bridge: WorkerBridge<Engine>,
}

#[wasm_bindgen]
impl Link {
    /// Sends a string, `ArrayBuffer` or `Blob` on the shared socket.
    pub fn send(&self, data: JsValue) {
        self.bridge.send(Request::Send(wire::Payload(data)));
    }

    /// Closes this instance with an already validated code and reason.
    pub fn close(&self, code: Option<u16>, reason: String) {
        self.bridge.send(Request::Close { code, reason });
    }

    /// Test switch: this tab's worker stops heartbeating and relaying for the
    /// scope while keeping its lock (a "zombie" leader).
    pub fn zombie(&self) {
        self.bridge.send(Request::Zombie);
    }
}

/// Connects a new instance: spawns the page's worker for `workerUrl` if there
/// is none yet and joins the shared connection of `scope`. Replies reach
/// `handler`, beginning with `joined` once the worker runs.
#[wasm_bindgen]
pub fn connect(request: tsify::Ts<ConnectRequest>, handler: LinkHandler) -> Result<Link, JsError> {
    let request = request.to_rust()?;
    ensure_worker(&request.worker_url);
    let bridge = WORKERS.with(|workers| {
        workers
            .borrow()
            .get(&request.worker_url)
            .map(|root| root.fork(Some(move |reply: Reply| deliver(&handler, reply))))
    });
    let bridge = bridge.expect("ensure_worker spawned it");
    bridge.send(Request::Open {
        tab_id: tab_id(),
        scope: request.scope,
        url: request.url,
        protocols: request.protocols,
        election: match request.election {
            Election::Auto => wire::Election::Auto,
            Election::Locks => wire::Election::Locks,
            Election::Lease => wire::Election::Lease,
        },
        leader_timeout_ms: request.leader_timeout_ms,
        grace_ms: request.grace_ms,
        debug: request.debug,
    });
    Ok(Link { bridge })
}

/// Spawns the worker of `worker_url` unless the page has it already.
fn ensure_worker(worker_url: &str) {
    if WORKERS.with(|workers| workers.borrow().contains_key(worker_url)) {
        return;
    }
    // Spawning happens outside any borrow: if the Worker constructor throws,
    // gloo panics, and no RefCell may be left borrowed by the trap.
    let root = Engine::spawner()
        .encoding::<JsCodec>()
        .with_loader(true)
        .spawn(worker_url);
    WORKERS.with(|workers| workers.borrow_mut().insert(worker_url.to_owned(), root));
}

/// Forgets the worker of `workerUrl`, so the next instance spawns a new one:
/// used when the worker never answered.
#[wasm_bindgen(js_name = forgetWorker)]
pub fn forget_worker(worker_url: &str) {
    let root = WORKERS.with(|workers| workers.borrow_mut().remove(worker_url));
    drop(root);
}

/// This page's tab id: random, fixed for the page's lifetime.
#[wasm_bindgen(js_name = tabId)]
pub fn tab_id() -> String {
    TAB_ID.with(Clone::clone)
}

fn deliver(handler: &LinkHandler, reply: Reply) {
    match reply {
        Reply::Leadership {
            leader_id,
            epoch,
            backend,
            tabs,
        } => handler.leadership(leader_id, epoch as f64, &backend, tabs),
        Reply::Open {
            protocol,
            extensions,
        } => handler.open(&protocol, &extensions),
        Reply::Message(data) => handler.message(data.0),
        Reply::Error => handler.error(),
        Reply::Closed {
            code,
            reason,
            was_clean,
            reconnecting,
        } => handler.closed(code, &reason, was_clean, reconnecting),
        Reply::Sent => handler.sent(),
    }
}

fn new_tab_id() -> String {
    let mut bytes = [0u8; 8];
    let crypto = web_sys::window().and_then(|window| window.crypto().ok());
    match crypto {
        Some(crypto) if crypto.get_random_values_with_u8_array(&mut bytes).is_ok() => {}
        _ => {
            for byte in &mut bytes {
                *byte = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
