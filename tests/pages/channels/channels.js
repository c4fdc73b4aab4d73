// Page side of the channels client's tests (window.ch): one client per tab, listeners that log what
// they get, and the client's broadcasts with their outcomes.
import { createChannelsClient } from 'broadcast-websocket/channels';

const listeners = new Map(); // name → { got: [], stop, waiters: Set<() => void> }

window.ch = {
  client: null,

  open(url, options = {}) {
    this.client = createChannelsClient(url, options);
    return new Promise((resolve) => this.client.socket.addEventListener('open', () => resolve(), { once: true }));
  },

  /** Adds a listener called `name` on `channel`; it logs the data it gets. */
  listen(name, channel) {
    const entry = { got: [], waiters: new Set() };
    entry.stop = this.client.subscribe(channel, (data) => {
      entry.got.push(data);
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

  /** broadcast() and its outcome: { ack } or { error: { name, code, message } }. */
  async broadcast(channel, data) {
    try {
      return { ack: await this.client.broadcast(channel, data) };
    } catch (error) {
      return { error: { name: error.name, code: error.code, message: error.message } };
    }
  },
};
