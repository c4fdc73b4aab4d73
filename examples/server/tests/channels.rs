//! The channels service on `/ws` and `POST /broadcast`, end to end against
//! the compiled binary with a real WebSocket client.

mod support;

use futures_util::SinkExt;
use serde_json::{json, Value};
use support::json::{data_of, post, Client};
use support::Server;
use tokio_tungstenite::tungstenite::Message;

/// Generous limits so bulk tests are never rate limited.
const UNLIMITED: [(&str, &str); 2] = [
    ("RATE_LIMIT_PER_SECOND", "100000"),
    ("RATE_LIMIT_BURST", "100000"),
];

async fn wait_channel_connections(server: &Server, expected: u64) {
    server
        .wait_stats(&format!("channels.connections == {expected}"), |s| {
            s["channels"]["connections"] == expected
        })
        .await;
}

#[tokio::test]
async fn subscribe_broadcast_ack_and_deliver() {
    let server = Server::start().await;
    let mut a = Client::connect(&server, "").await;
    let mut b = Client::connect(&server, "").await;
    a.subscribe("room").await;
    b.subscribe("room").await;

    a.send(json!({ "type": "broadcast", "channel": "room", "data": { "text": "hi" }, "messageId": "m1" }))
        .await;
    // The sender is a subscriber too; its ack and its copy may come in either order.
    let mut frames = [a.recv().await, a.recv().await];
    frames.sort_by_key(|f| f["type"].as_str().unwrap_or_default().to_owned());
    let (ack, own) = (&frames[0], &frames[1]);
    assert_eq!(ack["type"], "ack");
    assert_eq!(
        (&ack["messageId"], &ack["channel"]),
        (&json!("m1"), &json!("room"))
    );
    assert!(
        ack["timestamp"].as_u64().unwrap() > 1_600_000_000_000,
        "{ack}"
    );
    assert_eq!(own["data"], json!({ "text": "hi" }));

    let message = b.message().await;
    assert_eq!(message["channel"], "room");
    assert_eq!(message["data"], json!({ "text": "hi" }));
    assert!(message["timestamp"].is_u64(), "{message}");
    assert!(
        message.get("id").is_none(),
        "plain channels carry no id: {message}"
    );

    // No messageId: no ack, still delivered.
    a.send(json!({ "type": "broadcast", "channel": "room", "data": null }))
        .await;
    assert_eq!(b.message().await["data"], Value::Null);
    assert_eq!(a.message().await["data"], Value::Null);

    let stats = server.stats().await;
    assert_eq!(stats["channels"]["subscriptions"], json!({ "room": 2 }));
    assert_eq!(stats["channels"]["connections"], 2);
    assert_eq!(stats["channels"]["broadcasts"], 2);
    assert_eq!(stats["mode"], "memory");
    assert!(stats["instanceId"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert_eq!(stats["connections"], 0, "echo counter untouched: {stats}");
}

#[tokio::test]
async fn order_is_kept_and_unsubscribe_stops_delivery() {
    let server = Server::start_env(&[], &UNLIMITED).await;
    let mut publisher = Client::connect(&server, "").await;
    let mut reader = Client::connect(&server, "").await;
    reader.subscribe("room").await;
    reader.subscribe("other").await;

    for i in 0..300 {
        publisher
            .send(json!({ "type": "broadcast", "channel": "room", "data": i }))
            .await;
    }
    // Once the last one is acked, all were accepted; an HTTP broadcast
    // then joins the same order behind them.
    publisher
        .request(
            json!({ "type": "broadcast", "channel": "room", "data": 300 }),
            "last",
        )
        .await;
    post(&server, json!({ "channel": "room", "data": "http" })).await;
    for i in 0..=300 {
        assert_eq!(reader.message().await["data"], i);
    }
    assert_eq!(reader.message().await["data"], "http");

    reader
        .request(json!({ "type": "unsubscribe", "channel": "room" }), "u1")
        .await;
    post(&server, json!({ "channel": "room", "data": "missed" })).await;
    post(&server, json!({ "channel": "other", "data": "seen" })).await;
    let next = reader.message().await;
    assert_eq!(
        (&next["channel"], &next["data"]),
        (&json!("other"), &json!("seen"))
    );
    assert_eq!(
        server.stats().await["channels"]["subscriptions"],
        json!({ "other": 1 })
    );
}

#[tokio::test]
async fn duplicate_message_ids_are_acked_but_not_redelivered() {
    let server = Server::start().await;
    let mut publisher = Client::connect(&server, "?clientId=pub-1").await;
    let mut reader = Client::connect(&server, "").await;
    reader.subscribe("room").await;

    let broadcast = json!({ "type": "broadcast", "channel": "room", "data": "once" });
    let first = publisher.request(broadcast.clone(), "dup").await;
    assert!(first.get("duplicate").is_none(), "{first}");
    let second = publisher.request(broadcast.clone(), "dup").await;
    assert_eq!(second["duplicate"], true, "{second}");

    // The window outlives the connection when the client id comes back.
    drop(publisher);
    wait_channel_connections(&server, 1).await;
    let mut publisher = Client::connect(&server, "?clientId=pub-1").await;
    let third = publisher.request(broadcast, "dup").await;
    assert_eq!(third["duplicate"], true, "{third}");
    publisher
        .request(
            json!({ "type": "broadcast", "channel": "room", "data": "next" }),
            "other",
        )
        .await;

    assert_eq!(reader.message().await["data"], "once");
    assert_eq!(reader.message().await["data"], "next", "no second copy");
}

#[tokio::test]
async fn resume_restores_subscriptions_and_replays_persistent_channels() {
    let server = Server::start().await;
    let feed = "persistent:feed";
    let mut client = Client::connect(&server, "?clientId=tab-1").await;
    client.subscribe(feed).await;
    client.subscribe("plain").await;

    let accepted = post(&server, json!({ "channel": feed, "data": 1 })).await;
    let first = client.message().await;
    assert_eq!(first["data"], 1);
    assert_eq!(
        first["id"], accepted["id"],
        "POST answers with the id subscribers see"
    );

    // Abrupt disconnect; messages keep coming while the client is away.
    drop(client);
    wait_channel_connections(&server, 0).await;
    for n in [2, 3] {
        post(&server, json!({ "channel": feed, "data": n })).await;
    }
    post(&server, json!({ "channel": "plain", "data": "gone" })).await;

    let mut client = Client::connect(&server, "?clientId=tab-1").await;
    let replayed = [client.message().await, client.message().await];
    assert_eq!(data_of(&replayed), [json!(2), json!(3)]);
    assert!(replayed
        .iter()
        .all(|m| m["channel"] == feed && m["id"].is_string()));
    // Live again on both restored subscriptions, without subscribing.
    post(&server, json!({ "channel": feed, "data": 4 })).await;
    post(&server, json!({ "channel": "plain", "data": "live" })).await;
    assert_eq!(client.message().await["data"], 4);
    assert_eq!(client.message().await["data"], "live");

    // Any client can catch up from an id it saw, without a session.
    let mut late = Client::connect(&server, "").await;
    late.send(
        json!({ "type": "subscribe", "channel": feed, "lastId": first["id"], "messageId": "s" }),
    )
    .await;
    let caught_up = [
        late.message().await,
        late.message().await,
        late.message().await,
    ];
    assert_eq!(data_of(&caught_up), [json!(2), json!(3), json!(4)]);
    assert_eq!(late.recv().await["type"], "ack", "ack after the replay");

    // A new client id starts fresh.
    let mut other = Client::connect(&server, "?clientId=tab-2").await;
    post(&server, json!({ "channel": feed, "data": 5 })).await;
    other.subscribe("probe").await;
    post(&server, json!({ "channel": "probe", "data": "first" })).await;
    assert_eq!(other.message().await["data"], "first");
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_over() {
    let server = Server::start().await;
    let mut old = Client::connect(&server, "?clientId=same").await;
    old.subscribe("room").await;
    let mut new = Client::connect(&server, "?clientId=same").await;
    assert_eq!(old.close_code().await, 4000);
    post(
        &server,
        json!({ "channel": "room", "data": "to the new one" }),
    )
    .await;
    assert_eq!(new.message().await["data"], "to the new one");
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_stays_up() {
    let server = Server::start().await;
    let mut client = Client::connect(&server, "").await;
    let cases: [(&str, &str); 13] = [
        ("{not json", "bad_json"),
        ("", "bad_json"),
        ("[1,2]", "bad_request"),
        ("{}", "bad_request"),
        (r#"{"type":42}"#, "bad_request"),
        (r#"{"type":"shout","messageId":"m"}"#, "unknown_type"),
        (r#"{"type":"subscribe"}"#, "bad_request"),
        (r#"{"type":"subscribe","channel":""}"#, "bad_request"),
        (r#"{"type":"subscribe","channel":["x"]}"#, "bad_request"),
        (r#"{"type":"broadcast","channel":"c"}"#, "bad_request"),
        (
            r#"{"type":"unsubscribe","messageId":5,"channel":"c"}"#,
            "bad_request",
        ),
        (
            r#"{"type":"subscribe","channel":"persistent:x","lastId":"soon"}"#,
            "bad_request",
        ),
        (
            r#"{"type":"subscribe","channel":"c","messageId":""}"#,
            "bad_request",
        ),
    ];
    for (frame, code) in cases {
        client.send_text(frame).await;
        let reply = client.recv().await;
        assert_eq!(reply["type"], "error", "{frame}: {reply}");
        assert_eq!(reply["data"]["code"], code, "{frame}: {reply}");
        assert!(reply["data"]["message"].is_string(), "{reply}");
        assert!(reply["timestamp"].is_u64(), "{reply}");
    }
    // Errors name the request when they can.
    client
        .send_text(r#"{"type":"shout","messageId":"m"}"#)
        .await;
    assert_eq!(client.recv().await["messageId"], "m");

    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("send");
    assert_eq!(client.recv().await["data"]["code"], "unsupported_frame");

    // Still connected and working.
    client.subscribe("still-here").await;
}

#[tokio::test]
async fn rate_limit_answers_with_errors_and_keeps_the_connection() {
    let env = [
        ("RATE_LIMIT_PER_SECOND", "0.001"),
        ("RATE_LIMIT_BURST", "3"),
    ];
    let server = Server::start_env(&[], &env).await;
    let mut client = Client::connect(&server, "").await;
    for i in 0..6 {
        let request = json!({ "type": "subscribe", "channel": "c", "messageId": format!("r{i}") });
        client.send(request).await;
    }
    for i in 0..6 {
        let reply = client.recv().await;
        assert_eq!(reply["messageId"], format!("r{i}"), "{reply}");
        if i < 3 {
            assert_eq!(reply["type"], "ack", "{reply}");
        } else {
            assert_eq!(reply["type"], "error", "{reply}");
            assert_eq!(reply["data"]["code"], "rate_limited", "{reply}");
        }
    }
    // Connection still up: a POSTed message reaches the subscription.
    post(&server, json!({ "channel": "c", "data": "delivered" })).await;
    assert_eq!(client.message().await["data"], "delivered");
}

#[tokio::test]
async fn origin_allow_list_guards_websockets_and_cors() {
    let env = [("CORS_ORIGIN", "http://good.test, http://also.test")];
    let server = Server::start_env(&[], &env).await;

    let evil = server
        .raw_upgrade_with("/ws", &[("Origin", "http://evil.test")])
        .await
        .1;
    assert_eq!(evil.status, 403);
    let good = server
        .raw_upgrade_with("/ws", &[("Origin", "http://good.test")])
        .await
        .1;
    assert_eq!(good.status, 101);
    let tool = server.raw_upgrade_with("/ws", &[]).await.1;
    assert_eq!(tool.status, 101, "non-browser clients send no Origin");
    let mut browserish = Client::connect_with(&server, "", &[("Origin", "http://also.test")]).await;
    browserish.subscribe("ok").await;

    let allowed = server
        .http_with("GET", "/stats", &[("Origin", "http://good.test")], b"")
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://good.test")
    );
    assert_eq!(allowed.header("vary"), Some("origin"));
    let denied = server
        .http_with("GET", "/health", &[("Origin", "http://evil.test")], b"")
        .await;
    assert_eq!(denied.status, 200);
    assert_eq!(denied.header("access-control-allow-origin"), None);

    let preflight = [
        ("Origin", "http://good.test"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ];
    let response = server
        .http_with("OPTIONS", "/broadcast", &preflight, b"")
        .await;
    assert_eq!(response.status, 204);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://good.test")
    );
    assert!(response
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("content-type")
    );
    let response = server
        .http_with(
            "OPTIONS",
            "/broadcast",
            &[("Origin", "http://evil.test")],
            b"",
        )
        .await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn default_cors_allows_any_origin() {
    let server = Server::start().await;
    let response = server
        .http_with("GET", "/stats", &[("Origin", "http://any.test")], b"")
        .await;
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let upgrade = server
        .raw_upgrade_with("/ws", &[("Origin", "http://any.test")])
        .await
        .1;
    assert_eq!(upgrade.status, 101);
    let bad_id = server.raw_upgrade_with("/ws?clientId=", &[]).await.1;
    assert_eq!(bad_id.status, 400);
}

#[tokio::test]
async fn oversized_messages_close_with_1009_and_posts_get_413() {
    let server = Server::start_env(&[], &[("MAX_MESSAGE_BYTES", "1024")]).await;
    let mut client = Client::connect(&server, "").await;
    client.subscribe("c").await;
    let data = "x".repeat(2000);
    client
        .send(json!({ "type": "broadcast", "channel": "c", "data": data }))
        .await;
    assert_eq!(client.close_code().await, 1009);

    let body = json!({ "channel": "c", "data": data }).to_string();
    let response = server.http("POST", "/broadcast", body.as_bytes()).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"], "too_large");
}

#[tokio::test]
async fn malformed_posts_get_json_errors() {
    let server = Server::start().await;
    let cases: [(&[u8], u16, &str); 6] = [
        (b"{nope", 400, "bad_json"),
        (b"", 400, "bad_json"),
        (br#"{"data":1}"#, 400, "bad_request"),
        (br#"{"channel":"c"}"#, 400, "bad_request"),
        (br#"{"channel":7,"data":1}"#, 400, "bad_request"),
        (&[0xff, 0xfe], 400, "bad_json"),
    ];
    for (body, status, code) in cases {
        let response = server.http("POST", "/broadcast", body).await;
        assert_eq!(response.status, status, "{body:?}");
        let json = response.json();
        assert_eq!(json["error"], code, "{body:?}: {json}");
        assert!(json["message"].is_string());
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    }
    let echo = server.http("POST", "/echo/broadcast", &[0xff]).await;
    assert_eq!(
        (echo.status, echo.json()["error"].clone()),
        (400, json!("bad_request"))
    );
}

#[tokio::test]
async fn silent_peers_are_evicted_by_the_heartbeat() {
    // Short enough to be quick, long enough that a busy test machine still
    // lets the reading client answer within one interval.
    let server = Server::start_env(&[], &[("HEARTBEAT_INTERVAL_MS", "200")]).await;
    // Never reads, so never answers pings.
    let mut silent = Client::connect(&server, "").await;
    let mut alive = Client::connect(&server, "").await;
    wait_channel_connections(&server, 2).await;

    // The reading client keeps answering (tungstenite pongs as it reads).
    let mut pings = 0;
    while pings < 4 {
        if alive.recv_any().await["type"] == "ping" {
            pings += 1;
        }
    }
    wait_channel_connections(&server, 1).await;
    alive.subscribe("still").await;
    assert_eq!(silent.close_code().await, 4001);
}

#[tokio::test]
async fn sigterm_delivers_what_was_accepted_then_closes_with_1001() {
    let mut server = Server::start_env(&[], &UNLIMITED).await;
    let mut publisher = Client::connect(&server, "").await;
    let mut reader = Client::connect(&server, "").await;
    reader.subscribe("room").await;

    // The reader does not read, so most of this backlog is still queued in
    // the server when the signal arrives.
    let payload = "p".repeat(8 * 1024);
    let count = 300;
    for i in 0..count {
        let request = json!({ "type": "broadcast", "channel": "room", "data": [i, payload] });
        publisher.send(request).await;
    }
    publisher
        .request(
            json!({ "type": "broadcast", "channel": "room", "data": "last" }),
            "last",
        )
        .await;

    server.terminate();

    for i in 0..count {
        assert_eq!(reader.message().await["data"][0], i);
    }
    assert_eq!(reader.message().await["data"], "last");
    assert_eq!(reader.close_code().await, 1001);
    assert_eq!(publisher.close_code().await, 1001);
    let exit = server.wait_exit().await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn logs_name_events_never_bodies() {
    const SECRET: &str = "s3cr3t-body";
    let env = [("LOG_LEVEL", "debug"), ("CORS_ORIGIN", "http://good.test")];
    let (mut server, logs) = Server::start_logged(&env).await;
    let mut client = Client::connect(&server, "").await;
    client.subscribe("c").await;
    client
        .request(
            json!({ "type": "broadcast", "channel": "c", "data": SECRET }),
            "1",
        )
        .await;
    assert_eq!(client.message().await["data"], SECRET);
    // Refused requests are logged at debug level: by their code only.
    client.send_text(&format!("{{\"{SECRET}\"")).await;
    assert_eq!(client.recv().await["data"]["code"], "bad_json");
    client
        .send(json!({ "type": SECRET, "channel": "c", "messageId": "2" }))
        .await;
    assert_eq!(client.recv().await["data"]["code"], "unknown_type");
    post(&server, json!({ "channel": "c", "data": SECRET })).await;
    assert_eq!(client.message().await["data"], SECRET);
    let mut echo = server.connect("/echo").await;
    echo.send(Message::text(SECRET)).await.expect("send");
    assert_eq!(support::recv(&mut echo).await, Message::text(SECRET));
    let refused = server
        .raw_upgrade_with("/ws", &[("Origin", "http://evil.test")])
        .await
        .1;
    assert_eq!(refused.status, 403);

    server.terminate();
    assert!(server.wait_exit().await.success());
    let logs = logs.text();
    assert!(logs.contains("request refused"), "debug logs on: {logs}");
    assert!(logs.contains("refused a WebSocket from origin"), "{logs}");
    assert!(
        !logs.contains(SECRET),
        "a body leaked into the logs: {logs}"
    );
}

#[tokio::test]
async fn redis_passwords_never_reach_the_logs() {
    // Nothing listens on port 1: startup fails, naming the URL it tried.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bws-server"))
        .args([
            "--port",
            "0",
            "--redis-url",
            "redis://user:hunter2@127.0.0.1:1/0",
        ])
        .output()
        .expect("run bws-server");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("redis://user:***@127.0.0.1:1/0"),
        "the URL is shown redacted: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}
