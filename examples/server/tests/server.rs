//! End-to-end tests against the compiled `bws-server` binary.

mod support;

use futures_util::SinkExt;
use serde_json::json;
use support::{expect_end, next, recv, Server, TempDir, Ws};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// Round-trips one echo so the connection is known to be fully set up.
async fn ping_echo(ws: &mut Ws) {
    send_text(ws, "ready?").await;
    assert_eq!(recv(ws).await, Message::text("ready?"));
}

fn close_of(message: Message) -> Option<(u16, String)> {
    match message {
        Message::Close(frame) => frame.map(|f| (u16::from(f.code), f.reason.to_string())),
        other => panic!("expected a Close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn health_is_ok_with_cors() {
    let server = Server::start().await;
    let response = server.http("GET", "/health", b"").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({ "status": "ok" }));
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn stats_count_open_and_total_connections() {
    let server = Server::start().await;
    let stats = server.stats().await;
    // The top-level counters are the echo endpoints'; the channels service
    // reports under `channels`.
    for field in [
        "connections",
        "totalConnections",
        "messagesIn",
        "messagesOut",
    ] {
        assert_eq!(stats[field], 0, "{field}: {stats}");
    }
    assert_eq!(stats["channels"]["connections"], 0, "{stats}");

    let mut a = server.connect("/echo").await;
    let b = server.connect("/echo").await;
    server.wait_stat("connections", 2).await;
    assert_eq!(server.stats().await["totalConnections"], 2);

    // Clean close from the client.
    a.close(None).await.expect("close");
    expect_end(&mut a).await;
    server.wait_stat("connections", 1).await;

    // Abrupt drop of the TCP connection must be counted too.
    drop(b);
    server.wait_stat("connections", 0).await;
    assert_eq!(server.stats().await["totalConnections"], 2);

    let response = server.http("GET", "/stats", b"").await;
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn echoes_text_and_binary_in_order() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();

    send_text(&mut ws, "héllo").await;
    ws.send(Message::binary(big.clone())).await.expect("send");
    send_text(&mut ws, "after").await;

    assert_eq!(recv(&mut ws).await, Message::text("héllo"));
    assert_eq!(recv(&mut ws).await, Message::binary(big));
    assert_eq!(recv(&mut ws).await, Message::text("after"));

    let stats = server.stats().await;
    assert_eq!(
        (stats["messagesIn"].clone(), stats["messagesOut"].clone()),
        (json!(3), json!(3))
    );
}

#[tokio::test]
async fn root_path_is_an_echo_alias() {
    let server = Server::start().await;
    let mut ws = server.connect("/").await;
    ping_echo(&mut ws).await;
}

#[tokio::test]
async fn echo_can_be_disabled_while_commands_work() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo?echo=0").await;
    send_text(&mut ws, "not echoed").await;
    ws.send(Message::binary(vec![1, 2, 3])).await.expect("send");
    send_text(&mut ws, "__bws:no-such-command").await;
    assert_eq!(
        recv(&mut ws).await,
        Message::text("__bws:error unknown command")
    );
}

#[tokio::test]
async fn subprotocol_selection() {
    let server = Server::start().await;
    let selected = |response: support::HttpResponse| {
        assert_eq!(response.status, 101);
        response.header("sec-websocket-protocol").map(str::to_owned)
    };

    // Default: the first offered protocol, in the client's order.
    let (mut ws, protocol) = server
        .connect_with_protocols("/echo", &["zeta", "alpha"])
        .await;
    assert_eq!(protocol.as_deref(), Some("zeta"));
    ping_echo(&mut ws).await;

    let offer = Some("zeta, alpha");
    let first = selected(server.raw_upgrade("/echo", offer).await);
    assert_eq!(first.as_deref(), Some("zeta"));
    let chosen = selected(server.raw_upgrade("/echo?protocol=alpha", offer).await);
    assert_eq!(chosen.as_deref(), Some("alpha"));
    for query in ["?protocol=other", "?protocol=", "?protocol=none"] {
        let path = format!("/echo{query}");
        assert_eq!(
            selected(server.raw_upgrade(&path, offer).await),
            None,
            "{query}"
        );
    }
    assert_eq!(selected(server.raw_upgrade("/echo", None).await), None);
}

#[tokio::test]
async fn close_command_sends_code_and_reason() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    send_text(&mut ws, "__bws:close 4001 bye bye").await;
    assert_eq!(
        close_of(recv(&mut ws).await),
        Some((4001, "bye bye".to_owned()))
    );
    expect_end(&mut ws).await;
    server.wait_stat("connections", 0).await;
}

#[tokio::test]
async fn close_nostatus_sends_empty_close() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    send_text(&mut ws, "__bws:close-nostatus").await;
    assert_eq!(close_of(recv(&mut ws).await), None);
    expect_end(&mut ws).await;
}

#[tokio::test]
async fn client_close_is_echoed() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4002),
        reason: "client bye".into(),
    }))
    .await
    .expect("close");
    assert_eq!(
        close_of(recv(&mut ws).await),
        Some((4002, "client bye".to_owned()))
    );
}

#[tokio::test]
async fn drop_command_ends_stream_without_close_frame() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    send_text(&mut ws, "__bws:drop").await;
    match next(&mut ws).await {
        // Either a plain EOF or a reset; what matters is no Close frame.
        None | Some(Err(_)) => {}
        Some(Ok(message)) => panic!("expected an abrupt end, got {message:?}"),
    }
    server.wait_stat("connections", 0).await;
}

#[tokio::test]
async fn broadcast_command_reaches_every_client() {
    let server = Server::start().await;
    let mut a = server.connect("/echo").await;
    let mut b = server.connect("/echo?echo=0").await;
    server.wait_stat("connections", 2).await;

    send_text(&mut a, "__bws:broadcast hello all").await;
    assert_eq!(recv(&mut a).await, Message::text("hello all"));
    assert_eq!(recv(&mut b).await, Message::text("hello all"));
}

#[tokio::test]
async fn post_broadcast_sends_text_and_binary() {
    let server = Server::start().await;
    let mut a = server.connect("/echo").await;
    let mut b = server.connect("/").await;
    server.wait_stat("connections", 2).await;

    let response = server
        .http("POST", "/echo/broadcast", "from http ✓".as_bytes())
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({ "delivered": 2 }));
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    for ws in [&mut a, &mut b] {
        assert_eq!(recv(ws).await, Message::text("from http ✓"));
    }

    let payload = vec![0u8, 159, 255, 10];
    let response = server
        .http("POST", "/echo/broadcast?binary=1", &payload)
        .await;
    assert_eq!(response.json(), json!({ "delivered": 2 }));
    for ws in [&mut a, &mut b] {
        assert_eq!(recv(ws).await, Message::binary(payload.clone()));
    }

    let response = server.http("POST", "/echo/broadcast", &payload).await;
    assert_eq!(response.status, 400, "non-UTF-8 text broadcast");
}

#[tokio::test]
async fn burst_arrives_in_order() {
    let server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    send_text(&mut ws, "__bws:burst 2000 100").await;
    for i in 0..2000 {
        let Message::Text(text) = recv(&mut ws).await else {
            panic!("expected text frame {i}");
        };
        assert!(text.starts_with(&format!("{i}:")), "frame {i}: {text}");
        assert_eq!(text.len(), 100);
    }
    ping_echo(&mut ws).await;
}

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() {
    let mut server = Server::start().await;
    let mut ws = server.connect("/echo").await;
    ping_echo(&mut ws).await;

    server.terminate();

    assert_eq!(
        close_of(recv(&mut ws).await),
        Some((1001, "server shutting down".to_owned()))
    );
    expect_end(&mut ws).await;
    let exit = server.wait_exit().await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn serves_static_files_without_caching() {
    let dir = TempDir::new("static");
    dir.write("index.html", b"<!doctype html><title>t</title>");
    dir.write("app.js", b"export {};");
    dir.write("mod.mjs", b"export {};");
    dir.write("app.wasm", b"\0asm\x01\0\0\0");
    let static_dir = dir.path().to_str().expect("utf-8 temp path").to_owned();
    let server = Server::start_with(&["--static-dir", &static_dir]).await;

    let cases = [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/app.js", "javascript"),
        ("/mod.mjs", "javascript"),
        ("/app.wasm", "application/wasm"),
    ];
    for (path, mime) in cases {
        let response = server.http("GET", path, b"").await;
        assert_eq!(response.status, 200, "{path}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(content_type.contains(mime), "{path}: {content_type}");
        assert_eq!(response.header("cache-control"), Some("no-store"), "{path}");
    }
    assert_eq!(server.http("GET", "/missing.js", b"").await.status, 404);

    // Routes win over files, and `/` still upgrades to the echo socket.
    dir.write("health", b"shadowed");
    assert_eq!(
        server.http("GET", "/health", b"").await.json(),
        json!({ "status": "ok" })
    );
    let mut ws = server.connect("/").await;
    ping_echo(&mut ws).await;
}
