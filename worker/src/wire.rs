//! The messages between a page's facade and its worker, and their codec.
//!
//! The codec is serde-wasm-bindgen rather than a byte format: payloads travel
//! as `JsValue`s (`serde_wasm_bindgen::preserve`), so a string, `ArrayBuffer`
//! or `Blob` goes from `send()` to the socket, and from the socket to the
//! page, by structured clone alone, never copied through WASM memory.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// A payload as the page gave it (a string, `ArrayBuffer` or `Blob`) or as
/// the socket delivered it (a string or `ArrayBuffer`), never decoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload(#[serde(with = "serde_wasm_bindgen::preserve")] pub JsValue);

/// Which election backend an instance asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Election {
    /// Web Locks where the context has them, else the lease.
    Auto,
    /// Web Locks (the lease where they are missing).
    Locks,
    /// The lease over the bus.
    Lease,
}

/// From one `BroadcastWebsocket` instance (a gloo bridge) to the worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Join the shared connection of `scope`.
    Open {
        /// The tab's id, chosen by the page.
        tab_id: String,
        /// The name of the shared connection.
        scope: String,
        /// The absolute, normalised URL.
        url: String,
        /// The subprotocols to offer.
        protocols: Vec<String>,
        /// The election backend asked for.
        election: Election,
        /// How long a silent leader is trusted, in ms.
        leader_timeout_ms: u64,
        /// How long the socket outlives the last instance anywhere, in ms.
        grace_ms: u64,
        /// Whether to log election and routing decisions to the console.
        debug: bool,
    },
    /// `send(data)`: a string, `ArrayBuffer` or `Blob`.
    Send(Payload),
    /// `close(code, reason)`, already validated.
    Close {
        /// The close code, if given.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// Test switch: this tab stops heartbeating and relaying for the scope.
    Zombie,
}

/// From the worker to one instance.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Who leads the scope (the first reply: the worker runs).
    Leadership {
        /// The leader's tab id, if known.
        leader_id: Option<String>,
        /// The leader's epoch.
        epoch: u64,
        /// `"locks"` or `"lease"`.
        backend: String,
        /// Tabs with live instances in the scope.
        tabs: u32,
    },
    /// The socket is open.
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message: a string or an `ArrayBuffer`.
    Message(Payload),
    /// The connection failed; `Closed` follows.
    Error,
    /// The instance's connection closed.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
        /// Whether the closing handshake completed.
        was_clean: bool,
        /// The leader changed: the instance connects again.
        reconnecting: bool,
    },
    /// One `Send` of this instance left the tab, in order.
    Sent,
}

/// A gloo-worker codec that keeps messages as JS values (see the module docs).
#[derive(Debug)]
pub struct JsCodec;

impl gloo_worker::Codec for JsCodec {
    fn encode<I: Serialize>(input: I) -> JsValue {
        serde_wasm_bindgen::to_value(&input).expect("worker messages always serialize")
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        // Only this crate's own messages travel on the worker's port.
        serde_wasm_bindgen::from_value(input).expect("a worker message of this version")
    }
}
