// Library-only options of the cross-tab engine: `debug` logs election decisions
// with the tab id (from the worker), `election` picks the backend, and bad
// values of every option throw a TypeError naming the option.
/* global TestSocket, harness -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, onEngine, openPage, startServerAndBrowser, stopServerAndBrowser } from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

/** Opens a page that records every console message, the worker's included. */
async function pageWithConsole(t) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  const lines = [];
  p.page.onConsole((type, text) => lines.push({ type, text }));
  return { p, lines };
}

/** Opens an instance with `options`, waits for open, returns its status and closes it. */
function openWith(p, url, options) {
  return p.evaluate(
    async ({ url, options }) => {
      const ws = new TestSocket(url, options);
      const log = harness.record(ws);
      await log.untilType('open');
      const status = ws.status();
      ws.close();
      await log.untilType('close');
      return status;
    },
    { url, options },
  );
}

/** The debug lines come from the worker's console, which WebDriver does not report. */
const noConsole = onEngine({ webkit: 'WebDriver reports no console messages (the worker logs the debug lines)' });

describe('debug', () => {
  test(
    'logs who leads and why, with the tab id, from the worker',
    {
      skip: libraryOnly || onEngine({ webkit: "WebDriver reports no console messages, and the worker's least of all" }),
    },
    async (t) => {
      const { p, lines } = await pageWithConsole(t);
      const status = await openWith(p, server.wsUrl(), { debug: true });
      const logged = lines.filter((line) => line.text.startsWith('[broadcast-websocket tab '));
      assert.ok(
        logged.some(
          (line) => line.type === 'debug' && line.text.includes(status.id) && line.text.includes('leads with epoch'),
        ),
        `expected a debug line naming tab ${status.id} as leader, got ${JSON.stringify(logged)}`,
      );
    },
  );

  test('is silent by default', { skip: libraryOnly || noConsole }, async (t) => {
    const { p, lines } = await pageWithConsole(t);
    await openWith(p, server.wsUrl(), {});
    assert.deepEqual(
      lines.filter((line) => line.text.startsWith('[broadcast-websocket')),
      [],
    );
  });
});

describe('election', () => {
  test('auto uses Web Locks on a secure page; lease can be forced', { skip: libraryOnly }, async (t) => {
    const { p } = await pageWithConsole(t);
    const auto = await openWith(p, server.wsUrl(), {});
    const lease = await openWith(p, server.wsUrl('/echo', { backend: 'lease' }), { election: 'lease' });
    assert.equal(auto.backend, 'locks');
    assert.equal(auto.isLeader, true);
    assert.equal(lease.backend, 'lease');
    assert.equal(lease.isLeader, true);
    assert.equal(lease.tabs, 1);
    assert.ok(lease.epoch > 0, `a leader has an epoch, got ${lease.epoch}`);
  });
});

describe('reconnect', () => {
  test(
    'without it, send() while CONNECTING throws; with it, sends wait for open and go first',
    { skip: libraryOnly },
    async (t) => {
      const { p } = await pageWithConsole(t);
      const seen = await p.evaluate(async (url) => {
        const plain = new TestSocket(url);
        const plainError = harness.thrown(() => plain.send('early'));
        plain.close();
        const ws = new TestSocket(url, { reconnect: true, maxEnqueuedMessages: 2 });
        const log = harness.record(ws);
        ws.send('first');
        ws.send('second');
        const over = harness.thrown(() => ws.send('third'));
        const queued = ws.bufferedAmount;
        // Sent in the open handler: it must come after the queued ones.
        ws.addEventListener('open', () => ws.send('from onopen'), { once: true });
        await log.untilType('open');
        await log.untilCount('message', 3);
        const status = ws.status();
        ws.close();
        await log.untilType('close');
        return { plainError, over, queued, echoes: [...log.messages], retryCount: ws.retryCount, status };
      }, server.wsUrl());
      assert.equal(seen.plainError?.name, 'InvalidStateError');
      assert.equal(seen.over?.name, 'QuotaExceededError');
      assert.equal(seen.queued, 'first'.length + 'second'.length, 'queued sends count in bufferedAmount');
      assert.deepEqual(seen.echoes.slice(0, 3), ['first', 'second', 'from onopen']);
      assert.equal(seen.retryCount, 0);
      assert.equal(seen.status.retryCount, 0);
    },
  );
});

describe('reconnect()', () => {
  test(
    'reopens an open instance; joins a closed one again; startClosed waits for it',
    { skip: libraryOnly },
    async (t) => {
      const { p } = await pageWithConsole(t);
      const seen = await p.evaluate(async (url) => {
        const ws = new TestSocket(url);
        const log = harness.record(ws);
        await log.untilType('open');
        ws.reconnect(4000, 'again');
        await log.untilCount('open', 2);
        ws.close();
        await log.untilCount('close', 2);
        ws.reconnect();
        const reopening = ws.readyState;
        await log.untilCount('open', 3);
        ws.send('back');
        await log.untilCount('message', 1);
        const late = new TestSocket(url, { startClosed: true });
        const lateLog = harness.record(late);
        const startState = late.readyState;
        late.reconnect();
        await lateLog.untilType('open');
        // close() after reconnect() while CLOSING: the last call wins, it stays closed.
        const third = new TestSocket(url);
        const thirdLog = harness.record(third);
        await thirdLog.untilType('open');
        third.close();
        third.reconnect();
        third.close();
        await thirdLog.untilType('close');
        const thirdState = third.readyState;
        const events = (l) => l.events.map((e) => (e.type === 'close' ? `close ${e.code}` : e.type));
        const result = {
          events: events(log),
          thirdState,
          reopening,
          startState,
          late: events(lateLog),
          echo: [...log.messages],
        };
        ws.close();
        late.close();
        return result;
      }, server.wsUrl());
      assert.deepEqual(seen.events, ['open', 'close 1006', 'open', 'close 1005', 'open', 'message']);
      assert.equal(seen.reopening, 0, 'CONNECTING again at once');
      assert.deepEqual(seen.echo, ['back']);
      assert.equal(seen.startState, 3, 'startClosed: CLOSED');
      assert.deepEqual(seen.late, ['open'], 'startClosed: nothing before reconnect(), then open');
      assert.equal(seen.thirdState, 3, 'close() after reconnect() while CLOSING: stays CLOSED');
    },
  );
});

describe('url provider', () => {
  test(
    'is called before every connection; one that fails fails that attempt, and the loop goes on',
    { skip: libraryOnly },
    async (t) => {
      const { p } = await pageWithConsole(t);
      const seen = await p.evaluate(async (base) => {
        // Fails while `failing` is set; resolves `failedTwice` at its second failure.
        const provider = { calls: 0, failing: 0 };
        let failedTwice;
        const twoFailures = new Promise((resolve) => (failedTwice = resolve));
        const ws = new TestSocket(
          async () => {
            provider.calls += 1;
            if (provider.failing > 0) {
              provider.failing += 1;
              if (provider.failing === 3) failedTwice();
              throw new Error('no token');
            }
            return `${base}?token=${provider.calls}`;
          },
          { scope: 'provided', reconnect: true, minReconnectionDelay: 20, maxReconnectionDelay: 50 },
        );
        const log = harness.record(ws);
        const before = ws.url;
        await log.untilType('open');
        const first = ws.url;
        provider.failing = 1;
        ws.reconnect();
        await harness.within(twoFailures, 5000, 'two failed attempts');
        provider.failing = 0;
        const failures = provider.calls - 1;
        await log.untilCount('open', 2);
        const result = {
          before,
          first,
          last: ws.url,
          failures,
          retryCount: ws.retryCount,
          events: log.events.map((e) => e.type),
        };
        ws.close();
        const noScope = harness.thrown(() => new TestSocket(() => base));
        const failing = new TestSocket(() => Promise.reject(new Error('no token')), { scope: 'failing' });
        const failingLog = harness.record(failing);
        await failingLog.untilType('close');
        return {
          ...result,
          noScope,
          failing: failingLog.events.map((e) => (e.type === 'close' ? `close ${e.code}` : e.type)),
        };
      }, server.wsUrl('/echo'));
      assert.equal(seen.before, '', 'no URL until the provider gave one');
      assert.match(seen.first, /\?token=1$/);
      assert.ok(seen.failures >= 2, `${seen.failures} attempts failed in the provider`);
      assert.match(seen.last, new RegExp(`\\?token=${seen.failures + 2}$`), 'called again for the attempt that opened');
      assert.deepEqual(seen.events, ['open', 'close', 'open']);
      assert.equal(seen.noScope?.name, 'TypeError', 'a provider needs a scope');
      assert.deepEqual(
        seen.failing,
        ['error', 'close 1006'],
        'without reconnect, a failing provider fails the connection',
      );
    },
  );
});

describe('bad option values', () => {
  test('throw a TypeError naming the option', { skip: libraryOnly }, async (t) => {
    const { p } = await pageWithConsole(t);
    const thrown = await p.evaluate((url) => {
      const cases = {
        election: { election: 'raft' },
        leaderTimeoutMs: { leaderTimeoutMs: 5 },
        graceMs: { graceMs: -1 },
        debug: { debug: 'yes' },
        startClosed: { startClosed: 'no' },
        scope: { scope: 42 },
        workerTimeoutMs: { workerTimeoutMs: Number.NaN },
        // Checked with or without `reconnect: true`, so that a typo fails at once.
        reconnect: { reconnect: 1 },
        minReconnectionDelay: { minReconnectionDelay: -1 },
        maxReconnectionDelay: { reconnect: true, minReconnectionDelay: 500, maxReconnectionDelay: 100 },
        reconnectionDelayGrowFactor: { reconnectionDelayGrowFactor: 0.5 },
        minUptime: { minUptime: '5s' },
        connectionTimeout: { connectionTimeout: 0 },
        maxRetries: { maxRetries: 1.5 },
        maxEnqueuedMessages: { maxEnqueuedMessages: -1 },
        reconnectOnCodes: { reconnectOnCodes: [999] },
      };
      return Object.fromEntries(
        Object.entries(cases).map(([name, options]) => [name, harness.thrown(() => new TestSocket(url, options))]),
      );
    }, server.wsUrl());
    for (const [name, error] of Object.entries(thrown)) {
      assert.equal(error?.name, 'TypeError', `${name}: ${JSON.stringify(error)}`);
      assert.match(error.message, new RegExp(`'${name}'`), `${name}: ${error.message}`);
    }
  });
});
