// An insecure page (npm test's BWS_INSECURE=1 pass: a test hostname mapped to loopback, as a page an
// OBS browser source loads from a file is not a secure context either): no Web Locks, no
// crypto.randomUUID, in the page and in its worker, and the library still shares one socket, by the
// lease. The sharing, takeover, lifecycle, junk and demo suites run on such a page in the same pass.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INSECURE,
  libraryOnly,
  openContext,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
  waitForStats,
} from '../harness.mjs';

const skip = libraryOnly || (!INSECURE && 'runs in the insecure-origin pass of npm test (BWS_INSECURE=1)');

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip })));
after(() => stopServerAndBrowser({ server, browser }));

test('an insecure page and its worker: no secure-context API, yet one socket for two tabs', { skip }, async (t) => {
  const ctx = await openContext(browser, server);
  t.after(() => ctx.close());
  const [a, b] = [await ctx.newPage(), await ctx.newPage()];

  const context = await a.evaluate(async () => {
    // A worker of the page's origin, as the library's is: what can it use?
    const probe = `postMessage({ secure: isSecureContext, locks: 'locks' in navigator,
      randomUUID: typeof crypto.randomUUID, subtle: crypto.subtle !== undefined })`;
    const worker = new Worker(URL.createObjectURL(new Blob([probe], { type: 'text/javascript' })));
    const inWorker = await new Promise((resolve) => (worker.onmessage = (e) => resolve(e.data)));
    worker.terminate();
    return {
      page: {
        secure: isSecureContext,
        locks: 'locks' in navigator,
        randomUUID: typeof crypto.randomUUID,
        subtle: crypto.subtle !== undefined,
      },
      worker: inWorker,
      origin: location.origin,
    };
  });
  const none = { secure: false, locks: false, randomUUID: 'undefined', subtle: false };
  assert.deepEqual(context.page, none, `page at ${context.origin}`);
  assert.deepEqual(context.worker, none, `worker of ${context.origin}`);

  const url = server.wsUrl('/echo');
  const opened = await Promise.all(
    [a, b].map((p) =>
      p.evaluate(async (url) => {
        window.ws = new window.TestSocket(url);
        await new Promise((resolve) => (window.ws.onopen = resolve));
        return window.ws.status().backend;
      }, url),
    ),
  );
  // `auto` chose the lease: the worker found no Web Locks.
  assert.deepEqual(opened, ['lease', 'lease']);
  await waitForStats(server, (s) => s.connections === 1);

  const echoed = await b.evaluate(async () => {
    const got = new Promise((resolve) => (window.ws.onmessage = (e) => resolve(e.data)));
    window.ws.send('from an insecure page');
    return got;
  });
  assert.equal(echoed, 'from an insecure page');
  assert.deepEqual(unexpectedErrors([...a.errors, ...b.errors]), []);
});
