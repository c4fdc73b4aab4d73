//! permessage-deflate (RFC 7692) on `/echo?deflate=1`, end to end against the
//! compiled binary. tokio-tungstenite cannot compress, so the client side is
//! written by hand over a TcpStream: handshake, masked frames, inflate.

mod support;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use futures_util::SinkExt;
use serde_json::json;
use support::{recv, Server, DEADLINE, RAW_UPGRADE_ACCEPT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
/// What Chromium sends.
const OFFER: &str = "permessage-deflate; client_max_window_bits";
const AGREED: &str = "permessage-deflate; server_no_context_takeover";
/// Stripped by the sender, re-appended by the receiver (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// A minimal client that speaks permessage-deflate with context takeover.
struct Client {
    stream: TcpStream,
    deflater: Compress,
    inflater: Decompress,
}

/// A whole server frame: first header byte (FIN, RSV1, opcode) and payload.
struct Frame {
    head: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn opcode(&self) -> u8 {
        self.head & 0x0F
    }
}

impl Client {
    /// Upgrades `path` offering the extension; returns the client and the
    /// response's `Sec-WebSocket-Extensions`.
    async fn connect(server: &Server, path: &str) -> (Self, Option<String>) {
        let (stream, response) = server
            .raw_upgrade_with(path, &[("Sec-WebSocket-Extensions", OFFER)])
            .await;
        assert_eq!(response.status, 101);
        assert_eq!(
            response.header("sec-websocket-accept"),
            Some(RAW_UPGRADE_ACCEPT)
        );
        let client = Client {
            stream,
            deflater: Compress::new(Compression::default(), false),
            inflater: Decompress::new(false),
        };
        let extensions = response.header("sec-websocket-extensions").map(Into::into);
        (client, extensions)
    }

    async fn connect_deflate(server: &Server, path: &str) -> Self {
        let (client, extensions) = Client::connect(server, path).await;
        assert_eq!(extensions.as_deref(), Some(AGREED));
        client
    }

    /// Sends one masked frame; `head` is the first header byte.
    async fn send_frame(&mut self, head: u8, payload: &[u8]) {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut frame = vec![head];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
        self.stream.write_all(&frame).await.expect("write frame");
    }

    /// Compresses one message, keeping the window for the next one (the
    /// client did not agree to `client_no_context_takeover`).
    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        let before = self.deflater.total_in();
        self.deflater
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .expect("deflate");
        assert_eq!((self.deflater.total_in() - before) as usize, data.len());
        assert!(out.ends_with(&TAIL) && out.len() < out.capacity());
        out.truncate(out.len() - TAIL.len());
        out
    }

    async fn send_compressed(&mut self, opcode: u8, data: &[u8]) {
        let compressed = self.compress(data);
        self.send_frame(FIN | RSV1 | opcode, &compressed).await;
    }

    async fn read_frame(&mut self) -> Frame {
        let read = async {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await?;
            assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
            let len = match head[1] & 0x7F {
                126 => u64::from(self.stream.read_u16().await?),
                127 => self.stream.read_u64().await?,
                len => u64::from(len),
            };
            let mut payload = vec![0; len as usize];
            self.stream.read_exact(&mut payload).await?;
            Ok::<_, std::io::Error>(Frame {
                head: head[0],
                payload,
            })
        };
        timeout(DEADLINE, read)
            .await
            .expect("timed out waiting for a frame")
            .expect("read frame")
    }

    /// Next message (the server never fragments): opcode, payload inflated
    /// when RSV1 is set, and whether it was compressed.
    async fn recv(&mut self) -> (u8, Vec<u8>, bool) {
        let frame = self.read_frame().await;
        assert_eq!(frame.head & FIN, FIN, "unfragmented");
        let (opcode, compressed) = (frame.opcode(), frame.head & RSV1 != 0);
        let data = if compressed {
            self.inflate(frame.payload)
        } else {
            frame.payload
        };
        (opcode, data, compressed)
    }

    fn inflate(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        data.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(data.len() * 8 + 1024);
        let mut consumed = 0;
        loop {
            let before = self.inflater.total_in();
            self.inflater
                .decompress_vec(&data[consumed..], &mut out, FlushDecompress::Sync)
                .expect("inflate");
            consumed += (self.inflater.total_in() - before) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(out.capacity());
        }
    }

    async fn expect_text(&mut self, expected: &str) {
        let (opcode, data, compressed) = self.recv().await;
        assert_eq!(opcode, TEXT);
        assert_eq!(String::from_utf8(data).expect("utf-8"), expected);
        assert!(compressed, "text replies are compressed");
    }

    /// Reads a Close frame and returns its code and reason.
    async fn expect_close(&mut self) -> (u16, String) {
        let frame = self.read_frame().await;
        assert_eq!(frame.head, FIN | CLOSE);
        let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
        let reason = String::from_utf8(frame.payload[2..].to_vec()).expect("utf-8");
        (code, reason)
    }

    /// After the closing handshake the server closes the TCP connection.
    async fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        let read = timeout(DEADLINE, self.stream.read_to_end(&mut rest)).await;
        assert!(read.expect("timed out waiting for EOF").is_ok());
        assert!(rest.is_empty(), "nothing after the closing handshake");
    }
}

#[tokio::test]
async fn compressed_messages_round_trip_and_close_cleanly() {
    let server = Server::start().await;
    let (stream, response) = server
        .raw_upgrade_with(
            "/echo?deflate=1",
            &[
                ("Sec-WebSocket-Extensions", OFFER),
                ("Sec-WebSocket-Protocol", "zeta, alpha"),
            ],
        )
        .await;
    assert_eq!(response.status, 101);
    assert_eq!(response.header("sec-websocket-extensions"), Some(AGREED));
    assert_eq!(response.header("sec-websocket-protocol"), Some("zeta"));
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some(RAW_UPGRADE_ACCEPT)
    );
    let mut client = Client {
        stream,
        deflater: Compress::new(Compression::default(), false),
        inflater: Decompress::new(false),
    };

    // Twice the same text: the second message refers back into the first
    // one's window (context takeover), which the server must keep.
    let text = "héllo, deflate! ".repeat(64);
    for _ in 0..2 {
        client.send_compressed(TEXT, text.as_bytes()).await;
        client.expect_text(&text).await;
    }

    // A fragmented compressed binary message with a Ping in between: RSV1
    // only on the first fragment, the Pong comes back at once.
    let binary: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    let compressed = client.compress(&binary);
    let (first, second) = compressed.split_at(compressed.len() / 2);
    client.send_frame(RSV1 | BINARY, first).await;
    client.send_frame(FIN | PING, b"are you there").await;
    client.send_frame(FIN, second).await;
    let pong = client.read_frame().await;
    assert_eq!(
        (pong.head, pong.payload.as_slice()),
        (FIN | PONG, &b"are you there"[..])
    );
    let (opcode, data, _) = client.recv().await;
    assert_eq!(opcode, BINARY);
    assert_eq!(data, binary);

    // Uncompressed messages stay legal on a deflate connection.
    client.send_frame(FIN | TEXT, b"plain").await;
    client.expect_text("plain").await;

    let stats = server.stats().await;
    assert_eq!(stats["connections"], 1);
    assert_eq!(
        (stats["messagesIn"].clone(), stats["messagesOut"].clone()),
        (json!(4), json!(4))
    );

    // Closing handshake: our code and reason come back, then EOF.
    client.send_frame(FIN | CLOSE, b"\x03\xe8done").await;
    assert_eq!(client.expect_close().await, (1000, "done".to_owned()));
    client.expect_eof().await;
    server.wait_stat("connections", 0).await;
}

#[tokio::test]
async fn commands_and_broadcasts_work_over_deflate() {
    let server = Server::start().await;
    let mut client = Client::connect_deflate(&server, "/echo?deflate=1").await;
    let mut plain = server.connect("/echo").await;
    server.wait_stat("connections", 2).await;

    // POST /echo/broadcast and __bws:broadcast reach both kinds of socket.
    let response = server.http("POST", "/echo/broadcast", b"from http").await;
    assert_eq!(response.json(), json!({ "delivered": 2 }));
    client.expect_text("from http").await;
    assert_eq!(recv(&mut plain).await, Message::text("from http"));
    client
        .send_compressed(TEXT, b"__bws:broadcast from deflate")
        .await;
    client.expect_text("from deflate").await;
    assert_eq!(recv(&mut plain).await, Message::text("from deflate"));

    client.send_compressed(TEXT, b"__bws:burst 300 40").await;
    for i in 0..300 {
        let (opcode, data, _) = client.recv().await;
        assert_eq!(opcode, TEXT);
        assert!(data.starts_with(format!("{i}:").as_bytes()) && data.len() == 40);
    }
    client.send_compressed(TEXT, b"__bws:nope").await;
    client.expect_text("__bws:error unknown command").await;

    // Server-initiated close with code and reason; we answer, it hangs up.
    client
        .send_compressed(TEXT, b"__bws:close 4001 bye bye")
        .await;
    assert_eq!(client.expect_close().await, (4001, "bye bye".to_owned()));
    client.send_frame(FIN | CLOSE, b"\x0f\xa1").await;
    client.expect_eof().await;
    server.wait_stat("connections", 1).await;
    plain.close(None).await.expect("close");
}

#[tokio::test]
async fn extension_needs_both_the_query_and_the_offer() {
    let server = Server::start().await;

    // Offered but not asked for with ?deflate=1: plain connection as before.
    for path in ["/echo", "/echo?deflate=0", "/"] {
        let (mut client, extensions) = Client::connect(&server, path).await;
        assert_eq!(extensions, None, "{path}");
        client.send_frame(FIN | TEXT, b"plain").await;
        let (opcode, data, compressed) = client.recv().await;
        assert_eq!(
            (opcode, data.as_slice(), compressed),
            (TEXT, &b"plain"[..], false)
        );
    }

    // Asked for but not offered (tungstenite offers no extensions).
    let response = server.raw_upgrade("/echo?deflate=1", None).await;
    assert_eq!(response.status, 101);
    assert_eq!(response.header("sec-websocket-extensions"), None);
    let mut ws = server.connect("/echo?deflate=1").await;
    ws.send(Message::text("hi")).await.expect("send");
    assert_eq!(recv(&mut ws).await, Message::text("hi"));

    // The `/` alias negotiates too, and the protocol rules still apply.
    let (mut client, extensions) = Client::connect(&server, "/?deflate=1&echo=0").await;
    assert_eq!(extensions.as_deref(), Some(AGREED));
    client.send_compressed(TEXT, b"not echoed").await;
    client.send_compressed(TEXT, b"__bws:close-nostatus").await;
    let close = client.read_frame().await;
    assert_eq!((close.head, close.payload.len()), (FIN | CLOSE, 0));
    let (_, response) = server
        .raw_upgrade_with(
            "/echo?deflate=1&protocol=none",
            &[
                ("Sec-WebSocket-Extensions", OFFER),
                ("Sec-WebSocket-Protocol", "zeta"),
            ],
        )
        .await;
    assert_eq!(response.header("sec-websocket-extensions"), Some(AGREED));
    assert_eq!(response.header("sec-websocket-protocol"), None);
}

#[tokio::test]
async fn protocol_violations_fail_the_connection() {
    let server = Server::start().await;
    let mut client = Client::connect_deflate(&server, "/echo?deflate=1").await;
    // RSV1 on a control frame is forbidden (RFC 7692 §6.1).
    client.send_frame(FIN | RSV1 | PING, b"").await;
    assert_eq!(client.expect_close().await.0, 1002);
    client.expect_eof().await;

    let mut client = Client::connect_deflate(&server, "/echo?deflate=1").await;
    client.send_compressed(TEXT, &[0xC3, 0x28]).await;
    assert_eq!(client.expect_close().await.0, 1007, "invalid UTF-8");
    client.expect_eof().await;
    server.wait_stat("connections", 0).await;
}

#[tokio::test]
async fn sigterm_closes_deflate_sockets_with_1001() {
    let mut server = Server::start().await;
    let mut client = Client::connect_deflate(&server, "/echo?deflate=1").await;
    client.send_compressed(TEXT, b"ready?").await;
    client.expect_text("ready?").await;

    server.terminate();

    assert_eq!(
        client.expect_close().await,
        (1001, "server shutting down".to_owned())
    );
    client.send_frame(FIN | CLOSE, b"\x03\xe9").await;
    client.expect_eof().await;
    let exit = server.wait_exit().await;
    assert!(exit.success(), "exit status {exit:?}");
}
