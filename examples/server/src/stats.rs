//! Connection and message counters behind `GET /stats` (one set for the echo
//! endpoints, one for `/ws`), plus an RAII guard that keeps the
//! open-connection count honest on every exit path of a socket task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

/// Lock-free counters shared by every connection task and HTTP handler.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    total_connections: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    /// Woken whenever the open-connection count drops to zero, so shutdown can
    /// wait for sockets to finish their closing handshake without polling.
    idle: Notify,
}

/// The JSON body of `GET /stats`; field names are part of the test contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub connections: u64,
    pub total_connections: u64,
    pub messages_in: u64,
    pub messages_out: u64,
}

impl Stats {
    /// Counts a connection as open until the returned guard is dropped. Tying
    /// the decrement to `Drop` covers normal closes, errors, `__bws:drop`,
    /// shutdown and panics alike.
    pub fn open_connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.total_connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard {
            stats: Arc::clone(self),
        }
    }

    pub fn message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    pub fn message_out(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connections: self.connections.load(Ordering::SeqCst),
            total_connections: self.total_connections.load(Ordering::SeqCst),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
        }
    }

    /// Resolves once no WebSocket connection is open.
    pub async fn wait_idle(&self) {
        loop {
            // Register interest before checking, otherwise a decrement landing
            // between the check and the await would be missed.
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.connections.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Decrements the open-connection count when dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    stats: Arc<Stats>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.stats.connections.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.stats.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_tracks_open_and_total() {
        let stats = Arc::new(Stats::default());
        let a = stats.open_connection();
        let b = stats.open_connection();
        assert_eq!(stats.snapshot().connections, 2);
        drop(a);
        assert_eq!(stats.snapshot().connections, 1);
        drop(b);
        let snap = stats.snapshot();
        assert_eq!((snap.connections, snap.total_connections), (0, 2));
    }

    #[test]
    fn snapshot_uses_camel_case() {
        let json = serde_json::to_value(Stats::default().snapshot()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "connections": 0, "totalConnections": 0, "messagesIn": 0, "messagesOut": 0
            })
        );
    }

    #[tokio::test]
    async fn wait_idle_wakes_on_last_close() {
        let stats = Arc::new(Stats::default());
        let guard = stats.open_connection();
        let waiter = tokio::spawn({
            let stats = Arc::clone(&stats);
            async move { stats.wait_idle().await }
        });
        drop(guard);
        waiter.await.unwrap();
    }
}
