//! The simulated seams. Each records what the driver asked of the browser,
//! in the order it asked, as a [`Call`]; the world then carries the calls out
//! the way a browser would (and checks them). Time is the world's clock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use bws_core::seams::Refused;
use bws_core::{
    Bus, BusMessage, Clock, Driver, Event, Instances, Locks, Seams, SocketId, Transport,
};

use super::{InstanceId, Pl};

/// One call of the driver on a seam.
#[derive(Debug)]
pub enum Call {
    OpenSocket {
        socket: SocketId,
        url: String,
    },
    /// The socket's constructor threw: the driver reports the failure itself.
    OpenRefused {
        socket: SocketId,
        url: String,
    },
    Transmit {
        socket: SocketId,
        payload: Pl,
    },
    CloseSocket {
        socket: SocketId,
        code: Option<u16>,
        reason: String,
    },
    OpenBus {
        scope: String,
    },
    Post {
        scope: String,
        message: BusMessage<Pl>,
    },
    CloseBus {
        scope: String,
    },
    RequestLock {
        scope: String,
        ticket: u64,
        steal: bool,
    },
    ReleaseLock {
        scope: String,
    },
    Ack {
        to: InstanceId,
    },
    PingPage {
        via: InstanceId,
    },
    Resolve {
        via: InstanceId,
    },
    Deliver {
        to: InstanceId,
        event: Event<Pl>,
    },
    Log {
        scope: String,
        line: String,
    },
}

/// A tab's calls, in order, not yet carried out.
pub type Calls = Rc<RefCell<VecDeque<Call>>>;

/// What a bus channel carries: a message, or anything else another library
/// (or version) may post.
#[derive(Debug, Clone)]
pub enum Wire {
    Message(BusMessage<Pl>),
    Junk(&'static str),
}

/// Sockets. The constructor throws for a URL that is not `ws:`/`wss:`.
#[derive(Debug)]
pub struct SimTransport(pub Calls);

impl Transport<Pl> for SimTransport {
    fn open(&mut self, socket: SocketId, url: &str, _protocols: &[String]) -> Result<(), Refused> {
        let url = url.to_owned();
        if url.starts_with("ws:") || url.starts_with("wss:") {
            self.0
                .borrow_mut()
                .push_back(Call::OpenSocket { socket, url });
            Ok(())
        } else {
            self.0
                .borrow_mut()
                .push_back(Call::OpenRefused { socket, url });
            Err(Refused)
        }
    }

    fn send(&mut self, socket: SocketId, payload: Pl) {
        self.0
            .borrow_mut()
            .push_back(Call::Transmit { socket, payload });
    }

    fn close(&mut self, socket: SocketId, code: Option<u16>, reason: &str) {
        let reason = reason.to_owned();
        self.0.borrow_mut().push_back(Call::CloseSocket {
            socket,
            code,
            reason,
        });
    }

    fn forget(&mut self, _socket: SocketId) {}
}

/// The bus.
#[derive(Debug)]
pub struct SimBus(pub Calls);

impl Bus<Pl> for SimBus {
    type Raw = Wire;

    fn open(&mut self, scope: &str) {
        let scope = scope.to_owned();
        self.0.borrow_mut().push_back(Call::OpenBus { scope });
    }

    fn post(&mut self, scope: &str, message: &BusMessage<Pl>) {
        let (scope, message) = (scope.to_owned(), message.clone());
        self.0.borrow_mut().push_back(Call::Post { scope, message });
    }

    fn close(&mut self, scope: &str) {
        let scope = scope.to_owned();
        self.0.borrow_mut().push_back(Call::CloseBus { scope });
    }

    fn decode(&self, raw: Wire) -> Option<BusMessage<Pl>> {
        match raw {
            Wire::Message(message) => Some(message),
            Wire::Junk(_) => None,
        }
    }
}

/// The lock manager.
#[derive(Debug)]
pub struct SimLocks(pub Calls);

impl Locks for SimLocks {
    fn request(&mut self, scope: &str, ticket: u64, steal: bool) {
        let scope = scope.to_owned();
        self.0.borrow_mut().push_back(Call::RequestLock {
            scope,
            ticket,
            steal,
        });
    }

    fn release(&mut self, scope: &str) {
        let scope = scope.to_owned();
        self.0.borrow_mut().push_back(Call::ReleaseLock { scope });
    }
}

/// The world's virtual clock, and the tab's alarm.
#[derive(Debug)]
pub struct SimClock {
    pub now: Rc<Cell<u64>>,
    pub alarm: Rc<Cell<Option<u64>>>,
}

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.now.get()
    }

    fn wake_at(&mut self, at: Option<u64>) {
        self.alarm.set(at);
    }
}

/// The tab's instances.
#[derive(Debug)]
pub struct SimInstances(pub Calls);

impl Instances<InstanceId, Pl> for SimInstances {
    fn deliver(&mut self, to: InstanceId, event: Event<Pl>) {
        self.0.borrow_mut().push_back(Call::Deliver { to, event });
    }

    fn ack(&mut self, to: InstanceId) {
        self.0.borrow_mut().push_back(Call::Ack { to });
    }

    fn ping_page(&mut self, via: InstanceId) {
        self.0.borrow_mut().push_back(Call::PingPage { via });
    }

    fn resolve(&mut self, via: InstanceId) {
        self.0.borrow_mut().push_back(Call::Resolve { via });
    }

    fn log(&mut self, _tab: &str, scope: &str, line: &str) {
        let (scope, line) = (scope.to_owned(), line.to_owned());
        self.0.borrow_mut().push_back(Call::Log { scope, line });
    }
}

/// A simulated tab's driver.
pub type SimDriver = Driver<InstanceId, Pl, Sim>;

/// When a tab's clock wakes it, if ever.
pub type Alarm = Rc<Cell<Option<u64>>>;

/// The simulated seams, named once.
#[derive(Debug)]
pub enum Sim {}

impl Seams<InstanceId, Pl> for Sim {
    type Transport = SimTransport;
    type Bus = SimBus;
    type Locks = SimLocks;
    type Clock = SimClock;
    type Instances = SimInstances;
}

/// A simulated tab's driver, with the calls it makes and its alarm.
pub fn sim_driver(id: String, now: &Rc<Cell<u64>>) -> (SimDriver, Calls, Alarm) {
    let calls: Calls = Rc::default();
    let alarm: Alarm = Rc::default();
    let driver = Driver::new(
        id,
        SimTransport(calls.clone()),
        SimBus(calls.clone()),
        SimLocks(calls.clone()),
        SimClock {
            now: now.clone(),
            alarm: alarm.clone(),
        },
        SimInstances(calls.clone()),
    );
    (driver, calls, alarm)
}
