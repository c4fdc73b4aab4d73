//! What a world is made of: its seed and PRNG, the latencies and faults of
//! its network, the election's timing, and the bounds that follow from them.

use bws_core::{Backend, ReconnectPolicy, Timing};

// ---------------------------------------------------------------- rng

/// xorshift64*: small, seedable, good enough for schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng((seed ^ 0x9E37_79B9_7F4A_7C15).max(1));
        for _ in 0..4 {
            rng.next();
        }
        rng
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

// ---------------------------------------------------------------- config

/// Latencies (inclusive ranges, ms) and faults.
#[derive(Debug, Clone)]
pub struct Net {
    pub bus_latency: (u64, u64),
    pub socket_latency: (u64, u64),
    pub lock_latency: (u64, u64),
    /// Bus messages may overtake earlier ones of the same sender.
    pub full_reorder: bool,
    /// Probability that a bus message is lost.
    pub drop: f64,
}

impl Net {
    /// Fixed latencies, no faults: runs are reproducible by reasoning.
    pub fn fixed(bus: u64, socket: u64) -> Self {
        Net {
            bus_latency: (bus, bus),
            socket_latency: (socket, socket),
            lock_latency: (0, 0),
            full_reorder: false,
            drop: 0.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub backend: Backend,
    pub timing: Timing,
    pub grace_ms: u64,
    pub net: Net,
    /// The scope's reconnect policy (option `reconnect`), if any.
    pub reconnect: Option<ReconnectPolicy>,
    /// The pages give the URL before every connection (`url` a function).
    pub resolve: bool,
    /// The scopes have no server (`NO_SERVER`): leaders open no socket.
    pub no_server: bool,
    /// The tabs are bare seams, as the conformance suites drive them: what
    /// they post is not checked against the protocol's rules.
    pub seams_only: bool,
}

impl Config {
    pub fn new(backend: Backend) -> Self {
        Config {
            seed: 1,
            backend,
            timing: Timing::with_leader_timeout(600),
            grace_ms: 0,
            net: Net::fixed(1, 5),
            reconnect: None,
            resolve: false,
            no_server: false,
            seams_only: false,
        }
    }

    /// The longest a takeover may take once the leader is dead, on a clean
    /// network: Locks hands the lock over at once; the lease waits out the
    /// timeout and a claim window.
    pub fn takeover_bound(&self) -> u64 {
        let net = &self.net;
        let margin = 4 * net.bus_latency.1 + 2 * net.socket_latency.1 + net.lock_latency.1 + 5;
        match self.backend {
            Backend::Locks => margin,
            Backend::Lease => self.timing.leader_timeout_ms + self.timing.claim_window_ms + margin,
        }
    }

    /// Long enough for any election to settle once faults are gone.
    pub fn settle_ms(&self, tabs: usize) -> u64 {
        let t = &self.timing;
        let net = &self.net;
        4 * t.leader_timeout_ms
            + (tabs as u64 + 1) * t.steal_stagger_ms
            + 2 * (t.claim_window_ms + t.discovery_ms)
            + self.grace_ms
            + 20 * (net.bus_latency.1 + net.socket_latency.1 + net.lock_latency.1)
    }
}
