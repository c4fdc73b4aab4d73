//! Who holds each `clientId`, and the hand-over of a session's state when
//! the client comes back: from the live connection it replaces (a client
//! usually reconnects before the server has noticed the old socket died),
//! or from the parked copy its previous connection left at the backend.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::hub::ConnId;
use super::id::MsgId;
use super::limits::Dedup;

/// What survives a reconnect with the same `clientId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub subscriptions: Vec<String>,
    /// Per persistent channel: everything up to this id was written to the
    /// client's socket or predates its subscription. Replay starts after it.
    pub marks: HashMap<String, MsgId>,
    #[serde(default)]
    pub dedup: Dedup,
}

/// A claimant's request for the state of the connection it replaces.
pub type Handover = oneshot::Sender<SessionState>;

#[derive(Debug)]
enum Holder {
    Active {
        conn: ConnId,
        kick: mpsc::UnboundedSender<Handover>,
    },
    /// The previous connection is writing its state to the backend; a
    /// claimant waits for that before it looks there.
    Parking { done: watch::Receiver<bool> },
}

/// Where a new connection's state will come from.
#[derive(Debug)]
pub enum Prior {
    Fresh,
    /// Handed over by the live connection being replaced.
    Live(oneshot::Receiver<SessionState>),
    /// Parked at the backend once this resolves.
    Parking(watch::Receiver<bool>),
}

#[derive(Debug)]
pub struct Claim {
    /// Take-over requests from later connections with the same client id.
    pub kicks: mpsc::UnboundedReceiver<Handover>,
    pub prior: Prior,
}

#[derive(Debug)]
pub enum Release {
    /// Still the holder: park the state, then call [`Registry::parked`].
    Park(watch::Sender<bool>),
    /// A newer connection took the client id: answer its kick instead.
    TakenOver,
}

#[derive(Debug, Default)]
pub struct Registry {
    holders: Mutex<HashMap<String, Holder>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Holder>> {
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `conn` the holder of `client`, asking any live holder to hand
    /// its state over.
    pub fn claim(&self, client: &str, conn: ConnId) -> Claim {
        let (kick, kicks) = mpsc::unbounded_channel();
        let previous = self
            .lock()
            .insert(client.to_owned(), Holder::Active { conn, kick });
        let prior = match previous {
            None => Prior::Fresh,
            Some(Holder::Parking { done }) => Prior::Parking(done),
            Some(Holder::Active { kick, .. }) => {
                let (handover, state) = oneshot::channel();
                match kick.send(handover) {
                    Ok(()) => Prior::Live(state),
                    // It ended without releasing (a panic): nothing to hand over.
                    Err(_) => Prior::Fresh,
                }
            }
        };
        Claim { kicks, prior }
    }

    /// Called by `conn` as it ends.
    pub fn release(&self, client: &str, conn: ConnId) -> Release {
        let mut holders = self.lock();
        match holders.get(client) {
            Some(Holder::Active { conn: holder, .. }) if *holder == conn => {
                let (done_tx, done) = watch::channel(false);
                holders.insert(client.to_owned(), Holder::Parking { done });
                Release::Park(done_tx)
            }
            _ => Release::TakenOver,
        }
    }

    /// The parked state is at the backend: a claimant may look for it.
    pub fn parked(&self, client: &str, done: watch::Sender<bool>) {
        let mut holders = self.lock();
        // Unless a claimant already took the client id over meanwhile.
        if matches!(holders.get(client), Some(Holder::Parking { done: d }) if d.same_channel(&done.subscribe()))
        {
            holders.remove(client);
        }
        done.send_replace(true);
    }

    #[cfg(test)]
    fn holds(&self, client: &str) -> bool {
        self.lock().contains_key(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_claim_then_park() {
        let registry = Registry::default();
        let claim = registry.claim("c", 1);
        assert!(matches!(claim.prior, Prior::Fresh));
        let Release::Park(done) = registry.release("c", 1) else {
            panic!("holder should park")
        };
        let later = registry.claim("c", 2);
        let Prior::Parking(mut waiting) = later.prior else {
            panic!("should wait for parking")
        };
        registry.parked("c", done);
        assert!(*waiting.borrow_and_update());
        assert!(registry.holds("c"), "the new holder stays");
    }

    #[tokio::test]
    async fn live_holder_hands_over() {
        let registry = Registry::default();
        let mut old = registry.claim("c", 1);
        let new = registry.claim("c", 2);
        let Prior::Live(state) = new.prior else {
            panic!("should ask the live holder")
        };
        assert!(matches!(registry.release("c", 1), Release::TakenOver));
        let handover = old.kicks.try_recv().expect("kicked");
        let sent = SessionState {
            subscriptions: vec!["x".into()],
            ..SessionState::default()
        };
        handover.send(sent.clone()).unwrap();
        assert_eq!(state.await.unwrap(), sent);
    }

    #[test]
    fn parking_without_claimant_frees_the_id() {
        let registry = Registry::default();
        registry.claim("c", 1);
        let Release::Park(done) = registry.release("c", 1) else {
            panic!("holder should park")
        };
        registry.parked("c", done);
        assert!(!registry.holds("c"));
    }
}
