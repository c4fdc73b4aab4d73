//! This instance's subscribers: which connection listens to which channel,
//! and delivery of a message to every local subscriber of its channel.
//!
//! Each connection has a bounded queue. Delivery never waits on a socket: a
//! connection whose queue is full is cut off from further deliveries (its
//! queue then ends, and the session closes it as a slow consumer), so one
//! stalled reader cannot hold up a channel or grow memory without bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use super::id::MsgId;

/// One message on its way to subscribers: the frame is encoded once and
/// shared (reference-counted) by every queue it sits in.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub channel: Arc<str>,
    /// Set on persistent channels; orders replay against live delivery.
    pub id: Option<MsgId>,
    pub frame: Utf8Bytes,
}

pub type ConnId = u64;

#[derive(Debug)]
struct Conn {
    tx: mpsc::Sender<Delivery>,
    channels: HashSet<Arc<str>>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: ConnId,
    conns: HashMap<ConnId, Conn>,
    channels: HashMap<Arc<str>, HashSet<ConnId>>,
}

#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below leaves the maps consistent before it can
        // panic, so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection with a queue of `capacity` messages; it stays
    /// registered until the returned [`Member`] is dropped.
    pub fn join(self: &Arc<Self>, capacity: usize) -> (Member, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(capacity);
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(
            id,
            Conn {
                tx,
                channels: HashSet::new(),
            },
        );
        let member = Member {
            hub: Arc::clone(self),
            id,
        };
        (member, rx)
    }

    /// Delivers to every local subscriber of the message's channel; returns
    /// how many queues took it.
    pub fn deliver(&self, delivery: &Delivery) -> usize {
        let mut inner = self.lock();
        let Some(subscribers) = inner.channels.get(&delivery.channel) else {
            return 0;
        };
        let mut delivered = 0;
        let mut slow = Vec::new();
        for id in subscribers {
            match inner.conns.get(id).map(|c| c.tx.try_send(delivery.clone())) {
                Some(Ok(())) => delivered += 1,
                Some(Err(mpsc::error::TrySendError::Full(_))) => slow.push(*id),
                // Closed: the session is ending and will leave on its own.
                Some(Err(mpsc::error::TrySendError::Closed(_))) | None => {}
            }
        }
        for id in slow {
            inner.remove(id);
        }
        delivered
    }

    /// Subscriber count per channel, for `/stats`.
    pub fn subscriptions(&self) -> BTreeMap<String, usize> {
        self.lock()
            .channels
            .iter()
            .map(|(name, subs)| (name.to_string(), subs.len()))
            .collect()
    }
}

impl Inner {
    fn remove(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        for channel in conn.channels {
            if let Some(subs) = self.channels.get_mut(&channel) {
                subs.remove(&id);
                if subs.is_empty() {
                    self.channels.remove(&channel);
                }
            }
        }
    }
}

/// A connection's registration; dropping it unsubscribes everything.
#[derive(Debug)]
pub struct Member {
    hub: Arc<Hub>,
    id: ConnId,
}

impl Member {
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Adds a subscription; false if it already existed or if the hub cut
    /// this connection off as a slow consumer.
    pub fn subscribe(&self, channel: &str) -> bool {
        let mut inner = self.hub.lock();
        let channel: Arc<str> = match inner.channels.get_key_value(channel) {
            Some((name, _)) => Arc::clone(name),
            None => channel.into(),
        };
        let Some(conn) = inner.conns.get_mut(&self.id) else {
            return false;
        };
        if !conn.channels.insert(Arc::clone(&channel)) {
            return false;
        }
        inner.channels.entry(channel).or_default().insert(self.id);
        true
    }

    /// Removes a subscription; false if there was none.
    pub fn unsubscribe(&self, channel: &str) -> bool {
        let mut inner = self.hub.lock();
        let Some(conn) = inner.conns.get_mut(&self.id) else {
            return false;
        };
        if !conn.channels.remove(channel) {
            return false;
        }
        if let Some(subs) = inner.channels.get_mut(channel) {
            subs.remove(&self.id);
            if subs.is_empty() {
                inner.channels.remove(channel);
            }
        }
        true
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.hub.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(channel: &str, text: &str) -> Delivery {
        Delivery {
            channel: channel.into(),
            id: None,
            frame: text.into(),
        }
    }

    #[test]
    fn delivers_to_subscribers_of_the_channel_only() {
        let hub = Arc::new(Hub::default());
        let (a, mut a_rx) = hub.join(8);
        let (b, mut b_rx) = hub.join(8);
        assert!(a.subscribe("x"));
        assert!(!a.subscribe("x"), "already subscribed");
        assert!(b.subscribe("y"));
        assert_eq!(hub.deliver(&delivery("x", "1")), 1);
        assert_eq!(a_rx.try_recv().unwrap().frame.as_str(), "1");
        assert!(b_rx.try_recv().is_err());
        assert_eq!(
            hub.subscriptions(),
            BTreeMap::from([("x".into(), 1), ("y".into(), 1)])
        );
        assert!(a.unsubscribe("x"));
        assert!(!a.unsubscribe("x"));
        assert_eq!(hub.deliver(&delivery("x", "2")), 0);
        drop(b);
        assert!(hub.subscriptions().is_empty());
    }

    #[test]
    fn a_full_queue_cuts_the_slow_consumer_off() {
        let hub = Arc::new(Hub::default());
        let (slow, mut slow_rx) = hub.join(2);
        let (fast, mut fast_rx) = hub.join(8);
        slow.subscribe("x");
        fast.subscribe("x");
        for i in 0..3 {
            hub.deliver(&delivery("x", &i.to_string()));
            fast_rx.try_recv().unwrap();
        }
        // The two queued messages drain, then the queue reports its end.
        assert!(slow_rx.try_recv().is_ok() && slow_rx.try_recv().is_ok());
        assert!(matches!(
            slow_rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(!slow.subscribe("y"), "cut off for good");
        assert_eq!(hub.subscriptions(), BTreeMap::from([("x".into(), 1)]));
    }
}
