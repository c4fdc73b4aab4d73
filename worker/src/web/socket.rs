//! The socket [`Transport`]: native `WebSocket`s opened inside the worker,
//! each reduced to the four events of [`SocketEvent`].

use std::rc::Rc;

use bws_core::seams::Refused;
use bws_core::{CloseInfo, Map, SocketEvent, SocketId, Transport};
use bws_facade::Payload;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// The tab's native sockets by id; their events go to one callback.
pub struct WebSockets {
    open: Map<SocketId, Socket>,
    on_event: Rc<dyn Fn(SocketId, SocketEvent<Payload>)>,
}

impl std::fmt::Debug for WebSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSockets").finish_non_exhaustive()
    }
}

impl WebSockets {
    /// No sockets yet; every socket's events will reach `on_event`.
    pub fn new(on_event: impl Fn(SocketId, SocketEvent<Payload>) + 'static) -> Self {
        WebSockets {
            open: Map::new(),
            on_event: Rc::new(on_event),
        }
    }
}

impl Transport<Payload> for WebSockets {
    fn open(&mut self, socket: SocketId, url: &str, protocols: &[String]) -> Result<(), Refused> {
        let on_event = self.on_event.clone();
        let native = Socket::open(url, protocols, move |event| on_event(socket, event))
            .map_err(|_| Refused)?;
        self.open.insert(socket, native);
        Ok(())
    }

    fn send(&mut self, socket: SocketId, payload: Payload) {
        if let Some(native) = self.open.get(&socket) {
            // The socket is open (the core checked), so send cannot throw.
            let _ = native.send(&payload.0);
        }
    }

    fn close(&mut self, socket: SocketId, code: Option<u16>, reason: &str) {
        if let Some(native) = self.open.get(&socket) {
            let _ = native.close(code, reason);
        }
    }

    fn forget(&mut self, socket: SocketId) {
        self.open.remove(&socket);
    }
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
        on_event: impl Fn(SocketEvent<Payload>) + 'static,
    ) -> Result<Socket, JsValue> {
        let offered = protocols
            .iter()
            .map(|protocol| JsValue::from_str(protocol))
            .collect::<js_sys::Array>();
        let ws = WebSocket::new_with_str_sequence(url, &offered)?;
        // Binary messages cross to the page as ArrayBuffers; each instance
        // turns them into Blobs itself when its binaryType asks for that.
        ws.set_binary_type(BinaryType::Arraybuffer);

        let on_event = Rc::new(on_event);
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
                on_event(SocketEvent::Message(Payload(event.data())))
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
