// BroadcastElection: the library's leader election, without a socket. The tabs that create one
// with the same name elect one leader, as the tabs of a BroadcastWebsocket's scope do (Web Locks in
// each tab's worker, the lease where a page has none), and hear of every change. What one tab
// should do for all (poll a server, coordinate state) runs where `isLeader` is true.
// broadcast-websocket/sync runs on it.
//
// The worker runs it as a scope whose URL is the core's NO_SERVER (worker/core/src/lib.rs): its
// leader's connection opens at once and sends nowhere.

import type { Backend, Election, OpenRequest } from '../build/worker/bws_worker.js';
import { connect, tabId, type InstanceReply, type Link } from './bridge.js';
import { canShare } from './native-link.js';
import { OptionReader } from './options.js';
import { resolveWorkerUrl } from './runtime.js';

const CLASS = 'BroadcastElection';
/** The core's NO_SERVER. */
const NO_SERVER = 'bws:no-server';

/** The options of `new BroadcastElection(name, options)`: BroadcastWebsocket's that apply. */
export interface BroadcastElectionOptions {
  /** The election backend: `"auto"` (Web Locks where the page has them, else the lease), `"locks"`, `"lease"`. */
  election?: Election;
  /** How long the others wait for a silent leader before replacing it. Every tab should use the same value. Default: 3000 ms. */
  leaderTimeoutMs?: number;
  /** The URL of a self-hosted copy of `dist/worker.js` (see BroadcastWebsocket's option). */
  workerUrl?: string;
  /** How long to wait for the worker to start before the election fails with `error`. Default: 10000 ms. */
  workerTimeoutMs?: number;
  /** Log this tab's election decisions to the console (from the worker). Default: false. */
  debug?: boolean;
}

/** The events of a BroadcastElection. */
export interface BroadcastElectionEventMap {
  /** This tab became the leader, or stopped being it. */
  leaderchange: Event;
  /** The leader or the number of tabs changed. */
  change: Event;
  /** The election failed (its worker could not start); this tab leads nothing. */
  error: Event;
}

/** addEventListener and removeEventListener, typed for the events of `M`. */
type Listening<M, T> = {
  <K extends keyof M>(
    type: K,
    listener: (this: T, event: M[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  (
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
};

export class BroadcastElection extends EventTarget {
  declare addEventListener: Listening<BroadcastElectionEventMap, BroadcastElection>;
  declare removeEventListener: Listening<BroadcastElectionEventMap, BroadcastElection>;
  readonly #name: string;
  readonly #request: OpenRequest;
  readonly #workerUrl: string | undefined;
  readonly #workerTimeoutMs: number;
  #link: Link | undefined;
  #leaderId: string | null = null;
  #tabs = 0;
  #backend: Backend | null = null;
  #closed = false;

  /** Joins the election of `name` in this tab. */
  constructor(name: string, options: BroadcastElectionOptions = {}) {
    super();
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`Failed to construct '${CLASS}': the name must be a non-empty string, got ${String(name)}.`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Failed to construct '${CLASS}': the options must be an object, got ${String(options)}.`);
    }
    const read = OptionReader.forConstructor(CLASS, options);
    this.#name = name;
    this.#request = {
      tabId: tabId(),
      scope: `broadcast-websocket/election ${name}`,
      url: NO_SERVER,
      protocols: [],
      election: read.election(),
      leaderTimeoutMs: read.milliseconds('leaderTimeoutMs', 3000, 100),
      graceMs: 0,
      debug: read.flag('debug'),
      resolve: false,
    };
    this.#workerTimeoutMs = read.milliseconds('workerTimeoutMs', 10_000, 1);
    const workerUrl = read.string('workerUrl');
    if (!canShare()) {
      // Nothing is shared on a page without BroadcastChannel: this tab is alone, and leads.
      this.#leaderId = this.#request.tabId;
      this.#tabs = 1;
      this.#backend = 'native';
      return;
    }
    try {
      this.#workerUrl = resolveWorkerUrl(workerUrl);
    } catch (error) {
      this.#fail(`the worker could not be started: ${String(error)}`);
      return;
    }
    this.#join();
  }

  /** The name the tabs elect under. */
  get name(): string {
    return this.#name;
  }

  /** This tab's id (BroadcastWebsocket's `status().id`). */
  get tabId(): string {
    return this.#request.tabId;
  }

  /** Whether this tab is the leader. */
  get isLeader(): boolean {
    return !this.#closed && this.#leaderId === this.#request.tabId;
  }

  /** The leader's tab id; `null` while none is known. */
  get leaderId(): string | null {
    return this.#leaderId;
  }

  /** Tabs taking part, as the leader last reported (1 on a page without BroadcastChannel). */
  get tabs(): number {
    return this.#tabs;
  }

  /** The election backend in use; `null` until the worker answered. */
  get backend(): Backend | null {
    return this.#backend;
  }

  /** This tab leads at once (the leader steps down; one leader change). */
  forceLeader(): void {
    this.#link?.send('forceLeader');
  }

  /** If this tab leads, another tab takes over; alone, this one keeps leading. */
  relinquish(): void {
    this.#link?.send('relinquish');
  }

  /** Leaves the election; a leader hands over at once. */
  close(): void {
    if (this.#closed) return;
    const wasLeader = this.isLeader;
    this.#closed = true;
    // An instance's close alone leaves its tab leading while others remain (a socket's leader
    // keeps it for them); an election's leader that leaves hands over first.
    this.#link?.send('relinquish');
    this.#link?.send({ close: { code: 1000, reason: '' } });
    this.#link?.free();
    this.#link = undefined;
    if (wasLeader) this.dispatchEvent(new Event('leaderchange'));
  }

  #join(): void {
    this.#link = connect(
      this.#workerUrl as string,
      this.#request,
      {
        reply: (reply) => this.#handleReply(reply),
        fail: (why) => this.#fail(why),
        // The page entered the back/forward cache and its worker ended: no leader until it returns.
        suspend: () => {
          this.#link?.free();
          this.#link = undefined;
          this.#update(null, this.#tabs);
        },
        resume: () => {
          if (!this.#closed) this.#join();
        },
      },
      this.#workerTimeoutMs,
    );
  }

  #handleReply(reply: InstanceReply): void {
    if (typeof reply !== 'object' || !('leadership' in reply)) return;
    this.#backend = reply.leadership.backend;
    this.#update(reply.leadership.leaderId ?? null, reply.leadership.tabs);
  }

  #update(leaderId: string | null, tabs: number): void {
    if (this.#closed || (leaderId === this.#leaderId && tabs === this.#tabs)) return;
    const wasLeader = this.isLeader;
    this.#leaderId = leaderId;
    this.#tabs = tabs;
    if (this.isLeader !== wasLeader) this.dispatchEvent(new Event('leaderchange'));
    this.dispatchEvent(new Event('change'));
  }

  #fail(why: string): void {
    console.error(`${CLASS}: ${why}; the election of ${this.#name} failed.`);
    this.#link?.free();
    this.#link = undefined;
    this.#update(null, 0);
    this.#closed = true;
    setTimeout(() => this.dispatchEvent(new Event('error')));
  }
}
