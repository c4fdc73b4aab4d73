//! `bws-load`: load generator for the channels service, driven by
//! `bench/sections/server-load.mjs` (Node 20 has no WebSocket client). It connects
//! `--clients` subscribers to one channel, then one publisher sends
//! `--messages` broadcasts paced at `--rate` per second, each stamped with
//! its send time; every subscriber records each message's delivery latency.
//! Prints one JSON object on stdout; never judges the numbers.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str = "\
usage: bws-load --url ws://127.0.0.1:PORT/ws [--clients N] [--messages N]
                [--rate PER_SECOND] [--size BYTES] [--timeout-ms MS]";

/// Connections opened at once: enough to be quick, few enough that the
/// listener's accept backlog never overflows.
const CONNECT_CONCURRENCY: usize = 64;
const CHANNEL: &str = "bench:load";

#[derive(Debug, Clone)]
struct Options {
    url: String,
    clients: usize,
    messages: usize,
    rate: u64,
    size: usize,
    timeout: Duration,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        url: String::new(),
        clients: 100,
        messages: 200,
        rate: 500,
        size: 64,
        timeout: Duration::from_secs(20),
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag}: expected a number above 0, got {text:?}"))
        };
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--clients" => options.clients = number(value()?)? as usize,
            "--messages" => options.messages = number(value()?)? as usize,
            "--rate" => options.rate = number(value()?)?,
            "--size" => options.size = number(value()?)? as usize,
            "--timeout-ms" => options.timeout = Duration::from_millis(number(value()?)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bws-load: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bws-load: {message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    data: Option<Stamp>,
}

#[derive(Deserialize)]
struct Stamp {
    /// Microseconds since the run's start when the publisher sent it.
    t: u64,
}

async fn run(options: Options) -> Result<serde_json::Value, String> {
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    // Subscribers + the main task meet here once all are subscribed.
    let ready = Arc::new(Barrier::new(options.clients + 1));
    let mut subscribers = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let (gate, ready, options) = (Arc::clone(&gate), Arc::clone(&ready), options.clone());
        subscribers.push(tokio::spawn(async move {
            subscriber(index, &options, gate, ready, start).await
        }));
    }
    ready.wait().await;
    let connected_at = start.elapsed();

    let publish_started = start.elapsed();
    publish(&options, start).await?;
    let published_at = start.elapsed();

    let mut latencies = Vec::with_capacity(options.clients * options.messages);
    let mut failures = 0;
    let mut last_delivery = Duration::ZERO;
    for task in subscribers {
        match task.await {
            Ok(Ok(result)) => {
                latencies.extend(result.latencies_us);
                last_delivery = last_delivery.max(result.last_delivery);
            }
            Ok(Err(_)) | Err(_) => failures += 1,
        }
    }
    let expected = options.clients * options.messages;
    let delivered = latencies.len();
    latencies.sort_unstable();
    let fan_out_time = last_delivery.saturating_sub(publish_started).as_secs_f64();
    let ms = |us: Option<&u64>| us.map(|&us| us as f64 / 1000.0);
    let percentile = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        ms(latencies.get(rank.saturating_sub(1)))
    };
    Ok(json!({
        "clients": options.clients,
        "connected": options.clients - failures,
        "connectSeconds": connected_at.as_secs_f64(),
        "messages": options.messages,
        "targetRate": options.rate,
        "size": options.size,
        "publishSeconds": (published_at - publish_started).as_secs_f64(),
        "expectedDeliveries": expected,
        "deliveries": delivered,
        "fanOutSeconds": fan_out_time,
        "deliveriesPerSecond": if fan_out_time > 0.0 { delivered as f64 / fan_out_time } else { 0.0 },
        "latencyMs": {
            "p50": percentile(50.0),
            "p95": percentile(95.0),
            "p99": percentile(99.0),
            "max": ms(latencies.last()),
        },
    }))
}

struct Received {
    latencies_us: Vec<u64>,
    last_delivery: Duration,
}

async fn subscriber(
    index: usize,
    options: &Options,
    gate: Arc<Semaphore>,
    ready: Arc<Barrier>,
    start: Instant,
) -> Result<Received, String> {
    let connected = async {
        let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
        let (mut ws, _) = tokio_tungstenite::connect_async(&options.url)
            .await
            .map_err(|e| format!("subscriber {index}: {e}"))?;
        let subscribe = json!({ "type": "subscribe", "channel": CHANNEL, "messageId": "s" });
        ws.send(Message::text(subscribe.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains("\"ack\"") => break,
                Some(Ok(_)) => continue,
                _ => return Err(format!("subscriber {index}: no ack")),
            }
        }
        Ok(ws)
    };
    let connected = tokio::time::timeout(options.timeout, connected)
        .await
        .map_err(|_| format!("subscriber {index}: connect timed out"))
        .and_then(|r| r);
    // Wait at the barrier even after a failure, or everyone would hang.
    ready.wait().await;
    let mut ws = connected?;

    let mut received = Received {
        latencies_us: Vec::with_capacity(options.messages),
        last_delivery: Duration::ZERO,
    };
    let deadline = tokio::time::Instant::now() + options.timeout;
    while received.latencies_us.len() < options.messages {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let Message::Text(text) = message else {
            continue;
        };
        let now = start.elapsed();
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            continue;
        };
        if let ("message", Some(stamp)) = (frame.kind.as_str(), frame.data) {
            received
                .latencies_us
                .push((now.as_micros() as u64).saturating_sub(stamp.t));
            received.last_delivery = now;
        }
    }
    let _ = ws.close(None).await;
    Ok(received)
}

/// Sends the broadcasts in 10 ms slices of `rate / 100` messages.
async fn publish(options: &Options, start: Instant) -> Result<(), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(&options.url)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    let padding = "x".repeat(options.size);
    let per_slice = (options.rate as usize).div_ceil(100).max(1);
    let mut slices = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0;
    while sent < options.messages {
        slices.tick().await;
        for _ in 0..per_slice.min(options.messages - sent) {
            let t = start.elapsed().as_micros() as u64;
            let data = json!({ "t": t, "i": sent, "pad": padding });
            let frame = json!({ "type": "broadcast", "channel": CHANNEL, "data": data });
            ws.feed(Message::text(frame.to_string()))
                .await
                .map_err(|e| format!("publisher: {e}"))?;
            sent += 1;
        }
        ws.flush().await.map_err(|e| format!("publisher: {e}"))?;
    }
    // Keep reading so the server's frames (errors, if any) do not pile up,
    // until the subscribers are done; closing is the caller's business.
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let args = |a: &[&str]| parse(a.iter().map(|s| s.to_string()));
        let o = args(&["--url", "ws://x/ws", "--clients", "5"]).unwrap();
        assert_eq!(
            (o.url.as_str(), o.clients, o.messages),
            ("ws://x/ws", 5, 200)
        );
        assert!(args(&[]).is_err());
        assert!(args(&["--url", "u", "--rate", "0"]).is_err());
        assert!(args(&["--url", "u", "--bogus"]).is_err());
    }
}
