// A leader page that stops running JavaScript without going away: its main thread blocked (the
// worker keeps relaying, nobody notices), or the whole page frozen through CDP (either its worker
// keeps serving or a follower takes over; followers are never stalled longer than the timeout).
// Run for both election backends. Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENGINE,
  cdpOnly,
  launchBrowser,
  launchBrowserOverCdp,
  libraryOnly,
  startServer,
  waitForStats,
} from '../harness.mjs';
import {
  BACKENDS,
  LEADER_TIMEOUT_MS,
  assertBroadcastReachesAll,
  assertOrderedSubset,
  errorsOf,
  maxGap,
  maxStaleness,
  openTabs,
  pump,
  repeat,
  sleep,
  statusesOf,
  waitForAgreement,
  shareOneConnection,
} from './support.mjs';

let server;
let browser;
before(async () => {
  if (libraryOnly) return;
  server = await startServer();
  // Playwright's focus emulation keeps its pages visible, and a visible page does not freeze: drive
  // a Chromium of our own over CDP without it, using its default context (one per file, so the
  // tests use distinct URLs, hence scopes).
  browser = ENGINE === 'chromium' ? await launchBrowserOverCdp() : await launchBrowser();
});
after(async () => {
  try {
    await browser?.close();
  } finally {
    // Whatever happened to the browser, the server must stop, or it keeps this process alive.
    await server?.stop();
  }
});

/**
 * Gecko runs a worker's socket on its page's main thread, and WebKit its bus as well, so a busy
 * leader page stalls them: there a responsive tab takes the socket (README, "Busy pages"), noticed
 * by the leader (Firefox) or its followers (WebKit). Chromium's worker serves on.
 */
const handsOver = ENGINE !== 'chromium';
/** The share of the ticks sent during the block that each follower must get within ON_TIME_MS. */
const ON_TIME_SHARE = 0.8;
const ON_TIME_MS = 500;

const TABS = 3;
/** Slack over leaderTimeoutMs for detection, takeover and the new connection. */
const MARGIN_MS = 1000;

async function sharedTabs(t, b, name) {
  const shared = await shareOneConnection(t, browser, server, {
    count: TABS,
    url: server.wsUrl('/echo', { t: `${b.name}-${name}` }),
    options: { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS },
  });
  const visibility = await Promise.all(shared.tabs.map((tab) => tab.evaluate(() => document.visibilityState)));
  assert.deepEqual(visibility, Array(TABS).fill('visible'), 'every tab is visible');
  return shared;
}

/** Samples the followers' leaderId every 100 ms until stop(). */
function sampleLeaders(t, followers) {
  const seen = [];
  const stop = repeat(
    t,
    async () => {
      const statuses = (await statusesOf(followers)).flat();
      seen.push({ t: Date.now(), leaderIds: [...new Set(statuses.map((s) => s.leaderId))] });
    },
    100,
  );
  return {
    seen,
    async stop() {
      await stop();
      return seen;
    },
  };
}

/** When an instance of a snapshot (`times: true`) got each message, by its text: the first time. */
function arrivals(e) {
  const arrival = new Map();
  for (const [k, d] of e.data.entries()) if (!arrival.has(d)) arrival.set(d, e.times[k]);
  return arrival;
}

/** How many of `issued` ({ name, t }) arrived within ON_TIME_MS, by `arrival` (see arrivals). */
const onTimeCount = (issued, arrival) => issued.filter((x) => arrival.get(x.name) - x.t <= ON_TIME_MS).length;

const waitTicks = (tabs, count, ms) =>
  Promise.all(
    tabs.map((tab) =>
      tab.evaluate(
        ([n, timeout]) => mt.until(() => mt.entries.every((e) => e.data.length >= n), timeout, `${n} ticks`),
        [count, ms],
      ),
    ),
  );

for (const b of BACKENDS) {
  describe(`stalled leader [${b.name}]`, { skip: b.skip }, () => {
    test(
      handsOver
        ? 'leader main thread blocked 5 s: a responsive tab takes the socket once, followers keep receiving'
        : 'leader main thread blocked 5 s: followers keep receiving, the leader never changes',
      { skip: libraryOnly },
      async (t) => {
        const s = await sharedTabs(t, b, 'block');
        const BLOCK_MS = 5000;
        const ticks = pump(t, server, 'tick:', 100);
        await waitTicks(s.followers, 3, 5000);
        const leaders = sampleLeaders(t, s.followers);
        const blocked = s.leader.evaluate((ms) => mt.block(ms), BLOCK_MS);
        const win = await blocked;
        // Some traffic after the block, then stop and check delivery everywhere.
        const count = (await s.followers[0].evaluate(() => mt.entries[0].data.length)) + 5;
        await waitTicks(s.followers, count, 5000);
        const seen = await leaders.stop();
        const issued = await ticks.stop();
        const sent = issued.map((x) => x.name);
        await assertBroadcastReachesAll(server, s.tabs, 'after-block');
        const issuedDuring = issued.filter((x) => x.t >= win.start && x.t <= win.end);
        assert.ok(issuedDuring.length >= 10, `the test sent ticks during the block (${issuedDuring.length})`);

        const snaps = await Promise.all(s.tabs.map((tab) => tab.evaluate(() => mt.snapshot({ times: true }))));
        const report = [];
        for (const [k, snap] of snaps.entries()) {
          const isLeader = s.tabs[k] === s.leader;
          for (const e of snap) {
            const got = e.data.filter((d) => d.startsWith('tick:'));
            const what = `tab ${k} instance ${e.i}`;
            if (handsOver) {
              assertOrderedSubset(got, sent, what);
              assert.deepEqual(
                e.events.map((d) => (d.type === 'close' ? `close ${d.code}` : d.type)),
                ['close 1006', 'open'],
                `${what}: one leader change, seen as a reconnection`,
              );
            } else {
              assert.deepEqual(got, sent, `${what}: every tick once, in order`);
              assert.deepEqual(e.leaderchanges, [], `${what}: no leaderchange`);
              assert.deepEqual(
                e.events.map((d) => d.type),
                [],
                `${what}: no open/close/error`,
              );
            }
            if (isLeader) continue;
            const arrival = arrivals(e);
            const onTime = onTimeCount(issuedDuring, arrival);
            const share = onTime / issuedDuring.length;
            const stale = maxStaleness(issued, e, win.start, win.end);
            report.push(
              `tab ${k}: ${onTime} of ${issuedDuring.length} ticks sent during the block within ${ON_TIME_MS}ms, ` +
                `at most ${Math.round(stale)}ms behind`,
            );
            if (handsOver) {
              // What this tab missed went out before its new connection opened (a reconnection).
              const reopened = e.events.find((d) => d.type === 'open').t;
              const missed = issued.filter((x) => !arrival.has(x.name));
              assert.ok(
                missed.every((x) => x.t < reopened),
                `${what}: missed only ticks sent before the new connection opened: ${JSON.stringify(missed)}`,
              );
              assert.ok(share >= ON_TIME_SHARE, `${what}: ${onTime} of ${issuedDuring.length} on time`);
            } else {
              assert.ok(stale < 1000, `${what} kept receiving during the block: ${stale}ms behind the sender`);
            }
          }
        }
        console.log(
          `[${b.name}] leader blocked ${Math.round(win.end - win.start)}ms, ${sent.length} ticks: ${report.join('; ')}`,
        );
        const during = seen.filter((x) => x.t >= win.start && x.t <= win.end);
        // WebKit's driver runs one command at a time (tests/drivers/README.md), the block's among
        // them: it samples nothing meanwhile, and each instance's one reconnection, above, shows the
        // one leader change.
        if (ENGINE !== 'webkit') {
          assert.ok(during.length >= 10, `sampled the followers during the block (${during.length})`);
        }
        if (handsOver) {
          const leaderIds = new Set(seen.flatMap((x) => x.leaderIds).filter((id) => id !== null));
          assert.ok(
            leaderIds.size <= 2 && leaderIds.has(s.leaderId),
            `the followers followed the old leader, then one new one: ${JSON.stringify([...leaderIds])}`,
          );
        } else {
          assert.ok(
            seen.every((x) => x.leaderIds.length === 1 && x.leaderIds[0] === s.leaderId),
            `followers' leaderId never changed: ${JSON.stringify(seen.filter((x) => x.leaderIds[0] !== s.leaderId))}`,
          );
        }
        assert.equal((await server.stats()).connections, 1);
        assert.deepEqual(errorsOf(s.tabs), []);
      },
    );

    test(
      'leader main thread blocked 3 s while a follower sends every 100 ms: the server gets each send once, in order',
      { skip: libraryOnly },
      async (t) => {
        const s = await sharedTabs(t, b, 'sends');
        // What the server got, in its order: it broadcasts each send to every echo socket, this
        // page's native one too.
        const [observer] = await openTabs(s.ctx, 1);
        await observer.evaluate((url) => mt.observe(url), server.wsUrl('/echo', { t: `${b.name}-observer` }));
        const ticks = pump(t, server, 'tick:', 100);
        await waitTicks(s.followers, 3, 5000);
        const [sender, other] = s.followers;
        await sender.evaluate(() => mt.pace(0, 'up:', 100, '__bws:broadcast '));
        const win = await s.leader.evaluate((ms) => mt.block(ms), 3000);
        // A second of traffic after the block.
        await sleep(1000); // the senders run for a fixed second after the block: an observation window
        const sent = (await sender.evaluate(() => mt.stopPacing())).map((x) => x.name);
        const issued = await ticks.stop();
        assert.ok(sent.length >= 20, `the follower sent (${sent.length})`);
        const [{ sendsInDoubt }] = await sender.evaluate(() => mt.statuses());
        const names = await observer.evaluate(async (last) => {
          await mt.until(() => mt.observed.some((o) => o.data === last), 10000, `the last send, ${last}`);
          return mt.observed.map((o) => o.data).filter((d) => d.startsWith('up:'));
        }, sent.at(-1));
        assert.deepEqual(names, sent, `the server got every send once, in the order sent (${sendsInDoubt} in doubt)`);
        // The other follower, meanwhile: how many of the server's ticks of the block came on time.
        const [snap] = await other.evaluate(() => mt.snapshot({ times: true }));
        const issuedDuring = issued.filter((x) => x.t >= win.start && x.t <= win.end);
        const onTime = onTimeCount(issuedDuring, arrivals(snap));
        const changes = snap.events.filter((e) => e.type === 'open').length;
        console.log(
          `[${ENGINE}, ${b.name}] leader blocked ${Math.round(win.end - win.start)}ms: the server got all ` +
            `${sent.length} sends of a follower once, in order; the other follower got ${onTime} of ` +
            `${issuedDuring.length} ticks of the block within ${ON_TIME_MS}ms, after ${changes} leader changes`,
        );
        assert.deepEqual(errorsOf(s.tabs), []);
      },
    );

    test(
      'leader page frozen (CDP) then resumed: no follower stalls past the timeout; one leader after',
      { skip: libraryOnly || cdpOnly },
      async (t) => {
        const s = await sharedTabs(t, b, 'freeze');
        const FREEZE_MS = LEADER_TIMEOUT_MS + 2500;
        const before = await server.stats();
        const ticks = pump(t, server, 'tick:', 100);
        await waitTicks(s.followers, 3, 5000);
        const leaders = sampleLeaders(t, s.followers);
        await s.leader.evaluate(() => mt.pulse(50));
        const cdp = await s.leader.page.native.context().newCDPSession(s.leader.page.native);
        const tFreeze = Date.now();
        await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
        const stats = [];
        while (Date.now() < tFreeze + FREEZE_MS) {
          stats.push({ t: Date.now(), n: (await server.stats()).connections });
          await sleep(50); // the freeze lasts FREEZE_MS: an observation window
        }
        await cdp.send('Page.setWebLifecycleState', { state: 'active' });
        const tThaw = Date.now();
        // After the thaw: exactly one leader, everyone OPEN and agreeing, one connection.
        await waitForStats(server, (st) => st.connections === 1, LEADER_TIMEOUT_MS + 3000);
        const oneMs = Date.now() - tThaw;
        const agreed = await waitForAgreement(s.tabs, LEADER_TIMEOUT_MS * 2 + 3000, { tabsCount: TABS });
        const seen = await leaders.stop();
        const issued = await ticks.stop();
        const sent = issued.map((x) => x.name);
        // The frozen page's own main thread really stopped: its timer did not run during the freeze.
        const pageStall = maxGap(await s.leader.evaluate(() => mt.stopPulse()), tFreeze, tThaw);
        assert.ok(
          pageStall > FREEZE_MS - 500,
          `the leader page was not frozen: its timer's longest gap ${pageStall}ms`,
        );
        await assertBroadcastReachesAll(server, s.tabs, 'after-thaw');
        const after = await server.stats();

        const snaps = await Promise.all(s.tabs.map((tab) => tab.evaluate(() => mt.snapshot({ times: true }))));
        const followerSnaps = snaps.filter((_, k) => s.tabs[k] !== s.leader).flat();
        const tookOver =
          agreed.leaderId !== s.leaderId ||
          seen.some((x) => x.leaderIds.some((id) => id !== s.leaderId)) ||
          followerSnaps.some((e) => e.events.length > 0);
        const behind = [];
        for (const e of followerSnaps) {
          const got = e.data.filter((d) => d.startsWith('tick:'));
          assertOrderedSubset(got, sent, `follower instance ${e.i}`);
          behind.push(Math.round(maxStaleness(issued, e, tFreeze, tThaw)));
          if (!tookOver) assert.deepEqual(got, sent, 'served throughout: every tick, once, in order');
        }
        for (const e of snaps[s.tabs.indexOf(s.leader)]) {
          assertOrderedSubset(
            e.data.filter((d) => d.startsWith('tick:')),
            sent,
            `frozen tab instance ${e.i}`,
          );
        }
        const overlapFrom = stats.find((x) => x.n > 1)?.t;
        const frozenView = snaps[s.tabs.indexOf(s.leader)].map((e) => ({
          ticks: e.data.filter((d) => d.startsWith('tick:')).length,
          events: e.events.map((d) => (d.type === 'close' ? `close(${d.code})` : d.type)),
          leaderchanges: e.leaderchanges.map((c) => c.status.isLeader),
        }));
        console.log(
          `[${b.name}] FROZEN LEADER OUTCOME: ${tookOver ? 'a follower TOOK OVER' : "the frozen page's worker KEPT SERVING"}` +
            ` (frozen ${tThaw - tFreeze}ms; leader ${s.leaderId} -> ${agreed.leaderId}, epoch ${s.epoch} -> ${agreed.epoch};` +
            ` connections during the freeze: max ${Math.max(...stats.map((x) => x.n))}, more than one from` +
            ` ${overlapFrom === undefined ? '-' : `+${overlapFrom - tFreeze}ms`} to the thaw; one ${oneMs}ms after the thaw;` +
            ` ${after.totalConnections - before.totalConnections} made;` +
            ` followers at most ${Math.max(...behind)}ms behind the sender; the frozen page's main thread stalled` +
            ` ${Math.round(pageStall)}ms; ${sent.length} ticks sent, the frozen tab saw ${JSON.stringify(frozenView)})`,
        );
        for (const stale of behind) {
          assert.ok(
            stale <= LEADER_TIMEOUT_MS + MARGIN_MS,
            `followers stalled ${stale}ms > ${LEADER_TIMEOUT_MS}+${MARGIN_MS}`,
          );
        }
        if (tookOver) {
          for (const e of followerSnaps) {
            const closes = e.events.filter((d) => d.type === 'close');
            assert.ok(
              closes.every((d) => d.code === 1006 && d.wasClean === false && d.after !== 3),
              `follower closes during a takeover are reconnects: ${JSON.stringify(e.events)}`,
            );
          }
        }
        assert.deepEqual(errorsOf(s.tabs), []);
      },
    );
  });
}
