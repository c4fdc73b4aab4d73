// Binary across tabs and the `on('leaderchange')` form: a binary server message reaches every
// instance of every tab as its own binaryType asks (Blob or ArrayBuffer), a follower's binary send
// goes out as binary, and a follower's `on('leaderchange', …)` handler sees it take over.
// Library-only (skipped under BWS_E2E_CLASS=native).
/* global TestSocket, harness -- page globals, used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, openContext, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import { BACKENDS, LEADER_TIMEOUT_MS } from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

/** Opens instances with the given binaryTypes in a page; they record bytes and types of binary messages. */
function openInstances(page, url, options, binaryTypes) {
  return page.evaluate(
    async ({ url, options, binaryTypes }) => {
      window.instances = binaryTypes.map((binaryType) => {
        const ws = new TestSocket(url, options);
        ws.binaryType = binaryType;
        const entry = { ws, log: harness.record(ws), binary: [], leaderchanges: [] };
        ws.addEventListener('message', async (event) => {
          if (typeof event.data !== 'string') entry.binary.push(await harness.readData(event.data));
        });
        ws.on('leaderchange', () => entry.leaderchanges.push(ws.status().isLeader));
        return entry;
      });
      await Promise.all(window.instances.map((entry) => entry.log.untilType('open')));
      return window.instances.map((entry) => entry.ws.status().isLeader);
    },
    { url, options, binaryTypes },
  );
}

/** Waits until every instance of the page has `count` binary messages; returns them. */
function binaryOf(page, count) {
  return page.evaluate(async (count) => {
    await harness.within(
      (async () => {
        while (!window.instances.every((entry) => entry.binary.length >= count)) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
      5000,
      `${count} binary messages in every instance`,
    );
    return window.instances.map((entry) => entry.binary);
  }, count);
}

for (const b of BACKENDS) {
  describe(`binary and leaderchange [${b.name}]`, { skip: b.skip }, () => {
    test(
      'binary reaches every tab per binaryType; on(leaderchange) sees a takeover',
      { skip: libraryOnly },
      async (t) => {
        const ctx = await openContext(browser, server);
        t.after(() => ctx.close());
        const options = { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS };
        const url = server.wsUrl('/echo');
        const leaderPage = await ctx.newPage();
        const followerPage = await ctx.newPage();
        assert.deepEqual(await openInstances(leaderPage, url, options, ['arraybuffer']), [true]);
        assert.deepEqual(await openInstances(followerPage, url, options, ['blob', 'arraybuffer']), [false, false]);
        await waitForStats(server, (s) => s.connections === 1, 5000);

        await server.broadcast(Buffer.from([1, 2, 255]));
        // A follower's binary send: echoed by the server to the shared socket, so every instance gets it.
        await followerPage.evaluate(() => window.instances[0].ws.send(new Uint8Array([7, 8, 9]).subarray(1)));
        const expected = (type) => [
          { type, bytes: [1, 2, 255] },
          { type, bytes: [8, 9] },
        ];
        assert.deepEqual(await binaryOf(leaderPage, 2), [expected('ArrayBuffer')]);
        assert.deepEqual(await binaryOf(followerPage, 2), [expected('Blob'), expected('ArrayBuffer')]);

        await leaderPage.close();
        await followerPage.waitForFunction(
          () => window.instances.every((entry) => entry.leaderchanges.length > 0 && entry.ws.readyState === 1),
          undefined,
          LEADER_TIMEOUT_MS + 5000,
        );
        const changes = await followerPage.evaluate(() => window.instances.map((entry) => entry.leaderchanges));
        assert.deepEqual(changes, [[true], [true]], 'the follower tab gained the leadership, once');
        await waitForStats(server, (s) => s.connections === 1, 5000);
        assert.deepEqual(followerPage.errors, []);
      },
    );
  });
}
