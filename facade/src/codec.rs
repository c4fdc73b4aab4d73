//! The worker's codec of the page's requests and of its replies, by hand (see
//! [`crate::js`] for why). It reads and writes exactly the shapes the serde
//! derives of [`crate::wire`] describe, which tsify turns into the page's
//! TypeScript types; a test holds the two together
//! (`facade/tests/codec.rs`).

use js_sys::Array;
use wasm_bindgen::JsValue;

use crate::js::{list_of, name, tagged, u16_of, u32_of, u64_of, variant_of, Fields, ObjectWriter};
use crate::options::{Backend, Election};
use crate::wire::{
    CloseRequest, Closed, Farewell, Leadership, OpenRequest, Opened, Payload, Reconnect, Reply,
    Request, Resolved,
};

impl Request {
    /// The request the page posted, if it is one.
    pub fn from_js(value: &JsValue) -> Option<Request> {
        let (variant, content) = variant_of(value)?;
        let request = match variant.as_str() {
            "open" => Request::Open(open_request(&Fields::of(&content)?)?),
            "send" => Request::Send(Payload(content)),
            "close" => Request::Close(close_request(&content)?),
            "pong" => Request::Pong,
            "forceLeader" => Request::ForceLeader,
            "relinquish" => Request::Relinquish,
            "reconnect" => Request::Reconnect(close_request(&content)?),
            "resolved" => {
                let fields = Fields::of(&content)?;
                Request::Resolved(Resolved {
                    url: fields.string("url")?,
                    protocols: list_of(&fields.get("protocols"), JsValue::as_string)?,
                })
            }
            "resolveFailed" => Request::ResolveFailed(content.as_string()?),
            #[cfg(feature = "test-switches")]
            "zombie" => Request::Zombie,
            _ => return None,
        };
        Some(request)
    }
}

fn open_request(fields: &Fields) -> Option<OpenRequest> {
    Some(OpenRequest {
        tab_id: fields.string("tabId")?,
        scope: fields.string("scope")?,
        url: fields.string("url")?,
        protocols: list_of(&fields.get("protocols"), JsValue::as_string)?,
        election: match fields.string("election")?.as_str() {
            "auto" => Election::Auto,
            "locks" => Election::Locks,
            "lease" => Election::Lease,
            _ => return None,
        },
        leader_timeout_ms: u64_of(&fields.get("leaderTimeoutMs"))?,
        grace_ms: u64_of(&fields.get("graceMs"))?,
        debug: fields.bool("debug")?,
        reconnect: fields.optional("reconnect", |value| reconnect(&Fields::of(value)?))?,
        resolve: fields.bool("resolve")?,
    })
}

fn reconnect(fields: &Fields) -> Option<Reconnect> {
    Some(Reconnect {
        min_reconnection_delay: u64_of(&fields.get("minReconnectionDelay"))?,
        max_reconnection_delay: u64_of(&fields.get("maxReconnectionDelay"))?,
        reconnection_delay_grow_factor: fields.get("reconnectionDelayGrowFactor").as_f64()?,
        min_uptime: u64_of(&fields.get("minUptime"))?,
        connection_timeout: u64_of(&fields.get("connectionTimeout"))?,
        max_retries: u32_of(&fields.get("maxRetries"))?,
        queue: fields.bool("queue")?,
        reconnect_on_codes: list_of(&fields.get("reconnectOnCodes"), u16_of)?,
    })
}

fn close_request(content: &JsValue) -> Option<CloseRequest> {
    let fields = Fields::of(content)?;
    Some(CloseRequest {
        code: fields.optional("code", u16_of)?,
        reason: fields.string("reason")?,
    })
}

impl Reply {
    /// The reply as the page reads it.
    pub fn into_js(self) -> JsValue {
        match self {
            Reply::Leadership(Leadership {
                leader_id,
                epoch,
                backend,
                tabs,
                sends_in_doubt,
                retries,
            }) => {
                let mut leadership = ObjectWriter::new();
                if let Some(leader_id) = leader_id {
                    leadership = leadership.set("leaderId", leader_id);
                }
                let backend = match backend {
                    Backend::Locks => "locks",
                    Backend::Lease => "lease",
                    Backend::Native => "native",
                };
                let leadership = leadership
                    // Epochs are milliseconds: a JS number holds them exactly.
                    .set("epoch", epoch as f64)
                    .set("backend", name(backend))
                    .set("tabs", tabs)
                    .set("sendsInDoubt", sends_in_doubt)
                    .set("retries", retries);
                tagged("leadership", leadership.done())
            }
            Reply::Open(Opened {
                protocol,
                extensions,
            }) => tagged(
                "open",
                ObjectWriter::new()
                    .set("protocol", protocol)
                    .set("extensions", extensions)
                    .done(),
            ),
            Reply::Messages(payloads) => {
                let list: Array = payloads.into_iter().map(|Payload(data)| data).collect();
                tagged("messages", list)
            }
            Reply::Error => name("error"),
            Reply::Closed(Closed {
                code,
                reason,
                was_clean,
                reconnecting,
            }) => tagged(
                "closed",
                ObjectWriter::new()
                    .set("code", code)
                    .set("reason", reason)
                    .set("wasClean", was_clean)
                    .set("reconnecting", reconnecting)
                    .done(),
            ),
            Reply::Sent => name("sent"),
            Reply::Farewell(Farewell { channel, message }) => tagged(
                "farewell",
                ObjectWriter::new()
                    .set("channel", channel)
                    .set("message", message)
                    .done(),
            ),
            Reply::Ping => name("ping"),
            Reply::Resolve => name("resolve"),
        }
    }
}
