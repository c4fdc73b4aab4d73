// The back/forward cache: a page entering it (pagehide with `persisted`) hands its scopes over at
// once (its worker ends: socket closed, lock released), and when it comes back (pageshow with
// `persisted`) its instances reconnect, as after a leader change. The test dispatches the two page
// transition events itself, so the library's hand-over is checked whatever the engine's cache
// policy (and Playwright starts Chromium with its cache off); a real navigation follows, then a
// real round trip through each engine's cache, against a page with a native WebSocket. Run for
// both election backends. Library-only.
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENGINE,
  REPO_ROOT,
  launchBrowserOverCdp,
  libraryOnly,
  openContext,
  startServerAndBrowser,
  startStaticServer,
  stopServerAndBrowser,
  waitForStats,
} from '../harness.mjs';
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
    // persisted: the worker ends); Chromium as Playwright starts it does not (its cache is off:
    // pagehide without persisted, so the worker ends and the page posts its farewell); Firefox
    // closes the worker's socket with 1001 first, then hides the page without caching it (the
    // leader holds that close back, and the farewell wins). Each way a follower leads within the
    // hand-over bound.
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

// Whether the engine may restore a page that used the library from its back/forward cache, against
// one that held a native WebSocket: never worse. Chromium is started here without Playwright's
// --disable-back-forward-cache, and the pages come from a static server that sends no
// `Cache-Control: no-store` (the test server does, and Chromium keeps no page that used a
// WebSocket under it: "websocket-used-with-ccns"). Chromium reports why a page was not restored
// (NotRestoredReasons); the test prints it.
describe('back/forward cache: restoring a page, against a native WebSocket', () => {
  let statics;
  let cachingBrowser;
  before(async () => {
    if (libraryOnly) return;
    statics = await startStaticServer(REPO_ROOT);
    cachingBrowser = ENGINE === 'chromium' ? await launchBrowserOverCdp() : browser;
  });
  after(async () => {
    try {
      if (cachingBrowser !== browser) await cachingBrowser?.close();
    } finally {
      await statics?.stop();
    }
  });

  /** Opens a socket of `kind` in a fresh tab, navigates away and back: { restored, reasons, tab }. */
  async function roundTrip(t, kind) {
    const ctx = await openContext(cachingBrowser, { ...server, pageOrigin: statics.origin });
    t.after(() => ctx.close());
    const [tab] = await openTabs(ctx, 1);
    const url = server.wsUrl('/echo', { t: `restore-${kind}` });
    await tab.evaluate(
      ([k, u]) => {
        window.sameDocument = true; // survives only a restore from the cache
        if (k === 'native')
          return new Promise((resolve) => (window.native = new WebSocket(u)).addEventListener('open', resolve));
        mt.open(u);
        return mt.waitState(1, 5000);
      },
      [kind, url],
    );
    await tab.page.goto(new URL('/tests/pages/blank.html?away', statics.origin).href);
    await tab.page.back();
    await tab.waitForFunction(
      () => !location.search && document.readyState === 'complete' && window.mt,
      undefined,
      10000,
    );
    const { restored, reasons } = await tab.evaluate(() => ({
      restored: window.sameDocument === true,
      reasons: JSON.stringify(performance.getEntriesByType('navigation')[0]?.notRestoredReasons ?? null),
    }));
    return { restored, reasons, tab };
  }

  test(
    'a page using the library is restored whenever one with a native WebSocket is; its instance reconnects',
    { skip: libraryOnly },
    async (t) => {
      const native = await roundTrip(t, 'native');
      const library = await roundTrip(t, 'library');
      console.log(
        `[${ENGINE}] restored from the cache: native WebSocket ${native.restored} (not restored because: ${native.reasons}), ` +
          `library ${library.restored} (not restored because: ${library.reasons})`,
      );
      assert.ok(!native.restored || library.restored, 'no worse than a native WebSocket');
      if (!library.restored) return;
      // Back from the cache: the instance saw a leader change and opened again, and it works.
      const [entry] = await library.tab.evaluate(async () => {
        await mt.waitState(1, 5000);
        mt.send(0, ['after the restore']);
        return mt
          .until(() => mt.entries[0].data.includes('after the restore'), 5000, 'the echo')
          .then(() => mt.snapshot({ data: false }));
      });
      assert.deepEqual(
        entry.events.map((e) => [e.type, e.code]),
        [
          ['open', undefined],
          ['close', 1006],
          ['open', undefined],
        ],
      );
      assert.equal(entry.readyState, 1);
      assert.deepEqual(errorsOf([library.tab]), []);
    },
  );
});
