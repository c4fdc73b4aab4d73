//! The one delivery path every broadcast takes, from a WebSocket or from
//! `POST /broadcast`: admission (closed during shutdown), id assignment and
//! history on persistent channels, and fan-out through the backend — this
//! process (memory) or every instance (Redis). Also the backend's history
//! reads and parked sessions, so callers never care which backend runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::hub::{Delivery, Hub};
use super::id::MsgId;
use super::memory::Memory;
use super::protocol::{now_ms, ErrorCode, ProtocolError};
use super::redis::Redis;
use super::resume::{Registry, SessionState};
use crate::config::ChannelLimits;

#[derive(Debug)]
enum Backend {
    Memory(Memory),
    Redis(Arc<Redis>),
}

/// Admission: open until shutdown; counts publishes under way.
#[derive(Debug)]
struct Gate {
    open: bool,
    in_flight: usize,
}

/// A broadcast the backend accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub id: Option<MsgId>,
    pub timestamp: u64,
}

#[derive(Debug)]
pub struct Broker {
    pub hub: Arc<Hub>,
    pub limits: ChannelLimits,
    pub registry: Registry,
    backend: Backend,
    gate: Mutex<Gate>,
    idle: Notify,
    /// Broadcasts accepted by this instance (WebSocket and HTTP).
    pub broadcasts: AtomicU64,
    /// `message` frames written to this instance's sockets.
    pub delivered: AtomicU64,
}

impl Broker {
    /// `redis_url`: connect to Redis (failing if it cannot); else in memory.
    pub async fn start(
        limits: ChannelLimits,
        redis_url: Option<&str>,
        instance: &str,
    ) -> Result<Self, String> {
        let hub = Arc::new(Hub::default());
        let backend = match redis_url {
            Some(url) => {
                Backend::Redis(Redis::connect(url, Arc::clone(&hub), instance.into()).await?)
            }
            None => Backend::Memory(Memory::default()),
        };
        Ok(Self {
            hub,
            limits,
            registry: Registry::default(),
            backend,
            gate: Mutex::new(Gate {
                open: true,
                in_flight: 0,
            }),
            idle: Notify::new(),
            broadcasts: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        })
    }

    pub fn mode(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts `data` for every subscriber of `channel`, in order.
    pub async fn publish(&self, channel: &str, data: &RawValue) -> Result<Accepted, ProtocolError> {
        let _ticket = Ticket::enter(self)?;
        let persistent = self
            .limits
            .is_persistent(channel)
            .then_some(self.limits.history_size);
        let timestamp = now_ms();
        let id = match &self.backend {
            Backend::Memory(memory) => {
                memory.publish(&self.hub, channel, persistent, data, timestamp)
            }
            Backend::Redis(redis) => redis
                .publish(channel, persistent, data, timestamp)
                .await
                .map_err(unavailable)?,
        };
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        Ok(Accepted { id, timestamp })
    }

    /// Stops admitting broadcasts and waits (up to `grace`) until those
    /// already admitted reached this instance's subscriber queues.
    pub async fn close(&self, grace: Duration) {
        self.gate().open = false;
        let drained = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.gate().in_flight == 0 {
                    break;
                }
                notified.await;
            }
            if let Backend::Redis(redis) = &self.backend {
                redis.settled().await;
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!("some broadcasts were still in flight at shutdown");
        }
    }

    /// The newest id of a persistent channel (`None` when empty).
    pub async fn tail(&self, channel: &str) -> Result<Option<MsgId>, ProtocolError> {
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.tail(channel)),
            Backend::Redis(redis) => redis.tail(channel).await.map_err(unavailable),
        }
    }

    /// Kept messages of a persistent channel after `after`, oldest first.
    pub async fn replay(
        &self,
        channel: &str,
        after: MsgId,
    ) -> Result<Vec<Delivery>, ProtocolError> {
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.after(channel, after)),
            Backend::Redis(redis) => redis
                .after(channel, after, self.limits.history_size)
                .await
                .map_err(unavailable),
        }
    }

    pub async fn park(&self, client: &str, state: SessionState) {
        let ttl = self.limits.resume_ttl;
        match &self.backend {
            Backend::Memory(memory) => memory.park(client, state, ttl),
            Backend::Redis(redis) => {
                if let Err(e) = redis.park(client, &state, ttl).await {
                    tracing::warn!("could not park a session in Redis: {e}");
                }
            }
        }
    }

    pub async fn take(&self, client: &str) -> Option<SessionState> {
        match &self.backend {
            Backend::Memory(memory) => memory.take(client),
            Backend::Redis(redis) => redis.take(client).await.unwrap_or_else(|e| {
                tracing::warn!("could not read a parked session from Redis: {e}");
                None
            }),
        }
    }
}

fn unavailable(error: String) -> ProtocolError {
    tracing::warn!("Redis request failed: {error}");
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the message backend is unavailable; retry later",
    )
}

/// One admitted publish; leaving (also by cancellation) wakes `close`.
struct Ticket<'a>(&'a Broker);

impl<'a> Ticket<'a> {
    fn enter(broker: &'a Broker) -> Result<Self, ProtocolError> {
        let mut gate = broker.gate();
        if !gate.open {
            return Err(ProtocolError::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down; reconnect to another instance",
            ));
        }
        gate.in_flight += 1;
        Ok(Self(broker))
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut gate = self.0.gate();
        gate.in_flight -= 1;
        if gate.in_flight == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publish_reaches_subscribers_until_closed() {
        let broker = Broker::start(ChannelLimits::default(), None, "t")
            .await
            .unwrap();
        let (member, mut inbox) = broker.hub.join(8);
        member.subscribe("persistent:x");
        let data = RawValue::from_string("1".into()).unwrap();
        let accepted = broker.publish("persistent:x", &data).await.unwrap();
        assert!(accepted.id.is_some());
        assert_eq!(inbox.try_recv().unwrap().id, accepted.id);
        assert_eq!(broker.publish("plain", &data).await.unwrap().id, None);
        broker.close(Duration::from_secs(1)).await;
        let refused = broker.publish("plain", &data).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::ShuttingDown);
    }
}
