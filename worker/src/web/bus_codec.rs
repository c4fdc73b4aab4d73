//! How a [`BusMessage`] travels on a `BroadcastChannel`: a JS array, written
//! and read by hand.
//!
//! Hand-written for size and speed: serde-wasm-bindgen's derived visitors for
//! these types were 15 KB of the worker's WASM (11 KB for `Body`'s enum
//! visitor alone), its error path brings in float formatting, and it walks
//! every message through a generic deserializer on the relay's hot path.
//! Hence no `format!`, no `Debug` and no panic in here.
//!
//! A message is `[v, from, epoch, kind, ...fields]`, `kind` a number per
//! [`Body`] variant, its fields flat after it:
//!
//! | kind | body        | fields                                                    |
//! | ---- | ----------- | --------------------------------------------------------- |
//! | 0    | `Hello`     |                                                           |
//! | 1    | `Heartbeat` | tabs, handed, retry count, retry at, protocol, extensions |
//! | 2    | `Presence`  | instances, close reason, close code                       |
//! | 3    | `Claim`     |                                                           |
//! | 4    | `Out`       | leader, seq, payload                                      |
//! | 5    | `Refused`   | handed, to                                                |
//! | 6    | `Reconnect` | leader, code, reason                                      |
//! | 7    | `Yield`     | leader                                                    |
//! | 8    | `In`        | payloads, one or more                                     |
//! | 9    | `Error`     |                                                           |
//! | 10   | `Closed`    | code, reason, was clean                                   |
//! | 11   | `Left`      |                                                           |
//!
//! Numbers are JS numbers (integers up to 2^53 - 1), absent options `null`;
//! `handed` is one nested array `[tab, seq, tab, seq, ...]`. A heartbeat's
//! protocol and extensions are both `null` while the socket connects; a
//! presence's close code is `null` unless it has a close reason. Payloads (a
//! string, `ArrayBuffer` or `Blob`) go into the array as they are, so they
//! travel by structured clone alone, never copied through WASM memory.
//!
//! [`decode`] takes anything: what is not a well-formed message of this
//! version (another library, another version, junk) is `None`.

use bws_core::{
    Body, BusMessage, CloseInfo, Heartbeat, Retry, SharedState, TabId, PROTOCOL_VERSION,
};
use bws_facade::js::{u16_of, u32_of, u64_of};
use bws_facade::Payload;
use js_sys::{Array, ArrayBuffer};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

/// `message` as the array that goes on the channel.
pub fn encode(message: &BusMessage<Payload>) -> JsValue {
    let w = Writer(Array::new());
    w.u64(message.v.into())
        .string(&message.from)
        .u64(message.epoch);
    match &message.body {
        Body::Hello => w.u64(0),
        Body::Heartbeat(beat) => {
            let (protocol, extensions) = match &beat.state {
                SharedState::Connecting => (None, None),
                SharedState::Open {
                    protocol,
                    extensions,
                } => (Some(protocol.as_str()), Some(extensions.as_str())),
            };
            w.u64(1).u64(beat.tabs.into()).handed(&beat.handed);
            w.u64(beat.retry.count.into()).u64(beat.retry.at);
            w.opt_string(protocol).opt_string(extensions)
        }
        Body::Presence { instances, close } => {
            let (code, reason) = match close {
                Some((code, reason)) => (*code, Some(reason.as_str())),
                None => (None, None),
            };
            w.u64(2).u64((*instances).into()).opt_string(reason);
            w.opt_u16(code)
        }
        Body::Claim => w.u64(3),
        Body::Out {
            leader,
            seq,
            payload,
        } => w.u64(4).string(leader).u64(*seq).value(&payload.0),
        Body::Refused { handed, to } => w.u64(5).handed(handed).opt_string(to.as_deref()),
        Body::Reconnect {
            leader,
            code,
            reason,
        } => w.u64(6).string(leader).opt_u16(*code).string(reason),
        Body::Yield { leader } => w.u64(7).string(leader),
        Body::In(payloads) => {
            w.u64(8);
            append_relayed(&w.0, payloads);
            &w
        }
        Body::Error => w.u64(9),
        Body::Closed(info) => {
            let clean = JsValue::from_bool(info.was_clean);
            w.u64(10).u64(info.code.into()).string(&info.reason);
            w.value(&clean)
        }
        Body::Left => w.u64(11),
    };
    w.0.into()
}

/// The message `raw` holds, if it is a well-formed message of this version.
pub fn decode(raw: &JsValue) -> Option<BusMessage<Payload>> {
    let mut r = Reader::new(raw)?;
    let v = r.u32()?;
    if v != PROTOCOL_VERSION {
        return None;
    }
    let (from, epoch) = (r.string()?, r.u64()?);
    let body = match r.u32()? {
        0 => Body::Hello,
        1 => {
            let (tabs, handed) = (r.u32()?, r.handed()?);
            let retry = Retry {
                count: r.u32()?,
                at: r.u64()?,
            };
            let state = match (r.opt_string()?, r.opt_string()?) {
                (None, None) => SharedState::Connecting,
                (Some(protocol), Some(extensions)) => SharedState::Open {
                    protocol,
                    extensions,
                },
                _ => return None,
            };
            Body::Heartbeat(Heartbeat {
                state,
                tabs,
                handed,
                retry,
            })
        }
        2 => {
            let (instances, reason, code) = (r.u32()?, r.opt_string()?, r.opt_u16()?);
            let close = match (reason, code) {
                (Some(reason), code) => Some((code, reason)),
                (None, None) => None,
                (None, Some(_)) => return None,
            };
            Body::Presence { instances, close }
        }
        3 => Body::Claim,
        4 => Body::Out {
            leader: r.string()?,
            seq: r.u64()?,
            payload: r.payload()?,
        },
        5 => Body::Refused {
            handed: r.handed()?,
            to: r.opt_string()?,
        },
        6 => Body::Reconnect {
            leader: r.string()?,
            code: r.opt_u16()?,
            reason: r.string()?,
        },
        7 => Body::Yield {
            leader: r.string()?,
        },
        8 => {
            let mut payloads = vec![r.payload()?];
            while r.end().is_none() {
                payloads.push(r.payload()?);
            }
            Body::In(payloads)
        }
        9 => Body::Error,
        10 => Body::Closed(CloseInfo {
            code: r.u16()?,
            reason: r.string()?,
            was_clean: r.next()?.as_bool()?,
        }),
        11 => Body::Left,
        _ => return None,
    };
    r.end()?;
    Some(BusMessage {
        v,
        from,
        epoch,
        body,
    })
}

/// Appends `payloads` to `relayed`, the array of a `Body::In`: it becomes
/// the message of them all, in order (their place is at its end).
pub fn append_relayed(relayed: &Array, payloads: &[Payload]) {
    for payload in payloads {
        relayed.push(&payload.0);
    }
}

/// Appends to an array; each method returns the writer, to chain.
struct Writer(Array);

impl Writer {
    fn value(&self, value: &JsValue) -> &Self {
        self.0.push(value);
        self
    }

    /// Exact up to 2^53 - 1, which epochs (milliseconds) and counters stay below.
    fn u64(&self, n: u64) -> &Self {
        self.value(&JsValue::from_f64(n as f64))
    }

    fn string(&self, s: &str) -> &Self {
        self.value(&JsValue::from_str(s))
    }

    fn opt_string(&self, s: Option<&str>) -> &Self {
        match s {
            Some(s) => self.string(s),
            None => self.value(&JsValue::NULL),
        }
    }

    fn opt_u16(&self, n: Option<u16>) -> &Self {
        match n {
            Some(n) => self.u64(n.into()),
            None => self.value(&JsValue::NULL),
        }
    }

    /// `(tab, seq)` pairs, as one flat nested array.
    fn handed(&self, handed: &[(TabId, u64)]) -> &Self {
        let list = Writer(Array::new());
        for (tab, seq) in handed {
            list.string(tab).u64(*seq);
        }
        self.value(&list.0)
    }
}

/// Reads an array's items in turn; each method is `None` where the next item
/// is missing or not of its type.
struct Reader {
    array: Array,
    next: u32,
    len: u32,
}

impl Reader {
    /// `None` unless `value` is an array.
    fn new(value: &JsValue) -> Option<Reader> {
        let array: Array = Array::is_array(value).then(|| value.clone().unchecked_into())?;
        let len = array.length();
        Some(Reader {
            array,
            next: 0,
            len,
        })
    }

    fn next(&mut self) -> Option<JsValue> {
        let item = (self.next < self.len).then(|| self.array.get(self.next))?;
        self.next += 1;
        Some(item)
    }

    /// `Some` if every item was read.
    fn end(&self) -> Option<()> {
        (self.next == self.len).then_some(())
    }

    fn u64(&mut self) -> Option<u64> {
        u64_of(&self.next()?)
    }

    fn u32(&mut self) -> Option<u32> {
        u32_of(&self.next()?)
    }

    fn u16(&mut self) -> Option<u16> {
        u16_of(&self.next()?)
    }

    fn string(&mut self) -> Option<String> {
        self.next()?.as_string()
    }

    /// `Some(None)` for `null`.
    fn opt<T>(&mut self, read: fn(&mut Reader) -> Option<T>) -> Option<Option<T>> {
        if self.next < self.len && self.array.get(self.next).is_null() {
            self.next += 1;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn opt_string(&mut self) -> Option<Option<String>> {
        self.opt(Reader::string)
    }

    fn opt_u16(&mut self) -> Option<Option<u16>> {
        self.opt(Reader::u16)
    }

    /// A string, `ArrayBuffer` or `Blob`, as it is.
    fn payload(&mut self) -> Option<Payload> {
        let value = self.next()?;
        let ok = value.is_string()
            || value.is_instance_of::<ArrayBuffer>()
            || value.is_instance_of::<Blob>();
        ok.then_some(Payload(value))
    }

    /// `(tab, seq)` pairs from one flat nested array.
    fn handed(&mut self) -> Option<Vec<(TabId, u64)>> {
        let mut list = Reader::new(&self.next()?)?;
        // Not sized by the array's length: junk may claim billions of items.
        let mut handed = Vec::new();
        while list.end().is_none() {
            handed.push((list.string()?, list.u64()?));
        }
        Some(handed)
    }
}
