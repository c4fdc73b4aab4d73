// Shared reconnect (option `reconnect`): one loop per scope, run by the leader's worker for every
// tab. The real server stops; while it is down, a stand-in on its port fails every handshake (503)
// and records each attempt (startRefuser); then the real server starts again on the same port.
// Library-only.
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  libraryOnly,
  startRefuser,
  startServer,
  startServerAndBrowser,
  stopServerAndBrowser,
  waitForStats,
} from '../harness.mjs';
import {
  LEADER_TIMEOUT_MS,
  assertReconnectedOnce,
  freshContext,
  openIn,
  openTabs,
  waitForAgreement,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const QUEUE_BOUND = 5;
const OPTIONS = {
  reconnect: true,
  minReconnectionDelay: 200,
  maxReconnectionDelay: 800,
  reconnectionDelayGrowFactor: 2,
  maxEnqueuedMessages: QUEUE_BOUND,
  leaderTimeoutMs: LEADER_TIMEOUT_MS,
};
const OUTAGE_MS = 3000;

/** Stops the server, puts the stand-in on its port; `restart()` stops the stand-in and starts the
 * server on the same port again. */
async function outage() {
  const { port } = server;
  await server.stop();
  const stand = await startRefuser(port);
  const started = Date.now();
  return {
    stand,
    started,
    async restart() {
      await stand.stop();
      server = await startServer({ port });
    },
  };
}

/** status().retryCount of every instance of every tab. */
const retryCounts = (tabs) =>
  Promise.all(tabs.map((tab) => tab.evaluate(() => mt.statuses().map((s) => s.retryCount)))).then((c) => c.flat());

test(
  '6 tabs through a 3 s outage: one loop, every tab OPEN again, queued sends once and in order',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const tabs = await openTabs(ctx, 6);
    await openIn(tabs, server.wsUrl('/echo'), OPTIONS);
    await waitForAgreement(tabs, 5000, { tabsCount: 6 });
    await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.reset())));

    const down = await outage();
    // Every instance sees the outage as a leader change: close, then CONNECTING.
    await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.waitState(0, 5000))));
    const queued = await Promise.all(
      tabs.map((tab, k) =>
        tab.evaluate(
          ([k, bound]) => {
            const { ws } = mt.entries[0];
            for (let n = 0; n < bound; n++) ws.send(`q:${k}:${n}`);
            const bufferedAmount = ws.bufferedAmount;
            try {
              ws.send(`q:${k}:over`);
              return { bufferedAmount, over: 'sent' };
            } catch (error) {
              return { bufferedAmount, over: `${error.constructor.name} ${error.name}` };
            }
          },
          [k, QUEUE_BOUND],
        ),
      ),
    );
    for (const [k, { bufferedAmount, over }] of queued.entries()) {
      assert.equal(over, 'DOMException QuotaExceededError', `tab ${k}: a send past maxEnqueuedMessages throws`);
      assert.equal(bufferedAmount, QUEUE_BOUND * `q:${k}:0`.length, `tab ${k}: queued sends count in bufferedAmount`);
    }

    await new Promise((resolve) => setTimeout(resolve, down.started + OUTAGE_MS - Date.now()));
    const counts = await retryCounts(tabs);
    const { attempts } = down.stand;
    await down.restart();

    // One loop: every tab reports the same count, each attempt the stand-in saw is one step of it
    // (attempts before it listened were refused unseen), and no two were ever in flight at once.
    assert.equal(new Set(counts).size, 1, `every tab counts the same attempts: ${counts}`);
    assert.ok(attempts.length >= 1, 'the stand-in saw attempts');
    assert.ok(
      attempts.length <= counts[0],
      `${attempts.length} attempts seen, at most one per backoff step (${counts[0]} steps)`,
    );
    assert.deepEqual(
      attempts.filter((a) => a.overlapping),
      [],
      'one attempt in flight at a time',
    );
    console.log(`6 tabs, ${OUTAGE_MS} ms outage: ${attempts.length} attempts seen, ${counts[0]} steps counted`);

    await waitForAgreement(tabs, 15_000, { tabsCount: 6 });
    await waitForStats(server, (s) => s.connections === 1, 5000);
    const expected = tabs.length * QUEUE_BOUND;
    const snaps = await Promise.all(
      tabs.map((tab, k) =>
        tab.evaluate(
          async ([k, count]) => {
            await mt.until(
              () => mt.entries[0].data.filter((d) => d.startsWith('q:')).length >= count,
              10_000,
              `tab ${k}'s echoes`,
            );
            return mt.snapshot();
          },
          [k, expected],
        ),
      ),
    );
    assertReconnectedOnce(snaps, 'outage');
    // The echoes come back on the one connection, in the order the server got the sends.
    const echoes = snaps[0][0].data.filter((d) => d.startsWith('q:'));
    for (const k of tabs.keys()) {
      const mine = echoes.filter((d) => d.startsWith(`q:${k}:`));
      assert.deepEqual(
        mine,
        Array.from({ length: QUEUE_BOUND }, (_, n) => `q:${k}:${n}`),
        `tab ${k}'s queued sends reached the server once each, in order`,
      );
    }
    for (const [k, snap] of snaps.entries()) {
      assert.equal(snap[0].status.bufferedAmount, 0, `tab ${k}: nothing left queued`);
    }
  },
);

test(
  'the leader tab closed during an outage: the next leader goes on with the count',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const tabs = await openTabs(ctx, 3);
    await openIn(tabs, server.wsUrl('/echo'), OPTIONS);
    const agreed = await waitForAgreement(tabs, 5000, { tabsCount: 3 });
    const down = await outage();
    await Promise.all(
      tabs.map((tab) =>
        tab.evaluate(() => mt.until(() => mt.statuses().every((s) => s.retryCount >= 2), 10_000, '2 attempts')),
      ),
    );
    const leader = tabs[agreed.leaderTab];
    const others = tabs.filter((tab) => tab !== leader);
    const before = Math.min(...(await retryCounts(others)));
    await leader.close();
    // The next leader leads while the server is still down, and goes on counting from where it was.
    await Promise.all(
      others.map((tab) =>
        tab.evaluate(
          ([old, from]) =>
            mt.until(
              () => mt.statuses().every((s) => s.leaderId !== null && s.leaderId !== old && s.retryCount > from),
              10_000,
              'a new leader with a further attempt',
            ),
          [agreed.leaderId, before],
        ),
      ),
    );
    const seen = down.stand.attempts.length;
    await down.restart();
    await waitForAgreement(others, 15_000, { tabsCount: 2 });
    assert.deepEqual(
      down.stand.attempts.filter((a) => a.overlapping),
      [],
      `one attempt in flight at a time (${seen} seen)`,
    );
  },
);
