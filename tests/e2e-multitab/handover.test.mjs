// forceLeader() and relinquish(): a tab takes its scope's socket, or hands it to another tab, with
// one leader change that every instance sees once (close 1006, then open) and one new connection.
// Both election backends. Library-only.
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import {
  BACKENDS,
  assertReconnectedOnce,
  errorsOf,
  waitForAgreement,
  waitReconnected,
  shareOneConnection,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const TABS = 3;

/** Three tabs sharing /echo, agreed on a leader, their logs cleared; with the server's connection count. */
function sharedTabs(t, b) {
  return shareOneConnection(t, browser, server, { count: TABS, url: server.wsUrl('/echo'), options: b.options });
}

/** After the change: every instance reconnected once, `leaderTab` leads, one connection more in all.
 * Returns when `leaderTab`'s instance opened again (epoch ms, in its page). */
async function assertOneChange(b, s, leaderTab, what) {
  await waitReconnected(s.tabs, 5000);
  const snaps = await Promise.all(s.tabs.map((tab) => tab.evaluate(() => mt.snapshot())));
  assertReconnectedOnce(snaps, `[${b.name}] ${what}`);
  const agreed = await waitForAgreement(s.tabs, 5000, { tabsCount: TABS });
  assert.equal(agreed.leaderTab, leaderTab, `[${b.name}] ${what}: the expected tab leads`);
  assert.ok(agreed.epoch > s.epoch, `epoch went up: ${s.epoch} -> ${agreed.epoch}`);
  const stats = await waitForStats(server, (st) => st.connections === 1, 5000);
  assert.equal(stats.totalConnections, s.totalConnections + 1, `[${b.name}] ${what}: one new connection`);
  assert.deepEqual(errorsOf(s.tabs), []);
  return snaps[leaderTab][0].events.find((e) => e.type === 'open').t;
}

for (const b of BACKENDS) {
  describe(`handover [${b.name}]`, { skip: b.skip }, () => {
    test('forceLeader() in a follower tab: it leads within 1 s', { skip: libraryOnly }, async (t) => {
      const s = await sharedTabs(t, b);
      const next = (s.leaderTab + 1) % TABS;
      const calledAt = await s.tabs[next].evaluate(() => {
        mt.entries[0].ws.forceLeader();
        return mt.now();
      });
      const openedAt = await assertOneChange(b, s, next, 'forceLeader()');
      assert.ok(openedAt - calledAt < 1000, `led and open ${Math.round(openedAt - calledAt)} ms after the call`);
    });

    test('relinquish() in the leader tab: another tab leads', { skip: libraryOnly }, async (t) => {
      const s = await sharedTabs(t, b);
      await s.tabs[s.leaderTab].evaluate(() => mt.entries[0].ws.relinquish());
      await waitReconnected(s.tabs, 5000);
      const { leaderTab } = await waitForAgreement(s.tabs, 5000, { tabsCount: TABS });
      assert.notEqual(leaderTab, s.leaderTab, 'another tab leads');
      await assertOneChange(b, s, leaderTab, 'relinquish()');
    });
  });
}
