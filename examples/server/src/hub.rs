//! Registry of connected `/echo` clients: fans broadcasts out to them and
//! carries the server-wide shutdown flag they all watch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Message;
use tokio::sync::{mpsc, watch};

#[derive(Debug)]
pub struct Hub {
    next_id: AtomicU64,
    // Unbounded queues: a broadcast must never block on one slow client, and
    // this is a local test server, so memory growth is not a concern.
    clients: Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            next_id: AtomicU64::new(0),
            clients: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
        }
    }
}

impl Hub {
    fn clients(&self) -> MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<Message>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a client; it stays registered until the membership is dropped.
    pub fn join(self: &Arc<Self>) -> Membership {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.clients().insert(id, tx);
        Membership {
            hub: Arc::clone(self),
            id,
            inbox: rx,
        }
    }

    /// Queues `message` to every registered client; returns how many took it.
    pub fn broadcast(&self, message: &Message) -> usize {
        self.clients()
            .values()
            .filter(|tx| tx.send(message.clone()).is_ok())
            .count()
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver whose value turns `true` once shutdown has begun.
    pub fn shutdown_flag(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// A client's place in the hub; dropping it unregisters the client.
#[derive(Debug)]
pub struct Membership {
    hub: Arc<Hub>,
    id: u64,
    /// Broadcast messages queued for this client.
    pub inbox: mpsc::UnboundedReceiver<Message>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.clients().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_reaches_members_until_they_leave() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.join();
        let b = hub.join();
        assert_eq!(hub.broadcast(&Message::text("hi")), 2);
        assert_eq!(a.inbox.try_recv().unwrap(), Message::text("hi"));
        drop(b);
        assert_eq!(hub.broadcast(&Message::text("again")), 1);
    }
}
