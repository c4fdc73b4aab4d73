//! What the engine this worker runs in does differently, where no feature
//! test can tell in time.

use wasm_bindgen::JsValue;

/// Whether the engine runs a worker's `WebSocket` on its page's main thread,
/// so that a busy page stalls the socket: Gecko does (its
/// `WebSocketChannelChild` lives there; measured in the README's Engines
/// section). Told by the user agent, as only a long task on the page could
/// show it otherwise: Gecko's names its engine `Gecko/`, where Chromium's
/// and WebKit's say `like Gecko)`.
pub fn socket_runs_on_page() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator"));
    navigator
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &JsValue::from_str("userAgent")))
        .ok()
        .and_then(|agent| agent.as_string())
        .is_some_and(|agent| agent.contains("Gecko/"))
}
