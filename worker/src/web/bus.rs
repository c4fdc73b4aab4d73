//! The [`Bus`]: one `BroadcastChannel` per scope, which every tab's worker
//! of the scope listens on.

use std::collections::HashMap;
use std::rc::Rc;

use bws_core::{Bus, BusMessage, PROTOCOL_VERSION};
use bws_facade::Payload;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

/// The tab's channels by scope; what arrives on them goes to one callback.
pub struct WebBus {
    channels: HashMap<String, Channel>,
    on_message: Rc<dyn Fn(String, JsValue)>,
}

impl std::fmt::Debug for WebBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebBus").finish_non_exhaustive()
    }
}

impl WebBus {
    /// No channels yet; every message will reach `on_message` with its scope.
    pub fn new(on_message: impl Fn(String, JsValue) + 'static) -> Self {
        WebBus {
            channels: HashMap::new(),
            on_message: Rc::new(on_message),
        }
    }
}

impl Bus<Payload> for WebBus {
    type Raw = JsValue;

    fn open(&mut self, scope: &str) {
        let on_message = self.on_message.clone();
        let name = scope.to_owned();
        if let Ok(channel) = Channel::open(scope, move |data| on_message(name.clone(), data)) {
            self.channels.insert(scope.to_owned(), channel);
        }
    }

    fn post(&mut self, scope: &str, message: &BusMessage<Payload>) {
        if let (Some(channel), Ok(data)) = (
            self.channels.get(scope),
            serde_wasm_bindgen::to_value(message),
        ) {
            let _ = channel.post(&data);
        }
    }

    fn close(&mut self, scope: &str) {
        self.channels.remove(scope);
    }

    fn decode(&self, raw: JsValue) -> Option<BusMessage<Payload>> {
        serde_wasm_bindgen::from_value(raw).ok()
    }
}

/// The channel of one scope. Dropping it stops listening and closes it.
#[derive(Debug)]
pub struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// The channel's name: the protocol version is part of it, so tabs of
    /// incompatible versions never hear each other.
    pub fn name(scope: &str) -> String {
        format!("bws:v{PROTOCOL_VERSION}:{scope}")
    }

    /// Opens the channel of `scope`; every message another context posts on
    /// it reaches `on_message` as it arrived (decoding is the caller's).
    pub fn open(scope: &str, on_message: impl Fn(JsValue) + 'static) -> Result<Channel, JsValue> {
        let channel = BroadcastChannel::new(&Self::name(scope))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message(event.data())
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Channel {
            channel,
            _on_message: on_message,
        })
    }

    /// Posts a message to every other context listening on the channel.
    pub fn post(&self, message: &JsValue) -> Result<(), JsValue> {
        self.channel.post_message(message)
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
