//! The Redis backend (`REDIS_URL`): fan-out across instances through one
//! pub/sub channel, history of persistent channels in Streams, and parked
//! sessions as expiring keys, so a client may resume on any instance.
//!
//! Every instance publishes to and subscribes to `bws:fanout`, and delivers
//! what it hears — its own messages included — to its local subscribers.
//! Going through Redis even for local subscribers gives every subscriber,
//! on every instance, the single order in which Redis accepted the messages.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSub};
use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::hub::{Delivery, Hub};
use super::id::MsgId;
use super::protocol::message_frame;
use super::resume::SessionState;
use crate::log::redact_url;

const FANOUT: &str = "bws:fanout";

/// Appends to the channel's stream and publishes in one atomic step, so the
/// history order and the live order can never disagree. The payload is
/// `instance \n seq \n timestamp \n id \n channel \n data`: `data` comes
/// last because raw JSON may contain newlines; names cannot (protocol.rs).
const PUBLISH_PERSISTENT: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[2], 'd', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. id .. '\n' .. ARGV[6] .. '\n' .. ARGV[3])
return id
";

fn stream_key(channel: &str) -> String {
    format!("bws:history:{channel}")
}

fn session_key(client: &str) -> String {
    format!("bws:session:{client}")
}

pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    hub: Arc<Hub>,
    instance: String,
    next_seq: AtomicU64,
    /// This instance's publishes that have not come back through the
    /// subscription yet: shutdown waits for them so they reach local
    /// subscribers before the sockets close.
    pending: Mutex<HashSet<u64>>,
    settled: Notify,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, password included: never print it.
        f.debug_struct("Redis")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects and subscribes before returning, so the server never
    /// announces itself while it could still miss messages.
    pub async fn connect(url: &str, hub: Arc<Hub>, instance: String) -> Result<Arc<Self>, String> {
        let shown = redact_url(url);
        let client =
            redis::Client::open(url).map_err(|e| format!("invalid Redis URL {shown}: {e}"))?;
        let fail = |e: redis::RedisError| format!("cannot connect to Redis at {shown}: {e}");
        // A plain connection first: it fails at once where the connection
        // manager would retry with backoff, and startup should fail fast.
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(fail)?;
        let conn = client.get_connection_manager().await.map_err(fail)?;
        let pubsub = subscribe(&client).await.map_err(fail)?;
        let redis = Arc::new(Self {
            client,
            conn,
            hub,
            instance,
            next_seq: AtomicU64::new(0),
            pending: Mutex::new(HashSet::new()),
            settled: Notify::new(),
        });
        tokio::spawn(Arc::clone(&redis).listen(pubsub, shown));
        Ok(redis)
    }

    fn pending(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settle(&self, seq: u64) {
        let mut pending = self.pending();
        if pending.remove(&seq) && pending.is_empty() {
            self.settled.notify_waiters();
        }
    }

    /// Delivers what arrives on the fan-out channel; resubscribes (with
    /// backoff) when the connection drops. Messages published while this
    /// instance is cut off from Redis are not delivered live to it; clients
    /// recover those on persistent channels through `lastId`.
    async fn listen(self: Arc<Self>, mut pubsub: PubSub, shown: String) {
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    self.receive(message.get_payload_bytes());
                }
            }
            tracing::warn!("lost the Redis subscription at {shown}; reconnecting");
            // Echoes of earlier publishes may never come now.
            self.pending().clear();
            self.settled.notify_waiters();
            let mut backoff = Duration::from_millis(100);
            pubsub = loop {
                tokio::time::sleep(backoff).await;
                match subscribe(&self.client).await {
                    Ok(pubsub) => break pubsub,
                    Err(e) => {
                        tracing::warn!("Redis at {shown} still unreachable: {e}");
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            };
            tracing::info!("resubscribed to Redis at {shown}");
        }
    }

    fn receive(&self, payload: &[u8]) {
        let Some(fanned) = std::str::from_utf8(payload).ok().and_then(Fanned::parse) else {
            tracing::debug!("ignoring a malformed message on {FANOUT}");
            return;
        };
        let delivery = Delivery {
            channel: fanned.channel.into(),
            id: fanned.id,
            frame: message_frame(fanned.channel, fanned.id, fanned.data, fanned.timestamp).into(),
        };
        self.hub.deliver(&delivery);
        if fanned.instance == self.instance {
            self.settle(fanned.seq);
        }
    }

    /// Publishes to every instance; persistent channels (`Some(history
    /// size)`) also get a stream entry, whose id the message carries.
    pub async fn publish(
        &self,
        channel: &str,
        persistent: Option<usize>,
        data: &RawValue,
        timestamp: u64,
    ) -> Result<Option<MsgId>, String> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.pending().insert(seq);
        let head = format!("{}\n{seq}\n{timestamp}\n", self.instance);
        let mut conn = self.conn.clone();
        let result = match persistent {
            Some(history) => redis::cmd("EVAL")
                .arg(PUBLISH_PERSISTENT)
                .arg(1)
                .arg(stream_key(channel))
                .arg(history)
                .arg(timestamp)
                .arg(data.get())
                .arg(FANOUT)
                .arg(head)
                .arg(channel)
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
                .and_then(|id| id.parse().map(Some)),
            None => redis::cmd("PUBLISH")
                .arg(FANOUT)
                .arg(format!("{head}\n{channel}\n{}", data.get()))
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| None)
                .map_err(|e| e.to_string()),
        };
        if result.is_err() {
            self.settle(seq);
        }
        result
    }

    /// Resolves once every publish of this instance has come back through
    /// the subscription (bounded by the caller).
    pub async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending().is_empty() {
                return;
            }
            notified.await;
        }
    }

    pub async fn tail(&self, channel: &str) -> Result<Option<MsgId>, String> {
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
            .arg(stream_key(channel))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())?;
        entries.first().map(|(id, _)| id.parse()).transpose()
    }

    /// Up to `limit` kept messages after `after`, oldest first.
    pub async fn after(
        &self,
        channel: &str,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Delivery>, String> {
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(stream_key(channel))
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())?;
        let shared: Arc<str> = channel.into();
        let mut out = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let id: MsgId = id.parse()?;
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|pair| pair[0] == name)
                    .and_then(|pair| pair.get(1))
            };
            let timestamp = field("t").and_then(|t| t.parse().ok()).unwrap_or(id.ms);
            let Some(data) = field("d").and_then(|d| serde_json::from_str::<&RawValue>(d).ok())
            else {
                continue;
            };
            out.push(Delivery {
                channel: Arc::clone(&shared),
                id: Some(id),
                frame: message_frame(channel, Some(id), data, timestamp).into(),
            });
        }
        Ok(out)
    }

    pub async fn park(
        &self,
        client: &str,
        state: &SessionState,
        ttl: Duration,
    ) -> Result<(), String> {
        let json = serde_json::to_string(state).map_err(|e| e.to_string())?;
        redis::cmd("SET")
            .arg(session_key(client))
            .arg(json)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn take(&self, client: &str) -> Result<Option<SessionState>, String> {
        let json: Option<String> = redis::cmd("GETDEL")
            .arg(session_key(client))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())?;
        match json {
            None => Ok(None),
            Some(json) => serde_json::from_str::<SessionState>(&json)
                .map(|mut state| {
                    state.dedup.reindex();
                    Some(state)
                })
                .map_err(|e| format!("unreadable parked session: {e}")),
        }
    }
}

async fn subscribe(client: &redis::Client) -> redis::RedisResult<PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(FANOUT).await?;
    Ok(pubsub)
}

/// One message as it travels through the fan-out channel.
#[derive(Debug)]
struct Fanned<'a> {
    instance: &'a str,
    seq: u64,
    timestamp: u64,
    id: Option<MsgId>,
    channel: &'a str,
    data: &'a RawValue,
}

impl<'a> Fanned<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, '\n');
        let instance = parts.next()?;
        let seq = parts.next()?.parse().ok()?;
        let timestamp = parts.next()?.parse().ok()?;
        let id = match parts.next()? {
            "" => None,
            id => Some(id.parse().ok()?),
        };
        let channel = parts.next()?;
        let data = serde_json::from_str(parts.next()?).ok()?;
        Some(Self {
            instance,
            seq,
            timestamp,
            id,
            channel,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanned_messages_parse_with_newlines_in_data() {
        let fanned = Fanned::parse("i1\n4\n99\n5-1\nchat\n{\"a\":\n1}").unwrap();
        assert_eq!(
            (fanned.instance, fanned.seq, fanned.timestamp),
            ("i1", 4, 99)
        );
        assert_eq!(fanned.id, Some(MsgId { ms: 5, seq: 1 }));
        assert_eq!((fanned.channel, fanned.data.get()), ("chat", "{\"a\":\n1}"));
        assert_eq!(Fanned::parse("i1\n4\n99\n\nchat\nnull").unwrap().id, None);
        for bad in [
            "",
            "i1\n4\n99\n\nchat",
            "i1\nx\n99\n\nc\n1",
            "i1\n4\n99\n\nc\n{",
        ] {
            assert!(Fanned::parse(bad).is_none(), "{bad:?}");
        }
    }
}
