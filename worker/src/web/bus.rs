//! The [`Bus`]: one `BroadcastChannel` per scope, which every tab's worker
//! of the scope listens on. Messages travel as [`bus_codec`] writes them.

use std::rc::Rc;

use bws_core::{Body, Bus, BusMessage, Map, PROTOCOL_VERSION};
use bws_facade::{Farewell, Payload};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::bus_codec;

/// The tab's channels by scope; what arrives on them goes to one callback.
pub struct WebBus {
    channels: Map<String, ScopeChannels>,
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
            channels: Map::new(),
            on_message: Rc::new(on_message),
        }
    }
}

impl Bus<Payload> for WebBus {
    type Raw = JsValue;

    fn open(&mut self, scope: &str) {
        let listener = |name: String| {
            let (on_message, scope) = (self.on_message.clone(), scope.to_owned());
            Channel::open(&name, move |data| on_message(scope.clone(), data))
        };
        if let (Ok(bus), Ok(farewells)) = (
            listener(Channel::name(scope)),
            listener(Channel::farewells_name(scope)),
        ) {
            let channels = ScopeChannels {
                bus,
                _farewells: farewells,
            };
            self.channels.insert(scope.to_owned(), channels);
        }
    }

    fn post(&mut self, scope: &str, message: &BusMessage<Payload>) {
        if let Some(channel) = self.channels.get(scope) {
            let _ = channel.bus.post(&bus_codec::encode(message));
        }
    }

    fn close(&mut self, scope: &str) {
        self.channels.remove(scope);
    }

    fn decode(&self, raw: JsValue) -> Option<BusMessage<Payload>> {
        bus_codec::decode(&raw)
    }
}

/// What tab `tab`'s page posts when it goes away: it left `scope`.
pub fn farewell(tab: &str, scope: &str) -> Farewell {
    let message = BusMessage::<Payload>::new(tab.to_owned(), 0, Body::Left);
    Farewell {
        channel: Channel::farewells_name(scope),
        message: bus_codec::encode(&message),
    }
}

/// A scope's two channels: its bus, and the one only pages post on as they
/// go away. A page keeps the latter open to post in `pagehide` (a channel
/// opened then may never deliver), and hears nothing of the bus's traffic.
#[derive(Debug)]
struct ScopeChannels {
    bus: Channel,
    _farewells: Channel,
}

/// A `BroadcastChannel`. Dropping it stops listening and closes it.
#[derive(Debug)]
pub struct Channel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Channel {
    /// The name of the bus of `scope`: the protocol version is part of it,
    /// so tabs of incompatible versions never hear each other.
    pub fn name(scope: &str) -> String {
        format!("bws:v{PROTOCOL_VERSION}:{scope}")
    }

    /// The name of the channel of `scope` that pages post their farewell on.
    pub fn farewells_name(scope: &str) -> String {
        format!("bws-farewells:v{PROTOCOL_VERSION}:{scope}")
    }

    /// Opens the channel `name`; every message another context posts on it
    /// reaches `on_message` as it arrived (decoding is the caller's).
    pub fn open(name: &str, on_message: impl Fn(JsValue) + 'static) -> Result<Channel, JsValue> {
        let channel = BroadcastChannel::new(name)?;
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
