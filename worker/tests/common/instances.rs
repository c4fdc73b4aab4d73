//! The instances as their users see them: every event a tab's driver
//! delivers is checked against the lifecycle of a `WebSocket` and the
//! leadership the instance knows, then recorded.

use bws_core::{CloseInfo, Event, Leadership};

use super::browser::Cause;
use super::world::World;
use super::{InstanceId, Pl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Open,
    /// Got its final close.
    Closed,
    /// Disconnected, or its tab died.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub tab: usize,
    pub scope: String,
    pub phase: Phase,
    /// `close()` was called, with this code and reason.
    pub closing: Option<(Option<u16>, String)>,
    pub leadership: Option<Leadership>,
    /// How many times it opened.
    pub session: u32,
    /// Server broadcasts received, with the session they arrived in.
    pub received: Vec<(u32, u32)>,
    pub other_received: Vec<Pl>,
    /// Sends acknowledged (the next send's number).
    pub sent: u32,
    /// Per send, by number: when it was made, and the tab's sends in doubt
    /// then, as the instance knew them.
    pub sent_at: Vec<(u64, u32)>,
    pub reconnects: u32,
    pub errors: u32,
    pub final_close: Option<CloseInfo>,
    pub events: Vec<(u64, Event<Pl>)>,
}

impl Instance {
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }
}

impl World {
    pub(super) fn deliver(&mut self, tab: usize, to: InstanceId, event: Event<Pl>, cause: &Cause) {
        let id = self.tabs[tab].id.clone();
        let Some(instance) = self.instances.get(&to) else {
            self.fail(format!("{id} delivers to unknown #{to}"));
        };
        if instance.tab != tab {
            self.fail(format!("{id} delivers to #{to} of another tab"));
        }
        let phase = instance.phase;
        let scope = instance.scope.clone();
        let leadership = instance.leadership.clone();
        self.note(format!("[{id}] #{to} <- {event:?}"));
        if matches!(phase, Phase::Closed | Phase::Gone) {
            self.fail(format!("#{to} gets {event:?} in phase {phase:?}"));
        }
        let mut next = phase;
        match &event {
            Event::Leadership(_) => {}
            Event::Open { .. } => {
                if phase != Phase::Connecting {
                    self.fail(format!("#{to} opens in phase {phase:?}"));
                }
                next = Phase::Open;
            }
            Event::Message(_) => {
                if phase != Phase::Open {
                    self.fail(format!("#{to} gets a message in phase {phase:?}"));
                }
                // The message comes from the leadership the instance knows.
                let (leader, epoch) = leadership
                    .as_ref()
                    .map(|l| (l.leader_id.clone(), l.epoch))
                    .unwrap_or((None, 0));
                match cause {
                    Cause::Bus {
                        from,
                        epoch: e,
                        body,
                    } => {
                        if *body != "In" || leader.as_ref() != Some(from) || epoch != *e {
                            self.fail(format!(
                                "#{to} delivers {body} of {from} e{e} while following {leader:?} e{epoch}"
                            ));
                        }
                    }
                    Cause::Socket(socket) => {
                        let lead = self.tabs[tab].leading.get(&scope).cloned();
                        let ok = lead.as_ref().is_some_and(|l| l.socket == Some(*socket))
                            && leader.as_deref() == Some(id.as_str())
                            && lead.and_then(|l| l.epoch).is_none_or(|e| e == epoch);
                        if !ok {
                            self.fail(format!(
                                "#{to} delivers a message of socket {} it does not lead",
                                socket.0
                            ));
                        }
                    }
                    _ => self.fail(format!("#{to} gets a message on {cause:?}")),
                }
            }
            Event::Error => {}
            Event::Closed {
                reconnecting: true, ..
            } => {
                if phase != Phase::Open {
                    self.fail(format!("#{to} reconnects in phase {phase:?}"));
                }
                next = Phase::Connecting;
            }
            Event::Closed {
                reconnecting: false,
                ..
            } => next = Phase::Closed,
        }
        let now = self.now;
        let instance = self.instances.get_mut(&to).unwrap();
        instance.phase = next;
        match &event {
            Event::Leadership(l) => instance.leadership = Some(l.clone()),
            Event::Open { .. } => instance.session += 1,
            Event::Message(Pl::Down { seq }) => {
                let session = instance.session;
                // Once per session, and in order unless the bus reorders.
                let mut seen = instance
                    .received
                    .iter()
                    .rev()
                    .take_while(|(s, _)| *s == session);
                let bad = if self.cfg.net.full_reorder {
                    seen.any(|(_, last)| last == seq)
                } else {
                    seen.next().is_some_and(|(_, last)| last >= seq)
                };
                if bad {
                    self.fail(format!(
                        "#{to} got server message {seq} again or out of order in one session"
                    ));
                }
                self.instances
                    .get_mut(&to)
                    .unwrap()
                    .received
                    .push((session, *seq));
            }
            Event::Message(other) => instance.other_received.push(other.clone()),
            Event::Error => instance.errors += 1,
            Event::Closed {
                reconnecting: true, ..
            } => instance.reconnects += 1,
            Event::Closed { info, .. } => instance.final_close = Some(info.clone()),
        }
        self.instances
            .get_mut(&to)
            .unwrap()
            .events
            .push((now, event));
    }

    // ------------------------------------------------------------ queries

    /// Instances whose tab is alive and that have not finished.
    pub fn live_instances(&self, scope: &str) -> Vec<InstanceId> {
        self.instances
            .iter()
            .filter(|(_, i)| i.scope == scope && matches!(i.phase, Phase::Connecting | Phase::Open))
            .filter(|(_, i)| self.tabs[i.tab].alive)
            .map(|(&id, _)| id)
            .collect()
    }

    pub fn events(&self, instance: InstanceId) -> &[(u64, Event<Pl>)] {
        &self.instances[&instance].events
    }

    /// The instance's events without leadership reports, for comparisons.
    pub fn lifecycle(&self, instance: InstanceId) -> Vec<Event<Pl>> {
        self.instances[&instance]
            .events
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Leadership(_)))
            .map(|(_, e)| e.clone())
            .collect()
    }

    pub fn instance(&self, instance: InstanceId) -> &Instance {
        &self.instances[&instance]
    }
}
