//! What the engine this worker runs in does differently, where no feature
//! test can tell in time.

use js_sys::JsString;
use wasm_bindgen::{JsCast, JsValue};

/// What of a dedicated worker the engine runs on its page's main thread, so
/// that a busy page stalls it (measured in the README's Engines section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageBound {
    /// Nothing (Chromium): a busy page costs its worker nothing.
    Nothing,
    /// The worker's `WebSocket` (Gecko: its `WebSocketChannelChild` lives
    /// there).
    Socket,
    /// The worker's `WebSocket` and its `BroadcastChannel` (WebKit: both go
    /// through the page's `MainThreadBridge`).
    SocketAndBus,
}

/// Told by the user agent, as only a long task on the page could show it
/// otherwise: Gecko's names its engine `Gecko/`, where Chromium's and
/// WebKit's say `like Gecko)`; WebKit's says `AppleWebKit` without the
/// `Chrome/` of Chromium's (which says `AppleWebKit` too).
pub fn page_bound() -> PageBound {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"));
    let agent: JsString = navigator
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &JsValue::from_str("userAgent")))
        .ok()
        .and_then(|agent| agent.dyn_into().ok())
        .unwrap_or_default();
    // The engine's own search: Rust's `str::contains` costs the WASM 2 KB.
    let says = |name: &str| agent.includes(name, 0);
    if says("Gecko/") {
        PageBound::Socket
    } else if says("AppleWebKit") && !says("Chrome/") {
        PageBound::SocketAndBus
    } else {
        PageBound::Nothing
    }
}
