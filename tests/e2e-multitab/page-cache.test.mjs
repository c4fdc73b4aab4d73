// The back/forward cache: a page entering it (pagehide with `persisted`) hands its scopes over at
// once (its worker ends: socket closed, lock released), and when it comes back (pageshow with
// `persisted`) its instances reconnect, as after a leader change. The test dispatches the two page
// transition events itself, so the library's hand-over is checked whatever the engine's cache
// policy (WebKit keeps a cached page with its worker, lock and socket; Chromium refuses pages that
// hold a lock). Run for both election backends. Library-only.
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import {
  BACKENDS,
  LEADER_TIMEOUT_MS,
  errorsOf,
  freshContext,
  openIn,
  openTabs,
  waitForAgreement,
  waitReconnected,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const TABS = 3;

for (const b of BACKENDS) {
  // Web Locks: the lock goes to the next tab as the worker ends (asserted within 1 s of pagehide,
  // awaited longer so that a slow machine fails the assertion with its figure, not a timeout).
  // Lease: the followers wait for the heartbeats to stop for leaderTimeoutMs.
  const budget = b.backend === 'locks' ? 3000 : LEADER_TIMEOUT_MS + 1500;
  const bound = b.backend === 'locks' ? 1000 : LEADER_TIMEOUT_MS + 1000;

  /** Three tabs sharing /echo, their logs cleared: { tabs, leader, followers, before: the agreement }. */
  async function sharedTabs(t) {
    const ctx = await freshContext(t, browser, server);
    const tabs = await openTabs(ctx, TABS);
    await openIn(tabs, server.wsUrl('/echo'), { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS });
    const before = await waitForAgreement(tabs, 5000, { tabsCount: TABS });
    const leader = tabs[before.leaderTab];
    const followers = tabs.filter((tab) => tab !== leader);
    await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.reset())));
    return { tabs, leader, followers, before };
  }

  /**
   * A follower leads in place of `before`'s leader, whose page went at `hiddenAt` (epoch ms, its
   * pagehide): every follower OPEN again within `bound`, one connection. Returns the new agreement.
   */
  async function assertFollowerLeads(followers, before, hiddenAt, what) {
    await waitReconnected(followers, budget);
    const after = await waitForAgreement(followers, budget, { tabsCount: TABS - 1 });
    assert.notEqual(after.leaderId, before.leaderId, 'a follower leads');
    assert.ok(after.epoch > before.epoch, `epoch went up: ${before.epoch} -> ${after.epoch}`);
    const opens = await Promise.all(followers.map((tab) => tab.evaluate(() => mt.snapshot({ data: false }))));
    const takeoverMs = Math.max(...opens.flat().map((e) => e.events.find((d) => d.type === 'open').t)) - hiddenAt;
    console.log(`[${b.name}] ${what}: followers OPEN again ${Math.round(takeoverMs)}ms after pagehide`);
    assert.ok(takeoverMs < bound, `followers OPEN again ${takeoverMs}ms after pagehide (bound ${bound}ms)`);
    await waitForStats(server, (s) => s.connections === 1, 5000);
    return after;
  }

  describe(`back/forward cache [${b.name}]`, () => {
    test(
      'the leader page enters the cache: a follower leads; it comes back as a follower',
      { skip: libraryOnly },
      async (t) => {
        const { tabs, leader, followers, before } = await sharedTabs(t);

        const hiddenAt = await leader.evaluate(() => {
          const at = performance.timeOrigin + performance.now();
          dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
          return at;
        });
        // In the cache, the page's instance saw a leader change: close 1006, CONNECTING, leaderchange.
        const hidden = (await leader.evaluate(() => mt.snapshot({ data: false })))[0];
        assert.deepEqual(
          hidden.events.map((e) => [e.type, e.code]),
          [['close', 1006]],
        );
        assert.equal(hidden.readyState, 0);
        assert.deepEqual(
          hidden.leaderchanges.map((c) => c.status.isLeader),
          [false],
        );

        const after = await assertFollowerLeads(followers, before, hiddenAt, 'leader page entered the cache');

        // Back from the cache: the page's instance opens again, through the new leader.
        await leader.evaluate(() => dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })));
        await leader.evaluate(() => mt.waitState(1, 5000));
        const agreed = await waitForAgreement(tabs, 5000, { tabsCount: TABS });
        assert.equal(agreed.leaderId, after.leaderId, 'the returning page follows');
        assert.equal((await server.stats()).connections, 1);
        await leader.evaluate(() => mt.send(0, ['back from the cache']));
        await Promise.all(
          tabs.map((tab) =>
            tab.evaluate(() =>
              mt.until(() => mt.entries.every((e) => e.data.includes('back from the cache')), 5000, 'the echo'),
            ),
          ),
        );
        assert.deepEqual(errorsOf(tabs), []);
      },
    );

    // A real navigation, whatever the engine makes of it: WebKit caches the page (pagehide with
    // persisted: the worker ends), Chromium does not (pagehide without: the worker ends and the
    // page posts its farewell), and Firefox closes the worker's socket with 1001 first, then hides
    // the page without caching it (the leader holds that close back, and the farewell wins). Each
    // way a follower leads within the hand-over bound.
    test('the leader page navigates away: a follower leads within the bound', { skip: libraryOnly }, async (t) => {
      const { leader, followers, before } = await sharedTabs(t);
      // Stamped in the page as it goes; the tab's sessionStorage carries it to the next page.
      await leader.evaluate(() =>
        addEventListener('pagehide', (e) =>
          sessionStorage.setItem('pagehide', JSON.stringify([performance.timeOrigin + performance.now(), e.persisted])),
        ),
      );
      await leader.page.goto(new URL('/tests/pages/blank.html?away', server.pageOrigin).href);
      const [hiddenAt, persisted] = JSON.parse(await leader.page.evaluate(() => sessionStorage.getItem('pagehide')));

      await assertFollowerLeads(
        followers,
        before,
        hiddenAt,
        `leader page navigated away (pagehide persisted: ${persisted})`,
      );
      assert.deepEqual(errorsOf(followers), []);
    });
  });
}
