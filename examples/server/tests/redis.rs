//! Two `bws-server` instances on one real `redis-server` (started here on a
//! free loopback port, stopped on drop): fan-out both ways and resume with
//! history across instances. `redis-server` comes from scripts/setup.sh;
//! without it these tests fail rather than pass silently.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::json::{data_of, post, Client};
use support::Server;

/// A private redis-server; killed (by its own PID) and reaped on drop, also
/// when a test panics.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        // The port is free when probed; should another process grab it
        // before Redis binds, Redis exits and the next attempt picks another.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run redis-server ({e}); install it with \
                         `apt-get install -y redis-server` (scripts/setup.sh does)"
                    )
                });
            let deadline = Instant::now() + support::DEADLINE;
            while Instant::now() < deadline {
                if ping(port) {
                    return Self { child, port };
                }
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                // Redis takes a few milliseconds to listen; poll with a deadline.
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start answering on a loopback port");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

async fn instance(redis: &RedisServer) -> Server {
    Server::start_env(&[], &[("REDIS_URL", &redis.url())]).await
}

#[tokio::test]
async fn messages_cross_instances_both_ways() {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut on_a = Client::connect(&a, "").await;
    let mut on_b = Client::connect(&b, "").await;
    on_a.subscribe("room").await;
    on_b.subscribe("room").await;
    let mut publisher_a = Client::connect(&a, "").await;
    let mut publisher_b = Client::connect(&b, "").await;

    // Each step is acked (accepted) before the next, so all subscribers
    // must see this exact order.
    let broadcast = |data: &str| json!({ "type": "broadcast", "channel": "room", "data": data });
    publisher_a.request(broadcast("ws-a"), "1").await;
    publisher_b.request(broadcast("ws-b"), "2").await;
    post(&a, json!({ "channel": "room", "data": "post-a" })).await;
    post(&b, json!({ "channel": "room", "data": "post-b" })).await;
    let expected = [
        json!("ws-a"),
        json!("ws-b"),
        json!("post-a"),
        json!("post-b"),
    ];
    for client in [&mut on_a, &mut on_b] {
        let mut seen = Vec::new();
        for _ in 0..expected.len() {
            seen.push(client.message().await);
        }
        assert_eq!(data_of(&seen), expected);
    }

    let (stats_a, stats_b) = (a.stats().await, b.stats().await);
    assert_eq!(
        (&stats_a["mode"], &stats_b["mode"]),
        (&json!("redis"), &json!("redis"))
    );
    assert_ne!(stats_a["instanceId"], stats_b["instanceId"]);
    // Per instance: what each accepted and what each holds.
    assert_eq!(stats_a["channels"]["broadcasts"], 2, "{stats_a}");
    assert_eq!(stats_a["channels"]["subscriptions"], json!({ "room": 1 }));
    assert_eq!(stats_b["channels"]["connections"], 2, "{stats_b}");
}

#[tokio::test]
async fn resume_and_history_work_across_instances() {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let feed = "persistent:feed";

    let mut client = Client::connect(&a, "?clientId=roamer").await;
    client.subscribe(feed).await;
    let accepted = post(&b, json!({ "channel": feed, "data": 1 })).await;
    let first = client.message().await;
    assert_eq!((&first["data"], &first["id"]), (&json!(1), &accepted["id"]));

    // Gone from A; the session is parked in Redis once A counts it closed.
    drop(client);
    a.wait_stats("A has no channel connection", |s| {
        s["channels"]["connections"] == 0
    })
    .await;
    post(&b, json!({ "channel": feed, "data": 2 })).await;
    post(&a, json!({ "channel": feed, "data": 3 })).await;

    // Back on the other instance: subscriptions and missed messages follow.
    let mut client = Client::connect(&b, "?clientId=roamer").await;
    let replayed = [client.message().await, client.message().await];
    assert_eq!(data_of(&replayed), [json!(2), json!(3)]);
    post(&a, json!({ "channel": feed, "data": 4 })).await;
    assert_eq!(client.message().await["data"], 4);

    // Catching up from an id works on any instance.
    let mut late = Client::connect(&a, "").await;
    late.send(json!({ "type": "subscribe", "channel": feed, "lastId": first["id"] }))
        .await;
    let caught_up = [
        late.message().await,
        late.message().await,
        late.message().await,
    ];
    assert_eq!(data_of(&caught_up), [json!(2), json!(3), json!(4)]);
}
