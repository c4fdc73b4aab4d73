// WebKitGTK through WebKitWebDriver (Debian's webkit2gtk-driver, MiniBrowser) under an Xvfb of our
// own, spoken to as raw W3C WebDriver over fetch, as the driver interface of
// tests/drivers/README.md. `native` is { session, handle } of the page's window.
//
// WebDriver has one current window per session, so every command of a session runs in turn (a
// queue): pages of one context still run concurrently in the browser, but a long evaluate in one
// page delays commands to the others. It reports no console messages: the harness sees the page's
// console.error calls and uncaught errors through a hook installed after each navigation (nothing
// from workers, nothing logged before the page's load event).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

const DRIVER = process.env.BWS_WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
const MINIBROWSER = process.env.BWS_MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

function deadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Spawns `cmd` in a process group of its own; stop() signals that group only. */
function spawnGroup(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, detached: true });
  const exited = once(child, 'exit');
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return; // the group is already gone
      }
      await deadline(exited, 5000, `${cmd} to exit after SIGTERM`).catch(() => process.kill(-child.pid, 'SIGKILL'));
    },
  };
}

/** Xvfb on the first free display, which it reports on fd 3. */
async function startXvfb() {
  const xvfb = spawnGroup('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  xvfb.child.stderr.on('data', (d) => (err += d));
  try {
    const display = await deadline(
      new Promise((resolve, reject) => {
        let out = '';
        xvfb.child.stdio[3].on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(`:${out.trim()}`);
        });
        xvfb.exited.then(([code, signal]) => reject(new Error(`Xvfb exited early (${code ?? signal}): ${err}`)));
      }),
      10000,
      'Xvfb to report its display',
    );
    return { display, stop: () => xvfb.stop() };
  } catch (e) {
    await xvfb.stop();
    throw e;
  }
}

// Values JSON cannot carry (undefined, NaN, ±Infinity, -0) as tagged objects, both ways.
const ENCODE = `(v) => JSON.stringify(v, function (k, x) {
  if (x === undefined) return { __bws: 'undefined' };
  if (typeof x === 'number' && !Number.isFinite(x)) return { __bws: String(x) };
  if (Object.is(x, -0)) return { __bws: '-0' };
  return x;
})`;
const DECODE = `(s) => {
  const walk = (x) => {
    if (x && typeof x === 'object') {
      if (typeof x.__bws === 'string' && Object.keys(x).length === 1) {
        return { undefined: undefined, NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 }[x.__bws];
      }
      for (const k of Object.keys(x)) x[k] = walk(x[k]);
    }
    return x;
  };
  return walk(JSON.parse(s));
}`;
// The same two functions run here and in the page.
const [encode, decode] = [ENCODE, DECODE].map((src) => (0, eval)(src));

/**
 * The script run by Execute Async Script for evaluate(fn, arg): calls fn(arg) in the current
 * browsing context and reports its value (or error) and the errors the page logged since the last
 * call. The error hook is installed by the first call after a navigation.
 */
const EVALUATE = `
const [src, arg, done] = arguments;
const encode = ${ENCODE};
const decode = ${DECODE};
if (!window.__bwsErrors) {
  window.__bwsErrors = [];
  const error = console.error.bind(console);
  console.error = (...args) => {
    window.__bwsErrors.push({ kind: 'console', text: args.map(String).join(' ') });
    error(...args);
  };
  addEventListener('error', (e) => window.__bwsErrors.push({ kind: 'pageerror', text: e.message }));
  addEventListener('unhandledrejection', (e) =>
    window.__bwsErrors.push({ kind: 'pageerror', text: String(e.reason && e.reason.message || e.reason) }));
}
const drain = () => window.__bwsErrors.splice(0);
Promise.resolve()
  .then(() => (0, eval)('(' + src + ')')(decode(arg)))
  .then(
    (value) => done(encode({ ok: true, value, errors: drain() })),
    (e) => done(encode({ ok: false, message: String(e && e.message || e), stack: String(e && e.stack || ''), errors: drain() })),
  );
`;

class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
    this.queue = Promise.resolve();
    this.current = null; // { handle, frame } the session's current browsing context
    this.anchor = null; // the session's first window, kept open (blank) so the session lives
  }

  async request(method, path, body) {
    const res = await fetch(`${this.base}/session/${this.id}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  }

  /** Runs `fn` when every earlier command of the session is done. */
  exclusive(fn) {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Makes (handle, frame name) the current browsing context. Call within exclusive(). */
  async focus(handle, frame = null) {
    if (this.current?.handle !== handle || this.current?.frame) {
      await this.request('POST', '/window', { handle });
      this.current = { handle, frame: null };
    }
    if (frame) {
      const element = await this.request('POST', '/element', {
        using: 'css selector',
        value: `iframe[name="${frame}"]`,
      });
      await this.request('POST', '/frame', { id: element });
      this.current = { handle, frame };
    }
  }
}

function wrapPage(session, handle, { onClose }) {
  const listeners = { console: [], pageerror: [] };
  let closed = false;
  const evaluateIn = (frame) => async (fn, arg) => {
    const raw = await session.exclusive(async () => {
      await session.focus(handle, frame);
      return session.request('POST', '/execute/async', { script: EVALUATE, args: [String(fn), encode(arg)] });
    });
    const result = decode(raw);
    for (const e of result.errors) {
      if (e.kind === 'console') for (const cb of listeners.console) cb('error', e.text);
      else for (const cb of listeners.pageerror) cb(e.text);
    }
    if (!result.ok) {
      const error = new Error(result.message);
      error.stack = `${result.message}\n    in the page: ${result.stack}`;
      throw error;
    }
    return result.value;
  };
  // Polled from here, one short evaluate at a time, so waits in several pages interleave. Truthiness
  // is judged in the page, as Playwright's waitForFunction does: a value that cannot cross WebDriver
  // (a class, say) comes back as true.
  const waitIn = (frame) => async (fn, arg, timeoutMs) => {
    const evaluate = evaluateIn(frame);
    const check = `async (arg) => { const value = await (${fn})(arg); return typeof value === 'function' || value || null; }`;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await evaluate(check, arg);
      if (value) return value;
      if (Date.now() > end) throw new Error(`waitForFunction timed out after ${timeoutMs}ms: ${fn}`);
      await new Promise((r) => setTimeout(r, 50)); // poll interval, bounded by the deadline above
    }
  };
  const frameOf = (frame) => ({ evaluate: evaluateIn(frame), waitForFunction: waitIn(frame) });
  return {
    ...frameOf(null),
    native: { session, handle },
    async goto(url) {
      await session.exclusive(async () => {
        await session.focus(handle);
        await session.request('POST', '/url', { url });
      });
      // Installs the error hook at once.
      await evaluateIn(null)(() => {});
    },
    // WebDriver's Back, which returns once the previous document is current: a script that runs
    // while the page navigates (history.back() from the page, then polling) may never return here.
    async back() {
      await session.exclusive(async () => {
        await session.focus(handle);
        await session.request('POST', '/back', {});
      });
    },
    async frame(name) {
      const found = await evaluateIn(null)((n) => !!document.querySelector(`iframe[name="${n}"]`), name);
      return found ? frameOf(name) : null;
    },
    onConsole: (cb) => listeners.console.push(cb),
    onPageError: (cb) => listeners.pageerror.push(cb),
    onCrash: () => {},
    async close() {
      if (closed) return;
      closed = true;
      await session.exclusive(async () => {
        await session.focus(handle);
        await session.request('DELETE', '/window');
        // WebDriver has no current window now: New Window and the others need one.
        await session.focus(session.anchor);
      });
      onClose();
    },
  };
}

/**
 * One Xvfb, one WebKitWebDriver and one MiniBrowser session per launch. A context is a set of
 * windows of that session (the session's first window stays open, blank, so the session lives):
 * closing a context closes its windows, which ends their pages, workers, locks and sockets.
 */
export async function launch() {
  const xvfb = await startXvfb();
  const stops = [() => xvfb.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    const port = await freePort();
    const driver = spawnGroup(DRIVER, [`--port=${port}`, '--host=127.0.0.1'], {
      stdio: ['ignore', 'ignore', 'ignore'],
      env: { ...process.env, DISPLAY: xvfb.display },
    });
    stops.push(() => driver.stop());
    const base = `http://127.0.0.1:${port}`;
    await deadline(
      (async () => {
        for (;;) {
          if (driver.child.exitCode !== null) throw new Error(`WebKitWebDriver exited (${driver.child.exitCode})`);
          const ready = await fetch(`${base}/status`)
            .then((r) => r.ok)
            .catch(() => false);
          if (ready) return;
          await new Promise((r) => setTimeout(r, 50)); // poll interval, bounded by the deadline
        }
      })(),
      10000,
      'WebKitWebDriver to answer /status',
    );
    const res = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        capabilities: {
          alwaysMatch: {
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
          },
        },
      }),
    });
    const created = await res.json();
    if (!res.ok) throw new Error(`WebKitWebDriver refused the session: ${JSON.stringify(created.value)}`);
    const session = new Session(base, created.value.sessionId);
    stops.push(() => fetch(`${base}/session/${session.id}`, { method: 'DELETE' }).then(() => {}));
    const version = created.value.capabilities.browserVersion;
    await session.request('POST', '/timeouts', { script: 600000, pageLoad: 60000 });
    session.anchor = await session.request('GET', '/window');
    session.current = { handle: session.anchor, frame: null };

    return {
      engine: 'webkit',
      native: session,
      version: () => version,
      async newContext() {
        const pages = new Set();
        return {
          native: session,
          async newPage() {
            const { handle } = await session.exclusive(() =>
              session.request('POST', '/window/new', { type: 'window' }),
            );
            const page = wrapPage(session, handle, { onClose: () => pages.delete(page) });
            pages.add(page);
            return page;
          },
          close: () => Promise.all([...pages].map((page) => page.close().catch(() => {}))).then(() => {}),
        };
      },
      close: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
