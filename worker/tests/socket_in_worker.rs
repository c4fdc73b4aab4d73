//! The socket adapter against the real local server, inside a real dedicated
//! worker of headless Chromium (where the engine runs it). `npm test` starts
//! the server and passes its address as BWS_TEST_SERVER_WS at compile time.
#![cfg(target_arch = "wasm32")]

use bws_core::{CloseInfo, SocketEvent};
use bws_facade::Payload;
use bws_worker::web::socket::Socket;
use futures_channel::mpsc::{unbounded, UnboundedReceiver};
use futures_util::StreamExt;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const SERVER: &str = match option_env!("BWS_TEST_SERVER_WS") {
    Some(server) => server,
    None => "ws://127.0.0.1:8080",
};

/// Opens a socket whose events arrive on a channel.
fn open(path: &str, protocols: &[&str]) -> (Socket, UnboundedReceiver<SocketEvent<Payload>>) {
    let (sender, receiver) = unbounded();
    let protocols: Vec<String> = protocols.iter().map(|p| p.to_string()).collect();
    let socket = Socket::open(&format!("{SERVER}{path}"), &protocols, move |event| {
        let _ = sender.unbounded_send(event);
    })
    .expect("the URL is valid");
    (socket, receiver)
}

async fn next(events: &mut UnboundedReceiver<SocketEvent<Payload>>) -> SocketEvent<Payload> {
    events
        .next()
        .await
        .expect("the socket reports until it is dropped")
}

async fn expect_open(events: &mut UnboundedReceiver<SocketEvent<Payload>>) -> (String, String) {
    match next(events).await {
        SocketEvent::Open {
            protocol,
            extensions,
        } => (protocol, extensions),
        other => panic!("expected open, got {other:?}"),
    }
}

async fn expect_message(events: &mut UnboundedReceiver<SocketEvent<Payload>>) -> JsValue {
    match next(events).await {
        SocketEvent::Message(Payload(data)) => data,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn expect_closed(events: &mut UnboundedReceiver<SocketEvent<Payload>>) -> CloseInfo {
    match next(events).await {
        SocketEvent::Closed(info) => info,
        other => panic!("expected close, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn opens_with_the_selected_subprotocol() {
    let (socket, mut events) = open("/echo?protocol=json", &["chat", "json"]);
    let (protocol, _extensions) = expect_open(&mut events).await;
    assert_eq!(protocol, "json");
    socket.close(Some(1000), "").unwrap();
    assert_eq!(expect_closed(&mut events).await.code, 1000);
}

#[wasm_bindgen_test]
async fn echoes_text_as_a_string_and_binary_as_an_array_buffer() {
    let (socket, mut events) = open("/echo", &[]);
    expect_open(&mut events).await;
    socket.send(&JsValue::from_str("héllo")).unwrap();
    let bytes = js_sys::Uint8Array::from(&[1u8, 2, 250][..]);
    socket.send(&bytes.buffer()).unwrap();
    let blob = web_sys_blob(b"blob");
    socket.send(&blob).unwrap();

    assert_eq!(
        expect_message(&mut events).await.as_string().as_deref(),
        Some("héllo")
    );
    let binary = expect_message(&mut events).await;
    assert!(binary.is_instance_of::<js_sys::ArrayBuffer>());
    assert_eq!(js_sys::Uint8Array::new(&binary).to_vec(), vec![1, 2, 250]);
    let from_blob = expect_message(&mut events).await;
    assert_eq!(
        js_sys::Uint8Array::new(&from_blob).to_vec(),
        b"blob".to_vec()
    );
    assert_eq!(socket.buffered_amount(), 0);
}

#[wasm_bindgen_test]
async fn a_client_close_reports_its_code_and_reason() {
    let (socket, mut events) = open("/echo", &[]);
    expect_open(&mut events).await;
    socket.close(Some(4000), "bye").unwrap();
    let info = expect_closed(&mut events).await;
    assert_eq!(
        (info.code, info.reason.as_str(), info.was_clean),
        (4000, "bye", true)
    );
}

#[wasm_bindgen_test]
async fn a_server_close_reports_the_servers_code_and_reason() {
    let (socket, mut events) = open("/echo", &[]);
    expect_open(&mut events).await;
    socket
        .send(&JsValue::from_str("__bws:close 4001 server says bye"))
        .unwrap();
    let info = expect_closed(&mut events).await;
    assert_eq!(
        (info.code, info.reason.as_str(), info.was_clean),
        (4001, "server says bye", true)
    );
}

#[wasm_bindgen_test]
async fn a_dropped_connection_is_an_abnormal_close() {
    let (socket, mut events) = open("/echo", &[]);
    expect_open(&mut events).await;
    socket.send(&JsValue::from_str("__bws:drop")).unwrap();
    // Chromium reports a TCP close without a Close frame as close 1006 with
    // no error event: the connection ended, it did not fail.
    assert_eq!(expect_closed(&mut events).await, CloseInfo::abnormal());
}

#[wasm_bindgen_test]
async fn a_refused_handshake_is_an_error_then_an_abnormal_close() {
    // The server selects no subprotocol although one was offered: the browser fails it.
    let (_socket, mut events) = open("/echo?protocol=none", &["chat"]);
    assert!(matches!(next(&mut events).await, SocketEvent::Error));
    assert_eq!(expect_closed(&mut events).await, CloseInfo::abnormal());
}

#[wasm_bindgen_test]
fn an_invalid_url_is_refused_by_the_constructor() {
    let error =
        Socket::open("ftp://127.0.0.1/", &[], |_| {}).expect_err("ftp is not a WebSocket scheme");
    let name = js_sys::Reflect::get(&error, &JsValue::from_str("name")).unwrap();
    assert_eq!(name.as_string().as_deref(), Some("SyntaxError"));
}

fn web_sys_blob(bytes: &[u8]) -> JsValue {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .unwrap()
        .into()
}
