// Closing: client-initiated close (with and without code/reason), server-initiated close, close
// without status, an abrupt TCP drop, and the socket's behaviour once closed.
/* global TestSocket, harness, ws, log -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FAILED_CONNECTION,
  openPage,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
} from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

// Opens a page whose window.ws is an OPEN socket with window.log recording its events.
async function openSocketPage(t, url = server.wsUrl()) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  await p.evaluate(async (url) => {
    window.ws = new TestSocket(url);
    window.log = harness.record(window.ws);
    await window.log.untilType('open');
  }, url);
  return p;
}

const closeEvent = (code, reason, wasClean) => ({
  type: 'close',
  readyState: 3,
  cls: 'CloseEvent',
  code,
  reason,
  wasClean,
});

describe('client-initiated close', () => {
  test("close(4000, 'bye'): CLOSING at once, then a clean close event 4000 'bye'", async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      const returned = ws.close(4000, 'bye');
      // Events are async: nothing is dispatched during close() itself.
      const eventsDuringCall = log.events.length - 1;
      const readyStateAfterCall = ws.readyState;
      await log.untilType('close');
      return {
        returned,
        eventsDuringCall,
        readyStateAfterCall,
        events: log.events.slice(1),
        readyState: ws.readyState,
      };
    });
    assert.equal(r.returned, undefined);
    assert.equal(r.eventsDuringCall, 0);
    assert.equal(r.readyStateAfterCall, 2);
    assert.deepEqual(r.events, [closeEvent(4000, 'bye', true)]);
    assert.equal(r.readyState, 3);
    assert.deepEqual(p.errors, []);
  });

  test('close() without arguments gives code 1005 (no status)', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.close();
      await log.untilType('close');
      return log.events.slice(1);
    });
    assert.deepEqual(r, [closeEvent(1005, '', true)]);
  });

  test('close(1000) and a multi-byte reason of exactly 123 bytes', async (t) => {
    const p = await openSocketPage(t);
    const reason = 'é'.repeat(61) + 'a'; // 61 * 2 + 1 = 123 UTF-8 bytes
    const r = await p.evaluate(async (reason) => {
      ws.close(1000, reason);
      await log.untilType('close');
      return log.events.slice(1);
    }, reason);
    assert.deepEqual(r, [closeEvent(1000, reason, true)]);
  });

  test('a second close() is a no-op; send() after close does not throw', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.close(4002, 'first');
      ws.close(4003, 'second');
      await log.untilType('close');
      const sendAfterClose = harness.thrown(() => ws.send('late'));
      const closeAfterClose = harness.thrown(() => ws.close(4004));
      return {
        events: log.events.slice(1),
        sendAfterClose,
        closeAfterClose,
        readyState: ws.readyState,
      };
    });
    assert.deepEqual(r.events, [closeEvent(4002, 'first', true)]);
    assert.equal(r.sendAfterClose, null);
    assert.equal(r.closeAfterClose, null);
    assert.equal(r.readyState, 3);
  });
});

describe('server-initiated close', () => {
  test('__bws:close 4001 gives a clean close event with the code and reason', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.send('__bws:close 4001 server says bye');
      await log.untilType('close');
      return log.events.slice(1);
    });
    assert.deepEqual(r, [closeEvent(4001, 'server says bye', true)]);
    assert.deepEqual(p.errors, []);
  });

  test('a close frame without status gives 1005', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.send('__bws:close-nostatus');
      await log.untilType('close');
      return log.events.slice(1);
    });
    assert.deepEqual(r, [closeEvent(1005, '', true)]);
  });

  // An established connection that ends without a close frame is "closed" with 1006, not
  // "failed" (RFC 6455 §7.1.5 vs §7.1.7), so no error event: that is what Chromium's own
  // WebSocket does (checked with BWS_E2E_CLASS=native, FIN and RST alike).
  test('a dropped TCP connection gives close 1006, not clean, and no error event', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.send('__bws:drop');
      await log.untilType('close');
      return log.events.slice(1);
    });
    assert.deepEqual(r, [closeEvent(1006, '', false)]);
    assert.deepEqual(unexpectedErrors(p.errors, FAILED_CONNECTION), []);
  });

  test('messages sent before the server closes are delivered before the close event', async (t) => {
    const p = await openSocketPage(t);
    const r = await p.evaluate(async () => {
      ws.send('one');
      ws.send('two');
      ws.send('__bws:close 4005 done');
      await log.untilType('close');
      return log.events.slice(1).map((e) => `${e.type}:${e.data ?? e.code}`);
    });
    assert.deepEqual(r, ['message:one', 'message:two', 'close:4005']);
  });
});
