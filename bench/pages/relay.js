// The baseline design of the bench: what people build today without this library. One tab is
// elected with the `broadcast-channel` package's LeaderElection (Web Locks in Chromium) and opens a
// native WebSocket; its MAIN THREAD relays every message to the other tabs over the package's
// BroadcastChannel, and relays their sends to the socket. Only what the bench drives is here:
// open/message events, send(), readyState, isLeader and leadership changes.
// Bundled by bench/run.mjs with esbuild into bench/build/relay.js.
import { BroadcastChannel, createLeaderElection } from 'broadcast-channel';

export class RelaySocket extends EventTarget {
  #url;
  #channel;
  #socket = null;
  isLeader = false;
  readyState = WebSocket.CONNECTING;
  /** Times (epoch ms) this tab became leader. */
  leaderships = [];

  constructor(url, name = 'bench-relay') {
    super();
    this.#url = url;
    this.#channel = new BroadcastChannel(name);
    this.#channel.addEventListener('message', (msg) => this.#fromBus(msg));
    const elector = createLeaderElection(this.#channel);
    elector.awaitLeadership().then(() => this.#lead());
    // A tab that joins late asks whether the leader's socket is already open.
    this.#channel.postMessage({ type: 'hello' });
  }

  send(data) {
    if (this.readyState !== WebSocket.OPEN) throw new DOMException('not open', 'InvalidStateError');
    if (this.#socket) this.#socket.send(data);
    else this.#channel.postMessage({ type: 'send', data });
  }

  #lead() {
    this.isLeader = true;
    this.leaderships.push(performance.timeOrigin + performance.now());
    const socket = new WebSocket(this.#url);
    this.#socket = socket;
    socket.onopen = () => {
      this.#setOpen();
      this.#channel.postMessage({ type: 'open' });
    };
    socket.onmessage = (event) => {
      this.dispatchEvent(new MessageEvent('message', { data: event.data }));
      this.#channel.postMessage({ type: 'message', data: event.data });
    };
  }

  #fromBus(msg) {
    if (msg.type === 'hello' && this.#socket?.readyState === WebSocket.OPEN) {
      this.#channel.postMessage({ type: 'open' });
    } else if (msg.type === 'open') {
      this.#setOpen();
    } else if (msg.type === 'message' && !this.#socket) {
      this.dispatchEvent(new MessageEvent('message', { data: msg.data }));
    } else if (msg.type === 'send' && this.#socket) {
      this.#socket.send(msg.data);
    }
  }

  /** Fires `open` every time a leader's socket opens, so a follower's takeover can be timed. */
  #setOpen() {
    this.readyState = WebSocket.OPEN;
    this.dispatchEvent(new Event('open'));
  }
}
