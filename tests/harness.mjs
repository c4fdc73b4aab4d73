// Shared test harness: starts the local bws-server, a static file server, and the browser engine
// named by BWS_ENGINE (chromium, the default; firefox; webkit) through the thin driver interface of
// tests/drivers/ (see ENGINES there), so that a test is written once for every engine.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, wrapPage } from './drivers/chromium.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The engines a test can run on, each with its driver module in tests/drivers/. */
export const ENGINES = ['chromium', 'firefox', 'webkit'];
/** The engine under test: `BWS_ENGINE=chromium|firefox|webkit` (chromium by default). */
export const ENGINE = process.env.BWS_ENGINE || 'chromium';
if (!ENGINES.includes(ENGINE)) throw new Error(`BWS_ENGINE=${ENGINE}: expected one of ${ENGINES.join(', ')}`);

/**
 * The reason given for the engine under test, or false: `{ skip: onEngine({ webkit: 'why' }) }` skips
 * a test by name on WebKit only, `{ todo: onEngine({ firefox: 'gap, issue' }) }` runs it on Firefox as a
 * todo (reported, not failing). Reasons are shown by node:test next to the test's name.
 */
export function onEngine(reasons) {
  const reason = reasons[ENGINE];
  return reason ? `${ENGINE}: ${reason}` : false;
}

/** Skip reason for tests of what only Chromium's DevTools protocol can do (crash or freeze a page). */
export const cdpOnly = onEngine({
  firefox: 'needs the Chrome DevTools Protocol (Page.crash / Page.setWebLifecycleState)',
  webkit: 'needs the Chrome DevTools Protocol (Page.crash / Page.setWebLifecycleState)',
});

/**
 * `BWS_INSECURE=1` (Chromium only) serves the pages from a test hostname that Chromium resolves to
 * loopback (`--host-resolver-rules`): an origin that is not a secure context, as a page an OBS
 * browser source loads from a file is not, so no Web Locks and no `crypto.randomUUID` there. Node
 * still reaches the server at 127.0.0.1.
 */
export const INSECURE = process.env.BWS_INSECURE === '1';
export const INSECURE_HOST = 'insecure.bws.test';
if (INSECURE && ENGINE !== 'chromium') throw new Error('BWS_INSECURE=1 needs Chromium (--host-resolver-rules)');
const INSECURE_ARGS = INSECURE ? [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] : [];
/** Skip reason for tests of Web Locks, which insecure pages lack. */
export const needsLocks = INSECURE ? 'needs Web Locks, which an insecure page lacks (BWS_INSECURE=1)' : false;

/** `BWS_E2E_CLASS=native` runs the e2e suites against the browser's own WebSocket. */
export const TEST_CLASS = process.env.BWS_E2E_CLASS === 'native' ? 'native' : 'library';
export const isNative = TEST_CLASS === 'native';
/** Pass as `{ skip: libraryOnly }` to tests that exercise API the native WebSocket lacks. */
export const libraryOnly = isNative ? 'library-only (BWS_E2E_CLASS=native)' : false;

/** The bws-server binary: $BWS_SERVER_BIN (read at each start, so the bench can pick a release build) or the debug build. */
export const serverBin = () => process.env.BWS_SERVER_BIN || path.join(REPO_ROOT, 'target/debug/bws-server');

/** Rejects after `ms` with a message naming what was awaited. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Spawns bws-server on `port` (an ephemeral one by default) serving `staticDir` (the repo root by default), with `env`
 * added to its environment (e.g. PERSISTENT_CHANNELS). stop() signals only this child's PID and
 * waits for it to exit.
 */
export async function startServer({ staticDir = REPO_ROOT, timeoutMs = 10000, env = {}, port: wanted = 0 } = {}) {
  const bin = serverBin();
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: run \`cargo build -p bws-server\` (or set BWS_SERVER_BIN)`);
  }
  const child = spawn(bin, ['--port', String(wanted), '--static-dir', staticDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');

  const port = await within(
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
        if (m) resolve(Number(m[1]));
      });
      child.on('error', reject);
      exited.then(([code, signal]) => reject(new Error(`bws-server exited early (${code ?? signal}): ${stderr}`)));
    }),
    timeoutMs,
    'bws-server to print its listening line',
  ).catch((e) => {
    child.kill('SIGTERM');
    throw e;
  });
  child.stdout.resume();

  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    /** Where the browser loads pages from: `origin`, or the insecure test host (BWS_INSECURE). */
    pageOrigin: INSECURE ? `http://${INSECURE_HOST}:${port}` : origin,
    port,
    /** ws URL for `pathname` with optional query (object or string). */
    wsUrl(pathname = '/echo', query) {
      const u = new URL(pathname, `ws://127.0.0.1:${port}`);
      if (query) u.search = new URLSearchParams(query).toString();
      return u.href;
    },
    async stats() {
      const res = await fetch(`${origin}/stats`);
      if (!res.ok) throw new Error(`/stats answered ${res.status}`);
      return res.json();
    },
    /** POST /echo/broadcast: a string becomes a text frame, a Buffer a binary frame. */
    async broadcast(body) {
      const binary = typeof body !== 'string';
      const res = await fetch(`${origin}/echo/broadcast${binary ? '?binary=1' : ''}`, {
        method: 'POST',
        body,
      });
      if (!res.ok) throw new Error(`/echo/broadcast answered ${res.status}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await within(exited, 5000, 'bws-server to exit after SIGTERM');
      }
    },
  };
}

/** Polls /stats until predicate(stats) holds; fails at the deadline with the last stats seen. */
export async function waitForStats(server, predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await server.stats();
    if (predicate(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`/stats never matched within ${timeoutMs}ms; last: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 50)); // poll interval, bounded by the deadline above
  }
}

/**
 * A stand-in for a server that is down, on `port`: it fails every WebSocket handshake with 503 and
 * records, per attempt, when it came and whether another was still in flight then. stop() lets the
 * port go.
 */
export async function startRefuser(port) {
  const attempts = [];
  const sockets = new Set();
  const listener = net.createServer((socket) => {
    attempts.push({ t: Date.now(), overlapping: sockets.size > 0 });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // the browser may reset it first
    socket.once('data', () => socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
  });
  listener.listen(port, '127.0.0.1');
  await once(listener, 'listening');
  return {
    attempts,
    async stop() {
      for (const socket of sockets) socket.destroy();
      listener.close();
      await once(listener, 'close');
    },
  };
}

/** A loopback port nothing listens on: bind port 0, note the port, close. */
export async function unusedPort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Minimal loopback static file server for `dir` (packaging fixtures). */
export async function startStaticServer(dir) {
  const root = path.resolve(dir);
  const srv = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(root, pathname);
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
    });
    createReadStream(file).pipe(res);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    origin: `http://127.0.0.1:${srv.address().port}`,
    async stop() {
      srv.closeAllConnections();
      srv.close();
      await once(srv, 'close');
    },
  };
}

/**
 * The engine under test (BWS_ENGINE), from the system; never downloads a browser. Returns a driver
 * browser: { engine, version(), newContext(), close(), native }. `extraArgs` are appended to
 * Chromium's command line, e.g. `['--js-flags=--expose-gc']` (other engines ignore them).
 */
export async function launchBrowser({ extraArgs = [] } = {}) {
  const driver = await import(`./drivers/${ENGINE}.mjs`);
  return driver.launch({ extraArgs: [...INSECURE_ARGS, ...extraArgs] });
}

/**
 * Headless Chromium started here and driven over CDP with Playwright's `noDefaults`: pages of its
 * default context get no focus emulation, which otherwise keeps every page visible (and so makes
 * CDP `Page.setWebLifecycleState` frozen a no-op). Returns a driver browser (as launchBrowser) whose
 * newContext() is that default context: its newPage() opens a page in a new window (visible, like a
 * tab in front), its close() closes the pages it opened. close() disconnects, then stops only the
 * Chromium process started here and removes its profile.
 */
export async function launchBrowserOverCdp({ extraArgs = [], timeoutMs = 15000 } = {}) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'bws-chromium-'));
  const child = spawn(
    process.env.BWS_CHROMIUM || '/usr/bin/chromium',
    [
      '--headless',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      ...CHROMIUM_ARGS,
      '--no-default-browser-check',
      ...INSECURE_ARGS,
      ...extraArgs,
      'about:blank',
    ],
    // Its own process group, so that stop() ends Chromium's helper processes with it.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGTERM');
      await within(exited, 5000, 'chromium to exit after SIGTERM');
    }
    try {
      // Helpers that outlive the browser process for a moment may still write to the profile.
      rmSync(profile, { recursive: true, force: true, maxRetries: 50, retryDelay: 100 });
    } catch (error) {
      console.warn(`could not remove the Chromium profile ${profile}: ${error.message}`);
    }
  };
  try {
    const endpoint = await within(
      new Promise((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d) => {
          err += d;
          const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
          if (m) resolve(m[1]);
        });
        child.on('error', reject);
        exited.then(([code, signal]) => reject(new Error(`chromium exited early (${code ?? signal}): ${err}`)));
      }),
      timeoutMs,
      'chromium to print its DevTools endpoint',
    );
    child.stderr.resume();
    const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true, isLocal: true });
    const context = browser.contexts()[0];
    const cdp = await browser.newBrowserCDPSession();
    // Pages in windows of their own (context.newPage() would add background tabs to one window,
    // hidden and throttled): each created target is matched with the next page Playwright reports.
    const arrived = [];
    const waiting = [];
    context.on('page', (page) => (waiting.length ? waiting.shift()(page) : arrived.push(page)));
    const newPage = async () => {
      const page = arrived.length ? Promise.resolve(arrived.shift()) : new Promise((r) => waiting.push(r));
      await cdp.send('Target.createTarget', { url: 'about:blank', newWindow: true });
      return wrapPage(await within(page, 10000, 'the page of a new window'));
    };
    return {
      engine: 'chromium',
      native: browser,
      version: () => browser.version(),
      async newContext() {
        const pages = new Set();
        return {
          native: context,
          async newPage() {
            const page = await newPage();
            pages.add(page);
            return page;
          },
          close: () => Promise.all([...pages].map((page) => page.close().catch(() => {}))).then(() => {}),
        };
      },
      async close() {
        await browser.close().catch(() => {});
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * One server and one browser for a test file: `before(async () => ({ server, browser } = await
 * startServerAndBrowser()))`. `server` and `launch` are the options of startServer and launchBrowser.
 * With `skip` (a skip reason, as libraryOnly is) it starts nothing.
 */
export async function startServerAndBrowser({ skip = false, launch, server: serverOptions } = {}) {
  if (skip) return {};
  const server = await startServer(serverOptions);
  const browser = await launchBrowser(launch);
  return { server, browser };
}

/** Stops what startServerAndBrowser started: the browser, then the server. */
export async function stopServerAndBrowser({ server, browser }) {
  try {
    await browser?.close();
  } finally {
    // Whatever happened to the browser, the server must stop, or it keeps the test process alive.
    await server?.stop();
  }
}

/**
 * Opens `pagePath` on `origin` in a fresh browser context (its own storage, so no other tab of the
 * test shares its BroadcastChannel / locks). Returns a driver-neutral wrapper:
 *   { evaluate(fn, arg), waitForFunction(fn, arg, timeoutMs), errors, close() }
 * `errors` collects console errors and uncaught page errors for the test to assert on.
 * For tests/pages/* (anything with setup.js) it waits until window.TestSocket is ready.
 * It is openContext()'s newPage() in a context of its own, which close() closes.
 */
export async function openPage(browser, server, pagePath = '/tests/pages/blank.html', opts = {}) {
  const ctx = await openContext(browser, server);
  try {
    return { ...(await ctx.newPage(pagePath, opts)), close: () => ctx.close() };
  } catch (e) {
    await ctx.close();
    throw e;
  }
}

/**
 * One browser context whose pages are same-origin tabs of one browser: they share storage, so
 * BroadcastChannel and Web Locks reach across them (openPage isolates every page instead).
 * Returns { context, newPage(pagePath, opts), close() }. newPage returns the openPage wrapper shape
 * ({ page, errors, evaluate, waitForFunction, close, reload }) plus frame(name): the same wrapper for the
 * child <iframe name=...> of that page, waiting for its setup.js too (unless `waitForSetup` is false,
 * as for the page). `opts.ready` is an extra
 * page-side readiness predicate (e.g. `() => window.mt`). `page` is the driver page (tests/drivers/),
 * whose `native` is the engine's own page object (Playwright's Page on Chromium).
 */
export async function openContext(browser, server) {
  const context = await browser.newContext();

  const wrap = (target, page, errors, close) => ({
    page,
    target,
    errors,
    evaluate: (fn, arg) => target.evaluate(fn, arg),
    waitForFunction: (fn, arg, timeoutMs = 5000) => target.waitForFunction(fn, arg, timeoutMs),
    close,
  });
  /** Waits for the page's setup.js (when it loads one), then for its own `ready` predicate. */
  const waitReady = async (wrapper, { setup, ready }) => {
    if (setup) {
      const state = await wrapper.waitForFunction(
        () => window.testReady || (window.testSetupError && { error: window.testSetupError }),
        undefined,
        10000,
      );
      if (state.error) throw new Error(`test page setup failed (${TEST_CLASS}): ${state.error}`);
    }
    if (ready) await wrapper.waitForFunction(ready, undefined, 10000);
  };

  return {
    context,
    async newPage(pagePath = '/tests/pages/blank.html', opts = {}) {
      const { waitForSetup = pagePath.startsWith('/tests/pages/'), ready } = opts;
      const page = await context.newPage();
      const errors = [];
      page.onConsole((type, text) => {
        if (type === 'error') errors.push(`console.error: ${text}`);
      });
      page.onPageError((message) => errors.push(`pageerror: ${message}`));
      const url = new URL(pagePath, server.pageOrigin ?? server.origin);
      if (isNative && waitForSetup) url.searchParams.set('class', 'native');
      await page.goto(url.href);
      const wrapper = wrap(page, page, errors, () => page.close());
      /** Loads the page again: a fresh document (and worker), ready as newPage left it. */
      wrapper.reload = async () => {
        await page.goto(url.href);
        await waitReady(wrapper, { setup: waitForSetup, ready });
      };
      wrapper.frame = async (name, frameOpts = {}) => {
        const deadline = Date.now() + 10000;
        let frame;
        while (!(frame = await page.frame(name))) {
          if (Date.now() > deadline) throw new Error(`no frame named ${name} in ${pagePath}`);
          await new Promise((r) => setTimeout(r, 20)); // poll interval, bounded by the deadline above
        }
        const fw = wrap(frame, page, errors, () => page.close());
        await waitReady(fw, { setup: frameOpts.waitForSetup ?? waitForSetup, ready: frameOpts.ready ?? ready });
        return fw;
      };
      try {
        await waitReady(wrapper, { setup: waitForSetup, ready });
      } catch (e) {
        await page.close();
        throw e;
      }
      return wrapper;
    },
    close: () => context.close(),
  };
}

/**
 * Crashes the renderer of a driver `page` (CDP Page.crash; Chromium only: see cdpOnly) and resolves
 * once Playwright reports the crash, with `sentAt`: Date.now() just before the crash was sent.
 */
export async function crashPage({ native: page }) {
  const crashed = new Promise((resolve) => page.once('crash', resolve));
  const cdp = await page.context().newCDPSession(page);
  const sentAt = Date.now();
  cdp.send('Page.crash').catch(() => {}); // never answers: the page is gone
  await within(crashed, 5000, 'the crash event of the page');
  return { sentAt };
}

/**
 * What the engine itself logs when a WebSocket connection fails (Chromium: "WebSocket connection to
 * 'ws://…' failed"; Firefox: "Firefox can’t establish a connection to the server at ws://…"), for
 * unexpectedErrors.
 */
export const FAILED_CONNECTION = /WebSocket connection to .* failed|can’t establish a connection to the server at /;

/** Console errors that are not expected (each pattern removes the messages it matches). */
export function unexpectedErrors(errors, ...allowed) {
  return errors.filter((e) => !allowed.some((re) => re.test(e)));
}
