//! permessage-deflate (RFC 7692) for `/echo?deflate=1`.
//!
//! tungstenite, under axum's WebSocket, can neither negotiate extensions nor
//! accept frames with RSV1 set. So when a client offers the extension and the
//! query opts in, this module answers the upgrade itself (accept key by
//! tungstenite) and speaks RFC 6455 over the raw upgraded connection (frames
//! in `frame.rs`), inflating and deflating with flate2. The session on top is
//! the shared one in `echo.rs`, so commands, echo, broadcasts and stats
//! behave as on plain connections.
//!
//! Why not a crate: yawc 0.5 (axum feature), which answers a browser's offer
//! with these very terms, was tried in this module's place. It answers a Ping carrying RSV1 with a Pong instead of failing the connection
//! (RFC 7692 §6.1; `tests/deflate.rs` checks for 1002), accepts offers with
//! unknown, repeated or invalid parameters that RFC 7692 §7.1 says to decline,
//! ignores a header holding several offers, and without its zlib feature
//! drops a client's `server_max_window_bits` from the answer instead of
//! honouring it; with zlib it would answer Chromium with
//! `client_max_window_bits=9`, changing the `extensions` pages see.
//!
//! Negotiated parameters, chosen to keep this small yet real:
//! - we always answer `server_no_context_takeover`: each message we send is
//!   compressed on its own (one compressor, reset per message);
//! - the client keeps context takeover and any window size: one inflater
//!   with the maximal 32 KiB window persists across messages;
//! - if the client limits our window (`server_max_window_bits` < 15) we
//!   agree but send uncompressed messages, which is always allowed, since
//!   miniz_oxide cannot shrink its window.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{Message, Utf8Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::echo::{self, EchoQuery, Transport, MAX_MESSAGE_BYTES};
use crate::frame::{self, Decoded, Frame, Violation};
use crate::hub::Hub;
use crate::stats::Stats;

const EXTENSION: &str = "permessage-deflate";
/// What a sync flush ends with; senders strip it and receivers put it back
/// before inflating (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];
/// Minimum read size; larger frames get room for all of their bytes at once.
const READ_CHUNK: usize = 64 * 1024;
/// `feed` writes out once this much is queued, like tungstenite's buffer.
const WRITE_BATCH: usize = 64 * 1024;

/// The parameters accepted from the client's first acceptable offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// Our window limit, if the client asked for one; must be echoed back.
    server_max_window_bits: Option<u8>,
}

impl Agreement {
    fn response_header(self) -> String {
        let mut value = format!("{EXTENSION}; server_no_context_takeover");
        if let Some(bits) = self.server_max_window_bits {
            let _ = write!(value, "; server_max_window_bits={bits}");
        }
        value
    }

    fn may_compress(self) -> bool {
        self.server_max_window_bits.is_none_or(|bits| bits == 15)
    }
}

/// Picks the first permessage-deflate offer in `Sec-WebSocket-Extensions`
/// that we can accept; `None` means the extension is not negotiated.
pub fn negotiate(headers: &HeaderMap) -> Option<Agreement> {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(accept_offer)
}

/// One offer, e.g. `permessage-deflate; client_max_window_bits`. Unknown,
/// repeated or malformed parameters decline the offer (RFC 7692 §7.1).
fn accept_offer(offer: &str) -> Option<Agreement> {
    let mut params = offer.split(';').map(str::trim);
    if params.next()? != EXTENSION {
        return None;
    }
    let mut seen = Vec::new();
    let mut agreement = Agreement {
        server_max_window_bits: None,
    };
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        match (name, value) {
            // We inflate with the largest window and keep no context when
            // sending, so these need no action.
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(bits)) => {
                window_bits(bits)?;
            }
            ("server_max_window_bits", Some(bits)) => {
                agreement.server_max_window_bits = Some(window_bits(bits)?);
            }
            _ => return None,
        }
    }
    Some(agreement)
}

fn window_bits(text: &str) -> Option<u8> {
    text.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Answers an upgrade (already validated by axum's extractor) with 101 and
/// the extension, and serves the connection once hyper hands it over.
pub fn accept(
    stats: Arc<Stats>,
    hub: Arc<Hub>,
    query: &EchoQuery,
    headers: &HeaderMap,
    on_upgrade: OnUpgrade,
    agreement: Agreement,
) -> Response {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes);
    let (Some(accept), Ok(extensions)) = (
        key.and_then(|key| HeaderValue::from_str(&derive_accept_key(key)).ok()),
        HeaderValue::from_str(&agreement.response_header()),
    ) else {
        return (StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key").into_response();
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    out.insert(header::SEC_WEBSOCKET_EXTENSIONS, extensions);
    if let Some(protocol) = query.selected_protocol(headers) {
        if let Ok(value) = HeaderValue::from_str(protocol) {
            out.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }

    let echo = query.echo_enabled();
    tokio::spawn(async move {
        // Resolves after hyper has written the 101; fails if the client left.
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let socket = DeflateSocket::new(TokioIo::new(upgraded), agreement);
        echo::run(socket, stats, hub, echo).await;
    });
    response
}

/// A data message being reassembled from fragments.
struct Partial {
    opcode: u8,
    compressed: bool,
    data: Vec<u8>,
}

/// A server-side WebSocket with permessage-deflate over any byte stream.
pub struct DeflateSocket<T> {
    io: T,
    /// Received bytes not yet decoded. Kept here rather than in `recv`'s
    /// locals so that a `recv` cancelled by `select!` loses nothing.
    read_buf: Vec<u8>,
    /// Encoded frames not yet written; the first `written` bytes already are.
    write_buf: Vec<u8>,
    written: usize,
    partial: Option<Partial>,
    /// Persists across messages: the client may use context takeover.
    inflater: Decompress,
    /// `None` when we agreed to a window we cannot honour: send plain.
    deflater: Option<Compress>,
    sent_close: bool,
    received_close: bool,
    /// Set after a protocol violation: the connection is being failed.
    failed: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> DeflateSocket<T> {
    pub fn new(io: T, agreement: Agreement) -> Self {
        Self {
            io,
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            written: 0,
            partial: None,
            inflater: Decompress::new(false),
            deflater: agreement
                .may_compress()
                .then(|| Compress::new(Compression::fast(), false)),
            sent_close: false,
            received_close: false,
            failed: false,
        }
    }

    fn queue(&mut self, opcode: u8, rsv1: bool, payload: &[u8]) {
        frame::encode(&mut self.write_buf, opcode, rsv1, payload);
    }

    /// Writes out everything queued. Progress is recorded after every write,
    /// so this is cancel-safe and later calls resume where it stopped.
    async fn write_queued(&mut self) -> io::Result<()> {
        while self.written < self.write_buf.len() {
            let n = self.io.write(&self.write_buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.write_buf.clear();
        self.written = 0;
        self.io.flush().await
    }

    /// Fails the connection: best-effort Close with the violation's code.
    async fn fail(&mut self, violation: Violation) -> axum::Error {
        self.failed = true;
        if !self.sent_close {
            self.sent_close = true;
            let mut payload = violation.code.to_be_bytes().to_vec();
            payload.extend_from_slice(violation.reason.as_bytes());
            self.queue(frame::OP_CLOSE, false, &payload);
            let _ = self.write_queued().await;
        }
        axum::Error::new(violation)
    }

    async fn next_message(&mut self) -> Option<Result<Message, axum::Error>> {
        if self.failed {
            return Some(Err(axum::Error::new(io::Error::other("connection failed"))));
        }
        // Pong and Close replies queued by the previous call go out first.
        if let Err(err) = self.write_queued().await {
            return Some(Err(axum::Error::new(err)));
        }
        if self.received_close {
            // Closing handshake complete: the server closes TCP (by drop).
            return None;
        }
        loop {
            let violation = match frame::decode(&self.read_buf, MAX_MESSAGE_BYTES) {
                Ok(Decoded::Frame(frame, used)) => {
                    self.read_buf.drain(..used);
                    match self.on_frame(frame) {
                        Ok(Some(message)) => return Some(Ok(message)),
                        Ok(None) => continue,
                        Err(violation) => violation,
                    }
                }
                Ok(Decoded::NeedMore(total)) => {
                    let missing = total - self.read_buf.len();
                    self.read_buf.reserve(missing.max(READ_CHUNK));
                    match self.io.read_buf(&mut self.read_buf).await {
                        Ok(0) => {
                            let eof = io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "closed without a closing handshake",
                            );
                            return Some(Err(axum::Error::new(eof)));
                        }
                        Ok(_) => continue,
                        Err(err) => return Some(Err(axum::Error::new(err))),
                    }
                }
                Err(violation) => violation,
            };
            return Some(Err(self.fail(violation).await));
        }
    }

    /// Applies one frame; returns a message once one is complete.
    fn on_frame(&mut self, frame: Frame) -> Result<Option<Message>, Violation> {
        let Frame {
            fin,
            rsv1,
            opcode,
            payload,
        } = frame;
        // RFC 7692 §6.1: RSV1 only marks the first frame of a data message.
        if rsv1 && !matches!(opcode, frame::OP_TEXT | frame::OP_BINARY) {
            return Err(Violation::protocol("RSV1 set on a non-first frame"));
        }
        match opcode {
            frame::OP_PING => {
                self.queue(frame::OP_PONG, false, &payload);
                Ok(Some(Message::Ping(payload.into())))
            }
            frame::OP_PONG => Ok(Some(Message::Pong(payload.into()))),
            frame::OP_CLOSE => {
                let close = frame::parse_close(&payload)?;
                self.received_close = true;
                if !self.sent_close {
                    // Echo the peer's code and reason, as tungstenite does.
                    self.sent_close = true;
                    self.queue(frame::OP_CLOSE, false, &payload);
                }
                Ok(Some(Message::Close(close)))
            }
            frame::OP_CONTINUATION => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(Violation::protocol("continuation without a message"));
                };
                if partial.data.len() + payload.len() > MAX_MESSAGE_BYTES {
                    return Err(too_big());
                }
                partial.data.extend_from_slice(&payload);
                if fin {
                    self.finish(partial).map(Some)
                } else {
                    self.partial = Some(partial);
                    Ok(None)
                }
            }
            _ => {
                if self.partial.is_some() {
                    return Err(Violation::protocol("new message before the last ended"));
                }
                let partial = Partial {
                    opcode,
                    compressed: rsv1,
                    data: payload,
                };
                if fin {
                    self.finish(partial).map(Some)
                } else {
                    self.partial = Some(partial);
                    Ok(None)
                }
            }
        }
    }

    fn finish(&mut self, partial: Partial) -> Result<Message, Violation> {
        let data = if partial.compressed {
            inflate(&mut self.inflater, partial.data)?
        } else {
            partial.data
        };
        if partial.opcode == frame::OP_BINARY {
            return Ok(Message::Binary(data.into()));
        }
        match Utf8Bytes::try_from(data) {
            Ok(text) => Ok(Message::Text(text)),
            Err(_) => Err(Violation {
                code: frame::INVALID_DATA,
                reason: "text is not valid UTF-8",
            }),
        }
    }

    /// Queues a data message, compressed when allowed and non-empty.
    fn queue_data(&mut self, opcode: u8, data: &[u8]) {
        let compressed = match &mut self.deflater {
            Some(deflater) if !data.is_empty() => deflate(deflater, data),
            _ => None,
        };
        match compressed {
            Some(compressed) => self.queue(opcode, true, &compressed),
            None => self.queue(opcode, false, data),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for DeflateSocket<T> {
    async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        self.next_message().await
    }

    async fn feed(&mut self, message: Message) -> Result<(), axum::Error> {
        if self.sent_close {
            let closed = io::Error::other("Close already sent");
            return Err(axum::Error::new(closed));
        }
        match message {
            Message::Text(text) => self.queue_data(frame::OP_TEXT, text.as_bytes()),
            Message::Binary(data) => self.queue_data(frame::OP_BINARY, &data),
            Message::Ping(data) => self.queue(frame::OP_PING, false, &data),
            Message::Pong(data) => self.queue(frame::OP_PONG, false, &data),
            Message::Close(close) => {
                self.sent_close = true;
                self.queue(
                    frame::OP_CLOSE,
                    false,
                    &frame::close_payload(close.as_ref()),
                );
            }
        }
        if self.write_buf.len() - self.written >= WRITE_BATCH {
            self.write_queued().await.map_err(axum::Error::new)?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), axum::Error> {
        self.write_queued().await.map_err(axum::Error::new)
    }
}

fn too_big() -> Violation {
    Violation {
        code: frame::TOO_BIG,
        reason: "message too big",
    }
}

/// Inflates one message's payload (RFC 7692 §7.2.2): append the sync-flush
/// tail, inflate, keep the window for the next message.
fn inflate(inflater: &mut Decompress, mut input: Vec<u8>) -> Result<Vec<u8>, Violation> {
    const CORRUPT: Violation = Violation {
        code: frame::INVALID_DATA,
        reason: "invalid compressed data",
    };
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity((input.len() * 4).min(MAX_MESSAGE_BYTES));
    let mut consumed = 0;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.len().max(READ_CHUNK));
        }
        let (in_before, out_before) = (inflater.total_in(), out.len());
        let status = inflater
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .map_err(|_| CORRUPT)?;
        let read = (inflater.total_in() - in_before) as usize;
        consumed += read;
        if out.len() > MAX_MESSAGE_BYTES {
            return Err(too_big());
        }
        let has_room = out.len() < out.capacity();
        match status {
            // The client ended its DEFLATE stream (BFINAL); what follows, at
            // least our tail, is not part of it. Start afresh next message.
            Status::StreamEnd => {
                inflater.reset(false);
                return Ok(out);
            }
            // All input used and the output not full: nothing more pending.
            _ if consumed == input.len() && has_room => return Ok(out),
            _ if read == 0 && out.len() == out_before && has_room => return Err(CORRUPT),
            _ => {}
        }
    }
}

/// Compresses one message on its own (no context takeover): reset, feed all,
/// sync-flush, strip the tail. `None` if the output looks wrong: send plain.
fn deflate(deflater: &mut Compress, data: &[u8]) -> Option<Vec<u8>> {
    deflater.reset();
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut consumed = 0;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.len().max(64));
        }
        let before = deflater.total_in();
        deflater
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .ok()?;
        consumed += (deflater.total_in() - before) as usize;
        if consumed == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    out.ends_with(&TAIL).then(|| {
        out.truncate(out.len() - TAIL.len());
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &'static str) -> Option<Agreement> {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(value),
        );
        negotiate(&headers)
    }

    #[test]
    fn negotiates_browser_offers() {
        let agreement = Agreement {
            server_max_window_bits: None,
        };
        let plain = Some(agreement);
        // Chromium and Firefox respectively.
        assert_eq!(offer("permessage-deflate; client_max_window_bits"), plain);
        assert_eq!(offer("permessage-deflate"), plain);
        assert_eq!(
            offer("permessage-deflate; client_no_context_takeover; client_max_window_bits=\"10\""),
            plain
        );
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover"
        );
    }

    #[test]
    fn limited_server_window_is_echoed_and_disables_compression() {
        let agreement = offer("permessage-deflate; server_max_window_bits=10").unwrap();
        assert!(!agreement.may_compress());
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(offer("permessage-deflate; server_max_window_bits=15")
            .unwrap()
            .may_compress());
    }

    #[test]
    fn declines_bad_offers_and_falls_back_to_the_next() {
        assert_eq!(offer("x-webkit-deflate-frame"), None);
        assert_eq!(offer("permessage-deflate; bogus"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(offer("permessage-deflate; client_max_window_bits=16"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None
        );
        assert_eq!(
            offer("permessage-deflate; server_max_window_bits=7, permessage-deflate"),
            Some(Agreement {
                server_max_window_bits: None
            })
        );
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn inflates_rfc_examples_with_context_takeover() {
        // RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" twice, the second message
        // referring back to the first.
        let mut inflater = Decompress::new(false);
        let first = vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate(&mut inflater, first).unwrap(), b"Hello");
        let second = vec![0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(inflate(&mut inflater, second).unwrap(), b"Hello");
        // §7.2.3.3: a stored (uncompressed) block.
        let mut fresh = Decompress::new(false);
        let stored = vec![
            0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00,
        ];
        assert_eq!(inflate(&mut fresh, stored).unwrap(), b"Hello");
        assert_eq!(inflate(&mut fresh, vec![0xff; 8]).unwrap_err(), {
            Violation {
                code: frame::INVALID_DATA,
                reason: "invalid compressed data",
            }
        });
    }

    #[test]
    fn deflate_round_trips_small_and_large() {
        let mut deflater = Compress::new(Compression::fast(), false);
        let mut inflater = Decompress::new(false);
        let large: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        for data in [b"Hello".to_vec(), large, vec![7]] {
            let compressed = deflate(&mut deflater, &data).expect("compresses");
            assert_eq!(inflate(&mut inflater, compressed).unwrap(), data);
        }
    }

    #[tokio::test]
    async fn socket_reassembles_fragments_answers_pings_and_closes() {
        let (client, server) = tokio::io::duplex(1024);
        let agreement = offer("permessage-deflate").unwrap();
        let mut socket = DeflateSocket::new(server, agreement);
        let (mut client_read, mut client_write) = tokio::io::split(client);

        let mask = |first: u8, payload: &[u8]| {
            let mut raw = vec![first, 0x80 | payload.len() as u8, 1, 2, 3, 4];
            raw.extend(
                payload
                    .iter()
                    .zip([1, 2, 3, 4].iter().cycle())
                    .map(|(b, k)| b ^ k),
            );
            raw
        };
        let compressed = deflate(
            &mut Compress::new(Compression::best(), false),
            b"fragmented hello",
        )
        .expect("compresses");
        let (head, tail) = compressed.split_at(compressed.len() / 2);
        let mut wire = mask(0x40 | frame::OP_TEXT, head); // RSV1, not FIN
        wire.extend(mask(0x80 | frame::OP_PING, b"p"));
        wire.extend(mask(0x80 | frame::OP_CONTINUATION, tail));
        wire.extend(mask(0x80 | frame::OP_CLOSE, &[0x03, 0xE8, b'o', b'k']));
        client_write.write_all(&wire).await.unwrap();

        assert_eq!(
            socket.recv().await.unwrap().unwrap(),
            Message::Ping("p".into())
        );
        assert_eq!(
            socket.recv().await.unwrap().unwrap(),
            Message::text("fragmented hello")
        );
        let Message::Close(Some(close)) = socket.recv().await.unwrap().unwrap() else {
            panic!("expected Close");
        };
        assert_eq!((close.code, close.reason.as_str()), (1000, "ok"));
        assert!(socket.recv().await.is_none(), "handshake complete");
        drop(socket);

        let mut reply = Vec::new();
        client_read.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, [0x8A, 1, b'p', 0x88, 4, 0x03, 0xE8, b'o', b'k']);
    }

    #[tokio::test]
    async fn socket_fails_unmasked_frames_with_1002() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut socket = DeflateSocket::new(server, offer("permessage-deflate").unwrap());
        client.write_all(&[0x81, 0x00]).await.unwrap();
        assert!(socket.recv().await.unwrap().is_err());
        drop(socket);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply[..4], [0x88, reply[1], 0x03, 0xEA]);
    }
}
