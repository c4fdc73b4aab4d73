//! Per-client guards, with time passed in so they test without clocks: a
//! token bucket for the request rate and a window of recently seen
//! `messageId`s for duplicate suppression.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Classic token bucket: `rate` tokens per second up to `burst`; each client
/// frame costs one. A full bucket lets a reconnecting client catch up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Most ids remembered per client, so a client minting ids in a loop cannot
/// grow server memory without bound; the oldest are forgotten first.
pub const DEDUP_MAX_IDS: usize = 1024;

/// `messageId`s a client used within the window. Times are milliseconds on
/// the wall clock so a parked session can move between instances (Redis).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dedup {
    /// (id, first seen at) in arrival order.
    order: VecDeque<(String, u64)>,
    #[serde(skip)]
    index: HashMap<String, u64>,
}

impl Dedup {
    /// Records `id` at `now_ms`; false when it was already seen within `window`.
    pub fn first_sighting(&mut self, id: &str, now_ms: u64, window: Duration) -> bool {
        self.expire(now_ms, window);
        if self.index.contains_key(id) {
            return false;
        }
        if self.order.len() >= DEDUP_MAX_IDS {
            if let Some((old, _)) = self.order.pop_front() {
                self.index.remove(&old);
            }
        }
        self.order.push_back((id.to_owned(), now_ms));
        self.index.insert(id.to_owned(), now_ms);
        true
    }

    /// Forgets a sighting, so a request that failed (e.g. Redis down) can be
    /// retried with the same id.
    pub fn forget(&mut self, id: &str) {
        if self.index.remove(id).is_some() {
            self.order.retain(|(other, _)| other != id);
        }
    }

    fn expire(&mut self, now_ms: u64, window: Duration) {
        let window = window.as_millis() as u64;
        while let Some((id, seen)) = self.order.front() {
            if now_ms.saturating_sub(*seen) < window {
                break;
            }
            self.index.remove(id);
            self.order.pop_front();
        }
    }

    /// Rebuilds the lookup table after deserializing.
    pub fn reindex(&mut self) {
        self.index = self.order.iter().cloned().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3.0, t0);
        assert!((0..3).all(|_| bucket.try_take(t0)));
        assert!(!bucket.try_take(t0));
        assert!(!bucket.try_take(t0 + Duration::from_millis(50)));
        assert!(bucket.try_take(t0 + Duration::from_millis(100)));
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn dedup_within_window_only() {
        let window = Duration::from_millis(1000);
        let mut dedup = Dedup::default();
        assert!(dedup.first_sighting("a", 0, window));
        assert!(!dedup.first_sighting("a", 999, window));
        assert!(dedup.first_sighting("b", 999, window));
        assert!(dedup.first_sighting("a", 1000, window), "expired");
        dedup.forget("b");
        assert!(dedup.first_sighting("b", 1001, window));
    }

    #[test]
    fn dedup_is_bounded_and_survives_serialization() {
        let window = Duration::from_secs(60);
        let mut dedup = Dedup::default();
        for i in 0..=DEDUP_MAX_IDS {
            assert!(dedup.first_sighting(&i.to_string(), 0, window));
        }
        assert!(dedup.first_sighting("0", 0, window), "oldest forgotten");
        let mut copy: Dedup =
            serde_json::from_str(&serde_json::to_string(&dedup).unwrap()).unwrap();
        copy.reindex();
        assert!(!copy.first_sighting("5", 1, window));
    }
}
