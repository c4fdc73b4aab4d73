//! RFC 6455 frames for the permessage-deflate transport (`deflate.rs`),
//! which cannot use tungstenite's WebSocket because that rejects the RSV1 bit
//! marking compressed messages. tungstenite's `FrameHeader` still reads and
//! writes the headers; this adds the server's rules: incoming frames must be
//! masked and within limits, outgoing ones are not masked.

use std::io::Cursor;

use axum::extract::ws::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close codes used when failing a connection (RFC 6455 §7.4.1).
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_DATA: u16 = 1007;
pub const TOO_BIG: u16 = 1009;

/// Control frames carry at most this many payload bytes (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// "Per-message compressed" under permessage-deflate (RFC 7692 §6).
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A peer error that fails the connection, with the close code to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    pub const fn protocol(reason: &'static str) -> Self {
        Self {
            code: PROTOCOL_ERROR,
            reason,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Violation {}

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame and how many bytes of the buffer it used.
    Frame(Frame, usize),
    /// The buffer holds only part of a frame that needs at least this many
    /// bytes in total, so the reader can reserve room for all of it at once.
    NeedMore(usize),
}

/// Decodes the frame at the front of `buf` (a client-to-server frame).
/// Message-level rules (fragment order, where RSV1 may appear) are the
/// caller's, since they depend on state across frames.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Decoded, Violation> {
    let mut cursor = Cursor::new(buf);
    let (header, len) = match FrameHeader::parse(&mut cursor) {
        Ok(Some(parsed)) => parsed,
        // Part of a header (at most 14 bytes): at least one more byte.
        Ok(None) => return Ok(Decoded::NeedMore(buf.len() + 1)),
        Err(_) => return Err(Violation::protocol("unknown opcode")),
    };
    if header.rsv2 || header.rsv3 {
        return Err(Violation::protocol("RSV2/RSV3 set without an extension"));
    }
    let Some(mask) = header.mask else {
        return Err(Violation::protocol("client frames must be masked"));
    };
    let opcode = u8::from(header.opcode);
    let control = matches!(header.opcode, OpCode::Control(_));
    if control && (!header.is_final || len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(Violation::protocol("fragmented or oversized control frame"));
    }
    let len = match usize::try_from(len) {
        Ok(len) if len <= max_payload => len,
        _ => {
            return Err(Violation {
                code: TOO_BIG,
                reason: "frame too big",
            })
        }
    };
    let start = cursor.position() as usize;
    let end = start + len;
    if buf.len() < end {
        return Ok(Decoded::NeedMore(end));
    }
    let payload = buf[start..end]
        .iter()
        .zip(mask.iter().cycle())
        .map(|(byte, key)| byte ^ key)
        .collect();
    let frame = Frame {
        fin: header.is_final,
        rsv1: header.rsv1,
        opcode,
        payload,
    };
    Ok(Decoded::Frame(frame, end))
}

/// Appends one unmasked, unfragmented (FIN) server frame to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, rsv1: bool, payload: &[u8]) {
    let header = FrameHeader {
        rsv1,
        opcode: OpCode::from(opcode),
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// The payload of a Close frame: status code then UTF-8 reason, or nothing.
pub fn close_payload(frame: Option<&CloseFrame>) -> Vec<u8> {
    let Some(frame) = frame else {
        return Vec::new();
    };
    let mut payload = frame.code.to_be_bytes().to_vec();
    payload.extend_from_slice(frame.reason.as_bytes());
    payload
}

/// Parses a received Close payload (RFC 6455 §5.5.1, §7.4).
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, Violation> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(Violation::protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => (u16::from_be_bytes([*hi, *lo]), reason),
    };
    // 1004-1006 and 1015 are reserved for reporting, never sent on the wire.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(Violation::protocol("invalid close code"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| Violation {
        code: INVALID_DATA,
        reason: "close reason is not UTF-8",
    })?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
        out
    }

    #[test]
    fn decodes_masked_frames_of_every_length_form() {
        for len in [0, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let raw = client_frame(0x80 | 0x40 | OP_BINARY, &payload);
            let expected = Frame {
                fin: true,
                rsv1: true,
                opcode: OP_BINARY,
                payload,
            };
            assert_eq!(
                decode(&raw, usize::MAX),
                Ok(Decoded::Frame(expected, raw.len()))
            );
            // Every strict prefix asks for more, never for less than it has.
            for cut in [0, 1, raw.len() / 2, raw.len() - 1] {
                match decode(&raw[..cut], usize::MAX) {
                    Ok(Decoded::NeedMore(n)) => assert!(n > cut && n <= raw.len()),
                    other => panic!("prefix {cut} of {len}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rejects_protocol_violations() {
        let code = |raw: &[u8]| decode(raw, 1000).err().map(|v| v.code);
        assert_eq!(code(&[0x81, 0x00]), Some(PROTOCOL_ERROR), "unmasked");
        assert_eq!(
            code(&client_frame(0x80 | 0x20 | OP_TEXT, b"")),
            Some(PROTOCOL_ERROR)
        );
        assert_eq!(code(&client_frame(0x83, b"")), Some(PROTOCOL_ERROR));
        assert_eq!(code(&client_frame(OP_PING, b"")), Some(PROTOCOL_ERROR));
        assert_eq!(
            code(&client_frame(0x80 | OP_PING, &[0; 126])),
            Some(PROTOCOL_ERROR)
        );
        assert_eq!(code(&client_frame(0x82, &[0; 1001])), Some(TOO_BIG));
    }

    #[test]
    fn encodes_unmasked_server_frames() {
        let mut out = Vec::new();
        encode(&mut out, OP_TEXT, true, b"hi");
        assert_eq!(out, [0xC1, 2, b'h', b'i']);
        out.clear();
        encode(&mut out, OP_BINARY, false, &[7; 300]);
        assert_eq!(out[..4], [0x82, 126, 1, 44]);
        assert_eq!(out.len(), 304);
        out.clear();
        encode(&mut out, OP_BINARY, false, &[7; 70_000]);
        assert_eq!(out[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn close_payloads() {
        let frame = CloseFrame {
            code: 4001,
            reason: "bye".into(),
        };
        let payload = close_payload(Some(&frame));
        assert_eq!(payload, [0x0F, 0xA1, b'b', b'y', b'e']);
        assert_eq!(parse_close(&payload), Ok(Some(frame)));
        assert_eq!(parse_close(&[]), Ok(None));
        assert!(close_payload(None).is_empty());
        assert_eq!(parse_close(&[3]).unwrap_err().code, PROTOCOL_ERROR);
        assert_eq!(parse_close(&[0x03, 0xED]).unwrap_err().code, PROTOCOL_ERROR); // 1005
        assert_eq!(
            parse_close(&[0x03, 0xE8, 0xFF]).unwrap_err().code,
            INVALID_DATA
        );
    }
}
