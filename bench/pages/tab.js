// Page side of the bench (window.bench): opens sockets of one kind — the browser's own WebSocket,
// BroadcastWebsocket from dist/, the main-thread relay baseline (relay.js) or partysocket's
// reconnecting socket — and records what
// the sections measure. Times are epoch ms (performance.timeOrigin + performance.now()), the clock
// the server's µs stamps and node's Date.now() share on this machine.
const now = () => performance.timeOrigin + performance.now();
// Loaded on first use, so a tab measuring one kind carries no code of the others (memory section).
const CLASSES = {
  native: async () => WebSocket,
  library: async () => (await import('/dist/index.js')).BroadcastWebsocket,
  relay: async () => (await import('/bench/build/relay.js')).RelaySocket,
  partysocket: async () => (await import('/bench/build/partysocket.js')).ReconnectingWebSocket,
};
const STAMP = '__bws:stamp ';
/** When the server sent a stream frame ("<seq>:<server send µs>:xxx…"), in epoch ms. */
const sentMs = (frame) => {
  const a = frame.indexOf(':');
  return Number(frame.slice(a + 1, frame.indexOf(':', a + 1))) / 1000;
};

/** One socket and what it saw. */
class Probe {
  constructor(Socket, kind, url, options) {
    this.kind = kind;
    this.createdAt = now();
    this.socket =
      kind === 'library'
        ? new Socket(url, options)
        : kind === 'partysocket'
          ? new Socket(url, undefined, options)
          : new Socket(url);
    this.constructedAt = now();
    this.opens = [];
    this.resetStream();
    this.stamps = new Map(); // probe id → { sendMs, recvUs, resolve }
    this.socket.addEventListener('open', () => this.opens.push(now()));
    this.socket.addEventListener('message', (e) => this.#onMessage(e.data, now()));
  }

  resetStream() {
    this.count = 0;
    this.latencies = [];
    this.arrivals = [];
    this.firstSendMs = null;
  }

  // Stream frames are "<seq>:<server send µs>:xxx…"; stamp replies "__bws:stamp <µs> <id>".
  #onMessage(data, at) {
    if (typeof data !== 'string') return;
    if (data.startsWith(STAMP)) {
      const [recvUs, id] = data.slice(STAMP.length).split(' ');
      const probe = this.stamps.get(id);
      if (probe) probe.resolve(Number(recvUs) / 1000 - probe.sendMs);
      return;
    }
    const sent = sentMs(data);
    if (this.firstSendMs === null) this.firstSendMs = sent;
    this.count++;
    this.latencies.push(at - sent);
    this.arrivals.push(at);
  }

  /** Sends one stamp probe and resolves with send() → server receipt in ms. */
  stamp(id) {
    return new Promise((resolve) => {
      const sendMs = now();
      this.stamps.set(id, { sendMs, resolve });
      this.socket.send(`${STAMP}${id}`);
    }).finally(() => this.stamps.delete(id));
  }
}

// The raw ceiling of the fan-out: a plain dedicated worker per tab on a plain BroadcastChannel. With
// `hop`, each worker also forwards every message to its page, which counts them: the floor of any
// design whose workers relay to their pages, as the library's do. With `connect`, a worker opens a
// socket and relays every server message on the channel and to its page: that floor, fed by a socket.
const CEILING_WORKER = `
  const now = () => performance.timeOrigin + performance.now();
  const channel = new BroadcastChannel('bench-ceiling');
  let count = 0;
  let target = Infinity;
  let hop = false;
  let socket = null;
  channel.onmessage = ({ data }) => {
    if (hop) postMessage({ hop: data });
    else if (++count === target) postMessage({ done: now() });
  };
  onmessage = ({ data }) => {
    if (data.expect !== undefined) {
      [count, target, hop] = [0, data.expect, data.hop];
      postMessage({ ready: true });
    } else if (data.connect !== undefined) {
      socket = new WebSocket(data.connect);
      socket.onopen = () => postMessage({ connected: true });
      socket.onmessage = ({ data }) => {
        channel.postMessage(data);
        postMessage({ hop: data });
      };
    } else if (data.command !== undefined) {
      socket.send(data.command);
    } else {
      const payload = 'x'.repeat(data.size);
      const start = now();
      for (let k = 0; k < data.send; k++) channel.postMessage(payload);
      postMessage({ start });
    }
  };
`;
let ceiling = null;
const ceilingWorker = () => new Worker(URL.createObjectURL(new Blob([CEILING_WORKER], { type: 'text/javascript' })));
const ceilingReply = (key) =>
  new Promise((resolve) => {
    const listener = ({ data }) => {
      if (key in data) {
        ceiling.removeEventListener('message', listener);
        resolve(data[key]);
      }
    };
    ceiling.addEventListener('message', listener);
  });

const probes = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

window.bench = {
  /** Opens a socket; resolves with its index once it is open, rejects if it closes first. */
  async open(kind, url, options = {}) {
    if (!CLASSES[kind]) throw new Error(`unknown socket kind ${kind}`);
    const probe = new Probe(await CLASSES[kind](), kind, url, options);
    probes.push(probe);
    const i = probes.length - 1;
    return new Promise((resolve, reject) => {
      probe.socket.addEventListener('open', () => resolve(i), { once: true });
      probe.socket.addEventListener('close', (e) => reject(new Error(`closed (${e.code}) before open`)), {
        once: true,
      });
    });
  },

  /** new → open of a fresh socket, in ms. */
  async coldStart(kind, url) {
    const i = await this.open(kind, url);
    const { createdAt, constructedAt, opens } = probes[i];
    return { open: opens[0] - createdAt, constructor: constructedAt - createdAt };
  },

  send(i, text) {
    probes[i].socket.send(text);
  },

  /** Resolves with the first time socket i opened after `t` (epoch ms). */
  openedAfter(i, t) {
    const probe = probes[i];
    const at = probe.opens.find((o) => o > t);
    if (at !== undefined) return at;
    // The probe's own listener, added first, has recorded the time when this one runs.
    return new Promise((resolve) =>
      probe.socket.addEventListener('open', () => resolve(probe.opens.at(-1)), { once: true }),
    );
  },

  resetStreams() {
    for (const p of probes) p.resetStream();
  },

  /**
   * Resolves once every socket of this page has `count` stream frames, or none arrived for
   * `quietMs` (then the shortfall is loss, reported by streamResults).
   */
  async waitStream(count, quietMs) {
    let last = now();
    let seen = -1;
    for (;;) {
      const total = probes.reduce((sum, p) => sum + p.count, 0);
      if (probes.every((p) => p.count >= count)) return;
      if (total !== seen) [seen, last] = [total, now()];
      else if (now() - last > quietMs) return;
      await sleep(50);
    }
  },

  /** Per socket: frames received, latencies (ms), first server send and last arrival (epoch ms). */
  streamResults: (withArrivals = false) =>
    probes.map((p) => ({
      count: p.count,
      latencies: p.latencies,
      firstSendMs: p.firstSendMs,
      lastArrival: p.arrivals.at(-1) ?? null,
      arrivals: withArrivals ? p.arrivals : undefined,
    })),

  /** `n` stamp probes on socket i, one after another with `gapMs` between; their latencies in ms. */
  async stampProbes(i, n, gapMs) {
    const out = [];
    for (let k = 0; k < n; k++) {
      out.push(await probes[i].stamp(`${i}-${Date.now()}-${k}`));
      await sleep(gapMs);
    }
    return out;
  },

  /** Blocks this page's main thread for `ms`; returns when it started and ended (epoch ms). */
  block(ms) {
    const start = now();
    while (now() - start < ms);
    return { start, end: now() };
  },

  /** Who leads, as socket i sees it. */
  leadership(i) {
    const { kind, socket } = probes[i];
    if (kind === 'library') {
      const s = socket.status();
      return { isLeader: s.isLeader, leaderId: s.leaderId, epoch: s.epoch };
    }
    if (kind === 'relay') return { isLeader: socket.isLeader, leaderships: socket.leaderships };
    throw new Error(`${kind} sockets have no leader`);
  },

  /** Readies this tab's ceiling worker for `n` messages (counted on the page with `hop`);
   * `ceilingDone` then resolves with the last arrival, and `ceilingFirstSentMs` holds the first
   * stream frame's send time (for a socket's stream, see ceilingConnect). */
  async ceilingExpect(n, hop = false) {
    ceiling ??= ceilingWorker();
    const ready = ceilingReply('ready');
    ceiling.postMessage({ expect: n, hop });
    await ready;
    if (!hop) {
      this.ceilingDone = ceilingReply('done');
      return;
    }
    this.ceilingDone = new Promise((resolve) => {
      let count = 0;
      this.ceilingFirstSentMs = null;
      const listener = ({ data }) => {
        if (!('hop' in data)) return;
        this.ceilingFirstSentMs ??= sentMs(data.hop);
        if (++count === n) {
          ceiling.removeEventListener('message', listener);
          resolve(performance.timeOrigin + performance.now());
        }
      };
      ceiling.addEventListener('message', listener);
    });
  },

  /** Opens a socket to `url` in this tab's ceiling worker, which relays what the server sends. */
  async ceilingConnect(url) {
    ceiling ??= ceilingWorker();
    const connected = ceilingReply('connected');
    ceiling.postMessage({ connect: url });
    await connected;
  },

  /** Sends `text` on the ceiling worker's socket. */
  ceilingCommand(text) {
    ceiling.postMessage({ command: text });
  },

  /** Posts `n` messages of `size` bytes from this tab's ceiling worker; resolves with the start. */
  ceilingSend(n, size) {
    const start = ceilingReply('start');
    ceiling.postMessage({ send: n, size });
    return start;
  },
};
window.benchReady = true;
