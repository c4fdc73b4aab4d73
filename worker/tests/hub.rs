//! Native tests of the hub's rules: sharing sockets by scope, routing, and the
//! lifecycle of instances against their socket.

use bws_worker::core::{CloseInfo, Event, Hub, JoinRequest, Output, SocketId};

type TestHub = Hub<u32, &'static str>;

fn request(scope: &str) -> JoinRequest {
    JoinRequest {
        scope: scope.to_owned(),
        url: format!("ws://127.0.0.1/{scope}"),
        protocols: vec!["chat".to_owned()],
    }
}

fn drain(hub: &mut TestHub) -> Vec<Output<u32, &'static str>> {
    std::iter::from_fn(|| hub.poll_output()).collect()
}

fn deliver(to: u32, event: Event<&'static str>) -> Output<u32, &'static str> {
    Output::Deliver { to, event }
}

fn open_event() -> Event<&'static str> {
    Event::Open {
        protocol: "chat".to_owned(),
        extensions: String::new(),
    }
}

fn clean_close(code: u16, reason: &str) -> CloseInfo {
    CloseInfo {
        code,
        reason: reason.to_owned(),
        was_clean: true,
    }
}

/// A hub with instances 1 and 2 joined to scope "a", its socket open.
fn open_pair() -> (TestHub, SocketId) {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_join(2, request("a"));
    let socket = SocketId(0);
    hub.handle_socket_open(socket, "chat".to_owned(), String::new());
    drain(&mut hub);
    (hub, socket)
}

#[test]
fn first_join_opens_one_socket_and_later_joins_share_it() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_join(2, request("a"));
    assert_eq!(
        drain(&mut hub),
        vec![Output::OpenSocket {
            socket: SocketId(0),
            url: "ws://127.0.0.1/a".to_owned(),
            protocols: vec!["chat".to_owned()],
        }]
    );
    hub.handle_socket_open(SocketId(0), "chat".to_owned(), String::new());
    assert_eq!(
        drain(&mut hub),
        vec![deliver(1, open_event()), deliver(2, open_event())]
    );
    assert_eq!(hub.socket_count(), 1);
}

#[test]
fn a_joiner_of_an_open_socket_is_told_it_is_open_at_once() {
    let (mut hub, _) = open_pair();
    hub.handle_join(3, request("a"));
    assert_eq!(drain(&mut hub), vec![deliver(3, open_event())]);
}

#[test]
fn scopes_are_independent() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_join(2, request("b"));
    let opened: Vec<SocketId> = drain(&mut hub)
        .into_iter()
        .map(|output| match output {
            Output::OpenSocket { socket, .. } => socket,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(opened, vec![SocketId(0), SocketId(1)]);
    hub.handle_socket_message(SocketId(1), "for b");
    assert_eq!(drain(&mut hub), vec![deliver(2, Event::Message("for b"))]);
}

#[test]
fn sends_go_out_in_order_only_while_open() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    drain(&mut hub);
    hub.handle_send(1, "too early");
    assert_eq!(drain(&mut hub), vec![]);
    hub.handle_socket_open(SocketId(0), "chat".to_owned(), String::new());
    drain(&mut hub);
    hub.handle_send(1, "one");
    hub.handle_send(1, "two");
    let transmit = |payload| Output::Transmit {
        socket: SocketId(0),
        from: 1,
        payload,
    };
    assert_eq!(drain(&mut hub), vec![transmit("one"), transmit("two")]);
}

#[test]
fn every_instance_gets_each_message_once_in_order() {
    let (mut hub, socket) = open_pair();
    hub.handle_socket_message(socket, "m1");
    hub.handle_socket_message(socket, "m2");
    assert_eq!(
        drain(&mut hub),
        vec![
            deliver(1, Event::Message("m1")),
            deliver(2, Event::Message("m1")),
            deliver(1, Event::Message("m2")),
            deliver(2, Event::Message("m2")),
        ]
    );
}

#[test]
fn the_last_instance_closes_the_socket_and_gets_its_real_close() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_socket_open(SocketId(0), "chat".to_owned(), String::new());
    drain(&mut hub);
    hub.handle_close(1, Some(4000), "bye".to_owned());
    assert_eq!(
        drain(&mut hub),
        vec![Output::CloseSocket {
            socket: SocketId(0),
            code: Some(4000),
            reason: "bye".to_owned(),
        }]
    );
    // Messages arriving while closing are not delivered, as natively.
    hub.handle_socket_message(SocketId(0), "late");
    hub.handle_send(1, "after close");
    assert_eq!(drain(&mut hub), vec![]);
    hub.handle_socket_closed(SocketId(0), clean_close(4000, "bye"));
    assert_eq!(
        drain(&mut hub),
        vec![deliver(1, Event::Closed(clean_close(4000, "bye")))]
    );
    assert_eq!((hub.instance_count(), hub.socket_count()), (0, 0));
}

#[test]
fn an_instance_sharing_its_socket_leaves_alone() {
    let (mut hub, socket) = open_pair();
    hub.handle_close(1, Some(3001), "done".to_owned());
    assert_eq!(
        drain(&mut hub),
        vec![deliver(1, Event::Closed(clean_close(3001, "done")))]
    );
    hub.handle_socket_message(socket, "still here");
    assert_eq!(
        drain(&mut hub),
        vec![deliver(2, Event::Message("still here"))]
    );
}

#[test]
fn leaving_a_shared_socket_without_a_code_reports_1005() {
    let (mut hub, _) = open_pair();
    hub.handle_close(2, None, String::new());
    assert_eq!(
        drain(&mut hub),
        vec![deliver(2, Event::Closed(clean_close(1005, "")))]
    );
}

#[test]
fn leaving_a_shared_socket_while_connecting_fails_like_a_native_socket() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_join(2, request("a"));
    drain(&mut hub);
    hub.handle_close(1, Some(1000), String::new());
    assert_eq!(
        drain(&mut hub),
        vec![
            deliver(1, Event::Error),
            deliver(1, Event::Closed(CloseInfo::abnormal())),
        ]
    );
}

#[test]
fn a_failed_connection_reaches_every_instance_as_error_then_close() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_join(2, request("a"));
    drain(&mut hub);
    hub.handle_socket_error(SocketId(0));
    hub.handle_socket_closed(SocketId(0), CloseInfo::abnormal());
    assert_eq!(
        drain(&mut hub),
        vec![
            deliver(1, Event::Error),
            deliver(2, Event::Error),
            deliver(1, Event::Closed(CloseInfo::abnormal())),
            deliver(2, Event::Closed(CloseInfo::abnormal())),
        ]
    );
}

#[test]
fn a_joiner_during_a_close_gets_a_fresh_socket() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    hub.handle_socket_open(SocketId(0), "chat".to_owned(), String::new());
    hub.handle_close(1, None, String::new());
    drain(&mut hub);
    hub.handle_join(2, request("a"));
    assert!(matches!(
        drain(&mut hub).as_slice(),
        [Output::OpenSocket {
            socket: SocketId(1),
            ..
        }]
    ));
    // The old socket's close reaches only the instance that closed it.
    hub.handle_socket_closed(SocketId(0), clean_close(1005, ""));
    assert_eq!(
        drain(&mut hub),
        vec![deliver(1, Event::Closed(clean_close(1005, "")))]
    );
    hub.handle_socket_open(SocketId(1), "chat".to_owned(), String::new());
    assert_eq!(drain(&mut hub), vec![deliver(2, open_event())]);
}

#[test]
fn a_vanished_last_instance_closes_the_socket_and_later_events_are_ignored() {
    let mut hub = TestHub::new();
    hub.handle_join(1, request("a"));
    drain(&mut hub);
    hub.handle_disconnect(1);
    assert_eq!(
        drain(&mut hub),
        vec![Output::CloseSocket {
            socket: SocketId(0),
            code: None,
            reason: String::new(),
        }]
    );
    hub.handle_socket_open(SocketId(0), "chat".to_owned(), String::new());
    hub.handle_socket_error(SocketId(0));
    hub.handle_socket_closed(SocketId(0), CloseInfo::abnormal());
    assert_eq!(drain(&mut hub), vec![]);
    assert_eq!((hub.instance_count(), hub.socket_count()), (0, 0));
}

#[test]
fn a_vanished_instance_among_others_changes_nothing_for_them() {
    let (mut hub, socket) = open_pair();
    hub.handle_disconnect(1);
    assert_eq!(drain(&mut hub), vec![]);
    hub.handle_socket_message(socket, "m");
    assert_eq!(drain(&mut hub), vec![deliver(2, Event::Message("m"))]);
}

#[test]
fn repeated_and_unknown_requests_are_ignored() {
    let (mut hub, _) = open_pair();
    hub.handle_join(1, request("b"));
    hub.handle_send(9, "stranger");
    hub.handle_close(9, None, String::new());
    hub.handle_disconnect(9);
    hub.handle_socket_message(SocketId(42), "nobody's");
    assert_eq!(drain(&mut hub), vec![]);
    assert_eq!((hub.instance_count(), hub.socket_count()), (2, 1));
}
