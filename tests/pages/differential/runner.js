// Page side of the differential test (window.differential). run() executes one scenario of
// scenarios.js with the native WebSocket or with BroadcastWebsocket and returns its trace: every
// constructor call, method call, event, handler call and uncaught exception, in order, each with the
// socket's readyState and properties at that moment. The same code runs in every mode, so the node
// side can compare the traces entry by entry. hold() opens, in another tab, the instances whose scope
// a follower's run then joins.
import '/tests/pages/setup.js';
import { BroadcastWebsocket } from '/dist/index.js';
import { SCENARIOS, normaliseProtocols } from './scenarios.js';

const CLASSES = { native: WebSocket, library: BroadcastWebsocket };
/** Strings and byte sequences longer than these are recorded as length and hash. */
const MAX_VERBATIM_CHARS = 200;
const MAX_VERBATIM_BYTES = 64;
/** Every wait of a scenario is bounded: a timeout becomes a trace entry, never a hang. */
const WAIT_MS = 5000;

const scenario = (name) => {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario named ${name}`);
  return found;
};

/** FNV-1a (32-bit) of bytes, as 8 hex digits. */
function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function describeString(text) {
  if (text.length <= MAX_VERBATIM_CHARS) return JSON.stringify(text);
  return `string(${text.length} chars, utf-8 fnv1a ${fnv1a(new TextEncoder().encode(text))})`;
}

function describeBytes(kind, bytes) {
  if (bytes.length <= MAX_VERBATIM_BYTES) {
    return `${kind}[${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
  }
  return `${kind}(${bytes.length} bytes, fnv1a ${fnv1a(bytes)})`;
}

/** A short, deterministic description of an argument (for constructor and call labels). */
function describeValue(value) {
  if (typeof value === 'string') return describeString(value);
  if (typeof value === 'symbol') return value.toString();
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  if (value instanceof URL) return `URL(${JSON.stringify(value.href)})`;
  if (value instanceof Set) return `Set{${[...value].map(describeValue).join(', ')}}`;
  return Object.prototype.toString.call(value);
}

function describeThrown(e) {
  if (e instanceof DOMException) return `${e.name} (DOMException ${e.code})`;
  if (e instanceof Error) return e.name;
  return `non-Error ${typeof e}`;
}

class Tracer {
  constructor(cls, env, mode) {
    this.Cls = CLASSES[cls];
    this.cls = cls;
    this.env = env;
    this.mode = mode;
    this.entries = [];
    this.keys = new Map();
    this.sockets = new Map();
    this.pending = [];
    this.waiters = new Set();
    /** What the node side checks besides the trace: leadership, scopes not held by the other tab. */
    this.meta = { isLeaderAtOpen: {}, unheld: [] };
    this.held = null;
    this.checking = false;
  }

  /** A unique key per entry: `base`, then `base #2`, `base #3`... */
  key(base) {
    const n = (this.keys.get(base) ?? 0) + 1;
    this.keys.set(base, n);
    return n === 1 ? base : `${base} #${n}`;
  }

  props(ws) {
    return {
      readyState: ws.readyState,
      bufferedAmount: ws.bufferedAmount,
      binaryType: ws.binaryType,
      protocol: ws.protocol,
      extensions: ws.extensions,
      url: ws.url,
    };
  }

  push(entry) {
    this.entries.push(entry);
    this.wake();
    return entry;
  }

  /** Checks the scenario's waits again, after the current event's dispatch. */
  wake() {
    // Waits end in a task of their own, once the current dispatch (every listener) is over: a
    // scenario's next step never runs between two listeners of one event. (Natively, the microtasks
    // of a listener run before the next listener; BroadcastWebsocket dispatches from script, where
    // they run after the last one. Only the scenario about that difference observes it.)
    if (this.waiters.size && !this.checking) {
      this.checking = true;
      setTimeout(() => {
        this.checking = false;
        for (const w of this.waiters) {
          if (w.pred()) {
            this.waiters.delete(w);
            w.resolve(true);
          }
        }
      });
    }
  }

  socket(name) {
    const s = this.sockets.get(name);
    if (!s) throw new Error(`scenario bug: no socket named ${name}`);
    return s.ws;
  }

  /**
   * `new Class(...args)` as socket `name`; records its events from then on. Returns it, or null if it
   * threw. With `batched` (a scenario that sends several messages before waiting for their echoes),
   * message events leave bufferedAmount out: how much of a batch has drained when the first echo
   * comes back depends on timing (in BroadcastWebsocket, on how far the worker got through the
   * batch). It is read again once every echo is back, e.g. right after close().
   */
  construct(name, args, { held = true, record = true, batched = false } = {}) {
    const base = `new ${name}(${args.map(describeValue).join(', ')})`;
    let ws;
    try {
      ws = new this.Cls(...args);
    } catch (e) {
      this.push({ key: this.key(base), threw: describeThrown(e) });
      return null;
    }
    this.push({ key: this.key(base), threw: null, ...this.props(ws) });
    if (!record) {
      // Not traced, but a wait may depend on its state.
      for (const type of ['open', 'message', 'error', 'close']) ws.addEventListener(type, () => this.wake());
      return ws;
    }
    const socket = { ws, counts: new Map(), batched };
    this.sockets.set(name, socket);
    if (this.mode === 'follower' && held) {
      const scope = `${ws.url} ${normaliseProtocols(args[1]).join(',')}`;
      if (!this.held?.includes(scope)) this.meta.unheld.push(scope);
    }
    for (const type of ['open', 'message', 'error', 'close']) {
      ws.addEventListener(type, (event) => this.recordEvent(name, socket, event));
    }
    return ws;
  }

  /** A constructor call that should throw; if it does not, the socket is closed without tracing its events. */
  mustThrow(args) {
    this.construct('throws', args, { held: false, record: false })?.close();
  }

  recordEvent(name, record, event) {
    const ws = record.ws;
    record.counts.set(event.type, (record.counts.get(event.type) ?? 0) + 1);
    const entry = { key: this.key(`${name}.${event.type}`), event: event.constructor.name, ...this.props(ws) };
    if (record.batched && event.type === 'message') delete entry.bufferedAmount;
    if (event instanceof CloseEvent) {
      Object.assign(entry, { code: event.code, reason: event.reason, wasClean: event.wasClean });
    }
    if (event instanceof MessageEvent) {
      entry.origin = event.origin;
      const data = event.data;
      if (typeof data === 'string') entry.data = describeString(data);
      else if (data instanceof ArrayBuffer) entry.data = describeBytes('ArrayBuffer', new Uint8Array(data));
      else if (data instanceof Blob) {
        entry.data = `Blob(pending read)`;
        entry.blobType = data.type;
        this.pending.push(data.arrayBuffer().then((b) => (entry.data = describeBytes('Blob', new Uint8Array(b)))));
      } else entry.data = Object.prototype.toString.call(data);
    }
    if (event.type === 'open' && this.cls === 'library' && ws.readyState === 1) {
      (this.meta.isLeaderAtOpen[name] ??= []).push(ws.status().isLeader);
    }
    this.push(entry);
  }

  /** Runs fn() (synchronously) and records what it returned or threw, and socket `name`'s properties after. */
  call(label, fn, name = [...this.sockets.keys()].pop()) {
    let returned;
    let threw = null;
    try {
      returned = fn();
    } catch (e) {
      threw = describeThrown(e);
    }
    const entry = { key: this.key(label), threw };
    if (returned !== undefined) entry.returned = describeValue(returned);
    const record = name === null ? undefined : this.sockets.get(name);
    if (record) Object.assign(entry, this.props(record.ws));
    this.push(entry);
    return returned;
  }

  /** Records an observation (a serialisable value) as it is now. */
  note(label, value) {
    this.push({ key: this.key(label), value: typeof value === 'string' ? value : JSON.stringify(value) });
  }

  /**
   * A function (for onX, addEventListener, handleEvent) that records each call: which event, and
   * what `this` and the event's target are. `extra(event)` may add fields; `then(event)` runs after.
   */
  fn(label, { extra, then } = {}) {
    const name = (value) => {
      for (const [n, s] of this.sockets) if (s.ws === value) return n;
      return value === undefined ? 'undefined' : Object.prototype.toString.call(value);
    };
    const record = (self, event) => {
      this.push({
        key: this.key(label),
        handled: event?.type,
        this: name(self),
        target: name(event?.target),
        ...(extra ? extra(event) : {}),
      });
      if (then) return then(event);
    };
    return function (event) {
      return record(this, event);
    };
  }

  count(name, type) {
    return this.sockets.get(name)?.counts.get(type) ?? 0;
  }

  /** Waits until pred() holds; at the deadline records a `timeout` entry and resolves false. */
  until(pred, what, ms = WAIT_MS) {
    if (pred()) return Promise.resolve(true);
    let waiter;
    let timer;
    return new Promise((resolve) => {
      waiter = { pred, resolve };
      this.waiters.add(waiter);
      timer = setTimeout(() => {
        this.push({ key: this.key(`timeout waiting for ${what}`) });
        resolve(false);
      }, ms);
    }).finally(() => {
      clearTimeout(timer);
      this.waiters.delete(waiter);
    });
  }

  /** Waits for the `count`-th event of `type` on socket `name` (counting from its construction). */
  wait(name, type, count = 1) {
    if (!this.sockets.has(name)) return Promise.resolve(false);
    return this.until(() => this.count(name, type) >= count, `${name}.${type} #${count}`);
  }

  /** Waits until socket `name` opened or closed (whichever comes first): 'open', 'close' or 'timeout'. */
  async settle(name) {
    if (!this.sockets.has(name)) return 'none';
    const ok = await this.until(() => this.count(name, 'open') + this.count(name, 'close') > 0, `${name} to settle`);
    if (!ok) return 'timeout';
    return this.count(name, 'open') > 0 ? 'open' : 'close';
  }

  /** Lets queued tasks run (two event-loop turns), so a stray late event still lands in the trace. */
  async drain() {
    for (let i = 0; i < 2; i++) await new Promise((r) => setTimeout(r, 0));
  }
}

async function run({ name, cls, env: given, mode }) {
  const s = scenario(name);
  const env = { ...given, pageUrl: location.href };
  const t = new Tracer(cls, env, mode);
  if (mode === 'follower') t.held = window.differentialHeld ?? [];
  const onError = (event) => {
    const e = event.error;
    const entry = { key: t.key('uncaught'), threw: describeThrown(e) };
    if (e instanceof Error && e.message.startsWith('scenario:')) entry.message = e.message;
    t.push(entry);
    event.preventDefault(); // expected by the scenario: keep it off the console
  };
  const onRejection = (event) => t.push({ key: t.key('unhandled rejection'), threw: describeThrown(event.reason) });
  window.addEventListener('error', onError);
  window.addEventListener('unhandledrejection', onRejection);
  let failure = null;
  try {
    await s.run(t, env);
  } catch (e) {
    // A scenario bug (not a behaviour under test): reported separately from the trace.
    failure = `${e && e.name}: ${e && e.message}\n${e && e.stack}`;
  }
  await t.drain();
  const leftOpen = [...t.sockets].filter(([, r]) => r.ws.readyState !== 3).map(([n, r]) => `${n}:${r.ws.readyState}`);
  if (leftOpen.length) t.push({ key: 'sockets not CLOSED at the end', value: leftOpen.join(' ') });
  for (const [, r] of t.sockets) if (r.ws.readyState < 2) r.ws.close();
  await Promise.all(t.pending);
  window.removeEventListener('error', onError);
  window.removeEventListener('unhandledrejection', onRejection);
  return { entries: t.entries, meta: t.meta, failure };
}

/**
 * The follower's other tab: opens a BroadcastWebsocket for each socket the scenario constructs
 * (scenario.sockets), waits until each has opened or closed, and keeps them.
 */
async function hold({ name, env: given }) {
  const s = scenario(name);
  const env = { ...given, pageUrl: location.href };
  const specs = s.sockets ? s.sockets(env) : [];
  window.held = [];
  const states = [];
  for (const args of specs) {
    const ws = new BroadcastWebsocket(...args);
    window.held.push(ws);
    const state = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), WAIT_MS);
      const done = (what) => () => {
        clearTimeout(timer);
        resolve(what);
      };
      ws.addEventListener('open', done('open'));
      ws.addEventListener('close', done('close'));
    });
    states.push({
      scope: `${ws.url} ${normaliseProtocols(args[1]).join(',')}`,
      state,
      isLeader: ws.status().isLeader,
    });
  }
  return states;
}

window.differential = {
  run,
  hold,
  /** The scopes the other tab holds, told to a follower page before its run. */
  setHeld: (scopes) => (window.differentialHeld = scopes),
};
