//! The reconnect loop's rules (option `reconnect`), on the simulated world
//! with fixed latencies (bus 1 ms, socket 5 ms each way), for both election
//! backends: one loop per scope run by its leader, delays with full jitter,
//! the count carried across leader changes, final codes, the bound on
//! retries, the connection timeout and the queue of sends while connecting.

mod common;

use bws_core::{Backend, Event, ReconnectPolicy};
use common::*;

/// Small delays, so that runs stay short: bounds of 100, 200, 400, 800, then
/// 1000 ms.
fn policy() -> ReconnectPolicy {
    ReconnectPolicy {
        min_delay_ms: 100,
        max_delay_ms: 1000,
        grow_factor: 2.0,
        min_uptime_ms: 500,
        connection_timeout_ms: 300,
        ..ReconnectPolicy::new()
    }
}

fn reconnecting_world(backend: Backend, tabs: usize, policy: ReconnectPolicy) -> World {
    let mut w = world(backend, tabs);
    w.cfg.reconnect = Some(policy);
    w
}

/// When the server saw each connection attempt of scope "s".
fn attempts(w: &World) -> Vec<u64> {
    w.server
        .conns
        .iter()
        .map(|conn| conn.requested_at)
        .collect()
}

/// The failed attempts in a row the instance last heard of.
fn retries(w: &World, instance: InstanceId) -> u32 {
    w.instance(instance).leadership.as_ref().unwrap().retries
}

/// One attempt at a time: each connection of the scope was asked for after
/// the one before, or in the same millisecond if that one's tab crashed then
/// (its socket went with it).
fn assert_one_attempt_at_a_time(w: &World) {
    let conns = &w.server.conns;
    for pair in conns.windows(2) {
        assert_eq!(pair[0].state, ConnState::Closed, "{conns:?}");
        let after = pair[0].requested_at < pair[1].requested_at;
        let crashed = pair[0].requested_at == pair[1].requested_at && !w.tabs[pair[0].tab].alive;
        assert!(after || crashed, "{conns:?}");
    }
}

#[test]
fn a_lost_connection_is_retried_after_jittered_growing_delays_until_max_retries() {
    for backend in BOTH {
        let mut w = reconnecting_world(
            backend,
            1,
            ReconnectPolicy {
                max_retries: 6,
                ..policy()
            },
        );
        let i = w.join(0, "s");
        settle(&mut w);
        w.server.refuse = true;
        let lost_at = w.now;
        w.server_drop("s");
        w.run_for(20_000);
        let attempts = attempts(&w);
        assert_eq!(attempts.len(), 1 + 6, "{backend:?}: {attempts:?}");
        // Each attempt comes within its bound after the last one failed
        // (a refused attempt fails 10 ms after it is made).
        let mut failed_at = lost_at + 5;
        let mut delays = Vec::new();
        for (n, &at) in attempts[1..].iter().enumerate() {
            let delay = at - failed_at;
            let bound = policy().delay_bound_ms(n as u32 + 1);
            assert!(
                delay <= bound,
                "{backend:?}: attempt {} after {delay} ms",
                n + 1
            );
            delays.push(delay);
            failed_at = at + 10;
        }
        // Full jitter: the delays are spread below their bounds, not at them.
        let at_bound = (1..=6)
            .map(|n| policy().delay_bound_ms(n))
            .zip(&delays)
            .filter(|(bound, delay)| *bound == **delay)
            .count();
        assert!(at_bound < 3, "{backend:?}: delays {delays:?}");
        assert_eq!(
            w.lifecycle(i),
            vec![
                open(),
                reconnect(),
                Event::Error,
                closed(1006, "", false, false)
            ],
            "{backend:?}: one reconnect, then the final close after the last attempt"
        );
        assert_eq!(retries(&w, i), 6, "{backend:?}");
        assert_eq!(w.tabs[0].core().scope_count(), 0, "{backend:?}");
    }
}

#[test]
fn the_count_starts_from_zero_once_a_connection_stayed_open_long_enough() {
    for backend in BOTH {
        let mut w = reconnecting_world(backend, 1, policy());
        let i = w.join(0, "s");
        settle(&mut w);
        w.server.refuse = true;
        w.server_drop("s");
        w.run_until_cond(5_000, |w| w.server.conns.len() == 4)
            .expect("three attempts");
        w.server.refuse = false;
        w.run_until_cond(5_000, |w| w.instance(i).is_open())
            .expect("open again");
        assert_eq!(retries(&w, i), 3, "{backend:?}: not yet");
        w.run_for(policy().min_uptime_ms + 20);
        assert_eq!(retries(&w, i), 0, "{backend:?}: after the minimum uptime");
        assert_eq!(
            w.lifecycle(i),
            vec![open(), reconnect(), open()],
            "{backend:?}"
        );
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn a_connection_lost_before_the_minimum_uptime_keeps_counting() {
    for backend in BOTH {
        let mut w = reconnecting_world(backend, 1, policy());
        let i = w.join(0, "s");
        settle(&mut w);
        for count in 1..=2 {
            w.server_drop("s");
            w.run_until_cond(100, |w| !w.instance(i).is_open())
                .expect("the drop is heard");
            w.run_until_cond(5_000, |w| w.instance(i).is_open())
                .expect("open again");
            assert_eq!(retries(&w, i), count, "{backend:?}");
            w.run_for(50);
        }
    }
}

#[test]
fn one_loop_for_all_tabs_carried_on_by_the_next_leader() {
    for backend in BOTH {
        let (mut w, instances) = with_instances(reconnecting_world(backend, 4, policy()));
        let leader = w.leader("s").unwrap();
        w.server.refuse = true;
        w.server_drop("s");
        w.run_until_cond(10_000, |w| w.server.conns.len() == 4)
            .expect("three attempts");
        let carried = retries(&w, instances[(leader + 1) % 4]);
        assert_eq!(carried, 3, "{backend:?}: followers know the count");
        w.crash(leader);
        w.run_until_cond(20_000, |w| w.server.conns.len() == 5)
            .expect("the next leader's attempt");
        let next = w.leading_tabs("s")[0];
        assert_ne!(next, leader, "{backend:?}");
        assert_eq!(w.server.conns[4].tab, next, "{backend:?}");
        // Judged when the count changes (the attempt refused), not after a
        // while: the jitter may start the next attempt at once.
        w.run_until_cond(1_000, |w| retries(w, instances[next]) != 3)
            .expect("the attempt's failure counted");
        assert_eq!(
            retries(&w, instances[next]),
            4,
            "{backend:?}: the next leader went on counting"
        );
        w.server.refuse = false;
        w.run_until_cond(20_000, |w| w.server.open_conns("s").len() == 1)
            .expect("open again");
        settle(&mut w);
        assert_one_attempt_at_a_time(&w);
        for (tab, &i) in instances
            .iter()
            .enumerate()
            .filter(|(tab, _)| *tab != leader)
        {
            assert_eq!(
                w.lifecycle(i),
                vec![open(), reconnect(), open()],
                "{backend:?}: tab {tab}"
            );
        }
        w.check_settled(&["s"]);
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn a_next_leader_waits_for_the_attempt_its_predecessor_scheduled() {
    for backend in BOTH {
        let slow = ReconnectPolicy {
            min_delay_ms: 5_000,
            max_delay_ms: 5_000,
            ..policy()
        };
        let (mut w, instances) = with_instances(reconnecting_world(backend, 3, slow));
        let leader = w.leader("s").unwrap();
        let follower = instances[(leader + 1) % 3];
        w.server.refuse = true;
        w.server_drop("s");
        w.run_until_cond(10_000, |w| retries(w, follower) == 1)
            .expect("the first attempt is scheduled");
        w.crash(leader);
        let took_over = w
            .run_until_cond(10_000, |w| {
                w.leading_tabs("s").iter().any(|&tab| tab != leader)
            })
            .expect("a new leader");
        let attempt = w
            .run_until_cond(10_000, |w| w.server.conns.len() == 2)
            .expect("the scheduled attempt");
        assert!(
            attempt <= 5_000 + 20,
            "{backend:?}: not after the scheduled time (took over after {took_over} ms, attempt after {attempt} ms)"
        );
        assert_one_attempt_at_a_time(&w);
    }
}

#[test]
fn final_codes_end_it_unless_named_and_other_codes_reconnect() {
    for backend in BOTH {
        for (code, named, reconnects) in [
            (4001, false, false),
            (1008, false, false),
            (4001, true, true),
            (1001, false, true),
            (1011, false, true),
        ] {
            let policy = ReconnectPolicy {
                reconnect_on_codes: if named { vec![code] } else { Vec::new() },
                ..policy()
            };
            let (mut w, instances) = with_instances(reconnecting_world(backend, 2, policy));
            w.server_close("s", code, "bye");
            settle(&mut w);
            let case = format!("{backend:?}: {code} named {named}");
            if reconnects {
                assert_eq!(w.server.open_conns("s").len(), 1, "{case}");
                for &i in &instances {
                    assert_eq!(w.lifecycle(i), vec![open(), reconnect(), open()], "{case}");
                }
            } else {
                assert_eq!(w.server.conns.len(), 1, "{case}");
                for &i in &instances {
                    assert_eq!(
                        w.lifecycle(i),
                        vec![open(), closed(code, "bye", true, false)],
                        "{case}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_applications_close_never_reconnects() {
    for backend in BOTH {
        let (mut w, instances) = with_instances(reconnecting_world(backend, 2, policy()));
        w.close(instances[1], Some(4000), "done");
        w.close(instances[0], Some(4000), "done");
        settle(&mut w);
        assert_eq!(w.server.conns.len(), 1, "{backend:?}");
        assert_eq!(w.server.client_closes.len(), 1, "{backend:?}");
        for &i in &instances {
            assert_eq!(
                w.lifecycle(i),
                vec![open(), closed(4000, "done", true, false)],
                "{backend:?}"
            );
        }
    }
}

#[test]
fn an_attempt_that_does_not_open_in_time_fails_and_the_loop_goes_on() {
    for backend in BOTH {
        let mut w = reconnecting_world(backend, 1, policy());
        let i = w.join(0, "s");
        settle(&mut w);
        w.server.hang = true;
        w.server_drop("s");
        w.run_until_cond(10_000, |w| w.server.conns.len() == 3)
            .expect("two attempts");
        let attempts = attempts(&w);
        let gap = attempts[2] - attempts[1];
        let timeout = policy().connection_timeout_ms;
        assert!(
            gap >= timeout && gap <= timeout + policy().delay_bound_ms(2),
            "{backend:?}: the first attempt was given up after {timeout} ms ({attempts:?})"
        );
        w.server.hang = false;
        w.run_until_cond(10_000, |w| w.instance(i).is_open())
            .expect("open again");
        assert_eq!(
            w.lifecycle(i),
            vec![open(), reconnect(), open()],
            "{backend:?}"
        );
    }
}

#[test]
fn sends_while_reconnecting_go_once_in_order_before_open() {
    for backend in BOTH {
        let (mut w, instances) = with_instances(reconnecting_world(backend, 3, policy()));
        for &i in &instances {
            assert!(w.send(i));
        }
        // On the server before it drops: sends on a dropped socket are lost.
        w.run_for(50);
        w.server.refuse = true;
        w.server_drop("s");
        w.run_until_cond(10_000, |w| w.server.conns.len() == 3)
            .expect("two attempts");
        for _ in 0..3 {
            for &i in &instances {
                assert!(w.send(i), "{backend:?}: queued while connecting");
            }
        }
        w.server.refuse = false;
        w.run_until_cond(10_000, |w| w.server.open_conns("s").len() == 1)
            .expect("open again");
        settle(&mut w);
        for &i in &instances {
            assert_eq!(
                w.server.ups_of(i),
                vec![0, 1, 2, 3],
                "{backend:?}: #{i}'s sends, once each and in order"
            );
        }
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn reconnect_in_any_tab_reopens_the_shared_connection_at_once() {
    for backend in BOTH {
        for policy in [None, Some(policy())] {
            let mut w = world(backend, 3);
            w.cfg.reconnect = policy.clone();
            let (mut w, instances) = with_instances(w);
            let leader = w.leader("s").unwrap();
            for (round, tab) in [(leader + 1) % 3, leader].into_iter().enumerate() {
                w.reconnect(instances[tab], Some(4000), "again");
                w.run_until_cond(100, |w| {
                    w.server.open_conns("s").len() == 1 && w.server.conns.len() == round + 2
                })
                .expect("a new connection");
                settle(&mut w);
            }
            let case = format!("{backend:?}, reconnect option {}", policy.is_some());
            let again = (4000.into(), "again".to_owned());
            assert_eq!(
                w.server.client_closes,
                vec![(0, again.0, again.1.clone()), (1, again.0, again.1)],
                "{case}: closed with the code and reason given"
            );
            for &i in &instances {
                assert_eq!(
                    w.lifecycle(i),
                    vec![open(), reconnect(), open(), reconnect(), open()],
                    "{case}"
                );
                assert_eq!(retries(&w, i), 0, "{case}");
            }
            w.check_settled(&["s"]);
            w.check_traffic(&["s"], 3);
        }
    }
}

#[test]
fn online_makes_a_waiting_leader_attempt_at_once() {
    for backend in BOTH {
        let slow = ReconnectPolicy {
            min_delay_ms: 60_000,
            max_delay_ms: 60_000,
            ..policy()
        };
        let (mut w, instances) = with_instances(reconnecting_world(backend, 2, slow));
        let leader = w.leader("s").unwrap();
        w.server_drop("s");
        w.run_until_cond(100, |w| retries(w, instances[0]) == 1)
            .expect("the loop waits for its first attempt");
        // Whatever the draw, long before a minute.
        w.run_for(50);
        let attempts = w.server.conns.len();
        assert_eq!(attempts, 1, "{backend:?}: no attempt yet");
        w.online(leader);
        w.run_until_cond(20, |w| w.server.open_conns("s").len() == 1)
            .expect("an attempt at once");
        assert_eq!(w.server.conns.len(), attempts + 1, "{backend:?}");
        // A follower's `online` changes nothing: only the leader connects.
        w.online(1 - leader);
        settle(&mut w);
        assert_eq!(w.server.conns.len(), attempts + 1, "{backend:?}");
        for &i in &instances {
            assert_eq!(
                w.lifecycle(i),
                vec![open(), reconnect(), open()],
                "{backend:?}"
            );
        }
    }
}

#[test]
fn a_leader_that_slept_past_its_timeout_replaces_its_socket_with_reconnect_only() {
    for backend in BOTH {
        for policy in [None, Some(policy())] {
            let mut w = world(backend, 2);
            w.cfg.reconnect = policy.clone();
            let (mut w, instances) = with_instances(w);
            let leader = w.leader("s").unwrap();
            let timeout = w.cfg.timing.leader_timeout_ms;
            let case = format!("{backend:?}, reconnect option {}", policy.is_some());
            // A short jump is not sleep.
            w.wall_clock_jump(leader, timeout);
            settle(&mut w);
            assert_eq!(w.server.conns.len(), 1, "{case}");
            w.wall_clock_jump(leader, timeout + 1);
            settle(&mut w);
            let (conns, lifecycle) = match policy {
                Some(_) => (2, vec![open(), reconnect(), open()]),
                None => (1, vec![open()]),
            };
            assert_eq!(w.server.conns.len(), conns, "{case}");
            assert_eq!(w.server.open_conns("s").len(), 1, "{case}");
            for &i in &instances {
                assert_eq!(w.lifecycle(i), lifecycle, "{case}");
            }
        }
    }
}

#[test]
fn the_leaders_page_gives_the_url_before_every_connection() {
    for backend in BOTH {
        let mut w = reconnecting_world(backend, 2, policy());
        w.cfg.resolve = true;
        let (mut w, instances) = with_instances(w);
        assert_eq!(
            w.server.resolves, 1,
            "{backend:?}: asked before the first connection"
        );
        w.server_drop("s");
        w.run_until_cond(5_000, |w| w.server.open_conns("s").len() == 1)
            .expect("open again");
        assert_eq!(w.server.resolves, 2, "{backend:?}: and before the next");
        // A failing provider fails the attempt, and the loop goes on.
        w.server.provider_fails = true;
        w.server_drop("s");
        w.run_until_cond(5_000, |w| retries(w, instances[0]) >= 3)
            .expect("failed attempts");
        assert_eq!(
            w.server.conns.len(),
            2,
            "{backend:?}: no socket for a failed provider"
        );
        w.server.provider_fails = false;
        w.run_until_cond(5_000, |w| w.server.open_conns("s").len() == 1)
            .expect("open again");
        settle(&mut w);
        for &i in &instances {
            assert_eq!(
                w.lifecycle(i),
                vec![open(), reconnect(), open(), reconnect(), open()],
                "{backend:?}"
            );
        }
        w.check_traffic(&["s"], 3);
    }
}

#[test]
fn without_reconnect_a_failing_provider_fails_the_connection() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        w.cfg.resolve = true;
        w.server.provider_fails = true;
        let i = w.join(0, "s");
        settle(&mut w);
        assert_eq!(
            w.lifecycle(i),
            vec![Event::Error, closed(1006, "", false, false)],
            "{backend:?}"
        );
        assert_eq!(w.server.conns.len(), 0, "{backend:?}");
    }
}

#[test]
fn an_instance_closed_while_its_page_gives_the_url_hands_the_question_on() {
    for backend in BOTH {
        let mut w = world(backend, 1);
        w.cfg.resolve = true;
        let first = w.join(0, "s");
        let second = w.join(0, "s");
        // Asked through the first instance, which closes before its page answers.
        w.run_until_cond(2000, |w| w.server.resolves == 1)
            .expect("the page is asked");
        w.close(first, None, "");
        settle(&mut w);
        assert_eq!(w.server.resolves, 2, "{backend:?}: asked again");
        assert_eq!(w.lifecycle(second), vec![open()], "{backend:?}");
    }
}
