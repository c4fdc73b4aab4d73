// BroadcastWebsocket: the WebSocket-compatible class. It owns WebSocket
// semantics (argument checks, readyState, event order, onX attributes,
// binaryType, bufferedAmount); the socket itself lives in the tab's worker,
// reached through the bridge's Link.

import type {
  Backend,
  BroadcastWebsocketOptions,
  OpenRequest,
  Request as WorkerRequest,
  Status,
} from '../build/worker/bws_worker.js';
import { connect, tabId, type InstanceReply, type Link, type LinkHandler } from './bridge.js';
import { canShare, connectNative } from './native-link.js';
import { reconnectSettings, type ReconnectOptionValues } from './reconnect-options.js';
import { OptionReader } from './options.js';
import { resolveWorkerUrl } from './runtime.js';
import {
  checkClose,
  checkProtocols,
  convertProtocols,
  domError,
  domString,
  isArrayBuffer,
  isBlob,
  parseWebSocketUrl,
  toUsvString,
  utf8Length,
} from './webidl.js';

const CLASS = 'BroadcastWebsocket';
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const DEFAULT_WORKER_TIMEOUT_MS = 10_000;
const DEFAULT_LEADER_TIMEOUT_MS = 3_000;
/** The test switch that makes this tab's worker a "zombie" leader (see README); test builds only. */
const ZOMBIE = Symbol.for('bws.test.zombie');
declare const __BWS_TEST_SWITCHES__: boolean;

type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/** The URL as a function, called before every connection, for a token that expires (README, Reconnecting). */
export type UrlProvider = () => string | URL | PromiseLike<string | URL>;
/** The subprotocols as a function, called before every connection with the URL's provider. */
export type ProtocolsProvider = () => string | string[] | PromiseLike<string | string[]>;
type EventType = 'open' | 'message' | 'error' | 'close';

/** The events of a BroadcastWebsocket: WebSocket's, and `leaderchange`. */
export interface BroadcastWebsocketEventMap extends WebSocketEventMap {
  /** This tab gained or lost the leadership of the instance's scope (see `status()`). */
  leaderchange: Event;
}
type HandlerEntry = { value: object; listener: (event: Event) => void };

/** What the constructor's second argument resolves to. */
interface ResolvedOptions extends ReconnectOptionValues {
  protocols?: unknown;
  scope?: unknown;
  workerUrl?: unknown;
  workerTimeoutMs?: unknown;
  election?: unknown;
  leaderTimeoutMs?: unknown;
  graceMs?: unknown;
  debug?: unknown;
  startClosed?: unknown;
}

function resolveOptions(argument: unknown): ResolvedOptions {
  if (argument === undefined || argument === null) return argument === null ? { protocols: 'null' } : {};
  if (typeof argument === 'string' || (typeof argument === 'object' && Symbol.iterator in argument)) {
    return { protocols: argument };
  }
  if (typeof argument === 'object') return argument as ResolvedOptions;
  // Native WebSocket converts any other value to a protocol string.
  return { protocols: argument };
}

/** The default scope: the normalised URL plus the offered protocols, so two endpoints never share a socket. */
function defaultScope(url: string, protocols: string[]): string {
  return protocols.length === 0 ? url : `${url} ${protocols.join(',')}`;
}

/**
 * A drop-in replacement for `WebSocket` whose connection is shared by every
 * same-origin tab, iframe and widget, and held by a Rust/WASM worker.
 */
export class BroadcastWebsocket extends EventTarget implements WebSocket {
  declare static readonly CONNECTING: typeof CONNECTING;
  declare static readonly OPEN: typeof OPEN;
  declare static readonly CLOSING: typeof CLOSING;
  declare static readonly CLOSED: typeof CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  declare addEventListener: WebSocket['addEventListener'];
  declare removeEventListener: WebSocket['removeEventListener'];

  #url: string;
  #origin: string;
  readonly #scope: string;
  readonly #tabId: string;
  #readyState: ReadyState = CONNECTING;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  #leaderId: string | null = null;
  #epoch = 0;
  #backend: Backend | null = null;
  #tabs = 0;
  #sendsInDoubt = 0;
  #retryCount = 0;
  /** With `reconnect`: how many sends may wait while CONNECTING (0: send() then throws, as natively). */
  #maxEnqueued = 0;
  /** Sends made since the instance last was OPEN, waiting in the worker for the next `open`. */
  #queued = 0;
  /** Set while a leader change's close event is dispatched: close() then ends the instance for good. */
  #reconnecting = false;
  #link: Link | undefined;
  /** The instance's own socket, on a page without BroadcastChannel (see native-link.ts). */
  #native: WebSocket | undefined;
  /** The page has BroadcastChannel: instances share a socket through the page's worker. */
  #sharing = false;
  /** reconnect() was called while CLOSING: the instance joins again after its close event. */
  #rejoinAfterClose = false;
  /** What the instance joins its scope with (again after the page returns from the back/forward cache). */
  readonly #request: OpenRequest;
  /** The application's URL and protocols providers, if it gave functions (see #resolve). */
  readonly #providers: { url?: UrlProvider; protocols?: ProtocolsProvider };
  #workerUrl = '';
  #workerTimeoutMs = DEFAULT_WORKER_TIMEOUT_MS;
  /** Sizes of sends the worker has not yet handed to the socket, oldest first. */
  #unsent: number[] = [];
  #unsentBytes = 0;
  /** Bytes passed to send() once closing: never sent, as natively. */
  #bytesAfterClose = 0;
  readonly #handlers = new Map<EventType, HandlerEntry>();

  /**
   * `new BroadcastWebsocket(url, protocols?)` exactly like `new WebSocket(url, protocols?)`,
   * or `new BroadcastWebsocket(url, options)`.
   */
  constructor(url: string | URL | UrlProvider, protocolsOrOptions?: string | string[] | BroadcastWebsocketOptions) {
    super();
    if (arguments.length < 1) {
      throw new TypeError(`Failed to construct '${CLASS}': 1 argument required, but only 0 present.`);
    }
    // Every argument is converted before any is checked, as natively.
    const urlProvider = typeof url === 'function' ? url : undefined;
    const urlText = urlProvider ? '' : domString(url);
    const options = resolveOptions(protocolsOrOptions);
    const protocolsProvider =
      typeof options.protocols === 'function' ? (options.protocols as ProtocolsProvider) : undefined;
    const offered = protocolsProvider ? [] : convertProtocols(options.protocols);
    const target = urlProvider ? undefined : parseWebSocketUrl(urlText, CLASS);
    const protocols = checkProtocols(offered, CLASS);
    const read = OptionReader.forConstructor(CLASS, options);
    const scope = read.string('scope');
    if ((urlProvider || protocolsProvider) && scope === undefined) {
      throw new TypeError(
        `Failed to construct '${CLASS}': option 'scope' is required when the URL or the protocols are a function.`,
      );
    }
    const workerUrl = read.string('workerUrl');
    const timeoutMs = read.milliseconds('workerTimeoutMs', DEFAULT_WORKER_TIMEOUT_MS, 1);
    const leaderTimeoutMs = read.milliseconds('leaderTimeoutMs', DEFAULT_LEADER_TIMEOUT_MS, 100);
    const graceMs = read.milliseconds('graceMs', 0, 0);
    const electionBackend = read.election();
    const debug = read.flag('debug');
    const startClosed = read.flag('startClosed');
    const reconnect = reconnectSettings(read);
    this.#url = target?.href ?? '';
    this.#origin = target?.origin ?? '';
    this.#providers = { url: urlProvider, protocols: protocolsProvider };
    this.#scope = scope ?? defaultScope(this.#url, protocols);
    this.#tabId = tabId();
    this.#request = {
      tabId: this.#tabId,
      scope: this.#scope,
      url: this.#url,
      protocols,
      election: electionBackend,
      leaderTimeoutMs,
      graceMs,
      debug,
      reconnect: reconnect?.worker,
      resolve: urlProvider !== undefined || protocolsProvider !== undefined,
    };
    this.#workerTimeoutMs = timeoutMs;
    this.#sharing = canShare();
    if (this.#sharing) {
      this.#maxEnqueued = reconnect?.maxEnqueuedMessages ?? 0;
      try {
        this.#workerUrl = resolveWorkerUrl(workerUrl);
      } catch (error) {
        this.#failWorker(`the worker could not be started: ${String(error)}`);
        return;
      }
    }
    if (startClosed) {
      // CLOSED, with no connection and no event, until reconnect().
      this.#readyState = CLOSED;
      return;
    }
    this.#connect();
  }

  /** Connects the instance: through the page's worker, or on a page without BroadcastChannel with a
   * native socket of its own, final when it closes whatever `reconnect` says (README, Caveats). */
  #connect(): void {
    if (this.#sharing) {
      this.#join();
      return;
    }
    if (!this.#request.resolve) {
      this.#connectNative(this.#request);
      return;
    }
    this.#provided().then(
      (given) => {
        if (this.#readyState === CONNECTING) this.#connectNative({ ...this.#request, ...given });
      },
      (error) => {
        console.error(`${CLASS}: the URL provider failed, so did the connection: ${String(error)}`);
        this.#failSoon();
      },
    );
  }

  #connectNative(request: OpenRequest): void {
    const link = connectNative(request, this.#linkHandler());
    this.#link = link;
    this.#native = link.socket;
  }

  /** Joins the scope through the page's worker; fails the instance if the worker never answers. */
  #join(): void {
    this.#link = connect(this.#workerUrl, this.#request, this.#linkHandler(), this.#workerTimeoutMs);
  }

  get url(): string {
    return this.#url;
  }

  get readyState(): ReadyState {
    return this.#readyState;
  }

  get protocol(): string {
    return this.#protocol;
  }

  get extensions(): string {
    return this.#extensions;
  }

  /** Bytes passed to `send()` that the worker has not yet handed to the shared socket. */
  /** With `reconnect`: failed connection attempts in a row (0 once a connection stayed open `minUptime`). */
  get retryCount(): number {
    return this.#retryCount;
  }

  get bufferedAmount(): number {
    return this.#unsentBytes + this.#bytesAfterClose + (this.#native?.bufferedAmount ?? 0);
  }

  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // Like the native enum attribute: converted to a string, other values ignored.
    const text = domString(value);
    if (text === 'blob' || text === 'arraybuffer') this.#binaryType = text;
  }

  get onopen(): ((this: WebSocket, event: Event) => unknown) | null {
    return this.#getHandler('open');
  }

  set onopen(value: ((this: WebSocket, event: Event) => unknown) | null) {
    this.#setHandler('open', value);
  }

  get onmessage(): ((this: WebSocket, event: MessageEvent) => unknown) | null {
    return this.#getHandler('message');
  }

  set onmessage(value: ((this: WebSocket, event: MessageEvent) => unknown) | null) {
    this.#setHandler('message', value);
  }

  get onerror(): ((this: WebSocket, event: Event) => unknown) | null {
    return this.#getHandler('error');
  }

  set onerror(value: ((this: WebSocket, event: Event) => unknown) | null) {
    this.#setHandler('error', value);
  }

  get onclose(): ((this: WebSocket, event: CloseEvent) => unknown) | null {
    return this.#getHandler('close');
  }

  set onclose(value: ((this: WebSocket, event: CloseEvent) => unknown) | null) {
    this.#setHandler('close', value);
  }

  /** Sends a string, `ArrayBuffer`, typed array, `DataView` or `Blob` on the shared socket. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (arguments.length < 1) {
      throw new TypeError(`Failed to execute 'send' on '${CLASS}': 1 argument required, but only 0 present.`);
    }
    let payload: string | ArrayBuffer | Blob;
    let size: number;
    if (isArrayBuffer(data)) {
      // postMessage copies it right away, as native send() does.
      payload = data;
      size = data.byteLength;
    } else if (ArrayBuffer.isView(data)) {
      // Only the view's bytes are sent, not its whole buffer.
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
      size = data.byteLength;
    } else if (isBlob(data)) {
      payload = data;
      size = data.size;
    } else {
      payload = toUsvString(data);
      size = utf8Length(payload);
    }
    // The argument is converted first: a Symbol throws a TypeError even while connecting.
    if (this.#readyState === CONNECTING) {
      if (this.#maxEnqueued === 0 || this.#link === undefined) {
        throw domError(`Failed to execute 'send' on '${CLASS}': Still in CONNECTING state.`, 'InvalidStateError');
      }
      if (this.#queued >= this.#maxEnqueued) {
        throw domError(
          `Failed to execute 'send' on '${CLASS}': ${this.#queued} sends already wait for the connection (maxEnqueuedMessages).`,
          'QuotaExceededError',
        );
      }
      // The worker keeps it for the next open, and sends it before that open is dispatched.
      this.#queued += 1;
    } else if (this.#readyState !== OPEN || this.#link === undefined) {
      this.#bytesAfterClose += size;
      return;
    }
    this.#unsent.push(size);
    this.#unsentBytes += size;
    this.#link.send({ send: payload });
  }

  /** Closes this instance; the shared socket closes when its last instance does. */
  close(code?: number, reason?: string): void {
    const checked = checkClose(code, reason, CLASS);
    // The last call wins: a reconnect() asked for while CLOSING no longer rejoins.
    this.#rejoinAfterClose = false;
    if (this.#reconnecting) {
      // Closed from the close event of a leader change: do not come back.
      this.#reconnecting = false;
      this.#release();
      return;
    }
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    const connecting = this.#readyState === CONNECTING;
    this.#readyState = CLOSING;
    this.#link?.send({ close: checked });
    if (connecting) {
      // Natively, close() while CONNECTING fails the connection at once. The worker may still be
      // starting (a page's first instance): do not wait for it. It has been told (or, not loaded
      // yet, never hears of the instance), so the instance leaves the scope on both sides.
      this.#release();
      this.#failSoon();
    }
  }

  /**
   * Closes the scope's connection with `code` and `reason` and opens it again at once, with
   * `retryCount` back at 0: every instance of the scope, in every tab, sees it as a leader change
   * (`close` 1006, then `open`). On a CLOSED instance (after `close()`, a final close, or
   * `startClosed`), joins the scope again: CONNECTING, then `open`; while CLOSING, after its `close`.
   */
  reconnect(code?: number, reason?: string): void {
    const checked = checkClose(code, reason, CLASS);
    const live = this.#readyState === OPEN || this.#readyState === CONNECTING || this.#reconnecting;
    if (live && this.#sharing && this.#link !== undefined) {
      this.#link.send({ reconnect: checked });
      return;
    }
    if (live && this.#link !== undefined) {
      // A native socket of its own: closed, then opened again once its close is dispatched.
      this.#rejoinAfterClose = true;
      this.#readyState = CLOSING;
      this.#link.send({ close: checked });
      return;
    }
    if (this.#readyState === CLOSING) {
      this.#rejoinAfterClose = true;
      return;
    }
    if (this.#readyState === CLOSED) this.#rejoin();
  }

  /** A CLOSED instance joins its scope again, as a new one would. */
  #rejoin(): void {
    this.#rejoinAfterClose = false;
    this.#readyState = CONNECTING;
    this.#protocol = '';
    this.#extensions = '';
    this.#bytesAfterClose = 0;
    this.#queued = 0;
    this.#retryCount = 0;
    this.#connect();
  }

  /** This tab leads the instance's scope from now on: it holds the socket (every instance of the scope
   * sees one leader change). Useful to keep a visible tab, never throttled, in charge. Does nothing
   * once the instance is closed, or on a page without BroadcastChannel. */
  forceLeader(): void {
    this.#link?.send('forceLeader');
  }

  /** If this tab leads the instance's scope, another tab of the scope takes the socket (every
   * instance sees one leader change); with no other tab there, this one keeps it. */
  relinquish(): void {
    this.#link?.send('relinquish');
  }

  /** Calls `handler(data, event)` for every message; returns a function that stops it. */
  subscribe(handler: (data: MessageEvent['data'], event: MessageEvent) => void): () => void {
    const listener = (event: MessageEvent) => handler(event.data, event);
    this.addEventListener('message', listener);
    return () => this.removeEventListener('message', listener);
  }

  /** `addEventListener(type, handler)` that returns a function removing it. */
  on<K extends keyof WebSocketEventMap>(
    type: K,
    handler: (this: WebSocket, event: WebSocketEventMap[K]) => unknown,
  ): () => void {
    this.addEventListener(type, handler);
    return () => this.removeEventListener(type, handler);
  }

  /** A snapshot of this instance and its shared connection. */
  status(): Status {
    return {
      id: this.#tabId,
      url: this.#url,
      scope: this.#scope,
      isLeader: this.#isLeader(),
      leaderId: this.#leaderId,
      epoch: this.#epoch,
      backend: this.#backend,
      tabs: this.#tabs,
      sendsInDoubt: this.#sendsInDoubt,
      retryCount: this.#retryCount,
      readyState: this.#readyState,
      bufferedAmount: this.bufferedAmount,
    };
  }

  // Replies come one per worker message (a task each), in the order the worker sent them.
  #linkHandler(): LinkHandler {
    return {
      reply: (reply) => this.#handleReply(reply),
      fail: (why) => this.#failWorker(why),
      suspend: () => this.#suspend(),
      resume: () => {
        if (this.#readyState === CONNECTING && this.#link === undefined) this.#join();
      },
    };
  }

  /** The page entered the back/forward cache, and its worker ended: as after a leader change, the
   * instance closes (1006) and stays CONNECTING until the page returns and its scope is open again. */
  #suspend(): void {
    this.#release();
    const wasLeader = this.#isLeader();
    this.#leaderId = null;
    if (wasLeader) this.dispatchEvent(new Event('leaderchange'));
    if (this.#readyState === OPEN) this.#reconnect(1006, '', false);
    else if (this.#readyState === CLOSING) this.#closed(1006, '', false);
  }

  /** The worker is about to connect: the application's providers give the URL and protocols. A provider
   * that throws, rejects or gives an invalid URL fails that attempt (with `reconnect`, the loop goes on). */
  async #resolve(): Promise<void> {
    const link = this.#link;
    try {
      link?.send({ resolved: await this.#provided() });
    } catch (error) {
      console.warn(`${CLASS}: the URL provider failed, so did this connection attempt: ${String(error)}`);
      link?.send({ resolveFailed: String(error) });
    }
  }

  /** What the application's providers give now, checked as the constructor checks its arguments. */
  async #provided(): Promise<{ url: string; protocols: string[] }> {
    const { url: urlProvider, protocols: protocolsProvider } = this.#providers;
    const target = urlProvider ? parseWebSocketUrl(domString(await urlProvider()), CLASS) : new URL(this.#url);
    const protocols = protocolsProvider
      ? checkProtocols(convertProtocols(await protocolsProvider()), CLASS)
      : this.#request.protocols;
    this.#url = target.href;
    this.#origin = target.origin;
    return { url: target.href, protocols };
  }

  #handleReply(reply: InstanceReply): void {
    if (reply === 'resolve') {
      void this.#resolve();
    } else if (reply === 'sent') {
      this.#unsentBytes -= this.#unsent.shift() ?? 0;
    } else if (reply === 'error') {
      // A WebSocket errors only while failing, and is CLOSED by then.
      this.#readyState = CLOSED;
      this.dispatchEvent(new Event('error'));
    } else if ('messages' in reply) {
      // One event each, as natively; a listener may close the socket in between.
      for (const data of reply.messages) {
        if (this.#readyState !== OPEN) return;
        // binaryType applies when the message is dispatched, as natively.
        const converted = typeof data !== 'string' && this.#binaryType === 'blob' ? new Blob([data]) : data;
        this.dispatchEvent(new MessageEvent('message', { data: converted, origin: this.#origin }));
      }
    } else if ('leadership' in reply) {
      // The first reply: the worker runs. It sets the instance's starting
      // point; only later changes are a leaderchange.
      const { leaderId, epoch, backend, tabs, sendsInDoubt, retries } = reply.leadership;
      const first = this.#backend === null;
      const wasLeader = this.#isLeader();
      this.#leaderId = leaderId ?? null;
      this.#epoch = epoch;
      this.#backend = backend;
      this.#tabs = tabs;
      this.#sendsInDoubt = sendsInDoubt;
      this.#retryCount = retries;
      if (!first && this.#isLeader() !== wasLeader) this.dispatchEvent(new Event('leaderchange'));
    } else if ('open' in reply) {
      if (this.#readyState !== CONNECTING) return;
      this.#readyState = OPEN;
      this.#queued = 0;
      this.#protocol = reply.open.protocol;
      this.#extensions = reply.open.extensions;
      this.dispatchEvent(new Event('open'));
    } else if ('closed' in reply) {
      const { code, reason, wasClean, reconnecting } = reply.closed;
      if (reconnecting) this.#reconnect(code, reason, wasClean);
      else this.#closed(code, reason, wasClean);
    }
  }

  #closed(code: number, reason: string, wasClean: boolean): void {
    this.#readyState = CLOSED;
    this.#release();
    this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
    if (this.#rejoinAfterClose && this.#readyState === CLOSED) this.#rejoin();
  }

  /** The leader changed: like a reconnecting socket, `close`, then CONNECTING until `open`. */
  #reconnect(code: number, reason: string, wasClean: boolean): void {
    if (this.#readyState !== OPEN) return;
    this.#readyState = CLOSED;
    this.#reconnecting = true;
    try {
      this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
    } finally {
      if (this.#reconnecting) {
        this.#reconnecting = false;
        this.#readyState = CONNECTING;
        this.#protocol = '';
        this.#extensions = '';
      }
    }
  }

  /** Lets go of the worker link; what was never handed to the socket stays counted, as natively. */
  #release(): void {
    this.#link?.free();
    this.#link = undefined;
    this.#bytesAfterClose += this.#unsentBytes;
    this.#unsent = [];
    this.#unsentBytes = 0;
  }

  #isLeader(): boolean {
    return this.#leaderId !== null && this.#leaderId === this.#tabId;
  }

  static {
    // Test builds only (scripts/build.mjs --test-switches; the release bundle drops this as dead code):
    // `ws[Symbol.for('bws.test.zombie')]()` makes this tab's worker stop heartbeating and relaying for
    // the scope, a "zombie" leader. The worker of a release build has no such request either.
    if (__BWS_TEST_SWITCHES__) {
      Object.defineProperty(this.prototype, ZOMBIE, {
        value(this: BroadcastWebsocket): void {
          this.#link?.send('zombie' as unknown as WorkerRequest);
        },
      });
    }
  }

  /** The worker never answered or could not start: fail like a refused connection. */
  #failWorker(why: string): void {
    console.error(`${CLASS}: ${why}; the connection to ${this.#url} failed.`);
    this.#release();
    this.#readyState = CLOSED;
    this.#failSoon();
  }

  /** Fails the connection as natively: in a task (after the code that created the instance had a
   * chance to attach listeners), `error`, then `close` (1006). */
  #failSoon(): void {
    setTimeout(() => {
      this.#readyState = CLOSED;
      this.dispatchEvent(new Event('error'));
      this.#closed(1006, '', false);
    });
  }

  #getHandler<T>(type: EventType): T | null {
    return (this.#handlers.get(type)?.value as T | undefined) ?? null;
  }

  // An event handler attribute, as in HTML: the first assignment registers one
  // listener in order with the others; reassigning keeps its place; null (or a
  // non-object) removes it.
  #setHandler(type: EventType, value: unknown): void {
    const entry = this.#handlers.get(type);
    if (typeof value !== 'function' && (typeof value !== 'object' || value === null)) {
      if (entry) this.removeEventListener(type, entry.listener);
      this.#handlers.delete(type);
      return;
    }
    if (entry) {
      entry.value = value;
      return;
    }
    const created: HandlerEntry = {
      value,
      // A non-callable object is kept as the attribute's value but, as natively, never called.
      listener: (event) => {
        if (typeof created.value === 'function') Reflect.apply(created.value, this, [event]);
      },
    };
    this.#handlers.set(type, created);
    this.addEventListener(type, created.listener);
  }
}

// Read-only constants on the class and its prototype, as natively (assigning throws in strict mode).
for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
  Object.defineProperty(BroadcastWebsocket, name, { value, enumerable: true });
  Object.defineProperty(BroadcastWebsocket.prototype, name, { value, enumerable: true });
}
// `[object BroadcastWebsocket]`: the class's own name, with the descriptor WebIDL gives the native tag.
Object.defineProperty(BroadcastWebsocket.prototype, Symbol.toStringTag, { value: CLASS, configurable: true });
