// Leader failure: the leader page closed, its renderer crashed, or its worker turned "zombie" (test
// switch: silent but still holding the lock). A follower takes over, the server is back to exactly
// one connection, and followers see a reconnecting socket: close(1006) -> CONNECTING -> open.
// Run for both election backends. Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cdpOnly,
  crashPage,
  libraryOnly,
  startServerAndBrowser,
  stopServerAndBrowser,
  waitForStats,
} from '../harness.mjs';
import {
  BACKENDS,
  LEADER_TIMEOUT_MS,
  assertBroadcastReachesAll,
  assertReconnectedOnce,
  errorsOf,
  sleep,
  waitForAgreement,
  waitForTabsCount,
  waitReconnected,
  shareOneConnection,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const TABS = 4;

/** Four tabs sharing /echo; returns them with the agreed leader, followers' logs cleared. */
function sharedTabs(t, b) {
  const options = { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS };
  return shareOneConnection(t, browser, server, { count: TABS, url: server.wsUrl('/echo'), options });
}

/** After a takeover: one new leader among the followers, a higher epoch, one connection, traffic. */
async function assertTakenOver(b, followers, old, t0, what) {
  const snaps = await Promise.all(followers.map((tab) => tab.evaluate(() => mt.snapshot())));
  const openTimes = assertReconnectedOnce(snaps, `[${b.name}] ${what}`);
  const takeoverMs = Math.round(Math.max(...openTimes) - t0);
  console.log(`[${b.name}] ${what}: all followers OPEN again ${takeoverMs}ms after the leader went`);

  await waitForStats(server, (s) => s.connections === 1, 5000);
  const agreed = await waitForAgreement(followers, LEADER_TIMEOUT_MS * 2 + 2000);
  assert.notEqual(agreed.leaderId, old.leaderId, 'a new leader');
  assert.ok(agreed.epoch > old.epoch, `epoch went up: ${old.epoch} -> ${agreed.epoch}`);
  // The new leader's tab saw its leadership change: a plain Event, status() already says so.
  const gained = snaps[agreed.leaderTab].flatMap((e) => e.leaderchanges);
  assert.ok(gained.length >= 1, 'leaderchange in the new leader tab');
  assert.ok(
    gained.every((c) => c.cls === 'Event'),
    JSON.stringify(gained),
  );
  assert.ok(
    gained.some((c) => c.status.isLeader && c.status.id === agreed.leaderId),
    `status() inside leaderchange: ${JSON.stringify(gained)}`,
  );
  for (const [k, snap] of snaps.entries()) {
    if (k === agreed.leaderTab) continue;
    assert.ok(
      snap.every((e) => e.leaderchanges.every((c) => !c.status.isLeader)),
      `no leadership gained in tab ${k}: ${JSON.stringify(snap.map((e) => e.leaderchanges))}`,
    );
  }

  // Sends from a follower of the new leader and a server broadcast still reach everyone, once.
  const sender = followers[(agreed.leaderTab + 1) % followers.length];
  await sender.evaluate(() => mt.send(0, ['after-takeover']));
  await Promise.all(
    followers.map((tab) =>
      tab.evaluate(() =>
        mt.until(() => mt.entries.every((e) => e.data.includes('after-takeover')), 5000, 'after-takeover echo'),
      ),
    ),
  );
  await assertBroadcastReachesAll(server, followers, 'after-takeover-broadcast');
  assert.equal((await server.stats()).connections, 1);
  return { takeoverMs, agreed };
}

for (const b of BACKENDS) {
  // Web Locks: the lock is released with the page, so takeover is immediate (~100 ms expected,
  // asserted < 500 ms). Lease: a page that closes says so (its farewell), and a follower claims at
  // once, its claim standing after 150 ms; a crash says nothing, and followers wait for the
  // heartbeats to stop for leaderTimeoutMs.
  const budget = b.backend === 'locks' ? 3000 : LEADER_TIMEOUT_MS + 3000;

  describe(`failover [${b.name}]`, { skip: b.skip }, () => {
    test('leader page closed: a follower takes over; followers reconnect', { skip: libraryOnly }, async (t) => {
      const s = await sharedTabs(t, b);
      const t0 = Date.now();
      await s.leader.close();
      await waitReconnected(s.followers, budget);
      const { takeoverMs } = await assertTakenOver(b, s.followers, s, t0, 'leader page closed');
      // Lease: well before a silent leader's timeout would have passed.
      assert.ok(
        takeoverMs < (b.backend === 'locks' ? 500 : LEADER_TIMEOUT_MS / 2),
        `${b.backend} takeover ${takeoverMs}ms`,
      );
      assert.deepEqual(errorsOf(s.followers), []);
      // status().tabs counts live tabs: the old leader's is gone.
      await waitForTabsCount(s.followers, s.followers.length, LEADER_TIMEOUT_MS * 2 + 2000, ' after the leader went');
    });

    test(
      'leader renderer crashed: a follower takes over; followers reconnect',
      { skip: libraryOnly || cdpOnly },
      async (t) => {
        const s = await sharedTabs(t, b);
        const { sentAt: t0 } = await crashPage(s.leader.page);
        await waitReconnected(s.followers, budget);
        const { takeoverMs } = await assertTakenOver(b, s.followers, s, t0, 'leader renderer crashed');
        if (b.backend === 'locks') assert.ok(takeoverMs < 500, `locks takeover ${takeoverMs}ms`);
        else assert.ok(takeoverMs < LEADER_TIMEOUT_MS + 1000, `lease takeover ${takeoverMs}ms`);
        assert.deepEqual(errorsOf(s.followers), []);
        // status().tabs counts live tabs: the old leader's is gone.
        await waitForTabsCount(s.followers, s.followers.length, LEADER_TIMEOUT_MS * 2 + 2000, ' after the leader went');
      },
    );

    test(
      'zombie leader: taken over within the timeout, its socket closed, steals rate-limited',
      { skip: libraryOnly },
      async (t) => {
        const s = await sharedTabs(t, b);
        await s.leader.evaluate(() => mt.reset());
        const t0 = Date.now();
        assert.equal(await s.leader.evaluate(() => mt.zombie(0)), true, 'the build has the zombie test switch');
        await waitReconnected(s.followers, LEADER_TIMEOUT_MS + 3000);
        // The zombie closes its socket once superseded: back to exactly one connection.
        await waitForStats(server, (st) => st.connections === 1, LEADER_TIMEOUT_MS + 3000);

        // Observe a window of several timeout periods: leadership must settle, not ping-pong
        // between followers stealing the lock from one another.
        const WINDOW_MS = LEADER_TIMEOUT_MS * 4;
        const samples = [];
        while (Date.now() < t0 + WINDOW_MS) {
          samples.push((await server.stats()).connections);
          await sleep(50); // observation window, bounded above
        }
        const snaps = await Promise.all(s.followers.map((tab) => tab.evaluate(() => mt.snapshot({ data: false }))));
        const gains = snaps.flat().flatMap((e) => e.leaderchanges.filter((c) => c.status.isLeader));
        const gainEpochs = new Set(gains.map((c) => c.status.epoch));
        const zombieView = await s.leader.evaluate(() => mt.snapshot({ data: false }));
        console.log(
          `[${b.name}] zombie: ${gainEpochs.size} takeover(s) in ${WINDOW_MS}ms (${gains.length} leaderchange ` +
            `events gaining leadership), connections in window: max ${Math.max(...samples)}, last ` +
            `${samples.at(-1)}; the zombie tab saw ` +
            JSON.stringify(zombieView.map((e) => ({ events: e.events.map((d) => d.type), readyState: e.readyState }))),
        );
        assert.ok(gainEpochs.size >= 1, 'someone took over');
        assert.ok(
          gainEpochs.size <= Math.ceil(WINDOW_MS / LEADER_TIMEOUT_MS) - 1,
          `at most one takeover per timeout period: ${gainEpochs.size} in ${WINDOW_MS}ms`,
        );
        const { takeoverMs } = await assertTakenOver(b, s.followers, s, t0, 'zombie leader');
        assert.ok(takeoverMs < LEADER_TIMEOUT_MS + 1500, `zombie takeover ${takeoverMs}ms`);
        assert.equal(gainEpochs.size, 1, 'exactly one takeover: the new leader is healthy');
        assert.deepEqual(errorsOf(s.followers), []);
      },
    );
  });
}
