// Event handlers and listeners: onX and addEventListener both fire in registration order, onX
// reassignment keeps its slot, null removes it, removeEventListener, once, and dispatchEvent.
/* global TestSocket, harness -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FAILED_CONNECTION,
  openPage,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
  unusedPort,
} from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

async function newPage(t) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  return p;
}

describe('handlers and listeners', () => {
  test('onX and listeners fire in registration order across reassignment and removal', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const calls = [];
      const A = (e) => calls.push(`A:${e.data}`);
      const B = (e) => calls.push(`B:${e.data}`);
      const B2 = (e) => calls.push(`B2:${e.data}`);
      const B3 = (e) => calls.push(`B3:${e.data}`);
      const C = (e) => calls.push(`C:${e.data}`);
      const opened = new Promise((resolve) => ws.addEventListener('open', resolve));
      ws.addEventListener('message', A);
      ws.onmessage = B; // between A and C
      ws.addEventListener('message', C);
      await harness.within(opened, 5000, 'open');

      // Sends `text` and resolves once every listener has run for its echo: the once-listener is
      // registered last, so by the time it runs all earlier ones have.
      const step = (text) => {
        const done = new Promise((resolve) => ws.addEventListener('message', resolve, { once: true }));
        ws.send(text);
        return harness.within(done, 5000, `echo of ${text}`);
      };
      const getters = [];
      await step('1'); // A, B, C
      ws.onmessage = B2; // reassigning keeps the slot between A and C
      getters.push(ws.onmessage === B2);
      await step('2');
      ws.onmessage = null; // removes it
      getters.push(ws.onmessage === null);
      await step('3');
      ws.onmessage = B3; // re-added after being null: goes to the end
      await step('4');
      ws.removeEventListener('message', A);
      ws.removeEventListener('message', B3); // removeEventListener does not touch the onX slot
      await step('5');
      ws.addEventListener('message', C); // adding the same listener twice is a no-op
      await step('6');
      ws.close();
      return { calls, getters };
    }, server.wsUrl());
    assert.deepEqual(r.calls, [
      'A:1', 'B:1', 'C:1',
      'A:2', 'B2:2', 'C:2',
      'A:3', 'C:3',
      'A:4', 'C:4', 'B3:4',
      'C:5', 'B3:5',
      'C:6', 'B3:6',
    ]); // prettier-ignore
    assert.deepEqual(r.getters, [true, true]);
    assert.deepEqual(p.errors, []);
  });

  test('onopen/onclose fire together with listeners, with the same event object', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const calls = [];
      const initial = [ws.onopen, ws.onmessage, ws.onerror, ws.onclose];
      const openEvents = [];
      ws.onopen = (e) => {
        calls.push('onopen');
        openEvents.push(e);
        ws.close(4000, 'x');
      };
      ws.addEventListener('open', (e) => {
        openEvents.push(e);
        calls.push(`listener:open:target=${e.target === ws}`);
      });
      ws.addEventListener('close', (e) => calls.push(`listener:close:${e.code}`));
      // onclose is registered last, so resolving from it means every close callback has run.
      const closed = new Promise((resolve) => {
        ws.onclose = (e) => {
          calls.push(`onclose:${e.code}:currentTarget=${e.currentTarget === ws}`);
          resolve();
        };
      });
      await harness.within(closed, 5000, 'close');
      return { calls, initial, sameOpen: openEvents[0] === openEvents[1] };
    }, server.wsUrl());
    assert.deepEqual(r.initial, [null, null, null, null]);
    assert.deepEqual(r.calls, [
      // onopen was assigned before the open listener was added, so it runs first.
      'onopen',
      'listener:open:target=true',
      'listener:close:4000',
      'onclose:4000:currentTarget=true',
    ]);
    assert.equal(r.sameOpen, true, 'onopen and the listener receive the same Event object');
  });

  test('onerror and error listeners both fire on a refused connection', async (t) => {
    const p = await newPage(t);
    const port = await unusedPort();
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const calls = [];
      ws.addEventListener('error', (e) => calls.push(`listener:${e.type}`));
      ws.onerror = (e) => calls.push(`onerror:${e.type}:${e instanceof Event}`);
      const closed = new Promise((resolve) => (ws.onclose = resolve));
      await harness.within(closed, 5000, 'close');
      return calls;
    }, `ws://127.0.0.1:${port}/`);
    assert.deepEqual(r, ['listener:error', 'onerror:error:true']);
    assert.deepEqual(unexpectedErrors(p.errors, FAILED_CONNECTION), []);
  });

  test('removeEventListener stops a listener; once listeners run once', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const log = harness.record(ws);
      const calls = [];
      const removed = () => calls.push('removed');
      ws.addEventListener('message', removed);
      ws.removeEventListener('message', removed);
      ws.addEventListener('message', (e) => calls.push(`once:${e.data}`), { once: true });
      await log.untilType('open');
      ws.send('a');
      ws.send('b');
      await log.untilCount('message', 2);
      ws.close();
      await log.untilType('close');
      return calls;
    }, server.wsUrl());
    assert.deepEqual(r, ['once:a']);
  });
});

describe('dispatchEvent', () => {
  test('a synthetic event reaches listeners and the matching onX handler', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const calls = [];
      ws.addEventListener('custom', (e) => calls.push(`custom:${e.detail}:${e.target === ws}`));
      ws.addEventListener('message', (e) => calls.push(`listener:${e.data}:${e.isTrusted}`));
      ws.onmessage = (e) => calls.push(`onmessage:${e.data}`);
      const custom = ws.dispatchEvent(new CustomEvent('custom', { detail: 42 }));
      const message = ws.dispatchEvent(new MessageEvent('message', { data: 'synthetic' }));
      const cancelable = new Event('custom', { cancelable: true });
      ws.addEventListener('custom', (e) => e.preventDefault());
      const notCancelled = ws.dispatchEvent(cancelable);
      // A synthetic event changes nothing about the connection: it still opens normally.
      const log = harness.record(ws);
      await log.untilType('open');
      ws.close();
      await log.untilType('close');
      return { calls, custom, message, notCancelled, readyState: ws.readyState };
    }, server.wsUrl());
    assert.deepEqual(r.calls, [
      'custom:42:true',
      'listener:synthetic:false',
      'onmessage:synthetic',
      'custom:undefined:true',
    ]);
    assert.equal(r.custom, true);
    assert.equal(r.message, true);
    assert.equal(r.notCancelled, false);
    assert.equal(r.readyState, 3);
  });
});
