//! A scope with no server (`NO_SERVER`): its tabs elect a leader as any
//! scope's do, and the leader's connection opens at once without a socket.
//! Both election backends, on the simulated world with fixed latencies.

mod common;

use bws_core::Event;
use common::*;

/// The instances of `tabs` tabs in a scope with no server, settled.
fn serverless(backend: bws_core::Backend, tabs: usize) -> (World, Vec<InstanceId>) {
    let mut w = world(backend, tabs);
    w.cfg.no_server = true;
    let mut instances = Vec::new();
    for tab in 0..tabs {
        instances.push(w.join(tab, "s"));
        w.run_for(50);
    }
    settle(&mut w);
    (w, instances)
}

fn opened() -> Event<Pl> {
    Event::Open {
        protocol: String::new(),
        extensions: String::new(),
    }
}

#[test]
fn one_leader_and_every_instance_open_without_a_socket() {
    for backend in BOTH {
        let (mut w, instances) = serverless(backend, 3);
        assert_eq!(w.leading_tabs("s").len(), 1, "{backend:?}");
        for &i in &instances {
            assert_eq!(w.lifecycle(i), vec![opened()], "{backend:?}: #{i}");
        }
        assert!(w.server.conns.is_empty(), "{backend:?}: no socket");
        // Sends go nowhere, and say so to no one: no error, no close.
        w.send(instances[1]);
        settle(&mut w);
        assert_eq!(w.lifecycle(instances[1]), vec![opened()], "{backend:?}");
    }
}

#[test]
fn the_leader_tab_going_away_hands_over_once() {
    for backend in BOTH {
        let (mut w, instances) = serverless(backend, 3);
        let leader = w.leading_tabs("s")[0];
        w.farewell(leader);
        w.crash(leader);
        settle(&mut w);
        let gone = w.id(leader).to_owned();
        let mut named = Vec::new();
        for (tab, &i) in instances.iter().enumerate().filter(|(t, _)| *t != leader) {
            assert_eq!(
                w.lifecycle(i),
                vec![opened(), reconnect(), opened()],
                "{backend:?}: tab {tab}"
            );
            let known = w.instances[&i].leadership.as_ref();
            named.push(known.and_then(|l| l.leader_id.clone()));
        }
        assert!(named[0].is_some(), "{backend:?}: a leader is known");
        assert_ne!(named[0].as_deref(), Some(gone.as_str()), "{backend:?}");
        assert_eq!(named[0], named[1], "{backend:?}: both name it");
        assert!(w.server.conns.is_empty(), "{backend:?}");
    }
}

#[test]
fn force_leader_takes_the_lead() {
    for backend in BOTH {
        let (mut w, instances) = serverless(backend, 2);
        let follower = 1 - w.leading_tabs("s")[0];
        w.force_leader(instances[follower]);
        settle(&mut w);
        assert_eq!(w.leading_tabs("s"), vec![follower], "{backend:?}");
    }
}

#[test]
fn close_is_clean_with_the_code_given() {
    for backend in BOTH {
        let (mut w, instances) = serverless(backend, 1);
        w.close(instances[0], Some(1000), "done");
        settle(&mut w);
        assert_eq!(
            w.lifecycle(instances[0]),
            vec![opened(), closed(1000, "done", true, false)],
            "{backend:?}"
        );
    }
}

/// What `BroadcastElection.close()` does: the leader hands over, then leaves.
#[test]
fn a_leader_that_relinquishes_and_closes_hands_over_once() {
    for backend in BOTH {
        let (mut w, instances) = serverless(backend, 3);
        let leader = w.leading_tabs("s")[0];
        w.relinquish(instances[leader]);
        w.close(instances[leader], Some(1000), "");
        settle(&mut w);
        let [next] = w.leading_tabs("s")[..] else {
            panic!("{backend:?}: one leader")
        };
        assert_ne!(next, leader, "{backend:?}");
        for (tab, &i) in instances.iter().enumerate().filter(|(t, _)| *t != leader) {
            assert_eq!(
                w.lifecycle(i),
                vec![opened(), reconnect(), opened()],
                "{backend:?}: tab {tab}"
            );
        }
    }
}
