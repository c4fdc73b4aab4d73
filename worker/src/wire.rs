//! The messages between a page's facade and its worker, and their codec.
//!
//! The codec is serde-wasm-bindgen rather than a byte format: payloads travel
//! as `JsValue`s (`serde_wasm_bindgen::preserve`), so a string, `ArrayBuffer`
//! or `Blob` goes from `send()` to the socket, and from the socket to the
//! page, by structured clone alone, never copied through WASM memory.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// From one `BroadcastWebsocket` instance (a gloo bridge) to the worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Join the shared connection of `scope`, opening it if needed.
    Open {
        /// The tab's id, chosen by the page.
        tab_id: String,
        /// The name of the shared connection.
        scope: String,
        /// The absolute, normalised URL.
        url: String,
        /// The subprotocols to offer.
        protocols: Vec<String>,
    },
    /// `send(data)`: a string, `ArrayBuffer` or `Blob`.
    Send(#[serde(with = "serde_wasm_bindgen::preserve")] JsValue),
    /// `close(code, reason)`, already validated.
    Close {
        /// The close code, if given.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
}

/// From the worker to one instance.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The worker took the instance in: it is loaded and working.
    Joined {
        /// The id of the tab holding the socket.
        leader_id: String,
    },
    /// The socket is open.
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message: a string or an `ArrayBuffer`.
    Message(#[serde(with = "serde_wasm_bindgen::preserve")] JsValue),
    /// The connection failed; `Closed` follows.
    Error,
    /// The instance is closed.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
        /// Whether the closing handshake completed.
        was_clean: bool,
    },
    /// One `Send` of this instance was handed to the socket, in order.
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
