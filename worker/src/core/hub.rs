//! The hub: instances grouped by scope onto shared sockets, and the lifecycle
//! rules that tie an instance's events to its socket's.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

use super::{CloseInfo, Event, JoinRequest, Output, SocketId};

#[derive(Debug, Clone, PartialEq, Eq)]
enum SocketState {
    Connecting,
    Open {
        protocol: String,
        extensions: String,
    },
    /// Closing because its last instance closed: no one may join it any more.
    Closing,
}

#[derive(Debug)]
struct Connection<I> {
    state: SocketState,
    /// The instances attached to this socket, in the order they joined.
    members: Vec<I>,
}

#[derive(Debug)]
struct Member {
    socket: SocketId,
    /// The instance called `close()` and waits for the socket's real close.
    leaving: bool,
}

/// Routes instances' requests onto shared sockets and sockets' events back to
/// instances. `I` names an instance, `P` is an opaque payload.
#[derive(Debug)]
pub struct Hub<I, P> {
    next_socket: u64,
    /// The socket new joiners of a scope attach to. A socket that is closing
    /// is no longer listed, so a joiner gets a fresh one.
    scopes: HashMap<String, SocketId>,
    connections: BTreeMap<SocketId, Connection<I>>,
    members: HashMap<I, Member>,
    outputs: VecDeque<Output<I, P>>,
}

impl<I, P> Default for Hub<I, P>
where
    I: Copy + Eq + Hash,
    P: Clone,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<I, P> Hub<I, P>
where
    I: Copy + Eq + Hash,
    P: Clone,
{
    /// An empty hub.
    pub fn new() -> Self {
        Hub {
            next_socket: 0,
            scopes: HashMap::new(),
            connections: BTreeMap::new(),
            members: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The next thing to do, or `None` when everything is done.
    pub fn poll_output(&mut self) -> Option<Output<I, P>> {
        self.outputs.pop_front()
    }

    /// How many instances are attached to any socket.
    pub fn instance_count(&self) -> usize {
        self.members.len()
    }

    /// How many sockets the hub holds, closing ones included.
    pub fn socket_count(&self) -> usize {
        self.connections.len()
    }

    /// An instance asks to use the shared connection of `request.scope`,
    /// opening it if it is the first. A second join of the same instance is
    /// ignored.
    pub fn handle_join(&mut self, instance: I, request: JoinRequest) {
        if self.members.contains_key(&instance) {
            return;
        }
        let socket = match self.scopes.get(&request.scope) {
            Some(&socket) => socket,
            None => self.open_socket(request),
        };
        let connection = self
            .connections
            .get_mut(&socket)
            .expect("a listed scope always has its connection");
        connection.members.push(instance);
        self.members.insert(
            instance,
            Member {
                socket,
                leaving: false,
            },
        );
        if let SocketState::Open {
            protocol,
            extensions,
        } = &connection.state
        {
            let event = Event::Open {
                protocol: protocol.clone(),
                extensions: extensions.clone(),
            };
            self.outputs.push_back(Output::Deliver {
                to: instance,
                event,
            });
        }
    }

    /// An instance sends a payload. It goes out only while the instance's
    /// socket is open and the instance has not closed: the facade refuses
    /// sends in other states, so anything else here is a send that raced a
    /// close, and the close event the instance is about to get reports it.
    pub fn handle_send(&mut self, instance: I, payload: P) {
        let Some(member) = self.members.get(&instance) else {
            return;
        };
        if member.leaving {
            return;
        }
        let socket = member.socket;
        if let Some(Connection {
            state: SocketState::Open { .. },
            ..
        }) = self.connections.get(&socket)
        {
            self.outputs.push_back(Output::Transmit {
                socket,
                from: instance,
                payload,
            });
        }
    }

    /// An instance calls `close(code, reason)`. The last instance of a socket
    /// closes the socket itself and then gets the socket's real close event.
    /// An instance that shares its socket with others leaves alone: it gets the
    /// events a native socket would give it and the others see nothing.
    pub fn handle_close(&mut self, instance: I, code: Option<u16>, reason: String) {
        let Some(member) = self.members.get(&instance) else {
            return;
        };
        if member.leaving {
            return;
        }
        let socket = member.socket;
        let connection = &self.connections[&socket];
        let others_stay = connection
            .members
            .iter()
            .any(|other| *other != instance && !self.members[other].leaving);
        if others_stay {
            let connecting = connection.state == SocketState::Connecting;
            self.detach(instance);
            if connecting {
                // A native socket closed while connecting fails: error, then 1006.
                self.deliver(instance, Event::Error);
                self.deliver(instance, Event::Closed(CloseInfo::abnormal()));
            } else {
                let info = CloseInfo {
                    code: code.unwrap_or(1005),
                    reason,
                    was_clean: true,
                };
                self.deliver(instance, Event::Closed(info));
            }
            return;
        }
        self.members
            .get_mut(&instance)
            .expect("checked above")
            .leaving = true;
        self.start_closing(socket, code, reason);
    }

    /// An instance is gone without closing (its page or bridge went away). It
    /// is told nothing; a socket left without instances is closed.
    pub fn handle_disconnect(&mut self, instance: I) {
        let Some(socket) = self.detach(instance) else {
            return;
        };
        let connection = &self.connections[&socket];
        let anyone_stays = connection
            .members
            .iter()
            .any(|member| !self.members[member].leaving);
        if !anyone_stays {
            self.start_closing(socket, None, String::new());
        }
        if self.connections[&socket].members.is_empty() {
            // No one is left to hear how it ends.
            self.connections.remove(&socket);
        }
    }

    /// The socket's handshake completed.
    pub fn handle_socket_open(&mut self, socket: SocketId, protocol: String, extensions: String) {
        let Some(connection) = self.connections.get_mut(&socket) else {
            return;
        };
        if connection.state != SocketState::Connecting {
            return;
        }
        connection.state = SocketState::Open {
            protocol: protocol.clone(),
            extensions: extensions.clone(),
        };
        let members = connection.members.clone();
        for member in members {
            if !self.members[&member].leaving {
                let event = Event::Open {
                    protocol: protocol.clone(),
                    extensions: extensions.clone(),
                };
                self.deliver(member, event);
            }
        }
    }

    /// A message arrived on the socket: every instance still open gets it.
    pub fn handle_socket_message(&mut self, socket: SocketId, payload: P) {
        let Some(connection) = self.connections.get(&socket) else {
            return;
        };
        let receivers: Vec<I> = connection
            .members
            .iter()
            .copied()
            .filter(|member| !self.members[member].leaving)
            .collect();
        for member in receivers {
            self.deliver(member, Event::Message(payload.clone()));
        }
    }

    /// The socket failed; its close follows.
    pub fn handle_socket_error(&mut self, socket: SocketId) {
        let Some(connection) = self.connections.get(&socket) else {
            return;
        };
        for member in connection.members.clone() {
            self.deliver(member, Event::Error);
        }
    }

    /// The socket is closed: every instance on it is closed with its outcome.
    pub fn handle_socket_closed(&mut self, socket: SocketId, info: CloseInfo) {
        let Some(connection) = self.connections.remove(&socket) else {
            return;
        };
        self.scopes.retain(|_, listed| *listed != socket);
        for member in connection.members {
            self.members.remove(&member);
            self.deliver(member, Event::Closed(info.clone()));
        }
    }

    fn open_socket(&mut self, request: JoinRequest) -> SocketId {
        let socket = SocketId(self.next_socket);
        self.next_socket += 1;
        self.scopes.insert(request.scope, socket);
        self.connections.insert(
            socket,
            Connection {
                state: SocketState::Connecting,
                members: Vec::new(),
            },
        );
        self.outputs.push_back(Output::OpenSocket {
            socket,
            url: request.url,
            protocols: request.protocols,
        });
        socket
    }

    fn start_closing(&mut self, socket: SocketId, code: Option<u16>, reason: String) {
        let connection = self
            .connections
            .get_mut(&socket)
            .expect("only live sockets are closed");
        if connection.state == SocketState::Closing {
            return;
        }
        connection.state = SocketState::Closing;
        self.scopes.retain(|_, listed| *listed != socket);
        self.outputs.push_back(Output::CloseSocket {
            socket,
            code,
            reason,
        });
    }

    /// Removes an instance from its socket; returns that socket.
    fn detach(&mut self, instance: I) -> Option<SocketId> {
        let member = self.members.remove(&instance)?;
        if let Some(connection) = self.connections.get_mut(&member.socket) {
            connection.members.retain(|other| *other != instance);
        }
        Some(member.socket)
    }

    fn deliver(&mut self, to: I, event: Event<P>) {
        self.outputs.push_back(Output::Deliver { to, event });
    }
}
