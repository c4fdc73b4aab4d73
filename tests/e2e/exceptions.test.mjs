// Exceptions: the constructor's URL/protocol validation, send() while CONNECTING, and close()'s
// code/reason validation — each must be a DOMException with the native name, thrown synchronously.
/* global TestSocket, harness -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, openPage, startServerAndBrowser, stopServerAndBrowser } from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

async function newPage(t) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  return p;
}

// Page-side: the exception name thrown by `new TestSocket(url, protocols)` for each case.
function constructorErrors(p, cases) {
  return p.evaluate((cases) => {
    const out = {};
    for (const [label, [url, protocols]] of Object.entries(cases)) {
      const e = harness.thrown(() => new TestSocket(url, protocols));
      out[label] = e && (e.isDOMException ? e.name : `not a DOMException: ${e.name}`);
    }
    return out;
  }, cases);
}

describe('constructor', () => {
  test('invalid URLs, wrong schemes and fragments throw SyntaxError', async (t) => {
    const p = await newPage(t);
    const cases = {
      unparseable: ['ws://[bad'],
      badPort: ['ws://127.0.0.1:99999/echo'],
      ftp: ['ftp://127.0.0.1/echo'],
      file: ['file:///echo'],
      javascript: ['javascript:alert(1)'],
      fragment: ['ws://x/#f'],
      emptyFragment: ['ws://x/#'],
      fragmentAfterHttp: [`http://127.0.0.1:${server.port}/echo#f`],
    };
    const r = await constructorErrors(p, cases);
    assert.deepEqual(r, Object.fromEntries(Object.keys(cases).map((k) => [k, 'SyntaxError'])));
  });

  // Note: duplicates differing only in case (['a', 'A']) are accepted by Chromium and rejected by
  // Firefox, so they are deliberately not asserted here.
  test('bad protocols throw SyntaxError', async (t) => {
    const p = await newPage(t);
    const url = server.wsUrl();
    const cases = {
      duplicate: [url, ['chat', 'chat']],
      duplicateAmongOthers: [url, ['a', 'b', 'a']],
      withSpace: [url, ['a b']],
      stringWithSpace: [url, 'a b'],
      empty: [url, ['']],
      emptyString: [url, ''],
      nonAscii: [url, ['é']],
      comma: [url, ['a,b']],
      separator: [url, ['a/b']],
      control: [url, ['a\u0001']],
    };
    const r = await constructorErrors(p, cases);
    assert.deepEqual(r, Object.fromEntries(Object.keys(cases).map((k) => [k, 'SyntaxError'])));
  });

  test('the options form validates protocols the same way', { skip: libraryOnly }, async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(
      (url) => harness.thrown(() => new TestSocket(url, { protocols: ['x', 'x'] })),
      server.wsUrl(),
    );
    assert.equal(r?.name, 'SyntaxError');
    assert.equal(r?.isDOMException, true);
  });

  test('send() while CONNECTING throws InvalidStateError', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const log = harness.record(ws);
      const readyState = ws.readyState;
      const errors = ['text', new ArrayBuffer(1), new Uint8Array(1), new Blob(['b'])].map((data) =>
        harness.thrown(() => ws.send(data)),
      );
      await log.untilType('open');
      // The throwing sends must not have been queued: the first echo is of 'after-open'.
      ws.send('after-open');
      await log.untilType('message');
      const firstMessage = log.events.find((e) => e.type === 'message').data;
      ws.close();
      await log.untilType('close');
      return { readyState, errors, firstMessage };
    }, server.wsUrl());
    assert.equal(r.readyState, 0);
    for (const e of r.errors) {
      assert.deepEqual(
        { name: e?.name, isDOMException: e?.isDOMException },
        { name: 'InvalidStateError', isDOMException: true },
      );
    }
    assert.equal(r.firstMessage, 'after-open');
  });
});

describe('close()', () => {
  test('codes other than 1000 and 3000-4999 throw InvalidAccessError; long reasons SyntaxError', async (t) => {
    const p = await newPage(t);
    const r = await p.evaluate(async (url) => {
      const ws = new TestSocket(url);
      const log = harness.record(ws);
      await log.untilType('open');
      const name = (code, reason) => harness.thrown(() => ws.close(code, reason))?.name ?? null;
      const out = {
        codes: Object.fromEntries([0, 999, 1001, 1005, 1006, 2999, 5000].map((c) => [c, name(c)])),
        reason124Ascii: name(1000, 'x'.repeat(124)),
        reason124MultiByte: name(4000, 'é'.repeat(62)), // 62 characters, 124 UTF-8 bytes
        // The code is checked before the reason.
        badCodeAndReason: name(999, 'x'.repeat(124)),
        readyStateAfterThrows: ws.readyState,
      };
      // 3000..4999 are valid: the last one really closes.
      out.valid = name(4999, 'x'.repeat(123));
      await log.untilType('close');
      out.close = log.events.at(-1);
      return out;
    }, server.wsUrl());
    assert.deepEqual(r.codes, {
      0: 'InvalidAccessError',
      999: 'InvalidAccessError',
      1001: 'InvalidAccessError',
      1005: 'InvalidAccessError',
      1006: 'InvalidAccessError',
      2999: 'InvalidAccessError',
      5000: 'InvalidAccessError',
    });
    assert.equal(r.reason124Ascii, 'SyntaxError');
    assert.equal(r.reason124MultiByte, 'SyntaxError');
    assert.equal(r.badCodeAndReason, 'InvalidAccessError');
    assert.equal(r.readyStateAfterThrows, 1, 'a throwing close() leaves the socket open');
    assert.equal(r.valid, null);
    assert.deepEqual(
      { code: r.close.code, reason: r.close.reason, wasClean: r.close.wasClean },
      { code: 4999, reason: 'x'.repeat(123), wasClean: true },
    );
  });
});
