//! The embedded backend (no `REDIS_URL`): one instance, with history and
//! parked sessions kept in this process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::hub::{Delivery, Hub};
use super::id::MsgId;
use super::protocol::message_frame;
use super::resume::SessionState;

#[derive(Debug, Default)]
struct Log {
    last: Option<MsgId>,
    entries: VecDeque<Delivery>,
}

#[derive(Debug, Default)]
pub struct Memory {
    /// Persistent channels' recent messages. Publishing holds this lock while
    /// it delivers, which is what orders messages the same way for everyone.
    logs: Mutex<HashMap<String, Log>>,
    parked: Mutex<HashMap<String, (SessionState, Instant)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics half-way through an update.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Memory {
    /// Assigns the id (persistent channels), records, and delivers locally.
    pub fn publish(
        &self,
        hub: &Hub,
        channel: &str,
        persistent: Option<usize>,
        data: &RawValue,
        timestamp: u64,
    ) -> Option<MsgId> {
        let mut logs = lock(&self.logs);
        let id = persistent.map(|_| {
            let log = logs.entry(channel.to_owned()).or_default();
            let id = MsgId::next(log.last, timestamp);
            log.last = Some(id);
            id
        });
        let delivery = Delivery {
            channel: channel.into(),
            id,
            frame: message_frame(channel, id, data, timestamp).into(),
        };
        if let (Some(capacity), Some(log)) = (persistent, logs.get_mut(channel)) {
            if log.entries.len() >= capacity {
                log.entries.pop_front();
            }
            log.entries.push_back(delivery.clone());
        }
        hub.deliver(&delivery);
        id
    }

    /// The newest id on `channel`, if it ever had a message.
    pub fn tail(&self, channel: &str) -> Option<MsgId> {
        lock(&self.logs).get(channel).and_then(|log| log.last)
    }

    /// Kept messages with an id above `after`, oldest first.
    pub fn after(&self, channel: &str, after: MsgId) -> Vec<Delivery> {
        let logs = lock(&self.logs);
        let Some(log) = logs.get(channel) else {
            return Vec::new();
        };
        let start = log
            .entries
            .partition_point(|d| d.id.is_some_and(|id| id <= after));
        log.entries.range(start..).cloned().collect()
    }

    pub fn park(&self, client: &str, state: SessionState, ttl: Duration) {
        let now = Instant::now();
        let mut parked = lock(&self.parked);
        // Sweep here rather than on a timer: parking is when the map grows.
        parked.retain(|_, (_, expires)| *expires > now);
        parked.insert(client.to_owned(), (state, now + ttl));
    }

    pub fn take(&self, client: &str) -> Option<SessionState> {
        let (state, expires) = lock(&self.parked).remove(client)?;
        (expires > Instant::now()).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.into()).unwrap()
    }

    #[test]
    fn history_is_capped_ordered_and_replayable() {
        let memory = Memory::default();
        let hub = Arc::new(Hub::default());
        let ids: Vec<MsgId> = (0..4)
            .map(|i| {
                memory
                    .publish(&hub, "p", Some(3), &raw(&i.to_string()), 100)
                    .unwrap()
            })
            .collect();
        assert_eq!(ids[3].to_string(), "100-3");
        assert_eq!(memory.tail("p"), Some(ids[3]));
        let after: Vec<_> = memory
            .after("p", ids[1])
            .into_iter()
            .map(|d| d.id.unwrap())
            .collect();
        assert_eq!(after, &ids[2..]);
        // The oldest fell out of the cap of 3.
        assert_eq!(memory.after("p", MsgId { ms: 0, seq: 0 }).len(), 3);
        assert_eq!(memory.publish(&hub, "plain", None, &raw("1"), 100), None);
        assert!(memory.after("plain", MsgId { ms: 0, seq: 0 }).is_empty());
    }

    #[test]
    fn parked_sessions_expire() {
        let memory = Memory::default();
        memory.park("a", SessionState::default(), Duration::from_secs(60));
        memory.park("b", SessionState::default(), Duration::ZERO);
        assert!(memory.take("a").is_some());
        assert!(memory.take("a").is_none(), "taken once");
        assert!(memory.take("b").is_none(), "expired");
    }
}
