// broadcast-websocket/channels: a client of the broadcast service's channels protocol
// (examples/server/README.md) over one BroadcastWebsocket per browser profile, so that every tab,
// iframe and widget shares one connection to the service.
//
// Sharing a connection changes what a client must do, and this one does it:
// - Subscriptions belong to the connection, which every tab shares. Each tab tells the others which
//   channels it listens to (and the last message id it saw on each) on a BroadcastChannel of the
//   scope, and only the leader tab, which knows the union, asks the server: subscribe when the
//   first listener anywhere appears, unsubscribe when the last one in every tab is gone.
// - A new connection (reconnect, leader change) starts the reconciliation over. On a persistent
//   channel each tab may have seen a different last message as the old connection went (the old
//   leader tab may have relayed it to some tabs only), and the server's resume sends live messages at
//   once. So each tab holds the channel's messages back ("catches up") until the leader's subscribe
//   from an id no later than its own was acked, which means the replay from there has arrived; the
//   leader subscribes again from an earlier id whenever a tab announces one. The tab then delivers
//   what it held in id order, without repeats.
// - Every tab reads every frame of the connection: listeners get their channel's messages only,
//   and a broadcast's ack resolves only in the tab that sent it.
// - Broadcasts are retried with the same messageId on every new connection until acked (the
//   server drops duplicates), within a timeout.
import { BroadcastWebsocket } from 'broadcast-websocket';
import type { BroadcastWebsocketOptions, Status } from 'broadcast-websocket';

/** The options of createChannelsClient: those of BroadcastWebsocket, and the client's own. */
export interface ChannelsClientOptions extends BroadcastWebsocketOptions {
  /** The server's client id (resume, duplicate suppression). Default: one per browser profile, kept in
   * localStorage where it exists (else one per page). */
  clientId?: string;
  /** How long broadcast() waits for the server's ack, across reconnections, before it rejects. Default: 10000 ms. */
  broadcastTimeoutMs?: number;
  /** How many broadcasts may await their ack at once; one more rejects at once. Default: 100. */
  maxPendingBroadcasts?: number;
}

/** A message of a channel, as the server sent it. */
export interface ChannelMessage {
  type: 'message';
  channel: string;
  data: unknown;
  /** On persistent channels: the message's id, increasing within the channel. */
  id?: string;
  timestamp: number;
}

/** The server's ack of a broadcast. */
export interface Ack {
  messageId: string;
  /** The server had this messageId already (a retry): the message was not delivered twice. */
  duplicate: boolean;
  /** On persistent channels: the message's id. */
  id?: string;
}

/** A broadcast the server refused: its `error` frame's code (`rate_limited`, `bad_request`, …). */
export class ChannelsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelsError';
  }
}

type Listener = (data: unknown, message: ChannelMessage) => void;

/** A message of a persistent channel: it has an id. */
type PersistentMessage = ChannelMessage & { id: string };

/** What tabs tell each other on the scope's BroadcastChannel. */
type Note =
  | { tab: string; channels: [string, string | undefined][] } // the channels it listens to, with their last ids
  | { tab: string; hello: true } // a tab joined: everyone tells it their channels
  | { tab: string; gone: true }; // a tab left

interface Pending {
  channel: string;
  data: unknown;
  resolve: (ack: Ack) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  /** The connection it was last sent on (see #connection). */
  connection: number;
}

const CLIENT_ID_KEY = 'broadcast-websocket:clientId';
/** The messageId of a subscribe that replays from an id: this prefix, then the id. */
const REPLAY = 'replay ';

/** A random id: getRandomValues works in insecure contexts too (an OBS local file), unlike randomUUID. */
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One id per browser profile where localStorage exists, else one per page. */
function profileClientId(): string {
  try {
    const kept = localStorage.getItem(CLIENT_ID_KEY);
    if (kept) return kept;
    const id = randomId();
    localStorage.setItem(CLIENT_ID_KEY, id);
    return id;
  } catch {
    return randomId();
  }
}

/** Message ids are "<ms>-<seq>", ordered within a channel. */
function isAfter(id: string, other: string): boolean {
  const [a, b] = id.split('-').map(Number);
  const [c, d] = other.split('-').map(Number);
  return a > c || (a === c && b > d);
}

/** A client of the channels service on one connection shared by every tab of the browser. */
export class ChannelsClient extends EventTarget {
  /** The shared socket the client speaks through. */
  readonly socket: BroadcastWebsocket;
  readonly #tab = randomId();
  readonly #bus: BroadcastChannel | undefined;
  /** This tab's listeners, per channel. */
  readonly #listeners = new Map<string, Set<Listener>>();
  /** The last persistent message id this tab saw, per channel. */
  readonly #lastIds = new Map<string, string>();
  /** Other tabs' channels, with the last ids they saw. */
  readonly #peers = new Map<string, Map<string, string | undefined>>();
  /** Leader only: what the current connection is subscribed to, with the id it covers from (see #mayMiss). */
  readonly #subscribed = new Map<string, string | undefined>();
  /** Persistent channels this tab catches up on since the connection opened, with the messages held back. */
  readonly #catchingUp = new Map<string, PersistentMessage[]>();
  readonly #pending = new Map<string, Pending>();
  /** Counts the connections this tab saw open: a broadcast sent on an earlier one goes again. */
  #connection = 0;
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #onPageHide = () => this.#note({ tab: this.#tab, gone: true });

  constructor(url: string | URL, options: ChannelsClientOptions = {}) {
    super();
    const { clientId, broadcastTimeoutMs = 10_000, maxPendingBroadcasts = 100, ...socketOptions } = options;
    const base = new URL(String(url), globalThis.location?.href);
    // The client id is read at every connection: tabs opened at once may each store one, and the
    // last one stored wins from the next connection on. The scope does not depend on it, so that
    // they share one connection meanwhile.
    const withClientId = () => {
      const target = new URL(base);
      target.searchParams.set('clientId', clientId ?? profileClientId());
      return target.href;
    };
    this.#timeoutMs = broadcastTimeoutMs;
    this.#maxPending = maxPendingBroadcasts;
    this.socket = new BroadcastWebsocket(withClientId, {
      reconnect: true,
      scope: `broadcast-websocket/channels ${base.href}`,
      ...socketOptions,
    });
    this.socket.addEventListener('open', () => this.#opened());
    this.socket.addEventListener('close', () => this.#closed());
    this.socket.addEventListener('message', (event) => this.#frame(event.data));
    this.socket.addEventListener('leaderchange', () => this.#reconcile());
    if (typeof BroadcastChannel === 'function') {
      this.#bus = new BroadcastChannel(`bws-channels:${this.socket.status().scope}`);
      this.#bus.onmessage = ({ data }) => this.#heard(data as Note);
      this.#note({ tab: this.#tab, hello: true });
      globalThis.addEventListener?.('pagehide', this.#onPageHide);
    }
  }

  /** The shared socket's readyState. */
  get readyState(): number {
    return this.socket.readyState;
  }

  /** The shared socket's status(). */
  status(): Status {
    return this.socket.status();
  }

  /** Calls `listener(data, message)` once for every message of `channel`, in server order; returns a
   * function that stops it. The server is asked to subscribe when the first listener of any tab
   * appears, and to unsubscribe when the last one of every tab is gone. */
  subscribe(channel: string, listener: Listener): () => void {
    if (typeof channel !== 'string' || channel === '')
      throw new TypeError('subscribe: channel must be a non-empty string');
    if (typeof listener !== 'function') throw new TypeError('subscribe: listener must be a function');
    // A wrapper of its own, so that subscribing one function twice gets it called twice.
    const entry: Listener = (data, message) => listener(data, message);
    const listeners = this.#listeners.get(channel) ?? new Set();
    listeners.add(entry);
    this.#listeners.set(channel, listeners);
    if (listeners.size === 1) this.#changed();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      listeners.delete(entry);
      if (listeners.size === 0 && this.#listeners.get(channel) === listeners) {
        this.#listeners.delete(channel);
        // A later subscription starts from then, not from what this one saw.
        this.#lastIds.delete(channel);
        this.#catchingUp.delete(channel);
        this.#changed();
      }
    };
  }

  /** Publishes `data` (any JSON) on `channel`; resolves with the server's ack, rejects with its error
   * (a ChannelsError with its code), or after `broadcastTimeoutMs`. Sent again with the same
   * messageId on every new connection until acked: the server delivers it once. */
  broadcast(channel: string, data: unknown): Promise<Ack> {
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(new ChannelsError('queue_full', `${this.#maxPending} broadcasts already await their ack`));
    }
    const messageId = randomId();
    return new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(messageId);
        reject(new ChannelsError('timeout', `no ack within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(messageId, { channel, data, resolve, reject, timer, connection: -1 });
      this.#send(messageId);
    });
  }

  /** Closes this tab's client: its socket (the shared connection closes when no instance is left in
   * any tab), its listeners, and what awaits an ack (rejected). */
  close(): void {
    this.#note({ tab: this.#tab, gone: true });
    this.#bus?.close();
    globalThis.removeEventListener?.('pagehide', this.#onPageHide);
    this.#listeners.clear();
    this.#catchingUp.clear();
    for (const [messageId, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new ChannelsError('closed', 'the client was closed'));
      this.#pending.delete(messageId);
    }
    this.socket.close();
    this.dispatchEvent(new Event('statechange'));
  }

  /** Sends a pending broadcast now if the socket is open; otherwise on the next open. */
  #send(messageId: string): void {
    const pending = this.#pending.get(messageId);
    if (!pending || this.socket.readyState !== BroadcastWebsocket.OPEN) return;
    pending.connection = this.#connection;
    this.socket.send(JSON.stringify({ type: 'broadcast', channel: pending.channel, data: pending.data, messageId }));
  }

  #opened(): void {
    this.#connection += 1;
    this.#subscribed.clear();
    for (const [channel, lastId] of this.#myChannels()) {
      if (lastId !== undefined && !this.#catchingUp.has(channel)) this.#catchingUp.set(channel, []);
    }
    // Counted afresh from the tabs that answer: a tab that crashed never said it left.
    this.#peers.clear();
    this.#note({ tab: this.#tab, hello: true });
    this.#announce();
    this.#reconcile();
    for (const [messageId, pending] of this.#pending) {
      if (pending.connection < this.#connection) this.#send(messageId);
    }
    this.dispatchEvent(new Event('statechange'));
  }

  #closed(): void {
    this.#subscribed.clear();
    this.dispatchEvent(new Event('statechange'));
  }

  #frame(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let frame: {
      type?: string;
      channel?: string;
      messageId?: string;
      id?: string;
      duplicate?: boolean;
      data?: unknown;
    };
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (frame.type === 'message' && typeof frame.channel === 'string') {
      this.#message(frame as ChannelMessage);
    } else if (typeof frame.messageId === 'string' && frame.messageId.startsWith(REPLAY) && frame.channel) {
      // The leader's subscribe from an id was acked (its replay came first), or failed (the replay
      // cannot come): a tab whose last id is no earlier has all it will get.
      const from = frame.messageId.slice(REPLAY.length);
      const lastId = this.#lastIds.get(frame.channel);
      if (frame.type === 'error' || lastId === undefined || !isAfter(from, lastId)) this.#caughtUp(frame.channel);
    } else if (frame.type === 'ack' && frame.messageId !== undefined) {
      const pending = this.#pending.get(frame.messageId);
      if (!pending) return;
      this.#pending.delete(frame.messageId);
      clearTimeout(pending.timer);
      pending.resolve({ messageId: frame.messageId, duplicate: frame.duplicate === true, id: frame.id });
    } else if (frame.type === 'error' && frame.messageId !== undefined) {
      const pending = this.#pending.get(frame.messageId);
      if (!pending) return;
      this.#pending.delete(frame.messageId);
      clearTimeout(pending.timer);
      const { code = 'error', message = 'the server refused the broadcast' } = (frame.data ?? {}) as {
        code?: string;
        message?: string;
      };
      pending.reject(new ChannelsError(code, message));
    }
  }

  #message(message: ChannelMessage): void {
    if (
      message.id !== undefined &&
      this.#subscribed.get(message.channel) === undefined &&
      this.#subscribed.has(message.channel)
    ) {
      // A subscription without a replay covers what came from the first message it brought.
      this.#subscribed.set(message.channel, message.id);
    }
    const held = this.#catchingUp.get(message.channel);
    if (held && message.id !== undefined) held.push(message as PersistentMessage);
    else this.#deliver(message);
  }

  /** Delivers what `channel` held back while catching up, in id order, without repeats. */
  #caughtUp(channel: string): void {
    const held = this.#catchingUp.get(channel);
    if (!held) return;
    this.#catchingUp.delete(channel);
    held.sort((a, b) => (isAfter(a.id, b.id) ? 1 : isAfter(b.id, a.id) ? -1 : 0));
    for (const message of held) this.#deliver(message);
  }

  #deliver(message: ChannelMessage): void {
    const listeners = this.#listeners.get(message.channel);
    if (!listeners) return;
    if (message.id !== undefined) {
      const last = this.#lastIds.get(message.channel);
      // Already seen: replayed after a reconnection.
      if (last !== undefined && !isAfter(message.id, last)) return;
      this.#lastIds.set(message.channel, message.id);
    }
    for (const listener of [...listeners]) listener(message.data, message);
  }

  /** This tab's channels changed: the others hear of it, and the leader asks the server. */
  #changed(): void {
    this.#announce();
    this.#reconcile();
  }

  /** The channels this tab listens to, with the last id it saw on each. */
  #myChannels(): [string, string | undefined][] {
    return [...this.#listeners.keys()].map((c) => [c, this.#lastIds.get(c)]);
  }

  #announce(): void {
    this.#note({ tab: this.#tab, channels: this.#myChannels() });
  }

  #note(note: Note): void {
    this.#bus?.postMessage(note);
  }

  #heard(note: Note): void {
    if ('hello' in note) {
      this.#announce();
    } else if ('gone' in note) {
      this.#peers.delete(note.tab);
      this.#reconcile();
    } else {
      this.#peers.set(note.tab, new Map(note.channels));
      this.#reconcile();
    }
  }

  /** Whether a tab that last saw `lastId` on `channel` may miss what the subscription replays: it
   * replays from a later id, or came without a replay before the tab's last message. */
  #mayMiss(channel: string, lastId: string | undefined): boolean {
    if (lastId === undefined) return false;
    const from = this.#subscribed.get(channel);
    return from === undefined || isAfter(from, lastId);
  }

  /** The leader tab brings the connection's subscriptions to the channels listened to in any tab. */
  #reconcile(): void {
    if (!this.socket.status().isLeader || this.socket.readyState !== BroadcastWebsocket.OPEN) return;
    const wanted = new Map<string, string | undefined>();
    for (const channels of [...this.#peers.values(), new Map(this.#myChannels())]) {
      for (const [channel, lastId] of channels) {
        const known = wanted.get(channel);
        // The earliest id a tab saw: the server replays from there, and each tab drops what it has.
        if (!wanted.has(channel) || (lastId !== undefined && (known === undefined || isAfter(known, lastId)))) {
          wanted.set(channel, lastId);
        }
      }
    }
    for (const [channel, lastId] of wanted) {
      if (this.#subscribed.has(channel) && !this.#mayMiss(channel, lastId)) continue;
      this.#subscribed.set(channel, lastId);
      const replay = lastId === undefined ? {} : { lastId, messageId: `${REPLAY}${lastId}` };
      this.socket.send(JSON.stringify({ type: 'subscribe', channel, ...replay }));
    }
    for (const channel of [...this.#subscribed.keys()]) {
      if (wanted.has(channel)) continue;
      this.#subscribed.delete(channel);
      this.socket.send(JSON.stringify({ type: 'unsubscribe', channel }));
    }
  }
}

/** A channels client on `url` (the service's `/ws`), sharing one connection with every tab. */
export function createChannelsClient(url: string | URL, options?: ChannelsClientOptions): ChannelsClient {
  return new ChannelsClient(url, options);
}
