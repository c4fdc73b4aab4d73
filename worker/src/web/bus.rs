//! The [`Bus`]: one `BroadcastChannel` per scope, which every tab's worker
//! of the scope listens on. Messages travel as [`bus_codec`] writes them; the
//! leader's relays of a burst of server messages travel together ([`burst`]).

use std::rc::Rc;

use bws_core::{Body, Bus, BusMessage, Map, PROTOCOL_VERSION};
use bws_facade::{Farewell, Payload};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use super::burst::{Burst, Gathered};
use super::bus_codec;

/// The tab's channels by scope; what arrives on them goes to one callback.
pub struct WebBus {
    channels: Map<String, ScopeChannels>,
    on_message: Rc<dyn Fn(String, JsValue)>,
    relays: Burst<Relays>,
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
            relays: Burst::new(Relays::default()),
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
        let Some(channel) = self.channels.get(scope) else {
            return;
        };
        if let Body::In(payloads) = &message.body {
            if self.relays.on() {
                let relay = (scope, message.epoch, payloads.as_slice());
                self.relays.gathered().add(relay, || {
                    (
                        channel.bus.channel.clone(),
                        bus_codec::encode(message).unchecked_into(),
                    )
                });
                return;
            }
            self.relays.start();
        } else {
            self.relays.post_gathered();
        }
        let _ = channel.bus.post(&bus_codec::encode(message));
    }

    fn close(&mut self, scope: &str) {
        self.relays.post_gathered();
        self.channels.remove(scope);
    }

    fn decode(&self, raw: JsValue) -> Option<BusMessage<Payload>> {
        bus_codec::decode(&raw)
    }
}

/// The relays of a burst: per scope and epoch, one `Body::In` message that
/// the next relays of the same scope and epoch join.
#[derive(Default)]
struct Relays(Vec<Relay>);

struct Relay {
    scope: String,
    epoch: u64,
    channel: BroadcastChannel,
    message: js_sys::Array,
}

impl Relays {
    /// Adds `payloads`, relayed on `scope` by its leader of `epoch`, to the
    /// scope's last message if it is of that epoch, else to a new message
    /// (`new` gives its channel and its encoding).
    fn add(
        &mut self,
        (scope, epoch, payloads): (&str, u64, &[Payload]),
        new: impl FnOnce() -> (BroadcastChannel, js_sys::Array),
    ) {
        match self.0.iter().rev().find(|relay| relay.scope == scope) {
            Some(last) if last.epoch == epoch => bus_codec::append_relayed(&last.message, payloads),
            _ => {
                let (channel, message) = new();
                self.0.push(Relay {
                    scope: scope.to_owned(),
                    epoch,
                    channel,
                    message,
                });
            }
        }
    }
}

impl Gathered for Relays {
    fn post(&mut self) -> bool {
        let any = !self.0.is_empty();
        for relay in self.0.drain(..) {
            let _ = relay.channel.post_message(&relay.message);
        }
        any
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
