// Shared pieces of the multi-tab suites: the election backends every scenario runs with, the test
// pages, and helpers that open tabs of ONE browser context (same-origin tabs of one browser share
// BroadcastChannel and Web Locks) and ask them who leads.
// Run: node --test --test-concurrency=1 tests/e2e-multitab/   (needs target/debug/bws-server and dist/)
// Timings in these suites assume the machine is not saturated by other work (2 cores).
/* global mt, ch -- page globals (tests/pages/multitab/multitab.js, tests/pages/channels/channels.js) */
import assert from 'node:assert/strict';
import { needsLocks, onEngine, openContext, unexpectedErrors, waitForStats } from '../harness.mjs';

/**
 * Lease scenarios run on Chromium only, to keep npm test within its time budget: the lease is the
 * same core code on every engine, and its seams (BroadcastChannel, timers) are exercised on Firefox
 * and WebKit by the locks scenarios, which are what those engines use (README, "Engines").
 */
const leaseOnChromium = 'the lease backend runs on Chromium only (time budget; README, "Engines")';

/**
 * Every scenario runs once per backend: Web Locks (the default where the page is a secure context)
 * and the bus lease. `skip` is the reason a backend's scenarios do not run on the engine under test.
 */
export const BACKENDS = [
  { name: 'locks', backend: 'locks', options: {}, skip: needsLocks },
  {
    name: 'lease',
    backend: 'lease',
    options: { election: 'lease' },
    skip: onEngine({ firefox: leaseOnChromium, webkit: leaseOnChromium }),
  },
].map((b) => ({ ...b, skip: b.skip || onlyBackends(b.name) }));

/**
 * The backends of a suite whose lease scenarios prove nothing the simulation does not (the core's
 * logic under churn and load, thousands of seeds per backend) over seams the other suites prove:
 * its lease scenarios are skipped, by name, unless BWS_ALL_BACKENDS=1.
 */
export const LOCKS_UNLESS_ALL = BACKENDS.map((b) =>
  b.name === 'lease' && !process.env.BWS_ALL_BACKENDS
    ? {
        ...b,
        skip:
          b.skip ||
          'the lease under churn and load is the core\'s logic, run by the simulation (README, "Engines"); BWS_ALL_BACKENDS=1 runs it',
      }
    : b,
);

/**
 * `BWS_BACKENDS=locks` (a comma list) runs only those backends' scenarios: npm test sets it where
 * another pass runs the rest (scripts/test.mjs: the insecure-origin pass runs the lease natively).
 */
function onlyBackends(name) {
  const only = process.env.BWS_BACKENDS?.split(',');
  return only && !only.includes(name) ? `BWS_BACKENDS=${process.env.BWS_BACKENDS}: runs in another pass` : false;
}

/** leaderTimeoutMs passed (in every page of a scenario) where takeovers are timed, to keep runs short. */
export const LEADER_TIMEOUT_MS = 1500;

export const TAB = '/tests/pages/multitab/tab.html';
const CHANNELS_TAB = '/tests/pages/channels/tab.html';
export const FRAMES = '/tests/pages/multitab/frames.html';
const ready = () => window.mt;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A new context once the server holds no connection from an earlier test; closed after the test. */
export async function freshContext(t, browser, server) {
  await waitForStats(server, (s) => s.connections === 0, 5000);
  const ctx = await openContext(browser, server);
  t.after(() => ctx.close());
  return ctx;
}

/** Opens `n` tabs of tab.html in ctx (in parallel). */
export function openTabs(ctx, n) {
  return Promise.all(Array.from({ length: n }, () => ctx.newPage(TAB, { ready })));
}

/** A tab embedding two iframes: { host, frames: [a, b] }, each wrapper with window.mt ready. */
export async function openFrames(ctx) {
  const host = await ctx.newPage(FRAMES, { ready });
  return { host, frames: [await host.frame('a'), await host.frame('b')] };
}

/** `count` instances in each tab (same options everywhere); resolves when every one is OPEN. */
export async function openIn(tabs, url, options, { count = 1, openMs = 10000 } = {}) {
  await Promise.all(
    tabs.map(async (tab) => {
      await tab.evaluate(([u, o, n]) => mt.open(u, o, n), [url, options, count]);
      await tab.evaluate((ms) => mt.waitState(1, ms), openMs);
    }),
  );
}

/** status() of every live instance, per tab: [[{ i, id, leaderId, ... }], ...]. */
export function statusesOf(tabs) {
  return Promise.all(tabs.map((tab) => tab.evaluate(() => mt.statuses())));
}

/**
 * Polls until every live instance in `tabs` is OPEN and agrees on one leaderId, and exactly one of the
 * tabs is that leader (or none of them, with `leaderOutside`). Returns { leaderId, leaderTab, epoch,
 * statuses } where leaderTab indexes `tabs` (-1 when the leader is elsewhere).
 */
export async function waitForAgreement(tabs, ms, { leaderOutside = false, tabsCount } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const statuses = await statusesOf(tabs);
    last = statuses;
    const flat = statuses.flat();
    const leaderIds = new Set(flat.map((s) => s.leaderId));
    const [leaderId] = leaderIds;
    const leaderTabs = statuses.map((list, k) => (list.some((s) => s.id === leaderId) ? k : -1)).filter((k) => k >= 0);
    const ok =
      flat.length > 0 &&
      leaderIds.size === 1 &&
      leaderId != null &&
      flat.every((s) => s.readyState === 1 && s.isLeader === (s.id === leaderId)) &&
      leaderTabs.length === (leaderOutside ? 0 : 1) &&
      (tabsCount == null || flat.every((s) => s.tabs === tabsCount));
    if (ok) return { leaderId, leaderTab: leaderOutside ? -1 : leaderTabs[0], epoch: flat[0].epoch, statuses };
    if (Date.now() > deadline) {
      throw new Error(`tabs never agreed on one open leader within ${ms}ms; last statuses: ${JSON.stringify(last)}`);
    }
    await sleep(50); // poll interval, bounded by the deadline above
  }
}

/**
 * `count` tabs of a fresh context, each with one instance of `url` (opened with `options`), sharing
 * one connection, their leader agreed and their logs reset:
 * { ctx, tabs, leader, followers, totalConnections, ...waitForAgreement's }.
 */
export async function shareOneConnection(t, browser, server, { count, url, options }) {
  const ctx = await freshContext(t, browser, server);
  const tabs = await openTabs(ctx, count);
  await openIn(tabs, url, options);
  const { totalConnections } = await waitForStats(server, (s) => s.connections === 1, 5000);
  const agreed = await waitForAgreement(tabs, 5000, { tabsCount: count });
  await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.reset())));
  const leader = tabs[agreed.leaderTab];
  return { ctx, tabs, leader, followers: tabs.filter((tab) => tab !== leader), totalConnections, ...agreed };
}

/** Polls until status().tabs of every live instance in `tabs` is `count`; fails with what they say. */
export async function waitForTabsCount(tabs, count, ms, why = '') {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = (await statusesOf(tabs)).flat().map((s) => s.tabs);
    if (seen.every((n) => n === count)) return;
    if (Date.now() > deadline) {
      throw new Error(`status().tabs is [${seen}] ${ms}ms on, expected ${count} live tabs${why}`);
    }
    await sleep(50); // poll interval, bounded by the deadline above
  }
}

/**
 * Waits (in each tab) until every live instance has logged a close and, after it, an open, and is
 * OPEN: what a follower sees across a leader change.
 */
export function waitReconnected(tabs, ms) {
  return Promise.all(
    tabs.map((tab) =>
      tab.evaluate(
        (timeout) =>
          mt.until(
            () =>
              mt.entries
                .filter((e) => !e.closing)
                .every((e) => {
                  const c = e.events.findIndex((d) => d.type === 'close');
                  return c >= 0 && e.events.slice(c + 1).some((d) => d.type === 'open') && e.ws.readyState === 1;
                }),
            timeout,
            'a close then an open (reconnect through a new leader)',
          ),
        ms,
      ),
    ),
  );
}

/**
 * Asserts what each instance of a follower snapshot saw across one leader change: exactly one
 * close (1006, wasClean false) followed by one open, CONNECTING (not CLOSED) right after the close.
 * Returns the open timestamps.
 */
export function assertReconnectedOnce(snapshots, label) {
  const openTimes = [];
  for (const [k, snap] of snapshots.entries()) {
    for (const e of snap.filter((x) => !x.closing)) {
      const where = `${label} tab ${k} instance ${e.i}: ${JSON.stringify(e.events)}`;
      const seq = e.events.filter((d) => d.type !== 'error').map((d) => d.type);
      assert.deepEqual(seq, ['close', 'open'], `close then open, nothing else (${where})`);
      const close = e.events.find((d) => d.type === 'close');
      const open = e.events.find((d) => d.type === 'open');
      assert.equal(close.code, 1006, where);
      assert.equal(close.wasClean, false, where);
      assert.equal(close.cls, 'CloseEvent', where);
      assert.ok(
        close.after === 0 || (close.after === 1 && open.t >= close.t),
        `readyState is CONNECTING again after the close, never CLOSED (${where})`,
      );
      assert.equal(open.readyState, 1, where);
      assert.equal(e.readyState, 1, where);
      openTimes.push(open.t);
    }
  }
  return openTimes;
}

/**
 * Broadcasts `text` from the server and waits until every live instance of every tab got it, then
 * a second sentinel (so a duplicate of the first would be seen), and asserts each got `text`
 * exactly once. Returns the per-tab snapshots.
 */
export async function assertBroadcastReachesAll(server, tabs, text, ms = 5000) {
  const waitFor = (word) =>
    Promise.all(
      tabs.map((tab) =>
        tab.evaluate(
          ([w, timeout]) =>
            mt.until(
              () => mt.entries.filter((e) => !e.closing).every((e) => e.data.includes(w)),
              timeout,
              `broadcast ${w}`,
            ),
          [word, ms],
        ),
      ),
    );
  await server.broadcast(text);
  await waitFor(text);
  await server.broadcast(`${text}:sentinel`);
  await waitFor(`${text}:sentinel`);
  const snaps = await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.snapshot())));
  for (const [k, snap] of snaps.entries()) {
    for (const e of snap.filter((x) => !x.closing)) {
      assert.equal(e.data.filter((d) => d === text).length, 1, `tab ${k} instance ${e.i} got ${text} exactly once`);
    }
  }
  return snaps;
}

/** Page errors of the given (live) tabs, minus the allowed patterns; iframes share their page's list. */
export function errorsOf(tabs, ...allowed) {
  const lists = new Set(tabs.map((tab) => tab.errors));
  return [...lists].flatMap((errors) => unexpectedErrors(errors, ...allowed));
}

/** Largest gap between consecutive timestamps (and from `from` to the first one / last one to `to`). */
export function maxGap(times, from, to) {
  const points = [from, ...times.filter((x) => x >= from && x <= to), to];
  let gap = 0;
  for (let k = 1; k < points.length; k++) gap = Math.max(gap, points[k] - points[k - 1]);
  return gap;
}

/**
 * How long a tab stayed behind the sender: for each item of `sent` ({ name, t }) issued within
 * [from, to], the time from its issue until the tab received it or any later item. Unlike the gaps
 * between arrivals, this does not count time in which the sender itself issued nothing (the test
 * process shares the machine's cores with the browser), and it still counts items lost in a
 * takeover. `received` is a tab's log: { data, times } in arrival order. Infinity if the tab never
 * caught up with an item.
 */
export function maxStaleness(sent, received, from, to) {
  const index = new Map(sent.map((s, k) => [s.name, k]));
  const arrivals = received.data
    .map((name, j) => ({ k: index.get(name), t: received.times[j] }))
    .filter((a) => a.k !== undefined);
  let stale = 0;
  for (const [k, item] of sent.entries()) {
    if (item.t < from || item.t > to) continue;
    const caughtUp = arrivals.find((a) => a.k >= k);
    stale = Math.max(stale, caughtUp ? caughtUp.t - item.t : Infinity);
  }
  return stale;
}

/** Checks that `got` contains items of `sent` only, each at most once, in `sent`'s order. */
export function assertOrderedSubset(got, sent, what) {
  const index = new Map(sent.map((s, k) => [s, k]));
  let prev = -1;
  for (const item of got) {
    const k = index.get(item);
    assert.ok(k !== undefined, `${what}: unexpected ${item}`);
    assert.ok(k > prev, `${what}: ${item} out of order or duplicated`);
    prev = k;
  }
}

/** Mulberry32: a small seeded PRNG, so a failing churn run can be replayed with its seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `step()` then waits `everyMs`, over and over until the returned stop() (which rethrows a
 * step's failure); stopped after the test `t` in any case, so no loop outlives its test.
 */
export function repeat(t, step, everyMs) {
  let running = true;
  const done = (async () => {
    while (running) {
      await step();
      await sleep(everyMs); // the loop's period, not synchronisation
    }
  })();
  done.catch(() => {}); // reported by stop()
  const stop = async () => {
    running = false;
    await done;
  };
  t.after(() => stop().catch(() => {}));
  return stop;
}

/**
 * A server broadcast of `${prefix}${k}` every `everyMs`; stop() resolves with what was sent, each
 * with `t`, the time its request was issued.
 */
export function pump(t, server, prefix, everyMs = 100) {
  const sent = [];
  let k = 0;
  const stop = repeat(
    t,
    async () => {
      const name = `${prefix}${k++}`;
      const issued = Date.now();
      await server.broadcast(name);
      sent.push({ name, t: issued });
    },
    everyMs,
  );
  return {
    sent,
    async stop() {
      await stop();
      return sent;
    },
  };
}

/** `n` tabs of a fresh context, each with its channels client (tests/pages/channels/) open on /ws. */
export async function channelsClientTabs(t, browser, server, n) {
  await waitForStats(server, (s) => s.channels.connections === 0, 5000);
  const ctx = await freshContext(t, browser, server);
  const tabs = [];
  for (let k = 0; k < n; k++)
    tabs.push(await ctx.newPage(CHANNELS_TAB, { waitForSetup: false, ready: () => window.ch }));
  await Promise.all(tabs.map((tab) => tab.evaluate((url) => ch.open(url), server.wsUrl('/ws'))));
  return tabs;
}

/**
 * Publishes `count` messages on `channel` of the channels service, one every `everyMs`, then a
 * sentinel `'end'`, through its `POST /broadcast` (another client, as far as the tabs can tell; not
 * rate limited). Each message's data is `{ n, t }`, t when it was sent (epoch ms). Resolves with
 * `count` once all are sent.
 */
export async function publish(server, { channel, count, everyMs }) {
  const post = async (data) => {
    const response = await fetch(`${server.origin}/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    assert.equal(response.status, 200, `POST /broadcast: ${await response.text()}`);
  };
  for (let n = 0; n < count; n++) {
    const t = Date.now();
    await post({ n, t });
    await sleep(everyMs - (Date.now() - t)); // the publisher's pace
  }
  await post('end');
  return count;
}
