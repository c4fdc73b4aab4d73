//! The messages between a page's bridge and its worker, and gloo-worker's
//! codec for them.
//!
//! Messages are JS values, not bytes: payloads stay `JsValue`s, so a string,
//! `ArrayBuffer` or `Blob` goes from `send()` to the socket, and from the
//! socket to the page, by structured clone alone, never copied through WASM
//! memory. The serde derives here describe their shapes as the TypeScript
//! bridge writes them (camelCase, externally tagged enums): tsify turns them
//! into the page's types. The worker reads and writes those shapes by hand
//! (`codec.rs`, held to the derives by a test), as serde-wasm-bindgen's
//! visitors cost its WASM more than its whole election.

use serde::{Deserialize, Serialize};
use tsify::Tsify;
use wasm_bindgen::JsValue;

use crate::envelope::{Envelope, EnvelopeWriter};
use crate::options::{Backend, Election};

/// A payload as the page gave it (a string, `ArrayBuffer` or `Blob`) or as
/// the socket delivered it (a string or `ArrayBuffer`), never decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Tsify)]
#[tsify(type = "string | ArrayBuffer | Blob")]
pub struct Payload(#[serde(with = "serde_wasm_bindgen::preserve")] pub JsValue);

/// The worker's first message, `{ broadcastWebsocketWorker: { protocol,
/// release } }`, posted by the worker script's loader as it starts, before
/// its WASM is loaded (`scripts/build.mjs` writes it from
/// [`crate::PROTOCOL_VERSION`]); the page reads it with this type. The page's
/// first message answers it: `{ broadcastWebsocketWasm }`, the WASM, deflated
/// and in base64.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum Announcement {
    /// Names the protocol this worker speaks.
    BroadcastWebsocketWorker(WorkerHello),
}

/// What a worker announces about itself.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct WorkerHello {
    /// Its [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Its release, for the error message.
    pub release: String,
}

/// From one `BroadcastWebsocket` instance (a gloo handler) to the worker.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// Join the shared connection of a scope.
    Open(OpenRequest),
    /// `send(data)`: a string, `ArrayBuffer` or `Blob`.
    Send(Payload),
    /// `close(code, reason)`, already validated.
    Close(CloseRequest),
    /// The page's answer to [`Reply::Ping`]: its main thread runs.
    Pong,
    /// `forceLeader()`: this tab leads the scope now.
    ForceLeader,
    /// `relinquish()`: this tab, if it leads, lets another tab lead.
    Relinquish,
    /// `reconnect(code, reason)` of an instance that is not closed: the
    /// scope's connection closes with them and opens again at once.
    Reconnect(CloseRequest),
    /// The page's answer to [`Reply::Resolve`]: what its providers gave,
    /// already checked.
    Resolved(Resolved),
    /// The page's answer to [`Reply::Resolve`]: its provider threw, rejected
    /// or gave an invalid URL, and why.
    ResolveFailed(String),
    /// Test switch: this tab stops heartbeating and relaying for the scope.
    /// Only in test builds (feature `test-switches`).
    #[cfg(feature = "test-switches")]
    Zombie,
}

/// Where and what an instance connects to, already validated by the page.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OpenRequest {
    /// The tab's id, chosen by the page.
    pub tab_id: String,
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
    /// How the leader reconnects (option `reconnect`); absent: it does not.
    #[tsify(optional)]
    pub reconnect: Option<Reconnect>,
    /// The application gave the URL as a function: the worker asks the page
    /// for it before every connection ([`Reply::Resolve`]).
    pub resolve: bool,
}

/// The URL and protocols to connect with, from the application's providers.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct Resolved {
    /// The absolute, normalised `ws:`/`wss:` URL.
    pub url: String,
    /// The subprotocols to offer.
    pub protocols: Vec<String>,
}

/// The reconnect options, validated by the page, in whole milliseconds.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Reconnect {
    /// `minReconnectionDelay`.
    pub min_reconnection_delay: u64,
    /// `maxReconnectionDelay`.
    pub max_reconnection_delay: u64,
    /// `reconnectionDelayGrowFactor`.
    pub reconnection_delay_grow_factor: f64,
    /// `minUptime`.
    pub min_uptime: u64,
    /// `connectionTimeout`.
    pub connection_timeout: u64,
    /// `maxRetries`, `Infinity` as the largest `u32`.
    pub max_retries: u32,
    /// `maxEnqueuedMessages` > 0: sends of connecting instances wait.
    pub queue: bool,
    /// `reconnectOnCodes`.
    pub reconnect_on_codes: Vec<u16>,
}

/// `close(code, reason)`.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct CloseRequest {
    /// The close code, if given.
    #[tsify(optional)]
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
}

/// From the worker to one instance.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub enum Reply {
    /// Who leads the scope (the first reply: the worker runs).
    Leadership(Leadership),
    /// The socket is open.
    Open(Opened),
    /// Messages, in order: each a string or an `ArrayBuffer`. One, or the
    /// several that came in a burst, posted together (`worker/src/web/burst.rs`).
    Messages(Vec<Payload>),
    /// The connection failed; `Closed` follows.
    Error,
    /// The instance's connection closed.
    Closed(Closed),
    /// One `Send` of this instance left the tab, in order.
    Sent,
    /// What the page posts when it goes away; the bridge keeps it.
    Farewell(Farewell),
    /// The worker asks the page to answer ([`Request::Pong`]) at once: where
    /// the engine runs the worker's socket on the page's main thread, a
    /// leader whose page stops answering hands the socket over.
    Ping,
    /// The worker is about to connect: the page calls the application's URL
    /// (and protocols) provider and answers with [`Request::Resolved`] or
    /// [`Request::ResolveFailed`].
    Resolve,
}

/// What the page posts on `channel` when it goes away for good (`pagehide`):
/// a bus message that tells the scope at once that this tab left, even if its
/// worker is gone already. The page posts it as it is.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct Farewell {
    /// The name of the scope's `BroadcastChannel`.
    pub channel: String,
    /// The bus message.
    #[tsify(type = "unknown")]
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub message: JsValue,
}

/// Who leads a scope.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Leadership {
    /// The leader's tab id, if known.
    #[tsify(optional)]
    pub leader_id: Option<String>,
    /// The leader's epoch.
    pub epoch: u64,
    /// The election backend in use.
    pub backend: Backend,
    /// Tabs with live instances in the scope.
    pub tabs: u32,
    /// This tab's sends in doubt so far (see `Status::sends_in_doubt`).
    pub sends_in_doubt: u32,
    /// Failed connection attempts in a row (see `Status::retry_count`).
    pub retries: u32,
}

/// The socket opened.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct Opened {
    /// The subprotocol the server selected.
    pub protocol: String,
    /// The extensions the server accepted.
    pub extensions: String,
}

/// The instance's connection closed.
#[derive(Debug, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
    /// The leader changed: the instance connects again.
    pub reconnecting: bool,
}

/// A [`Request`] or [`Reply`] as it crosses between page and worker, a JS
/// value: the worker reads and writes it by hand (`codec.rs`), so that gloo's
/// codec only shapes its own envelope around it. Its serde impls work only
/// with that envelope's (`envelope.rs`).
#[derive(Debug)]
pub struct JsMessage(pub JsValue);

/// A gloo-worker codec that keeps messages as JS values (see the module docs).
#[derive(Debug)]
pub struct JsCodec;

impl gloo_worker::Codec for JsCodec {
    // Failures throw a JS `Error`: `expect` would format it, and bring in
    // Rust's Debug formatting.
    fn encode<I: Serialize>(input: I) -> JsValue {
        input.serialize(EnvelopeWriter).unwrap_or_else(|_| {
            wasm_bindgen::throw_str(
                "broadcast-websocket's worker: a reply that is not gloo-worker's",
            )
        })
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        // Only the page's bridge posts to the worker, after the handshake.
        Envelope::read(&input)
            .and_then(|envelope| O::deserialize(envelope).ok())
            .unwrap_or_else(|| {
                wasm_bindgen::throw_str(
                    "broadcast-websocket's worker: a message that is not gloo-worker's",
                )
            })
    }
}
