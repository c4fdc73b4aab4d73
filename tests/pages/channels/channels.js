// Page side of the channels client's tests (window.ch): one client per tab, listeners that log what
// they get (and when), the client's broadcasts with their outcomes, its socket's open and close
// events, and a way to block the page's main thread.
import { createChannelsClient } from 'broadcast-websocket/channels';

const listeners = new Map(); // name → { got: [], at: [], stop, waiters: Set<() => void> }
/** Epoch milliseconds on the clock every page of the browser shares (stamps compare across tabs). */
const now = () => performance.timeOrigin + performance.now();

window.ch = {
  client: null,

  /** The socket's open and close events after its first open: { type, code?, t }. */
  events: [],

  open(url, options = {}) {
    this.client = createChannelsClient(url, options);
    return new Promise((resolve) =>
      this.client.socket.addEventListener(
        'open',
        () => {
          for (const type of ['open', 'close']) {
            this.client.socket.addEventListener(type, (event) =>
              this.events.push({ type, code: event.code, t: now() }),
            );
          }
          resolve();
        },
        { once: true },
      ),
    );
  },

  /** Adds a listener called `name` on `channel`; it logs the data it gets. */
  listen(name, channel) {
    const entry = { got: [], at: [], waiters: new Set() };
    entry.stop = this.client.subscribe(channel, (data) => {
      entry.got.push(data);
      entry.at.push(now());
      for (const waiter of entry.waiters) waiter();
    });
    listeners.set(name, entry);
  },

  stop(name) {
    listeners.get(name).stop();
  },

  got(name) {
    return listeners.get(name).got;
  },

  /** Resolves with listener `name`'s log once it holds `count` messages; rejects after `ms`. */
  until(name, count, ms = 5000) {
    const entry = listeners.get(name);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.waiters.delete(check);
        reject(new Error(`${name} got ${entry.got.length} of ${count}: ${JSON.stringify(entry.got)}`));
      }, ms);
      const check = () => {
        if (entry.got.length < count) return;
        clearTimeout(timer);
        entry.waiters.delete(check);
        resolve(entry.got);
      };
      entry.waiters.add(check);
      check();
    });
  },

  /** When listener `name` got each of its messages (epoch ms, in its order). */
  arrivals(name) {
    return listeners.get(name).at;
  },

  /** Blocks this page's main thread for `ms`; returns the window it was blocked in. */
  block(ms) {
    const start = now();
    while (now() - start < ms) {
      // busy loop: the point is to starve the main thread
    }
    return { start, end: now() };
  },

  /** broadcast() and its outcome: { ack } or { error: { name, code, message } }. */
  async broadcast(channel, data) {
    try {
      return { ack: await this.client.broadcast(channel, data) };
    } catch (error) {
      return { error: { name: error.name, code: error.code, message: error.message } };
    }
  },
};
