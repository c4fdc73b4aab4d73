//! `forceLeader()` and `relinquish()`, for both election backends, on the
//! simulated world with fixed latencies (bus 1 ms, socket 5 ms each way):
//! a tab takes the socket, or gives it to another, with one leader change
//! that every instance sees once.

mod common;

use bws_core::Backend;
use common::*;

/// Every instance saw one leader change, the scope settled with one
/// connection open, and traffic flows both ways.
fn assert_one_change(w: &mut World, instances: &[InstanceId]) {
    settle(w);
    w.check_settled(&["s"]);
    let backend = w.cfg.backend;
    for &i in instances {
        assert_eq!(
            w.lifecycle(i),
            vec![open(), reconnect(), open()],
            "{backend:?}: #{i}"
        );
    }
    assert_eq!(w.server.conns.len(), 2, "{backend:?}: one new connection");
    assert_eq!(w.server.open_conns("s").len(), 1, "{backend:?}");
    w.check_traffic(&["s"], 3);
}

#[test]
fn force_leader_makes_a_follower_lead_at_once() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        let follower = (leader + 1) % 3;
        w.force_leader(instances[follower]);
        let took = w
            .run_until_cond(1000, |w| w.leaders("s") == vec![follower])
            .expect("the follower leads");
        assert!(took <= 20, "{backend:?}: led after {took} ms");
        assert_one_change(&mut w, &instances);
    }
}

#[test]
fn force_leader_in_the_leader_tab_changes_nothing() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 2);
        let leader = w.leader("s").unwrap();
        w.force_leader(instances[leader]);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        for &i in &instances {
            assert_eq!(w.lifecycle(i), vec![open()], "{backend:?}");
        }
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
    }
}

#[test]
fn relinquish_hands_the_socket_to_another_tab() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.relinquish(instances[leader]);
        w.run_until_cond(2000, |w| w.leader("s").is_some_and(|l| l != leader))
            .expect("another tab leads");
        assert_one_change(&mut w, &instances);
        assert_ne!(w.leader("s"), Some(leader), "{backend:?}");
    }
}

#[test]
fn a_lone_leader_keeps_leading_when_it_relinquishes() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 1);
        w.relinquish(instances[0]);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(0), "{backend:?}");
        assert_eq!(w.lifecycle(instances[0]), vec![open()], "{backend:?}");
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
    }
}

#[test]
fn relinquish_in_a_follower_tab_changes_nothing() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 2);
        let leader = w.leader("s").unwrap();
        w.relinquish(instances[1 - leader]);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
    }
}

/// Where the socket runs on the page (Gecko, WebKit), `tabs` tabs with one
/// instance each, settled.
fn page_bound(backend: Backend, tabs: usize, bus_too: bool) -> (World, Vec<InstanceId>) {
    let mut w = world(backend, tabs);
    w.cfg.timing = if bus_too {
        w.cfg.timing.with_page_bound_bus()
    } else {
        w.cfg.timing.with_page_bound_socket()
    };
    with_instances(w)
}

#[test]
fn where_the_socket_runs_on_the_page_the_leader_yields_once_its_page_answers() {
    for backend in BOTH {
        for bus_too in [false, true] {
            let (mut w, instances) = page_bound(backend, 3, bus_too);
            let leader = w.leader("s").unwrap();
            let (follower, other) = ((leader + 1) % 3, (leader + 2) % 3);
            w.busy_page(leader, 200);
            // Relayed while the leader's page is busy: it holds them for
            // the page (see the core's scope/page.rs).
            assert!(w.send(instances[other]));
            w.force_leader(instances[follower]);
            w.run_for(150);
            assert_eq!(
                w.leader("s"),
                Some(leader),
                "{backend:?}: not while its page is busy"
            );
            let took = w
                .run_until_cond(1000, |w| w.leaders("s") == vec![follower])
                .expect("the follower leads once the page answered");
            assert!(
                took <= 100,
                "{backend:?}: led {took} ms after the page was free"
            );
            settle(&mut w);
            assert!(w.send(instances[other]));
            assert_one_change(&mut w, &instances);
            // Once each and in order, as the server checks every send.
            let ups = w.server.ups_of(instances[other]);
            assert!(ups.starts_with(&[0, 1]), "{backend:?}: {ups:?}");
        }
    }
}

#[test]
fn where_the_socket_runs_on_the_page_a_leader_without_instances_keeps_the_socket() {
    for backend in BOTH {
        let (mut w, instances) = page_bound(backend, 2, false);
        let leader = w.leader("s").unwrap();
        let follower = 1 - leader;
        w.close(instances[leader], None, "");
        settle(&mut w);
        w.force_leader(instances[follower]);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        assert_eq!(
            w.lifecycle(instances[follower]),
            vec![open()],
            "{backend:?}"
        );
    }
}
