//! A scope's `BroadcastChannel`: every tab's worker of the scope listens on it.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::core::PROTOCOL_VERSION;

/// The channel of one scope. Dropping it stops listening and closes it.
#[derive(Debug)]
pub struct Bus {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Bus {
    /// The channel's name: the protocol version is part of it, so tabs of
    /// incompatible versions never hear each other.
    pub fn channel_name(scope: &str) -> String {
        format!("bws:v{PROTOCOL_VERSION}:{scope}")
    }

    /// Opens the channel of `scope`; every message another context posts on
    /// it reaches `on_message` as it arrived (decoding is the caller's).
    pub fn open(scope: &str, on_message: impl Fn(JsValue) + 'static) -> Result<Bus, JsValue> {
        let channel = BroadcastChannel::new(&Self::channel_name(scope))?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message(event.data())
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Bus {
            channel,
            _on_message: on_message,
        })
    }

    /// Posts a message to every other context listening on the channel.
    pub fn post(&self, message: &JsValue) -> Result<(), JsValue> {
        self.channel.post_message(message)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
