// Page-side helpers of the multi-tab tests (window.mt). Every instance made with mt.open() keeps a
// timestamped log of what it saw, so node can check order, exactly-once delivery and what a follower
// saw during a leader change. Timestamps are epoch ms (performance.timeOrigin + performance.now()),
// comparable across the pages of one browser and with node's Date.now() on the same machine.
import '/tests/pages/setup.js';

const now = () => performance.timeOrigin + performance.now();
const { harness } = window;

/** Every instance made through mt.open(), by index; `closing` once the test closed it. */
const entries = [];
const waiters = new Set();

function check() {
  for (const w of waiters) {
    let done;
    try {
      done = w.pred();
    } catch (e) {
      waiters.delete(w);
      w.reject(e);
      continue;
    }
    if (done) {
      waiters.delete(w);
      w.resolve();
    }
  }
}

/** A short account of every instance, for timeout messages. */
function describe() {
  return entries
    .map((e) => {
      const last = e.events.slice(-3).map((d) => (d.type === 'close' ? `close(${d.code})` : d.type));
      return `#${e.i}${e.closing ? '(closed by test)' : ''} rs=${e.ws.readyState} msgs=${e.data.length} [${last}]`;
    })
    .join('; ');
}

/**
 * Resolves once pred() holds: checked after every logged event and every 20 ms (readyState can change
 * without an event); rejects at the deadline with the state of every instance.
 */
function until(pred, ms, what) {
  if (pred()) return Promise.resolve();
  let waiter;
  let deadline;
  const timer = setInterval(check, 20);
  return new Promise((resolve, reject) => {
    waiter = { pred, resolve, reject };
    waiters.add(waiter);
    deadline = setTimeout(
      () => reject(new Error(`timed out after ${ms}ms waiting for ${what} in ${location.pathname}; ${describe()}`)),
      ms,
    );
  }).finally(() => {
    clearInterval(timer);
    clearTimeout(deadline);
    waiters.delete(waiter);
  });
}

function record(e) {
  const log = (ev) => {
    const d = { type: ev.type, t: now(), readyState: e.ws.readyState };
    if (ev.type === 'close') {
      Object.assign(d, { code: ev.code, reason: ev.reason, wasClean: ev.wasClean, cls: ev.constructor.name });
      // The readyState once the close event's task is over: CONNECTING for a reconnecting
      // follower, CLOSED for a final close (or already OPEN if the new leader was that fast).
      setTimeout(() => {
        d.after = e.ws.readyState;
        check();
      }, 0);
    }
    e.events.push(d);
    check();
  };
  for (const type of ['open', 'error', 'close']) e.ws.addEventListener(type, log);
  e.ws.addEventListener('message', (ev) => {
    e.data.push(typeof ev.data === 'string' ? ev.data : `[${Object.prototype.toString.call(ev.data)}]`);
    e.times.push(now());
    check();
  });
  e.ws.addEventListener('leaderchange', (ev) => {
    let status = null;
    try {
      status = e.ws.status();
    } catch (err) {
      status = { error: String(err) };
    }
    e.leaderchanges.push({ t: now(), cls: ev.constructor.name, status });
    check();
  });
}

const live = () => entries.filter((e) => !e.closing);
const pick = (ids) => (ids ? ids.map((i) => entries[i]) : live());

function status(e) {
  if (harness.mode === 'native') return { readyState: e.ws.readyState };
  return e.ws.status();
}

const mt = {
  entries,
  until,
  now,

  /** Creates `count` instances of `url` with `options` (ignored for the native class); returns their indices. */
  open(url, options = {}, count = 1) {
    const ids = [];
    for (let k = 0; k < count; k++) {
      const Socket = window.TestSocket;
      const ws = harness.mode === 'native' ? new Socket(url) : new Socket(url, options);
      const e = { i: entries.length, ws, events: [], data: [], times: [], leaderchanges: [], closing: false };
      record(e);
      entries.push(e);
      ids.push(e.i);
    }
    return ids;
  },

  /** Waits until every live instance (or `ids`) has readyState `state`. */
  waitState(state, ms = 5000, ids) {
    return until(() => pick(ids).every((e) => e.ws.readyState === state), ms, `readyState ${state}`);
  },

  /** Waits until every live instance (or `ids`) has received at least `count` messages. */
  waitMessages(count, ms = 5000, ids) {
    return until(() => pick(ids).every((e) => e.data.length >= count), ms, `${count} messages`);
  },

  /** Waits until every live instance (or `ids`) has logged an event matching `pred(event)`. */
  waitEvent(pred, ms, what, ids) {
    return until(() => pick(ids).every((e) => e.events.some(pred)), ms, what);
  },

  /** Sends the texts in order on instance i. */
  send(i, texts) {
    for (const text of texts) entries[i].ws.send(text);
  },

  /** Sends `${prefix}${n}` for n < count, yielding to the event loop every `chunk` sends. */
  async sendSeq(i, prefix, count, chunk = 10) {
    for (let n = 0; n < count; n++) {
      entries[i].ws.send(`${prefix}${n}`);
      if ((n + 1) % chunk === 0) await new Promise((r) => setTimeout(r, 0));
    }
  },

  close(i, code, reason) {
    entries[i].closing = true;
    if (code === undefined) entries[i].ws.close();
    else entries[i].ws.close(code, reason);
  },

  /** status() of every live instance (or `ids`), with its index. */
  statuses(ids) {
    return pick(ids).map((e) => ({ i: e.i, ...status(e) }));
  },

  /** Serialisable logs of every instance (all of them, closed ones too). */
  snapshot({ data = true, times = false, from = 0 } = {}) {
    return entries.map((e) => ({
      i: e.i,
      closing: e.closing,
      readyState: e.ws.readyState,
      status: status(e),
      events: e.events,
      leaderchanges: e.leaderchanges,
      count: e.data.length,
      ...(data ? { data: e.data.slice(from) } : {}),
      ...(times ? { times: e.times.slice(from) } : {}),
    }));
  },

  /** Forgets what every instance logged so far (their sockets are untouched). */
  reset() {
    for (const e of entries) {
      e.events.length = 0;
      e.data.length = 0;
      e.times.length = 0;
      e.leaderchanges.length = 0;
    }
  },

  /** The test-only zombie switch on instance i; false if the build does not have it. */
  zombie(i) {
    const fn = entries[i].ws[Symbol.for('bws.test.zombie')];
    if (typeof fn !== 'function') return false;
    fn.call(entries[i].ws);
    return true;
  },

  /**
   * Every `everyMs`, while instance i is OPEN, sends `${wrap}${prefix}${n}` (n counts the sends made);
   * stopPacing() stops and returns the names sent (`${prefix}${n}`) with their times.
   */
  pace(i, prefix, everyMs = 100, wrap = '') {
    const sent = [];
    const timer = setInterval(() => {
      const { ws } = entries[i];
      if (ws.readyState !== WebSocket.OPEN) return;
      const name = `${prefix}${sent.length}`;
      ws.send(`${wrap}${name}`);
      sent.push({ name, t: now() });
    }, everyMs);
    mt.stopPacing = () => {
      clearInterval(timer);
      return sent;
    };
  },

  /** A native WebSocket (not the library's) on `url` that logs what the server sends it in `observed`; resolves once open. */
  observe(url) {
    mt.observed = [];
    const ws = new WebSocket(url);
    ws.onmessage = (ev) => mt.observed.push({ data: ev.data, t: now() });
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`observer socket on ${url} failed`));
    });
  },

  /** Records a timestamp every `everyMs` on this page's main thread (to see when it stopped running). */
  pulse(everyMs = 50) {
    const beats = [];
    const timer = setInterval(() => beats.push(now()), everyMs);
    mt.stopPulse = () => {
      clearInterval(timer);
      return beats;
    };
  },

  /** Blocks this page's main thread for `ms`; returns the window it was blocked in. */
  block(ms) {
    const start = now();
    while (now() - start < ms) {
      // busy loop: the point is to starve the main thread
    }
    return { start, end: now() };
  },

  /** usedJSHeapSize after a few full GCs (needs --js-flags=--expose-gc; precise with --enable-precise-memory-info). */
  async heap() {
    for (let k = 0; k < 5; k++) {
      if (typeof window.gc === 'function') window.gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    return performance.memory ? performance.memory.usedJSHeapSize : null;
  },
};
window.mt = mt;
