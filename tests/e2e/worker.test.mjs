// Library-only: the real socket lives in the worker (the page's WebSocket is never called, the
// server sees exactly one connection), the page runs no WebAssembly, worker load failures surface as
// error + close 1006, and a worker that is not of this release fails the handshake at once.
/* global TestSocket, harness, ws, log, webSocketSpyCalls -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
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

async function newPage(t, pagePath, opts) {
  const p = await openPage(browser, server, pagePath, opts);
  t.after(() => p.close());
  return p;
}

describe('the socket is opened in the worker', () => {
  test(
    'window.WebSocket is never called and the server sees exactly one connection',
    { skip: libraryOnly },
    async (t) => {
      // Start from a quiet server so the counts below belong to this test alone.
      const base = await waitForStats(server, (s) => s.connections === 0);
      const p = await newPage(t, '/tests/pages/spy.html');
      const r = await p.evaluate(async (url) => {
        const ws = new TestSocket(url);
        window.ws = ws;
        window.log = harness.record(ws);
        await log.untilType('open');
        ws.send('through the worker');
        await log.untilCount('message', 1);
        return { spyCalls: [...webSocketSpyCalls], echo: log.events.at(-1).data };
      }, server.wsUrl());
      assert.deepEqual(r.spyCalls, [], 'the page-level WebSocket was never called');
      assert.equal(r.echo, 'through the worker');
      const stats = await waitForStats(
        server,
        (s) => s.connections === 1 && s.totalConnections === base.totalConnections + 1,
      );
      assert.equal(stats.connections, 1);

      // Control: the spy does catch a direct use, so the empty list above means something.
      const control = await p.evaluate(async (url) => {
        const native = new WebSocket(url);
        await harness.within(new Promise((r) => (native.onopen = r)), 5000, 'native open');
        native.close();
        await harness.within(new Promise((r) => (native.onclose = r)), 5000, 'native close');
        ws.close();
        await log.untilType('close');
        return webSocketSpyCalls;
      }, server.wsUrl());
      assert.deepEqual(control, [server.wsUrl()]);
      assert.deepEqual(p.errors, []);
    },
  );
});

describe('the page runs no WebAssembly', () => {
  test(
    'no compile, no instantiation, no memory on the page: import, open, echo, close',
    { skip: libraryOnly },
    async (t) => {
      const p = await newPage(t, '/tests/pages/no-wasm.html', {
        waitForSetup: false,
        ready: () => window.BroadcastWebsocket,
      });
      const r = await p.evaluate(async (url) => {
        const ws = new window.BroadcastWebsocket(url);
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onclose = () => reject(new Error('closed before open'));
        });
        ws.send('no wasm here');
        const echo = await new Promise((resolve) => (ws.onmessage = (e) => resolve(e.data)));
        ws.onclose = null;
        ws.close();
        await new Promise((resolve) => ws.addEventListener('close', resolve));
        const calls = [...window.wasmCalls];
        // Control: the spies do record a use, so the empty list above means something.
        new WebAssembly.Memory({ initial: 1 });
        await WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
        return { echo, calls, control: window.wasmCalls.slice(calls.length) };
      }, server.wsUrl());
      assert.equal(r.echo, 'no wasm here');
      assert.deepEqual(r.calls, [], 'the page made no WebAssembly call');
      assert.deepEqual(r.control, ['new WebAssembly.Memory', 'WebAssembly.validate']);
      assert.deepEqual(unexpectedErrors(p.errors), []);
    },
  );
});

describe('workerUrl', () => {
  // Constructs with a failing workerUrl and reports the events and how long until close.
  async function failingWorker(t, workerUrl) {
    const p = await newPage(t);
    const r = await p.evaluate(
      async ({ url, workerUrl }) => {
        const started = performance.now();
        const ws = new TestSocket(url, { workerUrl, workerTimeoutMs: 3000 });
        const log = harness.record(ws);
        await log.untilType('close', 8000);
        return {
          events: log.events,
          readyState: ws.readyState,
          elapsedMs: performance.now() - started,
        };
      },
      { url: server.wsUrl(), workerUrl },
    );
    return { p, r };
  }

  for (const [label, workerUrl] of [
    ['a missing worker script (404)', '/nonexistent-worker.js'],
    ['a worker script that throws', '/tests/pages/workers/throwing.js'],
  ]) {
    test(`${label}: error then close 1006 within workerTimeoutMs`, { skip: libraryOnly }, async (t) => {
      const { r } = await failingWorker(t, workerUrl);
      assert.deepEqual(
        r.events.map((e) => e.type),
        ['error', 'close'],
      );
      const close = r.events[1];
      assert.deepEqual(
        { code: close.code, reason: close.reason, wasClean: close.wasClean, cls: close.cls },
        { code: 1006, reason: '', wasClean: false, cls: 'CloseEvent' },
      );
      assert.equal(close.readyState, 3);
      assert.equal(r.readyState, 3);
      // workerTimeoutMs is 3000; allow a little for event dispatch.
      assert.ok(r.elapsedMs < 3500, `closed after ${Math.round(r.elapsedMs)}ms`);
    });
  }

  test("the self-hosted '/dist/worker.js' works: open and echo", { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url, { workerUrl: '/dist/worker.js', workerTimeoutMs: 3000 });
      const log = harness.record(ws);
      await log.untilType('open');
      ws.send('via /dist/worker.js');
      await log.untilCount('message', 1);
      ws.close();
      await log.untilType('close');
      return log.events.map((e) => `${e.type}:${e.data ?? e.code ?? ''}`);
    }, server.wsUrl());
    assert.deepEqual(r, ['open:', 'message:via /dist/worker.js', 'close:1005']);
    assert.deepEqual(unexpectedErrors(p.errors), []);
  });

  // Workers that are not of this release: the handshake fails them at once (workerTimeoutMs is
  // 10 s here, so only the handshake can end them within 1 s), naming both sides.
  for (const [label, workerUrl, message] of [
    [
      'a worker of another protocol version',
      '/tests/pages/workers/other-protocol.js',
      /speaks protocol 999 \(broadcast-websocket 9\.9\.9\), this page speaks protocol \d+ \(broadcast-websocket \d+\.\d+\.\d+\)/,
    ],
    [
      'a worker of a release older than the handshake',
      '/tests/pages/workers/older-release.js',
      /is not a broadcast-websocket worker of protocol \d+ .*older than the handshake.*"WorkerLoaded"/,
    ],
    [
      'a worker that is not ours at all',
      '/tests/pages/workers/not-ours.js',
      /is not a broadcast-websocket worker of protocol \d+ .*first message was \{"type":"ready","from":"another library"\}/,
    ],
  ]) {
    test(`${label}: error, close 1006 and a console.error naming it, within 1 s`, { skip: libraryOnly }, async (t) => {
      const p = await newPage(t);
      const r = await p.evaluate(
        async ({ url, workerUrl }) => {
          const started = performance.now();
          const ws = new TestSocket(url, { workerUrl, workerTimeoutMs: 10000 });
          const log = harness.record(ws);
          await log.untilType('close', 5000);
          return { events: log.events, elapsedMs: performance.now() - started };
        },
        { url: server.wsUrl(), workerUrl },
      );
      assert.deepEqual(
        r.events.map((e) => [e.type, e.code]),
        [
          ['error', undefined],
          ['close', 1006],
        ],
      );
      assert.ok(r.elapsedMs < 1000, `closed after ${Math.round(r.elapsedMs)}ms`);
      const reported = p.errors.filter((e) => e.includes(workerUrl));
      assert.equal(reported.length, 1, `one console.error naming the worker: ${JSON.stringify(p.errors)}`);
      assert.match(reported[0], message);
    });
  }
});
