//! The native `WebSocket`, opened inside the worker, reduced to four events.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::core::CloseInfo;

/// What a native socket reports.
#[derive(Debug)]
pub enum SocketEvent {
    /// The handshake completed.
    Open {
        /// The subprotocol the server selected.
        protocol: String,
        /// The extensions the server accepted.
        extensions: String,
    },
    /// A message: a JS string or an `ArrayBuffer`, passed on untouched.
    Message(JsValue),
    /// The connection failed.
    Error,
    /// The connection is closed.
    Closed(CloseInfo),
}

#[wasm_bindgen]
extern "C" {
    /// A `WebSocket` seen through a `send` that takes whatever JS value it is
    /// given, so a string, `ArrayBuffer` or `Blob` reaches the socket without a
    /// round trip through WASM memory.
    #[wasm_bindgen(extends = WebSocket)]
    type AnyValueSocket;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_value(this: &AnyValueSocket, data: &JsValue) -> Result<(), JsValue>;
}

/// An open or opening native socket and the handlers that feed its events to
/// a callback. Dropping it detaches the handlers and closes the socket.
#[derive(Debug)]
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Opens a socket to `url` offering `protocols`. Fails with the
    /// constructor's exception (e.g. a `SyntaxError`).
    pub fn open(
        url: &str,
        protocols: &[String],
        on_event: impl Fn(SocketEvent) + 'static,
    ) -> Result<Socket, JsValue> {
        let offered = protocols
            .iter()
            .map(|protocol| JsValue::from_str(protocol))
            .collect::<js_sys::Array>();
        let ws = WebSocket::new_with_str_sequence(url, &offered)?;
        // Binary messages cross to the page as ArrayBuffers; each instance
        // turns them into Blobs itself when its binaryType asks for that.
        ws.set_binary_type(BinaryType::Arraybuffer);

        let on_event = std::rc::Rc::new(on_event);
        let on_open = {
            let (on_event, ws) = (on_event.clone(), ws.clone());
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                on_event(SocketEvent::Open {
                    protocol: ws.protocol(),
                    extensions: ws.extensions(),
                })
            })
        };
        let on_message = {
            let on_event = on_event.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                on_event(SocketEvent::Message(event.data()))
            })
        };
        let on_error = {
            let on_event = on_event.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| on_event(SocketEvent::Error))
        };
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            on_event(SocketEvent::Closed(CloseInfo {
                code: event.code(),
                reason: event.reason(),
                was_clean: event.was_clean(),
            }))
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        })
    }

    /// Sends a JS string, `ArrayBuffer`, `ArrayBufferView` or `Blob` as is.
    pub fn send(&self, data: &JsValue) -> Result<(), JsValue> {
        self.ws.unchecked_ref::<AnyValueSocket>().send_value(data)
    }

    /// Starts the closing handshake, or aborts a socket still connecting.
    /// The facade has already validated `code` and `reason` as `WebSocket.close` does.
    pub fn close(&self, code: Option<u16>, reason: &str) -> Result<(), JsValue> {
        match code {
            Some(code) => self.ws.close_with_code_and_reason(code, reason),
            None => self.ws.close(),
        }
    }

    /// Bytes queued on the native socket and not yet sent.
    pub fn buffered_amount(&self) -> u32 {
        self.ws.buffered_amount()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Detach first: a handler firing after its closure is freed would throw.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        if self.ws.ready_state() < WebSocket::CLOSING {
            let _ = self.ws.close();
        }
    }
}
