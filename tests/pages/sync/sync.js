// Page side of BroadcastSync's tests (window.sy): one zustand store (or a plain one) synced under a
// channel name, what its callbacks reported (stamped when they ran), and every message on the
// channel as a raw BroadcastChannel listener sees it.
import { createBroadcastSync } from 'broadcast-websocket/sync';
import { createStore } from 'zustand/vanilla';

if (new URLSearchParams(location.search).has('nobc')) delete globalThis.BroadcastChannel;

const INITIAL = {
  theme: 'light',
  locale: 'en',
  secret: 'mine',
  count: 0,
  settings: {},
  when: null,
  tags: null,
  bytes: null,
  setTheme: null, // an action, set below: functions are never synced
};

/** A store with zustand's shape, without zustand: getState, setState (a partial), subscribe. */
function plainStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    getState: () => state,
    setState: (partial) => {
      const previous = state;
      state = { ...state, ...partial };
      for (const listener of listeners) listener(state, previous);
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const waiters = new Set();
const wake = () => {
  for (const waiter of waiters) waiter();
};

/** What a value is, for the node side: structured-cloned types by name. */
function describe(value) {
  if (value instanceof Date) return { Date: value.toISOString() };
  if (value instanceof Map) return { Map: [...value] };
  if (value instanceof Uint8Array) return { Uint8Array: [...value] };
  return value;
}

window.sy = {
  sync: null,
  store: null,
  states: [], // [state, Date.now()] of every onSyncStateChange
  remote: [], // { keys, source } of every onRemoteUpdate
  leaderchanges: 0,
  bus: [], // every message on the channel: { type, tabId, timestamp, keys, body }
  warnings: [],
  writes: [], // [partial keys, Date.now()] of every local write through sy.set

  /** Creates the store and the sync (config as given, plus callbacks that record) and starts it. */
  start(config, { plain = false, customResolver } = {}) {
    const warn = console.warn;
    console.warn = (...args) => {
      this.warnings.push(args.join(' '));
      warn(...args);
    };
    this.store = plain
      ? plainStore({ ...INITIAL })
      : createStore((set) => ({ ...INITIAL, setTheme: (theme) => set({ theme }) }));
    this.store.subscribe(wake);
    this.sync = createBroadcastSync(this.store, {
      ...config,
      ...(customResolver === 'union' && {
        customResolver: (l, r) => ({ tags: [...new Set([...(l.tags ?? []), ...(r.tags ?? [])])] }),
      }),
      onSyncStateChange: (state) => {
        this.states.push([state, Date.now()]);
        wake();
      },
      onRemoteUpdate: (keys, source) => {
        this.remote.push({ keys, source });
        wake();
      },
    });
    this.sync.addEventListener('leaderchange', () => this.leaderchanges++);
    this.sync.addEventListener('change', wake);
    this.sync.start();
    // Created after the sync's channel, so that it hears each message after the sync handled it
    // (a channel's messages reach a page's channels in their creation order).
    if (globalThis.BroadcastChannel) {
      const raw = new BroadcastChannel(`broadcast-websocket/sync ${config.channelName}`);
      raw.onmessage = ({ data }) => {
        this.bus.push({
          type: data?.type,
          tabId: data?.tabId,
          timestamp: data?.timestamp,
          keys: data?.payload?.writes?.map((w) => w.key),
          body: JSON.stringify(data),
        });
        wake();
      };
      this.raw = raw;
    }
    return this.sync.getTabId();
  },

  set(partial) {
    this.writes.push([Object.keys(partial), Date.now()]);
    this.store.setState(partial);
  },

  /** A write on the current value, as an app adds to a list or a record: `key` gets `item` added. */
  add(key, item) {
    this.writes.push([[key], Date.now()]);
    this.store.setState((state) => ({
      [key]:
        Array.isArray(state[key]) || state[key] === null
          ? [...(state[key] ?? []), item]
          : { ...state[key], [item]: true },
    }));
  },

  /** Writes `count` values of `key` (0, 1, …), one every `everyMs`; resolves after the last. */
  writeEvery(key, count, everyMs) {
    return new Promise((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        this.set({ [key]: n++ });
        if (n === count) {
          clearInterval(timer);
          resolve(Date.now());
        }
      }, everyMs);
    });
  },

  /** The store's state with structured-cloned types described, without functions. */
  state() {
    const state = this.store.getState();
    return Object.fromEntries(
      Object.entries(state)
        .filter(([, v]) => typeof v !== 'function')
        .map(([k, v]) => [k, describe(v)]),
    );
  },

  status() {
    const s = this.sync;
    return { active: s.isActive(), leader: s.isLeader(), tabs: s.getConnectedTabs(), id: s.getTabId() };
  },

  /** Resolves once `predicate(sy)` (a function's source) holds; rejects after `ms`. */
  until(predicate, ms = 5000) {
    const holds = new Function('sy', `return (${predicate})(sy);`);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!holds(this)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`not within ${ms} ms: ${predicate}; state ${JSON.stringify(this.state())}`));
      }, ms);
      waiters.add(check);
      check();
    });
  },

  /** Posts `message` on the channel as another tab (or another library) would. */
  post(message) {
    this.raw.postMessage(message);
  },
};
