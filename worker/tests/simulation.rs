//! Randomized runs of many tabs against the simulated browser (see
//! `common`): random joins, closes, disconnects, sends, server traffic, tab
//! crashes, freezes, zombies, bus partitions and losses, `forceLeader()`,
//! `relinquish()` and `reconnect()`, server outages with the option
//! `reconnect`, URL providers that fail, for both election
//! backends. The world checks its invariants after every step; after each
//! burst of chaos comes a calm spell in which the election must settle (one
//! leader per scope, every instance open through it, nothing left behind
//! where no instance is) and traffic must flow both ways exactly once, in
//! order.
//!
//! `SIM_SEEDS=n` runs n seeds per backend, `SIM_SEED=s` just seed s (with
//! `SIM_TRACE=1` and `--nocapture` to watch it).

mod common;

use bws_core::{Backend, ReconnectPolicy, Timing};
use common::*;

fn seeds(default: u64) -> Vec<u64> {
    if let Some(one) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![one];
    }
    let count = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (1..=count).collect()
}

/// What a run may throw at the tabs.
struct Knobs {
    partitions: bool,
    zombies: bool,
    server_faults: bool,
    /// The server goes down for a while (with `reconnect`).
    outages: bool,
    /// Pages get busy: the engine is Gecko.
    busy_pages: bool,
    scopes: &'static [&'static str],
    rounds: usize,
    steps: usize,
}

fn world_for(seed: u64, backend: Backend, full_reorder: bool) -> (World, Knobs, Rng) {
    let mut rng = Rng::new(seed.wrapping_mul(0x5851_F42D_4C95_7F2D) ^ backend as u64);
    let mut cfg = Config::new(backend);
    cfg.seed = seed;
    cfg.timing = Timing::with_leader_timeout(rng.range((300, 1200)));
    // The engine, by what a busy page stalls of its worker (`World::busy_page`):
    // nothing (Chromium), its socket (Gecko: a leader watches its page) or its
    // socket and bus (WebKit: followers watch their pages too), a third each.
    let page_bound = match rng.below(3) {
        0 => false,
        1 => {
            cfg.timing = cfg.timing.with_page_bound_socket();
            true
        }
        _ => {
            cfg.timing = cfg.timing.with_page_bound_bus();
            true
        }
    };
    // A third of the runs reconnect, with small delays.
    if rng.chance(0.35) {
        cfg.reconnect = Some(ReconnectPolicy {
            min_delay_ms: rng.range((10, 300)),
            max_delay_ms: rng.range((300, 2000)),
            grow_factor: 1.5,
            min_uptime_ms: rng.range((100, 1000)),
            connection_timeout_ms: rng.range((100, 1000)),
            max_retries: if rng.chance(0.3) { 3 } else { u32::MAX },
            queue: rng.chance(0.7),
            reconnect_on_codes: Vec::new(),
        });
    }
    // A fifth of the runs give the URL from the page (`url` a function).
    cfg.resolve = rng.chance(0.2);
    cfg.grace_ms = if rng.chance(0.3) {
        rng.range((1, 400))
    } else {
        0
    };
    let bus_max = [0, 1, 3, 10, 30][rng.below(5) as usize];
    cfg.net = Net {
        bus_latency: (0, bus_max),
        socket_latency: (1, rng.range((2, 40))),
        lock_latency: (0, rng.range((0, 3))),
        full_reorder,
        drop: if rng.chance(0.15) { 0.02 } else { 0.0 },
    };
    let knobs = Knobs {
        partitions: rng.chance(0.4),
        zombies: rng.chance(0.2),
        server_faults: rng.chance(0.3),
        outages: cfg.reconnect.is_some(),
        busy_pages: page_bound,
        scopes: if rng.chance(0.3) { &["a", "b"] } else { &["a"] },
        rounds: rng.range((2, 4)) as usize,
        steps: rng.range((30, 120)) as usize,
    };
    let mut world = World::new(cfg);
    for _ in 0..rng.range((2, 6)) {
        world.add_tab();
    }
    (world, knobs, rng)
}

fn usable_tabs(w: &World) -> Vec<usize> {
    (0..w.tabs.len())
        .filter(|&t| w.tabs[t].alive && !w.tabs[t].frozen && w.now >= w.tabs[t].page_busy_until)
        .collect()
}

/// Instances that may act: live, on a running tab whose page is free (a
/// busy page runs no user code), not closing.
fn usable_instances(w: &World, open_only: bool) -> Vec<InstanceId> {
    w.instances
        .iter()
        .filter(|(_, i)| usable_tabs(w).contains(&i.tab) && i.closing.is_none())
        .filter(|(_, i)| i.phase == Phase::Open || (!open_only && i.phase == Phase::Connecting))
        .map(|(&id, _)| id)
        .collect()
}

fn chaos(w: &mut World, rng: &mut Rng, knobs: &Knobs) {
    let timeout = w.cfg.timing.leader_timeout_ms;
    for _ in 0..knobs.steps {
        let scope = knobs.scopes[rng.below(knobs.scopes.len() as u64) as usize];
        match rng.below(100) {
            0..=17 => {
                if let Some(tab) = rng.pick(&usable_tabs(w)) {
                    let live = w
                        .instances
                        .values()
                        .filter(|i| i.tab == tab && i.phase != Phase::Closed)
                        .count();
                    if live < 4 {
                        w.join(tab, scope);
                    }
                }
            }
            18..=26 => {
                if let Some(instance) = rng.pick(&usable_instances(w, false)) {
                    let code = [None, Some(1000), Some(4001)][rng.below(3) as usize];
                    w.close(instance, code, "bye");
                }
            }
            27..=28 => {
                if let Some(instance) = rng.pick(&usable_instances(w, false)) {
                    w.disconnect(instance);
                }
            }
            29..=50 => {
                // With `reconnect`'s queue, connecting instances send too.
                let queue = w.cfg.reconnect.as_ref().is_some_and(|policy| policy.queue);
                if let Some(instance) = rng.pick(&usable_instances(w, !queue)) {
                    for _ in 0..rng.range((1, 3)) {
                        w.send(instance);
                    }
                }
            }
            51..=67 => {
                w.server_broadcast(scope);
            }
            68..=70 => {
                let alive: Vec<usize> = (0..w.tabs.len()).filter(|&t| w.tabs[t].alive).collect();
                if let Some(tab) = rng.pick(&alive) {
                    w.crash(tab);
                    if rng.chance(0.8) {
                        w.add_tab();
                    }
                }
            }
            71..=73 => {
                if let Some(tab) = rng.pick(&usable_tabs(w)) {
                    w.freeze_for(tab, rng.range((0, 2 * timeout)));
                }
            }
            74..=76 if knobs.partitions => {
                let tabs = usable_tabs(w);
                match (rng.pick(&tabs), rng.pick(&tabs)) {
                    (Some(a), Some(b)) if a != b && rng.chance(0.5) => w.cut(a, b),
                    (Some(a), _) => w.isolate(a),
                    _ => {}
                }
            }
            77..=79 if knobs.partitions => w.recover(),
            80 if knobs.zombies => {
                if let Some(instance) = rng.pick(&usable_instances(w, true)) {
                    w.zombie(instance);
                }
            }
            81 if knobs.server_faults => {
                if rng.chance(0.5) {
                    w.server_close(scope, 4000, "server says bye");
                } else {
                    w.server_drop(scope);
                }
            }
            87..=88 if knobs.outages => {
                // A restart: down for a while, its connections dropped.
                w.server.refuse = !w.server.refuse;
                if w.server.refuse {
                    w.server_drop(scope);
                }
            }
            90 if w.cfg.resolve => {
                w.server.provider_fails = !w.server.provider_fails;
            }
            89 => {
                if let Some(instance) = rng.pick(&usable_instances(w, false)) {
                    match rng.below(3) {
                        0 => w.force_leader(instance),
                        1 => w.relinquish(instance),
                        _ => w.reconnect(instance, Some(4000), "again"),
                    }
                }
            }
            82..=83 if rng.chance(0.3) => {
                w.add_tab();
            }
            84..=86 if knobs.busy_pages => {
                if let Some(tab) = rng.pick(&usable_tabs(w)) {
                    w.busy_page(tab, rng.range((0, 2 * timeout)));
                }
            }
            _ => {}
        }
        let pause = if rng.chance(0.1) {
            rng.range((0, 2 * timeout))
        } else {
            rng.range((0, 40))
        };
        w.run_for(pause);
    }
}

/// Faults end and zombies' instances close (a zombie relays nothing); then
/// the election must settle and traffic flow.
fn calm(w: &mut World, knobs: &Knobs) {
    w.recover();
    w.server.refuse = false;
    w.server.provider_fails = false;
    for tab in 0..w.tabs.len() {
        w.thaw(tab);
    }
    let busy_until = w.tabs.iter().map(|t| t.page_busy_until).max().unwrap_or(0);
    w.run_for(busy_until.saturating_sub(w.now));
    let drop = std::mem::replace(&mut w.cfg.net.drop, 0.0);
    let zombie_instances: Vec<InstanceId> = w
        .instances
        .iter()
        .filter(|(_, i)| w.tabs[i.tab].alive && w.tabs[i.tab].zombie.contains(&i.scope))
        .filter(|(_, i)| matches!(i.phase, Phase::Open | Phase::Connecting) && i.closing.is_none())
        .map(|(&id, _)| id)
        .collect();
    for instance in zombie_instances {
        w.close(instance, None, "");
    }
    let settle = w.cfg.settle_ms(w.tabs.len());
    w.run_for(settle);
    w.check_settled(knobs.scopes);
    w.check_traffic(knobs.scopes, 3);
    w.cfg.net.drop = drop;
}

fn run(seed: u64, backend: Backend, full_reorder: bool) -> Stats {
    let (mut w, knobs, mut rng) = world_for(seed, backend, full_reorder);
    for _ in 0..knobs.rounds {
        chaos(&mut w, &mut rng, &knobs);
        calm(&mut w, &knobs);
    }
    // Where the bus loses nothing and keeps each tab's order, as
    // BroadcastChannel does, no send is lost without a trace.
    if !full_reorder && w.cfg.net.drop == 0.0 && !knobs.partitions {
        w.check_sends();
    }
    w.stats.clone()
}

fn run_all(name: &str, backends: &[Backend], full_reorder: bool, default_seeds: u64) {
    let started = std::time::Instant::now();
    let mut total = Stats::default();
    let seeds = seeds(default_seeds);
    for &backend in backends {
        for &seed in &seeds {
            let stats = run(seed, backend, full_reorder);
            total.takeovers += stats.takeovers;
            total.clean_takeovers += stats.clean_takeovers;
            total.max_takeover_ms = total.max_takeover_ms.max(stats.max_takeover_ms);
            total.max_clean_takeover_ms =
                total.max_clean_takeover_ms.max(stats.max_clean_takeover_ms);
            total.steals += stats.steals;
            total.claims += stats.claims;
            total.epoch_collisions += stats.epoch_collisions;
            total.stale_reorders += stats.stale_reorders;
            total.partition_duplicates += stats.partition_duplicates;
            total.bus_messages += stats.bus_messages;
            total.events += stats.events;
        }
    }
    eprintln!(
        "{name}: {} seeds x {backends:?}: {} takeovers after a leader crash, max {} ms; {} on a clean network, max {} ms; \
         {} steals, {} claims, {} epochs reused, {} late sends from superseded leaders, {} sends taken by both sides of a partition; {} bus messages, {} events in {:.1?}",
        seeds.len(),
        total.takeovers,
        total.max_takeover_ms,
        total.clean_takeovers,
        total.max_clean_takeover_ms,
        total.steals,
        total.claims,
        total.epoch_collisions,
        total.stale_reorders,
        total.partition_duplicates,
        total.bus_messages,
        total.events,
        started.elapsed()
    );
}

#[test]
fn random_runs_locks() {
    run_all("locks", &[Backend::Locks], false, 250);
}

#[test]
fn random_runs_lease() {
    run_all("lease", &[Backend::Lease], false, 250);
}

/// The bus may deliver anything in any order: order is not checked, but
/// everything else is.
#[test]
fn random_runs_full_reorder() {
    run_all("full reorder", &[Backend::Locks, Backend::Lease], true, 80);
}
