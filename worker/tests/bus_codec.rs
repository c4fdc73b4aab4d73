//! The bus codec (`web::bus_codec`), in a dedicated worker of headless
//! Chromium: every body round-trips, through structured clone too, payloads
//! travel as they are, and what is not a message of this version is `None`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use bws_core::{Body, BusMessage, CloseInfo, Heartbeat, Retry, SharedState, PROTOCOL_VERSION};
use bws_facade::Payload;
use bws_worker::web::bus::{farewell, Channel};
use bws_worker::web::bus_codec::{decode, encode};
use js_sys::{Array, ArrayBuffer, Function, Object, Reflect, Uint8Array, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const MAX_SAFE: u64 = (1 << 53) - 1;

fn text(s: &str) -> Payload {
    Payload(JsValue::from_str(s))
}

fn bytes(data: &[u8]) -> Payload {
    Payload(Uint8Array::from(data).buffer().into())
}

fn blob(s: &str) -> Payload {
    let parts = Array::of1(&JsValue::from_str(s));
    Payload(web_sys::Blob::new_with_str_sequence(&parts).unwrap().into())
}

fn message(body: Body<Payload>) -> BusMessage<Payload> {
    BusMessage::new("tab-a".to_owned(), 1_700_000_000_123, body)
}

/// A message of every body, with every option both ways, and the extremes.
fn samples() -> Vec<BusMessage<Payload>> {
    let heartbeat = |state, handed| {
        message(Body::Heartbeat(Heartbeat {
            state,
            tabs: u32::MAX,
            handed,
            retry: Retry {
                count: 3,
                at: MAX_SAFE,
            },
        }))
    };
    let open = SharedState::Open {
        protocol: "chat".to_owned(),
        extensions: "permessage-deflate".to_owned(),
    };
    vec![
        message(Body::Hello),
        heartbeat(SharedState::Connecting, vec![]),
        heartbeat(
            open,
            vec![("tab-b".to_owned(), 0), ("tab-c".to_owned(), MAX_SAFE)],
        ),
        heartbeat(
            SharedState::Open {
                protocol: String::new(),
                extensions: String::new(),
            },
            vec![("".to_owned(), 7)],
        ),
        message(Body::Presence {
            instances: 2,
            close: None,
        }),
        message(Body::Presence {
            instances: 0,
            close: Some((None, String::new())),
        }),
        message(Body::Presence {
            instances: 0,
            close: Some((Some(4000), "bye ✓".to_owned())),
        }),
        message(Body::Claim),
        message(Body::Out {
            leader: "tab-b".to_owned(),
            seq: 42,
            payload: text("hello"),
        }),
        message(Body::Out {
            leader: "tab-b".to_owned(),
            seq: 0,
            payload: bytes(&[0, 1, 2, 255]),
        }),
        message(Body::Out {
            leader: "tab-b".to_owned(),
            seq: MAX_SAFE,
            payload: blob("a blob"),
        }),
        message(Body::Refused {
            handed: vec![],
            to: None,
        }),
        message(Body::Refused {
            handed: vec![("tab-b".to_owned(), 5)],
            to: Some("tab-c".to_owned()),
        }),
        message(Body::Reconnect {
            leader: "tab-b".to_owned(),
            code: None,
            reason: String::new(),
        }),
        message(Body::Reconnect {
            leader: "tab-b".to_owned(),
            code: Some(u16::MAX),
            reason: "again".to_owned(),
        }),
        message(Body::Yield {
            leader: "tab-b".to_owned(),
        }),
        message(Body::In(vec![text("")])),
        message(Body::In(vec![bytes(&[])])),
        message(Body::In(vec![text("a"), bytes(&[1]), text("c")])),
        message(Body::Error),
        message(Body::Closed(CloseInfo {
            code: 1006,
            reason: String::new(),
            was_clean: false,
        })),
        message(Body::Closed(CloseInfo {
            code: 1000,
            reason: "done".to_owned(),
            was_clean: true,
        })),
        message(Body::Left),
        BusMessage::new(String::new(), 0, Body::Hello),
        BusMessage::new("tab-z".to_owned(), MAX_SAFE, Body::Left),
    ]
}

/// The variant's number; exhaustive, so a new variant must be sampled.
fn kind<P>(body: &Body<P>) -> usize {
    match body {
        Body::Hello => 0,
        Body::Heartbeat(_) => 1,
        Body::Presence { .. } => 2,
        Body::Claim => 3,
        Body::Out { .. } => 4,
        Body::Refused { .. } => 5,
        Body::Reconnect { .. } => 6,
        Body::Yield { .. } => 7,
        Body::In(_) => 8,
        Body::Error => 9,
        Body::Closed(_) => 10,
        Body::Left => 11,
    }
}

/// The message without its payloads (`Payload` has no `PartialEq`), and the payloads.
fn split(message: BusMessage<Payload>) -> (BusMessage<()>, Vec<JsValue>) {
    let (body, payload) = match message.body {
        Body::Out {
            leader,
            seq,
            payload,
        } => (
            Body::Out {
                leader,
                seq,
                payload: (),
            },
            vec![payload.0],
        ),
        Body::In(payloads) => (
            Body::In(vec![(); payloads.len()]),
            payloads.into_iter().map(|payload| payload.0).collect(),
        ),
        Body::Hello => (Body::Hello, Vec::new()),
        Body::Heartbeat(beat) => (Body::Heartbeat(beat), Vec::new()),
        Body::Presence { instances, close } => (Body::Presence { instances, close }, Vec::new()),
        Body::Claim => (Body::Claim, Vec::new()),
        Body::Refused { handed, to } => (Body::Refused { handed, to }, Vec::new()),
        Body::Reconnect {
            leader,
            code,
            reason,
        } => (
            Body::Reconnect {
                leader,
                code,
                reason,
            },
            Vec::new(),
        ),
        Body::Yield { leader } => (Body::Yield { leader }, Vec::new()),
        Body::Error => (Body::Error, Vec::new()),
        Body::Closed(info) => (Body::Closed(info), Vec::new()),
        Body::Left => (Body::Left, Vec::new()),
    };
    let message = BusMessage {
        v: message.v,
        from: message.from,
        epoch: message.epoch,
        body,
    };
    (message, payload)
}

fn structured_clone(value: &JsValue) -> JsValue {
    let clone: Function = Reflect::get(&js_sys::global(), &"structuredClone".into())
        .unwrap()
        .unchecked_into();
    clone.call1(&JsValue::UNDEFINED, value).unwrap()
}

/// What a payload holds, to compare a clone with its original.
fn contents(payload: &JsValue) -> String {
    if let Some(s) = payload.as_string() {
        format!("string {s:?}")
    } else if let Some(buffer) = payload.dyn_ref::<ArrayBuffer>() {
        format!("ArrayBuffer {:?}", Uint8Array::new(buffer).to_vec())
    } else if let Some(blob) = payload.dyn_ref::<web_sys::Blob>() {
        format!("Blob of {} bytes", blob.size())
    } else {
        "something else".to_owned()
    }
}

#[wasm_bindgen_test]
fn every_body_is_sampled() {
    let mut kinds: Vec<usize> = samples().iter().map(|m| kind(&m.body)).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, (0..12).collect::<Vec<_>>());
}

#[wasm_bindgen_test]
fn every_message_round_trips_with_its_very_payload() {
    for original in samples() {
        let decoded = decode(&encode(&original)).expect("a message of this version");
        let (decoded, payload) = split(decoded);
        let (original, original_payload) = split(original);
        assert_eq!(decoded, original);
        assert_eq!(payload.len(), original_payload.len());
        for (payload, original) in payload.iter().zip(&original_payload) {
            assert!(
                Object::is(payload, original),
                "{original:?}: the same object"
            );
        }
    }
}

/// Asserts that `decoded` equals `original`, payloads by their contents (a
/// clone is another object); gives both's payloads.
fn assert_same_message(
    decoded: BusMessage<Payload>,
    original: BusMessage<Payload>,
) -> (Vec<JsValue>, Vec<JsValue>) {
    let (decoded, payload) = split(decoded);
    let (original, original_payload) = split(original);
    assert_eq!(decoded, original);
    assert_eq!(
        payload.iter().map(contents).collect::<Vec<_>>(),
        original_payload.iter().map(contents).collect::<Vec<_>>()
    );
    (payload, original_payload)
}

#[wasm_bindgen_test]
fn every_message_round_trips_through_structured_clone() {
    for original in samples() {
        let decoded = decode(&structured_clone(&encode(&original))).expect("a message");
        let (payloads, originals) = assert_same_message(decoded, original);
        for (payload, original) in payloads.iter().zip(&originals) {
            if original.is_string() {
                assert_eq!(payload, original);
            }
        }
    }
}

#[wasm_bindgen_test]
fn a_payload_goes_into_the_array_as_it_is() {
    let buffer: JsValue = Uint8Array::from(&[1u8, 2, 3][..]).buffer().into();
    let out = message(Body::Out {
        leader: "tab-b".to_owned(),
        seq: 1,
        payload: Payload(buffer.clone()),
    });
    let array: Array = encode(&out).unchecked_into();
    assert!(Object::is(&array.get(array.length() - 1), &buffer));
    let relayed = message(Body::In(vec![text("first"), Payload(buffer.clone())]));
    let array: Array = encode(&relayed).unchecked_into();
    assert!(Object::is(&array.get(array.length() - 1), &buffer));
}

#[wasm_bindgen_test]
fn the_wire_shape() {
    let shape =
        |message: &BusMessage<Payload>| String::from(JSON::stringify(&encode(message)).unwrap());
    let v = PROTOCOL_VERSION;
    assert_eq!(v, 5);
    let heartbeat = BusMessage::<Payload>::new(
        "a".to_owned(),
        9,
        Body::Heartbeat(Heartbeat {
            state: SharedState::Open {
                protocol: "p".to_owned(),
                extensions: "e".to_owned(),
            },
            tabs: 2,
            handed: vec![("b".to_owned(), 3), ("c".to_owned(), 4)],
            retry: Retry { count: 1, at: 5 },
        }),
    );
    assert_eq!(
        shape(&heartbeat),
        r#"[5,"a",9,1,2,["b",3,"c",4],1,5,"p","e"]"#
    );
    let presence = BusMessage::<Payload>::new(
        "a".to_owned(),
        9,
        Body::Presence {
            instances: 0,
            close: Some((None, "r".to_owned())),
        },
    );
    assert_eq!(shape(&presence), r#"[5,"a",9,2,0,"r",null]"#);
    let out = BusMessage::new(
        "a".to_owned(),
        9,
        Body::Out {
            leader: "b".to_owned(),
            seq: 6,
            payload: text("x"),
        },
    );
    assert_eq!(shape(&out), r#"[5,"a",9,4,"b",6,"x"]"#);
    let relayed = BusMessage::new("a".to_owned(), 9, Body::In(vec![text("x"), text("y")]));
    assert_eq!(shape(&relayed), r#"[5,"a",9,8,"x","y"]"#);
    let left = BusMessage::<Payload>::new("a".to_owned(), 0, Body::Left);
    assert_eq!(shape(&left), r#"[5,"a",0,11]"#);
}

/// Values built in JS, as another context would post them.
fn js_values(source: &str) -> Vec<JsValue> {
    let values = Function::new_with_args("v", source)
        .call1(&JsValue::UNDEFINED, &PROTOCOL_VERSION.into())
        .unwrap();
    values.unchecked_into::<Array>().to_vec()
}

#[wasm_bindgen_test]
fn well_formed_values_from_js_decode() {
    let values = js_values(
        "return [
            [v, 'a', 1, 0],
            [v, 'a', -0, 0],
            [v, 'a', 2 ** 53 - 1, 0],
            [v, 'a', 1, 1, 2, ['b', 3], 0, 0, null, null],
            [v, 'a', 1, 2, 1, null, null],
            [v, 'a', 1, 2, 0, 'bye', 65535],
            [v, 'a', 1, 4, 'b', 1, new Blob(['x'])],
            [v, 'a', 1, 8, 'x', new ArrayBuffer(2), new Blob(['z'])],
            [v, 'a', 1, 5, [], null],
            [v, 'a', 1, 10, 1000, 'r', true],
        ]",
    );
    for (n, value) in values.iter().enumerate() {
        assert!(decode(value).is_some(), "value {n} decodes");
    }
}

#[wasm_bindgen_test]
fn malformed_values_do_not_decode() {
    let values = js_values(
        "const huge = new Array(2 ** 32 - 1);
        return [
            // Not a message of this protocol at all.
            undefined, null, true, 0, -1, NaN, 'x', '', {}, [], new ArrayBuffer(8),
            new Uint8Array([4, 0, 1, 0]), new Blob(['x']), new Map(), 10n, huge,
            { v, from: 'a', epoch: 1, body: 'Hello' },
            Object.assign([v, 'a', 1], { 3: undefined }),
            // Another version.
            [v - 1, 'a', 1, 0], [v + 1, 'a', 1, 0], [0, 'a', 1, 0], [String(v), 'a', 1, 0],
            [v + 0.5, 'a', 1, 0], [-v, 'a', 1, 0],
            // Unknown kind.
            [v, 'a', 1, 12], [v, 'a', 1, 99], [v, 'a', 1, -1], [v, 'a', 1, 1.5], [v, 'a', 1, '0'],
            [v, 'a', 1, null], [v, 'a', 1, 2 ** 32],
            // Truncated, or too long.
            [v], [v, 'a'], [v, 'a', 1], [v, 'a', 1, 0, null], [v, 'a', 1, 11, 'x'],
            [v, 'a', 1, 1, 2, [], 0, 0, null],
            [v, 'a', 1, 4, 'b', 1],
            [v, 'a', 1, 6, 'b', null],
            [v, 'a', 1, 7],
            [v, 'a', 1, 8],
            [v, 'a', 1, 10, 1000, 'r'],
            // Holes.
            [v, 'a', 1, , ], [v, 'a', 1, 1, 2, [, 3], 0, 0, null, null],
            // Wrong types.
            [v, 7, 1, 0], [v, null, 1, 0], [v, 'a', '1', 0], [v, 'a', true, 0], [v, 'a', null, 0],
            [v, 'a', 1n, 0], [v, 'a', new Number(1), 0], [v, new String('a'), 1, 0],
            [v, 'a', 1, 1, 2, 'all', 0, 0, null, null],
            [v, 'a', 1, 1, 2, [['b', 3]], 0, 0, null, null],
            [v, 'a', 1, 1, 2, [3, 'b'], 0, 0, null, null],
            [v, 'a', 1, 1, 2, ['b'], 0, 0, null, null],
            [v, 'a', 1, 1, 2, huge, 0, 0, null, null],
            [v, 'a', 1, 1, 2, [], 0, 0, 'p', null],
            [v, 'a', 1, 1, 2, [], 0, 0, null, 'e'],
            [v, 'a', 1, 1, 2, [], 0, 0, undefined, undefined],
            [v, 'a', 1, 2, 1, null, 1000],
            [v, 'a', 1, 2, 1, 1000, 'bye'],
            [v, 'a', 1, 4, 'b', 1, 7], [v, 'a', 1, 4, 'b', 1, {}], [v, 'a', 1, 4, 'b', 1, null],
            [v, 'a', 1, 4, 'b', 1, undefined], [v, 'a', 1, 4, 'b', 1, new Uint8Array(2)],
            [v, 'a', 1, 4, null, 1, 'x'], [v, 'a', 1, 8, ['x']], [v, 'a', 1, 8, 'x', 7],
            [v, 'a', 1, 8, 'x', null], [v, 'a', 1, 8, 'x', , 'y'],
            [v, 'a', 1, 5, [], 7], [v, 'a', 1, 5, null, null], [v, 'a', 1, 5, {}, null],
            [v, 'a', 1, 6, 'b', '1000', 'r'], [v, 'a', 1, 6, 'b', 1000, null],
            [v, 'a', 1, 7, undefined],
            [v, 'a', 1, 10, 1000, 'r', 'yes'], [v, 'a', 1, 10, 1000, 'r', 1],
            [v, 'a', 1, 10, null, 'r', true],
            // Numbers out of range: negative, fractional, not finite, not exact.
            [v, 'a', -1, 0], [v, 'a', 1.5, 0], [v, 'a', NaN, 0], [v, 'a', Infinity, 0],
            [v, 'a', -Infinity, 0], [v, 'a', 2 ** 53, 0], [v, 'a', 2 ** 53 + 2, 0],
            [v, 'a', 2 ** 64, 0], [v, 'a', 1e308, 0], [v, 'a', Number.EPSILON, 0],
            [v, 'a', 1, 4, 'b', -1, 'x'], [v, 'a', 1, 4, 'b', 2 ** 53 + 2, 'x'],
            [v, 'a', 1, 1, 2, ['b', -1], 0, 0, null, null],
            [v, 'a', 1, 1, 2, ['b', 0.5], 0, 0, null, null],
            [v, 'a', 1, 1, 2 ** 32, [], 0, 0, null, null],
            [v, 'a', 1, 1, -1, [], 0, 0, null, null],
            [v, 'a', 1, 1, 2, [], 2 ** 32, 0, null, null],
            [v, 'a', 1, 1, 2, [], 0, NaN, null, null],
            [v, 'a', 1, 2, 2 ** 32, null, null],
            [v, 'a', 1, 2, 0, 'bye', 70000], [v, 'a', 1, 2, 0, 'bye', 65536],
            [v, 'a', 1, 2, 0, 'bye', -1], [v, 'a', 1, 2, 0, 'bye', 1000.5],
            [v, 'a', 1, 6, 'b', 70000, 'r'],
            [v, 'a', 1, 10, 70000, 'r', true], [v, 'a', 1, 10, -1, 'r', true],
            [v, 'a', 1, 10, NaN, 'r', true],
        ]",
    );
    assert!(values.len() > 100);
    for (n, value) in values.iter().enumerate() {
        assert!(decode(value).is_none(), "value {n} does not decode");
    }
}

#[wasm_bindgen_test]
fn a_farewell_decodes_to_left_from_its_tab() {
    let farewell = farewell("tab-q", "scope-1");
    assert_eq!(
        farewell.channel,
        format!("bws-farewells:v{PROTOCOL_VERSION}:scope-1")
    );
    let message = decode(&farewell.message).expect("a message of this version");
    let (message, payload) = split(message);
    assert_eq!(
        message,
        BusMessage {
            v: PROTOCOL_VERSION,
            from: "tab-q".to_owned(),
            epoch: 0,
            body: Body::Left,
        }
    );
    assert!(payload.is_empty());
    // As the page posts it: through structured clone.
    let cloned = decode(&structured_clone(&farewell.message)).expect("a message");
    assert!(matches!(cloned.body, Body::Left));
    assert_eq!(cloned.from, "tab-q");
}

/// Waits `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = global.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[wasm_bindgen_test]
async fn every_message_crosses_a_channel() {
    let scope = format!("bus-codec-{}", js_sys::Math::random());
    let heard: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let sink = heard.clone();
    // Bare channels: a bus would gather consecutive relays into one message.
    let _receiver = Channel::open(&scope, move |data| sink.borrow_mut().push(data)).unwrap();
    let sender = Channel::open(&scope, |_| {}).unwrap();
    for message in samples() {
        sender.post(&encode(&message)).unwrap();
    }
    for _ in 0..50 {
        if heard.borrow().len() >= samples().len() {
            break;
        }
        sleep(20).await;
    }
    let heard = std::mem::take(&mut *heard.borrow_mut());
    assert_eq!(heard.len(), samples().len());
    for (raw, original) in heard.into_iter().zip(samples()) {
        let decoded = decode(&raw).expect("a message of this version");
        assert_same_message(decoded, original);
    }
}
