//! The hand-written codec of requests and replies (`src/codec.rs`) against
//! the serde derives that describe the same shapes, from which tsify writes
//! the page's TypeScript types: what serde-wasm-bindgen writes, the codec
//! reads back equal, and what the codec writes, serde-wasm-bindgen reads back
//! equal. So the page's types and the worker's codec cannot drift apart.
#![cfg(target_arch = "wasm32")]

use bws_facade::{
    Backend, CloseRequest, Closed, Election, Farewell, JsCodec, JsMessage, Leadership, OpenRequest,
    Opened, Payload, Reconnect, Reply, Request, Resolved,
};
use gloo_worker::Codec;
use js_sys::{Array, ArrayBuffer, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn open_request(reconnect: Option<Reconnect>) -> OpenRequest {
    OpenRequest {
        tab_id: "tab-1".into(),
        scope: "ws://127.0.0.1/chat".into(),
        url: "ws://127.0.0.1/chat".into(),
        protocols: vec!["a".into(), "b".into()],
        election: Election::Lease,
        leader_timeout_ms: 3000,
        grace_ms: 0,
        debug: true,
        reconnect,
        resolve: false,
    }
}

fn reconnect() -> Reconnect {
    Reconnect {
        min_reconnection_delay: 1000,
        max_reconnection_delay: 10_000,
        reconnection_delay_grow_factor: 1.3,
        min_uptime: 5000,
        connection_timeout: 4000,
        max_retries: u32::MAX,
        queue: true,
        reconnect_on_codes: vec![1006, 4000],
    }
}

/// Every request the page sends, each variant and optional field.
fn requests() -> Vec<Request> {
    #[allow(unused_mut)]
    let mut requests = vec![
        Request::Open(open_request(None)),
        Request::Open(open_request(Some(reconnect()))),
        Request::Send(Payload("text".into())),
        Request::Send(Payload(ArrayBuffer::new(8).into())),
        Request::Close(CloseRequest {
            code: Some(4000),
            reason: "bye".into(),
        }),
        Request::Close(CloseRequest {
            code: None,
            reason: String::new(),
        }),
        Request::Pong,
        Request::ForceLeader,
        Request::Relinquish,
        Request::Reconnect(CloseRequest {
            code: Some(1000),
            reason: "again".into(),
        }),
        Request::Resolved(Resolved {
            url: "ws://127.0.0.1/x".into(),
            protocols: vec![],
        }),
        Request::ResolveFailed("the provider threw".into()),
    ];
    #[cfg(feature = "test-switches")]
    requests.push(Request::Zombie);
    requests
}

#[wasm_bindgen_test]
fn the_codec_reads_every_request_as_serde_writes_it() {
    for request in requests() {
        let js = serde_wasm_bindgen::to_value(&request).unwrap();
        assert_eq!(Request::from_js(&js).as_ref(), Some(&request), "{js:?}");
    }
}

#[wasm_bindgen_test]
fn a_payload_crosses_as_the_very_same_object() {
    let buffer: JsValue = ArrayBuffer::new(8).into();
    let js = serde_wasm_bindgen::to_value(&Request::Send(Payload(buffer.clone()))).unwrap();
    let Some(Request::Send(Payload(read))) = Request::from_js(&js) else {
        panic!("not a send");
    };
    assert!(js_sys::Object::is(&read, &buffer));
}

fn parse(json: &str) -> JsValue {
    JSON::parse(json).unwrap()
}

#[wasm_bindgen_test]
fn what_is_not_a_request_reads_as_none() {
    let open = |fields: &str| {
        parse(&format!(
            r#"{{"open":{{"tabId":"t","scope":"s","url":"ws://h/","protocols":[],"election":"auto","leaderTimeoutMs":3000,"graceMs":0,"debug":false,"resolve":false{fields}}}}}"#
        ))
    };
    assert!(Request::from_js(&open("")).is_some(), "the valid base");
    let invalid = [
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::from(3),
        "nonsense".into(),
        "open".into(),
        parse(r#"{"pong":null,"forceLeader":null}"#),
        parse(r#"{"close":{"code":70000,"reason":""}}"#),
        parse(r#"{"close":{"code":-1,"reason":""}}"#),
        parse(r#"{"close":{"code":1000.5,"reason":""}}"#),
        parse(r#"{"close":{"code":1000}}"#),
        parse(r#"{"resolved":{"url":"ws://h/","protocols":[1]}}"#),
        parse(r#"{"resolveFailed":3}"#),
        open(r#","election":"bully""#),
        open(r#","leaderTimeoutMs":-5"#),
        open(r#","leaderTimeoutMs":1e300"#),
        open(r#","protocols":"a""#),
        open(r#","debug":"yes""#),
        open(r#","reconnect":{"minReconnectionDelay":1}"#),
    ];
    for value in invalid {
        assert_eq!(Request::from_js(&value), None, "{value:?}");
    }
    // Not a test build: the test switch is not a request.
    if !cfg!(feature = "test-switches") {
        assert_eq!(Request::from_js(&"zombie".into()), None);
    }
}

/// Every reply the worker sends, each variant and optional field. A function,
/// as a reply carries JS values and is not `Clone`.
fn replies(farewell: &JsValue, payload: &JsValue) -> Vec<Reply> {
    vec![
        Reply::Leadership(Leadership {
            leader_id: Some("tab-2".into()),
            epoch: 1_765_000_000_000,
            backend: Backend::Locks,
            tabs: 3,
            sends_in_doubt: 1,
            retries: 2,
        }),
        Reply::Leadership(Leadership {
            leader_id: None,
            epoch: 0,
            backend: Backend::Lease,
            tabs: 0,
            sends_in_doubt: 0,
            retries: 0,
        }),
        Reply::Open(Opened {
            protocol: "a".into(),
            extensions: String::new(),
        }),
        Reply::Messages(vec![Payload(payload.clone())]),
        Reply::Messages(vec![Payload(payload.clone()), Payload("two".into())]),
        Reply::Error,
        Reply::Closed(Closed {
            code: 1006,
            reason: "gone".into(),
            was_clean: false,
            reconnecting: true,
        }),
        Reply::Sent,
        Reply::Farewell(Farewell {
            channel: "bws-farewells:v4:s".into(),
            message: farewell.clone(),
        }),
        Reply::Ping,
        Reply::Resolve,
    ]
}

#[wasm_bindgen_test]
fn serde_reads_every_reply_as_the_codec_writes_it() {
    let farewell: JsValue = Array::of1(&"left".into()).into();
    let payload: JsValue = ArrayBuffer::new(4).into();
    let expected = replies(&farewell, &payload);
    for (reply, expected) in replies(&farewell, &payload).into_iter().zip(expected) {
        let js = reply.into_js();
        let read: Reply = serde_wasm_bindgen::from_value(js.clone()).unwrap();
        assert_eq!(read, expected, "{js:?}");
    }
}

#[wasm_bindgen_test]
fn the_envelope_decodes_as_gloo_worker_shapes_it() {
    // gloo-worker's `ToWorker` is private to it: its shapes, as the page's
    // bridge writes them, must decode through the codec and back out of it
    // the same.
    let message = parse(r#"{"open":{}}"#);
    let envelope = Array::of2(&JsValue::from(7), &message);
    let wrapped = js_sys::Object::new();
    js_sys::Reflect::set(&wrapped, &"ProcessInput".into(), &envelope).unwrap();
    let decoded: Inbound = JsCodec::decode(wrapped.into());
    let Inbound::ProcessInput(Id(7), JsMessage(inside)) = decoded else {
        panic!("not ProcessInput(7, _)");
    };
    assert!(js_sys::Object::is(&inside, &message));

    let decoded: Inbound = JsCodec::decode(parse(r#"{"Connected":3}"#));
    assert!(matches!(decoded, Inbound::Connected(Id(3))));
    let decoded: Inbound = JsCodec::decode(parse(r#"{"Disconnected":4}"#));
    assert!(matches!(decoded, Inbound::Disconnected(Id(4))));
    let decoded: Inbound = JsCodec::decode("Destroy".into());
    assert!(matches!(decoded, Inbound::Destroy));
}

#[wasm_bindgen_test]
fn the_envelope_encodes_as_the_page_reads_it() {
    // gloo-worker's `FromWorker`, as the page's bridge reads it.
    let reply = Reply::Sent.into_js();
    let encoded = JsCodec::encode(Outbound::ProcessOutput(Id(5), JsMessage(reply.clone())));
    let content = js_sys::Reflect::get(&encoded, &"ProcessOutput".into()).unwrap();
    let pair: Array = content.into();
    assert_eq!(pair.length(), 2);
    assert_eq!(pair.get(0).as_f64(), Some(5.0));
    assert!(js_sys::Object::is(&pair.get(1), &reply));
    assert_eq!(
        js_sys::Object::keys(encoded.unchecked_ref::<js_sys::Object>()).length(),
        1
    );

    assert_eq!(
        JsCodec::encode(Outbound::WorkerLoaded)
            .as_string()
            .as_deref(),
        Some("WorkerLoaded")
    );
}

/// gloo-worker's `FromWorker`, as its serde derive sees it (the crate's own
/// is private).
#[derive(Debug, serde::Serialize)]
enum Outbound {
    WorkerLoaded,
    ProcessOutput(Id, JsMessage),
}

/// gloo-worker's `ToWorker`, as its serde derive sees it (the crate's own is
/// private): `HandlerId` is a newtype of `usize`.
#[derive(Debug, serde::Deserialize)]
enum Inbound {
    Connected(Id),
    ProcessInput(Id, JsMessage),
    Disconnected(Id),
    Destroy,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Id(usize);
