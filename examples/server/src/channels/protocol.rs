//! The channels wire protocol (JSON text frames), without sockets: parsing
//! client requests into [`Request`] or a [`ProtocolError`], and building the
//! server's frames. `data` stays a borrowed raw JSON slice end to end, so a
//! payload is never re-encoded on its way from publisher to subscribers.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::id::MsgId;

/// Longest channel name and `messageId`, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

#[derive(Debug)]
pub enum Request<'a> {
    /// Start receiving `channel`; with `last_id`, first replay what a
    /// persistent channel kept after that id.
    Subscribe {
        channel: String,
        last_id: Option<MsgId>,
        message_id: Option<String>,
    },
    Unsubscribe {
        channel: String,
        message_id: Option<String>,
    },
    Broadcast {
        channel: String,
        data: &'a RawValue,
        message_id: Option<String>,
    },
}

// RawValue has no PartialEq; compare payloads by their text.
impl PartialEq for Request<'_> {
    fn eq(&self, other: &Self) -> bool {
        use Request::*;
        match (self, other) {
            (
                Subscribe {
                    channel: a,
                    last_id: b,
                    message_id: c,
                },
                Subscribe {
                    channel: x,
                    last_id: y,
                    message_id: z,
                },
            ) => (a, b, c) == (x, y, z),
            (
                Unsubscribe {
                    channel: a,
                    message_id: c,
                },
                Unsubscribe {
                    channel: x,
                    message_id: z,
                },
            ) => (a, c) == (x, z),
            (
                Broadcast {
                    channel: a,
                    data: b,
                    message_id: c,
                },
                Broadcast {
                    channel: x,
                    data: y,
                    message_id: z,
                },
            ) => (a, b.get(), c) == (x, y.get(), z),
            _ => false,
        }
    }
}

impl Request<'_> {
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Self::Subscribe { message_id, .. }
            | Self::Unsubscribe { message_id, .. }
            | Self::Broadcast { message_id, .. } => message_id.as_deref(),
        }
    }
}

/// Machine-readable reason in an `error` frame's `data.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON at all.
    BadJson,
    /// JSON, but a field is missing, has the wrong type or an invalid value.
    BadRequest,
    UnknownType,
    /// Binary frames carry no JSON.
    UnsupportedFrame,
    RateLimited,
    TooManySubscriptions,
    /// The server is shutting down and accepts no new broadcasts.
    ShuttingDown,
    /// The fan-out backend (Redis) failed; the broadcast was not accepted.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    pub message_id: Option<String>,
    pub channel: Option<String>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            message_id: None,
            channel: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn about(mut self, message_id: Option<&str>, channel: Option<&str>) -> Self {
        self.message_id = message_id.map(String::from);
        self.channel = channel.map(String::from);
        self
    }
}

/// Every known field, still raw: each is checked on its own below so an
/// error can say which field was wrong (and still echo a valid messageId).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    channel: Option<&'a RawValue>,
    /// `null` is a valid payload, so presence is kept apart from null here.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(rename = "messageId", borrow, default)]
    message_id: Option<&'a RawValue>,
    #[serde(rename = "lastId", borrow, default)]
    last_id: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

fn fields(text: &str) -> Result<Fields<'_>, ProtocolError> {
    serde_json::from_str(text).map_err(|e| {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            ProtocolError::bad(format!("expected a JSON object ({e})"))
        } else {
            ProtocolError::new(ErrorCode::BadJson, format!("malformed JSON: {e}"))
        }
    })
}

/// Parses a `POST /broadcast` body: `{ "channel": string, "data": any }`.
pub fn parse_post(text: &str) -> Result<(String, &RawValue), ProtocolError> {
    let fields = fields(text)?;
    let channel = name_field(fields.channel, "channel")?
        .ok_or_else(|| ProtocolError::bad("missing field \"channel\""))?;
    let data = fields
        .data
        .ok_or_else(|| ProtocolError::bad("missing field \"data\"").about(None, Some(&channel)))?;
    Ok((channel, data))
}

/// Parses one client text frame.
pub fn parse(text: &str) -> Result<Request<'_>, ProtocolError> {
    let fields = fields(text)?;

    let message_id = name_field(fields.message_id, "messageId")?;
    let fail = |e: ProtocolError| e.about(message_id.as_deref(), None);
    let kind: String = match fields.kind {
        None => return Err(fail(ProtocolError::bad("missing field \"type\""))),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|_| fail(ProtocolError::bad("\"type\" must be a string")))?,
    };
    let channel = || match name_field(fields.channel, "channel") {
        Ok(Some(channel)) => Ok(channel),
        Ok(None) => Err(fail(ProtocolError::bad(format!(
            "missing field \"channel\" (required by {kind})"
        )))),
        Err(e) => Err(fail(e)),
    };

    match kind.as_str() {
        "subscribe" => {
            let channel = channel()?;
            let last_id = match fields.last_id {
                None => None,
                Some(raw) => Some(
                    serde_json::from_str::<&str>(raw.get())
                        .map_err(|_| "\"lastId\" must be a string".to_owned())
                        .and_then(str::parse)
                        .map_err(|e| {
                            ProtocolError::bad(format!("lastId: {e}"))
                                .about(message_id.as_deref(), Some(&channel))
                        })?,
                ),
            };
            Ok(Request::Subscribe {
                channel,
                last_id,
                message_id,
            })
        }
        "unsubscribe" => Ok(Request::Unsubscribe {
            channel: channel()?,
            message_id,
        }),
        "broadcast" => {
            let channel = channel()?;
            match fields.data {
                Some(data) => Ok(Request::Broadcast {
                    channel,
                    data,
                    message_id,
                }),
                None => Err(
                    ProtocolError::bad("missing field \"data\" (required by broadcast)")
                        .about(message_id.as_deref(), Some(&channel)),
                ),
            }
        }
        other => Err(fail(ProtocolError::new(
            ErrorCode::UnknownType,
            format!(
                "unknown type {:?} (expected subscribe, unsubscribe or broadcast)",
                truncate(other)
            ),
        ))),
    }
}

/// A string field holding a channel name or message id: non-empty, at most
/// [`MAX_NAME_BYTES`], no control characters (they would garble logs and the
/// Redis fan-out framing).
fn name_field(raw: Option<&RawValue>, field: &str) -> Result<Option<String>, ProtocolError> {
    let Some(raw) = raw else { return Ok(None) };
    let invalid = || {
        ProtocolError::bad(format!(
            "\"{field}\" must be a non-empty string of at most {MAX_NAME_BYTES} bytes without control characters"
        ))
    };
    let value: String = serde_json::from_str(raw.get()).map_err(|_| invalid())?;
    validate_name(&value).map_err(|_| invalid())?;
    Ok(Some(value))
}

pub fn validate_name(name: &str) -> Result<(), ()> {
    let ok =
        !name.is_empty() && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

/// Unknown types are echoed in errors; keep them short.
fn truncate(text: &str) -> &str {
    let mut end = text.len().min(40);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[derive(Serialize)]
struct Frame<'a, D: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    timestamp: u64,
}

impl<D: Serialize> Frame<'_, D> {
    fn new(kind: &'static str, timestamp: u64) -> Self {
        Frame {
            kind,
            channel: None,
            id: None,
            message_id: None,
            duplicate: None,
            data: None,
            timestamp,
        }
    }
}

fn encode<D: Serialize>(frame: &Frame<'_, D>) -> String {
    // Serializing these plain structs cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

/// A delivered broadcast. `id` is set on persistent channels only.
pub fn message_frame(channel: &str, id: Option<MsgId>, data: &RawValue, timestamp: u64) -> String {
    encode(&Frame {
        channel: Some(channel),
        id: id.map(|i| i.to_string()),
        data: Some(data),
        ..Frame::new("message", timestamp)
    })
}

/// Confirms a request that carried a `messageId`. For broadcasts on a
/// persistent channel it names the id the message got.
pub fn ack_frame(
    message_id: &str,
    channel: Option<&str>,
    id: Option<MsgId>,
    duplicate: bool,
    timestamp: u64,
) -> String {
    encode(&Frame {
        channel,
        id: id.map(|i| i.to_string()),
        message_id: Some(message_id),
        duplicate: duplicate.then_some(true),
        ..Frame::<()>::new("ack", timestamp)
    })
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: ErrorCode,
    message: &'a str,
}

pub fn error_frame(error: &ProtocolError, timestamp: u64) -> String {
    encode(&Frame {
        channel: error.channel.as_deref(),
        message_id: error.message_id.as_deref(),
        data: Some(ErrorBody {
            code: error.code,
            message: &error.message,
        }),
        ..Frame::new("error", timestamp)
    })
}

/// Application-level heartbeat: browsers hide WebSocket ping frames from
/// pages, so this is what lets a client notice a silent server.
pub fn ping_frame(timestamp: u64) -> String {
    encode(&Frame::<()>::new("ping", timestamp))
}

/// Milliseconds since the Unix epoch, the `timestamp` of every frame.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn err(text: &str) -> ProtocolError {
        parse(text).expect_err(text)
    }

    #[test]
    fn parses_each_request_type() {
        let Request::Broadcast {
            channel,
            data,
            message_id,
        } = parse(r#"{"type":"broadcast","channel":"c","data":{"a":[1, 2]},"messageId":"m1"}"#)
            .unwrap()
        else {
            panic!("not a broadcast")
        };
        assert_eq!((channel.as_str(), data.get()), ("c", r#"{"a":[1, 2]}"#));
        assert_eq!(message_id.as_deref(), Some("m1"));
        assert_eq!(
            parse(r#"{"type":"subscribe","channel":"c","lastId":"5-1","extra":1}"#).unwrap(),
            Request::Subscribe {
                channel: "c".into(),
                last_id: Some(MsgId { ms: 5, seq: 1 }),
                message_id: None
            }
        );
        assert_eq!(
            parse(r#"{"type":"unsubscribe","channel":"c"}"#).unwrap(),
            Request::Unsubscribe {
                channel: "c".into(),
                message_id: None
            }
        );
    }

    #[test]
    fn null_data_is_a_payload() {
        let Request::Broadcast { data, .. } =
            parse(r#"{"type":"broadcast","channel":"c","data":null}"#).unwrap()
        else {
            panic!("not a broadcast")
        };
        assert_eq!(data.get(), "null");
    }

    #[test]
    fn bad_input_is_classified() {
        assert_eq!(err("{nope").code, ErrorCode::BadJson);
        assert_eq!(err("").code, ErrorCode::BadJson);
        assert_eq!(err("[1]").code, ErrorCode::BadRequest);
        assert_eq!(err("{}").code, ErrorCode::BadRequest);
        assert_eq!(err(r#"{"type":7}"#).code, ErrorCode::BadRequest);
        assert_eq!(
            err(r#"{"type":"shout","messageId":"m"}"#).code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            err(r#"{"type":"shout","messageId":"m"}"#)
                .message_id
                .as_deref(),
            Some("m")
        );
        let missing = err(r#"{"type":"subscribe","messageId":"m"}"#);
        assert_eq!(
            (missing.code, missing.message_id.as_deref()),
            (ErrorCode::BadRequest, Some("m"))
        );
        assert!(missing.message.contains("channel"), "{}", missing.message);
        let no_data = err(r#"{"type":"broadcast","channel":"c"}"#);
        assert!(no_data.message.contains("data"), "{}", no_data.message);
        assert_eq!(no_data.channel.as_deref(), Some("c"));
        for bad in [
            r#"{"type":"subscribe","channel":""}"#,
            r#"{"type":"subscribe","channel":5}"#,
            r#"{"type":"subscribe","channel":"a\nb"}"#,
            r#"{"type":"subscribe","channel":"c","messageId":3}"#,
            r#"{"type":"subscribe","channel":"c","lastId":"yesterday"}"#,
            r#"{"type":"subscribe","channel":"c","lastId":12}"#,
        ] {
            assert_eq!(err(bad).code, ErrorCode::BadRequest, "{bad}");
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let text = json!({ "type": "subscribe", "channel": long }).to_string();
        assert_eq!(err(&text).code, ErrorCode::BadRequest);
    }

    #[test]
    fn post_bodies() {
        let (channel, data) = parse_post(r#"{"channel":"c","data":[1]}"#).unwrap();
        assert_eq!((channel.as_str(), data.get()), ("c", "[1]"));
        assert_eq!(parse_post("nope").unwrap_err().code, ErrorCode::BadJson);
        for bad in [
            r#"{"data":1}"#,
            r#"{"channel":"c"}"#,
            r#"{"channel":"","data":1}"#,
            "7",
        ] {
            assert_eq!(
                parse_post(bad).unwrap_err().code,
                ErrorCode::BadRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let data = RawValue::from_string(r#"{"x":1}"#.into()).unwrap();
        let message: Value =
            serde_json::from_str(&message_frame("c", Some(MsgId { ms: 1, seq: 2 }), &data, 9))
                .unwrap();
        assert_eq!(
            message,
            json!({ "type": "message", "channel": "c", "id": "1-2", "data": { "x": 1 }, "timestamp": 9 })
        );
        let ack: Value = serde_json::from_str(&ack_frame("m", Some("c"), None, true, 9)).unwrap();
        assert_eq!(
            ack,
            json!({ "type": "ack", "channel": "c", "messageId": "m", "duplicate": true, "timestamp": 9 })
        );
        let error = ProtocolError::new(ErrorCode::RateLimited, "slow down").about(Some("m"), None);
        let error: Value = serde_json::from_str(&error_frame(&error, 9)).unwrap();
        assert_eq!(
            error,
            json!({ "type": "error", "messageId": "m", "timestamp": 9,
                    "data": { "code": "rate_limited", "message": "slow down" } })
        );
        let ping: Value = serde_json::from_str(&ping_frame(9)).unwrap();
        assert_eq!(ping, json!({ "type": "ping", "timestamp": 9 }));
    }
}
