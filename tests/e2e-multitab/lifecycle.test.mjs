// Lifecycle across tabs: server-initiated close and connection failure are final for every instance
// of every tab; a follower's close() closes only that instance; a leader page without instances
// keeps relaying; the socket closes when the last instance anywhere closes (after graceMs).
// Run for both election backends. Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FAILED_CONNECTION,
  cdpOnly,
  crashPage,
  libraryOnly,
  startServerAndBrowser,
  stopServerAndBrowser,
  unusedPort,
  waitForStats,
} from '../harness.mjs';
import {
  BACKENDS,
  LEADER_TIMEOUT_MS,
  assertBroadcastReachesAll,
  errorsOf,
  freshContext,
  openIn,
  openTabs,
  sleep,
  waitForAgreement,
  waitForTabsCount,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

/** Every instance (live ones, or all) of every tab, with its tab index. */
async function allInstances(tabs) {
  const snaps = await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.snapshot())));
  return snaps.flatMap((snap, k) => snap.map((e) => ({ tab: k, ...e })));
}

/** Waits until every instance in every tab has logged a close. */
const waitAllClosed = (tabs, ms) =>
  Promise.all(
    tabs.map((tab) =>
      tab.evaluate(
        (timeout) =>
          mt.until(
            () => mt.entries.every((e) => e.events.some((d) => d.type === 'close' && d.after !== undefined)),
            timeout,
            'a close on every instance',
          ),
        ms,
      ),
    ),
  );

for (const b of BACKENDS) {
  const options = { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS };

  describe(`lifecycle [${b.name}]`, { skip: b.skip }, () => {
    test(
      'a server-initiated close reaches every instance of every tab and is final',
      { skip: libraryOnly },
      async (t) => {
        const ctx = await freshContext(t, browser, server);
        const tabs = await openTabs(ctx, 3);
        await openIn(tabs, server.wsUrl('/echo'), options, { count: 2 });
        await waitForStats(server, (s) => s.connections === 1, 5000);
        const { leaderTab } = await waitForAgreement(tabs, 5000, { tabsCount: 3 });
        const follower = tabs[(leaderTab + 1) % 3];
        const before = await server.stats();
        await follower.evaluate(() => mt.send(1, ['__bws:close 4001 bye']));
        await waitAllClosed(tabs, 5000);
        await waitForStats(server, (s) => s.connections === 0, 5000);
        // Final: nothing reconnects within a timeout period and more.
        await sleep(LEADER_TIMEOUT_MS + 500); // observation window
        const instances = await allInstances(tabs);
        assert.equal(instances.length, 6);
        for (const e of instances) {
          const where = `tab ${e.tab} instance ${e.i}: ${JSON.stringify(e.events)}`;
          const closes = e.events.filter((d) => d.type === 'close');
          assert.equal(closes.length, 1, where);
          assert.deepEqual(
            e.events.filter((d) => d.type !== 'error').map((d) => d.type),
            ['open', 'close'],
            where,
          );
          assert.equal(closes[0].code, 4001, where);
          assert.equal(closes[0].reason, 'bye', where);
          assert.equal(closes[0].wasClean, true, where);
          assert.equal(closes[0].after, 3, where);
          assert.equal(e.readyState, 3, where);
        }
        const stats = await server.stats();
        assert.equal(stats.connections, 0);
        assert.equal(stats.totalConnections, before.totalConnections, 'no reconnection');
        assert.deepEqual(errorsOf(tabs), []);
      },
    );

    test('a connection failure is final for every instance of every tab', { skip: libraryOnly }, async (t) => {
      const ctx = await freshContext(t, browser, server);
      const tabs = await openTabs(ctx, 3);
      const url = `ws://127.0.0.1:${await unusedPort()}/`;
      await Promise.all(tabs.map((tab) => tab.evaluate(([u, o]) => mt.open(u, o, 2), [url, options])));
      await waitAllClosed(tabs, 10000);
      await sleep(LEADER_TIMEOUT_MS + 500); // observation window: nothing reopens
      for (const e of await allInstances(tabs)) {
        const where = `tab ${e.tab} instance ${e.i}: ${JSON.stringify(e.events)}`;
        assert.deepEqual(
          e.events.map((d) => d.type),
          ['error', 'close'],
          where,
        );
        const close = e.events[1];
        assert.equal(close.code, 1006, where);
        assert.equal(close.wasClean, false, where);
        assert.equal(close.after, 3, where);
        assert.equal(e.readyState, 3, where);
      }
      assert.deepEqual(errorsOf(tabs, FAILED_CONNECTION), []);
    });

    test(
      "a follower's close() closes only its instance; a leader without instances keeps relaying; the last close closes the socket",
      { skip: libraryOnly },
      async (t) => {
        const ctx = await freshContext(t, browser, server);
        const tabs = await openTabs(ctx, 3);
        await openIn(tabs, server.wsUrl('/echo'), options, { count: 2 });
        await waitForStats(server, (s) => s.connections === 1, 5000);
        const agreed = await waitForAgreement(tabs, 5000, { tabsCount: 3 });
        const leader = tabs[agreed.leaderTab];
        const [f1, f2] = tabs.filter((tab) => tab !== leader);
        const before = await server.stats();

        // One follower instance closes with a code, another without one: only they close.
        await f1.evaluate(() => mt.close(0, 4000, 'mine'));
        await f2.evaluate(() => mt.close(0));
        await Promise.all(
          [f1, f2].map((tab) =>
            tab.evaluate(() => mt.until(() => mt.entries[0].events.some((d) => d.type === 'close'), 5000, 'close')),
          ),
        );
        const [c1] = await f1.evaluate(() => mt.snapshot({ data: false }));
        const [c2] = await f2.evaluate(() => mt.snapshot({ data: false }));
        assert.deepEqual(
          c1.events.slice(1).map(({ type, code, reason, wasClean }) => ({ type, code, reason, wasClean })),
          [{ type: 'close', code: 4000, reason: 'mine', wasClean: true }],
        );
        assert.deepEqual(
          c2.events.slice(1).map(({ type, code, reason, wasClean }) => ({ type, code, reason, wasClean })),
          [{ type: 'close', code: 1005, reason: '', wasClean: true }],
        );
        await assertBroadcastReachesAll(server, tabs, 'after-follower-close');
        for (const e of await allInstances(tabs)) {
          if (!e.closing)
            assert.deepEqual(
              e.events.map((d) => d.type),
              ['open'],
              `untouched: ${JSON.stringify(e)}`,
            );
        }
        assert.equal((await server.stats()).connections, 1);

        // The leader page closes all its instances: the others see nothing, it keeps relaying.
        await leader.evaluate(() => {
          mt.close(0);
          mt.close(1);
        });
        await leader.evaluate(() => mt.waitEvent((d) => d.type === 'close', 5000, 'leader instances closed', [0, 1]));
        await f1.evaluate(() => mt.send(1, ['from-f1']));
        await Promise.all(
          [f1, f2].map((tab) =>
            tab.evaluate(() =>
              mt.until(() => mt.entries[1].data.includes('from-f1'), 5000, 'the echo through the idle leader'),
            ),
          ),
        );
        await assertBroadcastReachesAll(server, [f1, f2], 'after-leader-idle');
        const followers = await allInstances([f1, f2]);
        for (const e of followers.filter((x) => !x.closing)) {
          assert.deepEqual(
            e.events.map((d) => d.type),
            ['open'],
            `nothing seen: ${JSON.stringify(e.events)}`,
          );
          assert.deepEqual(e.leaderchanges, []);
          assert.equal(e.status.leaderId, agreed.leaderId, 'same leader');
        }
        const mid = await server.stats();
        assert.equal(mid.connections, 1);
        assert.equal(mid.totalConnections, before.totalConnections, 'the same connection throughout');

        // The last instances anywhere close: the socket closes (graceMs 0 by default).
        const t0 = Date.now();
        await f2.evaluate(() => mt.close(1));
        await f1.evaluate(() => mt.close(1));
        await waitForStats(server, (s) => s.connections === 0, 5000);
        const closeMs = Date.now() - t0;
        console.log(`[${b.name}] last instance closed -> server connection gone in ${closeMs}ms (graceMs 0)`);
        assert.ok(closeMs < 1000, `closed ${closeMs}ms after the last instance`);
        assert.deepEqual(errorsOf(tabs), []);
      },
    );

    for (const how of ['closed', 'crashed']) {
      test(
        `a follower page ${how} without close() drops out of status().tabs`,
        { skip: libraryOnly || (how === 'crashed' && cdpOnly) },
        async (t) => {
          const ctx = await freshContext(t, browser, server);
          const tabs = await openTabs(ctx, 4);
          await openIn(tabs, server.wsUrl('/echo'), options);
          const agreed = await waitForAgreement(tabs, 5000, { tabsCount: 4 });
          const victim = tabs[(agreed.leaderTab + 1) % 4];
          const rest = tabs.filter((tab) => tab !== victim);
          if (how === 'closed') {
            await victim.close();
          } else {
            await crashPage(victim.page);
          }
          // Its heartbeat-period presence stops: gone within a timeout period (plus slack).
          await waitForTabsCount(rest, 3, LEADER_TIMEOUT_MS * 2 + 1000, ` after a follower page ${how}`);
          const after = await waitForAgreement(rest, 1000);
          assert.equal(after.leaderId, agreed.leaderId, 'the leader did not change');
          assert.deepEqual(errorsOf(rest), []);
        },
      );
    }

    test('graceMs keeps the socket open that long after the last instance closes', { skip: libraryOnly }, async (t) => {
      const GRACE_MS = 1500;
      const ctx = await freshContext(t, browser, server);
      const tabs = await openTabs(ctx, 2);
      await openIn(tabs, server.wsUrl('/echo'), { ...options, graceMs: GRACE_MS });
      await waitForStats(server, (s) => s.connections === 1, 5000);
      await waitForAgreement(tabs, 5000, { tabsCount: 2 });
      const t0 = Date.now();
      await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.close(0))));
      const stillOpen = await server.stats();
      await waitForStats(server, (s) => s.connections === 0, GRACE_MS + 3000);
      const closeMs = Date.now() - t0;
      console.log(`[${b.name}] graceMs ${GRACE_MS}: connection gone ${closeMs}ms after the last close()`);
      assert.equal(stillOpen.connections, 1, 'still open right after the last close()');
      assert.ok(closeMs >= GRACE_MS - 200, `closed after ${closeMs}ms, before the grace period`);
      assert.ok(closeMs <= GRACE_MS + 1500, `closed after ${closeMs}ms`);
      for (const e of await allInstances(tabs)) {
        assert.deepEqual(
          e.events.map((d) => (d.type === 'close' ? `close:${d.code}:${d.wasClean}` : d.type)),
          ['open', 'close:1005:true'],
        );
      }
      assert.deepEqual(errorsOf(tabs), []);
    });
  });
}
