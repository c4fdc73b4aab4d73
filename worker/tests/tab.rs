//! Scenario tests of the core's rules, one tab and many, on the simulated
//! world of `common` with fixed latencies (bus 1 ms, socket 5 ms each way).
//! Multi-tab rules run for both election backends.

mod common;

use bws_core::{
    Backend, Body, BusMessage, CloseInfo, Event, Heartbeat, Retry, SharedState, Timing,
    PROTOCOL_VERSION,
};
use common::*;

/// After the leader's tab (and any other in `gone`) was lost: how long until
/// a new leader, once the scope settled, every instance of the other tabs
/// reconnected once, and traffic flows again.
fn handed_over(w: &mut World, instances: &[InstanceId], gone: &[usize]) -> u64 {
    let took = w
        .run_until_cond(10_000, |w| w.leader("s").is_some())
        .expect("a new leader");
    settle(w);
    w.check_settled(&["s"]);
    let backend = w.cfg.backend;
    for &i in instances
        .iter()
        .filter(|&&i| !gone.contains(&w.instance(i).tab))
    {
        assert_eq!(
            w.lifecycle(i),
            vec![open(), reconnect(), open()],
            "{backend:?}"
        );
    }
    w.check_traffic(&["s"], 3);
    took
}

// ------------------------------------------------------------------ one tab

#[test]
fn join_opens_the_socket_when_leading() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let start = w.now;
        let i = w.join(0, "s");
        let took = w
            .run_until_cond(2000, |w| w.instance(i).is_open())
            .expect("opens");
        assert_eq!(w.lifecycle(i), vec![open()], "{backend:?}");
        assert_eq!(w.server.conns.len(), 1);
        assert_eq!(w.leader("s"), Some(0));
        let timing = w.cfg.timing;
        match backend {
            // The lock is free: it leads at once.
            Backend::Locks => assert!(took <= 10, "{took}"),
            // No one answers the hello: it claims after discovery, and leads
            // when the claim stood.
            Backend::Lease => {
                assert!(
                    took >= timing.discovery_ms + timing.claim_window_ms,
                    "{took}"
                );
                assert!(
                    took <= timing.discovery_ms + timing.claim_window_ms + 10,
                    "{took}"
                );
            }
        }
        let leadership = w.instance(i).leadership.clone().unwrap();
        assert_eq!(leadership.leader_id.as_deref(), Some("tab-0"));
        assert_eq!(leadership.tabs, 1);
        assert!(leadership.epoch >= start);
    }
}

#[test]
fn instances_of_a_scope_share_one_socket() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "s");
        let b = w.join(0, "s");
        settle(&mut w);
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
        assert!(w.instance(a).is_open() && w.instance(b).is_open());
        // A late joiner is open at once, in its join.
        let c = w.join(0, "s");
        assert!(w.instance(c).is_open());
        assert_eq!(w.server.conns.len(), 1);
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn scopes_are_independent() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "a");
        let b = w.join(0, "b");
        settle(&mut w);
        assert_eq!(w.server.open_conns("a").len(), 1, "{backend:?}");
        assert_eq!(w.server.open_conns("b").len(), 1);
        if backend == Backend::Locks {
            assert_eq!((w.lock_holder("a"), w.lock_holder("b")), (Some(0), Some(0)));
        }
        w.check_traffic(&["a", "b"], 2);
        let before = w.instance(b).received.len();
        w.close(a, Some(1000), "done");
        settle(&mut w);
        assert!(w.server.open_conns("a").is_empty());
        assert_eq!(w.server.open_conns("b").len(), 1);
        assert!(!w.in_scope(0, "a") && w.in_scope(0, "b"));
        assert_eq!(w.instance(b).received.len(), before);
        assert!(w.instance(b).is_open());
        w.server_close("b", 4000, "bye b");
        settle(&mut w);
        assert_eq!(
            w.instance(b).final_close.as_ref().map(|i| i.code),
            Some(4000)
        );
        assert_eq!(w.tabs[0].core().scope_count(), 0);
    }
}

#[test]
fn sends_reach_the_socket_in_order_and_are_acked() {
    let mut w = world(Backend::Locks, 1);
    let a = w.join(0, "s");
    // Not open yet: the facade would refuse; the core drops it, unacked.
    assert!(!w.send(a));
    settle(&mut w);
    for _ in 0..5 {
        assert!(w.send(a));
    }
    settle(&mut w);
    assert_eq!(w.server.ups_of(a), vec![0, 1, 2, 3, 4]);
}

#[test]
fn close_of_one_instance_is_synthetic() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "s");
        let b = w.join(0, "s");
        let c = w.join(0, "s");
        settle(&mut w);
        w.close(a, Some(4001), "going");
        w.close(b, None, "");
        assert_eq!(
            w.lifecycle(a),
            vec![open(), closed(4001, "going", true, false)],
            "{backend:?}"
        );
        assert_eq!(w.lifecycle(b), vec![open(), closed(1005, "", true, false)]);
        // A second close of the same instance does nothing.
        w.close(a, Some(1000), "again");
        assert_eq!(w.lifecycle(a).len(), 2);
        settle(&mut w);
        assert_eq!(w.server.open_conns("s").len(), 1);
        assert!(w.server.client_closes.is_empty());
        w.check_traffic(&["s"], 2);
        assert!(w.instance(c).is_open());
    }
}

#[test]
fn close_of_the_last_instance_closes_the_socket() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "s");
        let b = w.join(0, "s");
        settle(&mut w);
        w.close(a, None, "");
        w.close(b, Some(4002), "last");
        // It waits for the socket's real close.
        assert_eq!(w.lifecycle(b), vec![open()], "{backend:?}");
        settle(&mut w);
        assert_eq!(
            w.server.client_closes,
            vec![(0, Some(4002), "last".to_owned())]
        );
        // The real close: what the server answered.
        assert_eq!(
            w.lifecycle(b),
            vec![open(), closed(4002, "last", true, false)]
        );
        assert_eq!(w.tabs[0].core().scope_count(), 0);
        assert_eq!(w.tabs[0].core().instance_count(), 0);
        assert!(!w.in_scope(0, "s"));
        assert_eq!(w.lock_holder("s"), None);
    }
}

#[test]
fn grace_keeps_the_socket_open_for_a_comeback() {
    for backend in BOTH {
        let mut cfg = Config::new(backend);
        cfg.grace_ms = 300;
        let mut w = World::new(cfg);
        w.add_tab();
        let a = w.join(0, "s");
        settle(&mut w);
        w.close(a, Some(1000), "bye");
        // With a grace period the instance gets its close at once.
        assert_eq!(
            w.lifecycle(a),
            vec![open(), closed(1000, "bye", true, false)],
            "{backend:?}"
        );
        w.run_for(200);
        // Back within the grace period: the same socket, open at once.
        let b = w.join(0, "s");
        assert!(w.instance(b).is_open());
        w.run_for(500);
        assert_eq!(w.server.conns.len(), 1);
        assert_eq!(w.server.open_conns("s").len(), 1);
        // Gone for good: the socket closes when the grace period is over,
        // with the code of the last close.
        w.close(b, Some(4003), "later");
        let start = w.now;
        let took = w
            .run_until_cond(2000, |w| !w.server.client_closes.is_empty())
            .unwrap();
        assert!((300..=310).contains(&took), "{took}");
        assert_eq!(w.server.client_closes[0].1, Some(4003));
        assert!(w.now >= start);
        settle(&mut w);
        assert_eq!(w.tabs[0].core().scope_count(), 0);
    }
}

#[test]
fn closing_a_connecting_instance_fails_it() {
    let mut w = world(Backend::Lease, 1);
    let a = w.join(0, "s");
    let b = w.join(0, "s");
    w.close(a, Some(1000), "");
    assert_eq!(
        w.lifecycle(a),
        vec![Event::Error, closed(1006, "", false, false)]
    );
    settle(&mut w);
    assert!(w.instance(b).is_open());
}

#[test]
fn disconnect_is_silent() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "s");
        let b = w.join(0, "s");
        settle(&mut w);
        w.disconnect(a);
        w.check_traffic(&["s"], 2);
        assert_eq!(w.lifecycle(a), vec![open()], "{backend:?}");
        w.disconnect(b);
        settle(&mut w);
        // The last one gone: the socket closes, without a code.
        assert_eq!(w.server.client_closes, vec![(0, None, String::new())]);
        assert_eq!(w.tabs[0].core().scope_count(), 0);
    }
}

#[test]
fn socket_failure_is_final() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let a = w.join(0, "s");
        settle(&mut w);
        w.server_drop("s");
        settle(&mut w);
        assert_eq!(
            w.lifecycle(a),
            vec![open(), Event::Error, closed(1006, "", false, false)],
            "{backend:?}"
        );
        assert_eq!(w.tabs[0].core().scope_count(), 0);
        assert_eq!(w.server.conns.len(), 1, "no reconnection");
    }
}

#[test]
fn junk_and_other_versions_are_ignored() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 2);
        let leader = w.leader("s").unwrap();
        let follower = 1 - leader;
        let epoch = w.tabs[leader].leading["s"].epoch.unwrap();
        let leader_id = w.id(leader).to_owned();
        let follower_id = w.id(follower).to_owned();
        let events = |w: &World| {
            instances
                .iter()
                .map(|&i| w.events(i).len())
                .collect::<Vec<_>>()
        };
        let before = events(&w);
        let received = w.server.received.len();
        let junk: Vec<(usize, BusMessage<Pl>)> = vec![
            // Another protocol version, however convincing.
            (
                follower,
                BusMessage {
                    v: PROTOCOL_VERSION + 1,
                    from: "tab-x".to_owned(),
                    epoch: u64::MAX,
                    body: Body::Heartbeat(Heartbeat {
                        state: SharedState::Connecting,
                        tabs: 9,
                        handed: Vec::new(),
                        retry: Retry::default(),
                    }),
                },
            ),
            (
                follower,
                BusMessage {
                    v: 0,
                    from: leader_id.clone(),
                    epoch,
                    body: Body::Closed(CloseInfo::abnormal()),
                },
            ),
            (
                leader,
                BusMessage {
                    v: 7,
                    from: follower_id.clone(),
                    epoch,
                    body: Body::Out {
                        leader: leader_id.clone(),
                        seq: 1,
                        payload: Pl::Other("junk".into()),
                    },
                },
            ),
            // Its own messages echoed back.
            (
                leader,
                BusMessage::new(leader_id.clone(), epoch + 1, Body::Claim),
            ),
            // Traffic of leaderships it does not follow.
            (
                follower,
                BusMessage::new(
                    "tab-x".to_owned(),
                    epoch,
                    Body::In(vec![Pl::Other("forged".into())]),
                ),
            ),
            (
                follower,
                BusMessage::new(
                    leader_id.clone(),
                    epoch - 1,
                    Body::In(vec![Pl::Other("stale".into())]),
                ),
            ),
            (
                follower,
                BusMessage::new(
                    "tab-x".to_owned(),
                    epoch,
                    Body::Closed(CloseInfo::abnormal()),
                ),
            ),
            (
                follower,
                BusMessage::new(leader_id.clone(), epoch + 5, Body::Error),
            ),
            (
                leader,
                BusMessage::new(
                    follower_id.clone(),
                    epoch - 1,
                    Body::Out {
                        leader: leader_id.clone(),
                        seq: 1,
                        payload: Pl::Other("stale".into()),
                    },
                ),
            ),
            // A refusal from a tab that never led, naming this tab's sends.
            (
                follower,
                BusMessage::new(
                    "tab-x".to_owned(),
                    epoch,
                    Body::Refused {
                        handed: vec![(follower_id.clone(), 0)],
                        to: None,
                    },
                ),
            ),
        ];
        for (tab, message) in junk {
            w.inject_bus(tab, "s", message);
        }
        // What does not decode at all (another library on the channel).
        for tab in [leader, follower] {
            w.inject_wire(tab, "s", Wire::Junk("not a bus message"));
        }
        settle(&mut w);
        assert_eq!(w.server.received.len(), received, "{backend:?}");
        assert_eq!(w.server.conns.len(), 1);
        let after = events(&w);
        for (i, (b, a)) in instances.iter().zip(before.iter().zip(&after)) {
            let new: Vec<_> = w.events(*i)[*b..*a]
                .iter()
                .map(|(_, e)| e.clone())
                .collect();
            assert!(
                new.iter().all(|e| matches!(e, Event::Leadership(_))),
                "{backend:?} #{i}: {new:?}"
            );
        }
        w.check_settled(&["s"]);
        w.check_traffic(&["s"], 2);
    }
}

/// A relay may carry a burst of server messages (the worker's bus gathers
/// them): the follower's instance gets each, once, in order.
#[test]
fn a_relayed_burst_reaches_the_follower_in_order() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 2);
        let leader = w.leader("s").unwrap();
        let follower = instances[1 - leader];
        let epoch = w.tabs[leader].leading["s"].epoch.unwrap();
        let leader_id = w.id(leader).to_owned();
        let burst: Vec<Pl> = (0..3).map(|k| Pl::Other(format!("burst {k}"))).collect();
        let before = w.events(follower).len();
        let relay = BusMessage::new(leader_id, epoch, Body::In(burst.clone()));
        w.inject_bus(1 - leader, "s", relay);
        settle(&mut w);
        let heard: Vec<Pl> = w.events(follower)[before..]
            .iter()
            .filter_map(|(_, event)| match event {
                Event::Message(payload) => Some(payload.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(heard, burst, "{backend:?}");
    }
}

// ------------------------------------------------------------------ many tabs

#[test]
fn one_leader_for_many_tabs() {
    for backend in BOTH {
        let (w, instances) = tabs_with_instances(backend, 4);
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
        for &i in &instances {
            assert_eq!(w.lifecycle(i), vec![open()]);
            assert_eq!(w.instance(i).leadership.as_ref().unwrap().tabs, 4);
        }
    }
}

#[test]
fn follower_sends_reach_the_socket_in_order() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        for round in 0..10 {
            for &i in &instances {
                assert!(w.send(i));
            }
            if round % 3 == 0 {
                w.run_for(2);
            }
        }
        settle(&mut w);
        for &i in &instances {
            assert_eq!(
                w.server.ups_of(i),
                (0..10).collect::<Vec<_>>(),
                "{backend:?}"
            );
        }
    }
}

#[test]
fn server_messages_reach_every_instance_once_in_order() {
    for backend in BOTH {
        let (mut w, mut instances) = tabs_with_instances(backend, 3);
        instances.push(w.join(1, "s"));
        for _ in 0..20 {
            w.server_broadcast("s");
        }
        settle(&mut w);
        for &i in &instances {
            let seqs: Vec<u32> = w.instance(i).received.iter().map(|(_, s)| *s).collect();
            assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "{backend:?} #{i}");
        }
    }
}

#[test]
fn leader_death_hands_over_within_the_bound() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.crash(leader);
        let took = handed_over(&mut w, &instances, &[leader]);
        let timing = w.cfg.timing;
        let bound = match backend {
            Backend::Locks => 15,
            Backend::Lease => timing.leader_timeout_ms + timing.claim_window_ms + 15,
        };
        assert!(took <= bound, "{backend:?}: {took} ms");
    }
}

#[test]
fn locks_hand_over_in_queue_order() {
    let (mut w, _) = tabs_with_instances(Backend::Locks, 4);
    assert_eq!(w.leader("s"), Some(0));
    assert_eq!(w.lock_waiters("s"), vec![1, 2, 3]);
    w.crash(0);
    settle(&mut w);
    assert_eq!(w.leader("s"), Some(1));
    assert_eq!(w.stats.steals, 0);
}

#[test]
fn zombie_leader_is_replaced() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 4);
        let leader = w.leader("s").unwrap();
        let zombie_instance = instances[leader];
        let conn = w.server.open_conns("s")[0];
        w.zombie(zombie_instance);
        let took = w
            .run_until_cond(20_000, |w| w.leader("s").is_some_and(|l| l != leader))
            .expect("replaced");
        let timing = w.cfg.timing;
        let bound = timing.leader_timeout_ms
            + match backend {
                Backend::Locks => timing.steal_stagger_ms,
                Backend::Lease => timing.claim_window_ms,
            }
            + timing.heartbeat_ms
            + 20;
        assert!(
            took <= bound,
            "{backend:?}: replaced after {took} ms, bound {bound}"
        );
        settle(&mut w);
        // The superseded leader closed its socket.
        assert_eq!(w.server.conns[conn].state, ConnState::Closed, "{backend:?}");
        assert!(w.server.client_closes.iter().any(|(c, _, _)| *c == conn));
        assert_eq!(w.server.open_conns("s").len(), 1);
        if backend == Backend::Locks {
            // One follower stole; the others, staggered, saw it lead.
            assert_eq!(w.stats.steals, 1);
        }
        let others: Vec<InstanceId> = instances
            .iter()
            .copied()
            .filter(|&i| i != zombie_instance)
            .collect();
        for &i in &others {
            assert!(w.instance(i).is_open(), "{backend:?} #{i}");
        }
    }
}

#[test]
fn steals_are_rate_limited() {
    // A holder that never answers: the follower steals once per timeout,
    // whatever it hears.
    let (mut w, instances) = tabs_with_instances(Backend::Locks, 2);
    let leader = w.leader("s").unwrap();
    w.zombie(instances[leader]);
    w.isolate(1 - leader);
    w.run_for(10 * w.cfg.timing.leader_timeout_ms);
    let steals = w.stats.steals;
    // Both sides steal in turn (each deaf to the other), at most once per
    // timeout each.
    assert!((2..=22).contains(&steals), "{steals}");
}

#[test]
fn server_close_is_final_for_all_tabs() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        w.server_close("s", 4000, "maintenance");
        settle(&mut w);
        for &i in &instances {
            let mut events = w.lifecycle(i);
            // With Web Locks the next in line may get the lock the closed
            // leader let go before the news, and start reconnecting: the
            // news still ends it.
            if backend == Backend::Locks && events.get(1) == Some(&reconnect()) {
                events.remove(1);
            }
            assert_eq!(
                events,
                vec![open(), closed(4000, "maintenance", true, false)],
                "{backend:?}"
            );
        }
        for tab in 0..3 {
            assert_eq!(w.tabs[tab].core().scope_count(), 0, "{backend:?}");
        }
        // No reconnection (but for that socket of the next in line).
        assert!(w.server.open_conns("s").is_empty());
        assert!(w.server.conns.len() <= 2);
        assert_eq!(w.lock_holder("s"), None);
    }
}

#[test]
fn last_instance_anywhere_closes_the_socket() {
    for grace in [0, 400] {
        for backend in BOTH {
            let mut cfg = Config::new(backend);
            cfg.grace_ms = grace;
            let mut w = World::new(cfg);
            w.add_tab_named("tab-0");
            w.add_tab_named("tab-1");
            let a = w.join(0, "s");
            w.run_for(50);
            let b = w.join(1, "s");
            settle(&mut w);
            assert_eq!(w.leader("s"), Some(0));
            // The leader's tab empties first: it keeps the socket for tab-1.
            w.close(a, None, "");
            settle(&mut w);
            assert_eq!(w.leader("s"), Some(0), "{backend:?}");
            assert!(w.instance(b).is_open());
            // The last instance anywhere, in a follower tab, closes.
            w.close(b, Some(4004), "all done");
            assert_eq!(
                w.lifecycle(b),
                vec![open(), closed(4004, "all done", true, false)]
            );
            let took = w
                .run_until_cond(5000, |w| !w.server.client_closes.is_empty())
                .unwrap();
            assert!(
                took >= grace && took <= grace + 10,
                "{backend:?} grace {grace}: {took}"
            );
            assert_eq!(
                w.server.client_closes,
                vec![(0, Some(4004), "all done".to_owned())]
            );
            settle(&mut w);
            assert_eq!(
                w.tabs[0].core().scope_count() + w.tabs[1].core().scope_count(),
                0
            );
        }
    }
}

#[test]
fn leader_without_instances_keeps_relaying() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.close(instances[leader], None, "");
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        assert_eq!(w.server.conns.len(), 1);
        w.check_traffic(&["s"], 3);
        for &i in instances.iter().filter(|&&i| i != instances[leader]) {
            assert_eq!(w.instance(i).leadership.as_ref().unwrap().tabs, 2);
        }
    }
}

#[test]
fn a_crashed_follower_leaves_the_count() {
    // Followers report their presence often enough that the leader
    // heartbeats ahead of its own schedule all the time: silent tabs must
    // expire regardless.
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 4);
        let leader = w.leader("s").unwrap();
        let victim = (leader + 1) % 4;
        w.crash(victim);
        w.run_for(w.cfg.timing.leader_timeout_ms + 2 * w.cfg.timing.heartbeat_ms);
        for &i in instances.iter().filter(|&&i| w.instance(i).tab != victim) {
            assert_eq!(
                w.instance(i).leadership.as_ref().unwrap().tabs,
                3,
                "{backend:?} #{i}"
            );
        }
        // And once the others are gone, the socket closes.
        let survivors: Vec<InstanceId> = instances
            .iter()
            .copied()
            .filter(|&i| w.instance(i).tab != victim)
            .collect();
        for i in survivors {
            w.close(i, None, "");
        }
        settle(&mut w);
        assert!(w.server.open_conns("s").is_empty(), "{backend:?}");
    }
}

#[test]
fn frozen_leader_steps_down_when_it_thaws() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        let conn = w.server.open_conns("s")[0];
        w.freeze(leader);
        // A follower's sends queue up at the frozen leader.
        let follower = instances
            .iter()
            .copied()
            .find(|&i| w.instance(i).tab != leader)
            .unwrap();
        assert!(w.send(follower));
        w.run_until_cond(10_000, |w| w.leaders("s").iter().any(|&l| l != leader))
            .expect("replaced");
        w.run_for(500);
        assert_eq!(
            w.server.open_conns("s").len(),
            2,
            "{backend:?}: the frozen one still holds its socket"
        );
        w.thaw(leader);
        settle(&mut w);
        // It stepped down before acting on what queued up: its socket
        // closed, and it refused the send it never handed to it, which went
        // again through the new leader: the server got it once.
        assert_eq!(w.server.conns[conn].state, ConnState::Closed, "{backend:?}");
        assert!(w.server.ups_on(follower, conn).is_empty(), "{backend:?}");
        assert_eq!(w.server.ups_of(follower), vec![0], "{backend:?}");
        assert_eq!(
            w.instance(follower)
                .leadership
                .as_ref()
                .unwrap()
                .sends_in_doubt,
            0
        );
        w.check_settled(&["s"]);
        assert_eq!(
            w.lifecycle(instances[leader]),
            vec![open(), reconnect(), open()]
        );
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn lease_claims_settle_without_a_cascade() {
    // Many followers whose timeouts fall a little apart: later claims
    // outrank earlier ones, yet one of them must stand.
    let mut cfg = Config::new(Backend::Lease);
    cfg.net = Net {
        bus_latency: (1, 20),
        ..Net::fixed(1, 5)
    };
    let mut w = World::new(cfg);
    let mut instances = Vec::new();
    for tab in 0..8 {
        w.add_tab();
        instances.push(w.join(tab, "s"));
        w.run_for(37);
    }
    settle(&mut w);
    let leader = w.leader("s").unwrap();
    w.crash(leader);
    let took = w
        .run_until_cond(10_000, |w| w.leader("s").is_some())
        .expect("a new leader");
    let bound = w.cfg.takeover_bound();
    assert!(took <= bound, "{took} > {bound}");
    settle(&mut w);
    w.check_settled(&["s"]);
    w.check_traffic(&["s"], 2);
}

#[test]
fn follower_of_a_dead_leader_joins_a_lesser_live_one() {
    // tab-1 is cut from tab-0 (only), so it claims and leads with a later
    // epoch; tab-2 hears both and follows tab-1. When tab-1 dies, tab-2
    // goes over to tab-0, whose epoch is lesser, instead of claiming.
    let mut w = world(Backend::Lease, 3);
    let a = w.join(0, "s");
    w.run_for(500);
    w.cut(0, 1);
    let b = w.join(1, "s");
    let c = w.join(2, "s");
    settle(&mut w);
    assert_eq!(w.leaders("s"), vec![0, 1]);
    assert_eq!(
        w.instance(c)
            .leadership
            .as_ref()
            .unwrap()
            .leader_id
            .as_deref(),
        Some("tab-1")
    );
    w.crash(1);
    let claims = w.stats.claims;
    let took = w
        .run_until_cond(5000, |w| {
            w.instance(c).is_open()
                && w.instance(c)
                    .leadership
                    .as_ref()
                    .unwrap()
                    .leader_id
                    .as_deref()
                    == Some("tab-0")
        })
        .expect("follows tab-0");
    assert!(
        took <= w.cfg.timing.leader_timeout_ms + w.cfg.timing.heartbeat_ms + 10,
        "{took}"
    );
    // At most a claim, withdrawn at the next heartbeat: tab-0 was not deposed.
    assert!(w.stats.claims <= claims + 1);
    settle(&mut w);
    assert_eq!(w.lifecycle(a), vec![open()]);
    assert_eq!(w.leaders("s"), vec![0]);
    assert_eq!(w.instance(b).phase, Phase::Gone);
}

#[test]
fn locks_holder_is_not_deposed_by_a_stale_grant() {
    // tab-1 waits first in line, frozen, when the leader dies: the lock is
    // granted to it while it sleeps, and stolen from it by tab-2 once it has
    // stayed silent. When tab-1 thaws it hears of both at once and leads for
    // a moment, with a later epoch than tab-2's: tab-2 keeps the lock and
    // the lead, and tab-3 comes back to it at once.
    let (mut w, instances) = tabs_with_instances(Backend::Locks, 4);
    assert_eq!(w.leader("s"), Some(0));
    w.freeze(1);
    w.crash(0);
    w.run_until_cond(10_000, |w| w.leader("s").is_some())
        .expect("stolen");
    let holder = w.leader("s").unwrap();
    assert_ne!(holder, 1);
    w.run_for(300);
    w.thaw(1);
    let took = w
        .run_until_cond(5000, |w| {
            instances[1..].iter().all(|&i| w.instance(i).is_open())
        })
        .expect("all open");
    assert!(took <= 2 * w.cfg.timing.heartbeat_ms, "{took}");
    settle(&mut w);
    assert_eq!(w.leader("s"), Some(holder));
    w.check_settled(&["s"]);
    w.check_traffic(&["s"], 2);
}

#[test]
fn leader_superseded_while_closing_still_closes_its_instance() {
    // The last instance anywhere closes and waits for the socket's real
    // close, which is slow to come; meanwhile the (silent) leader is
    // superseded and lets its socket go: the instance gets its close anyway.
    let mut cfg = Config::new(Backend::Locks);
    cfg.net = Net::fixed(1, 1000);
    let mut w = World::new(cfg);
    w.add_tab();
    w.add_tab();
    let a = w.join(0, "s");
    settle(&mut w);
    w.zombie(a);
    w.close(a, Some(4005), "leaving");
    assert_eq!(w.lifecycle(a), vec![open()]);
    let b = w.join(1, "s");
    let took = w
        .run_until_cond(1900, |w| w.instance(a).final_close.is_some())
        .expect("closed");
    assert!(took < 1000, "{took}");
    assert_eq!(
        w.lifecycle(a),
        vec![open(), closed(4005, "leaving", true, false)]
    );
    settle(&mut w);
    assert!(w.instance(b).is_open());
    assert_eq!(w.tabs[0].core().instance_count(), 0);
    assert_eq!(w.tabs[0].core().scope_count(), 0);
}

#[test]
fn echoes_reach_every_instance_once() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        w.server.echo = true;
        for &i in &instances {
            assert!(w.send(i));
        }
        settle(&mut w);
        for &i in &instances {
            let mut got: Vec<String> = w
                .instance(i)
                .other_received
                .iter()
                .map(|p| format!("{p:?}"))
                .collect();
            got.sort();
            let mut want: Vec<String> = instances
                .iter()
                .map(|&j| {
                    format!(
                        "{:?}",
                        Pl::Other(format!(
                            "echo {:?}",
                            Pl::Up {
                                instance: j,
                                seq: 0
                            }
                        ))
                    )
                })
                .collect();
            want.sort();
            assert_eq!(got, want, "{backend:?} #{i}");
        }
    }
}

// ------------------------------------------------------------------ the driver

#[test]
fn a_socket_the_browser_refuses_to_open_fails_the_connection() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        let mut request = w.request("s");
        request.url = "http://sim.invalid/s".to_owned();
        let i = w.join_with(0, request);
        w.run_for(2000);
        assert_eq!(
            w.lifecycle(i),
            vec![Event::Error, closed(1006, "", false, false)],
            "{backend:?}"
        );
        assert!(w.server.conns.is_empty());
        assert_eq!(w.tabs[0].core().scope_count(), 0);
    }
}

#[test]
fn lock_events_of_a_replaced_request_are_dropped() {
    let (mut w, _instances) = tabs_with_instances(Backend::Locks, 2);
    let leader = w.leader("s").expect("a leader");
    let follower = 1 - leader;
    let waiting = w.lock_ticket(follower, "s").expect("the follower waits");
    let stale = waiting - 1;
    w.inject(
        follower,
        Input::LockAcquired {
            scope: "s".to_owned(),
            request: stale,
        },
    );
    w.inject(
        leader,
        Input::LockLost {
            scope: "s".to_owned(),
            request: w.lock_ticket(leader, "s").unwrap() - 1,
        },
    );
    settle(&mut w);
    assert_eq!(w.leader("s"), Some(leader));
    assert_eq!(w.server.conns.len(), 1);
    w.check_settled(&["s"]);
}

#[test]
fn a_leader_whose_page_leaves_hands_over_at_once() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.farewell(leader);
        w.crash(leader);
        let took = handed_over(&mut w, &instances, &[leader]);
        // Lease: the first by rank leads at once, never after the leader
        // timeout a crash costs; with Web Locks the lock is freed with it.
        assert!(took <= 15, "{backend:?}: {took} ms");
    }
}

/// Firefox closes the socket of a page that navigates away with 1001 before
/// the page's `pagehide`, where it posts its farewell. The farewell must win:
/// the others hand over instead of closing.
#[test]
fn a_leader_whose_page_leaves_as_its_socket_goes_away_hands_over() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.server_close("s", 1001, "");
        // The close has reached the leader; its page goes within the hold.
        w.run_for(w.cfg.net.socket_latency.1 + w.cfg.timing.going_away_hold_ms / 2);
        w.farewell(leader);
        w.crash(leader);
        handed_over(&mut w, &instances, &[leader]);
    }
}

/// A server going away (1001) with no page leaving is final for all, once
/// the hold is over.
#[test]
fn a_server_going_away_is_final_for_all_after_the_hold() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let closed_at = w.now;
        w.server_close("s", 1001, "restart");
        let hold = w.cfg.timing.going_away_hold_ms;
        w.run_for(hold - 1);
        for &i in &instances {
            assert_eq!(w.lifecycle(i), vec![open()], "{backend:?}: held");
        }
        settle(&mut w);
        for &i in &instances {
            assert_eq!(
                w.lifecycle(i),
                vec![open(), closed(1001, "restart", true, false)],
                "{backend:?}"
            );
            let (at, _) = w.instance(i).events.last().unwrap();
            assert!(*at >= closed_at + hold, "{backend:?}: closed at {at}");
        }
        assert!(w.server.open_conns("s").is_empty());
        assert_eq!(w.lock_holder("s"), None);
    }
}

/// A page that went away may keep its worker a moment: long enough to be
/// granted the lock of a leader that went with it, lead, and fail a socket
/// as the page goes. Nothing it says then may end the others' instances.
#[test]
fn a_departed_tab_whose_worker_lives_on_is_ignored() {
    let (mut w, instances) = tabs_with_instances(Backend::Locks, 3);
    assert_eq!(w.lock_waiters("s"), vec![1, 2]);
    w.farewell(0);
    w.farewell(1);
    w.crash(0);
    w.run_until_cond(100, |w| w.leader("s") == Some(1))
        .expect("the departed tab's worker takes the lock");
    w.run_for(20);
    w.server_drop("s");
    w.run_for(20);
    w.crash(1);
    settle(&mut w);
    assert_eq!(w.leader("s"), Some(2));
    assert_eq!(w.lifecycle(instances[2]), vec![open(), reconnect(), open()]);
}

/// After a leader change, a new leader's socket that fails to open fails its
/// own tab only (its page may be going away with it); the next tab tries.
#[test]
fn a_new_leader_that_cannot_connect_fails_only_its_own_tab() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        w.server.refuse = true;
        w.crash(0);
        w.run_until_cond(10_000, |w| {
            instances
                .iter()
                .any(|&i| w.instance(i).final_close.is_some())
        })
        .expect("the new leader's attempt fails");
        w.server.refuse = false;
        settle(&mut w);
        let failed = vec![
            open(),
            reconnect(),
            Event::Error,
            closed(1006, "", false, false),
        ];
        let mut lifecycles: Vec<_> = instances[1..].iter().map(|&i| w.lifecycle(i)).collect();
        lifecycles.sort_by_key(|events| events.len());
        assert_eq!(
            lifecycles,
            vec![vec![open(), reconnect(), open()], failed],
            "{backend:?}"
        );
        w.check_settled(&["s"]);
    }
}

/// With the server down, each tab fails once, as each native socket would:
/// one attempt per tab, never a loop.
#[test]
fn a_server_down_after_a_leader_change_fails_each_tab_once() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        w.server.refuse = true;
        w.crash(0);
        w.run_for(20_000);
        for &i in &instances[1..] {
            let failed = vec![
                open(),
                reconnect(),
                Event::Error,
                closed(1006, "", false, false),
            ];
            assert_eq!(w.lifecycle(i), failed, "{backend:?}");
        }
        assert_eq!(
            w.server.conns.len(),
            3,
            "{backend:?}: one attempt per tab left"
        );
    }
}

/// Lease: when the leader and the first by rank leave together (two frames
/// of one closing page), the others claim after a discovery period.
#[test]
fn lease_leader_and_its_successor_leaving_together_hand_over_after_discovery() {
    let (mut w, instances) = tabs_with_instances(Backend::Lease, 4);
    assert_eq!(w.leader("s"), Some(0));
    for tab in [0, 1] {
        w.farewell(tab);
        w.crash(tab);
    }
    let took = handed_over(&mut w, &instances, &[0, 1]);
    let timing = w.cfg.timing;
    assert!(
        took <= timing.discovery_ms + timing.claim_window_ms + 15,
        "{took} ms"
    );
    assert!(took < timing.leader_timeout_ms, "{took} ms");
}

// ------------------------------------------------------------ busy pages

/// `count` tabs as `tabs_with_instances` makes them, in an engine that runs a
/// worker's socket on its page's main thread (Gecko).
fn page_bound_tabs(backend: Backend, count: usize) -> (World, Vec<InstanceId>) {
    engine_tabs(backend, count, Timing::with_page_bound_socket)
}

/// `count` tabs as `tabs_with_instances` makes them, with the engine's
/// timings.
fn engine_tabs(
    backend: Backend,
    count: usize,
    engine: fn(Timing) -> Timing,
) -> (World, Vec<InstanceId>) {
    let mut w = world(backend, count);
    w.cfg.timing = engine(w.cfg.timing);
    with_instances(w)
}

/// The server pushes a message every 100 ms for `ms`; returns when each
/// went out, by number.
fn push_every_100_ms(w: &mut World, ms: u64) -> Vec<(u32, u64)> {
    let mut pushed = Vec::new();
    for _ in 0..ms / 100 {
        pushed.push((w.server_broadcast("s"), w.now));
        w.run_for(100);
    }
    pushed
}

/// An instance's opens and closes, without its messages.
fn transitions(w: &World, instance: InstanceId) -> Vec<Event<Pl>> {
    w.lifecycle(instance)
        .into_iter()
        .filter(|event| !matches!(event, Event::Message(_)))
        .collect()
}

/// The server's messages an instance received, by number, in order.
fn received(w: &World, instance: InstanceId) -> Vec<u32> {
    w.instance(instance)
        .received
        .iter()
        .map(|(_, seq)| *seq)
        .collect()
}

/// Gecko: a busy page stalls its worker's socket. Its leader stops hearing
/// its page answer, hands over once, and the other tabs are served by the
/// new leader while the page is still busy: they miss only what the server
/// sent before the new socket opened (as in any reconnection), and receive
/// nothing twice, though the stalled socket delivers its backlog when the
/// page is free. Their sends are held for the page's answer, so none
/// reaches the server late, out of order, from the stalled socket; those
/// held at the hand-over go through the new leader.
#[test]
fn a_leader_whose_busy_page_stalls_its_socket_hands_over_once() {
    busy_leader_page_hands_over_once(Timing::with_page_bound_socket, 3000);
}

/// WebKit: a busy page stalls its worker's bus as well, so its leader's
/// heartbeats stop and its step-down is heard only when the page is free.
/// A follower whose own page answers meanwhile replaces it well before the
/// timeout, and it all goes as in Gecko; the sends the busy leader never got
/// go again through the new leader once it refuses them, when its page is
/// free (within `Timing::in_doubt_after_ms` of the change).
#[test]
fn a_leader_whose_busy_page_stalls_its_bus_is_replaced_once() {
    let timeout = Config::new(Backend::Locks).timing.leader_timeout_ms;
    busy_leader_page_hands_over_once(Timing::with_page_bound_bus, 2 * timeout);
}

fn busy_leader_page_hands_over_once(engine: fn(Timing) -> Timing, busy_ms: u64) {
    for backend in BOTH {
        let (mut w, instances) = engine_tabs(backend, 3, engine);
        let leader = w.leader("s").unwrap();
        // A responsive page keeps its leader, however long.
        push_every_100_ms(&mut w, 2000);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        let start = w.now;
        w.busy_page(leader, busy_ms);
        // A follower sends every 100 ms too, while its instance is open: the
        // server gets them in order and never twice (the world checks), and
        // none the busy leader held waits in its stalled socket.
        let sender = instances
            .iter()
            .copied()
            .find(|&i| w.instance(i).tab != leader)
            .unwrap();
        let mut pushed = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..busy_ms / 100 {
            pushed.push((w.server_broadcast("s"), w.now));
            if w.instance(sender).is_open() {
                sent.push(w.instance(sender).sent);
                w.send(sender);
            }
            w.run_for(100);
        }
        settle(&mut w);
        w.check_settled(&["s"]);
        let new_leader = w.leader("s").unwrap();
        assert_ne!(new_leader, leader, "{backend:?}");
        let conns = w.server.conns.clone();
        let new_conn = conns.iter().rposition(|c| c.tab == new_leader).unwrap();
        let opened_at = conns[new_conn].opened_at.expect("the new socket opened");
        let timing = w.cfg.timing;
        // Noticed by the leader (Gecko) or its followers (WebKit), then a
        // takeover.
        let noticed = timing
            .leader_silence_ms()
            .unwrap_or(timing.page_silence_ms.unwrap());
        let bound = noticed
            + timing.page_ping_ms().unwrap()
            + w.cfg.takeover_bound()
            + if backend == Backend::Lease {
                timing.discovery_ms
            } else {
                0
            };
        assert!(
            opened_at - start <= bound,
            "{backend:?}: served again {} ms into the busy page (bound {bound})",
            opened_at - start
        );
        for &i in &instances {
            assert_eq!(
                transitions(&w, i),
                vec![open(), reconnect(), open()],
                "{backend:?}: one leader change, for every instance"
            );
            if w.instance(i).tab == leader {
                continue;
            }
            let got = received(&w, i);
            assert!(
                got.windows(2).all(|p| p[0] < p[1]),
                "{backend:?}: in order, none twice: {got:?}"
            );
            let missed: Vec<u32> = pushed
                .iter()
                .filter(|(seq, _)| !got.contains(seq))
                .map(|(seq, _)| *seq)
                .collect();
            assert!(
                pushed
                    .iter()
                    .all(|(seq, at)| !missed.contains(seq) || *at < opened_at),
                "{backend:?}: missed only what went out before the new socket opened: {missed:?}"
            );
            assert!(
                missed.len() as u64 <= bound / 100 + 1,
                "{backend:?}: missed {missed:?} of {}",
                pushed.len()
            );
        }
        // The busy leader refused the sends it held, and they went again
        // through the new leader: the server got every one.
        assert_eq!(w.server.ups_of(sender), sent, "{backend:?}");
        w.check_traffic(&["s"], 3);
    }
}

/// Where the socket does not depend on the page (Chromium, WebKit), a busy
/// page never costs a leader change: the leader does not watch its page.
#[test]
fn a_leader_whose_socket_does_not_run_on_its_page_never_watches_it() {
    for backend in BOTH {
        let (mut w, instances) = tabs_with_instances(backend, 3);
        let leader = w.leader("s").unwrap();
        w.busy_page(leader, 3000);
        push_every_100_ms(&mut w, 3000);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(leader), "{backend:?}");
        for &i in &instances {
            assert_eq!(transitions(&w, i), vec![open()], "{backend:?}");
        }
    }
}

/// A leader alone in its scope has no one to hand over to: it keeps the
/// socket through a busy page.
#[test]
fn a_leader_alone_keeps_the_socket_through_a_busy_page() {
    for backend in BOTH {
        let (mut w, instances) = page_bound_tabs(backend, 1);
        w.busy_page(0, 3000);
        let pushed = push_every_100_ms(&mut w, 3000);
        settle(&mut w);
        assert_eq!(w.leader("s"), Some(0), "{backend:?}");
        assert_eq!(transitions(&w, instances[0]), vec![open()], "{backend:?}");
        let all: Vec<u32> = pushed.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(received(&w, instances[0]), all, "{backend:?}");
    }
}

/// A send held for the page's answer still goes before the close the
/// application asks for right after it, as a native socket's would: the
/// server gets the message, then the client's close frame.
#[test]
fn a_send_held_for_the_page_goes_before_the_applications_close() {
    for backend in BOTH {
        let (mut w, instances) = page_bound_tabs(backend, 1);
        let only = instances[0];
        assert!(w.send(only), "{backend:?}");
        w.close(only, Some(4000), "client");
        settle(&mut w);
        assert_eq!(w.server.ups_of(only), vec![0], "{backend:?}");
        assert_eq!(
            w.server.client_closes,
            vec![(0, Some(4000), "client".to_owned())],
            "{backend:?}"
        );
    }
}

// ------------------------------------------------------------ sends across leader changes

/// The ways a leader stops leading while a follower's sends are on their
/// way to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Frozen past the timeout: replaced, it steps down when it thaws,
    /// before its followers give up on what they sent it
    /// (`Timing::in_doubt_after_ms` after they stopped following it).
    Freeze,
    /// Gecko: its busy page stalls its socket, and it hands over.
    BusyPage,
    /// Silent for good, holding the lock.
    Zombie,
    /// Gone without a word.
    Crash,
    /// Its page went away, saying so.
    PageGone,
}

/// One of `instances` in a tab other than `leader`'s.
fn follower_instance(w: &World, instances: &[InstanceId], leader: usize) -> InstanceId {
    instances
        .iter()
        .copied()
        .find(|&i| w.instance(i).tab != leader)
        .unwrap()
}

/// A follower sends while its leader is replaced, in every way a leader can
/// be. Each send reaches the server at most once, in the tab's order. A
/// leader that lives to step down says which of the sends it put on its
/// socket and refuses the rest, which go again through the next leader:
/// none is lost. A leader that vanishes cannot say: what it left unsaid is
/// counted in doubt (it may have reached the server), after the instance
/// saw the leader change as an abnormal closure, and nothing more is lost.
#[test]
fn sends_in_flight_across_every_kind_of_leader_change() {
    use Change::*;
    for change in [Freeze, BusyPage, Zombie, Crash, PageGone] {
        for backend in BOTH {
            let (mut w, instances) = if change == BusyPage {
                page_bound_tabs(backend, 3)
            } else {
                tabs_with_instances(backend, 3)
            };
            let leader = w.leader("s").unwrap();
            let sender = follower_instance(&w, &instances, leader);
            for _ in 0..3 {
                w.send(sender);
            }
            let timeout = w.cfg.timing.leader_timeout_ms;
            match change {
                Freeze => w.freeze_for(leader, timeout * 5 / 2),
                BusyPage => w.busy_page(leader, 3000),
                Zombie => w.zombie(instances[leader]),
                Crash => w.crash(leader),
                PageGone => {
                    w.farewell(leader);
                    w.crash(leader);
                }
            }
            // It keeps sending whenever its instance is open, through
            // whoever leads.
            for _ in 0..40 {
                if w.instance(sender).is_open() {
                    w.send(sender);
                }
                w.run_for(50);
            }
            settle(&mut w);
            let context = format!("{change:?}, {backend:?}");
            assert_ne!(w.leader("s"), Some(leader), "{context}");
            let ups = w.server.ups_of(sender);
            assert!(
                ups.windows(2).all(|p| p[0] < p[1]),
                "{context}: once, in order: {ups:?}"
            );
            let sent = w.instance(sender).sent as usize;
            let in_doubt = w
                .instance(sender)
                .leadership
                .as_ref()
                .unwrap()
                .sends_in_doubt as usize;
            if matches!(change, Freeze | BusyPage) {
                assert_eq!(ups, (0..sent as u32).collect::<Vec<_>>(), "{context}");
                assert_eq!(in_doubt, 0, "{context}");
            } else {
                assert!(
                    sent - ups.len() <= in_doubt,
                    "{context}: {ups:?} of {sent}, {in_doubt} in doubt"
                );
            }
            assert!(
                transitions(&w, sender).contains(&reconnect()),
                "{context}: the instance saw the leader change"
            );
            w.check_sends();
        }
    }
}

/// A follower's page sends while its instance is open, and the send reaches
/// the worker just after a leader change made the instance connecting (the
/// change's close was on its way to the page): made before the page saw the
/// change, it goes through the next leader, once, before the tab's later
/// sends, whether the sender's tab takes over or another does.
#[test]
fn a_send_racing_a_leader_change_goes_through_the_next_leader() {
    for sender_leads in [true, false] {
        for backend in BOTH {
            let (mut w, instances) = tabs_with_instances(backend, 3);
            let leader = w.leader("s").unwrap();
            let sender = follower_instance(&w, &instances, leader);
            w.send(sender);
            w.run_until_cond(1000, |w| w.server.ups_of(sender) == vec![0])
                .expect("the first send reached the server");
            if sender_leads {
                w.force_leader(sender);
            } else {
                w.crash(leader);
            }
            let context = format!("sender leads: {sender_leads}, {backend:?}");
            w.run_until_cond(5000, |w| !w.instance(sender).is_open())
                .unwrap_or_else(|| panic!("{context}: the instance saw the change"));
            assert!(w.send_racing_close(sender), "{context}: accepted");
            w.run_until_cond(5000, |w| w.instance(sender).is_open())
                .unwrap_or_else(|| panic!("{context}: the instance opened again"));
            w.send(sender);
            settle(&mut w);
            assert_eq!(
                w.server.ups_of(sender),
                vec![0, 1, 2],
                "{context}: each once, in order"
            );
            w.check_sends();
        }
    }
}
