// Page-side test setup: picks the class under test (window.TestSocket) and exposes small helpers
// (window.harness) that the node tests call inside page.evaluate. Kept driver-agnostic on purpose.

// `?class=native` (set by tests/harness.mjs from BWS_E2E_CLASS=native) selects the browser's own
// WebSocket so the expectations can be validated against native behaviour.
const mode = new URLSearchParams(location.search).get('class') === 'native' ? 'native' : 'library';

// Rejects with a readable message instead of letting a page.evaluate hang.
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A serialisable description of an event, with the socket's readyState when it was dispatched.
function describeEvent(ev, ws) {
  const d = { type: ev.type, readyState: ws.readyState, cls: ev.constructor.name };
  if (typeof CloseEvent !== 'undefined' && ev instanceof CloseEvent) {
    Object.assign(d, { code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
  }
  if (ev instanceof MessageEvent) {
    d.origin = ev.origin;
    d.dataType = typeof ev.data === 'string' ? 'string' : Object.prototype.toString.call(ev.data);
    if (typeof ev.data === 'string') d.data = ev.data;
  }
  return d;
}

// Records every open/message/error/close event of `ws` (listeners added right after construction,
// which works because events are dispatched asynchronously). `until(pred)` waits on the log.
function record(ws, types = ['open', 'message', 'error', 'close']) {
  const events = [];
  const messages = []; // raw MessageEvent.data values, for Blob/ArrayBuffer inspection
  const waiters = new Set();
  const check = () => {
    for (const w of waiters) {
      if (w.pred(events)) {
        waiters.delete(w);
        w.resolve(events);
      }
    }
  };
  for (const type of types) {
    ws.addEventListener(type, (ev) => {
      events.push(describeEvent(ev, ws));
      if (type === 'message') messages.push(ev.data);
      check();
    });
  }
  const until = (pred, ms, what) => {
    if (pred(events)) return Promise.resolve(events);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { pred, resolve };
      waiters.add(waiter);
    });
    return within(p, ms, `${what}; events so far: ${JSON.stringify(events)}`).finally(() => waiters.delete(waiter));
  };
  return {
    events,
    messages,
    until,
    // Waits until at least `count` events of `type` have been recorded.
    untilCount: (type, count, ms = 5000) =>
      until((evs) => evs.filter((e) => e.type === type).length >= count, ms, `${count} ${type}`),
    untilType: (type, ms = 5000) => until((evs) => evs.some((e) => e.type === type), ms, type),
  };
}

// Reads string / Blob / ArrayBuffer message data into a serialisable form.
async function readData(data) {
  if (typeof data === 'string') return { type: 'string', value: data };
  if (data instanceof Blob) {
    return { type: 'Blob', bytes: Array.from(new Uint8Array(await data.arrayBuffer())) };
  }
  if (data instanceof ArrayBuffer) return { type: 'ArrayBuffer', bytes: Array.from(new Uint8Array(data)) };
  return { type: Object.prototype.toString.call(data) };
}

// Runs fn and reports which exception it threw, if any.
function thrown(fn) {
  try {
    fn();
    return null;
  } catch (e) {
    return { name: e.name, isDOMException: e instanceof DOMException, message: String(e.message) };
  }
}

window.harness = { mode, within, describeEvent, record, readData, thrown };

try {
  if (mode === 'native') {
    window.TestSocket = WebSocket;
  } else {
    const lib = await import('/dist/index.js');
    if (typeof lib.BroadcastWebsocket !== 'function') {
      throw new Error('/dist/index.js does not export a BroadcastWebsocket class');
    }
    window.TestSocket = lib.BroadcastWebsocket;
  }
  window.testReady = mode;
} catch (e) {
  window.testSetupError = `${e && e.name}: ${e && e.message}`;
}
