// Churn: pages opened and closed at random (seeded) for a while, 2-6 open at a time, /stats sampled
// throughout. Never more than one connection for longer than a fencing window, and at the end every
// open page is OPEN under one leader and gets a final broadcast. Run for both election backends.
// BWS_MT_SEED replays a run; BWS_MT_CHURN_MS changes its length (default 30 s per backend).
// Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import {
  LOCKS_UNLESS_ALL,
  LEADER_TIMEOUT_MS,
  assertBroadcastReachesAll,
  errorsOf,
  freshContext,
  openTabs,
  prng,
  repeat,
  sleep,
  waitForAgreement,
  waitForTabsCount,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const SEED = Number(process.env.BWS_MT_SEED ?? 0x5eed);
const DURATION_MS = Number(process.env.BWS_MT_CHURN_MS ?? 30000);
/** How long two connections may coexist while one leader hands over to the next. */
const FENCING_MS = 1000;

/** Samples /stats every ~25 ms; stop() returns the longest stretch with more than one connection. */
function sampleConnections(t) {
  const samples = [];
  const stop = repeat(t, async () => samples.push({ t: Date.now(), n: (await server.stats()).connections }), 25);
  return {
    async stop() {
      await stop();
      let maxOverlap = 0;
      let since = null;
      for (const s of samples) {
        if (s.n > 1 && since === null) since = s.t;
        if (s.n <= 1 && since !== null) {
          maxOverlap = Math.max(maxOverlap, s.t - since);
          since = null;
        }
      }
      if (since !== null) maxOverlap = Math.max(maxOverlap, samples.at(-1).t - since);
      return {
        samples: samples.length,
        maxOverlap,
        maxConnections: Math.max(...samples.map((s) => s.n)),
        zeroSamples: samples.filter((s) => s.n === 0).length,
      };
    },
  };
}

for (const [n, b] of LOCKS_UNLESS_ALL.entries()) {
  describe(`churn [${b.name}]`, { skip: b.skip }, () => {
    test(
      `pages opened and closed at random for ${DURATION_MS / 1000}s (seed ${SEED + n})`,
      { skip: libraryOnly },
      async (t) => {
        const ctx = await freshContext(t, browser, server);
        const random = prng(SEED + n);
        const url = server.wsUrl('/echo');
        const options = { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS };
        const before = await server.stats();
        const open = [];
        let opened = 0;
        let closed = 0;
        const openOne = async () => {
          const [tab] = await openTabs(ctx, 1);
          await tab.evaluate(([u, o]) => mt.open(u, o), [url, options]);
          tab.id = await tab.evaluate(() => mt.statuses()[0].id);
          open.push(tab);
          opened++;
        };
        // A third of the closes target the page the others currently call leader (if known).
        let leaderCloses = 0;
        const victim = async () => {
          if (random() < 1 / 3) {
            const leaderId = await open[0].evaluate(() => mt.statuses()[0].leaderId);
            const k = open.findIndex((tab) => tab.id === leaderId);
            if (k >= 0) {
              leaderCloses++;
              return k;
            }
          }
          return Math.floor(random() * open.length);
        };
        const sampler = sampleConnections(t);
        const start = Date.now();
        for (let k = 0; k < 3; k++) await openOne();
        while (Date.now() - start < DURATION_MS) {
          const grow = open.length <= 2 ? true : open.length >= 6 ? false : random() < 0.5;
          if (grow) {
            await openOne();
          } else {
            const [tab] = open.splice(await victim(), 1);
            await tab.close();
            closed++;
          }
          await sleep(100 + Math.floor(random() * 1100)); // random pacing of the churn
        }
        const churnMs = Date.now() - start;
        // Settle: every open page OPEN under one leader, one connection.
        const agreed = await waitForAgreement(open, LEADER_TIMEOUT_MS * 2 + 4000);
        await waitForStats(server, (s) => s.connections === 1, 5000);
        const overlap = await sampler.stop();
        await assertBroadcastReachesAll(server, open, 'final');
        const stats = await server.stats();
        console.log(
          `[${b.name}] churn ${churnMs}ms: ${opened} pages opened, ${closed} closed (${leaderCloses} of them the leader), ` +
            `${open.length} open at the end; ` +
            `${stats.totalConnections - before.totalConnections} connections made; max overlap of >1 connections ` +
            `${overlap.maxOverlap}ms (max ${overlap.maxConnections} at once, ${overlap.samples} samples, ` +
            `${overlap.zeroSamples} with none); final leader ${agreed.leaderId} epoch ${agreed.epoch}`,
        );
        assert.ok(overlap.maxOverlap <= FENCING_MS, `more than one connection for ${overlap.maxOverlap}ms`);
        assert.equal(stats.connections, 1);
        for (const tab of open) {
          const snap = await tab.evaluate(() => mt.snapshot({ data: false }));
          for (const e of snap) {
            assert.ok(
              e.events.every((d) => d.type !== 'close' || (d.code === 1006 && d.after !== 3)),
              `only reconnects, never a final close: ${JSON.stringify(e.events)}`,
            );
          }
        }
        assert.deepEqual(errorsOf(open), []);
        // status().tabs counts live tabs only: closed pages drop out.
        await waitForTabsCount(open, open.length, LEADER_TIMEOUT_MS * 2 + 2000, ` (${closed} pages were closed)`);
      },
    );
  });
}
