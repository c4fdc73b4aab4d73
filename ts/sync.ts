// broadcast-websocket/sync: a store's selected keys kept equal in every tab of the origin, with the
// library's leader election for what one tab should do for all (BroadcastSync, the specification
// in the README's "State sync").
//
// - Values travel on a BroadcastChannel of the channel name, structured-cloned (Dates, Maps and
//   typed arrays survive), from the page: the values are the page's, and so is a custom resolver.
// - Every write of a key carries a version, and tabs keep the greatest (ts/sync-rules.ts), so that
//   concurrent writes converge in every tab whatever order they arrive in; under merge and custom,
//   the leader tab resolves concurrent writes into a new one.
// - A starting tab asks the others for their state and holds its own writes until the first answer
//   (or initialStateTimeoutMs): they then win over what it was told, and nothing else it had does.
// - A value set from another tab's write is never sent again: only local writes are.
import { BroadcastElection } from 'broadcast-websocket';
import type { BroadcastElectionOptions, Election } from 'broadcast-websocket';
import { OptionReader } from './options.js';
import { STRATEGIES, Versions, deepMerge, type ConflictStrategy, type Resolve, type Write } from './sync-rules.js';

export type { ConflictStrategy } from './sync-rules.js';

const CLASS = 'BroadcastSync';

/** What createBroadcastSync needs of a store: zustand's `StoreApi` has it, and so does a plain one. */
export interface SyncStore<TState> {
  getState(): TState;
  setState(partial: Partial<TState>): void;
  subscribe(listener: (state: TState, previous: TState) => void): () => void;
}

/** The states reported to `onSyncStateChange`. */
export type SyncState = 'connected' | 'disconnected' | 'leader' | 'follower';

type Key<TState> = keyof TState & string;

/** The configuration of createBroadcastSync (README, "State sync"). */
export interface BroadcastSyncConfig<TState> {
  /** The name tabs sync under: the same in every tab of the app, unique per app. */
  channelName: string;
  /** The keys to sync. Default (or empty): every key whose value is not a function. */
  syncKeys?: Key<TState>[];
  /** Keys never synced, whatever syncKeys says (secrets, per-tab state). */
  excludeKeys?: Key<TState>[];
  /** At most one message per this many ms; writes meanwhile go together in the next. Default: 0. */
  throttleMs?: number;
  /** Send once writes stopped for this many ms. Default: 0. */
  debounceMs?: number;
  /** How concurrent writes of a key are decided. Default: `'last-write-wins'`. */
  conflictStrategy?: ConflictStrategy;
  /** With `'custom'` (implied when given alone): the leader's resolution of concurrent writes of a
   * key, called once per key with objects holding that key only; its value for the key wins. */
  customResolver?: (local: Partial<TState>, remote: Partial<TState>) => Partial<TState>;
  /** Elect a leader among the tabs (needed by merge and custom). Default: true. */
  enableLeaderElection?: boolean;
  /** How often the leader heartbeats; a leader silent for 6 heartbeats is replaced. Default: 500 ms. */
  leaderHeartbeatMs?: number;
  /** The election backend (BroadcastWebsocket's `election` option). Default: `'auto'`. */
  election?: Election;
  /** A self-hosted copy of `dist/worker.js`, as BroadcastWebsocket's option. */
  workerUrl?: string;
  /** How long a starting tab waits for the others' state before its own writes go out. Default: 200 ms. */
  initialStateTimeoutMs?: number;
  /** Log what is sent, received and applied to the console. Default: false. */
  debug?: boolean;
  /** Called when sync starts (`connected`), stops (`disconnected`), and when this tab's role is known or changes. */
  onSyncStateChange?: (state: SyncState) => void;
  /** Called after another tab's writes were applied here: their keys, and that tab's id. */
  onRemoteUpdate?: (keys: string[], source: string) => void;
  /** Whether a local change is sent; `false` keeps it in this tab. */
  shouldSync?: (prevState: TState, nextState: TState) => boolean;
}

type MessageType = 'STATE_UPDATE' | 'STATE_REQUEST' | 'STATE_RESPONSE';
const MESSAGE_TYPES: readonly string[] = ['STATE_UPDATE', 'STATE_REQUEST', 'STATE_RESPONSE'];

/** What tabs post on the channel; anything else there is ignored. */
interface SyncMessage {
  bws: 'sync';
  v: 1;
  type: MessageType;
  tabId: string;
  timestamp: number;
  payload: { writes?: Write[]; to?: string };
}

const isWrite = (w: unknown): w is Write => {
  const write = w as Write | null;
  const version = write?.version;
  if (typeof write?.key !== 'string' || typeof version !== 'object' || version === null) return false;
  if (!Number.isFinite(version.time) || typeof version.tab !== 'string') return false;
  const counts = typeof version.vector === 'object' && version.vector !== null ? Object.values(version.vector) : [];
  const valid = counts.length > 0 && counts.every((n) => Number.isSafeInteger(n) && n > 0);
  return valid && version.clock === counts.reduce((sum, n) => sum + n, 0);
};

function isSyncMessage(data: unknown): data is SyncMessage {
  const m = data as SyncMessage | null;
  if (typeof m !== 'object' || m === null || m.bws !== 'sync' || m.v !== 1) return false;
  if (!MESSAGE_TYPES.includes(m.type) || typeof m.tabId !== 'string' || typeof m.payload !== 'object') return false;
  const writes = m.payload?.writes;
  return writes === undefined || (Array.isArray(writes) && writes.every(isWrite));
}

const randomId = () =>
  [...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * A store's keys synced across the tabs. Events: `leaderchange` (this tab became the leader, or
 * stopped being it) and `change` (the leader or the number of tabs changed).
 */
export class BroadcastSync<TState extends object> extends EventTarget {
  readonly #store: SyncStore<TState>;
  readonly #config: BroadcastSyncConfig<TState>;
  readonly #id = randomId();
  readonly #syncKeys: string[];
  readonly #excludeKeys: string[];
  readonly #throttleMs: number;
  readonly #debounceMs: number;
  readonly #initialStateTimeoutMs: number;
  /** The election's options; undefined without leader election. */
  readonly #electionOptions?: BroadcastElectionOptions;
  readonly #strategy: ConflictStrategy;
  readonly #resolve: Resolve | undefined;
  readonly #versions: Versions;

  #channel: BroadcastChannel | undefined;
  #election: BroadcastElection | undefined;
  #unsubscribe: (() => void) | undefined;
  #previous: TState;
  /** Setting another tab's values in the store: the store's notification is not a local write. */
  #applying = false;
  /** Keys written here and not sent yet. */
  readonly #dirty = new Set<string>();
  /** Keys written here while waiting for the others' state (see the top of this file). */
  #held: Set<string> | undefined;
  #initialTimer: ReturnType<typeof setTimeout> | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushQueued = false;
  #lastChange = -Infinity;
  #lastFlush = -Infinity;
  #role: 'leader' | 'follower' | undefined;
  #warned = false;

  constructor(store: SyncStore<TState>, config: BroadcastSyncConfig<TState>) {
    super();
    const s = store as Partial<SyncStore<TState>> | null;
    if (typeof s?.getState !== 'function' || typeof s.setState !== 'function' || typeof s.subscribe !== 'function') {
      throw new TypeError(`${CLASS}: the store must have getState(), setState() and subscribe().`);
    }
    if (typeof config !== 'object' || config === null) {
      throw new TypeError(`${CLASS}: the config must be an object with a channelName.`);
    }
    const read = new OptionReader(`${CLASS}: config`, config);
    if (read.string('channelName') === undefined) read.fail('channelName', 'a non-empty string', undefined);
    for (const name of ['customResolver', 'onSyncStateChange', 'onRemoteUpdate', 'shouldSync']) read.callback(name);
    this.#store = store;
    this.#config = config;
    this.#syncKeys = read.keys('syncKeys');
    this.#excludeKeys = read.keys('excludeKeys');
    this.#throttleMs = read.milliseconds('throttleMs', 0, 0);
    this.#debounceMs = read.milliseconds('debounceMs', 0, 0);
    this.#initialStateTimeoutMs = read.milliseconds('initialStateTimeoutMs', 200, 0);
    if (read.flag('enableLeaderElection', true)) {
      this.#electionOptions = {
        leaderTimeoutMs: Math.max(100, 6 * read.milliseconds('leaderHeartbeatMs', 500, 0)),
        election: read.election(),
        ...(config.workerUrl && { workerUrl: config.workerUrl }),
      };
    }
    const strategy = read.oneOf('conflictStrategy', STRATEGIES, config.customResolver ? 'custom' : 'last-write-wins');
    if ((strategy === 'custom') !== (config.customResolver !== undefined)) {
      throw new TypeError(`${CLASS}: config 'customResolver' goes with conflictStrategy 'custom', and only with it.`);
    }
    if ((strategy === 'merge' || strategy === 'custom') && config.enableLeaderElection === false) {
      throw new TypeError(
        `${CLASS}: conflictStrategy '${strategy}' needs leader election: the leader resolves conflicts.`,
      );
    }
    this.#strategy = strategy;
    this.#resolve = this.#resolver();
    this.#versions = new Versions(this.#id, strategy);
    this.#previous = store.getState();
  }

  /** Starts syncing: joins the election, asks the other tabs for their state, sends local writes. */
  start(): void {
    if (this.isActive()) return;
    if (typeof BroadcastChannel !== 'function') {
      if (!this.#warned) console.warn(`${CLASS}: BroadcastChannel is missing here; state is not synced across tabs.`);
      this.#warned = true;
      return;
    }
    const channel = new BroadcastChannel(`broadcast-websocket/sync ${this.#config.channelName}`);
    this.#channel = channel;
    channel.onmessage = (event) => this.#received(event.data);
    this.#previous = this.#store.getState();
    this.#unsubscribe = this.#store.subscribe(() => this.#changed());
    this.#held = new Set();
    this.#initialTimer = setTimeout(() => this.#stopWaiting(), this.#initialStateTimeoutMs);
    if (this.#electionOptions) this.#elect(this.#electionOptions);
    this.#post('STATE_REQUEST', {});
    this.#log('Started');
    this.#notify('connected');
  }

  /** Stops syncing; local writes not sent yet go first. A leader hands over. */
  stop(): void {
    if (!this.isActive()) return;
    this.#stopWaiting();
    this.#flush();
    clearTimeout(this.#flushTimer);
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#channel?.close();
    this.#channel = undefined;
    const wasLeader = this.isLeader();
    this.#election?.close();
    this.#election = undefined;
    this.#role = undefined;
    this.#log('Stopped');
    if (wasLeader) this.dispatchEvent(new Event('leaderchange'));
    this.#notify('disconnected');
  }

  isActive(): boolean {
    return this.#channel !== undefined;
  }

  /** Whether this tab leads the channel's tabs (false without leader election). */
  isLeader(): boolean {
    return this.#election?.isLeader ?? false;
  }

  /** This instance's id in the sync: the `source` other tabs' onRemoteUpdate name. */
  getTabId(): string {
    return this.#id;
  }

  /** Asks the other tabs for their state; what is newer than this tab's is applied. */
  requestState(): void {
    this.#post('STATE_REQUEST', {});
  }

  /** Sends the current values of `keys` (default: every synced key) to the other tabs, as writes of this tab. */
  broadcastState(keys?: Key<TState>[]): void {
    const state = this.#store.getState();
    for (const key of keys ?? this.#keysOf(state)) {
      if (!this.#synced(state, key)) continue;
      this.#versions.stamp(key, Date.now());
      this.#dirty.add(key);
    }
    this.#flush();
  }

  /** Tabs in the sync, as the leader last reported (0 until it has; 1 without leader election). */
  getConnectedTabs(): number {
    return this.#election?.tabs ?? 1;
  }

  /** This tab leads at once. */
  forceLeader(): void {
    this.#election?.forceLeader();
  }

  #elect(options: BroadcastElectionOptions): void {
    const election = new BroadcastElection(this.#config.channelName, options);
    this.#election = election;
    const roleChanged = () => {
      if (this.#election !== election) return;
      const role = election.leaderId === null ? undefined : election.isLeader ? 'leader' : 'follower';
      if (role === undefined || role === this.#role) return;
      this.#role = role;
      this.#log(`Leadership: ${role}`);
      this.#notify(role);
    };
    election.addEventListener('change', () => {
      if (this.#election !== election) return;
      roleChanged();
      this.dispatchEvent(new Event('change'));
    });
    election.addEventListener('leaderchange', () => {
      if (this.#election !== election) return;
      this.dispatchEvent(new Event('leaderchange'));
      roleChanged();
    });
  }

  #resolver(): Resolve | undefined {
    if (this.#strategy === 'merge') return (_key, local, remote) => deepMerge(local, remote);
    const custom = this.#config.customResolver;
    if (!custom) return undefined;
    return (key, local, remote) => {
      const resolved = custom({ [key]: local } as Partial<TState>, { [key]: remote } as Partial<TState>);
      return resolved && key in resolved ? (resolved as Record<string, unknown>)[key] : remote;
    };
  }

  #keysOf(state: TState): string[] {
    return this.#syncKeys.length ? this.#syncKeys : Object.keys(state);
  }

  /** Functions (a store's actions) are never synced: they cannot be cloned, and are code, not state. */
  #synced(state: TState, key: string): boolean {
    if (this.#excludeKeys.includes(key)) return false;
    if (this.#syncKeys.length && !this.#syncKeys.includes(key)) return false;
    return typeof (state as Record<string, unknown>)[key] !== 'function';
  }

  /** The store changed: its keys that differ are local writes, unless shouldSync says otherwise. */
  #changed(): void {
    const next = this.#store.getState();
    const previous = this.#previous;
    this.#previous = next;
    if (this.#applying) return;
    if (this.#config.shouldSync && !this.#config.shouldSync(previous, next)) return;
    const now = Date.now();
    let wrote = false;
    for (const key of new Set([...this.#keysOf(next), ...this.#keysOf(previous)])) {
      const value = (next as Record<string, unknown>)[key];
      if (value === (previous as Record<string, unknown>)[key] || !this.#synced(next, key)) continue;
      wrote = true;
      if (this.#held) {
        this.#held.add(key);
      } else {
        this.#versions.stamp(key, now);
        this.#dirty.add(key);
      }
    }
    if (!wrote || this.#held) return;
    this.#lastChange = performance.now();
    this.#schedule();
  }

  /** Sends the dirty keys when throttleMs and debounceMs allow: now (in a microtask), or later. */
  #schedule(): void {
    clearTimeout(this.#flushTimer);
    const wait = Math.max(this.#lastChange + this.#debounceMs, this.#lastFlush + this.#throttleMs) - performance.now();
    if (wait > 0) {
      this.#flushTimer = setTimeout(() => this.#flush(), wait);
    } else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    if (!this.#dirty.size || !this.#channel) return;
    const state = this.#store.getState() as Record<string, unknown>;
    const writes = [...this.#dirty].map((key) => ({ key, value: state[key], version: this.#versions.get(key)! }));
    this.#dirty.clear();
    this.#lastFlush = performance.now();
    this.#post('STATE_UPDATE', { writes });
  }

  /** The wait for the others' state is over: what this tab wrote meanwhile is written now, above it. */
  #stopWaiting(): void {
    clearTimeout(this.#initialTimer);
    const held = this.#held;
    this.#held = undefined;
    if (!held?.size) return;
    const now = Date.now();
    for (const key of held) {
      this.#versions.stamp(key, now);
      this.#dirty.add(key);
    }
    this.#lastChange = performance.now();
    this.#schedule();
  }

  #received(data: unknown): void {
    if (!isSyncMessage(data)) {
      this.#log('Ignored a message that is not BroadcastSync’s');
      return;
    }
    const { type, tabId: source, payload } = data;
    this.#log(`Received: ${type} from ${source}`);
    if (payload.writes) this.#take(payload.writes, source);
    if (type === 'STATE_REQUEST') {
      const state = this.#store.getState();
      const writes = this.#keysOf(state)
        .filter((key) => this.#synced(state, key) && this.#versions.get(key))
        .map((key) => ({ key, value: (state as Record<string, unknown>)[key], version: this.#versions.get(key)! }));
      this.#post('STATE_RESPONSE', { to: source, writes });
    } else if (type === 'STATE_RESPONSE' && payload.to === this.#id && this.#held) {
      this.#stopWaiting();
    }
  }

  /** Another tab's writes: each key takes the greater version; the leader resolves conflicts. */
  #take(writes: Write[], source: string): void {
    const state = this.#store.getState() as Record<string, unknown>;
    const resolve = this.isLeader() ? this.#resolve : undefined;
    const updates: Record<string, unknown> = {};
    const resolutions: Write[] = [];
    for (const write of writes) {
      if (!this.#synced(state as TState, write.key)) continue;
      const outcome = this.#versions.take(write, state[write.key], resolve, Date.now());
      if (outcome.resolution) resolutions.push(outcome.resolution);
      if (!outcome.set || this.#held?.has(write.key)) continue;
      // A local write not sent yet lost to this one: it is not sent any more.
      this.#dirty.delete(write.key);
      updates[write.key] = outcome.set.value;
    }
    const keys = Object.keys(updates);
    if (keys.length) {
      this.#applying = true;
      try {
        this.#store.setState(updates as Partial<TState>);
      } finally {
        this.#applying = false;
      }
      this.#log(`Applied remote state from ${source}`, keys);
      this.#config.onRemoteUpdate?.(keys, source);
    }
    if (resolutions.length) this.#post('STATE_UPDATE', { writes: resolutions });
  }

  #post(type: MessageType, payload: SyncMessage['payload']): void {
    if (!this.#channel) return;
    const message: SyncMessage = { bws: 'sync', v: 1, type, tabId: this.#id, timestamp: Date.now(), payload };
    try {
      this.#channel.postMessage(message);
    } catch (error) {
      // A value the structured clone cannot copy (a function, a DOM node): said, not dropped silently.
      const keys = payload.writes?.map((w) => w.key) ?? [];
      console.error(`${CLASS}: could not send ${keys.join(', ')} to the other tabs: ${String(error)}`);
      return;
    }
    this.#log(`Sent: ${type}`, payload.writes ? payload.writes.map((w) => w.key) : {});
  }

  #notify(state: SyncState): void {
    this.#config.onSyncStateChange?.(state);
  }

  #log(line: string, detail?: unknown): void {
    if (!this.#config.debug) return;
    if (detail === undefined) console.log(`[${CLASS}:${this.#id}] ${line}`);
    else console.log(`[${CLASS}:${this.#id}] ${line}`, detail);
  }
}

/** A BroadcastSync of `store`'s keys across the tabs, per `config`; `start()` begins it. */
export function createBroadcastSync<TState extends object>(
  store: SyncStore<TState>,
  config: BroadcastSyncConfig<TState>,
): BroadcastSync<TState> {
  return new BroadcastSync(store, config);
}
