// The page's side of the tab's worker: creates it, checks its handshake,
// watches its `error`, and speaks gloo-worker's protocol with it. Each
// BroadcastWebsocket instance is one gloo handler (a Link). No WebAssembly
// runs here; the messages' types come from the Rust contract (facade/).

import { wasmBase64 } from '../build/inline.js';
import { PROTOCOL, RELEASE } from '../build/protocol.js';
import { spawnUrl } from './runtime.js';
import type { Announcement, Farewell, OpenRequest, Reply, Request, WorkerHello } from '../build/worker/bws_worker.js';

// gloo-worker 0.6.0's `ToWorker` and `FromWorker` (actor/messages.rs) as its
// serde-wasm-bindgen codec shapes them. The crate is pinned exactly
// (Cargo.toml): these shapes are its wire format.
// (Its `Destroy` is never sent: the page terminates a worker it is done with.)
type ToWorker = { Connected: number } | { ProcessInput: [number, Request] } | { Disconnected: number };
type FromWorker = 'WorkerLoaded' | { ProcessOutput: [number, Reply] };
/** An Announcement as a worker of another release, or of another library, may have shaped it. */
type UncheckedHello = { [K in keyof Announcement]?: { [F in keyof WorkerHello]?: unknown } };

/** The replies meant for an instance: the bridge answers pings and keeps farewells itself. */
export type InstanceReply = Exclude<Reply, 'ping' | { farewell: Farewell }>;

/** What an instance hears from its worker. */
export interface LinkHandler {
  reply(reply: InstanceReply): void;
  /** The worker failed or is not one this page can speak to; `why` says which. */
  fail(why: string): void;
  /** The page entered the back/forward cache: its worker ended, and with it this link. */
  suspend(): void;
  /** The page came back from the back/forward cache: connect again. */
  resume(): void;
}

/** One instance's line to the worker. */
export interface Link {
  send(request: Request): void;
  /** Tells the worker the instance is gone; replies stop. */
  free(): void;
}

/** The worker of one URL and the instances that use it. */
class WorkerConnection {
  readonly #url: string;
  /** Spawned in a task of its own (see start). */
  #worker: Worker | undefined;
  #ended = false;
  /** Messages held until the worker has said hello and loaded. */
  #pending: ToWorker[] | undefined = [];
  #greeted = false;
  readonly #handlers = new Map<number, LinkHandler>();
  /** Per instance, until the worker's first reply to it (see connect). */
  readonly #watchdogs = new Map<number, ReturnType<typeof setTimeout>>();
  #nextId = 0;
  /**
   * By channel name, the open channel and what to post on it when the page goes away (see leave).
   * Open from the start: a channel opened in `pagehide` may never deliver (Chromium, in a frame of
   * a closing tab). Only farewells travel on it, so the page hears none of the scope's traffic.
   */
  readonly #farewells = new Map<string, { channel: BroadcastChannel; message: unknown }>();

  constructor(url: string) {
    this.#url = url;
    // Spawning costs the page's main thread a few milliseconds of synchronous work (the worker,
    // the inline script's blob: URL): in a task of its own, so that the constructor that needed the
    // worker returns at once. A MessageChannel task, as a background tab throttles timers. What the
    // instances send waits in #pending meanwhile, as it does until the worker has loaded.
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      this.#start();
    };
    port2.postMessage(null);
  }

  #start(): void {
    if (this.#ended) return;
    const url = this.#url;
    let worker: Worker;
    try {
      worker = new Worker(spawnUrl(url), { type: 'module' });
    } catch (error) {
      this.fail(`the worker could not be started: ${String(error)}`);
      return;
    }
    this.#worker = worker;
    worker.onmessage = (event) => this.#received(event.data);
    // A script that 404s, fails to parse, throws, or traps (a worker of
    // another release decoding our messages) reports here.
    worker.onerror = (event) => {
      event.preventDefault();
      this.fail(`the worker at ${url} failed${event.message ? `: ${event.message}` : ''}`);
    };
    worker.onmessageerror = () => this.fail(`the worker at ${url} sent a message that cannot be read`);
    // The worker's loader waits for its WASM (see Announcement); posting it now lets the worker
    // compile while it says hello.
    worker.postMessage({ broadcastWebsocketWasm: wasmBase64 });
  }

  connect(request: OpenRequest, handler: LinkHandler, startTimeoutMs: number): Link {
    const id = this.#nextId++;
    this.#handlers.set(id, handler);
    this.#post({ Connected: id });
    this.#post({ ProcessInput: [id, { open: request }] });
    const free = () => {
      this.#stopWatchdog(id);
      if (!this.#handlers.delete(id)) return;
      // Before the worker loaded, nothing of this instance has reached it: forget it here.
      if (this.#pending) this.#pending = this.#pending.filter((message) => handlerOf(message) !== id);
      else this.#post({ Disconnected: id });
    };
    const watchdog = setTimeout(() => {
      const why = `the worker at ${this.#url} did not start within ${startTimeoutMs} ms`;
      // A worker that never loaded fails every instance, so that the next one starts a new worker.
      if (this.silent) return this.fail(why);
      free();
      handler.fail(why);
    }, startTimeoutMs);
    this.#watchdogs.set(id, watchdog);
    return {
      send: (message) => {
        if (this.#handlers.has(id)) this.#post({ ProcessInput: [id, message] });
      },
      free,
    };
  }

  #stopWatchdog(id: number): void {
    clearTimeout(this.#watchdogs.get(id));
    this.#watchdogs.delete(id);
  }

  /** Whether the worker never finished loading. */
  get silent(): boolean {
    return this.#pending !== undefined;
  }

  #post(message: ToWorker): void {
    if (this.#pending) this.#pending.push(message);
    else this.#worker?.postMessage(message);
  }

  #received(data: unknown): void {
    if (!this.#greeted) {
      this.#greeted = true;
      this.#checkHello(data);
      return;
    }
    const message = data as FromWorker;
    if (message === 'WorkerLoaded' && this.#pending) {
      const pending = this.#pending;
      this.#pending = undefined;
      for (const queued of pending) this.#worker?.postMessage(queued);
    } else if (typeof message === 'object' && message !== null && 'ProcessOutput' in message) {
      const [id, reply] = message.ProcessOutput;
      if (reply === 'ping') {
        // The worker checks that this page's main thread runs (Reply::Ping in facade/).
        const pong: ToWorker = { ProcessInput: [id, 'pong'] };
        this.#worker?.postMessage(pong);
      } else if (typeof reply !== 'object' || !('farewell' in reply)) {
        this.#stopWatchdog(id);
        this.#handlers.get(id)?.reply(reply);
      } else {
        const { channel, message } = reply.farewell;
        if (!this.#farewells.has(channel))
          this.#farewells.set(channel, { channel: new BroadcastChannel(channel), message });
      }
    } else {
      this.fail(`the worker at ${this.#url} sent an unknown message: ${describe(data)}`);
    }
  }

  /** The first message must name our protocol; anything else fails at once, before we post a thing. */
  #checkHello(data: unknown): void {
    const hello = (data as UncheckedHello | null)?.broadcastWebsocketWorker;
    const ours = `protocol ${PROTOCOL} (broadcast-websocket ${RELEASE})`;
    if (hello === undefined) {
      const older = data === 'WorkerLoaded' ? ' (a broadcast-websocket release older than the handshake?)' : '';
      this.fail(
        `the worker at ${this.#url} is not a broadcast-websocket worker of ${ours}${older}: its first message was ${describe(data)}`,
      );
    } else if (hello.protocol !== PROTOCOL) {
      this.fail(
        `the worker at ${this.#url} speaks protocol ${String(hello.protocol)} (broadcast-websocket ${String(hello.release)}), this page speaks ${ours}: serve the dist/worker.js of this release`,
      );
    }
  }

  /** Ends the worker (its socket closes, its locks are released) and tells every instance. */
  suspend(): void {
    const handlers = this.#end();
    suspended.push(...handlers);
    for (const handler of handlers) handler.suspend();
  }

  /**
   * The page is going away for good. Its scopes hear it now, from the page: the worker may be
   * gone already, or live on a moment (long enough, say, to be granted the lock a neighbour frame
   * of the same page just released, lead, and fail a socket as the page goes); the other tabs
   * ignore what it says after this, and hand over at once if it led. The worker ends now rather
   * than when the browser gets to it. No instance is told: no page remains to tell.
   */
  leave(): void {
    for (const { channel, message } of this.#farewells.values()) channel.postMessage(message);
    this.#end();
  }

  fail(why: string): void {
    for (const handler of this.#end()) handler.fail(why);
  }

  /** Ends the worker and lets go of the instances, which it returns. */
  #end(): LinkHandler[] {
    if (workers.get(this.#url) === this) workers.delete(this.#url);
    this.#ended = true;
    this.#worker?.terminate();
    this.#pending = undefined;
    for (const { channel } of this.#farewells.values()) channel.close();
    this.#farewells.clear();
    for (const id of [...this.#watchdogs.keys()]) this.#stopWatchdog(id);
    const handlers = [...this.#handlers.values()];
    this.#handlers.clear();
    return handlers;
  }
}

function handlerOf(message: ToWorker): number {
  if ('ProcessInput' in message) return message.ProcessInput[0];
  return 'Connected' in message ? message.Connected : message.Disconnected;
}

function describe(data: unknown): string {
  try {
    return JSON.stringify(data)?.slice(0, 200) ?? String(data);
  } catch {
    return String(data);
  }
}

/** This page's workers, one per script URL. */
const workers = new Map<string, WorkerConnection>();
/** The instances whose worker ended when the page entered the back/forward cache. */
let suspended: LinkHandler[] = [];
let watchingPageLifecycle = false;

/**
 * A page that goes away ends its workers at once (see leave). A page entering the back/forward
 * cache hands its scopes over at once too: its workers end, so their
 * sockets close and their Web Locks go to the next tab (WebKit keeps a cached page's worker, lock
 * and socket alive otherwise, and the other tabs would wait for the leader timeout). When the page
 * comes back, its instances connect again, as after a leader change. Listening starts with the
 * first worker, so importing the package has no side effect.
 */
function watchPageLifecycle(): void {
  if (watchingPageLifecycle || typeof addEventListener !== 'function') return;
  watchingPageLifecycle = true;
  addEventListener('pagehide', (event) => {
    const persisted = (event as PageTransitionEvent).persisted;
    for (const worker of [...workers.values()]) {
      if (persisted) worker.suspend();
      else worker.leave();
    }
  });
  addEventListener('pageshow', (event) => {
    if (!(event as PageTransitionEvent).persisted) return;
    const handlers = suspended;
    suspended = [];
    for (const handler of handlers) handler.resume();
  });
}

/**
 * Joins `request.scope` through the page's worker of `workerUrl`, starting it if needed. If the
 * worker has not answered the instance within `startTimeoutMs`, `handler.fail` says so (every
 * instance's, if the worker never loaded at all).
 */
export function connect(workerUrl: string, request: OpenRequest, handler: LinkHandler, startTimeoutMs: number): Link {
  watchPageLifecycle();
  let worker = workers.get(workerUrl);
  if (worker === undefined) {
    worker = new WorkerConnection(workerUrl);
    workers.set(workerUrl, worker);
  }
  return worker.connect(request, handler, startTimeoutMs);
}

/** This page's tab id: random, fixed for the page's lifetime. `getRandomValues`
 * works in insecure contexts too (an OBS local file), unlike `randomUUID`. */
export const tabId = (() => {
  let id: string | undefined;
  return () =>
    (id ??= [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join(''));
})();
