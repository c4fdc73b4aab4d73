// Library-only API: subscribe(), on(), status() and the options-object constructor form.
// Skipped under BWS_E2E_CLASS=native (the browser's WebSocket has none of this).
/* global TestSocket, harness -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FAILED_CONNECTION,
  libraryOnly,
  openPage,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
  unusedPort,
} from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

async function newPage(t) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  return p;
}

describe('subscribe / on', () => {
  test('subscribe(handler) gets (data, event); its unsubscribe stops it', { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const log = harness.record(ws);
      const calls = [];
      const unsubscribe = ws.subscribe((data, event) => {
        calls.push({
          data,
          sameAsEvent: data === event.data,
          isMessageEvent: event instanceof MessageEvent,
        });
      });
      const other = [];
      ws.subscribe((data) => other.push(data));
      await log.untilType('open');
      ws.send('first');
      await log.untilCount('message', 1);
      const unsubscribeType = typeof unsubscribe;
      unsubscribe();
      unsubscribe(); // calling it twice is harmless
      ws.send('second');
      await log.untilCount('message', 2);
      ws.close();
      await log.untilType('close');
      return { calls, other, unsubscribeType };
    }, server.wsUrl());
    assert.equal(r.unsubscribeType, 'function');
    assert.deepEqual(r.calls, [{ data: 'first', sameAsEvent: true, isMessageEvent: true }]);
    assert.deepEqual(r.other, ['first', 'second']);
    assert.deepEqual(p.errors, []);
  });

  test(
    "on('open' | 'message' | 'close') behave like listeners and can be removed",
    { skip: libraryOnly },
    async (t) => {
      const p = await newPage(t);
      const r = await p.evaluate(async (url) => {
        const ws = new TestSocket(url);
        const log = harness.record(ws);
        const calls = [];
        ws.on('open', (e) => calls.push(`open:${e.type}:${ws.readyState}`));
        const offMessage = ws.on('message', (e) => calls.push(`message:${e.data}`));
        ws.on('close', (e) => calls.push(`close:${e.code}:${e instanceof CloseEvent}`));
        await log.untilType('open');
        ws.send('one');
        await log.untilCount('message', 1);
        offMessage();
        ws.send('two');
        await log.untilCount('message', 2);
        ws.close(4000, 'done');
        await log.untilType('close');
        return { calls, offType: typeof offMessage };
      }, server.wsUrl());
      assert.equal(r.offType, 'function');
      assert.deepEqual(r.calls, ['open:open:1', 'message:one', 'close:4000:true']);
    },
  );

  test("on('error') fires on a refused connection", { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const port = await unusedPort();
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const calls = [];
      ws.on('error', (e) => calls.push(e.type));
      const closed = new Promise((resolve) => ws.on('close', resolve));
      await harness.within(closed, 5000, 'close');
      return calls;
    }, `ws://127.0.0.1:${port}/`);
    assert.deepEqual(r, ['error']);
    assert.deepEqual(unexpectedErrors(p.errors, FAILED_CONNECTION), []);
  });
});

describe('status()', () => {
  test('reports this tab as the leader of its scope with matching fields', { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const log = harness.record(ws);
      const connecting = ws.status();
      await log.untilType('open');
      const open = ws.status();
      const wsFields = { url: ws.url, readyState: ws.readyState };
      ws.close();
      await log.untilType('close');
      return { connecting, open, wsFields, closed: ws.status() };
    }, server.wsUrl());
    const { open } = r;
    assert.equal(typeof open.id, 'string');
    assert.ok(open.id.length > 0, 'id is non-empty');
    assert.equal(open.isLeader, true);
    assert.equal(open.leaderId, open.id);
    assert.equal(open.url, r.wsFields.url);
    assert.equal(open.url, server.wsUrl());
    assert.equal(open.readyState, r.wsFields.readyState);
    assert.equal(open.readyState, 1);
    assert.equal(typeof open.scope, 'string');
    assert.ok(open.scope.length > 0, 'scope is non-empty');
    assert.equal(typeof open.bufferedAmount, 'number');
    assert.equal(r.connecting.readyState, 0);
    assert.equal(r.connecting.id, open.id, 'the tab id is stable');
    assert.equal(r.closed.readyState, 3);
  });

  test('options form: scope and protocols are honoured', { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url, { scope: 'e2e-scope', protocols: ['chat.v2', 'chat.v1'] });
      const log = harness.record(ws);
      await log.untilType('open');
      const out = { status: ws.status(), protocol: ws.protocol };
      ws.send('ping');
      await log.untilCount('message', 1);
      out.echo = log.events.at(-1).data;
      ws.close();
      await log.untilType('close');
      return out;
    }, server.wsUrl());
    assert.equal(r.status.scope, 'e2e-scope');
    assert.equal(r.protocol, 'chat.v2');
    assert.equal(r.echo, 'ping');
  });
});
