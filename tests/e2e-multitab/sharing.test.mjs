// Cross-tab sharing: every same-origin page and iframe of one browser shares ONE server connection
// per scope; every instance sees every server message once, in one order; each page's sends keep
// their order. Run for both election backends. Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import {
  BACKENDS,
  assertBroadcastReachesAll,
  errorsOf,
  freshContext,
  openFrames,
  openIn,
  openTabs,
  waitForAgreement,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

for (const b of BACKENDS) {
  describe(`sharing [${b.name}]`, { skip: b.skip }, () => {
    test(
      '5 pages + 2 iframes share one connection; one order of server messages for all; sends keep page order',
      { skip: libraryOnly },
      async (t) => {
        const ctx = await freshContext(t, browser, server);
        const before = await server.stats();
        const url = server.wsUrl('/echo');
        const pages = await openTabs(ctx, 5);
        const { host, frames } = await openFrames(ctx);
        const docs = [...pages, ...frames]; // 7 documents; the first has two instances
        await openIn(docs.slice(0, 1), url, b.options, { count: 2 });
        await openIn(docs.slice(1), url, b.options);
        await waitForStats(server, (s) => s.connections === 1, 5000);

        const { leaderId, statuses } = await waitForAgreement(docs, 5000, { tabsCount: docs.length });
        const flat = statuses.flat();
        const ids = statuses.map((list) => list[0].id);
        assert.equal(new Set(ids).size, docs.length, `one tab id per document: ${ids}`);
        assert.ok(
          statuses.every((list) => list.every((s) => s.id === list[0].id)),
          'instances of one page share its id',
        );
        assert.ok(ids.includes(leaderId), 'the leader is one of the documents');
        for (const s of flat) {
          assert.equal(s.backend, b.backend, `backend of ${JSON.stringify(s)}`);
          assert.equal(s.scope, flat[0].scope);
          assert.equal(s.epoch, flat[0].epoch);
          assert.equal(s.url, url);
          assert.equal(s.tabs, docs.length);
        }
        assert.equal(typeof flat[0].epoch, 'number');
        console.log(
          `[${b.name}] leader ${leaderId} (document ${ids.indexOf(leaderId)}), epoch ${flat[0].epoch}, scope ${flat[0].scope}`,
        );

        // Every document sends N numbered messages (yielding every 5, so pages interleave) while
        // the server broadcasts; the echo of a send is a server message, so every instance gets
        // every echo.
        const N = 50;
        const BROADCASTS = 10;
        const sending = docs.map((doc, k) => doc.evaluate(([p, n]) => mt.sendSeq(0, p, n, 5), [`e${k}:`, N]));
        for (let m = 0; m < BROADCASTS; m++) await server.broadcast(`srv:${m}`);
        await Promise.all(sending);
        const total = docs.length * N + BROADCASTS;
        await Promise.all(docs.map((doc) => doc.evaluate((n) => mt.waitMessages(n, 20000), total)));
        // A final broadcast once everything arrived: any duplicate would come before it.
        await server.broadcast('srv:end');
        await Promise.all(docs.map((doc) => doc.evaluate((n) => mt.waitMessages(n, 5000), total + 1)));

        const snaps = (await Promise.all(docs.map((doc) => doc.evaluate(() => mt.snapshot())))).flat();
        assert.equal(snaps.length, docs.length + 1);
        const reference = snaps[0].data;
        assert.equal(reference.length, total + 1, 'every message exactly once');
        assert.equal(new Set(reference).size, reference.length, 'no duplicates');
        assert.equal(reference.at(-1), 'srv:end');
        for (const s of snaps) {
          assert.deepEqual(s.data, reference, `instance ${s.i} sees the same sequence as every other`);
          assert.deepEqual(
            s.events.map((d) => d.type),
            ['open'],
          );
        }
        for (let k = 0; k < docs.length; k++) {
          assert.deepEqual(
            reference.filter((d) => d.startsWith(`e${k}:`)),
            Array.from({ length: N }, (_, n) => `e${k}:${n}`),
            `document ${k}'s messages in its send order`,
          );
        }
        assert.deepEqual(
          reference.filter((d) => d.startsWith('srv:')),
          [...Array.from({ length: BROADCASTS }, (_, m) => `srv:${m}`), 'srv:end'],
        );

        const stats = await server.stats();
        assert.equal(stats.connections, 1);
        assert.equal(stats.messagesIn - before.messagesIn, docs.length * N, 'each send reached the server once');
        console.log(
          `[${b.name}] connections made for 7 documents: ${stats.totalConnections - before.totalConnections}`,
        );
        assert.equal(stats.totalConnections - before.totalConnections, 1, 'exactly one connection was ever made');
        await assertBroadcastReachesAll(server, docs, 'srv:last');
        assert.deepEqual(errorsOf([...pages, host]), []);
      },
    );

    test(
      'a burst of 3,000 server frames reaches every instance of 4 tabs whole and in order',
      { skip: libraryOnly },
      async (t) => {
        // The workers gather what comes in a burst into few posts (worker/src/web/burst.rs): the
        // leader's relays on the bus, each worker's replies to its page, per instance.
        const ctx = await freshContext(t, browser, server);
        const url = server.wsUrl('/echo');
        const tabs = await openTabs(ctx, 4);
        await openIn(tabs.slice(0, 1), url, b.options);
        await openIn(tabs.slice(1, 2), url, b.options, { count: 2 });
        await openIn(tabs.slice(2), url, b.options);
        await waitForAgreement(tabs, 5000, { tabsCount: tabs.length });
        const FRAMES = 3000;
        // The server sends the burst as fast as it can, then echoes the sentinel: nothing may come
        // twice, or after it.
        await tabs[3].evaluate(() => mt.send(0, ['__bws:burst 3000 64', 'after-burst']));
        await Promise.all(tabs.map((tab) => tab.evaluate((n) => mt.waitMessages(n, 20000), FRAMES + 1)));
        const expected = [...Array.from({ length: FRAMES }, (_, i) => `${i}:`.padEnd(64, 'x')), 'after-burst'];
        const snaps = (await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.snapshot())))).flat();
        assert.equal(snaps.length, 5);
        for (const snap of snaps) assert.deepEqual(snap.data, expected, `instance ${snap.i}`);
        assert.deepEqual(errorsOf(tabs), []);
      },
    );

    test(
      'different URLs get one connection each; an explicit shared scope joins them',
      { skip: libraryOnly },
      async (t) => {
        const ctx = await freshContext(t, browser, server);
        const urls = [server.wsUrl('/echo'), server.wsUrl('/echo', { x: 1 })];
        const tabs = await openTabs(ctx, 2);
        await tabs[0].evaluate(([u, o]) => mt.open(u, o), [urls[0], b.options]);
        await tabs[1].evaluate(([u, o]) => mt.open(u, o), [urls[1], b.options]);
        await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.waitState(1, 10000))));
        await waitForStats(server, (s) => s.connections === 2, 5000);
        const [[a], [c]] = await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.statuses())));
        assert.notEqual(a.scope, c.scope, 'default scopes differ by URL');
        assert.equal(a.isLeader, true);
        assert.equal(c.isLeader, true);
        assert.equal(a.tabs, 1);
        // Each page's instance is alone in its scope: a broadcast reaches each once.
        await assertBroadcastReachesAll(server, tabs, 'two-scopes');
        await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.close(0))));
        await waitForStats(server, (s) => s.connections === 0, 5000);

        const shared = { ...b.options, scope: 'multitab-shared' };
        await tabs[0].evaluate(([u, o]) => mt.open(u, o), [urls[0], shared]);
        await tabs[0].evaluate(() => mt.waitState(1, 10000));
        await tabs[1].evaluate(([u, o]) => mt.open(u, o), [urls[1], shared]);
        await tabs[1].evaluate(() => mt.waitState(1, 10000));
        await waitForStats(server, (s) => s.connections === 1, 5000);
        const agreed = await waitForAgreement(tabs, 5000, { tabsCount: 2 });
        assert.ok(agreed.statuses.flat().every((s) => s.scope === 'multitab-shared'));
        await assertBroadcastReachesAll(server, tabs, 'one-scope');
        assert.equal((await server.stats()).connections, 1);
        assert.deepEqual(errorsOf(tabs), []);
      },
    );
  });
}
