// Library-only: on a page without BroadcastChannel nothing can be shared, so each instance holds a
// native WebSocket of its own and behaves as one, with one console.warn saying so and
// status().backend 'native'.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  libraryOnly,
  openPage,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
  waitForStats,
} from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

test(
  'each instance opens its own socket, echoes, closes as natively; one warning',
  { skip: libraryOnly },
  async (t) => {
    await waitForStats(server, (s) => s.connections === 0);
    const p = await openPage(browser, server, '/tests/pages/no-broadcast-channel.html', {
      waitForSetup: false,
      ready: () => window.BroadcastWebsocket,
    });
    t.after(() => p.close());
    const opened = await p.evaluate(async (url) => {
      const open = (ws) => new Promise((resolve) => (ws.onopen = resolve));
      window.sockets = [new window.BroadcastWebsocket(url), new window.BroadcastWebsocket(url)];
      await Promise.all(window.sockets.map(open));
      return window.sockets.map((ws) => ({ readyState: ws.readyState, backend: ws.status().backend }));
    }, server.wsUrl());
    assert.deepEqual(opened, [
      { readyState: 1, backend: 'native' },
      { readyState: 1, backend: 'native' },
    ]);
    await waitForStats(server, (s) => s.connections === 2);

    const r = await p.evaluate(async () => {
      const [a, b] = window.sockets;
      a.binaryType = 'arraybuffer';
      const echo = (ws) => new Promise((resolve) => (ws.onmessage = (e) => resolve(e.data)));
      const gotA = echo(a);
      a.send(new Uint8Array([1, 2, 3]));
      const binary = [...new Uint8Array(await gotA)];
      const gotB = echo(b);
      b.send('only b');
      const text = await gotB;
      const closed = (ws) => new Promise((resolve) => (ws.onclose = (e) => resolve([e.code, e.reason, e.wasClean])));
      const closes = [closed(a), closed(b)];
      a.close(4001, 'a done');
      b.close();
      return { binary, text, closes: await Promise.all(closes), warnings: window.warnings };
    });
    assert.deepEqual(r.binary, [1, 2, 3]);
    assert.equal(r.text, 'only b');
    assert.deepEqual(r.closes, [
      [4001, 'a done', true],
      [1005, '', true],
    ]);
    assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
    assert.match(r.warnings[0], /BroadcastChannel is missing here/);
    assert.deepEqual(unexpectedErrors(p.errors), []);
  },
);
